// A terminal session over a socket, as MicroPython's dupterm does it (seed
// 000): input is read as it becomes available (never blocking the stack),
// output is accepted whole (setwritebuffer, bounded), and the session --
// not the application -- closes the socket when the peer ends it or when a
// read or write fails, so resources are reclaimed however many sessions
// come and go.
import { SO_CALLBACK, SOL_SOCKET } from './constants.ts';
import { isOSError, OSError } from './errors.ts';
import type { NonBlockingSocket, Socket } from './socket.ts';

export type SessionEnd = 'eof' | 'error' | 'closed';

export interface TerminalHandler {
  /** Input arrived: what is there now (the session reads without blocking). */
  input(data: Uint8Array, session: DuptermSession): void;
  /** The session ended: the peer closed (eof), a read/write failed (error), or close() was called. */
  ended?(why: SessionEnd, err: OSError | null, session: DuptermSession): void;
}

export interface DuptermOptions {
  /** Output the session may hold beyond the TCP send buffer (default 64 KiB). */
  writeBufferCap?: number;
  /** Bytes read per read() call (default 4096). */
  readChunk?: number;
}

export class DuptermSession {
  /** The session's socket (of any mode before; non-blocking from now on). */
  readonly sock: NonBlockingSocket;
  private ended: SessionEnd | null = null;
  private readonly chunk: number;

  constructor(
    sock: Socket,
    private readonly handler: TerminalHandler,
    opts: DuptermOptions = {},
  ) {
    this.chunk = opts.readChunk ?? 4096;
    this.sock = sock.setblocking(false);
    this.sock.setwritebuffer(opts.writeBufferCap ?? 64 * 1024);
    this.sock.setsockopt(SOL_SOCKET, SO_CALLBACK, () => this.pump());
    // Data may already be waiting (it arrived before the session existed).
    this.pump();
  }

  get isOpen(): boolean {
    return this.ended === null;
  }

  /** Why the session ended, or null while it runs. */
  get endedBy(): SessionEnd | null {
    return this.ended;
  }

  /** Send output; all of it is taken (or the session ends with the error). */
  write(data: Uint8Array | string): void {
    if (this.ended !== null) return;
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    try {
      this.sock.write(bytes);
    } catch (e) {
      this.end('error', e);
    }
  }

  /** End the session and close the socket (queued output is still sent). */
  close(): void {
    this.end('closed', null);
  }

  /** Read everything available; end on EOF or error. */
  private pump(): void {
    while (this.ended === null) {
      let d: Uint8Array | null;
      try {
        d = this.sock.read(this.chunk);
      } catch (e) {
        this.end('error', e);
        return;
      }
      if (d === null) return; // nothing more now
      if (d.length === 0) {
        this.end('eof', null);
        return;
      }
      try {
        this.handler.input(d, this);
      } catch (e) {
        // The handler could not cope: its state may be compromised, end the session (seed 000).
        this.end('error', e);
        return;
      }
    }
  }

  private end(why: SessionEnd, err: unknown): void {
    if (this.ended !== null) return;
    this.ended = why;
    const osErr = isOSError(err) ? err : err === null ? null : new OSError(5, String(err));
    try {
      this.sock.setsockopt(SOL_SOCKET, SO_CALLBACK, null);
    } catch {
      // already closed
    }
    this.sock.close();
    this.handler.ended?.(why, osErr, this);
  }
}

/**
 * Serve a terminal on every connection of a listening socket: each accepted
 * connection gets a DuptermSession from `makeHandler`. Returns the set of
 * live sessions (sessions remove themselves when they end).
 */
export function serveDupterm(listener: Socket, makeHandler: (addr: readonly [string, number]) => TerminalHandler, opts?: DuptermOptions): Set<DuptermSession> {
  const sessions = new Set<DuptermSession>();
  const nbListener = listener.setblocking(false);
  const acceptAll = (): void => {
    for (;;) {
      let r: [NonBlockingSocket, readonly [string, number]];
      try {
        r = nbListener.accept();
      } catch {
        return; // EAGAIN: nothing waiting (or the listener closed)
      }
      const [sock, addr] = r;
      let inner: TerminalHandler;
      try {
        inner = makeHandler(addr);
      } catch (e) {
        // No session for this connection: close it here (nobody else holds
        // it), report the error, and go on with the others still waiting.
        sock.close();
        listener.layer.callbackFailed(e, sock);
        continue;
      }
      const handler: TerminalHandler = {
        input: (d, s) => inner.input(d, s),
        ended: (why, err, s) => {
          sessions.delete(s);
          inner.ended?.(why, err, s);
        },
      };
      let s: DuptermSession;
      try {
        s = new DuptermSession(sock, handler, opts);
      } catch (e) {
        // The session ended at once and its ended() threw: same as above.
        sock.close();
        listener.layer.callbackFailed(e, sock);
        continue;
      }
      if (s.isOpen) sessions.add(s);
    }
  };
  nbListener.setsockopt(SOL_SOCKET, SO_CALLBACK, acceptAll);
  acceptAll();
  return sessions;
}
