import { expect } from 'vitest';
// TCP test support, two kinds:
// 1. A scripted peer: one Stack with a capturing netif; the test plays the
//    remote end by injecting hand-built segments and inspecting what the
//    stack sends (the way lwIP's unit tests work).
// 2. Two stacks in the simulator, each with the raw API, for end-to-end
//    scenarios with loss, reordering and so on.
import { createHash } from 'node:crypto';
import { RawTcp, WriteFlag } from '../../src/callbacks/raw.ts';
import { Err } from '../../src/err.ts';
import type { Pbuf } from '../../src/pbuf/pbuf.ts';
import type { TcpPcb } from '../../src/pcb/pcb.ts';
import type { TcpConfig } from '../../src/pcb/tcp.ts';
import type { LinkSpec } from '../../src/sim/link.ts';
import { Simulator } from '../../src/sim/simulator.ts';
import type { Stack, StackOptions } from '../../src/stack/stack.ts';
import type { VirtualClock } from '../../src/time/virtual-clock.ts';
import { foldSum, onesSum } from '../../src/wire/checksum.ts';
import { isWireError } from '../../src/wire/error.ts';
import { ip6PseudoHeaderSum, Ip6Addr, type IpAddr } from '../../src/wire/ipaddr.ts';
import { parseIpv4 } from '../../src/wire/ipv4.ts';
import { parseIpv6 } from '../../src/wire/ipv6.ts';
import { emitTcp, newTcpOptions, parseTcp, TcpFlag, tcpOptionsLength, TcpView, type TcpOptions, type TcpRepr } from '../../src/wire/tcp.ts';
import { anyIp, isV6, localIp, mssFor, peerIp } from './family.ts';
import { addr, captureStack, ipPacket } from './packets.ts';

export { TcpFlag, Err };
export const { FIN, SYN, RST, PSH, ACK } = TcpFlag;

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Deterministic test payload. */
export function payload(n: number, seed = 1): Uint8Array {
  const d = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    d[i] = x & 0xff;
  }
  return d;
}

// ---------------------------------------------------------------------------
// 1. Scripted peer
// ---------------------------------------------------------------------------

export interface SegSpec {
  seq: number;
  ack?: number;
  flags: number;
  wnd?: number;
  data?: Uint8Array;
  /** Options: mss, wscale, sackPermitted, timestamps [tsVal, tsEcr], sack blocks [[l, r], ...]. */
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
  ts?: [number, number];
  sack?: [number, number][];
  srcPort?: number;
  dstPort?: number;
  src?: string;
  dst?: string;
}

/** A parsed segment the stack sent. */
export interface SentSeg {
  /** A u32 for IPv4, an Ip6Addr for IPv6. */
  src: IpAddr;
  dst: IpAddr;
  tcp: TcpRepr;
  data: Uint8Array;
  flags: number;
  seq: number;
  ack: number;
  wnd: number;
  opts: TcpOptions;
}

export interface ScriptedPeer {
  stack: Stack;
  raw: RawTcp;
  clock: VirtualClock;
  /** Everything the stack sent, parsed. */
  sent: SentSeg[];
  /** Take (and clear) what was sent since the last call. */
  take(): SentSeg[];
  /** Inject a segment from the peer 10.0.0.2:peerPort (fd00::2 in family 6) to the stack at 10.0.0.1:localPort (fd00::1). */
  inject(s: SegSpec): void;
  /** Advance virtual time, running timers. */
  advance(ms: number): void;
  localPort: number;
  peerPort: number;
}

export interface PeerOptions {
  stack?: StackOptions;
  tcp?: TcpConfig;
  localPort?: number;
  peerPort?: number;
  mtu?: number;
}

