// ICMPv4 (lwIP icmp.c): answer echo requests, deliver echo replies to
// whoever pings, pass errors about our own datagrams to the transport that
// sent them, and send rate-limited errors about datagrams we cannot deliver
// (RFC 1122 3.2.2 rules: never about ICMP errors, broadcasts, non-first
// fragments or non-unicast sources).
import { Err } from '../err.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import { PbufType } from '../pbuf/pbuf.ts';
import { PbufLayer, PbufUse } from '../pbuf/pool.ts';
import type { ProtoStats } from '../stats.ts';
import { ipv4IsMulticast } from '../wire/address.ts';
import { chainOnesSum, finishChecksum, internetChecksum } from '../wire/checksum.ts';
import { ICMP_HEADER_LEN, IcmpPacket, IcmpType } from '../wire/icmp.ts';
import { IPV4_HEADER_LEN, IpProtocol, Ipv4Packet } from '../wire/ipv4.ts';
import { IcmpErrorKind, type IcmpErrorReport, type IcmpErrorSink, type IpHost, type IpInfo } from './host.ts';
import type { IpAddr } from '../wire/ipaddr.ts';

export type { IcmpErrorReport };
import type { Ipv4 } from './ipv4.ts';

export interface IcmpOptions {
  /** Errors we may send per second, sustained (default 10). */
  errorRatePerSec?: number;
  /** Errors we may send in a burst (default 10). */
  errorBurst?: number;
  /** Answer echo requests sent to a broadcast address (default false, as lwIP). */
  replyToBroadcast?: boolean;
}

export interface EchoReply {
  /** A u32 for ICMP, an Ip6Addr for ICMPv6. */
  src: IpAddr;
  ident: number;
  seqNo: number;
  /** Echo data (a copy, safe to keep). */
  data: Uint8Array;
  ttl: number;
}

/** What an ICMPv4 error means to a transport (RFC 1122 §4.2.3.9 hard and soft errors). */
function kindOf(type: number, code: number): IcmpErrorKind {
  if (type === IcmpType.DEST_UNREACHABLE) {
    if (code === 4) return IcmpErrorKind.TOO_BIG;
    if (code === 2 || code === 3) return IcmpErrorKind.REFUSED;
    if (code === 0 || code === 1 || code === 6 || code === 7) return IcmpErrorKind.UNREACHABLE;
    return IcmpErrorKind.OTHER;
  }
  if (type === IcmpType.TIME_EXCEEDED) return IcmpErrorKind.TIME_EXCEEDED;
  if (type === 12) return IcmpErrorKind.PARAMETER;
  return IcmpErrorKind.OTHER;
}

/** Most bytes of the offending datagram quoted in an error (RFC 1812 4.3.2.3: fit in 576). */
const MAX_QUOTE = 576 - IPV4_HEADER_LEN - ICMP_HEADER_LEN;

export class Icmp implements IcmpErrorSink {
  private readonly st: ProtoStats;
  private readonly view = new IcmpPacket();
  private readonly ipView = new Ipv4Packet();
  private readonly echoListeners = new Set<(reply: EchoReply) => void>();
  private readonly errorListeners: (((e: IcmpErrorReport) => void) | undefined)[] = new Array(256);
  private readonly ratePerMs: number;
  private readonly burst: number;
  private tokens: number;
  private lastRefill: number;
  private readonly replyToBroadcast: boolean;
  /** Errors we chose not to send because of the rate limit. */
  rateLimited = 0;

  constructor(
    private readonly host: IpHost,
    private readonly ip: Ipv4,
    opts: IcmpOptions = {},
  ) {
    this.st = host.stats.icmp;
    const rate = opts.errorRatePerSec ?? 10;
    this.burst = opts.errorBurst ?? 10;
    if (!(rate >= 0) || !(this.burst >= 0)) throw new RangeError('ICMP error rate and burst must be >= 0');
    this.ratePerMs = rate / 1000;
    this.tokens = this.burst;
    this.lastRefill = host.clock.now();
    this.replyToBroadcast = opts.replyToBroadcast ?? false;
    ip.register(IpProtocol.ICMP, (p, info) => this.input(p, info));
    ip.icmpErrors = this;
  }

