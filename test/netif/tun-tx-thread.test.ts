// The TUN transmit thread (TunOptions.txThread): packets go from the stack
// into a ring in the addon's memory and a native thread writes them. The
// kernel's curl downloads through it with a small ring (it wraps and fills,
// so the JavaScript side waits for room), with and without offload; small
// packets wake the sleeping thread; closing with packets queued writes them
// and joins the thread, many times over. Every namespace is created and
// deleted here.
import { describe, expect, test } from 'vitest';
import { TunDevice } from '../../src/netif/tun.ts';
import { configureTunLink, createNetns, deleteNetns, ip, netnsExists } from '../../src/netif/tun-ip.ts';
import { Stack } from '../../src/stack/stack.ts';
import { RealClock } from '../../src/time/real-clock.ts';
import { parseSent } from '../support/tcp.ts';
import { generatedSha256, skipReason, skipTun, startTunEnv, waitFor } from '../support/tun.ts';

describe.skipIf(skipTun)('TUN transmit thread', () => {
  for (const offload of [false, true]) {
    test(`curl downloads 30 MB through a 256 KiB ring (offload ${offload ? 'on' : 'off'}): intact, nothing dropped`, async () => {
      const e = startTunEnv({ offload, tun: { txThread: true, txRingBytes: 256 * 1024 } });
      try {
        expect(e.dev.txThread).toBe(true);
        const n = 30_000_000;
        const r = await e.sh(`curl -s -S -m 40 http://${e.tsip}/bytes/${n} | sha256sum`, { timeoutMs: 45_000 });
        expect(r.stdout.toString().split(' ')[0], r.stderr).toBe(generatedSha256(n));
        const c = e.dev.counters;
        expect(c.txDrops).toBe(0);
        expect(c.txBytes).toBeGreaterThan(n);
        if (offload) expect(c.txGso).toBeGreaterThan(0);
        else {
          // Plain: TCP handed over super-segments and the addon's writer cut them, checksums and all (the kernel took them: the hash matches).
          expect(c.txGsoNative).toBeGreaterThan(n / 65536);
          expect(e.dev.txThreadStats()!.packets).toBeGreaterThan(n / 1500);
        }
        expect(e.stack.inet.txCsumOffload).toBe(true);
      } finally {
        e.close();
      }
      e.stack.pool.assertEmpty();
    }, 60_000);
  }

  test('with a tap, checksums are completed before the tap sees the packet (every captured TCP segment sums right), none left to the addon', async () => {
    const out: Uint8Array[] = [];
    const e = startTunEnv({ tun: { txThread: true, tap: (dir, bytes) => void (dir === 'out' && bytes[0]! >> 4 === 4 && bytes[9] === 6 && out.length < 400 && out.push(bytes.slice())) } });
    try {
      const n = 200_000;
      const r = await e.sh(`curl -s -S -m 20 http://${e.tsip}/bytes/${n} | sha256sum`, { timeoutMs: 25_000 });
      expect(r.stdout.toString().split(' ')[0], r.stderr).toBe(generatedSha256(n));
      expect(e.dev.counters.txCsumNative).toBe(0);
      // Every byte of the body passed the tap, in segments up to 64 KiB (txSegmentation: the addon cuts them).
      let body = 0;
      for (const b of out) body += parseSent(b).data.length; // parseSent verifies the TCP checksum
      expect(body).toBeGreaterThan(n);
      expect(out.some((b) => b.length > 1500)).toBe(true);
    } finally {
      e.close();
    }
    e.stack.pool.assertEmpty();
  }, 30_000);

  test('ping, through the thread (txInlineRecords 0): single small packets wake it (kicks counted), replies come back', async () => {
    const e = startTunEnv({ tun: { txThread: true, txSpinUs: 0, txInlineRecords: 0 } });
    try {
      const r = await e.exec(['ping', '-c', '5', '-i', '0.05', '-W', '2', e.tsip], { timeoutMs: 15_000 });
      expect(r.code, r.stderr + r.stdout.toString()).toBe(0);
      expect(r.stdout.toString()).toMatch(/5 received/);
      expect(e.dev.counters.txKicks).toBeGreaterThan(0);
      expect(e.dev.counters.txInline).toBe(0);
    } finally {
      e.close();
    }
  }, 30_000);

  test('ping, by default: each reply finds the thread asleep and is written inline; then a download goes through the thread', async () => {
    const e = startTunEnv({ tun: { txThread: true, txSpinUs: 0 } });
    try {
      const r = await e.exec(['ping', '-c', '5', '-i', '0.05', '-W', '2', e.tsip], { timeoutMs: 15_000 });
      expect(r.code, r.stderr + r.stdout.toString()).toBe(0);
      expect(e.dev.counters.txInline).toBeGreaterThanOrEqual(5);
      const n = 5_000_000;
      const d = await e.sh(`curl -s -S -m 20 http://${e.tsip}/bytes/${n} | sha256sum`, { timeoutMs: 25_000 });
      expect(d.stdout.toString().split(' ')[0], d.stderr).toBe(generatedSha256(n));
      const st = e.dev.txThreadStats()!;
      // The thread wrote every record, super-segments cut into several packets each.
      expect(st.packets).toBeGreaterThan(Math.max(e.dev.counters.txPackets, n / 1500));
      expect(e.dev.counters.txInline).toBeLessThan(e.dev.counters.txPackets / 2);
    } finally {
      e.close();
    }
  }, 30_000);

  test('the link down: packets are dropped and counted (EIO), the thread lives on; up again: they go out', async () => {
    const e = startTunEnv({ tun: { txThread: true } });
    try {
      ip(['link', 'set', 'tsip0', 'down'], e.ns);
      for (let k = 0; k < 10; k++) e.stack.ping(e.kernel, 7, k, new Uint8Array(100));
      expect(await waitFor(() => (e.dev.txThreadStats()?.queuedBytes ?? 1) === 0, 3000)).toBe(true);
      await new Promise((ok) => setTimeout(ok, 0)); // the end-of-task sync of the thread's counters
      e.stack.ping(e.kernel, 7, 99, new Uint8Array(100));
      await new Promise((ok) => setTimeout(ok, 50));
      expect(e.dev.counters.txDrops).toBeGreaterThanOrEqual(10);
      expect(e.dev.txThreadStats()!.lastErrno).toBe(5);
      ip(['link', 'set', 'tsip0', 'up'], e.ns);
      const r = await e.exec(['ping', '-c', '2', '-i', '0.1', '-W', '2', e.tsip], { timeoutMs: 15_000 });
      expect(r.code, r.stderr + r.stdout.toString()).toBe(0);
      expect(e.dev.isClosed).toBe(false);
    } finally {
      e.close();
    }
  }, 30_000);

  test('close with packets queued: they are written, the thread is joined; 40 devices opened and closed in turn', () => {
    const ns = `tsipt-${process.pid}-txq`;
    if (netnsExists(ns)) deleteNetns(ns);
    createNetns(ns);
    try {
      for (let i = 0; i < 40; i++) {
        const clock = new RealClock();
        const stack = new Stack({ clock, name: 'txq' });
        const dev = TunDevice.open({ name: 'tsiptxq', netns: ns, txThread: true, txRingBytes: 256 * 1024 });
        try {
          dev.attach(stack, { addr: '10.88.251.2', prefixLength: 30, mtu: 1500 });
          configureTunLink({ dev: 'tsiptxq', address: '10.88.251.1/30', mtu: 1500, netns: ns });
          // 200 echo requests of 1000 bytes: about 200 KiB into the ring, queued when close() comes.
          for (let k = 0; k < 200; k++) stack.ping('10.88.251.1', 1, k, new Uint8Array(1000));
          expect(dev.counters.txPackets).toBe(200);
        } finally {
          dev.close();
          stack.close();
          clock.dispose();
        }
        expect(dev.isClosed).toBe(true);
        expect(dev.counters.txDrops).toBe(0);
        // Written by the thread before it was joined, none left in the ring.
        expect(dev.txThreadStats()).toMatchObject({ packets: 200, queuedBytes: 0 });
      }
    } finally {
      deleteNetns(ns);
    }
    expect(netnsExists(ns)).toBe(false);
  }, 60_000);
});

if (skipTun) test.skip(skipReason, () => {});