export function scriptedPeer(o: PeerOptions = {}): ScriptedPeer {
  const { stack, sent: raw } = captureStack({ ...o.stack, tcp: { ...o.stack?.tcp, ...o.tcp }, ...(o.mtu ? { mtu: o.mtu } : {}) });
  const clock = stack.clock as VirtualClock;
  const localPort = o.localPort ?? 80;
  const peerPort = o.peerPort ?? 40000;
  const parsed: SentSeg[] = [];
  let taken = 0;
  const parseAll = (): void => {
    while (parsed.length < raw.length) parsed.push(parseSent(raw[parsed.length]!));
  };
  return {
    stack,
    raw: new RawTcp(stack),
    clock,
    get sent() {
      parseAll();
      return parsed;
    },
    take() {
      parseAll();
      const out = parsed.slice(taken);
      taken = parsed.length;
      return out;
    },
    inject(s: SegSpec) {
      const bytes = tcpPacket({ srcPort: peerPort, dstPort: localPort, ...s });
      const p = stack.pool.fromBytes(bytes)!;
      stack.input(p, stack.netifs[1]!);
    },
    advance(ms: number) {
      clock.advanceBy(ms);
    },
    localPort,
    peerPort,
  };
}

/**
 * An IPv4 packet carrying a TCP segment from `src` (default 10.0.0.2) to
 * `dst` (10.0.0.1); in family 6 (or with IPv6 text addresses) an IPv6
 * packet from fd00::2 to fd00::1, checksummed over the IPv6 pseudo-header.
 */
export function tcpPacket(s: SegSpec): Uint8Array {
  const srcText = s.src ?? peerIp();
  const dstText = s.dst ?? localIp();
  const six = srcText.includes(':');
  const o = newTcpOptions();
  if (s.mss !== undefined) o.mss = s.mss;
  if (s.wscale !== undefined) o.wscale = s.wscale;
  if (s.sackPermitted) o.sackPermitted = true;
  if (s.ts) {
    o.hasTimestamp = true;
    o.tsVal = s.ts[0] >>> 0;
    o.tsEcr = s.ts[1] >>> 0;
  }
  if (s.sack) {
    o.sackCount = s.sack.length;
    s.sack.forEach(([l, r], i) => {
      o.sackBlocks[2 * i] = l >>> 0;
      o.sackBlocks[2 * i + 1] = r >>> 0;
    });
  }
  const data = s.data ?? new Uint8Array(0);
  const optLen = tcpOptionsLength(o);
  const seg = new Uint8Array(20 + optLen + data.length);
  seg.set(data, 20 + optLen);
  const repr: TcpRepr = {
    srcPort: s.srcPort ?? 40000,
    dstPort: s.dstPort ?? 80,
    seq: s.seq >>> 0,
    ack: (s.ack ?? 0) >>> 0,
    flags: s.flags,
    window: s.wnd ?? 0xffff,
    urgent: 0,
    options: o,
    payloadLen: data.length,
  };
  if (six) {
    emitTcp(repr, seg, 0, 0, 0, { skipChecksum: true });
    new TcpView(seg).fillChecksumFrom(ip6PseudoHeaderSum(Ip6Addr.parse(srcText)!, Ip6Addr.parse(dstText)!, 6, seg.length));
  } else {
    emitTcp(repr, seg, 0, addr(srcText), addr(dstText));
  }
  return ipPacket(seg, { src: srcText, dst: dstText, protocol: 6 });
}

/** Parse a TCP packet the stack sent: IPv4, or IPv6 (40-byte header, Next Header 6), told apart by the version nibble. */
export function parseSent(bytes: Uint8Array): SentSeg {
  if (bytes[0]! >> 4 === 6) return parseSent6(bytes);
  const ip = parseIpv4(bytes);
  if (isWireError(ip)) throw new Error(`stack sent a bad IP packet: ${ip.message}`);
  const seg = bytes.subarray(20, 20 + ip.payloadLen);
  const tcp = parseTcp(seg, ip.src, ip.dst);
  if (isWireError(tcp)) throw new Error(`stack sent a bad TCP segment: ${tcp.message}`);
  const hl = (seg[12]! >> 4) * 4;
  return { src: ip.src, dst: ip.dst, tcp, data: seg.slice(hl), flags: tcp.flags, seq: tcp.seq, ack: tcp.ack, wnd: tcp.window, opts: tcp.options };
}

