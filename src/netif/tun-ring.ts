// The JavaScript end of the TUN transmit ring (native/tun/tun.cc, "The
// transmit ring"): memory the addon owns, handed over once as an external
// ArrayBuffer. A control area of 32-bit words (indices in RingLayout), then
// `cap` bytes of records: a little-endian u32 length, the packet (vnet
// header included when the device has one), padding to 8 bytes; the
// length 0xFFFFFFFF means "go on at 0". head and tail count bytes modulo
// 2^32. This side alone writes head, the native thread alone writes tail.
//
// Publishing is one Atomics.store of head per burst of packets (see
// commit); the N-API is called only to wake the thread when it said it
// sleeps (kick), to write a burst of one or two packets that finds it
// asleep (txInline), and to wait while the ring is full (txWait).

/** Word indices of the control area, as the addon exports them (TX_RING). */
export interface RingLayout {
  ctrlBytes: number;
  head: number;
  tail: number;
  sleeping: number;
  want: number;
  drops: number;
  fatal: number;
  packets: number;
  lastErrno: number;
  wakeups: number;
}

interface RingDevice {
  startTx?(o: { ringBytes: number; spinUs: number }): ArrayBuffer;
  kick?(): void;
  txWait?(freeBytes: number, timeoutMs: number): number;
  txInline?(): void;
}

const WRAP = 0xffffffff;
const RESOLVED = Promise.resolve();

export class TxRing {
  /** The record area (offsets returned by reserve are into this). */
  readonly data: Uint8Array;
  /** A DataView over `data` (same offsets). */
  readonly view: DataView;
  private readonly u32: Uint32Array;
  private readonly ctrl: Int32Array;
  private readonly cap: number;
  private readonly mask: number;
  /** Bytes published plus the record being built (modulo 2^32). */
  private head = 0;
  /** Position and size of the record reserve() handed out. */
  private pendingPos = -1;
  private pendingLen = 0;
  private lastDrops = 0;

  private constructor(
    private readonly dev: RingDevice,
    private readonly L: RingLayout,
    mem: ArrayBuffer,
  ) {
    this.cap = mem.byteLength - L.ctrlBytes;
    this.mask = this.cap - 1;
    this.ctrl = new Int32Array(mem, 0, L.ctrlBytes / 4);
    this.data = new Uint8Array(mem, L.ctrlBytes, this.cap);
    this.view = new DataView(mem, L.ctrlBytes, this.cap);
    this.u32 = new Uint32Array(mem, L.ctrlBytes, this.cap / 4);
    this.head = Atomics.load(this.ctrl, L.head) >>> 0;
    this.published = this.head;
    this.inline = typeof dev.txInline === 'function';
  }

  /** Start the device's transmit thread; throws when the addon has none. */
  static start(dev: RingDevice, layout: RingLayout | undefined, o: { ringBytes: number; spinUs: number }): TxRing {
    if (layout === undefined || typeof dev.startTx !== 'function') {
      throw new Error('txThread needs a TUN addon with a transmit thread: rebuild it (npm rebuild tsip, or npm ci in a checkout)');
    }
    return new TxRing(dev, layout, dev.startTx(o));
  }

  /**
   * Room for a record of `len` bytes: its offset in `data`, or -1 when the
   * ring is full (nothing changed then). Call commit() before the next reserve.
   */
  reserve(len: number): number {
    const rec = (4 + len + 7) & ~7;
    const tail = Atomics.load(this.ctrl, this.L.tail) >>> 0;
    const used = (this.head - tail) >>> 0;
    let pos = this.head & this.mask;
    const skip = pos + rec > this.cap ? this.cap - pos : 0;
    if (used + skip + rec > this.cap) return -1;
    if (skip !== 0) {
      this.u32[pos >>> 2] = WRAP;
      this.head = (this.head + skip) >>> 0;
      pos = 0;
    }
    this.pendingPos = pos;
    this.pendingLen = len;
    return pos + 4;
  }

