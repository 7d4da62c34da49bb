// A uasyncio-style event loop on tsip sockets (MicroPython's uasyncio v1:
// uasyncio.core + uasyncio/__init__.py), written from its documented
// behaviour and seeds 003/004.
//
// Coroutines are generator functions: they `yield*` the helpers of this
// module (`yield* sleep_ms(10)`, `const line = yield* reader.readline()`)
// and `yield` (nothing) to let other tasks run. One loop per stack
// (get_event_loop(stack)), on the stack's clock: in the simulator it runs
// on virtual time.
//
// What the loop guarantees (seed 003):
// - wait() polls I/O on every iteration, also when tasks are always
//   runnable, so a task that yields forever cannot starve accept/read;
// - a stream that reports POLLHUP/POLLERR (or POLLNVAL) is unregistered
//   from the loop's poller after waking whoever waited on it, so a handler
//   that never closes its socket does not make the loop spin (select.poll
//   itself keeps reporting it, as MicroPython's does);
// - the run queue and the wait queue are bounded (runq_len, waitq_len):
//   going past them raises (RangeError), it never grows silently.
import { AF_INET, AF_INET6, POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, SO_ERROR, SO_REUSEADDR, SOL_SOCKET } from './constants.ts';
import { errno, isOSError, OSError } from './errors.ts';
import type { SocketLayer } from './layer.ts';
import { Poller, type Pollable } from './poller.ts';
import type { NonBlockingSocket, SockAddr, Socket } from './socket.ts';

// ---------------------------------------------------------------------------
// Coroutines and system calls
// ---------------------------------------------------------------------------

/** What a coroutine yields to the loop: a system call, or nothing (let others run). */
export type SysCall = SleepMs | IORead | IOWrite | IODone | WaitFor | GetLoop | undefined;

/** A coroutine: a generator that yields system calls and returns a T. */
export type Coro<T = unknown> = Generator<SysCall, T, unknown>;

class SleepMs {
  constructor(readonly ms: number) {}
}
class IORead {
  constructor(readonly obj: Pollable) {}
}
class IOWrite {
  constructor(readonly obj: Pollable) {}
}
class IODone {
  constructor(
    readonly obj: Pollable,
    readonly read: boolean,
    readonly write: boolean,
  ) {}
}
class WaitFor {
  constructor(
    readonly coro: Coro,
    readonly ms: number,
  ) {}
}
class GetLoop {}
const GET_LOOP = new GetLoop();

/** wait_for()'s timeout (uasyncio's TimeoutError). */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/** Thrown into a task that is cancelled (wait_for's timeout, Task.cancel()). */
export class CancelledError extends Error {
  override name = 'CancelledError';
}

/** readexactly() hit EOF first (uasyncio's EOFError). */
export class EOFError extends Error {
  override name = 'EOFError';
}

/** Pause the task for `s` seconds (0: just let the others run). */
export function* sleep(s: number): Coro<void> {
  yield new SleepMs(s * 1000);
}

/** Pause the task for `ms` milliseconds. */
export function* sleep_ms(ms: number): Coro<void> {
  yield new SleepMs(ms);
}

/** Run `coro` with a timeout in ms: its result, or TimeoutError (and `coro` is cancelled). */
export function* wait_for_ms<T>(coro: Coro<T>, ms: number): Coro<T> {
  return (yield new WaitFor(coro, ms)) as T;
}

/** Run `coro` with a timeout in seconds: its result, or TimeoutError (and `coro` is cancelled). */
export function* wait_for<T>(coro: Coro<T>, timeout: number): Coro<T> {
  return yield* wait_for_ms(coro, timeout * 1000);
}

// ---------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------

/** A coroutine scheduled on a loop (create_task). */
export class Task<T = unknown> {
  done = false;
  result: T | undefined = undefined;
  error: unknown = undefined;
  /** @internal Bumped whenever the task runs: wake-ups made for an earlier wait are stale. */
  token = 0;
  /** @internal Told when the task finishes. */
  joiners: ((t: Task) => void)[] = [];
  /** @internal */
  cancelled = false;

  constructor(
    readonly coro: Coro<T>,
    private readonly loop: EventLoop,
  ) {}

  /** Throw CancelledError into the task at its next turn. */
  cancel(): void {
    if (this.done) return;
    this.cancelled = true;
    this.token++;
    this.loop.schedule(this as Task, this.token, undefined, new CancelledError());
    this.loop.kick();
  }
}

interface RunItem {
  task: Task;
  token: number;
  value: unknown;
  error: unknown;
}

interface Sleeper {
  at: number;
  seq: number;
  task: Task;
  token: number;
  error: unknown;
  /** Runs when due (if the wait is still current); false: do not wake the task. */
  due?: () => boolean;
}

type Waiter = { task: Task; token: number; armed: boolean } | { cb: () => void };

interface IoEntry {
  reader: Waiter | null;
  writer: Waiter | null;
}

export interface EventLoopOptions {
  /**
   * Virtual CPU time of one loop iteration that found runnable tasks, in ms
   * (default 0: the loop only yields one turn of the clock, setImmediate in
   * real time). In the simulator a task that is always runnable needs a
   * cost > 0, or virtual time never moves.
   */
  tickMs?: number;
  /** Stop with an Error after this many iterations (a safety net for tests; default Infinity). */
  maxIterations?: number;
  /** Where debug lines go (set_debug); default console.log. */
  log?: (line: string) => void;
}

/** What the loop counts. */
export interface EventLoopStats {
  /** Loop iterations. */
  iterations: number;
  /** wait() calls (I/O polls). */
  polls: number;
  /** Task steps. */
  steps: number;
  /** Longest the run queue has been. */
  maxRunq: number;
  /** Streams dropped from the poller because they reported HUP/ERR/NVAL (seed 003). */
  autoUnregistered: number;
  /** Tasks that ended with an exception nobody awaited. */
  taskErrors: number;
}

let DEBUG = false;

/** Turn debug logging of every event loop on or off (uasyncio.set_debug). */
export function set_debug(on: boolean | number): void {
  DEBUG = !!on;
}

/** Anything that has a socket layer: a Stack, or the SocketLayer itself. */
export type LoopHost = SocketLayer | { readonly sockets: SocketLayer };

const loops = new WeakMap<SocketLayer, EventLoop>();
let current: EventLoop | null = null;

/**
 * The event loop of `stack` (one per stack, made on first use with these
 * queue lengths, as uasyncio.get_event_loop(runq_len=16, waitq_len=16)).
 */
export function get_event_loop(stack: LoopHost, runq_len = 16, waitq_len = 16, opts: EventLoopOptions = {}): EventLoop {
  const layer = 'sockets' in stack ? stack.sockets : stack;
  let l = loops.get(layer);
  if (l === undefined) {
    l = new EventLoop(layer, runq_len, waitq_len, opts);
    loops.set(layer, l);
  }
  return l;
}

/** Schedule `coro` on the loop running the calling task (uasyncio.create_task). */
export function create_task<T>(coro: Coro<T>): Task<T> {
  if (current === null) throw new Error('create_task: no running event loop (use loop.create_task)');
  return current.create_task(coro);
}

export class EventLoop {
  readonly stats: EventLoopStats = { iterations: 0, polls: 0, steps: 0, maxRunq: 0, autoUnregistered: 0, taskErrors: 0 };
  /** Told about exceptions of tasks nobody awaits (default: a debug line). */
  onTaskError: ((err: unknown, task: Task) => void) | null = null;
  /** The most recent such exception. */
  lastTaskError: unknown = undefined;
  private readonly runq: RunItem[] = [];
  private readonly live = new Set<Task>();
  private readonly waitq: Sleeper[] = [];
  private seq = 0;
  private readonly poller: Poller;
  private readonly io = new Map<Pollable, IoEntry>();
  private running = false;
  private stopping = false;
  private readonly tickMs: number;
  private readonly maxIterations: number;
  private readonly log: (line: string) => void;