function parseSent6(bytes: Uint8Array): SentSeg {
  const ip = parseIpv6(bytes);
  if (isWireError(ip)) throw new Error(`stack sent a bad IPv6 packet: ${ip.message}`);
  if (ip.nextHeader !== 6) throw new Error(`stack sent an IPv6 packet with Next Header ${ip.nextHeader}, not TCP`);
  const seg = bytes.subarray(40, 40 + ip.payloadLen);
  const src = Ip6Addr.fromBytes(ip.src);
  const dst = Ip6Addr.fromBytes(ip.dst);
  const tcp = parseTcp(seg, 0, 0, { verifyChecksum: false });
  if (isWireError(tcp)) throw new Error(`stack sent a bad TCP segment: ${tcp.message}`);
  if (foldSum(onesSum(seg, 0, seg.length, ip6PseudoHeaderSum(src, dst, 6, seg.length))) !== 0xffff) throw new Error('stack sent a bad TCP segment: bad checksum (IPv6 pseudo-header)');
  const hl = (seg[12]! >> 4) * 4;
  return { src, dst, tcp, data: seg.slice(hl), flags: tcp.flags, seq: tcp.seq, ack: tcp.ack, wnd: tcp.window, opts: tcp.options };
}

/** Flags as text, for readable assertions: 'SA', 'A', 'PA', 'FA', 'R', 'RA'. */
export function flagStr(f: number): string {
  let s = '';
  if (f & TcpFlag.SYN) s += 'S';
  if (f & TcpFlag.FIN) s += 'F';
  if (f & TcpFlag.RST) s += 'R';
  if (f & TcpFlag.PSH) s += 'P';
  if (f & TcpFlag.ACK) s += 'A';
  return s;
}

/**
 * Drive a passive open on the scripted peer: listener on localPort, peer SYN
 * (with the given options), stack's SYN-ACK, peer ACK. Returns the accepted
 * PCB, the ISS the stack chose, and the peer's ISN.
 */
export function acceptConnection(
  peer: ScriptedPeer,
  opts: { peerIsn?: number; wnd?: number; mss?: number; wscale?: number; sackPermitted?: boolean; ts?: boolean; onAccept?: (pcb: TcpPcb) => void } = {},
): { pcb: TcpPcb; iss: number; irs: number; listener: TcpPcb } {
  const { raw } = peer;
  const l = raw.tcpNew()!;
  raw.tcpBind(l, anyIp(), peer.localPort);
  raw.tcpListen(l);
  let accepted: TcpPcb | null = null;
  raw.tcpAccept(l, (_a, npcb) => {
    accepted = npcb;
    opts.onAccept?.(npcb);
    return Err.OK;
  });
  const irs = opts.peerIsn ?? 1000;
  const tsv = opts.ts ? ([5000, 0] as [number, number]) : undefined;
  peer.inject({ seq: irs, flags: SYN, wnd: opts.wnd ?? 0xffff, mss: opts.mss ?? mssFor(), ...(opts.wscale !== undefined ? { wscale: opts.wscale } : {}), ...(opts.sackPermitted ? { sackPermitted: true } : {}), ...(tsv ? { ts: tsv } : {}) });
  const synack = peer.take().find((s) => s.flags & SYN);
  if (!synack) throw new Error('no SYN-ACK');
  const iss = synack.seq;
  peer.inject({ seq: irs + 1, ack: iss + 1, flags: ACK, wnd: opts.wnd ?? 0xffff, ...(opts.ts ? { ts: [5001, synack.opts.tsVal] as [number, number] } : {}) });
  if (accepted === null) throw new Error('not accepted');
  return { pcb: accepted, iss, irs, listener: l };
}

