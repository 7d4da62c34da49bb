// `tsip sim transfer`: a client stack and a server stack joined by a
// simulated (faulty) link; the client connects, both send `bytes` of
// seeded data at once, half-close, read to EOF and close. The report says
// whether every byte arrived intact (sha256 at both ends), how long it took
// in virtual time and in wall time, what loss recovery it needed, and
// whether everything was given back once the simulator went idle.
//
// Wall time comes from performance.now(): cli/ may read the real clock;
// everything inside the simulation runs on its virtual clock.
import { createHash, type Hash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { RawTcp, WriteFlag } from '../callbacks/raw.ts';
import { Err, errName } from '../err.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import type { PcbCounters, TcpPcb } from '../pcb/pcb.ts';
import type { TcpConfig } from '../pcb/tcp.ts';
import type { LinkSpec } from '../sim/link.ts';
import { PcapWriter } from '../sim/pcap.ts';
import { Simulator } from '../sim/simulator.ts';
import type { Stack } from '../stack/stack.ts';
import { Rng } from '../time/rng.ts';
import { choice, defineCommand, flag, formatHelp, integer, parseCommand, UsageError } from './args.ts';
import { formatRate, jsonOption, LINK_OPTIONS, linkSpecOf, mtuOption, pcapOption, seedOption } from './common-options.ts';
import { formatBytes, Progress, type ProgressStream } from './progress.ts';

export interface SimTransferOptions {
  seed: number | string;
  /** Payload bytes each way. */
  bytes: number;
  /** Both directions of the link. */
  link: LinkSpec;
  /** TCP configuration of both stacks. */
  tcp?: TcpConfig;
  mtu?: number;
  /** Netifs take 64 KiB TCP super-segments, cut by the link (software TSO). */
  gso?: boolean;
  /** Write every frame sent to this pcap file. */
  pcapFile?: string;
  /** Virtual-time budget for the transfer (default 24 h, plus four times the transfer time at the link rate). */
  deadlineMs?: number;
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
  counters: PcbCounters | null;
}

export interface SimTransferResult {
  seed: number | string;
  /** Payload bytes requested each way. */
  bytes: number;
  /** Payload bytes delivered, client→server and server→client. */
  delivered: { clientToServer: number; serverToClient: number };
  /** Both directions arrived complete and byte-exact. */
  sha256Match: boolean;
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
  /** Frames sent into the link and delivered by it, each direction. */
  frames: { clientToServer: { sent: number; delivered: number }; serverToClient: { sent: number; delivered: number } };
  /** TCP super-segments each side handed to its netif (with --gso; the link cut them into frames). */
  superSegments: { client: number; server: number };
  client: EndReport;
  server: EndReport;
  link: LinkSpec;
  /** Data intact and nothing left behind. */
  ok: boolean;
}

/** Payload bytes generated at a time: the payload is streamed, so memory stays flat whatever --bytes is. */
const CHUNK = 256 * 1024; // a multiple of 4: Rng.fill gives the same bytes in pieces as in one go

/** The seeded payload of one side, generated piece by piece as the send buffer takes it. */
class Payload {
  private readonly buf = new Uint8Array(CHUNK);
  private start = 0;
  private end = 0;
  private generated = 0;
  /** Wall ms spent making the payload and hashing what was sent: not the stack's time, so left out of wallMs. */
  costMs = 0;

  constructor(
    private readonly rng: Rng,
    readonly total: number,
  ) {}

  /** Up to `max` bytes of the payload from `offset` (which only moves forward). */
  peek(offset: number, max: number): Uint8Array {
    if (offset >= this.end) {
      const t0 = performance.now();
      const n = Math.min(CHUNK, this.total - this.generated);
      this.rng.fill(this.buf.subarray(0, n));
      this.costMs += performance.now() - t0;
      this.start = this.generated;
      this.generated += n;
      this.end = this.generated;
    }
    const from = offset - this.start;
    return this.buf.subarray(from, Math.min(this.end - this.start, from + max));
  }
}

/** One side of the exchange: writes its data as the send buffer allows, hashes what arrives, closes at the end. */
class Peer {
  received = 0;
  readonly hash: Hash = createHash('sha256');
  /** sha256 of the payload written into the connection so far. */
  readonly sentHash: Hash = createHash('sha256');
  offset = 0;
  finSent = false;
  gotFin = false;
  closed = false;
  readonly errors: string[] = [];
  pcb: TcpPcb | null = null;

  constructor(
    readonly raw: RawTcp,
    readonly out: Payload,
  ) {}

  attach(pcb: TcpPcb): void {
    this.pcb = pcb;
    const raw = this.raw;
    raw.tcpRecv(pcb, (_a, q, p) => this.onRecv(q, p));
    raw.tcpSent(pcb, (_a, q) => {
      this.pump(q);
      return Err.OK;
    });
    raw.tcpErr(pcb, (_a, e) => {
      this.errors.push(errName(e));
    });
  }

  private onRecv(pcb: TcpPcb, p: Pbuf | null): number {
    if (p === null) {
      this.gotFin = true;
      this.maybeClose(pcb);
      return Err.OK;
    }
    for (let q: Pbuf | null = p; q !== null; q = q.next) this.hash.update(q.buf.subarray(q.off, q.off + q.len));
    const n = p.totLen;
    this.received += n;
    p.free();
    this.raw.tcpRecved(pcb, n);
    return Err.OK;
  }

  pump(pcb: TcpPcb): void {
    if (this.closed && this.finSent) return;
    const raw = this.raw;
    const total = this.out.total;
    while (this.offset < total) {
      const n = Math.min(raw.tcpSndbuf(pcb), total - this.offset, 64 * 1024);
      if (n <= 0) break;
      const piece = this.out.peek(this.offset, n);
      // COPY: the stack keeps its own copy, so the payload buffer is reused.
      if (raw.tcpWrite(pcb, piece, WriteFlag.COPY) !== Err.OK) break;
      const t0 = performance.now();
      this.sentHash.update(piece);
      this.out.costMs += performance.now() - t0;
      this.offset += piece.length;
    }
    if (this.offset >= total && !this.finSent) {
      this.finSent = true;
      raw.tcpShutdown(pcb, false, true);
      this.maybeClose(pcb);
    }
    if (!this.closed) raw.tcpOutput(pcb);
  }

  private maybeClose(pcb: TcpPcb): void {
    if (this.gotFin && this.finSent && !this.closed) {
      this.closed = true;
      this.raw.tcpClose(pcb);
    }
  }
}

/** Largest --bytes: the payload is streamed, so the bound is time (some 20 s of wall time per GB each way), not memory. */
export const BYTES_MAX = 100_000_000_000;
/** Largest --bytes with --pcap: the capture is held in memory until the end (a little more than twice the payload). */
export const PCAP_BYTES_MAX = 100_000_000;

/** A slice of the run ends after this many simulator events or this much virtual time; progress is reported between slices. */
const SLICE_STEPS = 16_384;
const SLICE_VIRTUAL_MS = 10;

/** Run one transfer. Never throws for network trouble: the result says what happened. */
export function runSimTransfer(o: SimTransferOptions): SimTransferResult {
  if (!Number.isInteger(o.bytes) || o.bytes < 0 || o.bytes > BYTES_MAX) throw new RangeError(`bytes must be an integer from 0 to ${BYTES_MAX}, got ${o.bytes}`);
  const sim = new Simulator({ seed: o.seed });
  const tcp = o.tcp ?? {};
  const client = sim.addStack('client', { tcp });
  const server = sim.addStack('server', { tcp });
  const pcap = o.pcapFile !== undefined ? new PcapWriter() : undefined;
  const link = sim.connect(client, server, {
    aAddr: '10.0.0.1',
    bAddr: '10.0.0.2',
    link: o.link,
    ...(o.mtu !== undefined ? { mtu: o.mtu } : {}),
    ...(o.gso ? { gso: true } : {}),
    ...(pcap !== undefined ? { pcap } : {}),
  });
  const seedRng = new Rng(o.seed);
  const cOut = new Payload(seedRng.derive('payload:client'), o.bytes);
  const sOut = new Payload(seedRng.derive('payload:server'), o.bytes);
  const rc = new RawTcp(client);
  const rs = new RawTcp(server);
  const cli = new Peer(rc, cOut);
  const srv = new Peer(rs, sOut);

  const wall0 = performance.now();
  const listener = rs.tcpNew()!;
  rs.tcpBind(listener, 0, 80);
  rs.tcpListen(listener);
  rs.tcpAccept(listener, (_a, npcb) => {
    srv.attach(npcb);
    srv.pump(npcb);
    // One connection is all this scenario takes.
    rs.tcpClose(listener);
    return Err.OK;
  });
  const cpcb = rc.tcpNew()!;
  cli.attach(cpcb);
  const connectErr = rc.tcpConnect(cpcb, '10.0.0.2', 80, (_a, pcb) => {
    cli.pump(pcb);
    return Err.OK;
  });
  if (connectErr !== Err.OK) cli.errors.push(`connect: ${errName(connectErr)}`);
  // A day of virtual time, plus four times the transfer's duration at the link rate.
  const rateMs = o.link.bitsPerSecond ? ((o.bytes * 8) / o.link.bitsPerSecond) * 1000 * 4 : 0;
  const deadline = sim.clock.now() + (o.deadlineMs ?? 86_400_000 + rateMs);
  const finished = (): boolean => (cli.gotFin && srv.gotFin) || cli.errors.length > 0 || srv.errors.length > 0;
  // Run in slices of events, reporting progress in between. The run is
  // bounded by the virtual deadline and by a step budget that grows with
  // the payload (a long transfer needs more events than one runUntil allows).
  const maxSlices = Math.ceil((50_000_000 + o.bytes) / SLICE_STEPS);
  for (let slice = 0; slice < maxSlices && !finished() && sim.clock.now() < deadline; slice++) {
    let steps = 0;
    const sliceEnd = sim.clock.now() + SLICE_VIRTUAL_MS;
    sim.runUntil(() => finished() || ++steps > SLICE_STEPS || sim.clock.now() > sliceEnd, deadline);
    o.onProgress?.({ delivered: cli.received + srv.received, total: 2 * o.bytes, virtualMs: sim.clock.now() });
  }
  const virtualMs = sim.clock.now();
  const wallMs = performance.now() - wall0 - cOut.costMs - sOut.costMs;
  const stateOf = (p: TcpPcb | null): string => (p === null ? 'never connected' : p.freed ? 'CLOSED (freed)' : p.stateName);
  const cState = stateOf(cli.pcb);
  const sState = stateOf(srv.pcb);
  if (!listener.freed) rs.tcpClose(listener);
  // Close down: TIME_WAIT runs out, every timer stops.
  sim.runUntilIdle(deadline);
  const wallTotalMs = performance.now() - wall0 - cOut.costMs - sOut.costMs;

  const end = (p: Peer, state: string): EndReport => ({
    sent: p.offset,
    received: p.received,
    sentSha256: p.sentHash.digest('hex'),
    receivedSha256: p.hash.digest('hex'),
    stateAtEnd: state,
    errors: p.errors,
    counters: p.pcb === null ? null : { ...p.pcb.counters },
  });
  const cRep = end(cli, cState);
  const sRep = end(srv, sState);
  const sha256Match = cRep.received === o.bytes && sRep.received === o.bytes && cRep.receivedSha256 === sRep.sentSha256 && sRep.receivedSha256 === cRep.sentSha256;
  const sum = (k: keyof PcbCounters): number => (cRep.counters?.[k] ?? 0) + (sRep.counters?.[k] ?? 0);
  const stacks: Stack[] = [client, server];
  const poolInUse = stacks.reduce((n, s) => n + s.pool.stats.bytesInUse, 0);
  const pbufsInUse = stacks.reduce((n, s) => n + s.pool.stats.pbufsInUse, 0);
  const pcbsLeft = stacks.reduce((n, s) => n + s.tcp.pcbCount, 0);
  const timersPending = sim.clock.pendingTimers();
  const deliveredTotal = cRep.received + sRep.received;
  if (pcap !== undefined && o.pcapFile !== undefined) writeFileSync(o.pcapFile, pcap.bytes());
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
    ok: sha256Match && poolInUse === 0 && pbufsInUse === 0,
    seed: o.seed,
    delivered: { clientToServer: sRep.received, serverToClient: cRep.received },
    virtualIdleMs: sim.clock.now(),
    wallTotalMs,
    pbufsInUse,
    timersPending,
    pcbsLeft,
    frames: {
      clientToServer: { sent: link.ab.sent, delivered: link.ab.delivered },
      serverToClient: { sent: link.ba.sent, delivered: link.ba.delivered },
    },
    superSegments: { client: link.aNetif.counters.txGso, server: link.bNetif.counters.txGso },
    client: cRep,
    server: sRep,
    link: o.link,
  };
}

