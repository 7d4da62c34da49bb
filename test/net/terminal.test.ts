// The dupterm-like terminal service: password first, then a Node REPL or a
// command shell per connection; several sessions at once; a session is
// closed and released on EOF or when the connection fails under a write.
import { expect, test } from 'vitest';
import type { Socket } from '../../src/net/index.ts';
import { startTerminal } from '../../src/services/terminal.ts';
import { netPair } from './helpers.ts';

/** A client that accumulates what the terminal prints. */
function term(s: Socket): { out: () => string; closed: () => boolean } {
  let out = '';
  let closed = false;
  s.setEncoding('utf8');
  s.on('data', (d: string) => (out += d));
  s.on('error', () => {});
  s.on('close', () => (closed = true));
  return { out: () => out, closed: () => closed };
}

test('REPL and shell sessions at once; EOF closes one session, the other keeps working', async () => {
  const t = netPair();
  const repl = startTerminal(t.server, { port: 2323, password: 's3cret', mode: 'repl' });
  const shell = startTerminal(t.server, { port: 2424, password: 's3cret', mode: 'shell' });
  await t.run(Promise.all([repl.ready, shell.ready]));
  const a = await t.run(t.client.connectTcp({ host: '10.0.0.2', port: 2323 }));
  const b = await t.run(t.client.connectTcp({ host: '10.0.0.2', port: 2424 }));
  const ta = term(a);
  const tb = term(b);
  await t.until(() => ta.out().includes('Password: ') && tb.out().includes('Password: '));
  a.write('s3cret\r\n6 * 7\n');
  b.write('s3cret\necho hello tsip\n');
  await t.until(() => ta.out().includes('42') && tb.out().includes('hello tsip'));
  expect(repl.sessions.size).toBe(1);
  expect(shell.sessions.size).toBe(1);
  // The REPL runs code: it sees the stack it serves.
  a.write('stack.name\n');
  await t.until(() => ta.out().includes("'server'"));
  // EOF on the shell session: it is closed and released; the REPL goes on.
  b.end();
  await t.until(() => tb.closed() && shell.sessions.size === 0);
  expect(shell.counters).toEqual({ accepted: 1, authenticated: 1, denied: 0, closed: 1 });
  a.write('1 + 1\n');
  await t.until(() => ta.out().includes('2\n'));
  expect(ta.closed()).toBe(false);
  a.write('.exit\n');
  await t.until(() => ta.closed() && repl.sessions.size === 0);
  repl.stop();
  shell.stop();
  await t.finish();
});

test('a connection that fails while the session writes closes that session only', async () => {
  const t = netPair();
  const svc = startTerminal(t.server, {
    port: 2323,
    password: 'pw',
    mode: 'shell',
    commands: { dump: (args) => 'x'.repeat(Number(args[0])) },
  });
  await t.run(svc.ready);
  const keep = await t.run(t.client.connectTcp({ host: '10.0.0.2', port: 2323 }));
  const bad = await t.run(t.client.connectTcp({ host: '10.0.0.2', port: 2323 }));
  const tk = term(keep);
  const tb = term(bad);
  keep.write('pw\n');
  bad.write('pw\ndump 4000000\n');
  await t.until(() => tb.out().length > 100_000);
  const badSession = [...svc.sessions].find((s) => s.remote.endsWith(`:${bad.localPort}`))!;
  expect(badSession.socket.writableLength + badSession.socket.unsentUnacked).toBeGreaterThan(0); // output still queued
  bad.pause();
  bad.resetAndDestroy();
  await t.until(() => svc.sessions.size === 1);
  expect(badSession.closeReason).toBe('ECONNRESET');
  expect(badSession.socket.destroyed).toBe(true);
  keep.write('echo still alive\n');
  await t.until(() => tk.out().includes('still alive'));
  keep.end();
  await t.until(() => svc.sessions.size === 0);
  svc.stop();
  await t.finish();
});

test('the wrong password is refused and the connection closed (nothing runs)', async () => {
  const t = netPair();
  let ran = false;
  const svc = startTerminal(t.server, { port: 2323, password: 'right', mode: 'shell', commands: { touch: () => ((ran = true), 'ok') } });
  await t.run(svc.ready);
  const s = await t.run(t.client.connectTcp({ host: '10.0.0.2', port: 2323 }));
  const ts = term(s);
  s.write('wrong\ntouch\n');
  await t.until(() => ts.closed() && svc.sessions.size === 0);
  expect(ts.out()).toContain('Access denied');
  expect(ts.out()).not.toContain('$ ');
  expect(ran).toBe(false);
  expect(svc.counters.denied).toBe(1);
  expect(svc.sessions.size).toBe(0);
  expect(() => startTerminal(t.server, { port: 2424, password: '' })).toThrow(/password/);
  svc.stop();
  await t.finish();
});

test('a connection that never sends its password is dropped after authTimeoutMs (no unauthenticated session outlives it)', async () => {
  const t = netPair();
  const svc = startTerminal(t.server, { port: 2323, password: 'pw', mode: 'shell', authTimeoutMs: 5000 });
  await t.run(svc.ready);
  const a = await t.run(t.client.connectTcp({ host: '10.0.0.2', port: 2323 }));
  const ta = term(a);
  await t.until(() => ta.out().includes('Password: '));
  a.write('p'); // one byte, then nothing
  const t0 = t.sim.clock.now();
  await t.until(() => ta.closed());
  expect(t.sim.clock.now() - t0).toBeGreaterThanOrEqual(5000);
  expect(t.sim.clock.now() - t0).toBeLessThan(6000);
  expect(svc.counters.denied).toBe(1);
  await t.until(() => svc.sessions.size === 0);
  svc.stop();
  await t.finish();
});
