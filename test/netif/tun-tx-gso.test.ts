// Transmit segmentation on a plain TUN (TunOptions.txSegmentation,
// native/tun/gso.h): TCP hands the transmit ring 64 KiB super-segments and
// the addon's writer cuts them. What the kernel receives, captured on its
// side of the device: only packets within the MTU, each with right IP and
// TCP checksums, in sequence with no gap or overlap, IPv4 identifications
// all different, FIN only on the very last piece, and the download's
// sha256 right; the tap saw the super-segments whole. Off (false): TCP
// sends MTU-sized segments again. Every namespace is created and deleted here.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readPcap } from '../../src/sim/pcap.ts';
import { TcpFlag } from '../../src/wire/tcp.ts';
import { parseSent } from '../support/tcp.ts';
import { generatedSha256, skipReason, skipTun, startCapture, startTunEnv } from '../support/tun.ts';

/** What the kernel received from tsip's HTTP server (source port 80), in capture order. */
interface Wire {
  sizes: number[];
  segs: ReturnType<typeof parseSent>[];
  ids: number[];
}

function fromTsip(file: string): Wire {
  const pcap = readPcap(new Uint8Array(readFileSync(file)));
  if (pcap instanceof Error) throw pcap;
  const w: Wire = { sizes: [], segs: [], ids: [] };
  for (const r of pcap.records) {
    const b = r.data;
    const v4 = b[0]! >> 4 === 4;
    if (v4 ? b[9] !== 6 : b[6] !== 6) continue;
    const seg = parseSent(b); // throws on a wrong IP header or TCP checksum
    if (seg.tcp.srcPort !== 80) continue;
    w.sizes.push(r.origLen);
    w.segs.push(seg);
    if (v4) w.ids.push((b[4]! << 8) | b[5]!);
  }
  return w;
}

describe.skipIf(skipTun)('TUN transmit segmentation (plain device, transmit ring)', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsip-gso-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const six of [false, true]) {
    test(`a 3 MB download over IPv${six ? 6 : 4}: the kernel gets MTU-sized pieces, checksums right, in sequence, FIN on the last only`, async () => {
      let tapBig = 0;
      let tapMax = 0;
      const e = startTunEnv({
        ipv6: six,
        tun: {
          txThread: true,
          tap: (dir, b) => {
            if (dir !== 'out') return;
            tapMax = Math.max(tapMax, b.length);
            if (b.length > 1500) {
              tapBig++;
              parseSent(b); // the tap's super-segment carries a whole checksum too
            }
          },
        },
      });
      const file = join(dir, `dl${six ? 6 : 4}.pcap`);
      const cap = startCapture(e.ns, e.dev.name, file);
      try {
        await cap.ready;
        const n = 3_000_000;
        const host = six ? `[${e.tsip6!}]` : e.tsip;
        const r = await e.sh(`curl ${six ? '-6 ' : ''}-s -S -m 20 http://${host}/bytes/${n} | sha256sum`, { timeoutMs: 25_000 });
        expect(r.stdout.toString().split(' ')[0], r.stderr).toBe(generatedSha256(n));
        await new Promise((ok) => setTimeout(ok, 300)); // the last FIN/ACK exchange into the capture
        const err = await cap.stop();
        expect(err, 'tcpdump dropped packets').toMatch(/\b0 packets dropped by kernel/);
        expect(e.dev.txGso).toBe(true);
        expect(e.dev.counters.txGsoNative).toBeGreaterThan(n / 65536);
        expect(tapBig).toBeGreaterThan(0);
        expect(tapMax).toBeLessThanOrEqual(65535);
        expect(e.stack.tcp.counters.retransSegs).toBe(0);

        const w = fromTsip(file);
        expect(Math.max(...w.sizes)).toBeLessThanOrEqual(1500);
        const withData = w.segs.filter((s) => s.data.length > 0);
        expect(withData.length).toBeGreaterThan(n / 1500);
        // In sequence: each data piece starts where the one before ended (no loss here, so no resends).
        for (let i = 1; i < withData.length; i++) {
          const a = withData[i - 1]!;
          expect(withData[i]!.seq >>> 0).toBe((a.seq + a.data.length) >>> 0);
        }
        let body = 0;
        for (const s of withData) body += s.data.length;
        expect(body).toBeGreaterThan(n);
        // FIN: exactly one segment from tsip carries it, and it is the last data-bearing or bare one.
        const fins = w.segs.filter((s) => (s.flags & TcpFlag.FIN) !== 0);
        expect(fins.length).toBe(1);
        const lastData = withData[withData.length - 1]!;
        expect((fins[0]!.seq + (fins[0]!.data.length)) >>> 0).toBe((lastData.seq + lastData.data.length) >>> 0);
        if (!six) expect(new Set(w.ids).size).toBe(w.ids.length);
      } finally {
        await cap.stop();
        e.close();
      }
      e.stack.pool.assertEmpty();
    }, 40_000);
  }

  test('txSegmentation: false: TCP sends MTU-sized segments (the tap sees none above the MTU)', async () => {
    let tapMax = 0;
    const e = startTunEnv({ tun: { txThread: true, txSegmentation: false, tap: (dir, b) => void (dir === 'out' && (tapMax = Math.max(tapMax, b.length))) } });
    try {
      expect(e.dev.txGso).toBe(false);
      const n = 2_000_000;
      const r = await e.sh(`curl -s -S -m 20 http://${e.tsip}/bytes/${n} | sha256sum`, { timeoutMs: 25_000 });
      expect(r.stdout.toString().split(' ')[0], r.stderr).toBe(generatedSha256(n));
      expect(e.dev.counters.txGsoNative).toBe(0);
      expect(tapMax).toBeLessThanOrEqual(1500);
    } finally {
      e.close();
    }
    e.stack.pool.assertEmpty();
  }, 30_000);
});

if (skipTun) test.skip(skipReason, () => {});
