// A PCB's timers as one table of named deadlines. Each PCB still has a
// single clock timer, set to the earliest armed deadline (Tcp.armTimer);
// timers.ts dispatches the due ones in DEADLINE order. Adding a timer is one
// entry here, one handler there. TIME_WAIT's 2*MSL is not in the table: it
// is one timer for the whole layer (tcp.ts).

/** The deadlines, in the order they are dispatched when several are due together. */
export const Deadline = {
  /** Delayed ACK (RFC 1122 §4.2.3.2). */
  DELACK: 0,
  /** Offer refused data to the application again. */
  REFUSED: 1,
  /** Retransmission timeout (RFC 6298). */
  RTO: 2,
  /** RACK reordering timer (RFC 8985 §6.3): a segment becomes lost when it fires. */
  REORDER: 3,
  /** Tail loss probe (RFC 8985 §7). */
  TLP: 4,
  /** Pacing: the next segment may leave. */
  PACE: 5,
  /** Persist / zero-window probe (RFC 9293 §3.8.6.1). */
  PERSIST: 6,
  /** Keepalive (RFC 1122 §4.2.3.6). */
  KEEPALIVE: 7,
  /** FIN_WAIT_2 after the application closed (lwIP TCP_FIN_WAIT_TIMEOUT). */
  FIN_WAIT_2: 8,
  /** The application's poll callback. */
  POLL: 9,
} as const;
export type Deadline = (typeof Deadline)[keyof typeof Deadline];

export const DEADLINE_NAMES: readonly string[] = ['delack', 'refused', 'rto', 'reorder', 'tlp', 'pace', 'persist', 'keepalive', 'finWait2', 'poll'];
export const DEADLINE_COUNT = DEADLINE_NAMES.length;

/**
 * Slot arrays let go by release() (all off), kept for the next first arm:
 * a request/response connection goes idle, and lets its slots go, at
 * every exchange. Bounded; shared by every table (one JS thread).
 */
const spareSlots: number[][] = [];
const SPARE_SLOTS = 256;

/** A slot array, all off: a spare one if any. */
function takeSlots(): number[] {
  return spareSlots.pop() ?? newSlots();
}

/** A fresh slot array, all off. */
function newSlots(): number[] {
  // A plain array of doubles (V8 keeps them unboxed): less than half the
  // memory of a Float64Array and its buffer. -1.5 makes the elements
  // doubles from the start (no transition later).
  const a = [-1.5, -1, -1, -1, -1, -1, -1, -1, -1, -1];
  a[0] = -1;
  return a;
}
if (newSlots().length !== DEADLINE_COUNT) throw new Error('Deadlines: one slot per Deadline');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Ctor = abstract new (...args: any[]) => object;

/**
 * The deadline table added to a base class (TS mixin): TcpPcb is made
 * with it, so the table costs one field of the PCB rather than an object
 * of its own (issue 17 part 6); `Deadlines` below is the same table alone.
 */
export function withDeadlines<B extends Ctor>(Base: B) {
  abstract class WithDeadlines extends Base {
    /**
     * @internal Absolute deadlines in clock ms, -1 when off. The slots are
     * made on the first arm (a connection idle since its handshake has
     * none), let go by release().
     */
    deadlineAt: number[] | null = null;

    /** The deadline, or -1 when off. */
    get(d: Deadline): number {
      return this.deadlineAt === null ? -1 : this.deadlineAt[d]!;
    }

    armed(d: Deadline): boolean {
      return this.deadlineAt !== null && this.deadlineAt[d]! >= 0;
    }

    /** Set (or move) a deadline; a negative time turns it off. */
    arm(d: Deadline, t: number): void {
      if (this.deadlineAt === null) {
        if (t < 0) return;
        this.deadlineAt = takeSlots();
      }
      this.deadlineAt[d] = t < 0 ? -1 : t;
    }

    /** Set a deadline unless it is already armed (a running timer keeps its time). */
    armIfOff(d: Deadline, t: number): void {
      if (this.deadlineAt === null) this.deadlineAt = takeSlots();
      if (this.deadlineAt[d]! < 0) this.deadlineAt[d] = t;
    }

    cancel(d: Deadline): void {
      if (this.deadlineAt !== null) this.deadlineAt[d] = -1;
    }

    /** Turn off every deadline but `keep` (-1: all). */
    cancelAll(keep: Deadline | -1 = -1): void {
      const at = this.deadlineAt;
      if (at === null) return;
      for (let i = 0; i < DEADLINE_COUNT; i++) if (i !== keep) at[i] = -1;
    }

    /** Is it armed and at or before `now`? Then it is turned off (the caller runs its handler). */
    take(d: Deadline, now: number): boolean {
      const at = this.deadlineAt;
      if (at === null) return false;
      const t = at[d]!;
      if (t < 0 || t > now) return false;
      at[d] = -1;
      return true;
    }

    /** Let the slots go if none is armed (an idle connection keeps none). */
    release(): void {
      const at = this.deadlineAt;
      if (at === null) return;
      for (let i = 0; i < DEADLINE_COUNT; i++) if (at[i]! >= 0) return;
      this.deadlineAt = null;
      if (spareSlots.length < SPARE_SLOTS) spareSlots.push(at);
    }

    /** The earliest armed deadline, or Infinity. */
    earliest(): number {
      const at = this.deadlineAt;
      if (at === null) return Infinity;
      let t = Infinity;
      for (let i = 0; i < DEADLINE_COUNT; i++) {
        const v = at[i]!;
        if (v >= 0 && v < t) t = v;
      }
      return t;
    }

    /** Armed deadlines by name (for tests and tcpInfo-style dumps). Not `snapshot`: a TcpPcb is also its counter set, whose snapshot() that is. */
    armedByName(): Record<string, number> {
      const out: Record<string, number> = {};
      const at = this.deadlineAt;
      if (at === null) return out;
      for (let i = 0; i < DEADLINE_COUNT; i++) if (at[i]! >= 0) out[DEADLINE_NAMES[i]!] = at[i]!;
      return out;
    }
  }
  return WithDeadlines;
}

/** A table of named deadlines on its own. */
export class Deadlines extends withDeadlines(Object) {}
