// The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
// Sums are one's complement sums of big-endian 16-bit words. Internally a
// sum is any non-negative integer below 2^53 (a JS number stays exact up
// to there); foldSum() reduces it to 16 bits with end-around carry. Because
// 2^16 ≡ 1 (mod 0xffff), folding is "mod 0xffff, but a non-zero sum folds to
// 0xffff rather than 0": foldSum(s) = s === 0 ? 0 : (s - 1) % 0xffff + 1.
// That identity is what makes the fast path cheap: a 32-bit word w adds
// (w >>> 16) + (w & 0xffff) ≡ w, so the loop simply adds whole words.
//
// Fast path (len >= WORD_PATH_MIN): the 4-byte-aligned middle of the region
// is read through one Uint32Array view on the same ArrayBuffer, 8 words per
// iteration, accumulated in a double. Host byte order does not matter
// (RFC 1071 §2(B)): on a little-endian host every word is byte-swapped, the
// sum of byte-swapped words is the byte-swap of the sum, so the middle is
// swapped once at the end. A middle that starts at an odd distance from
// `off` is itself "swapped" relative to the packet, so the two cancel.
// Short regions use a plain byte loop (creating the view costs ~40-50 ns).

/** Host byte order, detected once. */
export const HOST_IS_LITTLE_ENDIAN: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Regions shorter than this are summed with the byte loop. Measured on
 * Node 20 / x64 (bench/checksum.bench.ts and one-size-per-process runs):
 * the byte loop runs ~2.5 GB/s; the word loop runs ~9-10 GB/s at 1500 B
 * and ~13 GB/s at 64 KiB but pays ~40-45 ns per call for `buf.buffer` and
 * the Uint32Array view. They cross between 128 and 160 bytes.
 */
export const WORD_PATH_MIN = 144;

/** Words summed between folds: 2^20 words * 2^32 < 2^53 keeps the double exact. */
const CHUNK_WORDS = 1 << 20;

/**
 * Fold a non-negative integer sum (< 2^53) to 16 bits with end-around
 * carry. Equals `sum === 0 ? 0 : (sum - 1) % 0xffff + 1`, but with integer
 * shifts only (a double `%` is a slow library call): above 2^32 the high
 * and low 32-bit halves are added first, as 2^32 ≡ 1 (mod 0xffff).
 */
export function foldSum(sum: number): number {
  let x = sum;
  if (x > 0xffffffff) {
    const lo = x >>> 0;
    const hi = (x / 4294967296) >>> 0;
    x = (lo >>> 16) + (lo & 0xffff) + (hi >>> 16) + (hi & 0xffff);
  }
  x = (x >>> 16) + (x & 0xffff);
  return (x >>> 16) + (x & 0xffff);
}

/** Swap the two bytes of a 16-bit value. */
export function swap16(x: number): number {
  return ((x & 0xff) << 8) | (x >>> 8);
}

/**
 * Sum of bytes [i, e) read as big-endian pairs starting at i (odd trailing
 * byte is a high byte), unfolded: A*256 + B where A sums the bytes at even
 * distance from i and B the bytes at odd distance.
 */
function pairSum(b: Uint8Array, i: number, e: number): number {
  let hi = 0;
  let lo = 0;
  const e8 = i + ((e - i) & ~7);
  for (; i < e8; i += 8) {
    hi += b[i]! + b[i + 2]! + b[i + 4]! + b[i + 6]!;
    lo += b[i + 1]! + b[i + 3]! + b[i + 5]! + b[i + 7]!;
  }
  for (; i + 1 < e; i += 2) {
    hi += b[i]!;
    lo += b[i + 1]!;
  }
  if (i < e) hi += b[i]!;
  return hi * 256 + lo;
}

/** Unfolded sum of `n` host-order 32-bit words starting at byte `abs` (4-aligned) of `ab`. */
function wordSum(ab: ArrayBufferLike, abs: number, n: number): number {
  const u = new Uint32Array(ab, abs, n);
  let s = 0;
  let i = 0;
  while (i < n) {
    const end = n - i > CHUNK_WORDS ? i + CHUNK_WORDS : n;
    const end8 = i + ((end - i) & ~7);
    for (; i < end8; i += 8) {
      s += u[i]! + u[i + 1]! + (u[i + 2]! + u[i + 3]!) + (u[i + 4]! + u[i + 5]! + (u[i + 6]! + u[i + 7]!));
    }
    for (; i < end; i++) s += u[i]!;
    if (i < n) s = foldSum(s);
  }
  return s;
}

/**
 * One's complement sum of `buf[off, off+len)` as big-endian 16-bit words
 * (an odd trailing byte is padded with a zero low byte), plus `initial` (a
 * non-negative integer partial sum below 2^52), folded to 16 bits. Not inverted. Throws
 * RangeError if the region is not inside `buf`.
 */
