// Macro: bulk TCP between two stacks in one process, over the simulator.
// A client (10.0.0.1) connects to a server (10.0.0.2:80) over a link with
// 1 ms one-way latency and no rate limit, writes BYTES of seeded data and a
// FIN; the server compares what it reads with the data sent, byte for byte,
// at its offset (a memcmp: a sha256 of the stream cost ~35 ms of CPU per
// 50 MB inside the timed region, a quarter of the simulator's own time once
// checksums were offloaded) and gives the window back. Default TCP
// configuration (CUBIC, SACK, timestamps, window scaling, 256 KiB buffers),
// MTU 1500, no GSO. No pcap and no frame observer, so the link offloads TCP
// checksums as a NIC would (the sender leaves data segments' checksums to
// the link, the receiver is told frames no stage touched are verified; see
// Simulator.send/deliver): with a tap, a trace or a corrupt stage they are
// all computed and checked again. Two runs: 0% and 1% loss per frame (both
// directions). Figures: payload Gbit/s per wall-clock second and per CPU
// second (process.cpuUsage, user + system, all threads), wall and CPU time,
// virtual time, retransmissions. A warm-up transfer runs first (not
// reported), so the JIT is warm. Each run stops at a wall-clock cap.
//
// The simulator passes TCP payloads by reference on this link (nothing
// needs a copy: Simulator.lend). Extra rows, "gso": the same transfer over
// a link with GSO and GRO (gso + gro: 64 KiB super-segments cross whole,
// as between veth ends with offloads; a loss draw per super-segment), not
// comparable with the MTU rows, which are the headline.
//
// Knobs (environment): TSIP_BENCH_SIM_REPEATS (5), TSIP_BENCH_SIM_LEND=0
// (copy every frame, as before by-reference frames), TSIP_BENCH_SIM_GSO=0
// (no gso rows), TSIP_BENCH_SIM_AB=1 (instead: by reference and copies
// alternately in one process, REPEATS pairs per loss rate, the median of
// the pairs' CPU ratios: on a loaded machine steadier than separate runs).
import { performance } from 'node:perf_hooks';
import { RawTcp, WriteFlag } from '../src/callbacks/raw.ts';
import { Err, errName } from '../src/err.ts';
import type { Pbuf } from '../src/pbuf/pbuf.ts';
import type { TcpPcb } from '../src/pcb/pcb.ts';
import { Simulator } from '../src/sim/simulator.ts';
import { Rng } from '../src/time/rng.ts';
import { type BenchReport, type BenchSpec, type Row, round } from './lib.ts';
import { stats3 } from './netns.ts';

const BYTES = 50_000_000;
const WARMUP_BYTES = 20_000_000;
const WALL_CAP_MS = 20_000;
/** Runs per loss rate (the same seed: identical work); the median by wall time is the headline. */
const REPEATS = Number(process.env.TSIP_BENCH_SIM_REPEATS ?? 5);
const LEND = process.env.TSIP_BENCH_SIM_LEND !== '0';
const GSO_ROWS = process.env.TSIP_BENCH_SIM_GSO !== '0';
const AB = process.env.TSIP_BENCH_SIM_AB === '1';

interface BulkResult {
  loss: number;
  bytes: number;
  delivered: number;
  dataMatch: boolean;
  wallMs: number;
  cpuMs: number;
  virtualMs: number;
  retransmits: number;
  rtoCount: number;
  framesSent: number;
  capped: boolean;
  errors: string[];
  poolInUseAfter: number;
}

