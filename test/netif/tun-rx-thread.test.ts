// The TUN receive thread (TunOptions.rxThread): a native thread reads the
// device into a ring in the addon's memory, the JavaScript thread takes the
// packets from there. In each receive mode (the thread always, none, and
// the default where the thread takes over under a backlog): a burst of
// numbered UDP datagrams from the kernel arrives intact and in order (or
// counted as dropped by the kernel's queue), and a TCP upload from the
// kernel arrives with the right sha256. Then: a ring too small for what
// comes while JavaScript is busy stops the thread (counted), nothing is
// lost out of order; closing with packets in flight (and the thread waiting
// for room) joins it and leaves the pbuf pool empty; request/response
// hands reading back to the JavaScript thread. Every namespace is created
// and deleted here.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TunOptions } from '../../src/netif/tun.ts';
import { ip } from '../../src/netif/tun-ip.ts';
import { skipReason, skipTun, startTunEnv, waitFor, type TunEnv } from '../support/tun.ts';

const PORT = 5009;
const PAYLOAD = 96;

// Send N numbered UDP datagrams (4-byte sequence number, then PAYLOAD bytes
// derived from it) to (host, port), in bursts of BURST with a 1 ms pause.
const PY_BURST = `
import socket, sys, time, struct
host, port, n, burst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(n):
    s.sendto(struct.pack('!I', i) + bytes(((i + k) & 255) for k in range(${PAYLOAD})), (host, port))
    if i % burst == burst - 1:
        time.sleep(0.001)
print(n)
`;

// Raw UDP from SRC to DST:PORT, alternately with a right and a wrong
// checksum (the right one XOR 0x5555), N of each.
const PY_RAW_UDP = `
import socket, struct, sys
src, dst, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def csum(b):
    if len(b) % 2: b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
for i in range(2 * n):
    payload = bytes((i + k) & 255 for k in range(37))
    ln = 8 + len(payload)
    hdr = struct.pack('!HHHH', 40000, port, ln, 0)
    c = csum(socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 17, ln) + hdr + payload) or 0xffff
    if i % 2: c ^= 0x5555
    s.sendto(struct.pack('!HHHH', 40000, port, ln, c) + payload, (dst, 0))
print('ok')
`;

/** A tap recording the numbered datagrams tsip receives, checking each one's bytes. */
function datagramTap(): { tap: NonNullable<TunOptions['tap']>; seqs: number[]; corrupt: number } {
  const r = { seqs: [] as number[], corrupt: 0, tap: (dir: 'in' | 'out', b: Uint8Array) => {} };
  r.tap = (dir, b) => {
    if (dir !== 'in' || b[0]! >> 4 !== 4 || b[9] !== 17 || ((b[22]! << 8) | b[23]!) !== PORT) return;
    const seq = ((b[28]! << 24) | (b[29]! << 16) | (b[30]! << 8) | b[31]!) >>> 0;
    let ok = b.length === 32 + PAYLOAD;
    for (let k = 0; ok && k < PAYLOAD; k++) ok = b[32 + k] === ((seq + k) & 255);
    if (!ok) r.corrupt++;
    r.seqs.push(seq);
  };
  return r;
}

/** Packets the kernel dropped on its side of the device (its queue to tsip full). */
function kernelDrops(e: TunEnv): number {
  const j = JSON.parse(ip(['-s', '-j', 'link', 'show', 'tsip0'], e.ns)) as { stats64: { tx: { dropped: number } } }[];
  return j[0]!.stats64.tx.dropped;
}

/** The sequence numbers are strictly increasing (in order, no duplicates). */
function inOrder(seqs: number[]): boolean {
  for (let i = 1; i < seqs.length; i++) if (seqs[i]! <= seqs[i - 1]!) return false;
  return true;
}

const MODES: [string, Pick<TunOptions, 'rxThread' | 'rxThreadEngage'>][] = [
  ['thread always', { rxThread: true, rxThreadEngage: 0 }],
  ['no thread', { rxThread: false }],
  ['default: the thread on demand', { rxThread: true }],
];

