// TCP connection states (RFC 9293 §3.3.2) and the PCB flag bits.

export const TcpState = {
  CLOSED: 0,
  LISTEN: 1,
  SYN_SENT: 2,
  SYN_RCVD: 3,
  ESTABLISHED: 4,
  FIN_WAIT_1: 5,
  FIN_WAIT_2: 6,
  CLOSE_WAIT: 7,
  CLOSING: 8,
  LAST_ACK: 9,
  TIME_WAIT: 10,
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];

export const TCP_STATE_NAMES: readonly string[] = [
  'CLOSED',
  'LISTEN',
  'SYN_SENT',
  'SYN_RCVD',
  'ESTABLISHED',
  'FIN_WAIT_1',
  'FIN_WAIT_2',
  'CLOSE_WAIT',
  'CLOSING',
  'LAST_ACK',
  'TIME_WAIT',
];

/** States in which the connection is synchronized (after the handshake). */
export function isSynchronized(s: TcpState): boolean {
  return s >= TcpState.SYN_RCVD;
}

/** States in which we may still receive data from the peer. */
export function canReceive(s: TcpState): boolean {
  return s === TcpState.ESTABLISHED || s === TcpState.FIN_WAIT_1 || s === TcpState.FIN_WAIT_2;
}

/** PCB flags (lwIP's TF_* plus a few of our own). */
export const PcbFlag = {
  /** An ACK is owed but may wait for the delayed-ACK timer. */
  ACK_DELAY: 0x0001,
  /** Send an ACK at the next output. */
  ACK_NOW: 0x0002,
  /** A FIN could not be queued (no memory): retry from the timer. */
  CLOSEPEND: 0x0004,
  /** The application closed the receive side: no more recv callbacks. */
  RXCLOSED: 0x0008,
  /** Our FIN has been queued (the send side is closed). */
  FIN_QUEUED: 0x0010,
  /** Nagle's algorithm is off. */
  NODELAY: 0x0020,
  /** A write failed for lack of memory: send what is queued without Nagle delay. */
  NAGLEMEMERR: 0x0040,
  /** Window scaling negotiated. */
  WND_SCALE: 0x0080,
  /** Timestamps negotiated. */
  TIMESTAMP: 0x0100,
  /** SACK negotiated. */
  SACK: 0x0200,
  /** Counted against the listener's backlog until accepted. */
  BACKLOGPEND: 0x0400,
  /** Output was requested while this PCB was being processed: run it afterwards. */
  OUTPUT_PENDING: 0x0800,
  /** A window update is owed to the peer. */
  WND_UPDATE: 0x1000,
  /** Queued in Tcp's batch-ACK list (an ACK owed at the end of the input batch). */
  BATCH_ACK: 0x2000,
  /** A passive open still in SYN_RCVD, counted in its listener's synQueued. */
  SYN_QUEUED: 0x4000,
  /**
   * The application answers on a later turn, not inside the recv callback
   * (the socket layers). The ACK of the peer's FIN, and a window update the
   * peer does not need yet, then wait for the delayed-ACK timer, so the
   * reply or our FIN that the application sends meanwhile carries them
   * (Linux's pingpong mode). A raw-API application answers inside the
   * callback, before output, so lwIP's immediate ACK already rides along.
   */
  APP_LATE: 0x8000,
  /**
   * In-order data arriving while earlier data is refused is kept behind it
   * (chained to the refused data, ACKed) instead of dropped as lwIP does.
   * The socket layer sets it on a connection waiting for accept(), which
   * refuses its data until then: without it, a peer that sends at once
   * (an upload, a request body) sees everything after its first segment
   * dropped and must resend it. What is kept never exceeds the window we
   * announced, as for data that was taken.
   */
  QUEUE_REFUSED: 0x10000,
} as const;

/** Socket-level options (lwIP's SOF_*). */
export const SockOpt = {
  REUSEADDR: 0x04,
  KEEPALIVE: 0x08,
} as const;
