// The README's socket example must keep working as documented.
import { expect, test } from 'vitest';
import { socketEchoExample } from '../../examples/socket-echo.ts';

test('README socket example: option-20 echo server, non-blocking connect + poll client', async () => {
  const lines: string[] = [];
  const reply = await socketEchoExample((l) => lines.push(l));
  expect(reply).toBe('hello tsip\n');
  expect(lines).toEqual(['client: connected (poll flags 4)', 'server: connection from 10.0.0.1:61918', 'client: got "hello tsip\\n"']);
});