// ---------------------------------------------------------------------------
// 2. Two stacks in the simulator
// ---------------------------------------------------------------------------

export interface Pair {
  sim: Simulator;
  client: Stack;
  server: Stack;
  rc: RawTcp;
  rs: RawTcp;
}

export function simPair(o: { seed?: number | string; link?: LinkSpec; ab?: LinkSpec; ba?: LinkSpec; tcp?: TcpConfig; clientTcp?: TcpConfig; serverTcp?: TcpConfig; mtu?: number; gso?: boolean; reuseFrames?: boolean } = {}): Pair {
  const sim = new Simulator({ seed: o.seed ?? 1, ...(o.reuseFrames === false ? { reuseFrames: false } : {}) });
  const client = sim.addStack('client', { pool: { trackLive: true }, tcp: { ...o.tcp, ...o.clientTcp } });
  const server = sim.addStack('server', { pool: { trackLive: true }, tcp: { ...o.tcp, ...o.serverTcp } });
  sim.connect(client, server, {
    // Family 6: an IPv6-only link, client fd00::1, server fd00::2.
    ...(isV6() ? { aAddr6: localIp(), bAddr6: peerIp() } : { aAddr: localIp(), bAddr: peerIp() }),
    link: { latencyMs: 5, ...o.link },
    ...(o.ab ? { ab: o.ab } : {}),
    ...(o.ba ? { ba: o.ba } : {}),
    ...(o.mtu ? { mtu: o.mtu } : {}),
    ...(o.gso ? { gso: true } : {}),
  });
  return { sim, client, server, rc: new RawTcp(client), rs: new RawTcp(server) };
}

/** One side of a bulk exchange: sends `out`, collects what arrives, closes when both are done. */
export class Endpoint {
  readonly received: Uint8Array[] = [];
  receivedBytes = 0;
  sentOffset = 0;
  gotFin = false;
  finSent = false;
  errors: number[] = [];
  connected = false;
  pcb: TcpPcb | null = null;

  constructor(
    readonly raw: RawTcp,
    readonly out: Uint8Array,
    readonly chunk = 16 * 1024,
  ) {}

  /** Install callbacks on `pcb`. */
  attach(pcb: TcpPcb): void {
    this.pcb = pcb;
    const raw = this.raw;
    raw.tcpArg(pcb, this);
    raw.tcpRecv(pcb, (_a, p, q) => this.onRecv(p, q));
    raw.tcpSent(pcb, (_a, p) => {
      this.pump(p);
      return Err.OK;
    });
    raw.tcpErr(pcb, (_a, e) => {
      this.errors.push(e);
      this.pcb = null;
    });
  }

  private onRecv(pcb: TcpPcb, p: Pbuf | null): number {
    if (p === null) {
      this.gotFin = true;
      this.maybeClose(pcb);
      return Err.OK;
    }
    this.received.push(p.toBytes());
    this.receivedBytes += p.totLen;
    this.raw.tcpRecved(pcb, p.totLen);
    p.free();
    return Err.OK;
  }

  /** Write as much as the send buffer takes; FIN when everything is queued. */
  pump(pcb: TcpPcb): void {
    const raw = this.raw;
    while (this.sentOffset < this.out.length) {
      const n = Math.min(raw.tcpSndbuf(pcb), this.out.length - this.sentOffset, this.chunk);
      if (n <= 0) break;
      if (raw.tcpWrite(pcb, this.out.subarray(this.sentOffset, this.sentOffset + n), WriteFlag.COPY) !== Err.OK) break;
      this.sentOffset += n;
    }
    if (this.sentOffset >= this.out.length && !this.finSent) {
      this.finSent = true;
      raw.tcpShutdown(pcb, false, true);
      // The peer may have finished first: then both directions are done.
      if (this.gotFin) {
        raw.tcpClose(pcb);
        return;
      }
    }
    raw.tcpOutput(pcb);
  }

