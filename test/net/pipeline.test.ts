// 50 MB through tsip with stream.pipeline into a slow consumer: the
// consumer's pace must reach the sender through the TCP window (the
// advertised window closes and reopens on the wire) and nothing may buffer
// without bound on either side.
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { expect, test } from 'vitest';
import type { PcapWriter } from '../../src/sim/pcap.ts';
import type { Socket } from '../../src/net/index.ts';
import { netPair, pattern } from './helpers.ts';

const TOTAL = 50 * 1024 * 1024;
const CHUNK = 64 * 1024;

test('stream.pipeline of 50 MB into a slow consumer: window closes and reopens, buffering stays bounded', async () => {
  // Watch the server's advertised window on the wire (raw 16-bit field).
  // Windows in bytes (scaled by the shift the server's SYN-ACK announced).
  const windows: number[] = [];
  let shift = 0;
  const tap = {
    write(_t: number, f: Uint8Array) {
      const ihl = (f[0]! & 0x0f) * 4;
      const src = `${f[12]}.${f[13]}.${f[14]}.${f[15]}`;
      if (f[9] !== 6 || src !== '10.0.0.2') return;
      const raw = (f[ihl + 14]! << 8) | f[ihl + 15]!;
      if (f[ihl + 13]! & 0x02) {
        // SYN-ACK: find the window-scale option (kind 3); its window is unscaled.
        const end = ihl + (f[ihl + 12]! >> 4) * 4;
        for (let o = ihl + 20; o < end; ) {
          const kind = f[o]!;
          if (kind === 0) break;
          if (kind === 1) {
            o++;
            continue;
          }
          if (kind === 3) shift = f[o + 2]!;
          o += Math.max(2, f[o + 1]!);
        }
        windows.push(raw);
        return;
      }
      windows.push(raw << shift);
    },
  } as unknown as PcapWriter;
  const t = netPair({ pcap: tap, link: { latencyMs: 2 } });
  const block = pattern(CHUNK, 21);
  const sentHash = createHash('sha256');
  const gotHash = createHash('sha256');
  let received = 0;
  let maxServerBuffered = 0;
  let maxClientBuffered = 0;
  const heap0 = process.memoryUsage().heapUsed;
  let maxHeap = heap0;
  let serverSock: Socket | null = null;
  let client: Socket | null = null;

  const srv = t.server.net.createServer((s) => {
    serverSock = s;
    // The consumer takes 16 KB per 5 ms of virtual time (~3 MB/s): far slower than the link.
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _e, cb) {
        gotHash.update(chunk);
        received += chunk.length;
        const buffered = s.readableLength + s.pendingReceiveBytes;
        if (buffered > maxServerBuffered) maxServerBuffered = buffered;
        const h = process.memoryUsage().heapUsed;
        if (h > maxHeap) maxHeap = h;
        t.sim.clock.timer(() => cb()).start(Math.ceil((chunk.length / (16 * 1024)) * 5));
      },
    });
    void pipeline(s, slow);
  });
  srv.listen(5001);
  client = await t.run(t.client.connectTcp({ host: '10.0.0.2', port: 5001 }));
  const c = client;
  async function* source(): AsyncGenerator<Buffer> {
    for (let off = 0; off < TOTAL; off += CHUNK) {
      const b = Buffer.from(block);
      b.writeUInt32BE(off / CHUNK, 0); // every chunk differs
      sentHash.update(b);
      const buffered = c.writableLength + c.unsentUnacked;
      if (buffered > maxClientBuffered) maxClientBuffered = buffered;
      yield b;
    }
  }
  await t.run(pipeline(Readable.from(source()), c), 3_600_000);
  await t.until(() => received === TOTAL && serverSock !== null && serverSock.destroyed && c.destroyed);
  expect(received).toBe(TOTAL);
  expect(gotHash.digest('hex')).toBe(sentHash.digest('hex'));

  // The window closed (below two MSS on the wire: at most one more segment
  // may be sent; the reads' openings ride on the ACKs of that last segment)
  // while the consumer lagged, and reopened.
  const MSS = 1460;
  const closed = (w: number): boolean => w < 2 * MSS;
  const closedAt = windows.findIndex(closed);
  expect(closedAt).toBeGreaterThanOrEqual(0);
  expect(windows.slice(closedAt).some((w) => w >= 64 * 1024)).toBe(true);
  const closings = windows.filter((w, i) => closed(w) && (i === 0 || !closed(windows[i - 1]!))).length;
  expect(closings).toBeGreaterThan(5); // closed and reopened many times over 50 MB

  // Bounded buffering: receive side <= TCP window + readable HWM (+ one segment);
  // send side <= send buffer + writable HWM (the send buffer by default) + one chunk.
  const rcvWnd = t.server.tcp.config.rcvWnd;
  expect(maxServerBuffered).toBeLessThanOrEqual(rcvWnd + 16 * 1024 + 65536);
  expect(c.writableHighWaterMark).toBe(t.client.tcp.config.sndBuf);
  expect(maxClientBuffered).toBeLessThanOrEqual(t.client.tcp.config.sndBuf + c.writableHighWaterMark + CHUNK);
  expect(maxHeap - heap0).toBeLessThan(64 * 1024 * 1024); // far below 50 MB plus copies

  srv.close();
  await t.finish();
}, 120_000);