  constructor(
    readonly layer: SocketLayer,
    readonly runq_len = 16,
    readonly waitq_len = 16,
    opts: EventLoopOptions = {},
  ) {
    this.poller = new Poller(layer.host.clock);
    this.selfPipe = new SelfPipe(this.poller);
    this.tickMs = opts.tickMs ?? 0;
    this.maxIterations = opts.maxIterations ?? Infinity;
    this.log = opts.log ?? ((l) => console.log(l));
  }

  /** Milliseconds on the stack's clock. */
  time(): number {
    return this.layer.host.clock.now();
  }

  /** Tasks ready to run. */
  get runqLength(): number {
    return this.runq.length;
  }

  /** Sleeping tasks. */
  get waitqLength(): number {
    return this.waitq.length;
  }

  /** Objects registered with the loop's poller. */
  get ioLength(): number {
    return this.poller.size;
  }

  /** Schedule `coro` to run (RangeError when the run queue is full). */
  create_task<T>(coro: Coro<T>): Task<T> {
    const t = new Task<T>(coro, this);
    this.schedule(t as Task, t.token);
    this.live.add(t as Task);
    return t;
  }

  /** Run until stop() (or until nothing can happen any more: no task, no timer, no I/O). */
  async run_forever(): Promise<void> {
    await this.run(() => false);
  }

  /** Run until `coro` (or task) finishes: its result, or its exception. */
  async run_until_complete<T>(coro: Coro<T> | Task<T>): Promise<T> {
    const t = coro instanceof Task ? coro : this.create_task(coro);
    await this.run(() => t.done);
    if (!t.done) throw new Error('run_until_complete: the loop stopped before the task finished');
    if (t.error !== undefined) throw t.error;
    return t.result as T;
  }

  /** Make run_forever()/run_until_complete() return after the current iteration. */
  stop(): void {
    this.stopping = true;
    this.kick();
  }

  /** Finish every task that is still alive (their finally blocks run) and drop all registrations. */
  close(): void {
    for (const t of [...this.live]) {
      try {
        t.coro.return(undefined as never);
      } catch {
        // a finally block that throws: the task is gone either way
      }
      t.done = true;
      this.live.delete(t);
    }
    for (const obj of [...this.io.keys()]) this.dropIo(obj);
    this.runq.length = 0;
    this.waitq.length = 0;
  }

  /** Call `cb` whenever `obj` is readable (until remove_reader). */
  add_reader(obj: Pollable, cb: () => void): void {
    this.entry(obj).reader = { cb };
    this.updateMask(obj);
  }

  remove_reader(obj: Pollable): void {
    const e = this.io.get(obj);
    if (e === undefined) return;
    e.reader = null;
    this.updateMask(obj);
  }

  /** Call `cb` whenever `obj` is writable (until remove_writer). */
  add_writer(obj: Pollable, cb: () => void): void {
    this.entry(obj).writer = { cb };
    this.updateMask(obj);
  }

  remove_writer(obj: Pollable): void {
    const e = this.io.get(obj);
    if (e === undefined) return;
    e.writer = null;
    this.updateMask(obj);
  }

  /** @internal Put a task on the run queue (RangeError past runq_len). */
  schedule(task: Task, token: number, value: unknown = undefined, error: unknown = undefined): void {
    if (this.runq.length >= this.runq_len) throw new RangeError(`uasyncio: run queue overflow (runq_len ${this.runq_len})`);
    this.runq.push({ task, token, value, error });
    if (this.runq.length > this.stats.maxRunq) this.stats.maxRunq = this.runq.length;
  }

