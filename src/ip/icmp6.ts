// ICMPv6 (RFC 4443; lwIP icmp6.c): answer echo requests, deliver echo
// replies to whoever pings, pass errors about our own packets to the
// transport that sent them (and learn path MTUs from Packet Too Big,
// RFC 8201), answer neighbour solicitations for our addresses (RFC 4861
// §7.2.4), and send rate-limited errors about packets we cannot deliver
// under the rules of RFC 4443 §2.4(e): never about an ICMPv6 error or a
// redirect, never to a multicast or unspecified source, never about a
// packet sent to a multicast group but for Packet Too Big and the
// Parameter Problem of an option whose type asks for one (code 2).
//
// Echo requests to a multicast group (ff02::1) are not answered unless
// `replyToMulticast` is set: a host answering them is an amplifier for
// anyone on the link (Linux answers by default; the BSDs and lwIP do not
// answer broadcasts). When answered, the reply comes from a unicast address
// of the receiving netif (RFC 4443 §4.2).
//
// Neighbour advertisements carry no target link-layer address option:
// tsip's links (TUN, simulated) are point-to-point with no link-layer
// addresses (RFC 4861 §4.4 asks for the option only on links that have
// them). Router and neighbour advertisements, router solicitations,
// redirects and MLD messages are counted and ignored.
import { Err } from '../err.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import { PbufType } from '../pbuf/pbuf.ts';
import { PbufLayer, PbufUse } from '../pbuf/pool.ts';
import type { Icmp6Counters, ProtoStats } from '../stats.ts';
import { chainOnesSum, onesSum } from '../wire/checksum.ts';
import { WireErrorCode } from '../wire/error.ts';
import {
  emitIcmpv6,
  ICMPV6_HEADER_LEN,
  ICMPV6_MAX_QUOTE,
  ICMPV6_NEXT_HEADER,
  icmpv6FixedLength,
  Icmpv6Type,
  Icmpv6View,
  ndNeighborMessageOk,
} from '../wire/icmpv6.ts';
import { IcmpErrorKind, type IcmpErrorReport, type IpHost, type IpInfo } from './host.ts';
import { Ip6Addr, ip6PseudoHeaderSum, type IpAddr } from '../wire/ipaddr.ts';
import { IPV6_HEADER_LEN, IPV6_MIN_MTU } from '../wire/ipv6.ts';
import { Icmp6RateLimiter } from './icmp6-ratelimit.ts';
import { type Icmp6ErrorSink, type Ipv6, ipv6ScanChain, newIpv6ChainScan } from './ipv6.ts';
import type { Netif } from '../netif/netif.ts';

export interface Icmp6Options {
  /** Errors we may send per second, sustained (default 10). */
  errorRatePerSec?: number;
  /** Errors we may send in a burst (default 10). */
  errorBurst?: number;
  /** Answer echo requests sent to a multicast group (default false). */
  replyToMulticast?: boolean;
}

/** An echo reply as ping sees it: the shape of icmp.ts's EchoReply, with an IPv6 source. */
export interface EchoReply6 {
  src: IpAddr;
  ident: number;
  seqNo: number;
  /** Echo data (a copy, safe to keep). */
  data: Uint8Array;
  /** Hop limit of the reply. */
  ttl: number;
}

/** ff02::1 */
const ALL_NODES = new Ip6Addr(0xff020000, 0, 0, 1);
/** Bytes of a quoted packet read to find its transport header: the fixed header, a full chain, 64 bytes. */
const QUOTE_SCAN = IPV6_HEADER_LEN + 1232 + 64;
/** Transport header bytes handed to listeners at most. */
const TRANSPORT_BYTES = 64;
const MLD_TYPES = new Set([130, 131, 132, 143]);

export class Icmp6 implements Icmp6ErrorSink {
  private readonly host: IpHost;
  private readonly ip6: Ipv6;
  private readonly st: ProtoStats;
  private readonly x: Icmp6Counters;
  private readonly view = new Icmpv6View(new Uint8Array(0));
  private readonly scan = newIpv6ChainScan();
  private readonly quote = new Uint8Array(QUOTE_SCAN);
  private readonly addrs = new Uint8Array(32);
  private readonly target = new Uint8Array(16);
  private readonly echoListeners = new Set<(reply: EchoReply6) => void>();
  private readonly errorListeners: (((e: IcmpErrorReport) => void) | undefined)[] = new Array(256);
  private readonly limiter: Icmp6RateLimiter;
  readonly replyToMulticast: boolean;

