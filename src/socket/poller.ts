// select.poll() for tsip sockets (MicroPython's uselect.poll). poll() and
// ipoll() return Promises that settle when something is ready or the timeout
// (ms, -1 = forever, 0 = just look) passes, on the stack's clock.
//
// Seed 003: POLLHUP/POLLERR may come at any time, and an application that
// does not close such a stream would get it reported again and again (a
// busy loop). Once a stream has been reported with HUP, ERR or NVAL it is
// unregistered; closing it would have unregistered it anyway. (A socket
// that was never connected reports HUP too, meaning "not connected yet":
// it stays registered, so connect() followed by poll() works.)
import type { Clock } from '../time/clock.ts';
import type { Timer } from '../time/timer-heap.ts';
import { POLL_ONESHOT, POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT } from './constants.ts';
import { errno, OSError } from './errors.ts';

/** Anything a Poller can watch (sockets, and streams built on them). */
export interface Pollable {
  pollFlags(mask: number): number;
  /**
   * Does a HUP mean the stream is finished? A socket that was never
   * connected reports HUP|OUT ("not connected", as modlwip does) and must
   * stay registered so that `connect()` then `poll()` works; absent: yes.
   */
  hangupIsFinal?(): boolean;
  /** Call `fn` whenever the object's state may have changed; returns an unsubscribe function. */
  watch(fn: () => void): () => void;
}

interface Entry {
  mask: number;
  unwatch: () => void;
}

export type PollResult<T extends Pollable = Pollable> = [T, number];

export class Poller {
  private readonly entries = new Map<Pollable, Entry>();
  private pending: (() => void) | null = null;
  /** Streams unregistered because they reported HUP/ERR/NVAL. */
  autoUnregistered = 0;

  constructor(private readonly clock: Clock) {}

  /** Watch `obj` for `mask` (default POLLIN | POLLOUT); registering again changes the mask. */
  register(obj: Pollable, mask = POLLIN | POLLOUT): void {
    const e = this.entries.get(obj);
    if (e !== undefined) {
      e.mask = mask;
    } else {
      this.entries.set(obj, { mask, unwatch: obj.watch(() => this.changed()) });
    }
    this.changed();
  }

  /** Change the mask of a registered object (OSError ENOENT if it is not registered). */
  modify(obj: Pollable, mask: number): void {
    const e = this.entries.get(obj);
    if (e === undefined) throw new OSError(errno.ENOENT);
    e.mask = mask;
    this.changed();
  }

  unregister(obj: Pollable): void {
    const e = this.entries.get(obj);
    if (e === undefined) return;
    e.unwatch();
    this.entries.delete(obj);
  }

  get size(): number {
    return this.entries.size;
  }

  /** What is ready right now, without waiting. */
  check(oneShot = false): PollResult[] {
    const out: PollResult[] = [];
    for (const [obj, e] of [...this.entries]) {
      const flags = obj.pollFlags(e.mask);
      if (flags === 0) continue;
      out.push([obj, flags]);
      if (flags & (POLLERR | POLLNVAL) || (flags & POLLHUP && (obj.hangupIsFinal?.() ?? true))) {
        this.unregister(obj);
        this.autoUnregistered++;
      } else if (oneShot) {
        e.mask = 0;
      }
    }
    return out;
  }

  /** poll(timeoutMs): the ready objects as [obj, flags] pairs ([] on timeout). */
  poll(timeoutMs = -1): Promise<PollResult[]> {
    return this.wait(timeoutMs, false);
  }

  /** ipoll(timeoutMs, flags): an iterator of [obj, flags]; POLL_ONESHOT clears each reported object's mask. */
  async ipoll(timeoutMs = -1, flags = 0): Promise<IterableIterator<PollResult>> {
    const r = await this.wait(timeoutMs, (flags & POLL_ONESHOT) !== 0);
    return r[Symbol.iterator]();
  }

  private wait(timeoutMs: number, oneShot: boolean): Promise<PollResult[]> {
    if (this.pending !== null) return Promise.reject(new OSError(errno.EALREADY, 'a poll is already waiting on this poller'));
    const now = this.check(oneShot);
    if (now.length > 0 || timeoutMs === 0) return Promise.resolve(now);
    return new Promise((resolve) => {
      let timer: Timer | null = null;
      const finish = (r: PollResult[]): void => {
        this.pending = null;
        timer?.stop();
        resolve(r);
      };
      this.pending = () => {
        const r = this.check(oneShot);
        if (r.length > 0) finish(r);
      };
      if (timeoutMs > 0) timer = this.clock.after(timeoutMs, () => finish([]));
    });
  }

  private changed(): void {
    if (this.pending !== null) this.pending();
  }
}

export { POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT };
