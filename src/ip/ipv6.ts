// IPv6 input and output (lwIP ip6.c, RFC 8200): validate what arrives,
// walk extension headers, reassemble fragments, hand payloads to transport
// protocols; add headers, route, label flows, fragment what leaves, and
// remember path MTUs learned from Packet Too Big (RFC 8201). We are a host:
// nothing is forwarded, so a hop limit of 0 or 1 on arrival is fine
// (RFC 8200 §3 decrements it only when forwarding).
//
// tsip's links are point-to-point (TUN) or simulated: there is no neighbour
// discovery to do before sending. ICMPv6 (icmp6.ts) still answers
// solicitations for our addresses, so a peer that asks gets an answer.
import { Err } from '../err.ts';
import type { Netif } from '../netif/netif.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import { PbufFlag } from '../pbuf/pbuf.ts';
import type { Ipv6Counters, ProtoStats } from '../stats.ts';
import { WireErrorCode } from '../wire/error.ts';
import { IP6_ANY, Ip6Addr, ip6PseudoHeaderSum, type IpAddr } from '../wire/ipaddr.ts';
import { Icmpv6ParamProblem, IPV6_MAX_EXT_CHAIN_LEN, IPV6_MAX_EXT_HEADERS, newIpv6ExtResult, walkIpv6Ext } from '../wire/ipv6-ext.ts';
import { IPV6_HEADER_LEN, IPV6_MIN_MTU, Ipv6NextHeader } from '../wire/ipv6.ts';
import { fragmentIpv6 } from './fragment6.ts';
import { halfSipHash24 } from './halfsiphash.ts';
import { completeTcpChecksum, releaseHeaderRoom, withHeaderRoom } from './header-room.ts';
import type { IcmpErrorSink, IpFamilyLayer, IpHost, IpInfo, ProtocolInput } from './host.ts';
import { Reassembler6, type Reassembly6Options } from './reassembly6.ts';

export interface Ipv6Options {
  /** Hop limit of datagrams we originate (default 64). */
  defaultHopLimit?: number;
  reassembly?: Reassembly6Options;
  /**
   * Key of the keyed hashes behind flow labels (RFC 6437) and fragment
   * identifications (RFC 7739), given by the Stack. Without one, two words
   * are drawn from host.rng.
   */
  flowKey?: [number, number];
  /** Most extension headers walked in one datagram (default 8; more is a counted drop). */
  maxExtHeaders?: number;
  /** Most destinations the path MTU cache remembers (default 256; the oldest entry goes first). */
  pmtuCacheSize?: number;
  /** Time a learned path MTU is kept (default 10 minutes, RFC 8201 §4). */
  pmtuTimeoutMs?: number;
}

/**
 * The ICMPv6 error sink the IPv6 layer reports to (Icmp6 implements it):
 * the IPv4-numbered calls of IcmpErrorSink, plus the two IPv6 errors that
 * have no IPv4 code. `p` starts at the offending packet's IPv6 header; the
 * sink does not take ownership.
 */
export interface Icmp6ErrorSink extends IcmpErrorSink {
  /** Parameter Problem (RFC 4443 §3.4): `pointer` is the offset of the bad byte from the IPv6 header. */
  paramProblem(p: Pbuf, code: number, pointer: number): void;
  /** Packet Too Big (RFC 4443 §3.2). */
  packetTooBig(p: Pbuf, mtu: number): void;
}

/** What ipv6ScanChain found. */
export interface Ipv6ChainScan {
  /** The upper-layer protocol (for a non-first fragment: the Fragment header's Next Header). */
  protocol: number;
  /** Offset from the IPv6 header of the Next Header byte that names `protocol` (6 without extension headers). */
  nhAt: number;
  /** Offset from the IPv6 header of the upper-layer header (for a non-first fragment: of its data). */
  offset: number;
  /** Fragment offset in bytes of the first Fragment header, 0 without one. */
  fragOffset: number;
}

export function newIpv6ChainScan(): Ipv6ChainScan {
  return { protocol: -1, nhAt: 6, offset: IPV6_HEADER_LEN, fragOffset: 0 };
}

/** Headers the scan follows at most. */
const SCAN_MAX_HEADERS = 16;