  constructor(host: IpHost, ip6: Ipv6, opts: Icmp6Options = {}) {
    this.host = host;
    this.ip6 = ip6;
    this.st = host.stats.icmp6;
    this.x = host.stats.icmp6x;
    this.limiter = new Icmp6RateLimiter({ tokensPerSec: opts.errorRatePerSec ?? 10, burst: opts.errorBurst ?? 10 });
    this.replyToMulticast = opts.replyToMulticast ?? false;
    ip6.register(ICMPV6_NEXT_HEADER, (p, info) => this.input(p, info));
    ip6.icmpErrors = this;
  }

  /** Errors we chose not to send because of the rate limit. */
  get rateLimited(): number {
    return this.limiter.limited;
  }

  /** Listen for echo replies (returns an unsubscribe function). */
  onEchoReply(cb: (reply: EchoReply6) => void): () => void {
    this.echoListeners.add(cb);
    return () => this.echoListeners.delete(cb);
  }

  /** A transport protocol's handler for ICMPv6 errors about packets it sent (by the quoted upper-layer protocol). */
  onError(protocol: number, cb: ((e: IcmpErrorReport) => void) | undefined): void {
    this.errorListeners[protocol & 0xff] = cb;
  }

  /** Send an echo request carrying `data`. */
  sendEchoRequest(dst: Ip6Addr, ident: number, seqNo: number, data: Uint8Array, hopLimit = this.ip6.defaultTtl): number {
    const st = this.st;
    const netif = this.ip6.route(dst);
    const src = netif === null ? null : this.ip6.sourceFor(netif, dst);
    if (netif === null || src === null || src.isUnspecified) {
      st.rterr++;
      return Err.RTE;
    }
    const len = ICMPV6_HEADER_LEN + data.length;
    const p = this.host.pool.alloc(PbufLayer.IP, len, PbufType.RAM, PbufUse.CONTROL);
    if (p === null) {
      st.memerr++;
      return Err.MEM;
    }
    const b = p.buf;
    const o = p.off;
    b.set(data, o + ICMPV6_HEADER_LEN);
    b[o] = Icmpv6Type.ECHO_REQUEST;
    b[o + 1] = 0;
    b[o + 4] = ident >>> 8;
    b[o + 5] = ident;
    b[o + 6] = seqNo >>> 8;
    b[o + 7] = seqNo;
    fillChecksum(b, o, len, src, dst);
    const err = this.ip6.outputIf(p, src, dst, ICMPV6_NEXT_HEADER, hopLimit, 0, false, 0, netif);
    p.free();
    if (err === Err.OK) st.xmit++;
    else st.err++;
    return err;
  }

  /** ICMPv6 input: takes ownership of `p` (payload at the ICMPv6 header). */
  input(p: Pbuf, info: IpInfo): void {
    const st = this.st;
    st.recv++;
    const len = p.totLen;
    if (len < 4 || typeof info.src === 'number' || typeof info.dst === 'number') return this.drop(p, 'lenerr');
    if (chainOnesSum(p, 0, len, ip6PseudoHeaderSum(info.src, info.dst, ICMPV6_NEXT_HEADER, len)) !== 0xffff) return this.drop(p, 'chkerr');
    const type = p.getAt(0);
    // Errors of any type carry 4 bytes after the checksum (RFC 4443 §2.1).
    const fixed = type < 128 ? ICMPV6_HEADER_LEN : icmpv6FixedLength(type);
    if (len < fixed) return this.drop(p, 'lenerr');
    if (p.len < fixed) {
      // The fixed part split across pieces (rare): make it one.
      const c = this.host.pool.coalesce(p, PbufLayer.RAW, PbufUse.RX);
      if (c === null) return this.drop(p, 'memerr');
      p = c;
    }
    switch (type) {
      case Icmpv6Type.ECHO_REQUEST:
        if (info.src.isUnspecified) return this.drop(p, 'drop');
        if (info.multicast && !this.replyToMulticast) {
          this.x.echoMulticastIgnored++;
          return this.drop(p, 'drop');
        }
        return this.reply(p, info);
      case Icmpv6Type.ECHO_REPLY:
        return this.deliverEchoReply(p, info);
      case Icmpv6Type.NEIGHBOR_SOLICIT:
        return this.solicited(p, info);
      case Icmpv6Type.ROUTER_SOLICIT:
      case Icmpv6Type.ROUTER_ADVERT:
      case Icmpv6Type.NEIGHBOR_ADVERT:
      case Icmpv6Type.REDIRECT:
        this.x.ndIgnored++;
        return this.drop(p, 'drop');
      default:
        if (type < 128) return this.deliverError(p, info);
        if (MLD_TYPES.has(type)) this.x.mldIgnored++;
        else this.x.unknownInformational++; // RFC 4443 §2.4(b): silently discarded
        return this.drop(p, 'drop');
    }
  }

