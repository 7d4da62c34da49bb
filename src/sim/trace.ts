// The simulation's event log: one JSON object per line, in the order things
// happened, for a run to be diffed against another or read after a failure.
// It records
//   - every frame a host hands to a link and every frame a host receives
//     (`{"t":..,"ev":"pkt","dir":"tx","link":"a->b","len":..,"sum":"TCP ..."}`),
//   - every TCP state change of every stack the simulator has or creates
//     later (`{"t":..,"ev":"state","host":..,"conn":..,"from":..,"to":..}`),
//   - every other event on the simulator's timeline (faults, application
//     timers, ...) as it was emitted: t, ev, then its fields in order.
// Nothing in a line comes from the wall clock or from object identity, so two
// runs with the same seed write the same bytes, whatever the batching.
import { closeSync, openSync, writeSync } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { TCP_STATE_NAMES, type TcpState } from '../pcb/state.ts';
import type { TcpPcb } from '../pcb/pcb.ts';
import type { Stack } from '../stack/stack.ts';
import { formatIpv4Address } from '../wire/address.ts';
import { formatIpv6Address } from '../wire/address6.ts';
import { onesSum } from '../wire/checksum.ts';
import { ipv6PseudoHeaderSum } from '../wire/checksum6.ts';
import { WireErrorCode, wireErrorName } from '../wire/error.ts';
import { IcmpView } from '../wire/icmp.ts';
import { Icmpv6View } from '../wire/icmpv6.ts';
import { formatIp } from '../wire/ipaddr.ts';
import { Ipv4View } from '../wire/ipv4.ts';
import { newIpv6ExtResult, walkIpv6Ext } from '../wire/ipv6-ext.ts';
import { Ipv6View } from '../wire/ipv6.ts';
import { newTcpOptions, resetTcpOptions, TcpFlag, TcpView } from '../wire/tcp.ts';
import { UdpView } from '../wire/udp.ts';
import type { SimEvent, Simulator } from './simulator.ts';

/** Options of Trace.attach(): where the lines go and which kinds are recorded. */
export interface TraceOptions {
  /** Write the lines to this file (created or truncated). */
  path?: string;
  /** Also hand each line (without its newline) to this function, as it is recorded. */
  sink?: (line: string) => void;
  /** Packet lines: a one-line summary of each frame (default), or none. */
  frames?: 'summary' | 'none';
  /**
   * Which packet summaries check the IPv4, TCP, UDP, ICMP and ICMPv6 checksums
   * (marking failures "!csum", "!ipcsum"): received frames only (default;
   * the link's corruption shows there, and it halves the cost), all, or none.
   * Fragments' transport checksums are not checked.
   */
  checksums?: 'rx' | 'all' | 'none';
  /** TCP state-change lines (default true). */
  states?: boolean;
  /** Fields of a first line `{"t":..,"ev":"meta",...}` (e.g. the seed and the command), written at attach. */
  meta?: Record<string, unknown>;
  /** Bytes buffered before a write to the file (default 256 KiB; the output does not depend on it). */
  flushBytes?: number;
}

const DEFAULT_FLUSH = 256 * 1024;

/**
 * A JSON-lines event log of one Simulator. `Trace.attach(sim, opts)` starts
 * it; `close()` flushes the file and detaches every hook. `sha256()` is the
 * hash of everything recorded so far, the file's hash once closed.
 */
export class Trace {
  readonly path: string | undefined;
  private readonly sim: Simulator;
  private readonly sink: ((line: string) => void) | undefined;
  private readonly hash: Hash = createHash('sha256');
  private fd: number | null = null;
  private readonly flushBytes: number;
  private out: Buffer;
  private pos = 0;
  private readonly checkTx: boolean;
  private readonly checkRx: boolean;
  private lineCount = 0;
  private byteCount = 0;
  private closed = false;
  private finalHash: string | null = null;
  private readonly detachers: (() => void)[] = [];
  private readonly hooked = new WeakSet<Stack>();
  private readonly linkJson = new Map<string, string>();

  private constructor(sim: Simulator, opts: TraceOptions) {
    this.sim = sim;
    this.path = opts.path;
    this.sink = opts.sink;
    this.flushBytes = Math.max(1, opts.flushBytes ?? DEFAULT_FLUSH);
    this.out = Buffer.allocUnsafe(Math.max(this.flushBytes, 4096) * 2);
    const ck = opts.checksums ?? 'rx';
    this.checkTx = ck === 'all';
    this.checkRx = ck !== 'none';
    if (opts.path !== undefined) this.fd = openSync(opts.path, 'w');
  }