const fmt = (n: number, d = 1): string => n.toFixed(d);

/** The human-readable report. */
export function formatTransferReport(r: SimTransferResult, pcapFile?: string): string {
  const l = r.link;
  const linkParts = [`delay ${l.latencyMs ?? 1} ms`, l.bitsPerSecond ? `rate ${formatRate(l.bitsPerSecond)}` : 'rate unlimited'];
  if (l.loss) linkParts.push(`loss ${fmt(l.loss * 100)}%`);
  if (l.reorder) linkParts.push(`reorder ${fmt(l.reorder * 100)}%`);
  if (l.duplicate) linkParts.push(`dup ${fmt(l.duplicate * 100)}%`);
  if (l.corrupt) linkParts.push(`corrupt ${fmt(l.corrupt * 100, 2)}%`);
  const yes = (b: boolean): string => (b ? 'match' : 'MISMATCH');
  const line = (from: string, to: string, sender: EndReport, receiver: EndReport): string =>
    `  ${from} -> ${to}: ${receiver.received} of ${r.bytes} bytes, sha256 ${sender.sentSha256.slice(0, 16)}… sent, ${receiver.receivedSha256.slice(0, 16)}… received: ${yes(receiver.received === r.bytes && sender.sentSha256 === receiver.receivedSha256)}`;
  const out = [
    `tsip sim transfer: seed ${String(r.seed)}, ${r.bytes} bytes each way, 10.0.0.1 (client) <-> 10.0.0.2:80 (server)`,
    `link (each direction): ${linkParts.join(', ')}`,
    'data:',
    line('client', 'server', r.client, r.server),
    line('server', 'client', r.server, r.client),
    `  ends at the end of the transfer: client ${r.client.stateAtEnd}, server ${r.server.stateAtEnd}` + (r.client.errors.length + r.server.errors.length > 0 ? `; errors: client [${r.client.errors.join(', ')}] server [${r.server.errors.join(', ')}]` : ''),
    'time:',
    `  virtual ${fmt(r.virtualMs, 1)} ms (idle at ${fmt(r.virtualIdleMs, 1)} ms, after TIME_WAIT)`,
    `  wall    ${fmt(r.wallMs, 1)} ms (${fmt(r.wallTotalMs, 1)} ms including the close)`,
    'throughput (payload, both directions):',
    `  ${fmt(r.mbPerWallSecond, 2)} MB per wall-clock second`,
    `  ${fmt(r.mbitPerVirtualSecond, 2)} Mbit/s of virtual time`,
    'loss recovery (both ends):',
    `  ${r.retransmits} retransmitted segments, ${r.fastRetransmits} fast retransmits, ${r.fastRecoveries} fast recoveries, ${r.rtoCount} RTOs`,
    `  frames: client->server ${r.frames.clientToServer.sent} sent / ${r.frames.clientToServer.delivered} delivered, server->client ${r.frames.serverToClient.sent} sent / ${r.frames.serverToClient.delivered} delivered`,
    ...(r.superSegments.client + r.superSegments.server > 0 ? [`  GSO super-segments: client ${r.superSegments.client}, server ${r.superSegments.server} (cut into frames by the link)`] : []),
    'resources after close and run-until-idle:',
    `  pool: ${r.poolInUse} bytes in ${r.pbufsInUse} pbufs in use; ${r.pcbsLeft} PCBs; ${r.timersPending} timers pending`,
  ];
  if (pcapFile !== undefined) out.push(`wrote ${pcapFile} (read it with: tcpdump -nn -r ${pcapFile})`);
  out.push(r.ok ? 'OK' : `FAILED: ${!r.sha256Match ? 'data did not arrive intact' : 'pbufs left in the pool'}`);
  return out.join('\n');
}