  private maybeClose(pcb: TcpPcb): void {
    if (this.gotFin && this.finSent) this.raw.tcpClose(pcb);
  }

  get bytes(): Uint8Array {
    return Buffer.concat(this.received);
  }
}

/**
 * A full bidirectional transfer: the server listens on 80, the client
 * connects, both send their data, half-close, read to EOF and close.
 */
export function bulkExchange(pair: Pair, clientOut: Uint8Array, serverOut: Uint8Array): { cli: Endpoint; srv: Endpoint; listener: TcpPcb; clientPcb: TcpPcb } {
  const { rc, rs } = pair;
  const cli = new Endpoint(rc, clientOut);
  const srv = new Endpoint(rs, serverOut);
  const l = rs.tcpNew()!;
  rs.tcpBind(l, anyIp(), 80);
  rs.tcpListen(l);
  rs.tcpAccept(l, (_a, npcb) => {
    srv.attach(npcb);
    srv.connected = true;
    srv.pump(npcb);
    return Err.OK;
  });
  const c = rc.tcpNew()!;
  cli.attach(c);
  rc.tcpConnect(c, peerIp(), 80, (_a, pcb) => {
    cli.connected = true;
    cli.pump(pcb);
    return Err.OK;
  });
  return { cli, srv, listener: l, clientPcb: c };
}

// ---------------------------------------------------------------------------
// 3. Receive-side helpers: a recording application and an lwIP-like setup
// ---------------------------------------------------------------------------

/** One thing the application saw, in order. */
export type AppEvent =
  | { t: 'recv'; len: number; bytes: Uint8Array; state: string }
  | { t: 'fin'; state: string }
  | { t: 'sent'; len: number }
  | { t: 'err'; err: number };

/** Records every callback on one PCB; `recvHook` may take over a recv call. */
export class RecvApp {
  readonly events: AppEvent[] = [];
  /** Compact log: 'recv:4', 'fin', 'sent:10', 'err:-13'. */
  readonly log: string[] = [];
  /** Call tcpRecved for every accepted pbuf (lwIP's test callback does not). */
  autoRecved: boolean;
  /**
   * Return a number to answer the recv call yourself (the pbuf is then
   * yours: a non-OK return must leave it alone); undefined for the
   * default (record, free, maybe recved, ERR_OK).
   */
  recvHook: ((pcb: TcpPcb, p: Pbuf | null) => number | undefined) | null = null;

  constructor(
    readonly raw: RawTcp,
    readonly pcb: TcpPcb,
    o: { recved?: boolean } = {},
  ) {
    this.autoRecved = o.recved ?? false;
    raw.tcpRecv(pcb, (_a, q, p) => {
      if (this.recvHook !== null) {
        const r = this.recvHook(q, p);
        if (r !== undefined) return r;
      }
      return this.take(q, p);
    });
    raw.tcpSent(pcb, (_a, _q, len) => {
      this.events.push({ t: 'sent', len });
      this.log.push(`sent:${len}`);
      return Err.OK;
    });
    raw.tcpErr(pcb, (_a, err) => {
      this.events.push({ t: 'err', err });
      this.log.push(`err:${err}`);
    });
  }

  /** Default handling of a recv call: record, free, optionally recved. */
  take(pcb: TcpPcb, p: Pbuf | null): number {
    if (p === null) {
      this.events.push({ t: 'fin', state: pcb.stateName });
      this.log.push('fin');
      return Err.OK;
    }
    const bytes = p.toBytes();
    this.events.push({ t: 'recv', len: p.totLen, bytes, state: pcb.stateName });
    this.log.push(`recv:${p.totLen}`);
    const n = p.totLen;
    p.free();
    if (this.autoRecved) this.raw.tcpRecved(pcb, n);
    return Err.OK;
  }

