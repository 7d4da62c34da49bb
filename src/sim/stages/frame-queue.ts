// A FIFO of frames for the stages that hold frames back (latency, rate
// limit, reorder). Each entry remembers the sink it must go to and a time
// (when it is due, or when it arrived). A ring buffer of parallel arrays
// that doubles when full: no allocation per frame once it has grown.
import type { Timer } from '../../time/timer-heap.ts';
import type { FrameSink } from '../link.ts';

export class FrameQueue {
  private frames: (Uint8Array | undefined)[];
  private sinks: (FrameSink | undefined)[];
  private times: Float64Array;
  private head = 0;
  private len = 0;
  private mask: number;
  /** Sum of the byte lengths of the queued frames. */
  bytes = 0;

  constructor(capacity = 16) {
    let cap = 1;
    while (cap < capacity) cap *= 2;
    this.frames = new Array<Uint8Array | undefined>(cap).fill(undefined);
    this.sinks = new Array<FrameSink | undefined>(cap).fill(undefined);
    this.times = new Float64Array(cap);
    this.mask = cap - 1;
  }

  get length(): number {
    return this.len;
  }

  push(frame: Uint8Array, sink: FrameSink, time: number): void {
    if (this.len > this.mask) this.grow();
    const i = (this.head + this.len) & this.mask;
    this.frames[i] = frame;
    this.sinks[i] = sink;
    this.times[i] = time;
    this.len++;
    this.bytes += frame.length;
  }

  /** The head entry's frame; only call when length > 0. */
  headFrame(): Uint8Array {
    return this.frames[this.head]!;
  }

  /** The head entry's sink; only call when length > 0. */
  headSink(): FrameSink {
    return this.sinks[this.head]!;
  }

  /** The head entry's time; only call when length > 0. */
  headTime(): number {
    return this.times[this.head]!;
  }

  /** Remove the head entry (read it first with headFrame/headSink). */
  dropHead(): void {
    const h = this.head;
    const f = this.frames[h];
    if (f === undefined) return;
    this.bytes -= f.length;
    this.frames[h] = undefined;
    this.sinks[h] = undefined;
    this.head = (h + 1) & this.mask;
    this.len--;
  }

  /**
   * Hand on, in order, every head entry whose time is <= `now`; returns how
   * many went. Each is dequeued before its sink runs, since the sink may
   * push into the same stage again. Then `timer` is set for the next entry
   * (or stopped when none is left).
   */
  releaseDue(now: number, timer: Timer): number {
    let n = 0;
    while (this.len > 0 && this.times[this.head]! <= now) {
      const frame = this.headFrame();
      const sink = this.headSink();
      this.dropHead();
      n++;
      sink(frame);
    }
    if (this.len > 0) timer.startAt(this.headTime());
    else timer.stop();
    return n;
  }

  /** Forget every entry (each handed to `drop`, if given); returns how many there were. */
  clear(drop?: FrameSink): number {
    const n = this.len;
    while (this.len > 0) {
      if (drop !== undefined) drop(this.headFrame());
      this.dropHead();
    }
    this.head = 0;
    return n;
  }

  private grow(): void {
    const cap = (this.mask + 1) * 2;
    const frames = new Array<Uint8Array | undefined>(cap).fill(undefined);
    const sinks = new Array<FrameSink | undefined>(cap).fill(undefined);
    const times = new Float64Array(cap);
    for (let k = 0; k < this.len; k++) {
      const i = (this.head + k) & this.mask;
      frames[k] = this.frames[i];
      sinks[k] = this.sinks[i];
      times[k] = this.times[i]!;
    }
    this.frames = frames;
    this.sinks = sinks;
    this.times = times;
    this.head = 0;
    this.mask = cap - 1;
  }
}