  /** Listen for echo replies (returns an unsubscribe function). */
  onEchoReply(cb: (reply: EchoReply) => void): () => void {
    this.echoListeners.add(cb);
    return () => this.echoListeners.delete(cb);
  }

  /** A transport protocol's handler for ICMP errors about datagrams it sent. */
  onError(protocol: number, cb: ((e: IcmpErrorReport) => void) | undefined): void {
    this.errorListeners[protocol & 0xff] = cb;
  }

  /** Send an echo request carrying `data`. */
  sendEchoRequest(dst: number, ident: number, seqNo: number, data: Uint8Array, ttl = this.ip.defaultTtl): number {
    const p = this.host.pool.alloc(PbufLayer.IP, ICMP_HEADER_LEN + data.length, PbufType.RAM, PbufUse.CONTROL);
    if (p === null) {
      this.st.memerr++;
      return Err.MEM;
    }
    p.buf.set(data, p.off + ICMP_HEADER_LEN);
    const v = this.view.wrap(p.buf, p.off, p.len);
    v.type = IcmpType.ECHO_REQUEST;
    v.code = 0;
    v.ident = ident;
    v.seqNo = seqNo;
    v.fillChecksum();
    const err = this.ip.output(p, 0, dst, IpProtocol.ICMP, ttl);
    p.free();
    if (err === Err.OK) this.st.xmit++;
    return err;
  }

  /** ICMP input: takes ownership of `p` (payload at the ICMP header). */
  input(p: Pbuf, info: IpInfo): void {
    const st = this.st;
    st.recv++;
    if (p.totLen < ICMP_HEADER_LEN || p.len < ICMP_HEADER_LEN) return this.drop(p, 'lenerr');
    if (finishChecksum(chainOnesSum(p)) !== 0) return this.drop(p, 'chkerr');
    const v = this.view.wrap(p.buf, p.off, p.len);
    switch (v.type) {
      case IcmpType.ECHO_REQUEST:
        if (info.broadcast && !this.replyToBroadcast) return this.drop(p, 'drop');
        this.reply(p, info);
        return;
      case IcmpType.ECHO_REPLY:
        this.deliverEchoReply(p, info);
        return;
      case IcmpType.DEST_UNREACHABLE:
      case IcmpType.TIME_EXCEEDED:
      case IcmpType.PARAM_PROBLEM:
        this.deliverError(p, info);
        return;
      default:
        // Other types (timestamp, redirect, ...) are not handled: counted, dropped.
        return this.drop(p, 'proterr');
    }
  }

  /** Report `p` (starting at its IP header) as undeliverable (type 3). */
  destUnreachable(p: Pbuf, code: number): void {
    this.sendError(p, IcmpType.DEST_UNREACHABLE, code);
  }

  /** Report `p` (starting at its IP header) as timed out (type 11). */
  timeExceeded(p: Pbuf, code: number): void {
    this.sendError(p, IcmpType.TIME_EXCEEDED, code);
  }

  private reply(req: Pbuf, info: IpInfo): void {
    const st = this.st;
    // A fresh pbuf: received buffers carry no header room for the way back.
    const out = this.host.pool.alloc(PbufLayer.IP, req.totLen, PbufType.RAM, PbufUse.CONTROL);
    if (out === null) return this.drop(req, 'memerr');
    req.copyPartial(out.buf, req.totLen, 0, out.off);
    req.free();
    const v = this.view.wrap(out.buf, out.off, out.len);
    v.type = IcmpType.ECHO_REPLY;
    v.code = 0;
    v.checksum = 0;
    v.checksum = internetChecksum(out.buf, out.off, out.len);
    // ICMP input only ever sees IPv4 datagrams: the addresses are numbers.
    const src = info.broadcast ? info.netif.addr : (info.dst as number);
    const err = this.ip.output(out, src, info.src as number, IpProtocol.ICMP);
    out.free();
    if (err === Err.OK) st.xmit++;
    else st.err++;
  }

