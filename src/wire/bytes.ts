// Big-endian field access with plain byte arithmetic (no DataView). No
// bounds checks: callers check lengths first.

export function readU16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

export function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** Throws RangeError unless [off, off+len) lies inside `buf` (a programming error, not a packet error). */
export function assertRange(buf: Uint8Array, off: number, len: number, what: string): void {
  if (!(off >= 0 && len >= 0 && off + len <= buf.length)) {
    throw new RangeError(`${what}: range [${off}, ${off}+${len}) outside buffer of ${buf.length} bytes`);
  }
}
