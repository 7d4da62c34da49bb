// select.poll() for tsip sockets (MicroPython's uselect.poll). poll() and
// ipoll() return Promises that settle when something is ready or the timeout
// (ms, -1 = forever, 0 = just look) passes, on the stack's clock.
//
// MicroPython's semantics (extmod/moduselect.c): POLLHUP and POLLERR are
// reported whether asked for or not, and on every poll() while they hold;
// a closed socket reports POLLNVAL the same way. poll() never unregisters
// anything by itself: only unregister() (or the application's own loop)
// does. Seed 003's rule (a stream reported with HUP/ERR is unregistered so a
// careless application cannot spin on it) belongs to the event loop, and
// lives there: src/socket/uasyncio.ts. With POLL_ONESHOT (ipoll) a reported
// object's mask is cleared; HUP/ERR/NVAL are still reported after that.
import type { Clock } from '../time/clock.ts';
import type { Timer } from '../time/timer-heap.ts';
import { POLL_ONESHOT, POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT } from './constants.ts';
import { errno, OSError } from './errors.ts';

/** Anything a Poller can watch (sockets, and streams built on them). */
export interface Pollable {
  pollFlags(mask: number): number;
  /**
   * Does a HUP mean the stream is finished? A socket that was never
   * connected reports HUP|OUT ("not connected", as modlwip does). The
   * poller does not use it; event loops that drop finished streams (seed
   * 003, src/socket/uasyncio.ts) do. Absent: yes.
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

  /** Is `obj` registered? */
  has(obj: Pollable): boolean {
    return this.entries.has(obj);
  }

  /**
   * What is ready right now, without waiting. HUP/ERR/NVAL are reported on
   * every call while they hold, whatever the mask (even 0); nothing is
   * unregistered.
   */
  check(oneShot = false): PollResult[] {
    const out: PollResult[] = [];
    for (const [obj, e] of [...this.entries]) {
      const flags = obj.pollFlags(e.mask);
      if (flags === 0) continue;
      out.push([obj, flags]);
      if (oneShot) e.mask = 0;
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