  /** All data delivered so far, concatenated. */
  get data(): Uint8Array {
    return Buffer.concat(this.events.flatMap((e) => (e.t === 'recv' ? [e.bytes] : [])));
  }
  get recvCalls(): number {
    return this.events.filter((e) => e.t === 'recv').length;
  }
  get finCalls(): number {
    return this.events.filter((e) => e.t === 'fin').length;
  }
  get errs(): number[] {
    return this.events.flatMap((e) => (e.t === 'err' ? [e.err] : []));
  }
  get sentTotal(): number {
    return this.events.reduce((s, e) => s + (e.t === 'sent' ? e.len : 0), 0);
  }
}

/** lwIP's unit-test configuration (docs/research/lwip-tcp-tests.md §0.2): MSS 536, TCP_WND 20 MSS, no options. */
export const LWIP_TEST_TCP: TcpConfig = { mss: 536, rcvWnd: 20 * 536, sndBuf: 22 * 536, windowScaling: false, sack: false, timestamps: false };

export interface Conn {
  peer: ScriptedPeer;
  pcb: TcpPcb;
  app: RecvApp;
  /** The stack's ISS (its first data byte is iss + 1). */
  iss: number;
  /** The peer's ISN (its first data byte is irs + 1). */
  irs: number;
  listener: TcpPcb;
}

/**
 * An ESTABLISHED connection from a passive open, with a RecvApp installed
 * in the accept callback (before any data can arrive) and the wire cleared.
 */
export function openConn(
  o: { tcp?: TcpConfig; stack?: StackOptions; peerIsn?: number; mss?: number; wnd?: number; wscale?: number; sackPermitted?: boolean; ts?: boolean; recved?: boolean; mtu?: number } = {},
): Conn {
  const peer = scriptedPeer({ tcp: o.tcp ?? LWIP_TEST_TCP, ...(o.stack ? { stack: o.stack } : {}), ...(o.mtu ? { mtu: o.mtu } : {}) });
  let app: RecvApp | null = null;
  const { pcb, iss, irs, listener } = acceptConnection(peer, {
    peerIsn: o.peerIsn ?? 1000,
    mss: o.mss ?? 536,
    wnd: o.wnd ?? 0xffff,
    ...(o.wscale !== undefined ? { wscale: o.wscale } : {}),
    ...(o.sackPermitted ? { sackPermitted: true } : {}),
    ...(o.ts ? { ts: true } : {}),
    onAccept: (npcb) => {
      app = new RecvApp(peer.raw, npcb, { recved: o.recved ?? false });
    },
  });
  peer.take();
  return { peer, pcb, app: app!, iss, irs, listener };
}

// ---------------------------------------------------------------------------
// 4. Callback recording and an active open against the scripted peer (state-machine tests)
// ---------------------------------------------------------------------------

/** What the raw-API callbacks of one PCB saw, in order. */
export interface CallbackLog {
  /** 'connected', 'sent:N', 'recv:N', 'recv:null', 'err:E' in call order. */
  events: string[];
  /** Err codes passed to the err callback. */
  errs: number[];
  /** Data delivered by recv, one entry per call. */
  data: Uint8Array[];
}

/**
 * Install recv/sent/err callbacks on `pcb` that record every call. recv
 * takes the pbuf and (unless `recved: false`) gives the window back with
 * tcpRecved; `onFin` runs inside the recv(null) callback.
 */
