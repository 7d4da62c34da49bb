// lwIP-style per-protocol counters. Every dropped packet is counted under
// the protocol that dropped it and, where lwIP has one, the reason.

export interface ProtoStats {
  /** Packets transmitted. */
  xmit: number;
  /** Packets received. */
  recv: number;
  /** Packets forwarded. */
  fw: number;
  /** Packets dropped (for any reason; the reasons below add detail). */
  drop: number;
  /** Checksum errors. */
  chkerr: number;
  /** Invalid length. */
  lenerr: number;
  /** Out of memory. */
  memerr: number;
  /** Routing error. */
  rterr: number;
  /** Protocol error (bad version, unknown protocol, malformed header). */
  proterr: number;
  /** Error in options. */
  opterr: number;
  /** Miscellaneous error. */
  err: number;
}

export function newProtoStats(): ProtoStats {
  return { xmit: 0, recv: 0, fw: 0, drop: 0, chkerr: 0, lenerr: 0, memerr: 0, rterr: 0, proterr: 0, opterr: 0, err: 0 };
}

export interface StackCounters {
  /** Packets that arrived while the stack was busy and waited in the input queue. */
  inputQueued: number;
  /** Packets dropped because the input queue was full. */
  inputQueueDrops: number;
  /** Deferred work items run after a packet or timer finished. */
  deferredRun: number;
  /** Exceptions caught at the stack boundary (bugs, never packet contents). */
  internalErrors: number;
}

export interface Stats {
  link: ProtoStats;
  ip: ProtoStats;
  ipFrag: ProtoStats;
  icmp: ProtoStats;
  udp: ProtoStats;
  tcp: ProtoStats;
  stack: StackCounters;
}

export function newStats(): Stats {
  return {
    link: newProtoStats(),
    ip: newProtoStats(),
    ipFrag: newProtoStats(),
    icmp: newProtoStats(),
    udp: newProtoStats(),
    tcp: newProtoStats(),
    stack: { inputQueued: 0, inputQueueDrops: 0, deferredRun: 0, internalErrors: 0 },
  };
}