/**
 * Follow the extension headers of the (possibly truncated, e.g. quoted in an
 * ICMPv6 error) IPv6 packet in buf[off, off+len) to the upper-layer header,
 * without judging them: lengths only, every read bounded by `len`. True
 * with `out` filled if the chain ends inside `len` (the upper-layer header
 * itself may still be cut short: compare out.offset with len); false if
 * the version is not 6, the chain runs past `len`, or it has more than 16
 * headers. A non-first fragment stops at its Fragment header (out.fragOffset
 * non-zero). Never allocates; never reads outside buf[off, off+len).
 */
export function ipv6ScanChain(buf: Uint8Array, off: number, len: number, out: Ipv6ChainScan): boolean {
  if (len < IPV6_HEADER_LEN || off < 0 || off + len > buf.length) return false;
  if (buf[off]! >>> 4 !== 6) return false;
  let nh = buf[off + 6]!;
  let nhAt = 6;
  let q = IPV6_HEADER_LEN;
  out.fragOffset = 0;
  for (let n = 0; ; n++) {
    if (nh !== Ipv6NextHeader.HOPOPTS && nh !== Ipv6NextHeader.DSTOPTS && nh !== Ipv6NextHeader.ROUTING && nh !== Ipv6NextHeader.FRAGMENT && nh !== Ipv6NextHeader.AH) break;
    if (n >= SCAN_MAX_HEADERS || q + 8 > len) return false;
    let hl: number;
    if (nh === Ipv6NextHeader.FRAGMENT) {
      hl = 8;
      const fo = ((buf[off + q + 2]! << 8) | buf[off + q + 3]!) & 0xfff8;
      if (n === 0 || out.fragOffset === 0) out.fragOffset = fo;
      if (fo !== 0) {
        out.protocol = buf[off + q]!;
        out.nhAt = q;
        out.offset = q + hl;
        return true;
      }
    } else if (nh === Ipv6NextHeader.AH) {
      hl = (buf[off + q + 1]! + 2) << 2; // RFC 4302 §2.2: 32-bit words, minus 2
    } else {
      hl = (buf[off + q + 1]! + 1) << 3;
    }
    nhAt = q;
    nh = buf[off + q]!;
    q += hl;
    if (q > len) return false;
  }
  out.protocol = nh;
  out.nhAt = nhAt;
  out.offset = q;
  return true;
}

interface PmtuEntry {
  addr: Ip6Addr;
  mtu: number;
  expiresAt: number;
}

/** Slots of the direct-mapped cache of Ip6Addr values handed out in IpInfo. */
const ADDR_CACHE_BITS = 8;
const SRC_AT = 8;
const DST_AT = 24;
/** Bytes of a chained packet copied for the extension header walk: the walker reads no further. */
const WALK_COPY = IPV6_HEADER_LEN + IPV6_MAX_EXT_CHAIN_LEN + 16;
/** Fragment identification counters (RFC 7739 §5.3). */
const FRAG_BUCKET_BITS = 8;

/** Protocols whose first 4 bytes are a port pair, hashed into the flow label. */
function hasPorts(nh: number): boolean {
  return nh === 6 || nh === 17 || nh === 33 || nh === 132 || nh === 136;
}

/** RFC 4291 §2.7 / RFC 6724 §3.1 scope of an address: 1 interface, 2 link, 14 global. */
function scopeOf(a: Ip6Addr): number {
  if (a.isMulticast) return (a.w0 >>> 16) & 0xf;
  if (a.isLinkLocal || a.isLoopback) return 2;
  return 14;
}

export class Ipv6 implements IpFamilyLayer {
  readonly family = 6 as const;
  readonly headerLen = IPV6_HEADER_LEN;
  readonly minMtu = IPV6_MIN_MTU;
  readonly any: Ip6Addr = IP6_ANY;
  /** 65535 bytes after the fixed header (no jumbograms, RFC 2675). */
  readonly maxPayload = 0xffff;
  /** RFC 8200 §8.1: UDP over IPv6 always carries a checksum. */
  readonly udpChecksumRequired = true;
  /** Hop limit of datagrams we originate. */
  readonly defaultTtl: number;
  /** The loopback netif (installed by the Stack). */
  loopback: Netif | null = null;
  /** The netif for destinations no netif is on-link for. */
  defaultNetif: Netif | null = null;
  /** Where undeliverable datagrams are reported (installed by Icmp6). */
  icmpErrors: Icmp6ErrorSink | null = null;
  readonly reassembler: Reassembler6;
  readonly maxExtHeaders: number;
  readonly pmtuCacheSize: number;
  readonly pmtuTimeoutMs: number;

