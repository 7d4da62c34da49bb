// An iperf3 server: an unmodified `iperf3 -c` runs TCP tests against tsip
// (forward, -R, -P, -t, -n, -k, -l, -O). One test at a time, as iperf3's
// own server: a client that comes while a test runs gets ACCESS_DENIED.
// Every connection comes in on one port: the first is a test's control
// connection, those that bring its cookie while the streams are being
// created are its data streams. Every wait is bounded on the stack's
// clock (cookie, parameters, stream creation, results, a stalled test, the
// test's own length), JSON messages are size-capped, and what is not
// iperf3 is counted and reset.
import type { SocketLayer } from '../socket/layer.ts';
import { IPPROTO_TCP, MSG_ZEROCOPY, POLLIN, TCP_NODELAY } from '../socket/constants.ts';
import type { BlockingSocket } from '../socket/socket.ts';
import type { Clock } from '../time/clock.ts';
import { checkParams, clientStreamBytes, frameJson, type Iperf3Params, IPERF3_COOKIE_SIZE, IPERF3_PORT, Iperf3State, isCookie, sameBytes, serverError, serverResults, stateByte, streamId } from './iperf3-wire.ts';
import { resetSocket, type ResolvedLimits, ServiceTimeout, timedRecvInto, timedWrite, type WaitTracker } from './limits.ts';
import { type ServeOptions, serve, type Service, type ServiceCounters } from './serve.ts';

export interface Iperf3Options extends ServeOptions {
  /** Most parallel streams a test may ask for (-P; iperf3's own cap is 128). */
  maxStreams?: number;
  /** Longest test: -t plus -O, and the wall for -n / -k tests (s). */
  maxTestSeconds?: number;
  /** Largest -l (bytes; iperf3's cap is 1 MiB). */
  maxBlockBytes?: number;
  /** Largest JSON message (parameters, results) a client may send (bytes). */
  maxJsonBytes?: number;
  /** Each handshake step (cookie, parameters, creating the streams, results, the final byte) must finish within this (ms). */
  handshakeTimeoutMs?: number;
  /** After the client's TEST_END, how long the server waits for bytes still in flight to what the client says it sent (ms). */
  drainTimeoutMs?: number;
  /** A -t test may run this long past -t + -O before it is ended (ms): the client ends it, normally. */
  graceMs?: number;
}

/** What the iperf3 service saw, beyond the per-connection ServiceCounters. */
/** Names distinct from ServiceCounters': both live in one object. */
export interface Iperf3Counters {
  /** Tests that got their streams and started. */
  tests: number;
  /** Tests that ran through to the client's IPERF_DONE. */
  completed: number;
  /** Connections answered ACCESS_DENIED: a test was running. */
  deniedBusy: number;
  /** Control connections whose first 37 bytes were not a cookie, and stream connections with the wrong one. */
  badCookies: number;
  /** JSON messages too long, empty or not JSON. */
  badJson: number;
  /** Tests refused with SERVER_ERROR: UDP, SCTP, --bidir, limits. */
  refusedTests: number;
  /** Tests the client ended early with CLIENT_TERMINATE. */
  clientTerminated: number;
  /** Tests whose control connection closed or broke before the end. */
  aborted: number;
  /** Tests ended because a handshake step, a stalled test or the test's length ran out of time. */
  timeouts: number;
  /** Unexpected state bytes or results. */
  protocolErrors: number;
}

/** The last finished test, as reported to its client. */
export interface Iperf3Result {
  params: Iperf3Params;
  /** The server's per-stream counts as sent in the results. */
  streams: { id: number; bytes: number; seconds: number }[];
  /** The client's per-stream counts from its results. */
  client: { id: number; bytes: number }[];
}

export interface Iperf3Service extends Service {
  /** The connection counters and the iperf3 ones in one object (so the status page shows both). */
  readonly counters: ServiceCounters & Iperf3Counters;
  /** The same object as `counters`. */
  readonly iperf3: Iperf3Counters;
  /** The last test that exchanged results, null before one has. */
  readonly lastResult: Iperf3Result | null;
}