export function onesSum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  if (!(off >= 0 && len >= 0 && off + len <= buf.length)) {
    throw new RangeError(`onesSum: range [${off}, ${off}+${len}) outside buffer of ${buf.length} bytes`);
  }
  if (len < WORD_PATH_MIN) return foldSum(pairSum(buf, off, off + len) + initial);
  const abs = buf.byteOffset + off;
  const head = -abs & 3;
  const n = (len - head) >>> 2;
  const headOdd = (head & 1) === 1;
  let mid = foldSum(wordSum(buf.buffer, abs + head, n));
  if (HOST_IS_LITTLE_ENDIAN !== headOdd) mid = swap16(mid);
  // Head (0..3 bytes) starts at even distance from off.
  let s = mid + initial;
  if (head !== 0) s += pairSum(buf, off, off + head);
  // Tail (0..3 bytes) starts at distance head + 4n: odd iff head is odd.
  const t = off + head + 4 * n;
  const e = off + len;
  if (t < e) {
    const ts = pairSum(buf, t, e);
    s += headOdd ? swap16(foldSum(ts)) : ts;
  }
  return foldSum(s);
}

/** ~fold(sum) & 0xffff: the value that goes into a checksum field. */
export function finishChecksum(sum: number): number {
  return ~foldSum(sum) & 0xffff;
}

/** The checksum of `buf[off, off+len)` (plus a partial sum `initial`), ready to store. */
export function internetChecksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return ~onesSum(buf, off, len, initial) & 0xffff;
}

/** Folded partial sum of the IPv4 pseudo-header for TCP/UDP (RFC 793, RFC 768). */
export function ipv4PseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return foldSum((src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + (protocol & 0xff) + (length & 0xffff));
}

/**
 * A piece of a byte chain: `buf[off, off+len)`, then `next`. pbuf chains
 * (src/pbuf) have these fields and satisfy this structurally.
 */
export interface ByteChain {
  buf: Uint8Array;
  off: number;
  len: number;
  next: ByteChain | null;
}

/**
 * onesSum over `len` bytes of a chain, starting `offset` bytes into it (len
 * defaults to everything after offset). Pieces may have any length, odd or
 * zero: a piece that starts at an odd distance from the start contributes
 * its byte-swapped sum (RFC 1071 §2(B)). Throws RangeError if the chain is
 * shorter than offset + len.
 */
export function chainOnesSum(chain: ByteChain, offset = 0, len?: number, initial = 0): number {
  let p: ByteChain | null = chain;
  let skip = offset;
  while (p !== null && skip > 0 && skip >= p.len) {
    skip -= p.len;
    p = p.next;
  }
  if (skip < 0 || (p === null && skip > 0)) throw new RangeError(`chainOnesSum: offset ${offset} beyond chain`);
  let remaining = len === undefined ? Infinity : len;
  if (!(remaining >= 0)) throw new RangeError(`chainOnesSum: bad length ${len}`);
  let s = 0;
  let odd = false;
  for (; p !== null && remaining > 0; p = p.next) {
    const avail = p.len - skip;
    const n = avail < remaining ? avail : remaining;
    if (n > 0) {
      const x = onesSum(p.buf, p.off + skip, n);
      s += odd ? swap16(x) : x;
      if ((n & 1) === 1) odd = !odd;
      remaining -= n;
    }
    skip = 0;
  }
  if (len !== undefined && remaining > 0) throw new RangeError(`chainOnesSum: chain shorter than offset ${offset} + length ${len}`);
  return foldSum(s + initial);
}

/** finishChecksum(chainOnesSum(...)). */
export function chainChecksum(chain: ByteChain, offset = 0, len?: number, initial = 0): number {
  return ~chainOnesSum(chain, offset, len, initial) & 0xffff;
}

/**
 * RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'): the checksum after one 16-bit
 * word covered by it changes from oldWord to newWord. Equal to a full
 * recomputation (over data with the checksum field zeroed) except when all
 * the covered data becomes zero (then 0 instead of 0xffff), which no real
 * IPv4/TCP/UDP/ICMP header can be. UDP callers: an old checksum of 0 means "none" (leave it),
 * and a result of 0 must be sent as 0xffff.
 */
export function checksumUpdate16(oldChecksum: number, oldWord: number, newWord: number): number {
  return ~foldSum((~oldChecksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)) & 0xffff;
}

/** checksumUpdate16 for a 32-bit field (an IPv4 address rewrite, NAT). */
export function checksumUpdate32(oldChecksum: number, oldU32: number, newU32: number): number {
  return (
    ~foldSum(
      (~oldChecksum & 0xffff) + ((~oldU32 >>> 16) & 0xffff) + (~oldU32 & 0xffff) + (newU32 >>> 16) + (newU32 & 0xffff),
    ) & 0xffff
  );
}
