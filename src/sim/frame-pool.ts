// Reusable frame buffers for simulated links. A frame on the wire used to
// be a fresh Uint8Array per packet (allocated and zero-filled, then garbage
// once the receiver had copied it into a pbuf); the simulator now takes one
// from here and gives it back after delivery. Frames are pooled by exact
// length: a bulk transfer uses a handful of sizes (full segments, ACKs).
/** Frames longer than this are left to the GC (the largest a link carries: 64 KiB of IPv6 payload and its header). */
const MAX_POOLED = 65535 + 40;

export class FramePool {
  /** Free frames by length: an array index is cheaper than a Map lookup per frame (lengths are at most 64 KiB or so). */
  private readonly free: (Uint8Array[] | undefined)[] = [];
  /** Frames handed out that came from the pool / were newly allocated. */
  readonly stats = { reused: 0, allocated: 0 };

  constructor(private readonly maxPerSize = 256) {}

  /** A frame of exactly `len` bytes; its contents are whatever was there before. */
  take(len: number): Uint8Array {
    const list = this.free[len];
    const f = list === undefined ? undefined : list.pop();
    if (f !== undefined) {
      this.stats.reused++;
      return f;
    }
    this.stats.allocated++;
    return new Uint8Array(len);
  }

  /** Give back a frame no one refers to any more (the link owned it; the receiver copied it). */
  give(frame: Uint8Array): void {
    // Only whole buffers: a view into something larger may be shared.
    if (frame.byteOffset !== 0 || frame.byteLength !== frame.buffer.byteLength) return;
    const len = frame.length;
    if (len > MAX_POOLED) return;
    let list = this.free[len];
    if (list === undefined) {
      list = [];
      while (this.free.length < len) this.free.push(undefined); // stays a packed array
      this.free[len] = list;
    }
    if (list.length < this.maxPerSize) list.push(frame);
  }
}
