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
  /**
   * Times a drain pass used up its budget (StackOptions.drainBudget) with
   * work left and yielded to the event loop, continuing on a later turn.
   */
  budgetYields: number;
  /** Exceptions caught at the stack boundary (bugs, never packet contents). */
  internalErrors: number;
}

/**
 * IPv4 datagrams dropped at input for a source (or destination) that no
 * real peer can have (RFC 1122 3.2.1.3, RFC 1812 5.3.7, RFC 6890). Each
 * drop also counts in `ip.drop`. "From outside" means on any netif but
 * the loopback, where our own and 127/8 addresses are how the stack talks
 * to itself.
 */
export interface MartianCounters {
  /** Source is one of our own addresses, from outside (LAND). */
  ownSrc: number;
  /** Source 0.0.0.0 (only a DHCP/BOOTP server needs these, and tsip serves none). */
  unspecifiedSrc: number;
  /** Source 255.255.255.255. */
  broadcastSrc: number;
  /** Source in 224.0.0.0/4. */
  multicastSrc: number;
  /** Source in 240.0.0.0/4 (class E, reserved). */
  reservedSrc: number;
  /** Source in 127.0.0.0/8, from outside. */
  loopbackSrc: number;
  /** Source is the receiving netif's subnet (network) address. */
  networkSrc: number;
  /** Source is the receiving netif's subnet broadcast address. */
  subnetBroadcastSrc: number;
  /** Destination in 127.0.0.0/8, from outside. */
  loopbackDst: number;
}

export function newMartianCounters(): MartianCounters {
  return { ownSrc: 0, unspecifiedSrc: 0, broadcastSrc: 0, multicastSrc: 0, reservedSrc: 0, loopbackSrc: 0, networkSrc: 0, subnetBroadcastSrc: 0, loopbackDst: 0 };
}

/**
 * Fragment reassembly by outcome, for spotting fragment attacks (teardrop,
 * ping of death, fragment floods). Counted per datagram unless the name
 * says fragment; the lwIP-style `ipFrag` counters keep counting fragments.
 */
export interface ReassemblyCounters {
  /** Datagrams completed and passed up. */
  reassembled: number;
  /** Datagrams discarded because two fragments overlapped partly (teardrop). */
  overlaps: number;
  /** Exact duplicate fragments dropped (the datagram is kept). */
  duplicateFragments: number;
  /** Datagrams discarded because fragments disagreed about where it ends. */
  inconsistentEnds: number;
  /** Fragments dropped that would end past 65535 bytes (ping of death). */
  oversizeFragments: number;
  /** Fragments dropped for a bad length (not the last and not a multiple of 8, or empty). */
  badLengthFragments: number;
  /** Datagrams discarded for having more than maxFragments fragments. */
  tooManyFragments: number;
  /** Datagrams evicted because maxDatagrams were pending. */
  tooManyDatagrams: number;
  /** Datagrams evicted or refused because maxBytes were held. */
  memoryLimit: number;
  /** Datagrams that timed out incomplete. */
  timeouts: number;
}

export function newReassemblyCounters(): ReassemblyCounters {
  return { reassembled: 0, overlaps: 0, duplicateFragments: 0, inconsistentEnds: 0, oversizeFragments: 0, badLengthFragments: 0, tooManyFragments: 0, tooManyDatagrams: 0, memoryLimit: 0, timeouts: 0 };
}

export interface Stats {
  link: ProtoStats;
  ip: ProtoStats;
  /** Ingress filtering: drops by martian address (each also in ip.drop). */
  martian: MartianCounters;
  ipFrag: ProtoStats;
  /** Reassembly outcomes by reason (fragment attacks). */
  reassembly: ReassemblyCounters;
  icmp: ProtoStats;
  udp: ProtoStats;
  tcp: ProtoStats;
  stack: StackCounters;
}

export function newStats(): Stats {
  return {
    link: newProtoStats(),
    ip: newProtoStats(),
    martian: newMartianCounters(),
    ipFrag: newProtoStats(),
    reassembly: newReassemblyCounters(),
    icmp: newProtoStats(),
    udp: newProtoStats(),
    tcp: newProtoStats(),
    stack: { inputQueued: 0, inputQueueDrops: 0, deferredRun: 0, budgetYields: 0, internalErrors: 0 },
  };
}