  private readonly host: IpHost;
  private readonly st: ProtoStats;
  private readonly x: Ipv6Counters;
  private readonly handlers: (ProtocolInput | undefined)[] = new Array(256);
  private readonly ext = newIpv6ExtResult();
  private readonly info: IpInfo;
  /** For walking chained packets; made on first use (64 KiB). */
  private walkBuf: Uint8Array | null = null;
  private readonly addrCache: (Ip6Addr | undefined)[] = new Array(1 << ADDR_CACHE_BITS);
  private readonly pmtus = new Map<number, PmtuEntry>();
  // Keyed hashes: flow labels and fragment identifications.
  private readonly fk0: number;
  private readonly fk1: number;
  private readonly ik0: number;
  private readonly ik1: number;
  private readonly words = new Uint32Array(10);
  private readonly fragCounters = new Uint32Array(1 << FRAG_BUCKET_BITS);
  // The last flow's label: bulk traffic hashes its flow once.
  private lastSrc: Ip6Addr | null = null;
  private lastDst: Ip6Addr | null = null;
  private lastNh = -1;
  private lastPorts = -1;
  private lastLabel = 0;

  constructor(host: IpHost, opts: Ipv6Options = {}) {
    this.host = host;
    this.defaultTtl = opts.defaultHopLimit ?? 64;
    if (!Number.isInteger(this.defaultTtl) || this.defaultTtl < 1 || this.defaultTtl > 255) {
      throw new RangeError('defaultHopLimit must be an integer in 1..255');
    }
    this.maxExtHeaders = opts.maxExtHeaders ?? IPV6_MAX_EXT_HEADERS;
    if (!Number.isInteger(this.maxExtHeaders) || this.maxExtHeaders < 1 || this.maxExtHeaders > 64) {
      throw new RangeError('maxExtHeaders must be an integer in 1..64');
    }
    this.pmtuCacheSize = opts.pmtuCacheSize ?? 256;
    if (!Number.isInteger(this.pmtuCacheSize) || this.pmtuCacheSize < 0) throw new RangeError('pmtuCacheSize must be a non-negative integer');
    this.pmtuTimeoutMs = opts.pmtuTimeoutMs ?? 600_000;
    if (!(this.pmtuTimeoutMs > 0)) throw new RangeError('pmtuTimeoutMs must be positive');
    const key = opts.flowKey ?? [host.rng.u32(), host.rng.u32()];
    this.fk0 = key[0] >>> 0;
    this.fk1 = key[1] >>> 0;
    // A second key for fragment identifications, derived so that labels and
    // identifications cannot be related to each other.
    this.ik0 = halfSipHash24(this.fk0, this.fk1, [0x66726167]); // "frag"
    this.ik1 = halfSipHash24(this.fk0, this.fk1, [0x6964656e]); // "iden"
    this.st = host.stats.ip6;
    this.x = host.stats.ip6x;
    this.reassembler = new Reassembler6(host, opts.reassembly, (p, code) => this.icmpErrors?.timeExceeded(p, code));
    this.info = { src: IP6_ANY, dst: IP6_ANY, protocol: 0, ttl: 0, tos: 0, headerLen: 0, netif: null as unknown as Netif, broadcast: false, broadcastNetif: null, multicast: false };
  }

  /** Register a transport protocol's input (TCP 6, UDP 17, ICMPv6 58). */
  register(nextHeader: number, input: ProtocolInput): void {
    this.handlers[nextHeader & 0xff] = input;
  }

  /** True if `a` is ::1 or one of our addresses. */
  isLocal(a: IpAddr): boolean {
    return typeof a !== 'number' && (a.isLoopback || this.isOwn(a));
  }

  /** True if `a` is an IPv6 address of one of our netifs (any netif: weak host model). */
  isOwn(a: IpAddr): boolean {
    if (typeof a === 'number' || a.isUnspecified) return false;
    for (const n of this.host.netifs) if (n.hasAddr6(a)) return true;
    return false;
  }

  /** The netif's MTU for IPv6: 0 unless IPv6 runs on it (the loopback always carries it). */
  mtuOf(netif: Netif): number {
    return netif === this.loopback || netif.ipv6Enabled ? netif.mtu : 0;
  }

  pseudoSum(src: IpAddr, dst: IpAddr, nextHeader: number, length: number): number {
    return ip6PseudoHeaderSum(asV6(src), asV6(dst), nextHeader, length);
  }

