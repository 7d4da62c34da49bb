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
import { parseArgs } from 'node:util';
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
  /** Virtual-time budget for the transfer (default 24 h). */
  deadlineMs?: number;
}

/** What one end saw. */
export interface EndReport {
  sent: number;
  received: number;
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
  /** Wall time of the same span. */
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

/** One side of the exchange: writes its data as the send buffer allows, hashes what arrives, closes at the end. */
class Peer {
  received = 0;
  readonly hash: Hash = createHash('sha256');
  offset = 0;
  finSent = false;
  gotFin = false;
  closed = false;
  readonly errors: string[] = [];
  pcb: TcpPcb | null = null;

  constructor(
    readonly raw: RawTcp,
    readonly out: Uint8Array,
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
    while (this.offset < this.out.length) {
      const n = Math.min(raw.tcpSndbuf(pcb), this.out.length - this.offset, 64 * 1024);
      if (n <= 0) break;
      if (raw.tcpWrite(pcb, this.out.subarray(this.offset, this.offset + n), WriteFlag.COPY) !== Err.OK) break;
      this.offset += n;
    }
    if (this.offset >= this.out.length && !this.finSent) {
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

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Run one transfer. Never throws for network trouble: the result says what happened. */
export function runSimTransfer(o: SimTransferOptions): SimTransferResult {
  if (!Number.isInteger(o.bytes) || o.bytes < 0) throw new RangeError(`--bytes must be a non-negative integer, got ${o.bytes}`);
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
  const cOut = seedRng.derive('payload:client').fill(new Uint8Array(o.bytes));
  const sOut = seedRng.derive('payload:server').fill(new Uint8Array(o.bytes));
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
  const deadline = sim.clock.now() + (o.deadlineMs ?? 86_400_000);
  sim.runUntil(() => (cli.gotFin && srv.gotFin) || cli.errors.length > 0 || srv.errors.length > 0, deadline);
  const virtualMs = sim.clock.now();
  const wallMs = performance.now() - wall0;
  const stateOf = (p: TcpPcb | null): string => (p === null ? 'never connected' : p.freed ? 'CLOSED (freed)' : p.stateName);
  const cState = stateOf(cli.pcb);
  const sState = stateOf(srv.pcb);
  if (!listener.freed) rs.tcpClose(listener);
  // Close down: TIME_WAIT runs out, every timer stops.
  sim.runUntilIdle(deadline);
  const wallTotalMs = performance.now() - wall0;

  const end = (p: Peer, out: Uint8Array, state: string): EndReport => ({
    sent: p.offset,
    received: p.received,
    sentSha256: sha(out),
    receivedSha256: p.hash.digest('hex'),
    stateAtEnd: state,
    errors: p.errors,
    counters: p.pcb === null ? null : { ...p.pcb.counters },
  });
  const cRep = end(cli, cOut, cState);
  const sRep = end(srv, sOut, sState);
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
  const linkParts = [`delay ${l.latencyMs ?? 1} ms`, l.bitsPerSecond ? `rate ${l.bitsPerSecond / 1e6} Mbit/s` : 'rate unlimited'];
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

export const SIM_TRANSFER_USAGE = `  tsip sim transfer [options]     bulk TCP both ways between two simulated stacks
      --seed N        seed for every random choice and the payload (default 1)
      --bytes N       payload bytes each way (default 1000000)
      --delay MS      one-way link latency in ms (default 1)
      --rate MBIT     link rate in Mbit/s (default unlimited)
      --loss P        drop probability per frame, 0..1 (default 0)
      --reorder P     reordering probability (default 0)
      --dup P         duplication probability (default 0)
      --corrupt P     bit-corruption probability (default 0)
      --cc NAME       congestion control: cubic or reno (default cubic)
      --mtu N         link MTU (default 1500)
      --gso           stacks send 64 KiB super-segments, the link cuts them (as a NIC's TSO)
      --pcap FILE     write every frame sent to a pcap file
      --json          print one JSON object instead of the report
    exit status 1 if the data did not arrive intact or pbufs were left in use`;

/**
 * `tsip sim transfer` from argv: prints the report (or the JSON) through
 * `print` and returns the exit status. Bad options throw TypeError
 * (parseArgs) or RangeError.
 */
export function simTransferCommand(argv: string[], print: (s: string) => void = (s) => console.log(s)): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      seed: { type: 'string' },
      bytes: { type: 'string' },
      delay: { type: 'string' },
      rate: { type: 'string' },
      loss: { type: 'string' },
      reorder: { type: 'string' },
      dup: { type: 'string' },
      corrupt: { type: 'string' },
      cc: { type: 'string' },
      mtu: { type: 'string' },
      gso: { type: 'boolean' },
      pcap: { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  const num = (v: string | undefined, name: string, dflt: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new RangeError(`--${name} must be a number, got ${v}`);
    return n;
  };
  const seedRaw = values.seed ?? '1';
  const seed = /^\d+$/.test(seedRaw) ? Number(seedRaw) : seedRaw;
  const rate = values.rate === undefined ? undefined : num(values.rate, 'rate', 0);
  if (rate !== undefined && !(rate > 0)) throw new RangeError(`--rate must be positive (Mbit/s), got ${values.rate}`);
  const link: LinkSpec = {
    latencyMs: num(values.delay, 'delay', 1),
    ...(values.loss !== undefined ? { loss: num(values.loss, 'loss', 0) } : {}),
    ...(values.reorder !== undefined ? { reorder: num(values.reorder, 'reorder', 0) } : {}),
    ...(values.dup !== undefined ? { duplicate: num(values.dup, 'dup', 0) } : {}),
    ...(values.corrupt !== undefined ? { corrupt: num(values.corrupt, 'corrupt', 0) } : {}),
    ...(rate !== undefined ? { bitsPerSecond: rate * 1e6 } : {}),
  };
  const cc = values.cc ?? 'cubic';
  if (cc !== 'cubic' && cc !== 'reno') throw new RangeError(`--cc must be cubic or reno, got ${cc}`);
  const r = runSimTransfer({
    seed,
    bytes: num(values.bytes, 'bytes', 1_000_000),
    link,
    tcp: { congestion: cc },
    ...(values.mtu !== undefined ? { mtu: num(values.mtu, 'mtu', 1500) } : {}),
    ...(values.gso ? { gso: true } : {}),
    ...(values.pcap !== undefined ? { pcapFile: values.pcap } : {}),
  });
  print(values.json ? JSON.stringify(transferJson(r)) : formatTransferReport(r, values.pcap));
  return r.ok ? 0 : 1;
}