describe.skipIf(skipTun)('TUN receive thread', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsip-rx-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const [tag, rx] of MODES) {
    test(`3000 numbered datagrams from the kernel: intact, in order, each received or dropped by the kernel's queue (${tag})`, async () => {
      const t = datagramTap();
      const e = startTunEnv({ tun: { ...rx, tap: t.tap } });
      try {
        expect(e.dev.rxThread).toBe(rx.rxThread !== false);
        const n = 3000;
        const r = await e.exec(['python3', '-c', PY_BURST, e.tsip, String(PORT), String(n), '100'], { timeoutMs: 30_000 });
        expect(r.code, r.stderr).toBe(0);
        const drops = kernelDrops(e);
        expect(await waitFor(() => t.seqs.length + kernelDrops(e) >= n, 5000)).toBe(true);
        expect(t.corrupt).toBe(0);
        expect(inOrder(t.seqs)).toBe(true);
        expect(t.seqs.length + kernelDrops(e)).toBe(n);
        expect(drops).toBeLessThan(n / 2);
        const st = e.dev.rxThreadStats();
        if (rx.rxThreadEngage === 0) {
          // Every packet came through the ring.
          expect(e.dev.counters.rxRing).toBe(e.dev.counters.rxPackets);
          expect(st!.packets).toBe(e.dev.counters.rxPackets);
        }
        if (rx.rxThread === false) expect(st).toBe(null);
      } finally {
        e.close();
      }
      e.stack.pool.assertEmpty();
    }, 40_000);

    test(`a 20 MB TCP upload from the kernel to a tsip listener: sha256 matches (${tag})`, async () => {
      const e = startTunEnv({ tun: rx });
      try {
        const data = randomBytes(20_000_000);
        const file = join(dir, `up-${tag.replace(/[^a-z]+/g, '-')}.bin`);
        writeFileSync(file, data);
        const ls = e.stack.socket();
        ls.bind(['0.0.0.0', 5001]);
        ls.listen(1);
        ls.settimeout(30); // accept() fails rather than hangs if the sender never connects
        const sender = e.exec(['socat', '-u', `FILE:${file}`, `TCP:${e.tsip}:5001`], { timeoutMs: 40_000 });
        const [s] = await ls.accept();
        s.settimeout(40);
        const why = (): string => `dev ${JSON.stringify(e.dev.counters)} rx ${JSON.stringify(e.dev.rxThreadStats())} tcp ${JSON.stringify(e.stack.tcp.counters)}`;
        const watchdog = setTimeout(() => console.error(`upload stalled? ${why()}`), 15_000);
        const h = createHash('sha256');
        let got = 0;
        for (;;) {
          const d = await s.recv(65536);
          if (d.length === 0) break;
          h.update(d);
          got += d.length;
        }
        clearTimeout(watchdog);
        s.close();
        ls.close();
        const r = await sender;
        expect(r.code, r.stderr).toBe(0);
        expect(got, why()).toBe(data.length);
        expect(h.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
        if (rx.rxThreadEngage === 0) expect(e.dev.counters.rxRing).toBe(e.dev.counters.rxPackets);
      } finally {
        e.close();
      }
      e.stack.pool.assertEmpty();
    }, 60_000);
  }

  // Receive checksum offload: the read paths vouch only for checksums they found right.
  for (const [tag, rx] of MODES.slice(0, 2)) {
    test(`datagrams with a wrong UDP checksum are still dropped and counted, right ones are not (${tag})`, async () => {
      const e = startTunEnv({ tun: rx });
      try {
        const r = await e.exec(['python3', '-c', PY_RAW_UDP, e.kernel, e.tsip, String(PORT), '10'], { timeoutMs: 20_000 });
        expect(r.code, r.stderr).toBe(0);
        const u = e.stack.udp.counters;
        expect(await waitFor(() => u.inCsumErrors >= 10 && e.dev.counters.rxPackets >= 20, 5000)).toBe(true);
        await new Promise((ok) => setTimeout(ok, 50));
        expect(u.inCsumErrors).toBe(10);
        expect(e.dev.counters.rxPackets).toBe(20);
      } finally {
        e.close();
      }
      e.stack.pool.assertEmpty();
    }, 30_000);
  }

  test('by default a bulk upload hands reading to the thread, and request/response hands it back', async () => {
    const e = startTunEnv({ tun: { rxThread: true, rxThreadEngage: 8, rxThreadIdleWakes: 4 } });
    try {
      const r = await e.sh(`head -c 20000000 /dev/zero | socat -u - TCP:${e.tsip}:9`, { timeoutMs: 40_000 });
      expect(r.code, r.stderr).toBe(0);
      const st = e.dev.rxThreadStats()!;
      expect(st.engages).toBeGreaterThan(0);
      expect(e.dev.counters.rxRing).toBeGreaterThan(0);
      // Pings one at a time: lone packets to an idle JavaScript thread, so the thread hands reading back.
      const p = await e.exec(['ping', '-c', '12', '-i', '0.02', '-W', '2', e.tsip], { timeoutMs: 15_000 });
      expect(p.code, p.stderr + p.stdout.toString()).toBe(0);
      expect(await waitFor(() => e.dev.rxThreadStats()!.handbacks > 0, 3000)).toBe(true);
      const ring = e.dev.counters.rxRing;
      const q = await e.exec(['ping', '-c', '3', '-i', '0.02', '-W', '2', e.tsip], { timeoutMs: 15_000 });
      expect(q.code, q.stderr + q.stdout.toString()).toBe(0);
      // Read on the JavaScript thread again: none of these came through the ring.
      expect(e.dev.counters.rxRing).toBe(ring);
    } finally {
      e.close();
    }
    e.stack.pool.assertEmpty();
  }, 60_000);

  test('a ring too small while JavaScript is busy: the thread stops reading (counted), what arrives is in order; close with packets queued and the thread waiting joins it, pool empty', async () => {
    const t = datagramTap();
    const e = startTunEnv({ tun: { rxThread: true, rxThreadEngage: 0, rxRingBytes: 256 * 1024, tap: t.tap } });
    let closed = false;
    try {
      const n = 6000;
      const sender = e.exec(['python3', '-c', PY_BURST, e.tsip, String(PORT), String(n), '200'], { timeoutMs: 30_000 });
      expect(await waitFor(() => t.seqs.length > 0, 10_000)).toBe(true);
      // Keep the JavaScript thread busy (bounded: 300 ms) while the datagrams come: the 256 KiB ring fills.
      const until = performance.now() + 300;
      while (performance.now() < until && e.dev.rxThreadStats()!.fullStalls === 0) {
        /* busy */
      }
      expect(e.dev.rxThreadStats()!.fullStalls).toBeGreaterThan(0);
      expect(e.dev.rxThreadStats()!.queuedBytes).toBeGreaterThan(128 * 1024);
      // Close now, with the ring full and the thread waiting for room.
      e.close();
      closed = true;
      await sender;
      expect(e.dev.isClosed).toBe(true);
      expect(t.corrupt).toBe(0);
      expect(inOrder(t.seqs)).toBe(true);
    } finally {
      if (!closed) e.close();
    }
    e.stack.pool.assertEmpty();
  }, 40_000);

  test('12 devices opened, flooded and closed with the thread reading: each joins, pool empty', async () => {
    for (let i = 0; i < 12; i++) {
      const e = startTunEnv({ tun: { rxThread: true, rxThreadEngage: i % 2 === 0 ? 0 : 1 } });
      try {
        const sender = e.exec(['python3', '-c', PY_BURST, e.tsip, String(PORT), '400', '400'], { timeoutMs: 20_000 });
        await waitFor(() => e.dev.counters.rxPackets >= 50, 5000, 1);
        e.close();
        await sender;
      } finally {
        e.close();
      }
      e.stack.pool.assertEmpty();
    }
  }, 120_000);
});

if (skipTun) test.skip(skipReason, () => {});