export const IPERF3_DEFAULTS = {
  maxStreams: 128,
  maxTestSeconds: 3600,
  maxBlockBytes: 1 << 20,
  maxJsonBytes: 64 * 1024,
  handshakeTimeoutMs: 10_000,
  drainTimeoutMs: 2_000,
  graceMs: 10_000,
} as const;

/** A test's stream reads into one buffer of this size (reused: no allocation per read). */
const RECV_BUF = 256 * 1024;
/** Reverse mode writes at least this much per call (whole -l blocks, one constant buffer, zero-copy). */
const SEND_CHUNK = 256 * 1024;

/** Read exactly n bytes before `deadline` (stack clock); null at EOF first. */
async function readExact(sock: BlockingSocket, n: number, clock: Clock, deadline: number, t?: WaitTracker): Promise<Uint8Array | null> {
  const buf = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const left = deadline - clock.now();
    if (left <= 0) throw new ServiceTimeout('read');
    const k = await timedRecvInto(sock, buf.subarray(got), left, t);
    if (k === 0) return null;
    got += k;
  }
  return buf;
}

/**
 * After a last message (ACCESS_DENIED, SERVER_ERROR): wait briefly, and for
 * a few reads at most, for the caller to hang up, so that unread bytes of
 * its do not turn our close into a reset that could overtake the message.
 */
async function hangUp(sock: BlockingSocket, clock: Clock, ms: number): Promise<void> {
  const sink = new Uint8Array(IPERF3_COOKIE_SIZE);
  const deadline = clock.now() + Math.min(ms, 2_000);
  for (let i = 0; i < 4 && clock.now() < deadline; i++) {
    const n = await timedRecvInto(sock, sink, deadline - clock.now()).catch(() => 0);
    if (n === 0) return;
  }
}

/** Why a test ended before its results: which counter it goes to. */
type Ending = 'clientTerminated' | 'aborted' | 'timeouts' | 'protocolErrors' | 'badJson' | 'badCookies';

class Stop extends Error {
  constructor(readonly why: Ending) {
    super(why);
  }
}

interface Stream {
  sock: BlockingSocket;
  id: number;
  bytes: number;
  /** Forward mode, after TEST_END: the byte count the client says it sent (Infinity before). */
  waitFor: number;
  /** Closed gracefully (reverse mode, at the test's end): not reset with the rest. */
  closed: boolean;
}

/** One test, from its control connection's cookie to IPERF_DONE. */
class Session {
  state: 'params' | 'streams' | 'running' | 'ending' | 'over' = 'params';
  cookie: Uint8Array | null = null;
  params: Iperf3Params | null = null;
  readonly streams: Stream[] = [];
  /** Bytes over all streams (progress of a test; a stall ends it). */
  total = 0;
  /** Reverse mode: bytes still to send for -n / -k (Infinity for -t). */
  budget = Infinity;
  /** Reverse mode: streams inside a sendall (their block is not counted yet). */
  private sending = 0;
  private startedAt = 0;
  private readonly block: { data: Uint8Array | null } = { data: null };
  private readonly wakeStreams: (() => void)[] = [];
  private readonly wakeControl: (() => void)[] = [];
  private readonly omitTimer: ReturnType<Clock['timer']>;

  constructor(
    readonly control: BlockingSocket,
    readonly clock: Clock,
    readonly o: Required<Omit<Iperf3Options, keyof ServeOptions>>,
    readonly limits: ResolvedLimits,
    readonly svc: { counters: ServiceCounters; iperf3: Iperf3Counters; setResult(r: Iperf3Result): void },
  ) {
    this.omitTimer = clock.timer(() => this.endOmit(), 'iperf3 omit');
  }

  /** Through a method: TypeScript narrows `state` across awaits otherwise. */
  over(): boolean {
    return this.state === 'over';
  }

