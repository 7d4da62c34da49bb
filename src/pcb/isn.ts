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

import type { Rng } from '../time/rng.ts';

/** HalfSipHash initialisation constants ("lyge", "tedb"). */
const IV2 = 0x6c796765;
const IV3 = 0x74656462;

/**
 * HalfSipHash-2-4 with 32-bit output over a message given as little-endian
 * 32-bit words, as the reference reads it (word i = bytes 4i..4i+3, byte 4i
 * in the low bits). `byteLength` (default `words.length * 4`) may end inside
 * the last word: only its low `byteLength % 4` bytes are hashed. The key is
 * the 8 key bytes read as two little-endian words k0 (bytes 0..3) and k1
 * (bytes 4..7). Returns an unsigned 32-bit number: the 4 output bytes of
 * the reference, read little-endian. Allocation-free.
 */
export function halfSipHash24(k0: number, k1: number, words: ArrayLike<number>, byteLength: number = words.length * 4): number {
  if (!(byteLength >= 0 && byteLength <= words.length * 4 && Number.isInteger(byteLength))) {
    throw new RangeError(`halfSipHash24: byteLength ${byteLength} out of range for ${words.length} words`);
  }
  // State as int32: add/xor/rotate give the same bits as uint32.
  let v0 = k0 | 0;
  let v1 = k1 | 0;
  let v2 = IV2 ^ k0;
  let v3 = IV3 ^ k1;

  const full = byteLength >>> 2;
  // The final block: the length in the top byte, the tail bytes below it.
  let b = byteLength << 24;
  const left = byteLength & 3;
  if (left !== 0) b |= words[full]! & ((1 << (left * 8)) - 1);

  for (let i = 0; i <= full; i++) {
    const m = i < full ? words[i]! | 0 : b;
    v3 ^= m;
    for (let r = 0; r < 2; r++) {
      v0 = (v0 + v1) | 0; v1 = (v1 << 5) | (v1 >>> 27); v1 ^= v0; v0 = (v0 << 16) | (v0 >>> 16);
      v2 = (v2 + v3) | 0; v3 = (v3 << 8) | (v3 >>> 24); v3 ^= v2;
      v0 = (v0 + v3) | 0; v3 = (v3 << 7) | (v3 >>> 25); v3 ^= v0;
      v2 = (v2 + v1) | 0; v1 = (v1 << 13) | (v1 >>> 19); v1 ^= v2; v2 = (v2 << 16) | (v2 >>> 16);
    }
    v0 ^= m;
  }

  v2 ^= 0xff;
  for (let r = 0; r < 4; r++) {
    v0 = (v0 + v1) | 0; v1 = (v1 << 5) | (v1 >>> 27); v1 ^= v0; v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0; v3 = (v3 << 8) | (v3 >>> 24); v3 ^= v2;
    v0 = (v0 + v3) | 0; v3 = (v3 << 7) | (v3 >>> 25); v3 ^= v0;
    v2 = (v2 + v1) | 0; v1 = (v1 << 13) | (v1 >>> 19); v1 ^= v2; v2 = (v2 << 16) | (v2 >>> 16);
  }
  return (v1 ^ v3) >>> 0;
}

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
  /** Reused message buffer: the 4-tuple as three words, no per-call allocation. */
  private readonly msg = new Uint32Array(3);

  /** Key of the timestamp offsets, derived from the ISN key by the PRF itself. */
  private readonly t0: number;
  private readonly t1: number;

  /** Draws the 64-bit secret key from `rng` (two u32: k0 then k1). */
  constructor(rng: Rng) {
    this.k0 = rng.u32();
    this.k1 = rng.u32();
    this.t0 = halfSipHash24(this.k0, this.k1, [0x54534f30]); // "TSO0"
    this.t1 = halfSipHash24(this.k0, this.k1, [0x54534f31]); // "TSO1"
  }

  /**
   * The offset added to our TSval clock on one connection (RFC 7323 §7.1:
   * RFC 6528's function with another secret key). Random across 4-tuples
   * but the same for every incarnation of one 4-tuple, so a new incarnation
   * sends higher timestamps than the old and the peer's TIME_WAIT lets it
   * in (RFC 6191).
   */
  tsOffset(localIp: number, localPort: number, remoteIp: number, remotePort: number): number {
    const msg = this.msg;
    msg[0] = localIp;
    msg[1] = remoteIp;
    msg[2] = ((localPort & 0xffff) << 16) | (remotePort & 0xffff);
    return halfSipHash24(this.t0, this.t1, msg, 12);
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
   * (IPv4 addresses as u32, ports as u16) at time `nowMs`: unsigned 32-bit.
   * The hashed message is [localIp, remoteIp, localPort << 16 | remotePort].
   */
  isn(localIp: number, localPort: number, remoteIp: number, remotePort: number, nowMs: number): number {
    const msg = this.msg;
    msg[0] = localIp;
    msg[1] = remoteIp;
    msg[2] = ((localPort & 0xffff) << 16) | (remotePort & 0xffff);
    return (isnClock(nowMs) + halfSipHash24(this.k0, this.k1, msg, 12)) >>> 0;
  }
}
