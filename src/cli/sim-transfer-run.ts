// The transfer driver behind `tsip sim transfer`: a client stack and a
// server stack joined by a simulated (faulty) link; the client connects,
// both send seeded data, half-close, read to EOF and close. The result says
// whether every byte arrived intact (sha256 at both ends), how long it took
// in virtual and wall time, what loss recovery it needed, and whether
// everything was given back once the simulator went idle. `ok` holds only
// when the transfer finished intact AND nothing was left over: a run that
// stops at its deadline or its step budget is never ok.
//
// Wall time comes from performance.now(): cli/ may read the real clock;
// everything inside the simulation runs on its virtual clock.
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { RawTcp } from '../callbacks/raw.ts';
import { Err, errName } from '../err.ts';
import type { PbufPoolOptions } from '../pbuf/pool.ts';
import type { PcbCounters, TcpPcb } from '../pcb/pcb.ts';
import type { TcpConfig } from '../pcb/tcp.ts';
import type { LinkPipeline, LinkSpec } from '../sim/link.ts';
import { PcapWriter } from '../sim/pcap.ts';
import { Simulator } from '../sim/simulator.ts';
import type { FaultEvent } from '../sim/faults.ts';
import { Trace } from '../sim/trace.ts';
import type { Stack } from '../stack/stack.ts';
import { Rng } from '../time/rng.ts';
import { Payload, Peer } from './sim-transfer-peer.ts';

export interface SimTransferOptions {
  seed: number | string;
  /** Payload bytes each way (the client's; the server's too unless serverBytes is given). */
  bytes: number;
  /** Payload bytes the server sends (default: bytes). */
  serverBytes?: number;
  /** Both directions of the link. */
  link: LinkSpec;
  /** TCP configuration of both stacks. */
  tcp?: TcpConfig;
  /** Pbuf pool limits of both stacks (a small pool makes writes fail with ERR_MEM). */
  pool?: PbufPoolOptions;
  mtu?: number;
  /** Netifs take 64 KiB TCP super-segments, cut by the link (software TSO). */
  gso?: boolean;
  /** With gso: super-segments cross the link whole (GRO), not cut into frames. */
  gro?: boolean;
  /** Over IPv6 (fd00::1 <-> [fd00::2]:80) instead of IPv4. */
  ipv6?: boolean;
  /** Each side waits this long (virtual ms) after writing its last byte before it half-closes (default 0). */
  closeDelayMs?: number;
  /** The server sends only once it has read the client's FIN (request, then response), so it writes while half-closed. */
  serverWaitsForEof?: boolean;
  /** Write every frame sent to this pcap file. */
  pcapFile?: string;
  /** Faults on the timeline (hosts 'client' and 'server', link TRANSFER_LINK). */
  faults?: readonly FaultEvent[];
  /** Write the simulation's JSON-lines event log (packets, TCP states, timeline events) to this file. */
  traceFile?: string;
  /** Virtual-time budget for the transfer (default 24 h, plus four times the transfer time at the link rate). */
  deadlineMs?: number;
  /** Timer events the transfer may take, and again the close (default 50 million plus 25 per payload byte, both ways). */
  maxSteps?: number;
  /** Called now and then while the transfer runs (for a progress display). */
  onProgress?: (p: { delivered: number; total: number; virtualMs: number }) => void;
}

/** What one end saw. */
export interface EndReport {
  sent: number;
  received: number;
  /** sha256 of the payload this end wrote into the connection (all of it when the transfer completed). */
  sentSha256: string;
  receivedSha256: string;
  /** State when the transfer finished (both FINs received). */
  stateAtEnd: string;
  errors: string[];
  /** tcpWrite calls refused with ERR_MEM (each retried smaller, or on the next sent/poll callback). */
  writeMemErrors: number;
  counters: PcbCounters | null;
}

/** What a stack's pbuf pool went through (lwIP's memerr counters). */
export interface PoolReport {
  bytesHighWater: number;
  /** Allocations refused at a limit, of every use. */
  allocFailures: number;
  /** Received frames dropped for want of memory. */
  rxAllocFailures: number;
  /** ACKs, RSTs and replies not sent for want of memory. */
  controlAllocFailures: number;
  /** Writes TCP refused under memory pressure before the pool itself ran out (tcp.counters.memoryPressureRefusals). */
  pressureRefusals: number;
}

/** One direction of the link. */
export interface FrameReport {
  sent: number;
  delivered: number;
  /** Frames larger than the MTU with DF set, dropped by the link. */
  oversize: number;
}

