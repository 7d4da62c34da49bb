import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { runSimPing } from '../../src/cli/sim-ping.ts';
import { Pinger } from '../../src/ip/ping.ts';
import { PcapWriter, readPcap } from '../../src/sim/pcap.ts';
import { Simulator } from '../../src/sim/simulator.ts';
import type { LinkSpec } from '../../src/sim/link.ts';
import { addr } from '../support/packets.ts';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function pingRun(seed: number | string, link: LinkSpec, count: number, extra: { size?: number; mtu?: number } = {}) {
  return runSimPing({ seed, count, size: extra.size ?? 56, intervalMs: 100, mtu: extra.mtu ?? 1500, link, verbose: false, log: () => {} });
}

describe('simulator', () => {
  test('ICMP echo between two stacks over a 10%-loss link', () => {
    const sim = new Simulator({ seed: 7 });
    const a = sim.addStack('a', { pool: { trackLive: true } });
    const b = sim.addStack('b', { pool: { trackLive: true } });
    const link = sim.connect(a, b, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { latencyMs: 5, loss: 0.1 } });
    const pinger = new Pinger(a, a.icmp, { dst: addr('10.0.0.2'), count: 200, intervalMs: 50 });
    pinger.start();
    expect(sim.runUntil(() => pinger.done, 60_000)).toBe(true);
    const r = pinger.result;
    expect(r.sent).toBe(200);
    // Each exchange survives with probability 0.9 * 0.9 = 0.81.
    expect(r.received).toBeGreaterThan(145);
    expect(r.received).toBeLessThan(180);
    // Every lost exchange is accounted for by a frame the link dropped.
    const requestsLost = link.ab.stat('dropped');
    const repliesLost = link.ba.stat('dropped');
    expect(r.received).toBe(200 - requestsLost - repliesLost);
    expect(b.stats.icmp.recv).toBe(200 - requestsLost);
    expect(new Set(r.rttsMs)).toEqual(new Set([10]));
    expect(sim.runUntilIdle()).toBe(true);
    sim.close();
    a.pool.assertEmpty();
    b.pool.assertEmpty();
  });

  test('the same seed gives a byte-identical pcap; another seed gives a different one', () => {
    const link: LinkSpec = { latencyMs: 2, jitterMs: 3, loss: 0.1, duplicate: 0.05, reorder: 0.05 };
    const one = pingRun(42, link, 50);
    const two = pingRun(42, link, 50);
    const other = pingRun(43, link, 50);
    expect(one.pcap.length).toBeGreaterThan(24);
    expect(sha256(one.pcap)).toBe(sha256(two.pcap));
    expect(sha256(other.pcap)).not.toBe(sha256(one.pcap));
    expect(one.result).toEqual(two.result);
    expect(one.poolClean && two.poolClean && other.poolClean).toBe(true);
  });

  test('big pings over a small MTU with duplication and reordering come back whole', () => {
    const out = pingRun(3, { latencyMs: 1, duplicate: 0.1, reorder: 0.2, reorderDelayMs: 3 }, 20, { size: 5000, mtu: 576 });
    expect(out.result.received).toBe(20);
    expect(out.result.corrupted).toBe(0);
    expect(out.poolClean).toBe(true);
    const pcap = readPcap(out.pcap);
    if (pcap instanceof Error) throw pcap;
    expect(pcap.linktype).toBe(101);
    expect(pcap.records.every((r) => r.data.length <= 576)).toBe(true);
  });

  test('corrupted frames are caught by checksums, never delivered as good data', () => {
    const out = pingRun(11, { latencyMs: 1, corrupt: 0.3 }, 100, { size: 200 });
    expect(out.result.corrupted).toBe(0);
    expect(out.result.received).toBeLessThan(100);
    expect(out.result.received).toBeGreaterThan(20);
    expect(out.poolClean).toBe(true);
  });

  test('runUntil stops at the deadline when the condition never holds', () => {
    const sim = new Simulator();
    const a = sim.addStack('a');
    const b = sim.addStack('b');
    sim.connect(a, b, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { loss: 1 } });
    const pinger = new Pinger(a, a.icmp, { dst: addr('10.0.0.2'), count: 3, intervalMs: 100, timeoutMs: 1000 });
    pinger.start();
    expect(sim.runUntil(() => pinger.result.received > 0, 500)).toBe(false);
    expect(sim.clock.now()).toBe(500);
    expect(sim.runUntil(() => pinger.done, 10_000)).toBe(true);
    expect(pinger.result.received).toBe(0);
    sim.close();
  });

  test('the step budget counts every timer fired, also inside one instant (a chain of fresh timers at now)', () => {
    const sim = new Simulator({ maxSteps: 10_000 });
    let fired = 0;
    const chain = (): void => {
      fired++;
      sim.clock.after(0, chain); // a new timer each time: the re-arm guard never sees one timer twice
    };
    sim.clock.after(5, chain);
    expect(() => sim.runUntil(() => false, 1_000)).toThrow(/simulator: more than 10000 timer events without reaching the condition \(runaway\? at 5 ms virtual, 1 timers pending\)/);
    expect(fired).toBe(10_000);
    expect(sim.steps).toBe(10_000);
    expect(() => sim.runUntil(() => false, 1_000, 100)).toThrow(/more than 100 timer events/);
  });

  test('a timer re-armed at now without end is a runaway named by its timer, from inside runUntil', () => {
    const sim = new Simulator({ maxRearmsPerInstant: 500 });
    const t = sim.clock.timer(() => t.start(0), 'test/loop');
    t.start(3);
    expect(() => sim.runUntil(() => false, 1_000)).toThrow(/runaway timer 'test\/loop': re-armed at or before now more than 500 times at 3 ms/);
  });

  test('stack names are unique and each stack gets its own random stream', () => {
    const sim = new Simulator({ seed: 1 });
    const a = sim.addStack('a');
    const b = sim.addStack('b');
    expect(() => sim.addStack('a')).toThrow(/already/);
    expect(a.rng.u32()).not.toBe(b.rng.u32());
  });
});