/** The JSON report: one object (the result, whose summary keys come first). */
export function transferJson(r: SimTransferResult): SimTransferResult {
  return r;
}

export const SIM_TRANSFER = defineCommand({
  name: 'tsip sim transfer',
  usage: 'tsip sim transfer [options]',
  brief: 'bulk TCP both ways between two simulated stacks, checked by sha256',
  summary: 'Bulk TCP both ways between two simulated stacks (10.0.0.1 <-> 10.0.0.2:80): both send --bytes of seeded data at once, half-close, read to EOF and close.',
  details: [
    'The report says whether every byte arrived intact (sha256 at both ends), the virtual and wall time, the loss recovery it needed, and whether everything was given back once the simulator went idle. The payload is generated as it is sent, so memory stays flat; on a terminal a progress line shows the bytes delivered.',
    'The link options are the same as those of tsip sim ping, with the same units; the same seed gives the same run.',
  ],
  options: {
    seed: seedOption('every random choice and the payload'),
    bytes: integer({ description: `payload bytes each way; with --pcap at most ${PCAP_BYTES_MAX}, as the capture is held in memory`, min: 0, max: BYTES_MAX, maxNote: '100 GB', default: 1_000_000 }),
    ...LINK_OPTIONS,
    cc: choice({ description: 'congestion control', metavar: 'NAME', values: ['cubic', 'reno'], default: 'cubic' }),
    mtu: mtuOption('link MTU'),
    gso: flag({ description: "stacks send 64 KiB super-segments, the link cuts them (as a NIC's TSO)" }),
    pcap: pcapOption('write every frame sent to a pcap file'),
    json: jsonOption(' (and no progress line)'),
  },
  exits: ['0  the data arrived intact and nothing was left in use', '1  the data did not arrive intact, or pbufs were left in use'],
});

