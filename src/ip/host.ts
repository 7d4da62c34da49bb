// What the IP layer needs from its Stack. Defined here, implemented by the
// Stack, so ip/ depends only on the layers below it.
import type { Netif } from '../netif/netif.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import type { PbufPool } from '../pbuf/pool.ts';
import type { Stats } from '../stats.ts';
import type { Clock } from '../time/clock.ts';
import type { Rng } from '../time/rng.ts';
import type { Timer, TimerCallback } from '../time/timer-heap.ts';

export interface IpHost {
  readonly pool: PbufPool;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly stats: Stats;
  readonly netifs: readonly Netif[];
  /** A timer whose callback runs as stack work (marked busy, deferred work drained after). */
  /** A timer whose callback runs as stack work; `name` labels it in errors (a runaway timer). */
  timer(cb: TimerCallback, name?: string): Timer;
}

/**
 * Facts about the IP packet being delivered to a transport protocol (lwIP's
 * ip_data). One instance per stack, rewritten for each packet: copy what
 * must outlive the handler call.
 */
export interface IpInfo {
  src: number;
  dst: number;
  protocol: number;
  ttl: number;
  tos: number;
  /** Bytes of IP header that were removed in front of the payload. */
  headerLen: number;
  /** The netif the packet came in on. */
  netif: Netif;
  /** True if addressed to a broadcast address. */
  broadcast: boolean;
}

/** A transport protocol's input: takes ownership of `p`, whose payload starts at the transport header. */
export type ProtocolInput = (p: Pbuf, info: IpInfo) => void;

/**
 * Where the IP layer reports datagrams it cannot deliver, so ICMP can
 * answer. `p` starts at the offending datagram's IP header; the sink does
 * not take ownership.
 */
export interface IcmpErrorSink {
  destUnreachable(p: Pbuf, code: number): void;
  timeExceeded(p: Pbuf, code: number): void;
}