  private sleepUntil(task: Task, token: number, at: number, error: unknown = undefined, due?: () => boolean): Sleeper {
    if (this.waitq.length >= this.waitq_len) {
      // Entries of waits that ended otherwise (a cancelled task) are dead weight: drop them first.
      for (let i = this.waitq.length - 1; i >= 0; i--) {
        const w = this.waitq[i]!;
        if (w.task.done || w.token !== w.task.token) this.waitq.splice(i, 1);
      }
      if (this.waitq.length >= this.waitq_len) throw new RangeError(`uasyncio: wait queue overflow (waitq_len ${this.waitq_len})`);
    }
    const s: Sleeper = { at, seq: this.seq++, task, token, error, ...(due ? { due } : {}) };
    let i = this.waitq.length;
    while (i > 0 && (this.waitq[i - 1]!.at > at || (this.waitq[i - 1]!.at === at && this.waitq[i - 1]!.seq > s.seq))) i--;
    this.waitq.splice(i, 0, s);
    return s;
  }

  private entry(obj: Pollable): IoEntry {
    let e = this.io.get(obj);
    if (e === undefined) {
      e = { reader: null, writer: null };
      this.io.set(obj, e);
    }
    return e;
  }

  private static armed(w: Waiter | null): boolean {
    return w !== null && ('cb' in w || w.armed);
  }

  private updateMask(obj: Pollable): void {
    const e = this.io.get(obj);
    if (e === undefined) return;
    if (e.reader === null && e.writer === null) {
      this.io.delete(obj);
      this.poller.unregister(obj);
      return;
    }
    const mask = (EventLoop.armed(e.reader) ? POLLIN : 0) | (EventLoop.armed(e.writer) ? POLLOUT : 0);
    this.poller.register(obj, mask);
  }

  private dropIo(obj: Pollable): void {
    this.io.delete(obj);
    this.poller.unregister(obj);
  }

  private async run(until: () => boolean): Promise<void> {
    if (this.running) throw new Error('uasyncio: the event loop is already running');
    this.running = true;
    this.stopping = false;
    try {
      for (;;) {
        if (until() || this.stopping) return;
        if (++this.stats.iterations > this.maxIterations) throw new Error(`uasyncio: more than ${this.maxIterations} iterations`);
        const now = this.time();
        while (this.waitq.length > 0 && this.waitq[0]!.at <= now) {
          const s = this.waitq.shift()!;
          if (s.task.done || s.token !== s.task.token) continue; // stale
          if (s.due !== undefined && !s.due()) continue;
          this.schedule(s.task, s.token, undefined, s.error);
        }
        // Run what is runnable now; what they schedule runs next iteration.
        for (let n = this.runq.length; n > 0; n--) {
          this.step(this.runq.shift()!);
          if (until() || this.stopping) return;
        }
        let delay: number;
        if (this.runq.length > 0) delay = 0;
        else if (this.waitq.length > 0) delay = Math.max(0, this.waitq[0]!.at - this.time());
        else if (this.poller.size > 0) delay = -1;
        else return; // nothing can ever happen
        const t0 = this.time();
        await this.wait(delay);
        // An iteration that took no time yields one turn (or tickMs of CPU
        // time), so neither the process nor virtual time is held up.
        if (this.time() === t0) await this.yieldTurn();
      }
    } finally {
      this.running = false;
    }
  }

  private yieldTurn(): Promise<void> {
    const clock = this.layer.host.clock;
    return new Promise((resolve) => {
      if (this.tickMs > 0 || clock.soon === undefined) clock.after(this.tickMs, () => resolve(), 'uasyncio tick');
      else clock.soon(resolve);
    });
  }

