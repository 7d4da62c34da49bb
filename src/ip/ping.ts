// A ping loop over a stack's ICMP or ICMPv6 layer: sends echo requests on
// the stack's clock, matches replies by identifier and sequence, and reports
// RTTs in clock time (virtual time in the simulator).
import { Err } from '../err.ts';
import type { Timer } from '../time/timer-heap.ts';
import { ipEq, parseIp, type IpAddr } from '../wire/ipaddr.ts';
import type { IpHost } from './host.ts';
import type { EchoReply } from './icmp.ts';

/** What a ping loop needs of ICMP or ICMPv6 (Icmp and Icmp6 both are one). */
export interface EchoLayer {
  onEchoReply(cb: (reply: EchoReply) => void): () => void;
  sendEchoRequest(dst: never, ident: number, seqNo: number, data: Uint8Array): number;
}

export interface PingOptions {
  /** Where to send: an address of the echo layer's family, or its text form. */
  dst: IpAddr | string;
  count: number;
  /** Echo data bytes per request (default 56, like ping(8)). */
  size?: number;
  intervalMs?: number;
  /** How long to wait for the last reply (default 2000 ms). */
  timeoutMs?: number;
  ident?: number;
  /** Called for each good reply with its round-trip time. */
  onReply?: (reply: EchoReply, rttMs: number) => void;
}

export interface PingResult {
  sent: number;
  received: number;
  duplicates: number;
  /** Replies whose data did not match what was sent. */
  corrupted: number;
  rttsMs: number[];
  /** Sends that failed locally (no route, no memory). */
  sendErrors: number;
}

export class Pinger {
  readonly result: PingResult = { sent: 0, received: 0, duplicates: 0, corrupted: 0, rttsMs: [], sendErrors: 0 };
  private readonly sentAt = new Map<number, number>();
  private readonly seen = new Set<number>();
  private readonly data: Uint8Array;
  private readonly ident: number;
  private readonly dst: IpAddr;
  private finished = false;
  private unsubscribe: (() => void) | null = null;
  private readonly tick: Timer;
  private readonly deadline: Timer;
  private nextSeq = 0;
  private doneCb: ((r: PingResult) => void) | null = null;

  constructor(
    private readonly host: IpHost,
    private readonly icmp: EchoLayer,
    private readonly opts: PingOptions,
  ) {
    const dst = typeof opts.dst === 'number' ? opts.dst >>> 0 : typeof opts.dst === 'string' ? parseIp(opts.dst) : opts.dst;
    if (dst === null) throw new RangeError(`ping destination is not an IP address: ${String(opts.dst)}`);
    this.dst = dst;
    const size = opts.size ?? 56;
    if (!Number.isInteger(size) || size < 0 || size > 65507) throw new RangeError('ping size must be in 0..65507');
    if (!Number.isInteger(opts.count) || opts.count < 1) throw new RangeError('ping count must be a positive integer');
    this.ident = (opts.ident ?? host.rng.int(0x10000)) & 0xffff;
    this.data = new Uint8Array(size);
    for (let i = 0; i < size; i++) this.data[i] = (i + 0x10) & 0xff;
    this.tick = host.timer(() => this.onTick(), 'ping');
    this.deadline = host.timer(() => this.finish(), 'ping deadline');
  }

  get done(): boolean {
    return this.finished;
  }

  /** Start sending; `onDone` is called once after the last reply or the timeout. */
  start(onDone?: (r: PingResult) => void): void {
    this.doneCb = onDone ?? null;
    this.unsubscribe = this.icmp.onEchoReply((r) => this.onReply(r));
    this.tick.start(0);
  }

  private onTick(): void {
    this.sendOne(this.nextSeq++);
    if (this.nextSeq < this.opts.count) this.tick.start(this.opts.intervalMs ?? 1000);
    else this.deadline.start(this.opts.timeoutMs ?? 2000);
  }

  private sendOne(seq: number): void {
    this.sentAt.set(seq, this.host.clock.now());
    this.result.sent++;
    if (this.icmp.sendEchoRequest(this.dst as never, this.ident, seq, this.data) !== Err.OK) this.result.sendErrors++;
  }

  private onReply(r: EchoReply): void {
    if (this.finished || r.ident !== this.ident || !ipEq(r.src, this.dst)) return;
    const t0 = this.sentAt.get(r.seqNo);
    if (t0 === undefined) return;
    if (this.seen.has(r.seqNo)) {
      this.result.duplicates++;
      return;
    }
    this.seen.add(r.seqNo);
    if (!sameBytes(r.data, this.data)) {
      this.result.corrupted++;
      return;
    }
    this.result.received++;
    const rtt = this.host.clock.now() - t0;
    this.result.rttsMs.push(rtt);
    this.opts.onReply?.(r, rtt);
    if (this.result.received === this.opts.count) this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.tick.stop();
    this.deadline.stop();
    this.unsubscribe?.();
    this.doneCb?.(this.result);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