export function recordCallbacks(raw: RawTcp, pcb: TcpPcb, o: { recved?: boolean; onFin?: (pcb: TcpPcb) => void } = {}): CallbackLog {
  const log: CallbackLog = { events: [], errs: [], data: [] };
  raw.tcpRecv(pcb, (_a, tpcb, p) => {
    if (p === null) {
      log.events.push('recv:null');
      o.onFin?.(tpcb);
      return Err.OK;
    }
    log.events.push(`recv:${p.totLen}`);
    log.data.push(p.toBytes());
    const n = p.totLen;
    p.free();
    if (o.recved !== false) raw.tcpRecved(tpcb, n);
    return Err.OK;
  });
  raw.tcpSent(pcb, (_a, _p, len) => {
    log.events.push(`sent:${len}`);
    return Err.OK;
  });
  raw.tcpErr(pcb, (_a, e) => {
    log.events.push(`err:${e}`);
    log.errs.push(e);
  });
  return log;
}

export interface ActiveOpenOptions {
  /** The peer's ISN (default 5000). */
  peerIsn?: number;
  /** Answer the SYN with a SYN-ACK (default true). */
  synAck?: boolean;
  /** Options the peer puts in its SYN-ACK. */
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
  /** The peer's TSval in its SYN-ACK (TSecr echoes ours). */
  tsVal?: number;
  wnd?: number;
  /** Data on the SYN-ACK. */
  data?: Uint8Array;
  recved?: boolean;
}

/**
 * Active open from the stack (bound to peer.localPort) to the scripted peer
 * (10.0.0.2:peer.peerPort, fd00::2 in family 6); the peer answers with a SYN-ACK unless told not
 * to. Returns the PCB, our ISS, the peer's ISN, the SYN we sent, and what
 * the callbacks saw ('connected' is logged in the same list).
 */
export function activeOpen(peer: ScriptedPeer, o: ActiveOpenOptions = {}): { pcb: TcpPcb; iss: number; irs: number; syn: SentSeg; log: CallbackLog; connectErr: number } {
  const { raw } = peer;
  const pcb = raw.tcpNew()!;
  if (raw.tcpBind(pcb, anyIp(), peer.localPort) !== Err.OK) throw new Error('bind failed');
  const log = recordCallbacks(raw, pcb, o.recved === false ? { recved: false } : {});
  const connectErr = raw.tcpConnect(pcb, peerIp(), peer.peerPort, (_a, _p, err) => {
    log.events.push(err === Err.OK ? 'connected' : `connected:${err}`);
    return Err.OK;
  });
  const syn = peer.take().find((s) => s.flags & SYN);
  if (!syn) throw new Error('no SYN sent');
  const iss = syn.seq;
  const irs = o.peerIsn ?? 5000;
  if (o.synAck !== false) {
    peer.inject({
      seq: irs,
      ack: (iss + 1) >>> 0,
      flags: SYN | ACK,
      wnd: o.wnd ?? 0xffff,
      ...(o.mss !== undefined ? { mss: o.mss } : { mss: mssFor() }),
      ...(o.wscale !== undefined ? { wscale: o.wscale } : {}),
      ...(o.sackPermitted ? { sackPermitted: true } : {}),
      ...(o.tsVal !== undefined ? { ts: [o.tsVal, syn.opts.tsVal] as [number, number] } : {}),
      ...(o.data ? { data: o.data } : {}),
    });
  }
  return { pcb, iss, irs, syn, log, connectErr };
}

// ---------------------------------------------------------------------------
// 5. Loss-recovery and timer helpers: targeted drops in the simulator, and
//    running the scripted peer's clock until the stack transmits
// ---------------------------------------------------------------------------

/**
 * A LinkStage that drops the frames `pred` picks (each frame is parsed as an
 * IPv4/TCP or IPv6/TCP packet; anything else passes), at most `limit` of them. `pred`
 * sees every frame, dropped or not, so it may keep state (counts, a
 * sequence number seen earlier).
 */
export class DropStage {
  readonly name = 'drop';
  readonly stats = { passed: 0, dropped: 0 };
  /** The frames dropped, parsed. */
  readonly dropped: SentSeg[] = [];

  constructor(
    readonly pred: (seg: SentSeg) => boolean,
    readonly limit = 1,
  ) {}