  /** Poll I/O for up to `delay` ms (-1: until something happens) and schedule what it woke. */
  private async wait(delay: number): Promise<void> {
    this.stats.polls++;
    const res = await this.poller.poll(delay);
    for (const [obj, ev] of res) {
      const e = this.io.get(obj);
      if (e === undefined) continue;
      const bad = (ev & (POLLHUP | POLLERR | POLLNVAL)) !== 0;
      if (DEBUG) this.log(`uasyncio: poll ${String(obj)} -> 0x${ev.toString(16)}`);
      const wakeR = (ev & POLLIN) !== 0 || bad;
      const wakeW = (ev & POLLOUT) !== 0 || bad;
      const { reader, writer } = e;
      if (bad) {
        // Seed 003: HUP/ERR come back on every poll while they hold; an
        // application that does not close the stream would have the loop
        // spin on it. Drop it (after telling its waiters, whose next I/O
        // call raises the reason). A socket that was never connected
        // reports HUP as "not connected yet": dropped only if nobody waits.
        const final = (ev & (POLLERR | POLLNVAL)) !== 0 || (obj.hangupIsFinal?.() ?? true);
        if (final || !(EventLoop.armed(reader) || EventLoop.armed(writer))) {
          this.dropIo(obj);
          this.stats.autoUnregistered++;
        }
      }
      if (wakeR) this.wake(obj, reader, true);
      if (wakeW && writer !== reader) this.wake(obj, writer, false);
    }
  }

  private wake(obj: Pollable, w: Waiter | null, isReader: boolean): void {
    if (w === null) return;
    if ('cb' in w) {
      w.cb();
      return;
    }
    if (!w.armed) return;
    w.armed = false; // one wake per IORead/IOWrite; the registration stays until IODone
    if (this.io.has(obj)) this.updateMask(obj);
    if (w.task.done || w.token !== w.task.token) return;
    if (DEBUG) this.log(`uasyncio: wake ${isReader ? 'reader' : 'writer'} task`);
    this.schedule(w.task, w.token);
  }

  private step(item: RunItem): void {
    const { task } = item;
    if (task.done || item.token !== task.token) return; // a stale wake-up
    this.stats.steps++;
    task.token++;
    const prev = current;
    current = this;
    try {
      let value = item.value;
      let error = item.error;
      for (;;) {
        let r: IteratorResult<SysCall, unknown>;
        try {
          r = error !== undefined ? task.coro.throw(error) : task.coro.next(value);
        } catch (e) {
          this.finish(task, undefined, e === undefined ? new Error('undefined thrown') : e);
          return;
        }
        value = undefined;
        error = undefined;
        if (r.done) {
          this.finish(task, r.value, undefined);
          return;
        }
        // A system call: those that do not suspend answer at once.
        try {
          const now = this.handle(task, r.value);
          if (now === SUSPEND) return;
          value = now;
        } catch (e) {
          error = e; // e.g. a queue overflow: thrown into the task
        }
      }
    } finally {
      current = prev;
    }
  }

  private handle(task: Task, sc: SysCall): unknown {
    const token = task.token;
    if (sc === undefined) {
      this.schedule(task, token);
      return SUSPEND;
    }
    if (sc instanceof SleepMs) {
      if (sc.ms <= 0) this.schedule(task, token);
      else this.sleepUntil(task, token, this.time() + sc.ms);
      return SUSPEND;
    }
    if (sc instanceof IORead || sc instanceof IOWrite) {
      const e = this.entry(sc.obj);
      const w = { task, token, armed: true };
      if (sc instanceof IORead) e.reader = w;
      else e.writer = w;
      this.updateMask(sc.obj);
      return SUSPEND;
    }
    if (sc instanceof IODone) {
      const e = this.io.get(sc.obj);
      if (e !== undefined) {
        if (sc.read) e.reader = null;
        if (sc.write) e.writer = null;
        this.updateMask(sc.obj);
      }
      return undefined;
    }
    if (sc instanceof GetLoop) return this;
    if (sc instanceof WaitFor) {
      const child = this.create_task(sc.coro);
      let timeout: Sleeper | null = null;
      child.joiners.push((c) => {
        if (timeout !== null) {
          // The result came first: the timeout leaves the wait queue.
          const i = this.waitq.indexOf(timeout);
          if (i >= 0) this.waitq.splice(i, 1);
        }
        if (task.token !== token || task.done) return;
        this.schedule(task, token, c.result, c.error);
      });
      // The timeout sleeps in the wait queue, as uasyncio's does.
      if (sc.ms >= 0)
        timeout = this.sleepUntil(task, token, this.time() + sc.ms, new TimeoutError(`wait_for: no result within ${sc.ms} ms`), () => {
          if (child.done) return false;
          child.joiners.length = 0;
          child.cancel();
          return true;
        });
      return SUSPEND;
    }
    throw new TypeError(`uasyncio: a coroutine yielded ${String(sc)}`);
  }

