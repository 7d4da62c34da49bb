// IPv6 packets and fragments for the reassembly6 / fragment6 tests.
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import type { Pbuf } from '../../src/pbuf/pbuf.ts';
import { PbufPool } from '../../src/pbuf/pool.ts';
import { Reassembler6, type Reassembly6Options } from '../../src/ip/reassembly6.ts';
import { VirtualClock } from '../../src/time/virtual-clock.ts';
import { parseIpv6Address } from '../../src/wire/address6.ts';
import { WireErrorCode } from '../../src/wire/error.ts';
import { newIpv6ExtResult, walkIpv6Ext, type Ipv6ExtResult } from '../../src/wire/ipv6-ext.ts';
import { emitIpv6, Ipv6NextHeader } from '../../src/wire/ipv6.ts';

export const SRC = parseIpv6Address('2001:db8::1')!;
export const DST = parseIpv6Address('2001:db8::2')!;
export const OTHER = parseIpv6Address('2001:db8::3')!;

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7 + (i >>> 8)) & 0xff;
  return out;
}

/** An 8-byte options header (hop-by-hop or destination options) with one PadN. */
export function optsHeader(nextHeader: number): Uint8Array {
  return Uint8Array.of(nextHeader, 0, 1, 4, 0, 0, 0, 0);
}

/** An 8-byte routing header with no segments left (type 4, skipped by the walker). */
export function routingHeader(nextHeader: number): Uint8Array {
  return Uint8Array.of(nextHeader, 0, 4, 0, 0, 0, 0, 0);
}

export interface Packet6Spec {
  src?: Uint8Array;
  dst?: Uint8Array;
  /** Next Header of the fixed header (the first extension header's type, or the upper layer). */
  nextHeader?: number;
  /** Extension headers, already chained. */
  ext?: Uint8Array;
}

/** A whole IPv6 packet: fixed header, `ext`, `payload`. */
export function packet6(payload: Uint8Array, spec: Packet6Spec = {}): Uint8Array {
  const ext = spec.ext ?? new Uint8Array(0);
  const out = new Uint8Array(40 + ext.length + payload.length);
  emitIpv6({ src: spec.src ?? SRC, dst: spec.dst ?? DST, nextHeader: spec.nextHeader ?? Ipv6NextHeader.UDP, payloadLen: ext.length + payload.length, hopLimit: 64, trafficClass: 0, flowLabel: 0 }, out, 0);
  out.set(ext, 40);
  out.set(payload, 40 + ext.length);
  return out;
}

export interface Frag6Spec {
  src?: Uint8Array;
  dst?: Uint8Array;
  ident?: number;
  /** Next Header inside the Fragment header. */
  nextHeader?: number;
}

/** A fragment with only the fixed header in front of the Fragment header. */
export function frag6(data: Uint8Array, offset: number, more: boolean, spec: Frag6Spec = {}): Uint8Array {
  const fh = new Uint8Array(8);
  const id = spec.ident ?? 0x1234;
  fh.set([spec.nextHeader ?? Ipv6NextHeader.UDP, 0, (offset >>> 8) & 0xff, (offset & 0xf8) | (more ? 1 : 0), id >>> 24, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]);
  const ext = new Uint8Array(8 + data.length);
  ext.set(fh, 0);
  ext.set(data, 8);
  return packet6(ext, { src: spec.src, dst: spec.dst, nextHeader: Ipv6NextHeader.FRAGMENT });
}

/** Cut `payload` into fragments of `size` bytes. */
export function cut(payload: Uint8Array, size: number, spec: Frag6Spec = {}): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < payload.length; off += size) {
    const end = Math.min(off + size, payload.length);
    out.push(frag6(payload.subarray(off, end), off, end < payload.length, spec));
  }
  return out;
}

/** The walker's result for a fragment it would refuse (8-byte rule, 65535): read the Fragment header at `fragAt` by hand. */
export function manualExt(bytes: Uint8Array, fragAt = 40): Ipv6ExtResult {
  const r = newIpv6ExtResult();
  r.hasFragment = true;
  r.fragHeaderOffset = fragAt;
  r.fragDataOffset = fragAt + 8;
  r.fragNextHeader = bytes[fragAt]!;
  r.fragOffset = ((bytes[fragAt + 2]! << 8) | bytes[fragAt + 3]!) & 0xfff8;
  r.moreFragments = (bytes[fragAt + 3]! & 1) !== 0;
  r.fragIdent = ((bytes[fragAt + 4]! << 24) | (bytes[fragAt + 5]! << 16) | (bytes[fragAt + 6]! << 8) | bytes[fragAt + 7]!) >>> 0;
  r.protocol = r.fragNextHeader;
  r.offset = fragAt + 8;
  return r;
}

export function setup(opts: Reassembly6Options = {}) {
  const clock = new VirtualClock();
  const pool = new PbufPool({ trackLive: true });
  const timeouts: { bytes: Uint8Array; code: number }[] = [];
  const r = new Reassembler6({ clock, timer: (cb, name) => clock.timer(cb, name) }, opts, (first, code) => {
    timeouts.push({ bytes: first.toBytes(), code });
  });
  const ext = newIpv6ExtResult();
  const done: Uint8Array[] = [];
  /** Walk and insert `bytes`; a completed packet is copied into `done` and freed. Returns it too. */
  const feed = (bytes: Uint8Array, manual?: Ipv6ExtResult): Uint8Array | null => {
    const p = pool.fromBytes(bytes)!;
    let e = manual;
    if (e === undefined) {
      expect(walkIpv6Ext(p.buf, p.off, p.len, ext)).toBe(WireErrorCode.OK);
      expect(ext.hasFragment).toBe(true);
      e = ext;
    } else {
      // Absolute offsets in the pbuf's block.
      e = { ...e, fragHeaderOffset: e.fragHeaderOffset + p.off, fragDataOffset: e.fragDataOffset + p.off, offset: e.offset + p.off };
    }
    return take(r.insert(p, e));
  };
  const take = (q: Pbuf | null): Uint8Array | null => {
    if (q === null) return null;
    const b = q.toBytes();
    q.free();
    done.push(b);
    return b;
  };
  return { clock, pool, r, feed, done, timeouts, ext, take };
}
