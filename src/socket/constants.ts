// The constants MicroPython's socket and select modules expose, with the
// values MicroPython (modlwip + moduselect) uses, so code ported from
// MicroPython can use the same numbers.

/** Any family (getaddrinfo's default). */
export const AF_UNSPEC = 0;
export const AF_INET = 2;
/** IPv6 (Linux's value, as CPython has it): socket(AF_INET6, ...) gives dual-stack sockets, addresses as 4-tuples. */
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
/** Option level of IPv6 options (41). */
export const IPPROTO_IPV6 = 41;
/** setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1) before bind: an AF_INET6 socket on `::` takes IPv6 only (Linux's value, 26). */
export const IPV6_V6ONLY = 26;

export const SOL_SOCKET = 1;
/** lwIP's SOF_REUSEADDR value, as modlwip exposes it. */
export const SO_REUSEADDR = 0x04;
/** lwIP's SOF_KEEPALIVE value. */
export const SO_KEEPALIVE = 0x08;
/** The pending-error query (POSIX). */
export const SO_ERROR = 0x1007;
export const TCP_NODELAY = 1;
/** Linux's TCP_USER_TIMEOUT (RFC 5482): ms queued data may go unacknowledged before the connection is aborted (0: stack default off). */
export const TCP_USER_TIMEOUT = 18;
/** The single callback slot of modlwip: setsockopt(SOL_SOCKET, 20, cb). */
export const SO_CALLBACK = 20;

// select/uselect poll flags (MicroPython's MP_STREAM_POLL_* values).
export const POLLIN = 0x0001;
export const POLLOUT = 0x0004;
export const POLLERR = 0x0008;
export const POLLHUP = 0x0010;
export const POLLNVAL = 0x0020;
/** ipoll() flag: report an object once, then clear its event mask. */
export const POLL_ONESHOT = 1;

/** MP_STREAM_POLL: the ioctl request that asks for poll flags. */
export const MP_STREAM_POLL = 3;

// Buffer and linger options with lwIP's values, as SO_REUSEADDR, SO_KEEPALIVE
// and SO_ERROR above (Linux's SO_RCVBUF, 8, is SO_KEEPALIVE here).
/** setsockopt(SOL_SOCKET, SO_SNDBUF, bytes): the TCP send buffer (lwIP's value, 0x1001). */
export const SO_SNDBUF = 0x1001;
/** setsockopt(SOL_SOCKET, SO_RCVBUF, bytes): the TCP receive buffer and window (lwIP's value, 0x1002). */
export const SO_RCVBUF = 0x1002;
/** setsockopt(SOL_SOCKET, SO_LINGER, [onoff, seconds]) (lwIP's value, 0x0080). */
export const SO_LINGER = 0x0080;

/** recv flag: return the data but leave it queued (Linux's value, 2). */
export const MSG_PEEK = 0x02;
/** recv flag: this call is non-blocking even on a blocking socket (Linux's value, 0x40). */
export const MSG_DONTWAIT = 0x40;
/**
 * send/sendall flag (Linux's value, 0x4000000): zero-copy. The stack keeps
 * a reference to the caller's bytes instead of copying them (the raw API's
 * tcpWrite without TCP_WRITE_FLAG_COPY) until the peer acknowledges them;
 * the caller promises not to modify the buffer before then (a constant
 * block: chargen's, HTTP's generated body). No SO_ZEROCOPY or completion
 * notifications: there is nothing to enable and nothing to reap.
 */
export const MSG_ZEROCOPY = 0x4000000;
