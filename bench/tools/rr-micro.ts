// Request/response cost in one process, without a device: two stacks whose
// netifs hand packets to each other through a queue that is pumped once per
// event-loop turn (as a TUN read is), a raw-API client doing 1-byte
// ping-pong against the server's echo on :7 — tsip's echo service (sockets,
// limits) or a raw-API echo — so that the difference between the two is the
// socket layer and the service, measured as CPU µs per transaction.
//
// With `conn` as the third argument each transaction is a connection of
// its own instead (connect, 1 byte each way, the client closes first), as
// the anchors' connect-echo-close.
//
// With --virtual the stacks run on a virtual clock that moves 50 µs per
// turn instead of the real one: the same work every run, so an instruction
// count (bench/tools/callgrind-per-op.ts) compares two versions without the
// machine's noise.
//
//   npx tsx bench/tools/rr-micro.ts [OPS] [service|raw|both] [conn] [--virtual]
// (both: three of each, alternating; the first pair includes the JIT's warm-up)
import { Err } from '../../src/err.ts';
import { type Pbuf, PbufType } from '../../src/pbuf/pbuf.ts';
import { PbufLayer } from '../../src/pbuf/pool.ts';
import { startServices } from '../../src/services/index.ts';
import { Stack } from '../../src/stack/stack.ts';
import type { Netif } from '../../src/netif/netif.ts';
import { RealClock } from '../../src/time/real-clock.ts';
import { VirtualClock } from '../../src/time/virtual-clock.ts';

const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const OPS = Number(positional[0] ?? 200_000);
const WHICH = positional[1] ?? 'both';
const CONN = positional[2] === 'conn';
const VIRTUAL = flags.includes('--virtual');
/** Virtual time per event-loop turn with --virtual (ms). */
const VIRTUAL_TURN_MS = 0.05;

function wire(a: Stack, aAddr: string, b: Stack, bAddr: string): { pump: () => number } {
  const q: [Stack, Netif, Uint8Array][] = [];
  const out =
    (to: () => [Stack, Netif]) =>
    (p: Pbuf): number => {
      const [s, n] = to();
      q.push([s, n, p.toBytes()]);
      return Err.OK;
    };
  const na: Netif = a.addNetif({ name: 'a0', addr: aAddr, prefixLength: 24, mtu: 1500, output: out(() => [b, nb]) });
  const nb: Netif = b.addNetif({ name: 'b0', addr: bAddr, prefixLength: 24, mtu: 1500, output: out(() => [a, na]) });
  return {
    pump(): number {
      const batch = q.splice(0);
      for (const [s, n, bytes] of batch) {
        const p = s.pool.alloc(PbufLayer.RAW, bytes.length, PbufType.POOL)!;
        p.take(bytes);
        s.input(p, n);
      }
      return batch.length;
    },
  };
}

async function once(kind: 'service' | 'raw'): Promise<{ usPerOp: number; cpuUsPerOp: number }> {
  const clock = VIRTUAL ? new VirtualClock() : new RealClock();
  const client = new Stack({ name: 'c', clock, rng: 1 });
  const server = new Stack({ name: 's', clock, rng: 2 });
  const link = wire(client, '10.9.0.1', server, '10.9.0.2');
  const services = startServices(server);
  if (kind === 'raw') {
    services.list.find((x) => x.name === 'echo')!.stop();
    const raw = server.sockets.raw;
    const p0 = raw.tcpNew()!;
    raw.tcpBind(p0, '0.0.0.0', 7);
    const l = raw.tcpListen(p0)!;
    raw.tcpAccept(l, (_a, pcb) => {
      raw.tcpNagleDisable(pcb);
      raw.tcpRecv(pcb, (_x, pc, p) => {
        if (p === null) return (raw.tcpClose(pc), 0);
        const d = p.toBytes();
        raw.tcpRecved(pc, p.totLen);
        p.free();
        raw.tcpWrite(pc, d);
        raw.tcpOutput(pc);
        return 0;
      });
      return 0;
    });
  }
  const craw = client.sockets.raw;
  let done = 0;
  const one = new Uint8Array([42]);
  let pcb = craw.tcpNew()!;
  /** One connection: connect, 1 byte each way, close (the client first), then the next one at once (as connrate.c). */
  const connectOne = (): void => {
    pcb = craw.tcpNew()!;
    craw.tcpNagleDisable(pcb);
    craw.tcpRecv(pcb, (_a, pc, p) => {
      if (p === null) return 0;
      craw.tcpRecved(pc, p.totLen);
      p.free();
      craw.tcpClose(pc);
      if (++done < OPS) connectOne();
      return 0;
    });
    craw.tcpConnect(pcb, '10.9.0.2', 7, (_a, pc) => {
      craw.tcpWrite(pc, one);
      craw.tcpOutput(pc);
      return 0;
    });
  };
  if (CONN) connectOne();
  else {
    craw.tcpNagleDisable(pcb);
    craw.tcpRecv(pcb, (_a, pc, p) => {
      if (p === null) return 0;
      craw.tcpRecved(pc, p.totLen);
      p.free();
      if (++done < OPS) {
        craw.tcpWrite(pc, one);
        craw.tcpOutput(pc);
      }
      return 0;
    });
    craw.tcpConnect(pcb, '10.9.0.2', 7, (_a, pc) => {
      craw.tcpWrite(pc, one);
      craw.tcpOutput(pc);
      return 0;
    });
  }
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  // Bounded: a run that stops making progress for 5 s is reported, not waited on for ever.
  let last = done;
  let lastAt = performance.now();
  while (done < OPS) {
    link.pump();
    await new Promise((r) => setImmediate(r));
    if (clock instanceof VirtualClock) clock.advanceTo(clock.now() + VIRTUAL_TURN_MS);
    if (done !== last) (last = done), (lastAt = performance.now());
    else if (performance.now() - lastAt > 5000) throw new Error(`${kind}: no progress for 5 s after ${done} of ${OPS}`);
  }
  const cpu = process.cpuUsage(c0);
  const ms = performance.now() - t0;
  if (!CONN) craw.tcpAbort(pcb);
  services.stop();
  client.close();
  server.close();
  if (clock instanceof RealClock) clock.dispose();
  return { usPerOp: (ms * 1000) / OPS, cpuUsPerOp: (cpu.user + cpu.system) / OPS };
}

const kinds: ('service' | 'raw')[] = WHICH === 'both' ? ['service', 'raw', 'service', 'raw', 'service', 'raw'] : [WHICH as 'service' | 'raw'];
for (const k of kinds) {
  const r = await once(k);
  console.log(`${k.padEnd(8)} ${r.usPerOp.toFixed(2)} µs/op wall, ${r.cpuUsPerOp.toFixed(2)} µs/op CPU (${OPS} ${CONN ? 'connections' : 'transactions'})`);
}