  /** End a poll that waits (stop(), cancel() from outside the loop). */
  kick(): void {
    if (this.running) this.selfPipe.fire();
  }

  private readonly selfPipe: SelfPipe;

  private finish(task: Task, result: unknown, error: unknown): void {
    task.done = true;
    this.live.delete(task);
    task.result = result;
    task.error = error;
    const joiners = task.joiners.splice(0);
    if (error !== undefined && joiners.length === 0 && !(error instanceof CancelledError && task.cancelled)) {
      this.stats.taskErrors++;
      this.lastTaskError = error;
      if (this.onTaskError !== null) this.onTaskError(error, task);
      else if (DEBUG) this.log(`uasyncio: task raised ${String(error)}`);
    }
    for (const j of joiners) j(task);
  }
}

const SUSPEND = Symbol('suspend');

/** A pollable that reports POLLIN once when fired: ends a waiting poll from a timer. */
class SelfPipe implements Pollable {
  private fired = false;
  private readonly watchers = new Set<() => void>();
  constructor(private readonly poller: Poller) {}
  fire(): void {
    this.fired = true;
    if (!this.poller.has(this)) this.poller.register(this, POLLIN);
    for (const w of [...this.watchers]) w();
    this.fired = false;
    this.poller.unregister(this);
  }
  pollFlags(mask: number): number {
    return this.fired ? mask & POLLIN : 0;
  }
  watch(fn: () => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }
}

// ---------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const r = new Uint8Array(a.length + b.length);
  r.set(a);
  r.set(b, a.length);
  return r;
}

/** uasyncio.StreamReader over a non-blocking socket. */
export class StreamReader {
  readonly ios: NonBlockingSocket;
  constructor(readonly polls: Socket) {
    this.ios = polls.setblocking(false);
  }

  /** Up to `n` bytes once some are there (n < 0: what is there); b'' at EOF. */
  *read(n = -1): Coro<Uint8Array> {
    for (;;) {
      yield new IORead(this.polls);
      const r = n < 0 ? this.ios.read() : this.ios.read(n);
      if (r !== null) {
        yield new IODone(this.polls, true, false);
        return r;
      }
    }
  }

  /** Exactly `n` bytes (EOFError if the stream ends first). */
  *readexactly(n: number): Coro<Uint8Array> {
    let buf: Uint8Array = new Uint8Array(0);
    while (buf.length < n) {
      const r = yield* this.read(n - buf.length);
      if (r.length === 0) throw new EOFError(`readexactly: EOF after ${buf.length} of ${n} bytes`);
      buf = concat(buf, r);
    }
    return buf;
  }

  /** A line with its '\n' (or what is left at EOF; b'' at EOF). */
  *readline(): Coro<Uint8Array> {
    let buf: Uint8Array = new Uint8Array(0);
    for (;;) {
      yield new IORead(this.polls);
      const r = this.ios.readline();
      if (r === null) continue;
      buf = concat(buf, r);
      if (r.length === 0 || r[r.length - 1] === 0x0a) {
        yield new IODone(this.polls, true, false);
        return buf;
      }
    }
  }

  /** Close the stream (its registrations go too). */
  *aclose(): Coro<void> {
    yield new IODone(this.polls, true, true);
    this.ios.close();
  }
}

