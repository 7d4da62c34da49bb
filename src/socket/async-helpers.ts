// The async-socket helpers of seed 004 (asycamore's tcpsocket module) in
// TypeScript. Most map onto the socket API directly; they are kept for code
// written against that model. Equivalences:
// - listen_tcp            -> listenTcp (or: socket, setblocking(false), SO_REUSEADDR, bind, listen)
// - server_accept         -> serverAccept (or: accept() on a non-blocking listener)
// - connect_tcp           -> connectTcp (or: setblocking(false); connect() raising EINPROGRESS)
// - socket_reader/data_reader -> socketReader (or: `await sock.recv(n)` in blocking mode)
// - socket_writer/write_iterable -> writeIterable (or: `await sock.sendall(buf)` per item)
// - getsockerr            -> getsockerr (or: getsockopt(SOL_SOCKET, SO_ERROR))
//
// The sockets these helpers make non-blocking are typed NonBlockingSocket
// (src/socket/mode.ts); the ones they only use take a Socket of any mode.
import { POLLIN, POLLOUT, SO_ERROR, SO_REUSEADDR, SOL_SOCKET } from './constants.ts';
import { errno, errnoName, isOSError, OSError } from './errors.ts';
import type { SocketLayer } from './layer.ts';
import { Poller } from './poller.ts';
import type { NonBlockingSocket, SockAddr, Socket } from './socket.ts';

/** Create a non-blocking listening socket with SO_REUSEADDR (seed 004 listen_tcp). */
export function listenTcp(layer: SocketLayer, ip: string, port: number, backlog: number): NonBlockingSocket {
  const s = layer.socket().setblocking(false);
  try {
    s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    s.bind([ip, port]);
    s.listen(backlog);
  } catch (e) {
    s.close();
    throw e;
  }
  return s;
}

/**
 * Accept one connection if one is waiting (seed 004 server_accept): the
 * listener and the new socket are made non-blocking and the new socket is
 * handed to `factory`. Returns the factory's result, or null when nothing
 * was waiting.
 */
export function serverAccept<T>(listener: Socket, factory: (sock: NonBlockingSocket, addr: SockAddr) => T): T | null {
  const l = listener.setblocking(false);
  let r: [NonBlockingSocket, SockAddr];
  try {
    r = l.accept();
  } catch (e) {
    if (isOSError(e, errno.EAGAIN)) return null;
    throw e;
  }
  return factory(r[0].setblocking(false), r[1]);
}

/**
 * Start a non-blocking connect (seed 004 connect_tcp). `status` is 0 if the
 * connection is already up, EINPROGRESS while the handshake runs; other
 * errors are thrown.
 */
export function connectTcp(layer: SocketLayer, addr: SockAddr): { sock: NonBlockingSocket; status: number } {
  const sock = layer.socket().setblocking(false);
  try {
    sock.connect(addr);
    return { sock, status: 0 };
  } catch (e) {
    if (isOSError(e, errno.EINPROGRESS)) return { sock, status: errno.EINPROGRESS };
    sock.close();
    throw e;
  }
}

/** Wait until `sock` polls with one of `mask` (or ERR/HUP/NVAL). */
export async function waitPoll(layer: SocketLayer, sock: Socket, mask: number, timeoutMs = -1): Promise<number> {
  const p = new Poller(layer.host.clock);
  p.register(sock, mask);
  try {
    const r = await p.poll(timeoutMs);
    return r.length === 0 ? 0 : r[0]![1];
  } finally {
    p.unregister(sock);
  }
}

/**
 * Received data as an async iterator of chunks of up to `bufferSize` bytes
 * (seed 004 socket_reader / data_reader): ends at EOF, throws on errors
 * other than EAGAIN (which it waits out).
 */
export async function* socketReader(layer: SocketLayer, sock: Socket, bufferSize = 8192): AsyncGenerator<Uint8Array, void, undefined> {
  const nb = sock.setblocking(false);
  for (;;) {
    let chunk: Uint8Array;
    try {
      chunk = nb.recv(bufferSize);
    } catch (e) {
      if (isOSError(e, errno.EAGAIN)) {
        await waitPoll(layer, nb, POLLIN);
        continue;
      }
      throw e;
    }
    if (chunk.length === 0) return;
    yield chunk;
  }
}

/**
 * Send every buffer of `items` in order with backpressure (seed 004
 * write_iterable / socket_writer): waits for POLLOUT when the socket is
 * full. `forEach` runs once per item after all of it was handed to the
 * socket.
 */
export async function writeIterable(layer: SocketLayer, sock: Socket, items: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, forEach?: (item: Uint8Array) => void): Promise<number> {
  const nb = sock.setblocking(false);
  let total = 0;
  for await (const item of items) {
    let off = 0;
    while (off < item.length) {
      const n = nb.write(item.subarray(off));
      if (n === null || n === 0) {
        const f = await waitPoll(layer, nb, POLLOUT);
        if (f & ~POLLOUT) {
          // ERR/HUP/NVAL: the next write raises the reason.
          nb.write(item.subarray(off));
          throw new OSError(errno.EPIPE);
        }
        continue;
      }
      off += n;
    }
    total += item.length;
    forEach?.(item);
  }
  return total;
}

/** The pending socket error as text ('' if none), e.g. for logs (seed 004 getsockerr). */
export function getsockerr(sock: Socket): string {
  const e = sock.getsockopt(SOL_SOCKET, SO_ERROR);
  return e === 0 ? '' : `[Errno ${e}] ${errnoName(e)}`;
}