  /**
   * The netif a datagram to `dst` leaves through, or null (no route): the
   * loopback for our own addresses and ::1, else the first up IPv6 netif
   * `dst` is on-link for, else the default netif if it carries IPv6.
   */
  route(dst: IpAddr): Netif | null {
    if (typeof dst === 'number') return null;
    const lo = this.loopback;
    if (lo !== null && this.isLocal(dst)) return lo.isUp ? lo : null;
    if (!dst.isMulticast) {
      for (const n of this.host.netifs) if (n !== lo && n.isUp && n.ipv6Enabled && n.onLink6(dst)) return n;
    }
    const d = this.defaultNetif;
    return d !== null && d.isUp && d.ipv6Enabled ? d : null;
  }

  /**
   * Our source address for a datagram to `dst` leaving through `netif`
   * (RFC 6724 §5, rules 1, 2 and 8): `dst` itself over the loopback to one
   * of our addresses; else the netif's address of the scope that suits
   * `dst` sharing the longest prefix with it; :: if the netif has none.
   */
  sourceFor(netif: Netif, dst: IpAddr): Ip6Addr {
    if (typeof dst === 'number') return IP6_ANY;
    if (netif === this.loopback && this.isLocal(dst)) return dst;
    const addrs = netif.addrs6;
    let best: Ip6Addr | null = null;
    const sd = scopeOf(dst);
    for (const a of addrs) {
      if (a.equals(dst)) return a; // rule 1
      if (best === null) {
        best = a;
        continue;
      }
      const sa = scopeOf(a);
      const sb = scopeOf(best);
      if (sa !== sb) {
        // Rule 2: the smallest scope that still reaches dst.
        if (sa < sb ? sa >= sd : sb < sd) best = a;
        continue;
      }
      if (a.commonPrefixLen(dst) > best.commonPrefixLen(dst)) best = a; // rule 8
    }
    return best ?? IP6_ANY;
  }

  /**
   * The path MTU estimate for `dst`: the MTU of the netif it is routed
   * through, lowered by a Packet Too Big learned in the last 10 minutes;
   * 0 without a route.
   */
  pmtu(dst: IpAddr): number {
    if (typeof dst === 'number') return 0;
    const n = this.route(dst);
    const link = n === null ? 0 : this.mtuOf(n);
    if (link === 0) return 0;
    const c = this.cachedPmtu(dst);
    return c > 0 && c < link ? c : link;
  }

  /**
   * Learn from a Packet Too Big that the path to `dst` carries at most
   * `mtu` bytes (RFC 8201): never below 1280, never raising the estimate.
   * Returns true if the estimate went down.
   */
  learnPmtu(dst: IpAddr, mtu: number): boolean {
    if (typeof dst === 'number' || !(mtu >= 0) || this.pmtuCacheSize === 0) return false;
    const m = mtu < IPV6_MIN_MTU ? IPV6_MIN_MTU : Math.min(Math.floor(mtu), 0xffffffff);
    const cur = this.pmtu(dst);
    if (cur !== 0 && m >= cur) return false;
    const cache = this.pmtus;
    cache.delete(dst.hash);
    if (cache.size >= this.pmtuCacheSize) {
      const oldest = cache.keys().next();
      if (!oldest.done) {
        cache.delete(oldest.value);
        this.x.pmtuEvicted++;
      }
    }
    cache.set(dst.hash, { addr: dst, mtu: m, expiresAt: this.host.clock.now() + this.pmtuTimeoutMs });
    this.x.pmtuLearned++;
    return true;
  }

  /** Destinations with a learned path MTU (expired ones not yet looked at included). */
  get pmtuEntries(): number {
    return this.pmtus.size;
  }

  /** A learned path MTU for dst still in force, else 0. */
  private cachedPmtu(dst: Ip6Addr): number {
    if (this.pmtus.size === 0) return 0;
    const e = this.pmtus.get(dst.hash);
    if (e === undefined || !e.addr.equals(dst)) return 0;
    if (this.host.clock.now() >= e.expiresAt) {
      this.pmtus.delete(dst.hash);
      this.x.pmtuExpired++;
      return 0;
    }
    return e.mtu;
  }

