// The README's socket example: an echo server driven by the option-20
// callback, and a client using a non-blocking connect and poll, on two
// simulated stacks. Run: npx tsx examples/socket-echo.ts
import { Simulator } from '../src/sim/simulator.ts';
import { POLLIN, POLLOUT, SO_CALLBACK, SO_ERROR, SO_REUSEADDR, SOL_SOCKET, errno, isOSError, type Socket } from '../src/socket/index.ts';

export async function socketEchoExample(log: (line: string) => void = console.log): Promise<string> {
  const sim = new Simulator({ seed: 1 });
  const server = sim.addStack('server');
  const client = sim.addStack('client');
  sim.connect(client, server, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { latencyMs: 5 } });

  // --- server: everything happens in the option-20 callback --------------
  const ls = server.socket();
  ls.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  ls.bind(['0.0.0.0', 7]);
  ls.listen(4);
  ls.setblocking(false);
  ls.setsockopt(SOL_SOCKET, SO_CALLBACK, (l: Socket) => {
    // A connection arrived (called right after the packet that completed it).
    const [conn, addr] = l.accept() as [Socket, readonly [string, number]];
    log(`server: connection from ${addr[0]}:${addr[1]}`);
    conn.setblocking(false);
    conn.setsockopt(SOL_SOCKET, SO_CALLBACK, (c: Socket) => {
      // Data (or EOF) arrived.
      const data = c.read(1024) as Uint8Array | null;
      if (data === null) return; // nothing after all
      if (data.length === 0) {
        c.close(); // EOF: the peer is done
        return;
      }
      c.write(data);
    });
  });

  // --- client: non-blocking connect, then poll --------------------------
  const s = client.socket();
  s.setblocking(false);
  try {
    s.connect(['10.0.0.2', 7]);
  } catch (e) {
    if (!isOSError(e, errno.EINPROGRESS)) throw e; // expected: the handshake is under way
  }
  const poller = client.poll();
  poller.register(s, POLLOUT);
  const run = async (): Promise<string> => {
    const [[, flags]] = (await poller.poll(5000)) as [[Socket, number]];
    const err = s.getsockopt(SOL_SOCKET, SO_ERROR);
    if (err !== 0) throw new Error(`connect failed: errno ${err}`);
    log(`client: connected (poll flags ${flags})`);
    s.write(new TextEncoder().encode('hello tsip\n'));
    poller.modify(s, POLLIN);
    await poller.poll(5000);
    const reply = new TextDecoder().decode(s.read(1024) as Uint8Array);
    log(`client: got ${JSON.stringify(reply)}`);
    s.close();
    return reply;
  };
  const reply = await sim.settle(run(), 60_000);
  ls.close();
  await sim.runUntilAsync(() => sim.clock.pendingTimers() === 0, sim.clock.now() + 120_000);
  return reply;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await socketEchoExample();
}