  /**
   * Finish the reserved record. It is published (visible to the thread)
   * once publishBytes are waiting or at the end of the current JavaScript
   * task (a microtask), whichever comes first: one store of head, and
   * one cache line crossing to the thread, per burst rather than per packet.
   * `mark`: bits ORed into the record's length word (the addon's
   * TX_CSUM_NEEDED: complete the TCP checksum before the write).
   */
  commit(mark = 0): void {
    const pos = this.pendingPos;
    this.u32[pos >>> 2] = (this.pendingLen | mark) >>> 0;
    this.head = (this.head + ((4 + this.pendingLen + 7) & ~7)) >>> 0;
    this.pendingPos = -1;
    this.pendingRecords++;
    if (((this.head - this.published) >>> 0) >= this.publishBytes) this.publish();
    else if (!this.flushQueued) {
      this.flushQueued = true;
      // A plain promise reaction: Node's queueMicrotask wraps each callback
      // in an async resource (an allocation and a scope per packet burst).
      RESOLVED.then(this.flush);
    }
  }

  /**
   * Make every committed record visible to the thread, waking it if it
   * sleeps. A burst of at most inlineRecords records (and inlineBytes)
   * that finds the thread asleep is written here instead (txInline, the
   * thread held asleep): for a packet or two, waking a thread costs more
   * than the write, and a request/response exchange keeps the latency of
   * a direct write.
   */
  publish(): void {
    if (this.head === this.published) return;
    const records = this.pendingRecords;
    const bytes = (this.head - this.published) >>> 0;
    this.pendingRecords = 0;
    this.published = this.head;
    const c = this.ctrl;
    const L = this.L;
    if (records <= this.inlineRecords && bytes <= this.inlineBytes && this.inline && Atomics.compareExchange(c, L.sleeping, 1, 2) === 1) {
      Atomics.store(c, L.head, this.head | 0);
      this.dev.txInline!();
      Atomics.store(c, L.sleeping, 1);
      this.inlined += records;
      return;
    }
    Atomics.store(c, L.head, this.head | 0);
    if (Atomics.load(c, L.sleeping) === 1 && Atomics.compareExchange(c, L.sleeping, 1, 0) === 1) {
      this.dev.kick!();
      this.kicks++;
    }
  }

  /** Bursts of at most this many records that find the thread asleep are written inline (default 2; 0: never)... */
  inlineRecords = 2;
  /** ...when they hold at most this many bytes (ring format included): a 64 KiB super-segment goes to the thread. */
  inlineBytes = 4096;
  /** Records written inline so far. */
  inlined = 0;
  private pendingRecords = 0;
  private readonly inline: boolean;

  /** Bytes committed but not yet published at which commit() publishes at once. */
  publishBytes = 16 * 1024;
  /** Times publish() woke the thread. */
  kicks = 0;
  /** Called after every microtask flush (the device syncs its counters). */
  onFlush: (() => void) | null = null;
  private published = 0;
  private flushQueued = false;
  private readonly flush = (): void => {
    this.flushQueued = false;
    this.publish();
    this.onFlush?.();
  };

  /**
   * Block until at least max(len + record overhead + wrap slack, a quarter
   * of the ring) is free, the thread stopped, or timeoutMs passed.
   */
  waitFree(len: number, timeoutMs: number): void {
    const need = Math.min(this.cap, Math.max(2 * ((4 + len + 7) & ~7), this.cap >>> 2));
    this.publish();
    this.dev.txWait!(need, timeoutMs);
  }

  /** Packets the kernel refused so far. */
  drops(): number {
    return Atomics.load(this.ctrl, this.L.drops) >>> 0;
  }

  /** The errno that stopped the thread, or 0. */
  fatal(): number {
    return Atomics.load(this.ctrl, this.L.fatal) >>> 0;
  }

  /** Cheap check after a commit: did the thread count a drop or stop? */
  dropsOrFatalChanged(): boolean {
    const d = Atomics.load(this.ctrl, this.L.drops);
    if (d !== this.lastDrops) {
      this.lastDrops = d;
      return true;
    }
    return Atomics.load(this.ctrl, this.L.fatal) !== 0;
  }

  /** The thread's own counters (for tests and benchmarks). */
  stats(): { packets: number; wakeups: number; lastErrno: number; queuedBytes: number } {
    const c = this.ctrl;
    return {
      packets: Atomics.load(c, this.L.packets) >>> 0,
      wakeups: Atomics.load(c, this.L.wakeups) >>> 0,
      lastErrno: Atomics.load(c, this.L.lastErrno) >>> 0,
      queuedBytes: (this.head - (Atomics.load(c, this.L.tail) >>> 0)) >>> 0,
    };
  }
}