  private wake(list: (() => void)[]): void {
    for (const f of list.splice(0)) f();
  }

  /** Wait until `ready()` (re-checked on every wake) or `ms` pass: true when ready. */
  private async waitFor(list: (() => void)[], ready: () => boolean, ms: number): Promise<boolean> {
    if (ready()) return true;
    const deadline = this.clock.now() + ms;
    const timer = this.clock.timer(() => this.wake(list), 'iperf3 wait');
    try {
      while (!ready() && !this.over()) {
        if (this.clock.now() >= deadline) return false;
        timer.startAt(deadline);
        await new Promise<void>((resolve) => list.push(resolve));
      }
      return ready();
    } finally {
      timer.stop();
    }
  }

  private send(data: Uint8Array): Promise<void> {
    return timedWrite(this.control, data, this.limits.writeTimeoutMs || this.o.handshakeTimeoutMs);
  }

  private async readByte(deadline: number): Promise<number | null> {
    const b = await readExact(this.control, 1, this.clock, deadline);
    return b === null ? null : (b[0]! << 24) >> 24; // signed, as iperf3's state bytes
  }

  private async readJson(): Promise<unknown> {
    const deadline = this.clock.now() + this.o.handshakeTimeoutMs;
    const head = await readExact(this.control, 4, this.clock, deadline);
    if (head === null) throw new Stop('aborted');
    const len = new DataView(head.buffer).getUint32(0);
    if (len === 0 || len > this.o.maxJsonBytes) throw new Stop('badJson');
    const body = await readExact(this.control, len, this.clock, deadline);
    if (body === null) throw new Stop('aborted');
    try {
      return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) as unknown;
    } catch {
      throw new Stop('badJson');
    }
  }

  /** The whole test on the control connection; the streams run beside it. */
  async run(): Promise<void> {
    const c = this.svc.iperf3;
    try {
      try {
        this.control.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1); // state bytes go out one at a time
      } catch {
        /* a connection already reset: the read below ends it */
      }
      const cookie = await readExact(this.control, IPERF3_COOKIE_SIZE, this.clock, this.clock.now() + this.o.handshakeTimeoutMs);
      if (cookie === null) throw new Stop('aborted');
      if (!isCookie(cookie)) throw new Stop('badCookies');
      this.cookie = cookie;
      await this.send(stateByte(Iperf3State.PARAM_EXCHANGE));
      const check = checkParams(await this.readJson(), this.o);
      if (!check.ok) {
        await this.send(serverError(check.errno));
        this.svc.iperf3.refusedTests++;
        await hangUp(this.control, this.clock, this.o.handshakeTimeoutMs);
        return;
      }
      const p = (this.params = check.params);
      this.state = 'streams';
      await this.send(stateByte(Iperf3State.CREATE_STREAMS));
      await this.awaitStreams(p);
      this.start(p);
      c.tests++;
      await this.send(Uint8Array.of(Iperf3State.TEST_START, Iperf3State.TEST_RUNNING));
      await this.awaitTestEnd(p);
      this.stopSending();
      const endedAt = this.clock.now();
      // Reverse: the blocks being written finish (the client reads them), so the sums count them.
      if (p.reverse) await this.waitFor(this.wakeControl, () => this.sending === 0, this.o.drainTimeoutMs);
      await this.send(stateByte(Iperf3State.EXCHANGE_RESULTS));
      const theirs = clientStreamBytes(await this.readJson());
      if (theirs === null) throw new Stop('protocolErrors');
      // Forward: count what is still in flight up to what the client says it sent, so both sums agree.
      if (!p.reverse) {
        for (const s of this.streams) s.waitFor = theirs.get(s.id) ?? 0;
        await this.waitFor(this.wakeControl, () => this.streams.every((s) => s.bytes >= s.waitFor), this.o.drainTimeoutMs);
      }
      const seconds = Math.max(0, endedAt - this.startedAt) / 1000;
      const mine = this.streams.map((s) => ({ id: s.id, bytes: s.bytes, seconds }));
      this.svc.setResult({ params: p, streams: mine, client: [...theirs].map(([id, bytes]) => ({ id, bytes })) });
      await this.send(frameJson(serverResults(mine, p.reverse)));
      await this.send(stateByte(Iperf3State.DISPLAY_RESULTS));
      // The client answers IPERF_DONE once it has printed; the test is over either way.
      await this.readByte(this.clock.now() + this.o.handshakeTimeoutMs).catch(() => null);
      c.completed++;
    } catch (e) {
      if (e instanceof Stop) c[e.why]++;
      else if (e instanceof ServiceTimeout) c.timeouts++;
      else c.aborted++;
      resetSocket(this.control);
    } finally {
      this.end();
    }
  }

  /**
   * Until every stream has come. The client sends nothing on the control
   * connection meanwhile, so anything readable there (EOF, a reset,
   * CLIENT_TERMINATE on Ctrl-C) ends the test at once rather than at the
   * handshake deadline, while other clients are turned away as busy.
   */
  private async awaitStreams(p: Iperf3Params): Promise<void> {
    const controlSaid = (): boolean => this.control.pollFlags(POLLIN) !== 0;
    const unwatch = this.control.watch(() => this.wake(this.wakeControl));
    let all: boolean;
    try {
      all = await this.waitFor(this.wakeControl, () => this.streams.length === p.parallel || controlSaid(), this.o.handshakeTimeoutMs);
    } finally {
      unwatch();
    }
    if (this.streams.length === p.parallel) return;
    if (this.over()) throw new Stop('aborted');
    if (!all) throw new Stop('timeouts');
    let b: number | null = null;
    try {
      b = await this.readByte(this.clock.now() + this.o.handshakeTimeoutMs);
    } catch {
      /* reset: b stays null */
    }
    throw new Stop(b === null ? 'aborted' : b === Iperf3State.CLIENT_TERMINATE ? 'clientTerminated' : 'protocolErrors');
  }

  /** TEST_RUNNING is out: the clock starts, the writers go. */
  private start(p: Iperf3Params): void {
    this.state = 'running';
    this.startedAt = this.clock.now();
    if (p.reverse) this.budget = p.bytes > 0 ? p.bytes : p.blocks > 0 ? p.blocks * p.len : Infinity;
    if (p.omit > 0) this.omitTimer.start(p.omit * 1000);
    this.wake(this.wakeStreams);
  }

  /** -O: what came before does not count (as iperf3, the -n / -k budget starts again too). */
  private endOmit(): void {
    if (this.state !== 'running') return;
    this.startedAt = this.clock.now();
    for (const s of this.streams) s.bytes = 0;
    const p = this.params!;
    if (p.reverse && Number.isFinite(this.budget)) this.budget = p.bytes > 0 ? p.bytes : p.blocks * p.len;
  }

  /** Until the client's TEST_END; CLIENT_TERMINATE, EOF, a stall or the test's wall end the test. */
  private async awaitTestEnd(p: Iperf3Params): Promise<void> {
    const wall = this.clock.now() + (p.time > 0 ? (p.time + p.omit) * 1000 + this.o.graceMs : this.o.maxTestSeconds * 1000);
    const idle = this.limits.idleTimeoutMs;
    let seen = this.total;
    for (;;) {
      const now = this.clock.now();
      if (now >= wall) throw new Stop('timeouts');
      let b: number | null;
      try {
        b = await this.readByte(Math.min(wall, idle > 0 ? now + idle : wall));
      } catch (e) {
        if (!(e instanceof ServiceTimeout)) throw e;
        // A test that moved no byte over a whole idle period has stalled.
        if (idle > 0 && this.total === seen && this.clock.now() < wall) throw new Stop('timeouts');
        seen = this.total;
        continue;
      }
      if (b === Iperf3State.TEST_END) return;
      if (b === null) throw new Stop('aborted');
      throw new Stop(b === Iperf3State.CLIENT_TERMINATE ? 'clientTerminated' : 'protocolErrors');
    }
  }

  private stopSending(): void {
    this.state = 'ending';
    this.omitTimer.stop();
    this.wake(this.wakeStreams);
  }

  /** A data stream with the right cookie: counted, then served until the test ends. */
  async stream(sock: BlockingSocket, counters: ServiceCounters): Promise<void> {
    const s: Stream = { sock, id: streamId(this.streams.length), bytes: 0, waitFor: Infinity, closed: false };
    this.streams.push(s);
    if (this.streams.length === this.params!.parallel) this.wake(this.wakeControl);
    try {
      sock.settimeout(null); // the session's deadlines bound the streams
      if (this.params!.reverse) {
        await this.sendStream(s, counters);
        // A -n / -k budget sent: hold the stream open until TEST_END.
        await this.waitFor(this.wakeStreams, () => this.state !== 'running', this.o.maxTestSeconds * 1000 + this.o.graceMs);
        // TEST_END came: like iperf3's server, close the stream. After TEST_END the client drains its streams with
        // blocking reads of a whole -l block, and only our FIN ends a read
        // that the last bytes do not fill.
        if (!this.over()) {
          s.closed = true;
          sock.close();
          return;
        }
      } else await this.recvStream(s, counters);
    } catch {
      /* the client closed or reset it, or the test ended: the control connection decides */
    }
    // Keep it open (an EOF would spin the client's reader) until the test is over.
    await this.waitFor(this.wakeStreams, () => false, this.o.maxTestSeconds * 1000 + this.o.graceMs + 4 * this.o.handshakeTimeoutMs);
  }

  private async recvStream(s: Stream, counters: ServiceCounters): Promise<void> {
    const buf = new Uint8Array(RECV_BUF);
    for (;;) {
      const n = await s.sock.recvInto(buf);
      if (n === 0) return;
      s.bytes += n;
      this.total += n;
      counters.bytesIn += n;
      if (s.bytes >= s.waitFor) this.wake(this.wakeControl);
    }
  }

  private async sendStream(s: Stream, counters: ServiceCounters): Promise<void> {
    await this.waitFor(this.wakeStreams, () => this.state !== 'streams', this.o.handshakeTimeoutMs + 1000);
    const block = this.sendBlock();
    while (this.state === 'running') {
      if (this.budget <= 0) return;
      // Whole -l blocks for -t: after TEST_END iperf3's client drains its
      // streams with blocking reads of a whole block, so a stream that
      // stopped mid-block would hang it (it then never answers
      // EXCHANGE_RESULTS). A -n / -k budget is sent exactly: the client
      // ends the test when it has counted that many bytes.
      const take = Math.min(block.length, this.budget);
      this.budget -= take;
      this.sending++;
      try {
        // Constant bytes: the stack references them instead of copying (MSG_ZEROCOPY).
        await s.sock.sendall(take === block.length ? block : block.subarray(0, take), MSG_ZEROCOPY);
      } finally {
        if (--this.sending === 0) this.wake(this.wakeControl);
      }
      s.bytes += take;
      this.total += take;
      counters.bytesOut += take;
    }
  }

  /** Whole -l blocks, at least SEND_CHUNK bytes, of a repeating digit pattern; shared by the streams. */
  private sendBlock(): Uint8Array {
    if (this.block.data !== null) return this.block.data;
    const len = this.params!.len;
    const b = new Uint8Array(len * Math.max(1, Math.floor(SEND_CHUNK / len)));
    for (let i = 0; i < b.length; i++) b[i] = 0x30 + ((i % len) % 10);
    return (this.block.data = b);
  }

  /** The test is over (done, failed or stopped): streams are reset, waiters released. */
  end(): void {
    if (this.state === 'over') return;
    this.state = 'over';
    this.omitTimer.stop();
    for (const s of this.streams) if (!s.closed) resetSocket(s.sock);
    this.wake(this.wakeStreams);
    this.wake(this.wakeControl);
  }
}

