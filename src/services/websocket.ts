// The server side of RFC 6455 WebSocket over a blocking tsip stream socket
// (as serve.ts hands one to a handler): the HTTP/1.1 Upgrade handshake, then
// frames in both directions. Bounded: the request head in size and time,
// every message in size (1009 beyond it), every read and write by the
// service's limits. Bad input never throws out of here as anything but a
// clean close (a close frame with 1002/1009, then the handler returns).
//
// Deliberate leniencies, for MicroPython's webrepl_cli.py:
// - it sends client frames UNMASKED (RFC 6455 §5.1 says a server must close
//   on those); masked and unmasked frames are both taken;
// - its Sec-WebSocket-Key is "foo", not 16 base64 bytes: any non-empty key
//   is answered; a missing Sec-WebSocket-Version is taken as 13;
// - it only parses 7- and 16-bit lengths and no fragmentation: the server
//   never fragments and sends at most 65535 bytes per frame (sendText splits
//   long text into several whole text frames, which a terminal cannot tell
//   apart); a binary message longer than that goes out with a 64-bit length.
import { createHash } from 'node:crypto';
import type { BlockingSocket } from '../socket/socket.ts';
import { ServiceTimeout, timedRecv, timedWrite } from './limits.ts';
import type { Connection, ServiceCounters } from './serve.ts';
import { concatChunks } from '../socket/concat.ts';

