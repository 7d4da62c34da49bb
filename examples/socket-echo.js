// @ts-check
// MicroPython-style sockets (modlwip semantics) between two simulated
// stacks: an echo server driven entirely by the option-20 callback, and a
// client that connects without blocking and waits with poll.
// Run: node examples/socket-echo.js
import { errno, isOSError, POLLIN, POLLOUT, SO_CALLBACK, SO_ERROR, SO_REUSEADDR, SOL_SOCKET, Simulator } from 'tsip';

const sim = new Simulator({ seed: 1 });
const server = sim.addStack('server');
const client = sim.addStack('client');
sim.connect(client, server, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { latencyMs: 5 } });

// --- server: everything happens in the option-20 callback ------------------
const ls = server.socket().setblocking(false);
ls.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
ls.bind(['0.0.0.0', 7]);
ls.listen(4);
ls.setsockopt(SOL_SOCKET, SO_CALLBACK, (l) => {
  // A connection arrived (called right after the packet that completed it).
  const [conn, addr] = l.accept();
  console.log(`server: connection from ${addr[0]}:${addr[1]}`);
  conn.setsockopt(SOL_SOCKET, SO_CALLBACK, (c) => {
    // Data or EOF arrived.
    const data = c.read(1024);
    if (data === null) return; // nothing after all
    if (data.length === 0) return c.close(); // EOF: the peer is done
    c.write(data);
  });
});

// --- client: non-blocking connect, then poll --------------------------------
const s = client.socket().setblocking(false);
try {
  s.connect(['10.0.0.2', 7]);
} catch (e) {
  if (!isOSError(e, errno.EINPROGRESS)) throw e; // expected: the handshake is under way
}
const poller = client.poll();
poller.register(s, POLLOUT);
const [[, flags]] = await sim.settle(poller.poll(5000));
if (s.getsockopt(SOL_SOCKET, SO_ERROR) !== 0) throw new Error('connect failed');
console.log(`client: connected (poll flags ${flags})`);
s.write(new TextEncoder().encode('hello tsip\n'));
poller.modify(s, POLLIN);
await sim.settle(poller.poll(5000));
console.log(`client: got ${JSON.stringify(new TextDecoder().decode(s.read(1024) ?? new Uint8Array()))}`);
s.close();
ls.close();
sim.runUntilIdle();
sim.close();
