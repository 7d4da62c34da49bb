// Joining received chunks into one buffer (recv loops, WebSocket messages).

/** The chunks of `parts` (`total` bytes in all) as one buffer; a single chunk is returned as is. */
export function concatChunks(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