export interface SimTransferResult {
  seed: number | string;
  /** The address family the transfer ran over. */
  family: 4 | 6;
  /** Payload bytes requested each way (the client's; see serverBytes). */
  bytes: number;
  serverBytes: number;
  /** Payload bytes delivered, client→server and server→client. */
  delivered: { clientToServer: number; serverToClient: number };
  /** Both directions arrived complete and byte-exact. */
  sha256Match: boolean;
  /** Both ends read the other's FIN before the deadline and the step budget ran out. */
  finished: boolean;
  /** Virtual time from connect until both ends had read the peer's FIN. */
  virtualMs: number;
  /** Wall time of the same span, less the time spent making the payload and hashing what was sent (the stacks' and the simulator's time). */
  wallMs: number;
  /** Virtual time once the simulator went idle (TIME_WAIT over, all timers done). */
  virtualIdleMs: number;
  /** Wall time including the close and running to idle. */
  wallTotalMs: number;
  /** Payload delivered (both directions), in 10^6 bytes per wall-clock second. */
  mbPerWallSecond: number;
  /** Payload delivered (both directions), in Mbit per virtual second. */
  mbitPerVirtualSecond: number;
  /** Segments retransmitted, both ends. */
  retransmits: number;
  fastRetransmits: number;
  /** Times loss recovery was entered on duplicate ACKs / SACK, both ends. */
  fastRecoveries: number;
  /** Retransmission timeouts, both ends. */
  rtoCount: number;
  /** Pool bytes still in use at the end (both stacks), after closing and running until idle. */
  poolInUse: number;
  pbufsInUse: number;
  timersPending: number;
  pcbsLeft: number;
  /** Timer events the simulator ran (transfer and close). */
  steps: number;
  /** Each stack's pool: its high water mark and the allocations it refused. */
  pool: { client: PoolReport; server: PoolReport };
  /** Why the run is not ok (empty when it is). */
  problems: string[];
  /** Frames sent into the link and delivered by it, each direction. */
  frames: { clientToServer: FrameReport; serverToClient: FrameReport };
  /** TCP super-segments each side handed to its netif (with --gso; the link cut them into frames). */
  superSegments: { client: number; server: number };
  client: EndReport;
  server: EndReport;
  link: LinkSpec;
  /** With traceFile: the trace written (its lines and its sha256, the same for the same seed and options). */
  trace?: { file: string; lines: number; sha256: string };
  /** Data intact both ways, both FINs read, and after the close nothing left: no PCB, timer, pool byte or error. */
  ok: boolean;
}

/** Largest --bytes: the payload is streamed, so the bound is time (some 20 s of wall time per GB each way), not memory. */
export const BYTES_MAX = 100_000_000_000;

/** A slice of the run ends after this many simulator events or this much virtual time; progress is reported between slices. */
const SLICE_STEPS = 16_384;
const SLICE_VIRTUAL_MS = 10;
/** Virtual time the close may take to go idle (TIME_WAIT, FIN retransmissions): far more than it needs. */
const IDLE_MS = 86_400_000;

/** The name of the transfer's one link (for fault schedules). */
export const TRANSFER_LINK = 'client~server';

/** The ends' addresses with --ipv6. */
export const CLIENT6 = 'fd00::1';
export const SERVER6 = 'fd00::2';

/** The default step budget: 50 million timer events plus 25 per payload byte (both ways). */
export function defaultMaxSteps(bytes: number, serverBytes = bytes): number {
  return 50_000_000 + 25 * (bytes + serverBytes);
}

/** Run one transfer. Never throws for network trouble or a runaway simulation: the result says what happened. */
export function runSimTransfer(o: SimTransferOptions): SimTransferResult {
  const serverBytes = o.serverBytes ?? o.bytes;
  for (const [name, v] of [['bytes', o.bytes], ['serverBytes', serverBytes]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > BYTES_MAX) throw new RangeError(`${name} must be an integer from 0 to ${BYTES_MAX}, got ${v}`);
  }
  const sim = new Simulator({ seed: o.seed });
  const trace = o.traceFile !== undefined ? Trace.attach(sim, { path: o.traceFile, meta: { seed: o.seed, command: 'sim transfer' } }) : undefined;
  try {
    return transfer(o, sim, serverBytes, trace);
  } finally {
    trace?.close();
  }
}

