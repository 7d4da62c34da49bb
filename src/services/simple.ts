// The classic small services: echo (RFC 862), discard (RFC 863), chargen (RFC 864).
import type { SocketLayer } from '../socket/layer.ts';
import { serve, type Service } from './serve.ts';

export function echoService(layer: SocketLayer, port = 7): Service {
  return serve(layer, 'echo', port, async (sock, _addr, c) => {
    for (;;) {
      const d = await sock.recv(65536);
      if (d.length === 0) return;
      c.bytesIn += d.length;
      await sock.write(d);
      c.bytesOut += d.length;
    }
  });
}

export function discardService(layer: SocketLayer, port = 9): Service {
  return serve(layer, 'discard', port, async (sock, _addr, c) => {
    // One buffer per session, reused: discarding allocates nothing per read.
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await sock.recvInto(buf);
      if (n === 0) return;
      c.bytesIn += n;
    }
  });
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

export function chargenService(layer: SocketLayer, port = 19): Service {
  const block = chargenBlock();
  return serve(layer, 'chargen', port, async (sock, _addr, c) => {
    // Until the client goes away: a failing write ends the handler.
    for (;;) {
      await sock.write(block);
      c.bytesOut += block.length;
    }
  });
}