describe('tcpdump reads simulator pcaps', () => {
  const haveTcpdump = spawnSync('sh', ['-c', 'command -v tcpdump'], { encoding: 'utf8' }).status === 0;
  const inCi = Boolean(process.env.CI);
  if (!haveTcpdump && !inCi) {
    test.skip('tcpdump is not installed (npm test installs it when run as root; CI requires it)', () => {});
    return;
  }

  function tcpdump(bytes: Uint8Array): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsip-pcap-'));
    try {
      const file = path.join(dir, 'p.pcap');
      writeFileSync(file, bytes);
      return execFileSync('tcpdump', ['-nvvv', '-r', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  test('every packet decodes and every checksum is correct (fragmented pings included)', () => {
    expect(haveTcpdump).toBe(true);
    const out = pingRun(1, { latencyMs: 1, loss: 0.1 }, 20, { size: 3000, mtu: 1000 });
    const pcap = readPcap(out.pcap);
    if (pcap instanceof Error) throw pcap;
    const text = tcpdump(out.pcap);
    const packets = text.split('\n').filter((l) => /^\d\d:\d\d:\d\d\.\d{6} IP /.test(l));
    expect(packets).toHaveLength(pcap.records.length);
    expect(text).not.toMatch(/bad cksum|wrong icmp cksum|incorrect|truncated/i);
    expect(text).toMatch(/ICMP echo request/);
    expect(text).toMatch(/ICMP echo reply/);
  });

  test('positive control: tcpdump does flag a bad checksum, so the check above can fail', () => {
    expect(haveTcpdump).toBe(true);
    const out = pingRun(1, { latencyMs: 1 }, 1);
    const pcap = readPcap(out.pcap);
    if (pcap instanceof Error) throw pcap;
    const w = new PcapWriter();
    const bad = pcap.records[0]!.data.slice();
    bad[10]! ^= 0x5a; // IP header checksum
    w.write(0, bad);
    const badIcmp = pcap.records[1]!.data.slice();
    badIcmp[22]! ^= 0x5a; // ICMP checksum
    w.write(1, badIcmp);
    const text = tcpdump(w.bytes());
    expect(text).toMatch(/bad cksum/);
    expect(text).toMatch(/wrong icmp cksum/);
  });
});