function transfer(o: SimTransferOptions, sim: Simulator, serverBytes: number, trace: Trace | undefined): SimTransferResult {
  const tcp = o.tcp ?? {};
  const stackOpts = { tcp, ...(o.pool !== undefined ? { pool: o.pool } : {}) };
  const client = sim.addStack('client', stackOpts);
  const server = sim.addStack('server', stackOpts);
  const pcap = o.pcapFile !== undefined ? new PcapWriter() : undefined;
  const six = o.ipv6 === true;
  const link = sim.connect(client, server, {
    ...(six ? { aAddr6: CLIENT6, bAddr6: SERVER6 } : { aAddr: '10.0.0.1', bAddr: '10.0.0.2' }),
    link: o.link,
    ...(o.mtu !== undefined ? { mtu: o.mtu } : {}),
    ...(o.gso ? { gso: true } : {}),
    ...(o.gso && o.gro ? { gro: true } : {}),
    ...(pcap !== undefined ? { pcap } : {}),
  });
  if (o.faults !== undefined && o.faults.length > 0) sim.schedule(o.faults);
  const seedRng = new Rng(o.seed);
  const cOut = new Payload(seedRng.derive('payload:client'), o.bytes);
  const sOut = new Payload(seedRng.derive('payload:server'), serverBytes);
  const rc = new RawTcp(client);
  const rs = new RawTcp(server);
  const closeDelayMs = o.closeDelayMs ?? 0;
  const cli = new Peer(rc, cOut, sim.clock, closeDelayMs, false, 'client');
  const srv = new Peer(rs, sOut, sim.clock, closeDelayMs, o.serverWaitsForEof === true, 'server');
  const maxSteps = o.maxSteps ?? defaultMaxSteps(o.bytes, serverBytes);
  const problems: string[] = [];
  /** Run the simulator; a runaway (the clock's guard or the step budget) becomes a problem, not an exception. */
  const guarded = (what: string, run: () => void): void => {
    try {
      run();
    } catch (e) {
      const budget = what === 'transfer' && sim.steps >= maxSteps ? `step budget of ${maxSteps} timer events spent at ${sim.clock.now().toFixed(1)} ms virtual (a hang?); ` : '';
      problems.push(`${what}: ${budget}${e instanceof Error ? e.message : String(e)}`);
    }
  };

  const wall0 = performance.now();
  const listener = rs.tcpNew()!;
  rs.tcpBind(listener, six ? '::' : 0, 80);
  rs.tcpListen(listener);
  rs.tcpAccept(listener, (_a, npcb) => {
    srv.attach(npcb);
    srv.connected = true;
    srv.pump(npcb);
    // One connection is all this scenario takes.
    rs.tcpClose(listener);
    return Err.OK;
  });
  const cpcb = rc.tcpNew()!;
  cli.attach(cpcb);
  const connectErr = rc.tcpConnect(cpcb, six ? SERVER6 : '10.0.0.2', 80, (_a, pcb) => {
    cli.connected = true;
    cli.pump(pcb);
    return Err.OK;
  });
  if (connectErr !== Err.OK) cli.errors.push(`connect: ${errName(connectErr)}`);
  // A day of virtual time, plus four times the transfer's duration at the link rate.
  const rateMs = o.link.bitsPerSecond ? ((Math.max(o.bytes, serverBytes) * 8) / o.link.bitsPerSecond) * 1000 * 4 : 0;
  const deadline = sim.clock.now() + (o.deadlineMs ?? 86_400_000 + rateMs);
  const finished = (): boolean => (cli.gotFin && srv.gotFin) || cli.errors.length > 0 || srv.errors.length > 0;
  // Run in slices, reporting progress in between, within the virtual
  // deadline and the step budget (every timer fired counts).
  const total = o.bytes + serverBytes;
  guarded('transfer', () => {
    while (!finished() && sim.clock.now() < deadline) {
      const left = maxSteps - sim.steps;
      if (left <= 0) throw new Error('out of steps');
      const slice0 = sim.steps;
      const sliceEnd = sim.clock.now() + SLICE_VIRTUAL_MS;
      sim.runUntil(() => finished() || sim.steps - slice0 >= SLICE_STEPS || sim.clock.now() > sliceEnd, deadline, left);
      o.onProgress?.({ delivered: cli.received + srv.received, total, virtualMs: sim.clock.now() });
    }
  });
  const virtualMs = sim.clock.now();
  const wallMs = performance.now() - wall0 - cOut.costMs - sOut.costMs;
  const stateOf = (p: TcpPcb | null): string => (p === null ? 'never connected' : p.freed ? 'CLOSED (freed)' : p.stateName);
  const cState = stateOf(cli.pcb);
  const sState = stateOf(srv.pcb);
  const bothFins = cli.gotFin && srv.gotFin;
  if (!bothFins) {
    const why = cli.errors.length + srv.errors.length > 0 ? 'an error ended it' : virtualMs >= deadline ? 'the virtual deadline passed' : 'the simulation stopped';
    problems.push(`the transfer did not finish (${why} at ${virtualMs.toFixed(1)} ms): client ${cState}, server ${sState}`);
  }
  // Close down: what is still open closes, TIME_WAIT runs out, every timer stops.
  cli.closeNow();
  srv.closeNow();
  if (!listener.freed) rs.tcpClose(listener);
  guarded('close', () => sim.runUntil(() => sim.clock.pendingTimers() === 0, sim.clock.now() + IDLE_MS, maxSteps));
  const wallTotalMs = performance.now() - wall0 - cOut.costMs - sOut.costMs;

  const end = (p: Peer, state: string): EndReport => ({
    sent: p.offset,
    received: p.received,
    sentSha256: p.sentHash.digest('hex'),
    receivedSha256: p.hash.digest('hex'),
    stateAtEnd: state,
    errors: p.errors,
    writeMemErrors: p.writeMemErrors,
    counters: p.pcb === null ? null : p.pcb.counters.snapshot(),
  });
  const cRep = end(cli, cState);
  const sRep = end(srv, sState);
  const c2s = sRep.received === o.bytes && sRep.receivedSha256 === cRep.sentSha256;
  const s2c = cRep.received === serverBytes && cRep.receivedSha256 === sRep.sentSha256;
  const sha256Match = c2s && s2c;
  if (!c2s) problems.push(`client -> server: ${sRep.received} of ${o.bytes} bytes${sRep.received === o.bytes ? ', sha256 MISMATCH' : ''}`);
  if (!s2c) problems.push(`server -> client: ${cRep.received} of ${serverBytes} bytes${cRep.received === serverBytes ? ', sha256 MISMATCH' : ''}`);
  if (cRep.errors.length + sRep.errors.length > 0) problems.push(`errors: client [${cRep.errors.join(', ')}] server [${sRep.errors.join(', ')}]`);
  const sum = (k: keyof PcbCounters): number => (cRep.counters?.[k] ?? 0) + (sRep.counters?.[k] ?? 0);
  const stacks: Stack[] = [client, server];
  const poolInUse = stacks.reduce((n, s) => n + s.pool.stats.bytesInUse, 0);
  const pbufsInUse = stacks.reduce((n, s) => n + s.pool.stats.pbufsInUse, 0);
  const pcbsLeft = stacks.reduce((n, s) => n + s.tcp.pcbCount, 0);
  const timersPending = sim.clock.pendingTimers();
  if (pcbsLeft + timersPending + poolInUse + pbufsInUse > 0) problems.push(`left over after the close: ${pcbsLeft} PCBs, ${timersPending} timers, ${poolInUse} pool bytes in ${pbufsInUse} pbufs`);
  const deliveredTotal = cRep.received + sRep.received;
  if (pcap !== undefined && o.pcapFile !== undefined) writeFileSync(o.pcapFile, pcap.bytes());
  // Everything the run does is over: the trace is complete.
  trace?.close();
  const poolOf = (st: Stack): PoolReport => {
    const ps = st.pool.stats;
    return { bytesHighWater: ps.bytesHighWater, allocFailures: ps.allocFailures, rxAllocFailures: ps.rxAllocFailures, controlAllocFailures: ps.controlAllocFailures, pressureRefusals: st.tcp.counters.memoryPressureRefusals };
  };
  const frames = (l: LinkPipeline): FrameReport => ({ sent: l.sent, delivered: l.delivered, oversize: l.stat('oversize') });
  // Summary keys first: the --json output reads well from the top.
  return {
    bytes: o.bytes,
    sha256Match,
    virtualMs,
    wallMs,
    retransmits: sum('retransmits'),
    poolInUse,
    fastRetransmits: sum('fastRetransmits'),
    fastRecoveries: sum('recoveries'),
    rtoCount: sum('rtoCount'),
    mbPerWallSecond: wallMs > 0 ? deliveredTotal / 1e6 / (wallMs / 1000) : 0,
    mbitPerVirtualSecond: virtualMs > 0 ? (deliveredTotal * 8) / 1e6 / (virtualMs / 1000) : 0,
    ok: problems.length === 0,
    problems,
    finished: bothFins,
    seed: o.seed,
    serverBytes,
    delivered: { clientToServer: sRep.received, serverToClient: cRep.received },
    virtualIdleMs: sim.clock.now(),
    wallTotalMs,
    pbufsInUse,
    timersPending,
    pcbsLeft,
    steps: sim.steps,
    pool: { client: poolOf(client), server: poolOf(server) },
    frames: { clientToServer: frames(link.ab), serverToClient: frames(link.ba) },
    superSegments: { client: link.aNetif.counters.txGso, server: link.bNetif.counters.txGso },
    client: cRep,
    server: sRep,
    link: o.link,
    family: six ? 6 : 4,
    ...(trace !== undefined && o.traceFile !== undefined ? { trace: { file: o.traceFile, lines: trace.count, sha256: trace.sha256() } } : {}),
  };
}