  /**
   * Process one received packet; takes ownership of `p` (payload at the
   * IPv6 header, which must sit in the first piece with its extension
   * headers). Every rejection is counted; nothing here throws on bad input.
   */
  input(p: Pbuf, netif: Netif): void {
    const st = this.st;
    const x = this.x;
    st.recv++;
    if (p.len < IPV6_HEADER_LEN) return this.drop(p, 'lenerr');
    let b = p.buf;
    let o = p.off;
    if (b[o]! >>> 4 !== 6) return this.drop(p, 'proterr');
    const total = IPV6_HEADER_LEN + ((b[o + 4]! << 8) | b[o + 5]!);
    if (total > p.totLen) return this.drop(p, 'lenerr');
    // Trim link-layer padding beyond the packet.
    if (p.totLen > total) p.realloc(total);
    const lo = this.loopback;
    const fromOutside = netif !== lo;
    if (fromOutside && !netif.ipv6Enabled) {
      x.disabledNetif++;
      return this.drop(p, 'drop');
    }

    const src = this.addrAt(b, o + SRC_AT);
    const dst = this.addrAt(b, o + DST_AT);
    if (src.isMulticast) {
      x.multicastSrc++;
      return this.drop(p, 'drop');
    }
    if (src.isUnspecified && b[o + 6] !== Ipv6NextHeader.ICMPV6) {
      x.unspecifiedSrc++;
      return this.drop(p, 'drop');
    }
    if (src.isV4Mapped || dst.isV4Mapped) {
      x.v4MappedAddr++;
      return this.drop(p, 'drop');
    }
    if (fromOutside) {
      if (src.isLoopback || dst.isLoopback) {
        x.loopbackAddr++;
        return this.drop(p, 'drop');
      }
      if (this.isOwn(src)) {
        x.ownSrc++;
        return this.drop(p, 'drop');
      }
    }
    const multicast = dst.isMulticast;
    if (multicast ? !this.acceptsGroup(dst, netif) : !(dst.isLoopback || this.isOwn(dst))) {
      x.notForUs++;
      return this.drop(p, 'drop');
    }

    // The extension headers. Most packets have none: straight to the transport.
    let q: Pbuf = p;
    let protocol = b[o + 6]!;
    let headerLen = IPV6_HEADER_LEN;
    let nhAt = 6;
    for (let pass = 0; isExtHeader(protocol); pass++) {
      const ext = this.ext;
      // Walk in place when the packet is one piece, else over a copy of its front.
      let wb = b;
      let wo = o;
      let wlen = q.len;
      if (q.next !== null) {
        wb = this.walkBuffer();
        wo = 0;
        wlen = q.totLen;
        q.copyPartial(wb, Math.min(wlen, WALK_COPY), 0);
      }
      const code = walkIpv6Ext(wb, wo, wlen, ext, this.maxExtHeaders);
      if (code !== WireErrorCode.OK) return this.extDrop(q, code, wb, wo);
      if (ext.hasFragment) {
        if (pass > 0) {
          // A reassembled packet with another Fragment header in it.
          x.nestedFragment++;
          x.extHeaderDrops++;
          return this.drop(q, 'proterr');
        }
        x.fragmentsIn++;
        if (wb !== b) {
          // Offsets into the copy become offsets into the first piece.
          const d = o - wo;
          ext.fragHeaderOffset += d;
          ext.fragDataOffset += d;
          ext.offset += d;
        }
        const r = this.reassembler.insert(q, ext);
        if (r === null) return; // held, or dropped and counted by the reassembler
        x.reassembled++;
        q = r;
        b = q.buf;
        o = q.off;
        protocol = b[o + 6]!;
        continue; // walk the whole packet: the headers after the Fragment header are processed now
      }
      protocol = ext.protocol;
      headerLen = ext.offset - wo;
      nhAt = lastHeaderAt(wb, wo, ext.count);
      break;
    }

    const info = this.info;
    const hopLimit = b[o + 7]!;
    if (hopLimit === 0) x.hopLimitZero++;
    info.src = src;
    info.dst = dst;
    info.protocol = protocol;
    info.ttl = hopLimit;
    info.tos = ((b[o]! & 0x0f) << 4) | (b[o + 1]! >>> 4);
    info.headerLen = headerLen;
    info.netif = netif;
    info.broadcast = false;
    info.multicast = multicast;
    const handler = this.handlers[protocol];
    if (handler === undefined) {
      if (protocol === Ipv6NextHeader.NONE) {
        // RFC 8200 §4.7: nothing follows; ignore the packet.
        x.noNextHeader++;
        return this.drop(q, 'drop');
      }
      x.unknownNextHeader++;
      st.proterr++;
      st.drop++;
      if (!multicast) this.icmpErrors?.paramProblem(q, Icmpv6ParamProblem.UNRECOGNIZED_NEXT_HEADER, nhAt);
      q.free();
      return;
    }
    if (headerLen > q.len) return this.drop(q, 'lenerr'); // headers split across pieces
    q.removeHeader(headerLen);
    handler(q, info);
  }

