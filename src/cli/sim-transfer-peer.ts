// The two applications of `tsip sim transfer`: each writes its seeded
// payload as the send buffer allows, hashes what arrives, half-closes once
// all is written and closes at EOF. What the stack refuses for now (ERR_MEM
// from a write, a shutdown or a close) is tried again from the sent or the
// poll callback: an application that gives up there stalls the transfer.
//
// Wall time comes from performance.now() (cli/ may read the real clock): the
// time spent making and hashing the payload is left out of the stack's.
import { createHash, type Hash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type RawTcp, WriteFlag } from '../callbacks/raw.ts';
import { Err, errName } from '../err.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import type { TcpPcb } from '../pcb/pcb.ts';
import type { Clock } from '../time/clock.ts';
import type { Rng } from '../time/rng.ts';

/** Payload bytes generated at a time: the payload is streamed, so memory stays flat whatever --bytes is. */
const CHUNK = 256 * 1024; // a multiple of 4: Rng.fill gives the same bytes in pieces as in one go

/** The largest single tcpWrite (lwIP apps write at most what tcp_sndbuf says, in pieces). */
const MAX_WRITE = 64 * 1024;

/** tcp_poll interval, in coarse ticks (500 ms each): how soon a refused write or close is tried again without a sent callback. */
const POLL_TICKS = 1;

/** The seeded payload of one side, generated piece by piece as the send buffer takes it. */
export class Payload {
  private readonly buf = new Uint8Array(CHUNK);
  private start = 0;
  private end = 0;
  private generated = 0;
  /** Wall ms spent making the payload and hashing what was sent: not the stack's time, so left out of wallMs. */
  costMs = 0;

  constructor(
    private readonly rng: Rng,
    readonly total: number,
  ) {}

  /** Up to `max` bytes of the payload from `offset` (which only moves forward). */
  peek(offset: number, max: number): Uint8Array {
    if (offset >= this.end) {
      const t0 = performance.now();
      const n = Math.min(CHUNK, this.total - this.generated);
      this.rng.fill(this.buf.subarray(0, n));
      this.costMs += performance.now() - t0;
      this.start = this.generated;
      this.generated += n;
      this.end = this.generated;
    }
    const from = offset - this.start;
    return this.buf.subarray(from, Math.min(this.end - this.start, from + max));
  }
}

/**
 * One side of the exchange: writes its data as the send buffer allows,
 * hashes what arrives, half-closes when all is written, closes at EOF.
 * Anything the stack refuses (ERR_MEM from a write, a shutdown or a close)
 * is tried again from the sent callback or the poll callback, never given up.
 */
export class Peer {
  received = 0;
  readonly hash: Hash = createHash('sha256');
  /** sha256 of the payload written into the connection so far. */
  readonly sentHash: Hash = createHash('sha256');
  offset = 0;
  /** The connection is up (connected or accepted): a poll before that must not write or close. */
  connected = false;
  /** Allowed to send (the server may wait for the client's FIN). */
  sending: boolean;
  /** Our FIN is queued (the half-close went through). */
  finSent = false;
  gotFin = false;
  /** tcpClose went through. */
  closed = false;
  writeMemErrors = 0;
  readonly errors: string[] = [];
  pcb: TcpPcb | null = null;
  /** Largest write to try next: halved on ERR_MEM, doubled back on success. */
  private writeCap = MAX_WRITE;
  /** With closeDelayMs: the half-close timer is set / has fired. */
  private closeTimerArmed = false;
  private closeDue = false;

  constructor(
    readonly raw: RawTcp,
    readonly out: Payload,
    private readonly clock: Clock,
    private readonly closeDelayMs: number,
    waitForEof: boolean,
    private readonly name: string,
  ) {
    this.sending = !waitForEof;
  }

