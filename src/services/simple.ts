// The classic small services: echo (RFC 862), discard (RFC 863), chargen
// (RFC 864). Each is bounded (ServeOptions, defaults in serve.ts): a client
// that sends nothing for idleTimeoutMs, or does not take a write within
// writeTimeoutMs (chargen and echo to a client that never reads), is reset.
import type { SocketLayer } from '../socket/layer.ts';
import { timedRecv, timedRecvInto, timedWrite } from './limits.ts';
import { serve, type ServeOptions, type Service } from './serve.ts';

export function echoService(layer: SocketLayer, port = 7, options: ServeOptions = {}): Service {
  return serve(
    layer,
    'echo',
    port,
    async (sock, _addr, c, conn) => {
      for (;;) {
        const d = await timedRecv(sock, 65536, conn.limits.idleTimeoutMs, conn);
        if (d.length === 0) return;
        c.bytesIn += d.length;
        // What the send buffer takes now goes without a wait (the usual
        // case: an echo is no larger than what arrived): a non-blocking
        // write, no Promise; the rest, if any, as a timed blocking write.
        const n = sock.settimeout(0).write(d) ?? 0;
        if (n < d.length) await timedWrite(sock, n === 0 ? d : d.subarray(n), conn.limits.writeTimeoutMs, conn);
        c.bytesOut += d.length;
      }
    },
    options,
  );
}

export function discardService(layer: SocketLayer, port = 9, options: ServeOptions = {}): Service {
  return serve(
    layer,
    'discard',
    port,
    async (sock, _addr, c, conn) => {
      // One buffer per session, reused: discarding allocates nothing per read.
      const buf = new Uint8Array(65536);
      for (;;) {
        const n = await timedRecvInto(sock, buf, conn.limits.idleTimeoutMs, conn);
        if (n === 0) return;
        c.bytesIn += n;
      }
    },
    options,
  );
}

/** RFC 864: lines of 72 printable characters, each starting one character later. */
export function chargenBlock(lines = 95): Uint8Array {
  const out = new Uint8Array(lines * 74);
  let o = 0;
  for (let l = 0; l < lines; l++) {
    for (let i = 0; i < 72; i++) out[o++] = 32 + ((l + i) % 95);
    out[o++] = 13;
    out[o++] = 10;
  }
  return out;
}

/**
 * Lines per chargen write: nine rounds of the 95-line pattern (63 270 bytes,
 * within the 64 KiB a write must be taken in by writeTimeoutMs), the same
 * stream as one round at a time with a ninth of the calls.
 */
const CHARGEN_WRITE_LINES = 9 * 95;

export function chargenService(layer: SocketLayer, port = 19, options: ServeOptions = {}): Service {
  // One constant block for every connection: written zero-copy (never modified).
  const block = chargenBlock(CHARGEN_WRITE_LINES);
  return serve(
    layer,
    'chargen',
    port,
    async (sock, _addr, c, conn) => {
      // Until the client goes away or stops reading: a failing or timed-out write ends the handler.
      for (;;) {
        await timedWrite(sock, block, conn.limits.writeTimeoutMs, conn, true);
        c.bytesOut += block.length;
      }
    },
    options,
  );
}