  /**
   * Send `p` (payload at the transport header) to `dst` (lwIP ip6_output):
   * routes, prepends the IPv6 header, fragments if needed. Does not take
   * ownership: `p` is returned to the caller as it was. `src` :: picks the
   * source (sourceFor). `flowLabel` 0 or absent: a keyed hash of the flow
   * (RFC 6437 §3). `dontFragment`: a datagram larger than the path MTU is
   * refused (Err.VAL) instead of fragmented.
   */
  output(p: Pbuf, src: IpAddr, dst: IpAddr, nextHeader: number, hopLimit?: number, tclass?: number, dontFragment?: boolean, flowLabel?: number): number {
    if (typeof dst === 'number') return this.fail('err', Err.VAL);
    const netif = this.route(dst);
    if (netif === null) return this.fail('rterr', Err.RTE);
    return this.outputIf(p, src, dst, nextHeader, hopLimit, tclass, dontFragment, flowLabel, netif);
  }

  /** As output(), through a given netif (a reply on the link a request came in on). */
  outputIf(
    p: Pbuf,
    src: IpAddr,
    dst: IpAddr,
    nextHeader: number,
    hopLimit: number = this.defaultTtl,
    tclass = 0,
    dontFragment = false,
    flowLabel = 0,
    netif: Netif,
  ): number {
    const st = this.st;
    const x = this.x;
    if (typeof dst === 'number' || typeof src === 'number') return this.fail('err', Err.VAL);
    const linkMtu = this.mtuOf(netif);
    if (linkMtu === 0) return this.fail('rterr', Err.RTE);
    if (src.isUnspecified) {
      src = this.sourceFor(netif, dst);
      if (src.isUnspecified) return this.fail('rterr', Err.RTE);
    }
    const ports = p.len >= 4 && hasPorts(nextHeader) ? rd32(p.buf, p.off) : 0;
    let label = flowLabel & 0xfffff;
    if (label === 0) label = this.flowLabelFor(src, dst, nextHeader, ports);

    const head = withHeaderRoom(this.host.pool, p, IPV6_HEADER_LEN);
    if (head === null) return this.fail('memerr', Err.MEM);
    const ownHead = head !== p;
    let err: number;
    const total = head.totLen;
    if (total - IPV6_HEADER_LEN > 0xffff) {
      st.lenerr++;
      st.drop++;
      err = Err.VAL;
    } else {
      const b = head.buf;
      const o = head.off;
      const tc = tclass & 0xff;
      b[o] = 0x60 | (tc >>> 4);
      b[o + 1] = ((tc & 0x0f) << 4) | (label >>> 16);
      b[o + 2] = label >>> 8;
      b[o + 3] = label;
      const pl = total - IPV6_HEADER_LEN;
      b[o + 4] = pl >>> 8;
      b[o + 5] = pl;
      b[o + 6] = nextHeader;
      b[o + 7] = hopLimit;
      src.writeTo(b, o + SRC_AT);
      dst.writeTo(b, o + DST_AT);
      st.xmit++;
      // The path MTU (RFC 8201) for what is not TCP: TCP sizes its segments itself.
      let mtu = linkMtu;
      if (total > IPV6_MIN_MTU && nextHeader !== Ipv6NextHeader.TCP) {
        const c = this.cachedPmtu(dst);
        if (c > 0 && c < mtu) mtu = c;
      }
      if ((p.flags & PbufFlag.CSUM_PARTIAL) !== 0) {
        // TCP left its checksum to the device: one that cannot (or a packet about to be fragmented) gets it here; a
        // super-segment the device cuts itself (GSO) is summed by it, piece by piece.
        if (!netif.txCsumOffload || (total > mtu && !(p.gsoSize > 0 && total <= netif.gsoMaxSize))) completeTcpChecksum(head, p, IPV6_HEADER_LEN, this.pseudoSum(src, dst, nextHeader, total - IPV6_HEADER_LEN));
        else head.flags |= PbufFlag.CSUM_PARTIAL;
      }
      if (total <= mtu) {
        err = netif.output(head);
      } else if (p.gsoSize > 0 && total <= netif.gsoMaxSize) {
        // A TCP super-segment for a GSO-capable device (TSO6): it cuts it itself.
        head.gsoSize = p.gsoSize;
        err = netif.output(head);
        if (ownHead) head.gsoSize = 0;
      } else if (dontFragment) {
        x.tooBigNoFrag++;
        st.err++;
        err = Err.VAL;
      } else {
        x.fragmented++;
        err = fragmentIpv6(this.host.pool, head, mtu, this.fragIdent(src, dst), (f) => {
          x.fragmentsOut++;
          return netif.output(f);
        });
        if (err === Err.MEM) st.memerr++;
        else if (err !== Err.OK) st.err++;
      }
    }
    releaseHeaderRoom(head, p, IPV6_HEADER_LEN);
    return err;
  }