  attach(pcb: TcpPcb): void {
    this.pcb = pcb;
    const raw = this.raw;
    raw.tcpRecv(pcb, (_a, q, p) => this.onRecv(q, p));
    raw.tcpSent(pcb, (_a, q) => {
      this.pump(q);
      return Err.OK;
    });
    raw.tcpPoll(
      pcb,
      (_a, q) => {
        this.pump(q);
        return Err.OK;
      },
      POLL_TICKS,
    );
    raw.tcpErr(pcb, (_a, e) => {
      this.errors.push(errName(e));
    });
  }

  private onRecv(pcb: TcpPcb, p: Pbuf | null): number {
    if (p === null) {
      this.gotFin = true;
      if (!this.sending) this.sending = true; // the request is in: answer it
      this.pump(pcb);
      return Err.OK;
    }
    for (let q: Pbuf | null = p; q !== null; q = q.next) this.hash.update(q.buf.subarray(q.off, q.off + q.len));
    const n = p.totLen;
    this.received += n;
    p.free();
    this.raw.tcpRecved(pcb, n);
    return Err.OK;
  }

  /** Write what the stack takes, half-close once all is written, close once both FINs are through. */
  pump(pcb: TcpPcb): void {
    if (!this.connected || this.closed || pcb.freed) return;
    if (this.sending && !this.finSent) this.write(pcb);
    if (this.sending && this.offset >= this.out.total && !this.finSent) this.halfClose(pcb);
    if (this.gotFin && this.finSent && !this.closed) {
      const err = this.raw.tcpClose(pcb);
      if (err === Err.OK) this.markClosed(pcb);
      else if (err !== Err.MEM) this.errors.push(`close: ${errName(err)}`);
      // ERR_MEM: the poll callback tries again.
    }
    if (!this.closed && !pcb.freed) this.raw.tcpOutput(pcb);
  }

  private write(pcb: TcpPcb): void {
    const raw = this.raw;
    const total = this.out.total;
    // Bounded: each pass either writes (offset grows) or halves writeCap (at most 17 times from 64 KiB).
    while (this.offset < total) {
      const n = Math.min(raw.tcpSndbuf(pcb), total - this.offset, this.writeCap);
      if (n <= 0) break;
      const piece = this.out.peek(this.offset, n);
      // COPY: the stack keeps its own copy, so the payload buffer is reused.
      const err = raw.tcpWrite(pcb, piece, WriteFlag.COPY);
      if (err === Err.MEM) {
        this.writeMemErrors++;
        if (n === 1) break; // nothing fits now: the next sent or poll callback tries again
        this.writeCap = Math.max(1, Math.floor(n / 2));
        continue;
      }
      if (err !== Err.OK) {
        this.errors.push(`write: ${errName(err)}`);
        break;
      }
      const t0 = performance.now();
      this.sentHash.update(piece);
      this.out.costMs += performance.now() - t0;
      this.offset += piece.length;
      this.writeCap = Math.min(MAX_WRITE, this.writeCap * 2);
    }
  }

  private halfClose(pcb: TcpPcb): void {
    if (this.closeDelayMs > 0 && !this.closeDue) {
      if (!this.closeTimerArmed) {
        this.closeTimerArmed = true;
        this.clock.after(
          this.closeDelayMs,
          () => {
            this.closeDue = true;
            if (this.pcb !== null) this.pump(this.pcb);
          },
          `${this.name}/close-delay`,
        );
      }
      return;
    }
    const err = this.raw.tcpShutdown(pcb, false, true);
    if (err === Err.OK) this.finSent = true;
    else if (err !== Err.MEM) {
      this.errors.push(`shutdown: ${errName(err)}`);
      this.finSent = true; // nothing more to try: the error decides the run
    }
  }

  /** Close what is still open (a run stopped early): FIN after queued data, as an application would. */
  closeNow(): void {
    const pcb = this.pcb;
    if (pcb === null || pcb.freed || this.closed) return;
    this.markClosed(pcb);
    this.raw.tcpClose(pcb);
  }

  /** Closed: nothing left to retry, so no more poll ticks (they would keep a PCB's timer going to the end). */
  private markClosed(pcb: TcpPcb): void {
    this.closed = true;
    if (!pcb.freed) this.raw.tcpPoll(pcb, null, 0);
  }
}
