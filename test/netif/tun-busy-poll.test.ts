// Busy polling on the TUN device's reads (TunOptions.busyPollUs,
// native/tun/tun.cc BusyPoll): after a batch, the JavaScript thread keeps
// reading for a while instead of sleeping in epoll, so a peer's quick
// answer is read without a wake-up.
//
// What must hold: a request/response exchange with the kernel (python3 on
// the echo service, 1 to 1400 bytes per exchange) is intact and its packets
// are read by the polling; the device's timers and Node's keep their turn
// while a peer keeps answering within the window (the 2 ms cap per go); an
// idle device polls nothing; bad values are refused before a device exists.
// Every namespace is created and deleted here.
import { afterEach, describe, expect, test } from 'vitest';
import { TunDevice, TunError } from '../../src/netif/tun.ts';
import { skipReason, skipTun, startTunEnv, waitFor } from '../support/tun.ts';

/** python3: `n` round trips to the echo service, each a different length and content; prints "ok N" or what went wrong. */
const pingPong = (addr: string, n: number): string => `
import socket, sys
s = socket.create_connection(("${addr}", 7), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for i in range(${n}):
    size = 1 + (i * 37) % 1400
    msg = bytes((i + k) & 255 for k in range(size)) if size < 64 else bytes([i & 255]) * size
    s.sendall(msg)
    got = b""
    while len(got) < size:
        d = s.recv(size - len(got))
        if not d:
            sys.exit("EOF after %d of %d bytes in exchange %d" % (len(got), size, i))
        got += d
    if got != msg:
        sys.exit("exchange %d came back changed" % i)
s.close()
print("ok", ${n})
`;

describe('busy polling: option checks (no device needed)', () => {
  const saved = process.env.TSIP_TUN_BUSY_POLL_US;
  afterEach(() => {
    if (saved === undefined) delete process.env.TSIP_TUN_BUSY_POLL_US;
    else process.env.TSIP_TUN_BUSY_POLL_US = saved;
  });

  test.each([-1, Number.NaN, Infinity, 1e6 + 1, '50' as unknown as number])('busyPollUs %s is refused with a TunError before any device is opened', (v) => {
    expect(() => TunDevice.open({ name: 'tsipbp', netns: `tsipt-${process.pid}-never`, busyPollUs: v })).toThrow(TunError);
    expect(() => TunDevice.open({ name: 'tsipbp', netns: `tsipt-${process.pid}-never`, busyPollUs: v })).toThrow(/busyPollUs must be/);
  });

  test('a bad TSIP_TUN_BUSY_POLL_US is refused and named', () => {
    process.env.TSIP_TUN_BUSY_POLL_US = 'fast';
    expect(() => TunDevice.open({ name: 'tsipbp', netns: `tsipt-${process.pid}-never` })).toThrow(/TSIP_TUN_BUSY_POLL_US/);
  });
});

describe.skipIf(skipTun)('busy polling on a TUN device', () => {
  test('request/response with the kernel is intact, and the polling reads the answers', async () => {
    const e = startTunEnv({ tun: { busyPollUs: 500 } });
    try {
      const r = await e.exec(['python3', '-c', pingPong(e.tsip, 3000)], { timeoutMs: 60_000 });
      expect(r.stderr).toBe('');
      expect(r.stdout.toString().trim()).toBe('ok 3000');
      const bp = e.dev.busyPollStats();
      // A python3 peer answers within 500 µs most of the time: most requests are found by polling, not by a wake-up.
      expect(bp.packets).toBeGreaterThan(1000);
      expect(bp.emptyReads).toBeGreaterThan(0);
      expect(e.stack.tcp.counters.retransSegs).toBe(0);
    } finally {
      e.close();
    }
    e.stack.pool.assertEmpty();
  }, 90_000);

  test('timers keep their turn while the peer answers within the window (at most 2 ms of polling in one go)', async () => {
    // A window of 1 s: without the cap, a peer that keeps answering would hold the thread for the whole exchange.
    const e = startTunEnv({ tun: { busyPollUs: 1e6 } });
    try {
      let last = performance.now();
      let worst = 0;
      let ticks = 0;
      const iv = setInterval(() => {
        const now = performance.now();
        worst = Math.max(worst, now - last);
        last = now;
        ticks++;
      }, 5);
      let stackTimers = 0;
      const t = e.clock.timer(() => {
        stackTimers++;
        t.start(5);
      });
      t.start(5);
      try {
        const r = await e.exec(['python3', '-c', pingPong(e.tsip, 6000)], { timeoutMs: 60_000 });
        expect(r.stdout.toString().trim(), r.stderr).toBe('ok 6000');
      } finally {
        clearInterval(iv);
        t.stop();
      }
      expect(e.dev.busyPollStats().packets).toBeGreaterThan(3000);
      expect(ticks).toBeGreaterThan(20);
      expect(stackTimers).toBeGreaterThan(20);
      // Generous for a loaded CI machine; an uncapped poll would starve the interval for the whole exchange (seconds).
      expect(worst).toBeLessThan(250);
    } finally {
      e.close();
    }
    e.stack.pool.assertEmpty();
  }, 90_000);

  test('off by default, and an idle device polls nothing', async () => {
    const off = startTunEnv();
    try {
      const r = await off.exec(['python3', '-c', pingPong(off.tsip, 200)], { timeoutMs: 30_000 });
      expect(r.stdout.toString().trim(), r.stderr).toBe('ok 200');
      expect(off.dev.busyPollStats()).toEqual({ packets: 0, emptyReads: 0 });
    } finally {
      off.close();
    }
    const on = startTunEnv({ tun: { busyPollUs: 200 } });
    try {
      const before = on.dev.busyPollStats();
      expect(await waitFor(() => false, 200)).toBe(false); // 200 ms with no traffic
      expect(on.dev.busyPollStats()).toEqual(before);
    } finally {
      on.close();
    }
  }, 60_000);
});

if (skipTun) console.warn(skipReason);