  /** Start recording `sim`: its timeline, its frames (unless frames: 'none') and the TCP states of its stacks, present and future. */
  static attach(sim: Simulator, opts: TraceOptions = {}): Trace {
    const tr = new Trace(sim, opts);
    if (opts.meta !== undefined) tr.record({ t: sim.clock.now(), ev: 'meta', ...opts.meta });
    tr.detachers.push(sim.onEvent((e) => tr.record(e)));
    if (opts.frames !== 'none') {
      tr.detachers.push(sim.onFrame((t, kind, link, frame) => tr.packet(t, kind, link, frame)));
    }
    if (opts.states !== false) {
      for (const s of sim.stacks) tr.hookStack(s);
      const listener = (s: Stack): void => tr.hookStack(s);
      sim.stackListeners.push(listener);
      tr.detachers.push(() => {
        const i = sim.stackListeners.indexOf(listener);
        if (i >= 0) sim.stackListeners.splice(i, 1);
      });
    }
    return tr;
  }

  /** Lines recorded so far. */
  get count(): number {
    return this.lineCount;
  }

  /** Bytes recorded so far (UTF-8, newlines included). */
  get bytes(): number {
    return this.byteCount + this.pos;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Record one timeline event: t, ev, then its other fields in insertion order. */
  record(e: SimEvent): void {
    if (this.closed) return;
    this.line(eventJson(e));
  }

  /** sha256 (hex) of every line recorded so far, as they stand in the file. */
  sha256(): string {
    if (this.finalHash !== null) return this.finalHash;
    this.flush();
    return this.hash.copy().digest('hex');
  }

  /** Flush the buffered lines to the file (and the hash). Safe to call any time. */
  flush(): void {
    if (this.pos === 0) return;
    this.emitBytes(this.out.subarray(0, this.pos));
    this.pos = 0;
  }

  private emitBytes(buf: Uint8Array): void {
    this.byteCount += buf.length;
    this.hash.update(buf);
    if (this.fd !== null) {
      let off = 0;
      while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    }
  }

  /** Flush and close the file; stop listening to the simulator and its stacks. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.finalHash = this.hash.digest('hex');
    this.closed = true;
    for (const d of this.detachers.splice(0)) d();
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }

  private line(s: string): void {
    this.lineCount++;
    if (this.sink !== undefined) this.sink(s);
    // UTF-8 takes at most 3 bytes per UTF-16 unit: make sure the line fits.
    const worst = s.length * 3 + 1;
    if (this.pos + worst > this.out.length) {
      this.flush();
      if (worst > this.out.length) {
        this.emitBytes(Buffer.from(`${s}\n`, 'utf8'));
        return;
      }
    }
    this.pos += this.out.write(s, this.pos, 'utf8');
    this.out[this.pos++] = 10;
    if (this.pos >= this.flushBytes) this.flush();
  }

  private packet(t: number, dir: 'tx' | 'rx', link: string, frame: Uint8Array): void {
    if (this.closed) return;
    let lj = this.linkJson.get(link);
    if (lj === undefined) {
      lj = JSON.stringify(link);
      this.linkJson.set(link, lj);
    }
    // Summaries are plain ASCII without quotes or backslashes: no escaping needed.
    this.line(`{"t":${num(t)},"ev":"pkt","dir":"${dir}","link":${lj},"len":${frame.length},"sum":"${summarizeFrame(frame, dir === 'rx' ? this.checkRx : this.checkTx)}"}`);
  }

  private hookStack(stack: Stack): void {
    if (this.hooked.has(stack)) return;
    this.hooked.add(stack);
    const tcp = stack.tcp;
    const prev = tcp.stateTrace;
    const host = JSON.stringify(stack.name);
    let live = true;
    const hook = (pcb: TcpPcb, from: TcpState, to: TcpState): void => {
      if (prev !== null) prev(pcb, from, to);
      if (!live || this.closed) return;
      this.line(
        `{"t":${num(this.sim.clock.now())},"ev":"state","host":${host},"conn":${JSON.stringify(connName(pcb))},"from":"${TCP_STATE_NAMES[from] ?? String(from)}","to":"${TCP_STATE_NAMES[to] ?? String(to)}"}`,
      );
    };
    tcp.stateTrace = hook;
    this.detachers.push(() => {
      live = false;
      // Unhook when nobody chained after us; otherwise the hook stays as a pass-through.
      if (tcp.stateTrace === hook) tcp.stateTrace = prev;
    });
  }
}

/** "10.0.0.1:49152>10.0.0.2:80", "[fd00::1]:49152>[fd00::2]:80". */
export function connName(pcb: Pick<TcpPcb, 'localIp' | 'localPort' | 'remoteIp' | 'remotePort'>): string {
  const ep = (ip: TcpPcb['localIp'], port: number): string => (typeof ip === 'number' ? `${formatIp(ip)}:${port}` : `[${formatIp(ip)}]:${port}`);
  return `${ep(pcb.localIp, pcb.localPort)}>${ep(pcb.remoteIp, pcb.remotePort)}`;
}

/** A number as JSON writes it; non-finite numbers (which JSON lacks) as strings. */
function num(n: number): string {
  return Number.isFinite(n) ? String(n) : JSON.stringify(String(n));
}

/** One timeline event as a JSON line: t and ev first, then the fields in insertion order. Never throws. */
export function eventJson(e: SimEvent): string {
  const { t, ev, ...rest } = e;
  const o: Record<string, unknown> = { t, ev, ...rest };
  try {
    return JSON.stringify(o, replacer);
  } catch (err) {
    // Circular or otherwise unserialisable fields: keep the line, say why.
    return JSON.stringify({ t: typeof t === 'number' && Number.isFinite(t) ? t : String(t), ev: String(ev), unserializable: err instanceof Error ? err.message : String(err) });
  }
}

function replacer(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (v instanceof Uint8Array) return hex(v, 0, v.length, 64);
  if (v instanceof Error) return `${v.name}: ${v.message}`;
  if (typeof v === 'function' || typeof v === 'symbol') return String(v);
  return v;
}

// ---- frame summaries --------------------------------------------------------

const HEX = '0123456789abcdef';

function hex(b: Uint8Array, off: number, len: number, max: number): string {
  const n = Math.max(0, Math.min(len, max, b.length - off));
  let s = '';
  for (let i = 0; i < n; i++) {
    const x = b[off + i]!;
    s += HEX[x >>> 4]! + HEX[x & 15]!;
  }
  return n < len ? `${s}..` : s;
}

// One set of views, re-pointed frame after frame (summaries run one at a time).
const v4 = new Ipv4View();
const v6 = new Ipv6View();
const tcpv = new TcpView();
const udpv = new UdpView();
const icmpv = new IcmpView();
const icmp6v = new Icmpv6View();
const ext = newIpv6ExtResult();
const topts = newTcpOptions();

const ICMP_NAMES: Record<number, string> = { 0: 'echo-reply', 3: 'unreachable', 5: 'redirect', 8: 'echo-request', 11: 'time-exceeded', 12: 'param-problem' };
const ICMP6_NAMES: Record<number, string> = {
  1: 'unreachable',
  2: 'too-big',
  3: 'time-exceeded',
  4: 'param-problem',
  128: 'echo-request',
  129: 'echo-reply',
  133: 'router-solicit',
  134: 'router-advert',
  135: 'neighbor-solicit',
  136: 'neighbor-advert',
  137: 'redirect',
};

/**
 * A compact, deterministic one-line description of a raw IP frame:
 *   TCP 10.0.0.1:49152>10.0.0.2:80 [S] seq=1 ack=0 win=65535 len=0 mss=1460,ws=7,sackOK,ts
 *   UDP 10.0.0.1:5353>10.0.0.2:53 len=12
 *   ICMP 10.0.0.1>10.0.0.2 echo-request id=29811 seq=1 len=56
 *   ICMP6 fd00::1>fd00::2 neighbor-solicit tgt=fd00::2
 *   IPv4 FRAG 10.0.0.1>10.0.0.2 proto=1 id=7 off=1480 len=600
 *   BAD IPv4 TRUNCATED 4500...
 * With `checksums`, failed IPv4 header / TCP / UDP / ICMP / ICMPv6
 * checksums add " !ipcsum" / " !csum" (not checked in fragments). Never
 * throws: a frame it cannot read is "BAD ..." with its first bytes in hex.
 * The text is plain ASCII without quotes or backslashes.
 */
export function summarizeFrame(frame: Uint8Array, checksums = true): string {
  try {
    if (frame.length === 0) return 'BAD empty';
    const ver = frame[0]! >>> 4;
    if (ver === 4) return summarize4(frame, checksums);
    if (ver === 6) return summarize6(frame, checksums);
    return `BAD version=${ver} ${hex(frame, 0, frame.length, 20)}`;
  } catch {
    return `BAD exception ${hex(frame, 0, frame.length, 20)}`;
  }
}

function summarize4(frame: Uint8Array, checksums: boolean): string {
  const ip = v4.wrap(frame, 0, frame.length);
  const code = ip.check();
  if (code !== WireErrorCode.OK) return `BAD IPv4 ${wireErrorName(code)} ${hex(frame, 0, frame.length, 20)}`;
  const src = formatIpv4Address(ip.src);
  const dst = formatIpv4Address(ip.dst);
  const proto = ip.protocol;
  const off = ip.fragOffset;
  const mf = ip.moreFragments;
  const plen = ip.payloadLength;
  const pOff = ip.payloadOffset;
  const csum = !checksums || ip.verifyChecksum() ? '' : ' !ipcsum';
  const fragNote = off > 0 || mf ? ` frag id=${ip.ident} off=${off}${mf ? '+' : ''}` : '';
  if (off > 0) return `IPv4 FRAG ${src}>${dst} proto=${proto} id=${ip.ident} off=${off}${mf ? '+' : ''} len=${plen}${csum}`;
  // A first fragment carries the transport header but not all of the payload: checksums cannot be checked.
  const whole = !mf && checksums;
  let l4: string;
  if (proto === 6) l4 = tcpSummary(frame, pOff, plen, src, dst, false, whole ? (t) => t.verifyChecksum(ip.src, ip.dst) : null);
  else if (proto === 17) l4 = udpSummary(frame, pOff, plen, src, dst, false, whole ? (u) => u.verifyChecksum(ip.src, ip.dst) : null);
  else if (proto === 1) l4 = icmpSummary(frame, pOff, plen, src, dst, whole);
  else l4 = `IPv4 ${src}>${dst} proto=${proto} len=${plen}`;
  return `${l4}${fragNote}${csum}`;
}

function summarize6(frame: Uint8Array, checksums: boolean): string {
  const ip = v6.wrap(frame, 0, frame.length);
  const code = ip.check();
  if (code !== WireErrorCode.OK) return `BAD IPv6 ${wireErrorName(code)} ${hex(frame, 0, frame.length, 20)}`;
  const src = formatIpv6Address(frame, ip.srcOffset);
  const dst = formatIpv6Address(frame, ip.dstOffset);
  const end = ip.payloadOffset + ip.payloadLength;
  const w = walkIpv6Ext(frame, 0, Math.min(frame.length, end), ext);
  if (w !== WireErrorCode.OK) return `BAD IPv6 ${src}>${dst} ${wireErrorName(w)} nh=${ip.nextHeader} len=${ip.payloadLength}`;
  let fragNote = '';
  if (ext.hasFragment) {
    fragNote = ` frag id=${ext.fragIdent} off=${ext.fragOffset}${ext.moreFragments ? '+' : ''}`;
    if (ext.fragOffset > 0) return `IPv6 FRAG ${src}>${dst} proto=${ext.fragNextHeader} id=${ext.fragIdent} off=${ext.fragOffset}${ext.moreFragments ? '+' : ''} len=${end - ext.fragDataOffset}`;
  }
  const pOff = ext.offset;
  const plen = end - pOff;
  const proto = ext.protocol;
  // A fragment carries part of the upper layer: its checksum cannot be checked.
  const verify = checksums && !ext.hasFragment ? (): boolean => onesSum(frame, pOff, plen, ipv6PseudoHeaderSum(frame, ip.srcOffset, frame, ip.dstOffset, plen, proto)) === 0xffff : null;
  let l4: string;
  if (proto === 6) l4 = tcpSummary(frame, pOff, plen, src, dst, true, verify);
  else if (proto === 17) l4 = udpSummary(frame, pOff, plen, src, dst, true, verify);
  else if (proto === 58) l4 = icmp6Summary(frame, pOff, plen, src, dst, verify);
  else l4 = `IPv6 ${src}>${dst} proto=${ext.protocol} len=${plen}`;
  return `${l4}${fragNote}`;
}

function ep(addr: string, port: number, six: boolean): string {
  return six ? `[${addr}]:${port}` : `${addr}:${port}`;
}

function tcpFlags(f: number): string {
  let s = '';
  if (f & TcpFlag.SYN) s += 'S';
  if (f & TcpFlag.FIN) s += 'F';
  if (f & TcpFlag.RST) s += 'R';
  if (f & TcpFlag.PSH) s += 'P';
  if (f & TcpFlag.URG) s += 'U';
  if (f & TcpFlag.ECE) s += 'E';
  if (f & TcpFlag.CWR) s += 'W';
  if (f & TcpFlag.ACK) s += '.';
  return s === '' ? 'none' : s;
}

function tcpSummary(b: Uint8Array, off: number, len: number, src: string, dst: string, six: boolean, verify: ((t: TcpView) => boolean) | null): string {
  const t = tcpv.wrap(b, off, len);
  const code = t.check();
  if (code !== WireErrorCode.OK) return `TCP ${src}>${dst} BAD ${wireErrorName(code)} len=${len}`;
  const flags = t.flags;
  let s = `TCP ${ep(src, t.srcPort, six)}>${ep(dst, t.dstPort, six)} [${tcpFlags(flags)}] seq=${t.seq} ack=${t.ack} win=${t.window} len=${t.payloadLength}`;
  if (t.optionsLength > 0) {
    resetTcpOptions(topts);
    const oc = t.parseOptions(topts);
    if (oc !== WireErrorCode.OK) s += ` opts=BAD`;
    else {
      const o: string[] = [];
      if (topts.mss !== 0) o.push(`mss=${topts.mss}`);
      if (topts.wscale >= 0) o.push(`ws=${topts.wscale}`);
      if (topts.sackPermitted) o.push('sackOK');
      if (topts.hasTimestamp && (flags & TcpFlag.SYN) !== 0) o.push('ts');
      if (o.length > 0) s += ` ${o.join(',')}`;
      if (topts.sackCount > 0) {
        const blocks: string[] = [];
        for (let i = 0; i < topts.sackCount; i++) blocks.push(`${topts.sackBlocks[2 * i]}-${topts.sackBlocks[2 * i + 1]}`);
        s += ` sack=${blocks.join(',')}`;
      }
    }
  }
  if (verify !== null && !verify(t)) s += ' !csum';
  return s;
}

function udpSummary(b: Uint8Array, off: number, len: number, src: string, dst: string, six: boolean, verify: ((u: UdpView) => boolean) | null): string {
  const u = udpv.wrap(b, off, len);
  const code = u.check();
  if (code !== WireErrorCode.OK) return `UDP ${src}>${dst} BAD ${wireErrorName(code)} len=${len}`;
  let s = `UDP ${ep(src, u.srcPort, six)}>${ep(dst, u.dstPort, six)} len=${len - 8}`;
  if (verify !== null && !verify(u)) s += ' !csum';
  return s;
}

function icmpSummary(b: Uint8Array, off: number, len: number, src: string, dst: string, whole: boolean): string {
  const m = icmpv.wrap(b, off, len);
  const code = m.check();
  if (code !== WireErrorCode.OK) return `ICMP ${src}>${dst} BAD ${wireErrorName(code)} len=${len}`;
  const type = m.type;
  const name = ICMP_NAMES[type] ?? `type=${type}`;
  let s = `ICMP ${src}>${dst} ${name}`;
  if (type === 0 || type === 8) s += ` id=${m.ident} seq=${m.seqNo} len=${len - 8}`;
  else s += ` code=${m.code} len=${len - 8}`;
  if (whole && !m.verifyChecksum()) s += ' !csum';
  return s;
}

function icmp6Summary(b: Uint8Array, off: number, len: number, src: string, dst: string, verify: (() => boolean) | null): string {
  const m = icmp6v.wrap(b, off, len);
  const code = m.check();
  if (code !== WireErrorCode.OK) return `ICMP6 ${src}>${dst} BAD ${wireErrorName(code)} type=${len > 0 ? b[off] : -1} len=${len}`;
  const type = m.type;
  const name = ICMP6_NAMES[type] ?? `type=${type}`;
  let s = `ICMP6 ${src}>${dst} ${name}`;
  if (type === 128 || type === 129) s += ` id=${m.ident} seq=${m.seqNo} len=${len - 8}`;
  else if (type === 135 || type === 136 || type === 137) s += ` tgt=${formatIpv6Address(b, m.targetOffset)}`;
  else if (type === 2) s += ` mtu=${m.mtu}`;
  else s += ` code=${m.code}`;
  if (verify !== null && !verify()) s += ' !csum';
  return s;
}