export function bulk(bytes: number, loss: number, seed: number, data: Uint8Array, gso = false, lend = LEND): BulkResult {
  const sim = new Simulator({ seed, lendFrames: lend });
  const client = sim.addStack('client');
  const server = sim.addStack('server');
  const link = sim.connect(client, server, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', ...(gso ? { gso: true, gro: true } : {}), link: { latencyMs: 1, ...(loss > 0 ? { loss } : {}) } });
  const rc = new RawTcp(client);
  const rs = new RawTcp(server);
  const errors: string[] = [];
  let received = 0;
  let intact = true;
  let gotFin = false;
  let spcb: TcpPcb | null = null;

  const listener = rs.tcpNew()!;
  rs.tcpBind(listener, 0, 80);
  rs.tcpListen(listener);
  rs.tcpAccept(listener, (_a, npcb) => {
    spcb = npcb;
    rs.tcpRecv(npcb, (_b, pcb, p: Pbuf | null) => {
      if (p === null) {
        gotFin = true;
        return Err.OK;
      }
      let at = received;
      for (let q: Pbuf | null = p; q !== null; q = q.next) {
        if (at + q.len > bytes || Buffer.compare(q.buf.subarray(q.off, q.off + q.len), data.subarray(at, at + q.len)) !== 0) intact = false;
        at += q.len;
      }
      const n = p.totLen;
      received += n;
      p.free();
      rs.tcpRecved(pcb, n);
      return Err.OK;
    });
    rs.tcpErr(npcb, (_b, e) => errors.push(`server: ${errName(e)}`));
    rs.tcpClose(listener);
    return Err.OK;
  });

  let offset = 0;
  let finSent = false;
  const pump = (pcb: TcpPcb): void => {
    while (offset < bytes) {
      const n = Math.min(rc.tcpSndbuf(pcb), bytes - offset, 64 * 1024);
      if (n <= 0) break;
      if (rc.tcpWrite(pcb, data.subarray(offset, offset + n), WriteFlag.COPY) !== Err.OK) break;
      offset += n;
    }
    if (offset >= bytes && !finSent) {
      finSent = true;
      rc.tcpShutdown(pcb, false, true);
    }
    rc.tcpOutput(pcb);
  };
  const cpcb = rc.tcpNew()!;
  rc.tcpSent(cpcb, (_a, pcb) => {
    pump(pcb);
    return Err.OK;
  });
  rc.tcpErr(cpcb, (_a, e) => errors.push(`client: ${errName(e)}`));

  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  let capped = false;
  let checks = 0;
  const err = rc.tcpConnect(cpcb, '10.0.0.2', 80, (_a, pcb) => {
    pump(pcb);
    return Err.OK;
  });
  if (err !== Err.OK) errors.push(`connect: ${errName(err)}`);
  sim.runUntil(() => {
    if (gotFin || errors.length > 0) return true;
    if ((++checks & 1023) === 0 && performance.now() - wall0 > WALL_CAP_MS) capped = true;
    return capped;
  });
  const wallMs = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  const virtualMs = sim.clock.now();
  // The bytes read were compared with data[0, received) as they came: all there and all equal.
  const dataMatch = received === bytes && intact;
  const counters = [cpcb.counters, (spcb as TcpPcb | null)?.counters];
  const retransmits = counters.reduce((n, c) => n + (c?.retransmits ?? 0), 0);
  const rtoCount = counters.reduce((n, c) => n + (c?.rtoCount ?? 0), 0);
  // Close down (not timed): both ends close, TIME_WAIT runs out.
  if (!capped) {
    rc.tcpClose(cpcb);
    if (spcb !== null) rs.tcpClose(spcb);
    sim.runUntilIdle(600_000);
  }
  const poolInUseAfter = client.pool.stats.bytesInUse + server.pool.stats.bytesInUse;
  sim.close();
  return {
    loss,
    bytes,
    delivered: received,
    dataMatch,
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    virtualMs,
    retransmits,
    rtoCount,
    framesSent: link.ab.sent + link.ba.sent,
    capped,
    errors,
    poolInUseAfter,
  };
}

const spec: BenchSpec = {
  name: 'sim-bulk',
  description: `bulk TCP over the simulator, ${BYTES / 1e6} MB one way (${REPEATS} runs each), 1 ms latency, 0% and 1% loss: payload Gbit/s per wall and per CPU second, data compared byte for byte`,
  async run(): Promise<BenchReport> {
    const data = new Rng('sim-bulk').fill(new Uint8Array(BYTES));
    const warm = bulk(WARMUP_BYTES, 0.01, 1, data);
    if (!warm.dataMatch) throw new Error(`sim-bulk warm-up failed: ${warm.errors.join(', ')}`);
    const rows: Row[] = [];
    const figures: Record<string, number> = {};
    const notes: string[] = [];
    if (AB) return alternate(data, rows, figures, notes);
    for (const [gso, loss] of configs()) {
      const tag = `${gso ? 'gso ' : ''}loss ${loss * 100}%`;
      const runs: BulkResult[] = [];
      for (let i = 0; i < REPEATS; i++) {
        const r = bulk(BYTES, loss, 7, data, gso);
        runs.push(r);
        const gbit = (r.delivered * 8) / 1e9;
        rows.push({
          run: `${tag} #${i + 1}`,
          'payload MB': round(r.delivered / 1e6, 1),
          data: r.dataMatch ? 'match' : 'MISMATCH',
          'wall ms': round(r.wallMs, 0),
          'CPU ms': round(r.cpuMs, 0),
          'Gbit/s (wall)': round(gbit / (r.wallMs / 1000), 3),
          'Gbit/s per CPU s': round(gbit / (r.cpuMs / 1000), 3),
          'virtual ms': round(r.virtualMs, 1),
          'Gbit/s (virtual)': round(gbit / (r.virtualMs / 1000), 3),
          retransmits: r.retransmits,
          RTOs: r.rtoCount,
          frames: r.framesSent,
        });
        if (r.capped) notes.push(`${tag} #${i + 1}: stopped at the ${WALL_CAP_MS / 1000} s wall-clock cap after ${r.delivered} of ${r.bytes} bytes`);
        else if (!r.dataMatch) throw new Error(`sim-bulk ${tag}: data did not arrive intact (${r.delivered} of ${r.bytes} bytes; ${r.errors.join(', ')})`);
        if (r.poolInUseAfter !== 0 && !r.capped) notes.push(`${tag} #${i + 1}: ${r.poolInUseAfter} pool bytes still in use after close`);
        if (r.capped) break;
      }
      // The median run by wall time gives the headline figures.
      const m = [...runs].sort((a, b) => a.wallMs - b.wallMs)[Math.floor((runs.length - 1) / 2)]!;
      const gbit = (m.delivered * 8) / 1e9;
      figures[`${tag} payload Gbit/s`] = round(gbit / (m.wallMs / 1000), 4);
      figures[`${tag} payload Gbit/s per CPU second`] = round(gbit / (m.cpuMs / 1000), 4);
      figures[`${tag} wall ms`] = round(m.wallMs, 1);
      figures[`${tag} CPU ms`] = round(m.cpuMs, 1);
      figures[`${tag} virtual ms`] = round(m.virtualMs, 1);
      figures[`${tag} bytes`] = m.delivered;
      figures[`${tag} retransmits`] = m.retransmits;
      figures[`${tag} data ok`] = runs.every((r) => r.dataMatch) ? 1 : 0;
    }
    notes.push(
      `figures: the median of ${REPEATS} runs by wall time (same seed, identical work); payload = bytes the server read (${BYTES / 1e6} MB, one direction); Gbit = 1e9 bits; wall and CPU from connect to the server reading the FIN, the byte-for-byte comparison of the received stream included`,
      'CPU = process.cpuUsage() user + system (all threads: GC included); one process runs both stacks, so per CPU second counts sender and receiver together',
      `link: 1 ms one-way latency, no rate limit, MTU 1500, no GSO; loss applies to each frame in both directions; default TCP config; warm-up ${WARMUP_BYTES / 1e6} MB at 1% loss first`,
      LEND ? 'TCP payloads passed by reference between the stacks (Simulator lendFrames, the default)' : 'every frame copied (TSIP_BENCH_SIM_LEND=0)',
      ...(GSO_ROWS ? ['"gso" rows (not the headline): the link has gso + gro, so both stacks exchange up to 64 KiB segments uncut, as veth with GSO/GRO; a loss draw per super-segment'] : []),
    );
    return { name: 'sim-bulk', rows, figures, notes };
  },
};

/** TSIP_BENCH_SIM_AB=1: by reference (B) and copies (A) alternately, in one process. */
/** The measured configurations, [gso link, loss]: MTU 1500 first, then the gso + gro link when asked for. */
function configs(): [boolean, number][] {
  const c: [boolean, number][] = [
    [false, 0],
    [false, 0.01],
  ];
  if (GSO_ROWS) c.push([true, 0], [true, 0.01]);
  return c;
}

function alternate(data: Uint8Array, rows: Row[], figures: Record<string, number>, notes: string[]): BenchReport {
  const median = (a: number[]): number => stats3(a).median;
  for (const [gso, loss] of configs()) {
    const tag = `${gso ? 'gso ' : ''}loss ${loss * 100}%`;
    const copies: number[] = [];
    const byRef: number[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      // Alternate which goes first, so drift in the machine's load favours neither.
      const order = i % 2 === 0 ? [false, true] : [true, false];
      const cpu = new Map<boolean, BulkResult>();
      for (const lend of order) {
        const r = bulk(BYTES, loss, 7, data, gso, lend);
        if (!r.dataMatch) throw new Error(`sim-bulk ab ${tag}: data did not arrive intact`);
        cpu.set(lend, r);
        rows.push({ run: `${tag} #${i + 1} ${lend ? 'by reference' : 'copies'}`, 'CPU ms': round(r.cpuMs, 0), 'Gbit/s per CPU s': round((r.delivered * 8) / 1e9 / (r.cpuMs / 1000), 3), frames: r.framesSent });
      }
      const a = cpu.get(false)!;
      const b = cpu.get(true)!;
      copies.push((a.delivered * 8) / 1e9 / (a.cpuMs / 1000));
      byRef.push((b.delivered * 8) / 1e9 / (b.cpuMs / 1000));
      ratios.push(a.cpuMs / b.cpuMs);
    }
    figures[`${tag} copies payload Gbit/s per CPU second`] = round(median(copies), 4);
    figures[`${tag} by reference payload Gbit/s per CPU second`] = round(median(byRef), 4);
    figures[`${tag} CPU ratio copies/by reference (median of pairs)`] = round(median(ratios), 4);
  }
  notes.push(`TSIP_BENCH_SIM_AB: ${REPEATS} pairs per row, copies (lendFrames false) and by reference alternately in one process; ratio > 1: by reference takes less CPU`);
  return { name: 'sim-bulk', rows, figures, notes };
}

export default spec;
