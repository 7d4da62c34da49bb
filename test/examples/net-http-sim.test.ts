// The README's node:http-in-the-simulator example must keep working as documented.
import { expect, test } from 'vitest';
import { netHttpSimExample } from '../../examples/net-http-sim.ts';

test('README net example: node:http between two simulated stacks', async () => {
  expect(await netHttpSimExample()).toBe('hello 10.0.0.1\n');
});
