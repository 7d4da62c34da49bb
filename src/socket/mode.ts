// Typed modes: the blocking mode of a socket as a (phantom) type parameter.
//
// At run time a socket is blocking or non-blocking according to its timeout
// (setblocking / settimeout), and the calls that may block answer in two
// shapes: a Promise in blocking mode, a value (or OSError(EAGAIN), or null
// for read/write) at once in non-blocking mode. The types follow that with
// a type parameter that exists only for the type checker:
//
//   Socket<'blocking'>     recv(n): Promise<Uint8Array>   (BlockingSocket)
//   Socket<'nonblocking'>  recv(n): Uint8Array            (NonBlockingSocket)
//   Socket                 recv(n): Uint8Array | Promise<Uint8Array>
//                          (mode unknown to the type checker: `await` it)
//
// stack.socket() returns Socket<'blocking'> (sockets start blocking), and
// setblocking()/settimeout() return the same socket retyped for the new
// mode, so `const s = stack.socket().setblocking(false)` is non-blocking.
// A reference keeps the type it was given: after `s.setblocking(true)` as
// a statement, `s` still says non-blocking. Use the returned socket (and
// drop the old name) whenever the mode changes.

/** The two modes a socket's calls can answer in. */
export type SocketMode = 'blocking' | 'nonblocking';

/**
 * What a call returns in mode `M`: `NB` for a non-blocking socket, `B` (a
 * Promise) for a blocking one, either (`NB | B`) when the mode is not known
 * statically (`Socket`, i.e. `Socket<SocketMode>`). Deliberately not
 * distributive: `ByMode<SocketMode, NB, B>` is the union, not a union of
 * per-mode answers that happens to coincide.
 */
export type ByMode<M extends SocketMode, NB, B> = [M] extends ['nonblocking'] ? NB : [M] extends ['blocking'] ? B : NB | B;

/**
 * The mode settimeout(seconds) leaves a socket in, as far as the type of
 * `seconds` tells: the literal 0 is non-blocking; null and positive
 * literals are blocking; a plain `number` could be either (0 at run time is
 * non-blocking), so it gives the union mode rather than a guess.
 */
export type TimeoutMode<T extends number | null> = T extends null ? 'blocking' : T extends 0 ? 'nonblocking' : number extends T ? SocketMode : 'blocking';

