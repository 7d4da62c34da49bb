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

/**
 * IPv6 input and output outcomes beyond the lwIP-style `ip6` counters
 * (each input drop here is also in `ip6.drop`).
 */
export interface Ipv6Counters {
  /** Datagrams that arrived on a netif without IPv6 (no address, or an MTU below 1280). */
  disabledNetif: number;
  /** Source in ff00::/8 (RFC 4291 §2.7). */
  multicastSrc: number;
  /** Source :: on anything but ICMPv6 right after the fixed header (only DAD sends from ::). */
  unspecifiedSrc: number;
  /** ::1 as source or destination from outside the loopback (RFC 4291 §2.5.3). */
  loopbackAddr: number;
  /** An IPv4-mapped address (::ffff:0:0/96) as source or destination on the wire (RFC 4942 §2.2). */
  v4MappedAddr: number;
  /** Source is one of our own addresses, from outside (LAND). */
  ownSrc: number;
  /** Destination neither ours, nor ::1 on the loopback, nor a group we listen to. */
  notForUs: number;
  /** Datagrams delivered with hop limit 0 (a host accepts them: counted, not dropped). */
  hopLimitZero: number;
  /** Datagrams dropped by the extension header walk, all reasons below together. */
  extHeaderDrops: number;
  /** A routing header with segments left (no type is implemented; RFC 5095 for type 0). */
  routingHeader: number;
  /** Of those, type 0. */
  routingType0: number;
  /** An unknown option whose type says discard (high bits 01, 10 or 11). */
  unknownOption: number;
  /** A hop-by-hop header anywhere but straight after the fixed header. */
  hbhNotFirst: number;
  /** A Fragment header with a non-last fragment not a multiple of 8 bytes, or ending past 65535. */
  badFragmentHeader: number;
  /** A first fragment without the whole header chain (RFC 7112). */
  incompleteChain: number;
  /** More extension headers than allowed, more than 1232 bytes of them, or a Jumbo Payload option. */
  tooManyExt: number;
  /** A header or option running past the payload. */
  malformedExt: number;
  /** A reassembled datagram holding another Fragment header. */
  nestedFragment: number;
  /** Next Header 59 (no next header): silently dropped (RFC 8200 §4.7). */
  noNextHeader: number;
  /** No handler for the upper-layer protocol (parameter problem code 1). */
  unknownNextHeader: number;
  /** Fragments received (each also in ip6.recv). */
  fragmentsIn: number;
  /** Datagrams reassembled (or atomic fragments) and passed on. */
  reassembled: number;
  /** Datagrams we cut into fragments. */
  fragmented: number;
  /** Fragments sent. */
  fragmentsOut: number;
  /** Datagrams too big for the path that the caller asked not to fragment (Err.VAL). */
  tooBigNoFrag: number;
  /** Path MTU lowered by a Packet Too Big (RFC 8201). */
  pmtuLearned: number;
  /** Path MTU entries that aged out (10 minutes). */
  pmtuExpired: number;
  /** Path MTU entries pushed out by a full cache. */
  pmtuEvicted: number;
}

export function newIpv6Counters(): Ipv6Counters {
  return {
    disabledNetif: 0,
    multicastSrc: 0,
    unspecifiedSrc: 0,
    loopbackAddr: 0,
    v4MappedAddr: 0,
    ownSrc: 0,
    notForUs: 0,
    hopLimitZero: 0,
    extHeaderDrops: 0,
    routingHeader: 0,
    routingType0: 0,
    unknownOption: 0,
    hbhNotFirst: 0,
    badFragmentHeader: 0,
    incompleteChain: 0,
    tooManyExt: 0,
    malformedExt: 0,
    nestedFragment: 0,
    noNextHeader: 0,
    unknownNextHeader: 0,
    fragmentsIn: 0,
    reassembled: 0,
    fragmented: 0,
    fragmentsOut: 0,
    tooBigNoFrag: 0,
    pmtuLearned: 0,
    pmtuExpired: 0,
    pmtuEvicted: 0,
  };
}

/** ICMPv6 outcomes beyond the lwIP-style `icmp6` counters. */
export interface Icmp6Counters {
  /** Echo requests answered. */
  echoAnswered: number;
  /** Echo requests to a multicast group, not answered (replyToMulticast off). */
  echoMulticastIgnored: number;
  /** Echo replies received. */
  echoRepliesIn: number;
  /** Error messages received (types 0-127). */
  errorsIn: number;
  /** Of those, Packet Too Big. */
  ptbReceived: number;
  /** Errors handed to a transport's listener. */
  errorsDelivered: number;
  /** Errors whose quoted packet was not sent by us (its source is not ours). */
  errorsNotOurs: number;
  /** Errors whose quote is too short or malformed to tell the protocol and ports. */
  errorsUnparsable: number;
  /** Errors no listener was registered for. */
  errorsNoListener: number;
  /** Neighbour solicitations received. */
  nsReceived: number;
  /** Neighbour solicitations answered with an advertisement. */
  ndSolicitsAnswered: number;
  /** Neighbour solicitations dropped: invalid (RFC 4861 §7.1.1) or for a target that is not ours. */
  nsIgnored: number;
  /** RS, RA, NA and Redirect messages (counted, ignored: tsip's links are point-to-point). */
  ndIgnored: number;
  /** MLD queries, reports and done messages (counted, ignored). */
  mldIgnored: number;
  /** Informational messages of unknown type (silently discarded, RFC 4443 §2.4(b)). */
  unknownInformational: number;
  /** Errors we sent. */
  errorsSent: number;
  /** Errors we did not send because of RFC 4443 §2.4(e) (about an error, to a multicast or unspecified source, ...). */
  errorsSuppressed: number;
  /** Errors we did not send because of the rate limit (§2.4(f)). */
  rateLimited: number;
}

export function newIcmp6Counters(): Icmp6Counters {
  return {
    echoAnswered: 0,
    echoMulticastIgnored: 0,
    echoRepliesIn: 0,
    errorsIn: 0,
    ptbReceived: 0,
    errorsDelivered: 0,
    errorsNotOurs: 0,
    errorsUnparsable: 0,
    errorsNoListener: 0,
    nsReceived: 0,
    ndSolicitsAnswered: 0,
    nsIgnored: 0,
    ndIgnored: 0,
    mldIgnored: 0,
    unknownInformational: 0,
    errorsSent: 0,
    errorsSuppressed: 0,
    rateLimited: 0,
  };
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
  /** IPv6 (lwIP's ip6 counters). */
  ip6: ProtoStats;
  /** IPv6 drops and events by reason. */
  ip6x: Ipv6Counters;
  icmp6: ProtoStats;
  icmp6x: Icmp6Counters;
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
    ip6: newProtoStats(),
    ip6x: newIpv6Counters(),
    icmp6: newProtoStats(),
    icmp6x: newIcmp6Counters(),
    udp: newProtoStats(),
    tcp: newProtoStats(),
    stack: { inputQueued: 0, inputQueueDrops: 0, deferredRun: 0, budgetYields: 0, internalErrors: 0 },
  };
}
