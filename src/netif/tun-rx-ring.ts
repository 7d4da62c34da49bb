// The JavaScript end of the TUN receive ring (native/tun/tun.cc, "The
// receive ring"): memory the addon owns, handed over once as an external
// ArrayBuffer, in the transmit ring's format (tun-ring.ts) the other way
// round: a native thread reads packets into records and publishes them by
// moving head (one store per burst); this side reads them in place and
// moves tail. No N-API call per packet or per batch: the addon calls back
// (uv_async) only when this side said it is idle (JS_IDLE), and this side
// calls it only to wake the thread when it waits for room (rxKick) and to
// take reading back when the thread handed it over (rxInline).

/** Word indices of the control area, as the addon exports them (RX_RING). */
export interface RxRingLayout {
  ctrlBytes: number;
  head: number;
  tail: number;
  jsIdle: number;
  mode: number;
  roomWait: number;
  fatal: number;
  packets: number;
  wakeups: number;
  full: number;
  engages: number;
  handbacks: number;
  /** Segments the thread merged into the one before (receive coalescing); absent in an older addon. */
  coalesced?: number;
  /** The MODE value "the thread stopped reading, take over". */
  handback: number;
}

interface RxRingDevice {
  startRx?(o: RxStartOptions, onRx: () => void): ArrayBuffer;
  rxKick?(): void;
  rxInline?(): void;
}

/** What the receive thread is started with (the addon's startRx). */
export interface RxStartOptions {
  ringBytes: number;
  engage: number;
  idleWakes: number;
  /** Merge in-order runs of one connection's TCP segments into one packet (native/tun/gro.h). */
  coalesce: boolean;
}

export interface RxThreadStats {
  /** Packets the thread read into the ring. */
  packets: number;
  /** uv_async wake-ups it sent to an idle JavaScript thread. */
  wakeups: number;
  /** Times it found the ring full and stopped reading until there was room. */
  fullStalls: number;
  /** Times a backlog handed reading to the thread, and times it handed it back. */
  engages: number;
  handbacks: number;
  /** TCP segments merged into the one before them (receive coalescing): packets read = records handed over + coalesced. */
  coalesced: number;
  /** Bytes published and not yet consumed. */
  queuedBytes: number;
  /** Who reads now: 'inline' (the JavaScript thread), 'thread', 'handback' (the thread stopped, JavaScript takes over), 'stopped'. */
  mode: string;
  /** Whether the JavaScript side said it is idle (wake it). */
  jsIdle: boolean;
}

const WRAP = 0xffffffff;
/** A record's length word: the length in the low 24 bits, bit 24 "checksum found right" (native/tun/tun.cc RX_CSUM_OK), bit 25 "merged from two or more segments" (RX_COALESCED). */
export const LEN_MASK = 0xffffff;
export const RX_CSUM_OK = 0x1000000;
export const RX_COALESCED = 0x2000000;

export class RxRing {
  /** The record area (offsets returned by next() are into this). */
  readonly data: Uint8Array;
  /** Length of the packet next() returned last. */
  len = 0;
  /** Whether the thread found that packet's TCP/UDP checksum right (RX_CSUM_OK: receive checksum offload). */
  csumOk = false;
  /** Whether the thread merged that packet from two or more TCP segments (RX_COALESCED). */
  merged = false;
  /** Times this side woke the thread waiting for room. */
  kicks = 0;
  private readonly u32: Uint32Array;
  private readonly ctrl: Int32Array;
  private readonly cap: number;
  private readonly mask: number;
  /** Bytes consumed here (published to the thread by release()). */
  private tail: number;
  /** The head last read from the control area. */
  private head: number;

  private constructor(
    private readonly dev: RxRingDevice,
    private readonly L: RxRingLayout,
    mem: ArrayBuffer,
  ) {
    this.cap = mem.byteLength - L.ctrlBytes;
    this.mask = this.cap - 1;
    this.ctrl = new Int32Array(mem, 0, L.ctrlBytes / 4);
    this.data = new Uint8Array(mem, L.ctrlBytes, this.cap);
    this.u32 = new Uint32Array(mem, L.ctrlBytes, this.cap / 4);
    this.tail = Atomics.load(this.ctrl, L.tail) >>> 0;
    this.head = this.tail;
  }