  /** Tear down: drop held fragments, stop timers, forget path MTUs. */
  close(): void {
    this.reassembler.clear();
    this.pmtus.clear();
  }

  /** True for the multicast groups a host listens to: all-nodes, and the solicited-node group of an address of ours. */
  private acceptsGroup(dst: Ip6Addr, netif: Netif): boolean {
    // ff02::1 (link-local all-nodes); ff01::1 (interface-local) only on the loopback.
    if (dst.w1 === 0 && dst.w2 === 0 && dst.w3 === 1 && (dst.w0 === 0xff020000 || (dst.w0 === 0xff010000 && netif === this.loopback))) return true;
    // ff02::1:ffXX:XXXX (RFC 4291 §2.7.1), for neighbour solicitations.
    if (dst.w0 === 0xff020000 && dst.w1 === 0 && dst.w2 === 1 && dst.w3 >>> 24 === 0xff) {
      const low = dst.w3 & 0xffffff;
      if (netif !== this.loopback) return hasLow24(netif, low);
      for (const n of this.host.netifs) if (hasLow24(n, low)) return true;
    }
    return false;
  }

  /** The address at buf[off, off+16): a cached value when the same address came before, so steady traffic allocates nothing. */
  private addrAt(buf: Uint8Array, off: number): Ip6Addr {
    const w0 = rd32(buf, off);
    const w1 = rd32(buf, off + 4);
    const w2 = rd32(buf, off + 8);
    const w3 = rd32(buf, off + 12);
    let h = Math.imul(w3 ^ (w2 >>> 5) ^ (w1 << 3), 0x9e3779b1);
    h = Math.imul(h ^ w0 ^ (h >>> 15), 0x85ebca6b);
    const i = h >>> (32 - ADDR_CACHE_BITS);
    const c = this.addrCache[i];
    if (c !== undefined && c.w3 === w3 && c.w2 === w2 && c.w1 === w1 && c.w0 === w0) return c;
    const a = new Ip6Addr(w0, w1, w2, w3);
    this.addrCache[i] = a;
    return a;
  }

  private walkBuffer(): Uint8Array {
    if (this.walkBuf === null) this.walkBuf = new Uint8Array(IPV6_HEADER_LEN + 0xffff);
    return this.walkBuf;
  }

  /**
   * Count and drop a packet the extension header walk refused, sending the
   * Parameter Problem the walk asks for. `wb[wo]` is where it was walked.
   */
  private extDrop(p: Pbuf, code: WireErrorCode, wb: Uint8Array, wo: number): void {
    const x = this.x;
    const ext = this.ext;
    x.extHeaderDrops++;
    switch (code) {
      case WireErrorCode.PARAMETER_PROBLEM: {
        let reason: 'proterr' | 'opterr' = 'proterr';
        switch (ext.icmpCode) {
          case Icmpv6ParamProblem.UNRECOGNIZED_NEXT_HEADER:
            x.hbhNotFirst++;
            break;
          case Icmpv6ParamProblem.UNRECOGNIZED_OPTION:
            x.unknownOption++;
            reason = 'opterr';
            break;
          case Icmpv6ParamProblem.INCOMPLETE_HEADER_CHAIN:
            x.incompleteChain++;
            break;
          default:
            // Code 0 points at a routing header's type or at a Fragment header field.
            if (headerTypeAt(wb, wo, ext.icmpPointer - 2) === Ipv6NextHeader.ROUTING) {
              x.routingHeader++;
              if (wb[wo + ext.icmpPointer] === 0) x.routingType0++;
            } else {
              x.badFragmentHeader++;
            }
        }
        if (ext.sendIcmp) this.icmpErrors?.paramProblem(p, ext.icmpCode, ext.icmpPointer);
        return this.drop(p, reason);
      }
      case WireErrorCode.UNSUPPORTED:
        x.tooManyExt++;
        return this.drop(p, 'proterr');
      case WireErrorCode.BAD_LENGTH:
        x.malformedExt++;
        return this.drop(p, 'opterr');
      default:
        x.malformedExt++;
        return this.drop(p, 'lenerr');
    }
  }

