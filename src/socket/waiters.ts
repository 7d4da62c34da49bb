// The wait/notify machinery the TCP and UDP sockets share: blocking calls
// wait for "the socket changed", pollers watch it, and the option-20
// callback fires for data, connections, EOF and errors. Raw callbacks only
// call schedule(); everything user-visible runs as stack work right after
// the current packet (host.defer), never inside it.
import type { Timer } from '../time/timer-heap.ts';
import type { SocketLayer } from './layer.ts';

export class SocketNotifier {
  /**
   * The option-20 callback slot (typed `(sock: never) => void`: a socket
   * class's field typed with its mode would make the mode invariant; the
   * sockets' setsockopt checks the callback's type).
   */
  callback: ((sock: never) => void) | null = null;
  private callbackDue = false;
  private readonly waiters = new Set<() => void>();
  private readonly watchers = new Set<() => void>();
  private scheduled = false;

  constructor(
    private readonly layer: SocketLayer,
    /** The socket the callback is called with. */
    private readonly owner: Parameters<SocketLayer['callbackFailed']>[1],
  ) {}

  /** Resolves true at the next change of the socket, false at `deadline` (ms on the stack clock; Infinity: never). */
  waitChange(deadline: number): Promise<boolean> {
    return new Promise((resolve) => {
      let timer: Timer | null = null;
      const wake = (): void => {
        timer?.stop();
        resolve(true);
      };
      this.waiters.add(wake);
      if (Number.isFinite(deadline)) {
        timer = this.layer.host.clock.timer(() => {
          this.waiters.delete(wake);
          resolve(false);
        });
        timer.startAt(deadline);
      }
    });
  }

  /** Pollers watch the socket through this; returns the unwatch function. */
  watch(fn: () => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  /**
   * Something happened: wake waiters, pollers and (with `forCallback`) the
   * option-20 callback, right after the current packet.
   */
  schedule(forCallback: boolean): void {
    if (forCallback) this.callbackDue = true;
    if (this.scheduled) return;
    this.scheduled = true;
    this.layer.host.defer(() => this.run());
  }

  private run(): void {
    this.scheduled = false;
    if (this.waiters.size > 0) {
      const ws = [...this.waiters];
      this.waiters.clear();
      for (const w of ws) w();
    }
    for (const fn of [...this.watchers]) fn();
    const cb = this.callback;
    if (this.callbackDue && cb !== null) {
      this.callbackDue = false;
      try {
        cb(this.owner as never); // the callback setsockopt took for this socket's own type
      } catch (e) {
        this.layer.callbackFailed(e, this.owner);
      }
    }
    this.callbackDue = false;
  }
}
