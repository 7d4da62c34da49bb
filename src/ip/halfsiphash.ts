// HalfSipHash-2-4 (Aumasson and Bernstein), the 32-bit-word SipHash with a
// 64-bit key and 32-bit output that Linux uses for ISNs and IP IDs: a keyed
// PRF cheap enough for every datagram. It lives in ip/ so that both the IP
// layer (ident.ts) and TCP above it (pcb/isn.ts, which has its own copy
// today) can use it without breaking the layering.

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