/** iperf3 server on `port` (5201 by default). */
export function iperf3Service(layer: SocketLayer, port = IPERF3_PORT, options: Iperf3Options = {}): Iperf3Service {
  const o = {
    maxStreams: options.maxStreams ?? IPERF3_DEFAULTS.maxStreams,
    maxTestSeconds: options.maxTestSeconds ?? IPERF3_DEFAULTS.maxTestSeconds,
    maxBlockBytes: options.maxBlockBytes ?? IPERF3_DEFAULTS.maxBlockBytes,
    maxJsonBytes: options.maxJsonBytes ?? IPERF3_DEFAULTS.maxJsonBytes,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? IPERF3_DEFAULTS.handshakeTimeoutMs,
    drainTimeoutMs: options.drainTimeoutMs ?? IPERF3_DEFAULTS.drainTimeoutMs,
    graceMs: options.graceMs ?? IPERF3_DEFAULTS.graceMs,
  };
  for (const [k, v] of Object.entries(o)) if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`iperf3 option ${k} must be a positive number, got ${String(v)}`);
  // Filled in once serve() made its counters (before any connection can come): one object for both.
  let iperf3: ServiceCounters & Iperf3Counters;
  let lastResult: Iperf3Result | null = null;
  let session: Session | null = null;
  // Room for a full test's streams and a few callers to turn away; idle: a stalled test.
  const defaults: ResolvedLimits = { maxConnections: o.maxStreams + 16, idleTimeoutMs: 30_000, writeTimeoutMs: 30_000, shedAfterMs: 1_000 };

  /** ACCESS_DENIED, then a graceful end (see hangUp). */
  const deny = async (sock: BlockingSocket, clock: Clock, limits: ResolvedLimits): Promise<void> => {
    iperf3.deniedBusy++;
    await timedWrite(sock, stateByte(Iperf3State.ACCESS_DENIED), limits.writeTimeoutMs || o.handshakeTimeoutMs);
    await hangUp(sock, clock, o.handshakeTimeoutMs);
  };

  const svc = serve(
    layer,
    'iperf3',
    port,
    async (sock, _addr, counters, conn) => {
      if (session === null) {
        const s = (session = new Session(sock, conn.clock, o, conn.limits, { counters, iperf3, setResult: (r) => (lastResult = r) }));
        try {
          await s.run();
        } finally {
          if (session === s) session = null;
        }
        return;
      }
      const s = session;
      if (s.state !== 'streams') return deny(sock, conn.clock, conn.limits);
      // Creating streams: this may be one, if it brings the test's cookie (else: another client, or garbage).
      const cookie = await readExact(sock, IPERF3_COOKIE_SIZE, conn.clock, conn.clock.now() + o.handshakeTimeoutMs, conn);
      if (cookie === null) return;
      if (session === s && s.state === 'streams' && s.cookie !== null && sameBytes(cookie, s.cookie) && s.streams.length < s.params!.parallel) return s.stream(sock, counters);
      if (!isCookie(cookie)) {
        iperf3.badCookies++;
        resetSocket(sock);
        return;
      }
      return deny(sock, conn.clock, conn.limits);
    },
    options,
    defaults,
  );
  iperf3 = Object.assign(svc.counters, { tests: 0, completed: 0, deniedBusy: 0, badCookies: 0, badJson: 0, refusedTests: 0, clientTerminated: 0, aborted: 0, timeouts: 0, protocolErrors: 0 });
  return {
    name: svc.name,
    port: svc.port,
    counters: iperf3,
    iperf3,
    get lastResult() {
      return lastResult;
    },
    stop() {
      session?.end();
      session = null;
      svc.stop();
    },
  };
}
