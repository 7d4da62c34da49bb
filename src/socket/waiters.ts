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
  /** Blocked calls: how each is resumed (true: the socket changed; false: its deadline passed), and its deadline. */
  private waiters: ((changed: boolean) => void)[] = [];
  private waitDeadlines: number[] = [];
  /**
   * One timer for every waiter's deadline, made on the first finite one and
   * reused: a blocking call per request (a server's recv with a timeout)
   * then costs no timer of its own.
   */
  private timer: Timer | null = null;
  private readonly watchers = new Set<() => void>();
  private scheduled = false;
  /** run() as a function for host.defer, made once per socket. */
  private readonly runBound: () => void;

  constructor(
    private readonly layer: SocketLayer,
    /** The socket the callback is called with. */
    private readonly owner: Parameters<SocketLayer['callbackFailed']>[1],
  ) {
    // Assigned here, not as a field initializer: under a keep-names
    // transpiler (tsx, esbuild) a named arrow costs a defineProperty per socket.
    this.runBound = () => this.run();
  }

  /** Resolves true at the next change of the socket, false at `deadline` (ms on the stack clock; Infinity: never). */
  waitChange(deadline: number): Promise<boolean> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.waitDeadlines.push(deadline);
      if (Number.isFinite(deadline)) {
        const t = (this.timer ??= this.layer.host.clock.timer(() => this.expire()));
        if (!t.active || t.deadline > deadline) t.startAt(deadline);
      }
    });
  }

  /** The timer fired: resume the waiters whose deadline passed (in the order they began), re-arm for the rest. */
  private expire(): void {
    const now = this.layer.host.clock.now();
    const ws = this.waiters;
    const ds = this.waitDeadlines;
    let next = Infinity;
    let keep = 0;
    const due: ((changed: boolean) => void)[] = [];
    for (let i = 0; i < ws.length; i++) {
      const d = ds[i]!;
      if (d <= now) {
        due.push(ws[i]!);
        continue;
      }
      if (d < next) next = d;
      ws[keep] = ws[i]!;
      ds[keep++] = d;
    }
    ws.length = keep;
    ds.length = keep;
    if (next !== Infinity) this.timer!.startAt(next);
    for (const w of due) w(false);
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
    this.layer.host.defer(this.runBound);
  }

  private run(): void {
    this.scheduled = false;
    const ws = this.waiters;
    const n = ws.length;
    if (n > 0) {
      this.timer?.stop();
      if (n === 1) {
        // The usual case, one blocked call: no arrays made.
        // (pop, not `length = 0`: cheaper, and this runs per request)
        const w = ws.pop()!;
        this.waitDeadlines.pop();
        w(true);
      } else {
        this.waiters = [];
        this.waitDeadlines = [];
        for (const w of ws) w(true);
      }
    }
    if (this.watchers.size > 0) for (const fn of [...this.watchers]) fn();
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
