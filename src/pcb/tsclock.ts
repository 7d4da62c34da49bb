// Our timestamp clock (RFC 7323 §7.1), in a module of its own so loss
// detection can tell which copy of a segment an echo belongs to.
import type { TcpPcb } from './pcb.ts';

/** Our TSval at clock time `now`: a millisecond clock with a per-connection random offset. */
export function tsNow(pcb: TcpPcb, now: number): number {
  return (Math.floor(now) + pcb.tsOffset) >>> 0;
}