/** RFC 6455 §1.3: appended to the key before hashing. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key. */
export function websocketAccept(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

/** Close codes used here (RFC 6455 §7.4.1). */
export const WS_CLOSE = { normal: 1000, goingAway: 1001, protocolError: 1002, policy: 1008, tooBig: 1009 } as const;

export interface WebSocketOptions {
  /** Largest message (after reassembly of fragments), bytes; bigger: close 1009 (default 1 MiB). */
  maxMessageBytes?: number;
  /** Largest request head, bytes (default 8 KiB); bigger: 431. */
  maxHeaderBytes?: number;
  /** The whole request head must arrive within this (ms; default 10 s). */
  headerTimeoutMs?: number;
  /** After we sent a close frame, how long to wait for the peer's (ms; default 5 s). */
  closeTimeoutMs?: number;
}

export interface WebSocketMessage {
  type: 'text' | 'binary';
  data: Uint8Array;
}

const enc = new TextEncoder();
const MAX_FRAME_OUT = 65535;

/** A buffered reader over the socket, each recv bounded by the service's limits (or a deadline). */
class Reader {
  private buf = new Uint8Array(0);
  private off = 0;
  constructor(
    private readonly sock: BlockingSocket,
    private readonly conn: Connection,
    private readonly counters: ServiceCounters,
  ) {}

  get available(): number {
    return this.buf.length - this.off;
  }

  /** At least `n` bytes buffered; false at EOF first. `deadline` (stack clock) bounds the whole wait. */
  async fill(n: number, deadline = Infinity): Promise<boolean> {
    while (this.available < n) {
      let ms = this.conn.limits.idleTimeoutMs;
      if (deadline !== Infinity) {
        const left = deadline - this.conn.clock.now();
        if (left <= 0) throw new ServiceTimeout('read');
        ms = ms === 0 ? left : Math.min(ms, left);
      }
      const d = await timedRecv(this.sock, 65536, ms, this.conn);
      if (d.length === 0) return false;
      this.counters.bytesIn += d.length;
      const rest = this.buf.subarray(this.off);
      const nb = new Uint8Array(rest.length + d.length);
      nb.set(rest);
      nb.set(d, rest.length);
      this.buf = nb;
      this.off = 0;
    }
    return true;
  }

  peek(): Uint8Array {
    return this.buf.subarray(this.off);
  }

  take(n: number): Uint8Array {
    const out = this.buf.slice(this.off, this.off + n);
    this.off += n;
    return out;
  }
}

/** Why accept() declined: the status it answered with. */
export type HandshakeResult = { ok: true; ws: WebSocket } | { ok: false; status: number };

function httpError(status: number, reason: string, extra = ''): Uint8Array {
  const body = `${status} ${reason}\n`;
  return enc.encode(`HTTP/1.1 ${status} ${reason}\r\nServer: tsip\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n${extra}\r\n${body}`);
}

/**
 * Read the Upgrade request on `sock` and answer it: 101 and a WebSocket,
 * or 400 (not a valid Upgrade), 426 (another version), 431 (head too big);
 * null when the client went away or was too slow (ServiceTimeout('header') thrown).
 */
export async function acceptWebSocket(sock: BlockingSocket, conn: Connection, counters: ServiceCounters, o: WebSocketOptions = {}): Promise<HandshakeResult | null> {
  const reader = new Reader(sock, conn, counters);
  const maxHead = o.maxHeaderBytes ?? 8192;
  const deadline = conn.clock.now() + (o.headerTimeoutMs ?? 10_000);
  let end = -1;
  for (;;) {
    const have = reader.peek();
    end = indexOfHeadEnd(have);
    if (end >= 0 || have.length > maxHead) break;
    let more: boolean;
    try {
      more = await reader.fill(have.length + 1, deadline);
    } catch (e) {
      throw e instanceof ServiceTimeout ? new ServiceTimeout('header') : e;
    }
    if (!more) return null;
  }
  const reply = async (b: Uint8Array): Promise<void> => {
    await timedWrite(sock, b, conn.limits.writeTimeoutMs, conn);
    counters.bytesOut += b.length;
  };
  if (end < 0 || end > maxHead) {
    await reply(httpError(431, 'Request Header Fields Too Large'));
    return { ok: false, status: 431 };
  }
  const head = new TextDecoder().decode(reader.take(end));
  const lines = head.split('\r\n');
  const m = /^GET (\S+) HTTP\/1\.(\d)$/.exec(lines[0] ?? '');
  const headers = new Map<string, string>();
  let bad = m === null || Number(m[2]) < 1;
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const i = line.indexOf(':');
    if (i <= 0) {
      bad = true;
      continue;
    }
    const k = line.slice(0, i).trim().toLowerCase();
    const v = line.slice(i + 1).trim();
    headers.set(k, headers.has(k) ? `${headers.get(k)}, ${v}` : v);
  }
  const tokens = (k: string): string[] => (headers.get(k) ?? '').toLowerCase().split(',').map((t) => t.trim());
  const key = headers.get('sec-websocket-key') ?? '';
  if (bad || !tokens('upgrade').includes('websocket') || !tokens('connection').includes('upgrade') || key === '' || key.length > 128) {
    await reply(httpError(400, 'Bad Request'));
    return { ok: false, status: 400 };
  }
  const version = headers.get('sec-websocket-version');
  if (version !== undefined && version !== '13') {
    await reply(httpError(426, 'Upgrade Required', 'Sec-WebSocket-Version: 13\r\n'));
    return { ok: false, status: 426 };
  }
  await reply(enc.encode(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${websocketAccept(key)}\r\n\r\n`));
  return { ok: true, ws: new WebSocket(sock, conn, counters, reader, o) };
}

/** Index just past "\r\n\r\n", or -1. */
function indexOfHeadEnd(b: Uint8Array): number {
  for (let i = 3; i < b.length; i++) if (b[i] === 0x0a && b[i - 1] === 0x0d && b[i - 2] === 0x0a && b[i - 3] === 0x0d) return i + 1;
  return -1;
}

/** One accepted WebSocket: receive() messages, send them, close. */
export class WebSocket {
  /** The close code we sent (null: none yet). */
  closeSent: number | null = null;
  /** The close code the peer sent (null: none; 1005 for an empty close). */
  closeReceived: number | null = null;
  private tx: Promise<void> = Promise.resolve();
  /** When we stop waiting for the peer's close (stack clock), once we sent ours. */
  private closeDeadline = Infinity;
  private failed = false;
  /** Largest message accepted now (starts at maxMessageBytes; a service may lower it, e.g. before login). */
  maxMessage: number;

  /** @internal: use acceptWebSocket. */
  constructor(
    readonly sock: BlockingSocket,
    private readonly conn: Connection,
    private readonly counters: ServiceCounters,
    private readonly reader: Reader,
    private readonly o: WebSocketOptions,
  ) {
    this.maxMessage = o.maxMessageBytes ?? 1024 * 1024;
  }

  /** Whether sends still go out (no close sent, no write failed). */
  get open(): boolean {
    return this.closeSent === null && !this.failed;
  }

  /**
   * The next text or binary message (fragments reassembled; pings answered,
   * pongs dropped), or null once the connection is over: the peer closed
   * (answered), sent something invalid (closed with 1002/1009), or EOF.
   * `deadline` (stack clock) bounds the wait: ServiceTimeout('read') past it.
   */
  async receive(deadline = Infinity): Promise<WebSocketMessage | null> {
    let parts: Uint8Array[] = [];
    let total = 0;
    let type: 'text' | 'binary' | null = null;
    for (;;) {
      if (this.closeSent !== null) deadline = Math.min(deadline, this.closeDeadline);
      const r = this.reader;
      let ok: boolean;
      try {
        ok = await r.fill(2, deadline);
      } catch (e) {
        if (this.closeSent !== null && e instanceof ServiceTimeout) return null;
        throw e;
      }
      if (!ok) return null;
      const h = r.peek();
      const b0 = h[0]!;
      const b1 = h[1]!;
      const fin = (b0 & 0x80) !== 0;
      const op = b0 & 0x0f;
      const masked = (b1 & 0x80) !== 0;
      let len = b1 & 0x7f;
      let hl = 2;
      if (len === 126) hl = 4;
      else if (len === 127) hl = 10;
      if (masked) hl += 4;
      if (!(await r.fill(hl, deadline))) return null;
      const hd = r.peek();
      if (len === 126) len = (hd[2]! << 8) | hd[3]!;
      else if (len === 127) {
        const hi = ((hd[2]! << 24) >>> 0) + (hd[3]! << 16) + (hd[4]! << 8) + hd[5]!;
        const lo = ((hd[6]! << 24) >>> 0) + (hd[7]! << 16) + (hd[8]! << 8) + hd[9]!;
        len = hi > 0 ? Infinity : lo;
      }
      if ((b0 & 0x70) !== 0) return this.fail(WS_CLOSE.protocolError); // no extension negotiated
      const control = op >= 8;
      if (control) {
        if (op > 10 || !fin || len > 125) return this.fail(WS_CLOSE.protocolError);
      } else if (op > 2) {
        return this.fail(WS_CLOSE.protocolError);
      } else if (op === 0 ? type === null : type !== null) {
        return this.fail(WS_CLOSE.protocolError); // a continuation of nothing, or a new message inside one
      }
      if (!control && total + len > this.maxMessage) return this.fail(WS_CLOSE.tooBig);
      if (!(await r.fill(hl + len, deadline))) return null;
      const frame = r.take(hl + len);
      const payload = frame.subarray(hl);
      if (masked) {
        const key = frame.subarray(hl - 4, hl);
        for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!;
      }
      if (op === 8) {
        // Close: answer with the same code (or 1000), then we are done.
        if (payload.length === 1) return this.fail(WS_CLOSE.protocolError);
        const code = payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : 1005;
        this.closeReceived = code;
        if (this.closeSent === null) await this.close(code === 1005 || code < 1000 || code >= 5000 ? WS_CLOSE.normal : code);
        return null;
      }
      if (op === 9) {
        if (this.closeSent === null) await this.sendFrame(0x8a, payload);
        continue;
      }
      if (op === 10) continue;
      if (op !== 0) type = op === 1 ? 'text' : 'binary';
      parts.push(payload);
      total += payload.length;
      if (fin) {
        const data = concatChunks(parts, total);
        const t = type!;
        parts = [];
        return { type: t, data };
      }
    }
  }

  /** Text, as whole text frames of at most 65535 bytes each (split at UTF-8 character boundaries). */
  sendText(s: string | Uint8Array): Promise<void> {
    const b = typeof s === 'string' ? enc.encode(s) : s;
    let p: Promise<void> = Promise.resolve();
    let off = 0;
    do {
      let end = Math.min(b.length, off + MAX_FRAME_OUT);
      while (end < b.length && end > off + 1 && (b[end]! & 0xc0) === 0x80) end--;
      p = this.sendFrame(0x81, b.subarray(off, end));
      off = end;
    } while (off < b.length);
    return p;
  }

  /** One binary frame. */
  sendBinary(b: Uint8Array): Promise<void> {
    return this.sendFrame(0x82, b);
  }

  /** Send a close frame with `code` (once); the caller then reads to the peer's close (receive() → null). */
  close(code: number = WS_CLOSE.normal, reason = ''): Promise<void> {
    if (this.closeSent !== null) return this.tx;
    this.closeSent = code;
    this.closeDeadline = this.conn.clock.now() + (this.o.closeTimeoutMs ?? 5_000);
    const r = enc.encode(reason).subarray(0, 123);
    const p = new Uint8Array(2 + r.length);
    p[0] = code >> 8;
    p[1] = code & 0xff;
    p.set(r, 2);
    return this.sendFrame(0x88, p, true);
  }

  private async fail(code: number): Promise<null> {
    await this.close(code);
    return null;
  }

  /** Frames go out in order, one at a time; after a failed write nothing more is sent (the reads end the session). */
  private sendFrame(b0: number, payload: Uint8Array, closing = false): Promise<void> {
    if ((this.closeSent !== null && !closing) || this.failed) return this.tx;
    const n = payload.length;
    const hl = n < 126 ? 2 : n <= 0xffff ? 4 : 10;
    const f = new Uint8Array(hl + n);
    f[0] = b0;
    if (n < 126) f[1] = n;
    else if (n <= 0xffff) {
      f[1] = 126;
      f[2] = n >> 8;
      f[3] = n & 0xff;
    } else {
      f[1] = 127; // bytes 2..5 stay 0: n < 2^32
      f[6] = (n >>> 24) & 0xff;
      f[7] = (n >>> 16) & 0xff;
      f[8] = (n >>> 8) & 0xff;
      f[9] = n & 0xff;
    }
    f.set(payload, hl);
    this.tx = this.tx.then(async () => {
      if (this.failed) return;
      try {
        await timedWrite(this.sock, f, this.conn.limits.writeTimeoutMs, this.conn);
        this.counters.bytesOut += f.length;
      } catch {
        this.failed = true;
        this.sock.close(); // the pending read fails and the session ends
      }
    });
    return this.tx;
  }
}