  /** Report `p` (from its IPv6 header) as undeliverable; `code` in IPv4 numbering (3 port, 2 protocol). */
  destUnreachable(p: Pbuf, code: number): void {
    if (code === 3) return this.sendError(p, Icmpv6Type.DEST_UNREACHABLE, 4, 0);
    if (code === 2) {
      // IPv6 says "unrecognized Next Header" with a pointer at it.
      if (!ipv6ScanChain(p.buf, p.off, p.len, this.scan)) {
        this.x.errorsSuppressed++;
        return;
      }
      return this.sendError(p, Icmpv6Type.PARAM_PROBLEM, 1, this.scan.nhAt);
    }
    this.sendError(p, Icmpv6Type.DEST_UNREACHABLE, 0, 0);
  }

  /** Report `p` as timed out: code 1 (as IPv4's) is fragment reassembly, else hop limit. */
  timeExceeded(p: Pbuf, code: number): void {
    this.sendError(p, Icmpv6Type.TIME_EXCEEDED, code === 1 ? 1 : 0, 0);
  }

  paramProblem(p: Pbuf, code: number, pointer: number): void {
    this.sendError(p, Icmpv6Type.PARAM_PROBLEM, code, pointer);
  }

  packetTooBig(p: Pbuf, mtu: number): void {
    this.sendError(p, Icmpv6Type.PACKET_TOO_BIG, 0, mtu);
  }

  private reply(req: Pbuf, info: IpInfo): void {
    const st = this.st;
    const peer = info.src as Ip6Addr;
    const netif = this.replyNetif(peer, info);
    // A reply to a group comes from a unicast address of the receiving netif (§4.2).
    const src = info.multicast ? this.ip6.sourceFor(info.netif, peer) : (info.dst as Ip6Addr);
    if (netif === null || src.isUnspecified) {
      st.rterr++;
      return this.drop(req, 'drop');
    }
    const len = req.totLen;
    // A fresh pbuf: received buffers carry no header room for the way back.
    const out = this.host.pool.alloc(PbufLayer.IP, len, PbufType.RAM, PbufUse.CONTROL);
    if (out === null) return this.drop(req, 'memerr');
    req.copyPartial(out.buf, len, 0, out.off);
    req.free();
    const b = out.buf;
    const o = out.off;
    b[o] = Icmpv6Type.ECHO_REPLY;
    b[o + 1] = 0;
    fillChecksum(b, o, len, src, peer);
    const err = this.ip6.outputIf(out, src, peer, ICMPV6_NEXT_HEADER, undefined, 0, false, 0, netif);
    out.free();
    if (err === Err.OK) {
      st.xmit++;
      this.x.echoAnswered++;
    } else {
      st.err++;
    }
  }

  private deliverEchoReply(p: Pbuf, info: IpInfo): void {
    this.x.echoRepliesIn++;
    if (this.echoListeners.size === 0 || p.totLen < ICMPV6_HEADER_LEN) return this.drop(p, 'drop');
    const b = p.buf;
    const o = p.off;
    const data = new Uint8Array(p.totLen - ICMPV6_HEADER_LEN);
    p.copyPartial(data, data.length, ICMPV6_HEADER_LEN);
    const reply: EchoReply6 = { src: info.src, ident: (b[o + 4]! << 8) | b[o + 5]!, seqNo: (b[o + 6]! << 8) | b[o + 7]!, data, ttl: info.ttl };
    p.free();
    for (const cb of this.echoListeners) cb(reply);
  }

