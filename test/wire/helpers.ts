// Shared test helpers for the wire layer: a reference checksum and ways to
// place bytes inside larger buffers.
import { Rng } from '../../src/time/rng.ts';

export { Rng };

/** The obvious RFC 1071 loop: big-endian byte pairs, end-around carry. */
export function refOnesSum(b: Uint8Array, off: number, len: number, initial = 0): number {
  let s = initial;
  let i = off;
  const e = off + len;
  for (; i + 1 < e; i += 2) {
    s += (b[i]! << 8) | b[i + 1]!;
    if (s > 0xffffffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  }
  if (i < e) s += b[i]! << 8;
  while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  return s;
}

export function refChecksum(b: Uint8Array, off = 0, len = b.length - off, initial = 0): number {
  return ~refOnesSum(b, off, len, initial) & 0xffff;
}

export function hex(s: string): Uint8Array {
  const clean = s.replace(/[^0-9a-fA-F]/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/**
 * `bytes` copied into the middle of a larger ArrayBuffer filled with
 * `sentinel`, at byteOffset `at`; returns the Uint8Array of the whole
 * buffer and the offset of the copy.
 */
export function embed(bytes: Uint8Array, at: number, sentinel: number, slack = 64): { buf: Uint8Array; off: number } {
  const ab = new ArrayBuffer(at + bytes.length + slack);
  const all = new Uint8Array(ab).fill(sentinel);
  all.set(bytes, at);
  // A subarray view that starts before the copy and ends after it, with a
  // non-zero byteOffset of its own.
  const view = new Uint8Array(ab, 3, ab.byteLength - 3);
  return { buf: view, off: at - 3 };
}