  /** Start the device's receive thread (after dev.start()); throws when the addon has none. */
  static start(dev: RxRingDevice, layout: RxRingLayout | undefined, o: RxStartOptions, onRx: () => void): RxRing {
    if (layout === undefined || typeof dev.startRx !== 'function') {
      throw new Error('rxThread needs a TUN addon with a receive thread: rebuild it (npm rebuild tsip, or npm ci in a checkout)');
    }
    return new RxRing(dev, layout, dev.startRx(o, onRx));
  }

  /**
   * The offset in `data` of the next published packet (its length in
   * `len`), or -1 when there is none. It stays valid until release().
   */
  next(): number {
    for (;;) {
      if (this.tail === this.head) {
        this.head = Atomics.load(this.ctrl, this.L.head) >>> 0;
        if (this.tail === this.head) return -1;
      }
      const pos = this.tail & this.mask;
      const word = this.u32[pos >>> 2]!;
      if (word === WRAP) {
        this.tail = (this.tail + this.cap - pos) >>> 0;
        continue;
      }
      const len = word & LEN_MASK;
      this.len = len;
      this.csumOk = (word & RX_CSUM_OK) !== 0;
      this.merged = (word & RX_COALESCED) !== 0;
      this.tail = (this.tail + ((4 + len + 7) & ~7)) >>> 0;
      return pos + 4;
    }
  }

  /** Hand the space of the packets next() returned back to the thread (one store), waking it if it waits for room. */
  release(): void {
    const c = this.ctrl;
    Atomics.store(c, this.L.tail, this.tail | 0);
    if (Atomics.load(c, this.L.roomWait) === 1) {
      this.dev.rxKick!();
      this.kicks++;
    }
  }

  /**
   * Nothing left to read: say so (the thread then wakes this side through
   * the addon's onRx), unless something changed meanwhile. 'more': records
   * came in, drain again; 'handback': the thread stopped reading, take over
   * (rxInline, done here); 'fatal': the thread stopped on an error
   * (fatal()); 'idle': wait for onRx.
   */
  idle(): 'more' | 'handback' | 'fatal' | 'idle' {
    const c = this.ctrl;
    const L = this.L;
    Atomics.store(c, L.jsIdle, 1);
    // MODE and FATAL before head: the thread stores its last head before either.
    const mode = Atomics.load(c, L.mode);
    const fatal = Atomics.load(c, L.fatal);
    const more = Atomics.load(c, L.head) >>> 0 !== this.tail;
    if (!more && mode !== L.handback && fatal === 0) return 'idle';
    // Take the flag back; if the thread took it first, its wake-up is on the way (a harmless extra onRx).
    if (Atomics.compareExchange(c, L.jsIdle, 1, 0) !== 1) return 'idle';
    if (more) return 'more';
    if (fatal !== 0) return 'fatal';
    this.dev.rxInline!();
    return 'handback';
  }

  /** The errno that stopped the thread, or 0. */
  fatal(): number {
    return Atomics.load(this.ctrl, this.L.fatal) >>> 0;
  }

  /** The thread's own counters (for tests and benchmarks). */
  stats(): RxThreadStats {
    const c = this.ctrl;
    const L = this.L;
    return {
      packets: Atomics.load(c, L.packets) >>> 0,
      wakeups: Atomics.load(c, L.wakeups) >>> 0,
      fullStalls: Atomics.load(c, L.full) >>> 0,
      engages: Atomics.load(c, L.engages) >>> 0,
      handbacks: Atomics.load(c, L.handbacks) >>> 0,
      coalesced: L.coalesced === undefined ? 0 : Atomics.load(c, L.coalesced) >>> 0,
      queuedBytes: ((Atomics.load(c, L.head) >>> 0) - this.tail) >>> 0,
      mode: ['inline', 'thread', 'handback', 'stopped'][Atomics.load(c, L.mode)] ?? '?',
      jsIdle: Atomics.load(c, L.jsIdle) === 1,
    };
  }
}
