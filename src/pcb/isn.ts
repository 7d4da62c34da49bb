// Initial sequence numbers per RFC 6528 §3:
//
//   ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//
// M is a timer ticking every 4 µs (250 ticks per ms, wrapping at 2^32, so
// about every 4.77 hours) and F is a keyed pseudo-random function. Like the
// Linux kernel (secure_tcp_seq on 32-bit hosts) F is HalfSipHash-2-4, the
// 32-bit-word variant of SipHash by Aumasson and Bernstein, with a 64-bit
// key and 32-bit output. The key comes from the Stack's seeded Rng, so a
// simulation seed fixes every ISN; time is passed in, never read.

import { halfSipHash24 } from '../ip/halfsiphash.ts';
import type { Rng } from '../time/rng.ts';
import { tupleWords, type IpAddr } from '../wire/ipaddr.ts';

export { halfSipHash24 };

/**
 * HalfSipHash-2-4 (32-bit output) over a byte string; convenience for tests
 * and cold paths (it allocates the word array). Same result as the
 * reference `halfsiphash(in, inlen, k, out, 4)` with out read little-endian.
 */
export function halfSipHash24Bytes(k0: number, k1: number, bytes: Uint8Array): number {
  const words = new Uint32Array((bytes.length + 3) >>> 2);
  for (let i = 0; i < bytes.length; i++) words[i >>> 2]! |= bytes[i]! << ((i & 3) * 8);
  return halfSipHash24(k0, k1, words, bytes.length);
}

/** RFC 6528's M: the 4-µs clock, floor(nowMs * 250) modulo 2^32. */
export function isnClock(nowMs: number): number {
  // ToUint32 of an integer-valued double is its exact value modulo 2^32.
  return Math.floor(nowMs * 250) >>> 0;
}

/** RFC 6528 ISN generator with a per-instance (per-Stack) secret key. */
export class IsnGenerator {
  private readonly k0: number;
  private readonly k1: number;
  /** Reused message buffer: the 4-tuple as 3 (IPv4) or 9 (IPv6) words, no per-call allocation. */
  private readonly msg = new Uint32Array(10);
  /** Key of IPv6 flow labels (RFC 6437), derived like the timestamp key. */
  private readonly f0: number;
  private readonly f1: number;

  /** Key of the timestamp offsets, derived from the ISN key by the PRF itself. */
  private readonly t0: number;
  private readonly t1: number;

  /** Draws the 64-bit secret key from `rng` (two u32: k0 then k1). */
  constructor(rng: Rng) {
    this.k0 = rng.u32();
    this.k1 = rng.u32();
    this.t0 = halfSipHash24(this.k0, this.k1, [0x54534f30]); // "TSO0"
    this.t1 = halfSipHash24(this.k0, this.k1, [0x54534f31]); // "TSO1"
    this.f0 = halfSipHash24(this.k0, this.k1, [0x464c4f30]); // "FLO0"
    this.f1 = halfSipHash24(this.k0, this.k1, [0x464c4f31]); // "FLO1"
  }

  /**
   * The offset added to our TSval clock on one connection (RFC 7323 §7.1:
   * RFC 6528's function with another secret key). Random across 4-tuples
   * but the same for every incarnation of one 4-tuple, so a new incarnation
   * sends higher timestamps than the old and the peer's TIME_WAIT lets it
   * in (RFC 6191).
   */
  tsOffset(localIp: IpAddr, localPort: number, remoteIp: IpAddr, remotePort: number): number {
    const n = tupleWords(this.msg, localIp, localPort, remoteIp, remotePort);
    return halfSipHash24(this.t0, this.t1, this.msg, n * 4);
  }

  /**
   * The RFC 6437 flow label of a connection's IPv6 packets: a keyed hash of
   * the 4-tuple, 20 bits, never 0; 0 for IPv4 (which has none).
   */
  flowLabel(localIp: IpAddr, localPort: number, remoteIp: IpAddr, remotePort: number): number {
    if (typeof remoteIp === 'number') return 0;
    const n = tupleWords(this.msg, localIp, localPort, remoteIp, remotePort);
    return halfSipHash24(this.f0, this.f1, this.msg, n * 4) & 0xfffff || 1;
  }

  /**
   * A 64-bit key for another keyed function of the stack (SYN cookies),
   * derived from the ISN key by the PRF: no extra draws from the Rng, so
   * adding a consumer does not change any other random choice.
   */
  deriveKey(label: number): [number, number] {
    return [halfSipHash24(this.k0, this.k1, [label, 0]), halfSipHash24(this.k0, this.k1, [label, 1])];
  }

  /**
   * The ISN for a connection from localIp:localPort to remoteIp:remotePort
   * at time `nowMs`: unsigned 32-bit. The hashed message is the tuple's
   * words (tupleWords: both full addresses, then localPort << 16 | remotePort).
   */
  isn(localIp: IpAddr, localPort: number, remoteIp: IpAddr, remotePort: number, nowMs: number): number {
    const n = tupleWords(this.msg, localIp, localPort, remoteIp, remotePort);
    return (isnClock(nowMs) + halfSipHash24(this.k0, this.k1, this.msg, n * 4)) >>> 0;
  }
}