  private deliverEchoReply(p: Pbuf, info: IpInfo): void {
    if (this.echoListeners.size === 0) return this.drop(p, 'drop');
    const v = this.view.wrap(p.buf, p.off, p.len);
    const data = new Uint8Array(p.totLen - ICMP_HEADER_LEN);
    p.copyPartial(data, data.length, ICMP_HEADER_LEN);
    const reply: EchoReply = { src: info.src, ident: v.ident, seqNo: v.seqNo, data, ttl: info.ttl };
    p.free();
    for (const cb of this.echoListeners) cb(reply);
  }

  private deliverError(p: Pbuf, info: IpInfo): void {
    // The quoted datagram: IP header + at least 8 bytes of its payload.
    const quoted = p.totLen - ICMP_HEADER_LEN;
    if (quoted < IPV4_HEADER_LEN + 8) return this.drop(p, 'lenerr');
    const head = new Uint8Array(Math.min(quoted, 60 + 64));
    p.copyPartial(head, head.length, ICMP_HEADER_LEN);
    const iv = this.ipView.wrap(head, 0, head.length);
    const ihl = iv.headerLen;
    if (iv.version !== 4 || ihl < IPV4_HEADER_LEN || ihl + 8 > head.length) return this.drop(p, 'proterr');
    const v = this.view.wrap(p.buf, p.off, p.len);
    const report: IcmpErrorReport = {
      family: 4,
      type: v.type,
      code: v.code,
      kind: kindOf(v.type, v.code),
      nextHopMtu: v.type === IcmpType.DEST_UNREACHABLE && v.code === 4 ? v.restOfHeader & 0xffff : 0,
      reporter: info.src,
      origSrc: iv.src,
      origDst: iv.dst,
      protocol: iv.protocol,
      transportHeader: head.slice(ihl),
    };
    p.free();
    const cb = this.errorListeners[report.protocol];
    if (cb === undefined) {
      this.st.drop++;
      return;
    }
    cb(report);
  }

  private sendError(orig: Pbuf, type: number, code: number): void {
    const st = this.st;
    if (orig.len < IPV4_HEADER_LEN) return;
    const iv = this.ipView.wrap(orig.buf, orig.off, orig.len);
    const hl = iv.headerLen;
    const src = iv.src;
    // RFC 1122 3.2.2: never about a non-first fragment, a non-unicast
    // source, or an ICMP error message.
    // (The IP layer already refuses to report datagrams sent to a subnet broadcast.)
    if (iv.fragOffset !== 0) return;
    if (src === 0 || src === 0xffffffff || ipv4IsMulticast(src)) return;
    const dst = iv.dst;
    if (dst === 0xffffffff || ipv4IsMulticast(dst)) return;
    if (iv.protocol === IpProtocol.ICMP) {
      const t = orig.getAt(hl);
      if (t !== IcmpType.ECHO_REQUEST && t !== IcmpType.ECHO_REPLY && t !== 13 && t !== 14) return;
    }
    if (!this.takeToken()) {
      this.rateLimited++;
      return;
    }
    const quote = Math.min(orig.totLen, MAX_QUOTE);
    const p = this.host.pool.alloc(PbufLayer.IP, ICMP_HEADER_LEN + quote, PbufType.RAM, PbufUse.CONTROL);
    if (p === null) {
      st.memerr++;
      return;
    }
    orig.copyPartial(p.buf, quote, 0, p.off + ICMP_HEADER_LEN);
    const v = this.view.wrap(p.buf, p.off, p.len);
    v.type = type;
    v.code = code;
    v.restOfHeader = 0;
    v.fillChecksum();
    const err = this.ip.output(p, 0, src, IpProtocol.ICMP);
    p.free();
    if (err === Err.OK) st.xmit++;
    else st.err++;
  }

  private takeToken(): boolean {
    const now = this.host.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.lastRefill) * this.ratePerMs);
    this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private drop(p: Pbuf, reason: 'lenerr' | 'chkerr' | 'proterr' | 'memerr' | 'drop'): void {
    if (reason !== 'drop') this.st[reason]++;
    this.st.drop++;
    p.free();
  }
}