  push(frame: Uint8Array, next: (frame: Uint8Array) => void): void {
    let seg: SentSeg | null = null;
    try {
      const v6 = frame[0]! >> 4 === 6;
      seg = (v6 ? frame[6] === 6 : frame[9] === 6) ? parseSent(frame) : null;
    } catch {
      seg = null;
    }
    if (seg !== null && this.pred(seg) && this.dropped.length < this.limit) {
      this.dropped.push(seg);
      this.stats.dropped++;
      return;
    }
    this.stats.passed++;
    next(frame);
  }
}

/**
 * Put `stage` in front of one direction of a simulated link (the pipeline's
 * own stages are fixed when the link is built, so it wraps `send`).
 */
export function insertStage(pipe: { send(frame: Uint8Array): void }, stage: { push(frame: Uint8Array, next: (frame: Uint8Array) => void): void }): void {
  const send = pipe.send.bind(pipe);
  pipe.send = (frame: Uint8Array) => stage.push(frame, send);
}

/**
 * Run the scripted peer's timers one deadline at a time until the stack has
 * sent something (returns the virtual time it happened and what was sent),
 * or until `maxMs` from now passes (returns null).
 */
export function runUntilSent(peer: ScriptedPeer, maxMs = 3_600_000): { at: number; segs: SentSeg[] } | null {
  const clock = peer.clock;
  const end = clock.now() + maxMs;
  const first = peer.take();
  if (first.length > 0) return { at: clock.now(), segs: first };
  for (;;) {
    const next = clock.nextDeadline();
    if (next === null || next > end) {
      clock.advanceTo(end);
      return null;
    }
    clock.advanceTo(next);
    const segs = peer.take();
    if (segs.length > 0) return { at: clock.now(), segs };
  }
}

/**
 * Start an active open from the stack (bound to peer.localPort) to the
 * scripted peer (10.0.0.2:peer.peerPort, fd00::2 in family 6) and answer nothing: the test
 * injects the SYN-ACK itself, when it wants. Errors reported to the err
 * callback are collected in `errs`.
 */
export function startConnect(peer: ScriptedPeer): { pcb: TcpPcb; syn: SentSeg; errs: number[]; connected: () => boolean } {
  const { raw } = peer;
  const pcb = raw.tcpNew()!;
  if (raw.tcpBind(pcb, anyIp(), peer.localPort) !== Err.OK) throw new Error('bind failed');
  const errs: number[] = [];
  let connected = false;
  raw.tcpErr(pcb, (_a, e) => errs.push(e));
  if (raw.tcpConnect(pcb, peerIp(), peer.peerPort, () => ((connected = true), Err.OK)) !== Err.OK) throw new Error('connect failed');
  const syn = peer.take().find((s) => s.flags & TcpFlag.SYN);
  if (!syn) throw new Error('no SYN sent');
  return { pcb, syn, errs, connected: () => connected };
}

// ---------------------------------------------------------------------------
// Shared assertions for scripted-peer tests
// ---------------------------------------------------------------------------

/** A sequence number as u32. */
export const u32 = (n: number): number => n >>> 0;

/** What was sent, as [flags, seq, ack] triples, for compact assertions. */
export const wire = (segs: SentSeg[]): [string, number, number][] => segs.map((s) => [flagStr(s.flags), s.seq, s.ack]);

/** Everything freed: no PCB, no timer, no pbuf. */
export function assertAllFreed(peer: ScriptedPeer): void {
  expect(peer.stack.tcp.pcbCount).toBe(0);
  expect(peer.clock.pendingTimers()).toBe(0);
  peer.stack.pool.assertEmpty();
}

/** Close everything that is left, then check that nothing leaked. */
export function closeAndCheck(peer: ScriptedPeer): void {
  peer.stack.close();
  expect(peer.stack.tcp.pcbCount).toBe(0);
  peer.stack.pool.assertEmpty();
}
