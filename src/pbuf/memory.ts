// Backing memory for RAM and POOL pbufs: power-of-two size classes with free
// lists, carved out of shared slabs, so steady-state traffic reuses blocks
// instead of allocating an ArrayBuffer per packet.

/** Smallest block handed out; smaller requests round up to it. */
export const MIN_BLOCK = 64;
/** Largest pooled block (64 KiB segment + header room fits). */
export const MAX_BLOCK = 128 * 1024;
/** Small classes are carved from slabs of this size; larger ones get one buffer each. */
const SLAB_BYTES = 64 * 1024;

const MIN_SHIFT = Math.log2(MIN_BLOCK);
const CLASS_COUNT = Math.log2(MAX_BLOCK) - MIN_SHIFT + 1;

/** Index of the smallest class that holds `size` bytes, or -1 if it is too large to pool. */
export function sizeClass(size: number): number {
  if (size <= MIN_BLOCK) return 0;
  if (size > MAX_BLOCK) return -1;
  // ceil(log2(size)) - MIN_SHIFT
  return 32 - Math.clz32(size - 1) - MIN_SHIFT;
}

export function classBytes(cls: number): number {
  return MIN_BLOCK << cls;
}

/** Bytes of the block that `get(size)` returns. */
export function blockBytesFor(size: number): number {
  const cls = sizeClass(size);
  return cls < 0 ? size : classBytes(cls);
}

export interface BlockStats {
  /** Bytes held in slabs and large buffers, in use or cached. */
  reservedBytes: number;
  /** Bytes sitting in free lists, ready for reuse. */
  cachedBytes: number;
  /** ArrayBuffers ever created: flat in steady state. */
  buffersCreated: number;
}

/**
 * Size-classed block allocator. Blocks are Uint8Array views of fixed size;
 * a freed block goes back to its class's free list. Large blocks beyond
 * `maxCachedLargeBytes` are dropped for the GC instead of cached.
 */
export class BlockAllocator {
  private readonly free: Uint8Array[][] = [];
  readonly stats: BlockStats = { reservedBytes: 0, cachedBytes: 0, buffersCreated: 0 };
  private largeCachedBytes = 0;

  constructor(private readonly maxCachedLargeBytes = 4 * 1024 * 1024) {
    for (let i = 0; i < CLASS_COUNT; i++) this.free.push([]);
  }

  /** A block of at least `size` bytes. Contents are not zeroed (like malloc). */
  get(size: number): Uint8Array {
    const cls = sizeClass(size);
    if (cls < 0) {
      // Beyond the largest class: exact-size, not cached.
      this.stats.buffersCreated++;
      this.stats.reservedBytes += size;
      return new Uint8Array(size);
    }
    const list = this.free[cls]!;
    let block = list.pop();
    if (block === undefined) {
      this.refill(cls, list);
      block = list.pop()!;
    }
    const n = block.byteLength;
    this.stats.cachedBytes -= n;
    if (n >= SLAB_BYTES) this.largeCachedBytes -= n;
    return block;
  }

  /** Return a block obtained from `get`. */
  put(block: Uint8Array): void {
    const n = block.byteLength;
    const cls = sizeClass(n);
    if (cls < 0 || classBytes(cls) !== n) {
      // Unpooled exact-size buffer: let the GC have it.
      this.stats.reservedBytes -= n;
      return;
    }
    if (n >= SLAB_BYTES) {
      if (this.largeCachedBytes + n > this.maxCachedLargeBytes) {
        this.stats.reservedBytes -= n;
        return;
      }
      this.largeCachedBytes += n;
    }
    this.stats.cachedBytes += n;
    this.free[cls]!.push(block);
  }

  /** Drop every cached large block (small slabs stay: their blocks may be live). */
  trim(): void {
    for (let cls = 0; cls < CLASS_COUNT; cls++) {
      const n = classBytes(cls);
      if (n < SLAB_BYTES) continue;
      const list = this.free[cls]!;
      this.stats.cachedBytes -= n * list.length;
      this.stats.reservedBytes -= n * list.length;
      list.length = 0;
    }
    this.largeCachedBytes = 0;
  }

  private refill(cls: number, list: Uint8Array[]): void {
    const n = classBytes(cls);
    const slabBytes = Math.max(n, SLAB_BYTES);
    const slab = new ArrayBuffer(slabBytes);
    this.stats.buffersCreated++;
    this.stats.reservedBytes += slabBytes;
    this.stats.cachedBytes += slabBytes;
    if (n >= SLAB_BYTES) this.largeCachedBytes += n;
    for (let off = slabBytes - n; off >= 0; off -= n) list.push(new Uint8Array(slab, off, n));
  }
}
