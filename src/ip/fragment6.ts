// IPv6 fragmentation at the source (RFC 8200 §4.5): the unfragmentable part
// (fixed header, hop-by-hop, and destination options + routing headers up
// to the last routing header) is copied in front of every fragment, then a
// Fragment header, then a slice of the rest. Unlike IPv4's fragment.ts the
// data is not copied: each fragment shows it through PbufPool.slice, since
// IPv6 fragments are built only by the source and may be large.
import { Err } from '../err.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import { PbufType } from '../pbuf/pbuf.ts';
import { PbufLayer, PbufUse, type PbufPool } from '../pbuf/pool.ts';
import { emitIpv6Fragment, IPV6_FRAG_HEADER_LEN } from '../wire/ipv6-ext.ts';
import { IPV6_HEADER_LEN, IPV6_MIN_MTU, Ipv6NextHeader } from '../wire/ipv6.ts';

const repr = { nextHeader: 0, fragOffset: 0, moreFragments: false, ident: 0 };

/**
 * Length of the unfragmentable part of the packet at the front of `p`'s
 * first piece (RFC 8200 §4.5): through the hop-by-hop header and the last
 * routing header, destination options before a routing header included.
 * Also the offset of the Next Header byte naming what follows. -1 when the
 * headers run past the first piece.
 */
export function ipv6Unfragmentable(p: Pbuf, out: { len: number; nhAt: number }): number {
  const b = p.buf;
  const o = p.off;
  if (p.len < IPV6_HEADER_LEN) return -1;
  let nh = b[o + 6]!;
  let q = IPV6_HEADER_LEN;
  out.len = IPV6_HEADER_LEN;
  out.nhAt = 6;
  while (nh === Ipv6NextHeader.HOPOPTS || nh === Ipv6NextHeader.DSTOPTS || nh === Ipv6NextHeader.ROUTING) {
    if (q + 2 > p.len) return -1;
    const hl = (b[o + q + 1]! + 1) << 3;
    if (q + hl > p.len) return -1;
    if (nh !== Ipv6NextHeader.DSTOPTS) {
      out.len = q + hl;
      out.nhAt = q;
    }
    nh = b[o + q]!;
    q += hl;
  }
  return out.len;
}

const unfrag = { len: 0, nhAt: 0 };

/**
 * Cut the IPv6 packet `p` (fixed header first, its unfragmentable headers in
 * the first piece) into fragments of at most `mtu` bytes (mtu ≥ 1280) with
 * identification `ident`, and hand each to `emit` in offset order. `emit`
 * does not take ownership of the fragment (as netif.output in fragment.ts);
 * it returns an Err, and a non-OK one stops the cutting. Does not take
 * ownership of `p`. Returns Err.OK, Err.VAL (bad MTU or headers, or a
 * packet that already fits: RFC 8021 deprecates atomic fragments), Err.MEM,
 * or emit's error.
 */
export function fragmentIpv6(pool: PbufPool, p: Pbuf, mtu: number, ident: number, emit: (f: Pbuf) => number): number {
  if (!Number.isInteger(mtu) || mtu < IPV6_MIN_MTU) return Err.VAL;
  if (p.totLen <= mtu) return Err.VAL;
  const hl = ipv6Unfragmentable(p, unfrag);
  if (hl < 0) return Err.VAL;
  const nhAt = unfrag.nhAt;
  const restLen = p.totLen - hl;
  // Data per fragment: what fits after the headers, rounded down to 8 (§4.5).
  const chunk = ((mtu - hl - IPV6_FRAG_HEADER_LEN) >> 3) << 3;
  if (chunk <= 0 || restLen <= 0) return Err.VAL;
  repr.nextHeader = p.buf[p.off + nhAt]!;
  repr.ident = ident >>> 0;
  for (let off = 0; off < restLen; off += chunk) {
    const n = Math.min(chunk, restLen - off);
    const h = pool.alloc(PbufLayer.LINK, hl + IPV6_FRAG_HEADER_LEN, PbufType.RAM, PbufUse.CONTROL);
    if (h === null) return Err.MEM;
    const data = pool.slice(p, hl + off, n, PbufUse.CONTROL);
    if (data === null) {
      h.free();
      return Err.MEM;
    }
    const b = h.buf;
    const o = h.off;
    b.set(p.buf.subarray(p.off, p.off + hl), o);
    b[o + nhAt] = Ipv6NextHeader.FRAGMENT;
    const pl = hl - IPV6_HEADER_LEN + IPV6_FRAG_HEADER_LEN + n;
    b[o + 4] = pl >>> 8;
    b[o + 5] = pl & 0xff;
    repr.fragOffset = off;
    repr.moreFragments = off + n < restLen;
    emitIpv6Fragment(repr, b, o + hl);
    h.cat(data);
    const err = emit(h);
    h.free();
    if (err !== Err.OK) return err;
  }
  return Err.OK;
}