/**
 * `tsip sim transfer` from argv (after "sim transfer"): prints the report
 * (or the JSON, or the help) through `print` and returns the exit status.
 * Bad options throw UsageError. Progress goes to `progressTo` (stderr)
 * when it is a terminal and the output is not --json.
 */
export function simTransferCommand(argv: string[], print: (s: string) => void = (s) => console.log(s), progressTo: ProgressStream = process.stderr): number {
  const p = parseCommand(SIM_TRANSFER, argv);
  if (p.help) {
    print(formatHelp(SIM_TRANSFER));
    return 0;
  }
  const v = p.values;
  if (v.pcap !== undefined && v.bytes > PCAP_BYTES_MAX) {
    throw new UsageError(SIM_TRANSFER.name, `--bytes must be at most ${PCAP_BYTES_MAX} (100 MB) with --pcap (the capture is held in memory), got ${v.bytes}`);
  }
  const prog = Progress.forStream(progressTo, { json: v.json });
  let r: SimTransferResult;
  try {
    r = runSimTransfer({
      seed: v.seed,
      bytes: v.bytes,
      link: linkSpecOf(v),
      tcp: { congestion: v.cc as 'cubic' | 'reno' },
      ...(p.given.has('mtu') ? { mtu: v.mtu } : {}),
      ...(v.gso ? { gso: true } : {}),
      ...(v.pcap !== undefined ? { pcapFile: v.pcap } : {}),
      ...(prog.active
        ? {
            onProgress: (q: { delivered: number; total: number; virtualMs: number }) =>
              prog.update(`sim transfer: ${formatBytes(q.delivered)} of ${formatBytes(q.total)} delivered (${q.total === 0 ? 100 : Math.floor((q.delivered / q.total) * 100)}%), ${(q.virtualMs / 1000).toFixed(1)} s virtual`),
          }
        : {}),
    });
  } finally {
    prog.clear();
  }
  print(v.json ? JSON.stringify(transferJson(r)) : formatTransferReport(r, v.pcap));
  return r.ok ? 0 : 1;
}
