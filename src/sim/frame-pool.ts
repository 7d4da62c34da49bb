// Reusable frame buffers for simulated links. A frame on the wire used to
// be a fresh Uint8Array per packet (allocated and zero-filled, then garbage
// once the receiver had copied it into a pbuf); the simulator now takes one
// from here and gives it back after delivery. Frames are pooled by exact
// length: a bulk transfer uses a handful of sizes (full segments, ACKs).
export class FramePool {
  private readonly free = new Map<number, Uint8Array[]>();
  /** Frames handed out that came from the pool / were newly allocated. */
  readonly stats = { reused: 0, allocated: 0 };

  constructor(private readonly maxPerSize = 256) {}

  /** A frame of exactly `len` bytes; its contents are whatever was there before. */
  take(len: number): Uint8Array {
    const list = this.free.get(len);
    const f = list?.pop();
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
    let list = this.free.get(frame.length);
    if (list === undefined) {
      list = [];
      this.free.set(frame.length, list);
    }
    if (list.length < this.maxPerSize) list.push(frame);
  }
}