  private deliverError(p: Pbuf, info: IpInfo): void {
    const x = this.x;
    x.errorsIn++;
    const b = p.buf;
    const o = p.off;
    const type = b[o]!;
    const code = b[o + 1]!;
    const rest = ((b[o + 4]! << 24) | (b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!) >>> 0;
    if (type === Icmpv6Type.PACKET_TOO_BIG) x.ptbReceived++;
    // The quoted packet: walk its extension headers as far as they are there.
    const q = this.quote;
    const n = p.copyPartial(q, Math.min(p.totLen - ICMPV6_HEADER_LEN, QUOTE_SCAN), ICMPV6_HEADER_LEN);
    const scan = this.scan;
    if (n < IPV6_HEADER_LEN + 8 || !ipv6ScanChain(q, 0, n, scan) || scan.fragOffset !== 0 || scan.offset + 8 > n) {
      x.errorsUnparsable++;
      return this.drop(p, n < IPV6_HEADER_LEN + 8 ? 'lenerr' : 'proterr');
    }
    const origSrc = Ip6Addr.fromBytes(q, 8);
    if (!this.ip6.isLocal(origSrc)) {
      // Not about a packet of ours: forged, or misdirected.
      x.errorsNotOurs++;
      return this.drop(p, 'drop');
    }
    const origDst = Ip6Addr.fromBytes(q, 24);
    let kind: IcmpErrorKind;
    let mtu = 0;
    switch (type) {
      case Icmpv6Type.DEST_UNREACHABLE:
        kind = code === 4 ? IcmpErrorKind.REFUSED : code === 0 || code === 3 ? IcmpErrorKind.UNREACHABLE : IcmpErrorKind.OTHER;
        break;
      case Icmpv6Type.PACKET_TOO_BIG:
        kind = IcmpErrorKind.TOO_BIG;
        // RFC 8201 §4: a path MTU is never below the minimum link MTU.
        mtu = rest < IPV6_MIN_MTU ? IPV6_MIN_MTU : rest;
        this.ip6.learnPmtu(origDst, mtu);
        break;
      case Icmpv6Type.TIME_EXCEEDED:
        kind = IcmpErrorKind.TIME_EXCEEDED;
        break;
      case Icmpv6Type.PARAM_PROBLEM:
        kind = code === 1 ? IcmpErrorKind.REFUSED : IcmpErrorKind.PARAMETER;
        break;
      default:
        // RFC 4443 §2.4(a): unknown error types go to the upper layer too.
        kind = IcmpErrorKind.OTHER;
    }
    const report: IcmpErrorReport = {
      family: 6,
      type,
      code,
      kind,
      nextHopMtu: mtu,
      reporter: info.src,
      origSrc,
      origDst,
      protocol: scan.protocol,
      transportHeader: q.slice(scan.offset, Math.min(n, scan.offset + TRANSPORT_BYTES)),
    };
    p.free();
    const cb = this.errorListeners[report.protocol];
    if (cb === undefined) {
      x.errorsNoListener++;
      this.st.drop++;
      return;
    }
    x.errorsDelivered++;
    cb(report);
  }

  /** A Neighbour Solicitation: answer it if it is valid and asks for an address of the receiving netif. */
  private solicited(p: Pbuf, info: IpInfo): void {
    const x = this.x;
    x.nsReceived++;
    const src = info.src as Ip6Addr;
    const dst = info.dst as Ip6Addr;
    const v = this.view.wrap(p.buf, p.off, p.len);
    const a = this.addrs;
    src.writeTo(a, 0);
    dst.writeTo(a, 16);
    let target: Ip6Addr | null = null;
    if (v.check() === WireErrorCode.OK && ndNeighborMessageOk(v, info.ttl, a, 0, a, 16)) {
      // From :: (duplicate address detection) only to the solicited-node group (RFC 4861 §7.1.1).
      if (!src.isUnspecified || isSolicitedNode(dst)) {
        const t = v.targetOffset;
        for (const own of info.netif.addrs6) {
          if (own.matches(p.buf, t)) {
            target = own;
            break;
          }
        }
      }
    }
    p.free();
    if (target === null) {
      x.nsIgnored++;
      this.st.drop++;
      return;
    }
    const naDst = src.isUnspecified ? ALL_NODES : src;
    const out = this.host.pool.alloc(PbufLayer.IP, 24, PbufType.RAM, PbufUse.CONTROL);
    if (out === null) {
      this.st.memerr++;
      return;
    }
    target.writeTo(this.target, 0);
    target.writeTo(a, 0);
    naDst.writeTo(a, 16);
    emitIcmpv6(
      { kind: 'neighbor-advert', router: false, solicited: !src.isUnspecified, override: true, target: this.target },
      out.buf,
      out.off,
      a,
      a,
      0,
      16,
    );
    // RFC 4861 §7.1.2: sent with hop limit 255, on the link the solicitation came in on.
    const err = this.ip6.outputIf(out, target, naDst, ICMPV6_NEXT_HEADER, 255, 0, false, 0, info.netif);
    out.free();
    if (err === Err.OK) {
      this.st.xmit++;
      x.ndSolicitsAnswered++;
    } else {
      this.st.err++;
    }
  }

  /**
   * Send an ICMPv6 error about `orig` (from its IPv6 header; not owned)
   * under the rules of RFC 4443 §2.4(e) and the rate limit of §2.4(f),
   * quoting as much of it as fits in 1280 bytes.
   */
  private sendError(orig: Pbuf, type: number, code: number, param: number): void {
    const st = this.st;
    const x = this.x;
    if (orig.len < IPV6_HEADER_LEN) return;
    const b = orig.buf;
    const o = orig.off;
    if (b[o]! >>> 4 !== 6) return;
    const errDst = Ip6Addr.fromBytes(b, o + 8);
    const origDst = Ip6Addr.fromBytes(b, o + 24);
    // (e.6) a source that names no single node; (e.3) a packet to a group.
    if (errDst.isMulticast || errDst.isUnspecified || (origDst.isMulticast && !(type === Icmpv6Type.PACKET_TOO_BIG || (type === Icmpv6Type.PARAM_PROBLEM && code === 2)))) {
      x.errorsSuppressed++;
      return;
    }
    // (e.1, e.2) never about an ICMPv6 error or a redirect.
    const scan = this.scan;
    if (ipv6ScanChain(b, o, orig.len, scan) && scan.protocol === ICMPV6_NEXT_HEADER && scan.fragOffset === 0) {
      const t = orig.getAt(scan.offset);
      if (t >= 0 && (t < 128 || t === Icmpv6Type.REDIRECT)) {
        x.errorsSuppressed++;
        return;
      }
    }
    if (!this.limiter.allow(this.host.clock.now())) {
      x.rateLimited++;
      return;
    }
    // §2.2: from the address the packet was sent to, when it was one of ours.
    let src: Ip6Addr;
    let netif: Netif | null;
    if (!origDst.isMulticast && this.ip6.isLocal(origDst)) {
      src = origDst;
      netif = this.ip6.route(errDst);
    } else {
      netif = this.ip6.route(errDst);
      src = netif === null ? origDst : this.ip6.sourceFor(netif, errDst);
    }
    if (netif === null || src.isUnspecified) {
      st.rterr++;
      return;
    }
    const quote = Math.min(orig.totLen, ICMPV6_MAX_QUOTE);
    const len = ICMPV6_HEADER_LEN + quote;
    const p = this.host.pool.alloc(PbufLayer.IP, len, PbufType.RAM, PbufUse.CONTROL);
    if (p === null) {
      st.memerr++;
      return;
    }
    const ob = p.buf;
    const oo = p.off;
    orig.copyPartial(ob, quote, 0, oo + ICMPV6_HEADER_LEN);
    const rest = type === Icmpv6Type.PACKET_TOO_BIG || type === Icmpv6Type.PARAM_PROBLEM ? param >>> 0 : 0;
    ob[oo] = type;
    ob[oo + 1] = type === Icmpv6Type.PACKET_TOO_BIG ? 0 : code;
    ob[oo + 4] = rest >>> 24;
    ob[oo + 5] = rest >>> 16;
    ob[oo + 6] = rest >>> 8;
    ob[oo + 7] = rest;
    fillChecksum(ob, oo, len, src, errDst);
    const err = this.ip6.outputIf(p, src, errDst, ICMPV6_NEXT_HEADER, undefined, 0, false, 0, netif);
    p.free();
    if (err === Err.OK) {
      st.xmit++;
      x.errorsSent++;
    } else {
      st.err++;
    }
  }

  /** Link-scope peers are answered on the link they spoke on; others by route. */
  private replyNetif(peer: Ip6Addr, info: IpInfo): Netif | null {
    return peer.isLinkLocal || info.multicast ? info.netif : this.ip6.route(peer);
  }

  private drop(p: Pbuf, reason: 'lenerr' | 'chkerr' | 'proterr' | 'memerr' | 'drop'): void {
    if (reason !== 'drop') this.st[reason]++;
    this.st.drop++;
    p.free();
  }
}

/** Store the ICMPv6 checksum of the `len`-byte message at b[o] for src -> dst. */
function fillChecksum(b: Uint8Array, o: number, len: number, src: Ip6Addr, dst: Ip6Addr): void {
  b[o + 2] = 0;
  b[o + 3] = 0;
  const c = ~onesSum(b, o, len, ip6PseudoHeaderSum(src, dst, ICMPV6_NEXT_HEADER, len)) & 0xffff;
  b[o + 2] = c >>> 8;
  b[o + 3] = c;
}

/** ff02::1:ff00:0/104 (RFC 4291 §2.7.1). */
function isSolicitedNode(a: Ip6Addr): boolean {
  return a.w0 === 0xff020000 && a.w1 === 0 && a.w2 === 1 && a.w3 >>> 24 === 0xff;
}