/** uasyncio.StreamWriter over a non-blocking socket. */
export class StreamWriter {
  readonly s: NonBlockingSocket;
  constructor(
    sock: Socket,
    private readonly extra: Record<string, unknown> = {},
  ) {
    this.s = sock.setblocking(false);
  }

  /**
   * Write `sz` bytes of `buf` from `off` (sz -1: to the end), all of them:
   * what fits in the socket's buffer now, the rest as it drains (spooling
   * buffers larger than the socket's output buffer).
   */
  *awrite(buf: Uint8Array, off = 0, sz = -1): Coro<void> {
    if (sz === -1) sz = buf.length - off;
    for (;;) {
      const n = this.s.write(buf.subarray(off, off + sz)) ?? 0;
      off += n;
      sz -= n;
      if (sz <= 0) break;
      yield new IOWrite(this.s);
    }
    yield new IODone(this.s, false, true);
  }

  /** awrite() each buffer in turn. */
  *awritestr(s: string): Coro<void> {
    yield* this.awrite(new TextEncoder().encode(s));
  }

  /** Close the stream (its registrations go too). */
  *aclose(): Coro<void> {
    if (this.closed) return;
    this.closed = true;
    yield new IODone(this.s, true, true);
    this.s.close();
  }

  /** uasyncio v3's spelling of aclose (`await writer.wait_closed()`); closing twice is harmless. */
  *wait_closed(): Coro<void> {
    yield* this.aclose();
  }

  private closed = false;

  /** 'peername' (the peer's address), or what the stream was made with. */
  get_extra_info(name: string): unknown {
    if (name in this.extra) return this.extra[name];
    if (name === 'peername') {
      try {
        return this.s.getpeername();
      } catch {
        return undefined;
      }
    }
    return undefined;
  }
}

/** A client handler of start_server. */
export type ClientCallback = (reader: StreamReader, writer: StreamWriter) => Coro<unknown>;

function familyOf(host: string): number {
  return host.includes(':') ? AF_INET6 : AF_INET;
}

/**
 * Serve TCP on host:port: for every connection, `cb(reader, writer)` runs
 * as a new task (uasyncio.start_server; run it as a task itself:
 * `loop.create_task(start_server(handler, '0.0.0.0', 80))`).
 */
export function* start_server(cb: ClientCallback, host: string, port: number, backlog = 10): Coro<never> {
  const loop = (yield GET_LOOP) as EventLoop;
  const s = loop.layer.socket(familyOf(host)).setblocking(false);
  try {
    s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    s.bind([host, port]);
    s.listen(backlog);
    for (;;) {
      yield new IORead(s);
      let r: [NonBlockingSocket, SockAddr];
      try {
        r = s.accept();
      } catch (e) {
        if (isOSError(e, errno.EAGAIN) || isOSError(e, errno.ECONNABORTED)) continue;
        throw e;
      }
      const [c, addr] = r;
      loop.create_task(cb(new StreamReader(c), new StreamWriter(c, { peername: addr })));
    }
  } finally {
    loop.remove_reader(s);
    loop.remove_writer(s);
    s.close();
  }
}

/** Connect to host:port: [reader, writer] (OSError such as ECONNREFUSED on failure). */
export function* open_connection(host: string, port: number): Coro<[StreamReader, StreamWriter]> {
  const loop = (yield GET_LOOP) as EventLoop;
  const s = loop.layer.socket(familyOf(host)).setblocking(false);
  try {
    try {
      s.connect([host, port]);
    } catch (e) {
      if (!isOSError(e, errno.EINPROGRESS)) throw e;
      yield new IOWrite(s);
      yield new IODone(s, false, true);
      const err = s.getsockopt(SOL_SOCKET, SO_ERROR);
      if (err !== 0) throw new OSError(err);
    }
  } catch (e) {
    s.close();
    throw e;
  }
  return [new StreamReader(s), new StreamWriter(s, { peername: s.getpeername() })];
}