  /** RFC 6437 flow label: a keyed hash of addresses, protocol and ports, never 0. */
  private flowLabelFor(src: Ip6Addr, dst: Ip6Addr, nh: number, ports: number): number {
    if (nh === this.lastNh && ports === this.lastPorts && this.lastSrc !== null && this.lastDst !== null && src.equals(this.lastSrc) && dst.equals(this.lastDst)) {
      return this.lastLabel;
    }
    const w = this.addressWords(src, dst);
    w[8] = nh;
    w[9] = ports;
    const h = halfSipHash24(this.fk0, this.fk1, w);
    let label = h & 0xfffff;
    if (label === 0) label = h >>> 12 || 1;
    this.lastSrc = src;
    this.lastDst = dst;
    this.lastNh = nh;
    this.lastPorts = ports;
    this.lastLabel = label;
    return label;
  }

  /**
   * Fragment Identification (RFC 7739 §5.3): F(src, dst) plus a counter
   * picked by G(src, dst), both from one keyed hash, so each destination
   * sees its own sequence starting at an unpredictable point.
   */
  private fragIdent(src: Ip6Addr, dst: Ip6Addr): number {
    const h = halfSipHash24(this.ik0, this.ik1, this.addressWords(src, dst), 32);
    const i = h >>> (32 - FRAG_BUCKET_BITS);
    const c = (this.fragCounters[i]! + 1) >>> 0;
    this.fragCounters[i] = c;
    return (h + c) >>> 0;
  }

  /** The reused word buffer with both addresses in words 0..7. */
  private addressWords(src: Ip6Addr, dst: Ip6Addr): Uint32Array {
    const w = this.words;
    w[0] = src.w0;
    w[1] = src.w1;
    w[2] = src.w2;
    w[3] = src.w3;
    w[4] = dst.w0;
    w[5] = dst.w1;
    w[6] = dst.w2;
    w[7] = dst.w3;
    return w;
  }

  private fail(reason: 'err' | 'rterr' | 'memerr', err: number): number {
    this.st[reason]++;
    this.st.drop++;
    return err;
  }

  private drop(p: Pbuf, reason: 'lenerr' | 'proterr' | 'opterr' | 'drop'): void {
    const st = this.st;
    if (reason !== 'drop') st[reason]++;
    st.drop++;
    p.free();
  }
}

function isExtHeader(nh: number): boolean {
  return nh === Ipv6NextHeader.HOPOPTS || nh === Ipv6NextHeader.ROUTING || nh === Ipv6NextHeader.FRAGMENT || nh === Ipv6NextHeader.DSTOPTS;
}

/** The type of the extension header starting `rel` bytes after the IPv6 header at b[o] (a chain the walker accepted up to there), or -1. */
function headerTypeAt(b: Uint8Array, o: number, rel: number): number {
  let nh = b[o + 6]!;
  let q = IPV6_HEADER_LEN;
  while (q < rel && isExtHeader(nh)) {
    const hl = nh === Ipv6NextHeader.FRAGMENT ? 8 : (b[o + q + 1]! + 1) << 3;
    nh = b[o + q]!;
    q += hl;
  }
  return q === rel ? nh : -1;
}

/** Offset of the Next Header byte after `count` extension headers the walker accepted (6 for none). */
function lastHeaderAt(b: Uint8Array, o: number, count: number): number {
  let nh = b[o + 6]!;
  let at = 6;
  let q = IPV6_HEADER_LEN;
  for (let i = 0; i < count; i++) {
    at = q;
    const hl = nh === Ipv6NextHeader.FRAGMENT ? 8 : (b[o + q + 1]! + 1) << 3;
    nh = b[o + q]!;
    q += hl;
  }
  return at;
}

function hasLow24(n: Netif, low: number): boolean {
  for (const a of n.addrs6) if ((a.w3 & 0xffffff) === low) return true;
  return false;
}

function asV6(a: IpAddr): Ip6Addr {
  return typeof a === 'number' ? Ip6Addr.v4Mapped(a) : a;
}

function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

