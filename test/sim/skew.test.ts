// Clock skew (issue 16 part 3): sim.skew(host, offsetMs, rate?) shifts what
// one host's stack reads from the clock (TCP timestamps, RTT samples,
// timers) and nothing of any other host; deterministic. SkewedClock itself:
// the translation of its timers to the shared clock, a step back freezing
// the host's clock rather than running it backwards.
import { describe, expect, test } from 'vitest';
import { SkewedClock } from '../../src/time/skewed-clock.ts';
import { VirtualClock } from '../../src/time/virtual-clock.ts';
import { pattern, sha256 } from '../net/helpers.ts';
import { dial, echoRoundTrip, world, type WireSeg } from './hosts.ts';

const tsvals = (segs: WireSeg[], link: string): number[] => segs.filter((s) => s.link === link && s.seg.opts.hasTimestamp).map((s) => s.seg.opts.tsVal);

async function echoRun(skew?: { offsetMs: number; rate?: number; at?: number }): Promise<{ wire: WireSeg[]; hash: string; mark: number }> {
  const w = world({ seed: 'skew' });
  let mark = 0;
  if (skew !== undefined) {
    // Through the fault schedule; the wire log's length when it applies marks "after".
    w.sim.onEvent((e) => {
      if (e.ev === 'fault') mark = w.wire.length;
    });
    w.sim.schedule([{ at: skew.at ?? 0, do: 'skew', host: 'client', offsetMs: skew.offsetMs, ...(skew.rate !== undefined ? { rate: skew.rate } : {}) }]);
    await w.advance(0);
  }
  const c = await w.run(dial(w));
  const data = pattern(200_000, 5);
  const back = await w.run(echoRoundTrip(c, data));
  await w.finish();
  return { wire: w.wire, hash: sha256(back) === sha256(data) ? 'ok' : 'mismatch', mark };
}

/** Times to 1e-6 ms: a skewed host's deadlines go through its offset and back (float rounding far below a microsecond). */
const us = (t: number): number => Math.round(t * 1e6) / 1e6;

describe('sim.skew', () => {
  test('an offset shifts the skewed host’s TCP timestamps on the wire, and only that host’s', async () => {
    const base = await echoRun();
    const skewed = await echoRun({ offsetMs: 100_000 });
    expect(base.hash).toBe('ok');
    expect(skewed.hash).toBe('ok');
    // Same timing, so the same segments; the server's clock is untouched.
    expect(skewed.wire.map((s) => [us(s.t), s.link, s.flags, s.seg.data.length])).toEqual(base.wire.map((s) => [us(s.t), s.link, s.flags, s.seg.data.length]));
    expect(tsvals(skewed.wire, 'server->client')).toEqual(tsvals(base.wire, 'server->client'));
    const a = tsvals(base.wire, 'client->server');
    const b = tsvals(skewed.wire, 'client->server');
    expect(a.length).toBeGreaterThan(10);
    expect(b.map((v, i) => (v - a[i]!) >>> 0)).toEqual(a.map(() => 100_000));
    // What the server echoes back is the skewed clock too.
    const ecrA = base.wire.filter((s) => s.link === 'server->client' && s.flags !== 'SA').map((s) => s.seg.opts.tsEcr);
    const ecrB = skewed.wire.filter((s) => s.link === 'server->client' && s.flags !== 'SA').map((s) => s.seg.opts.tsEcr);
    expect(ecrB.map((v, i) => (v - ecrA[i]!) >>> 0)).toEqual(ecrA.map(() => 100_000));
  });

  test('a jump mid-transfer: the TSvals after it jump by the offset, bytes still arrive intact; deterministic', async () => {
    const at = 40;
    const run1 = await echoRun({ offsetMs: 5_000, at });
    const run2 = await echoRun({ offsetMs: 5_000, at });
    expect(run1.hash).toBe('ok');
    expect(run2.wire.map((s) => [s.t, s.link, s.flags, s.seg.seq, s.seg.opts.tsVal])).toEqual(run1.wire.map((s) => [s.t, s.link, s.flags, s.seg.seq, s.seg.opts.tsVal]));
    const cli = run1.wire.map((s, i) => ({ ...s, i })).filter((s) => s.link === 'client->server');
    const before = cli.filter((s) => s.i < run1.mark);
    const after = cli.filter((s) => s.i >= run1.mark);
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
    const base = before[0]!.seg.opts.tsVal - Math.floor(before[0]!.t); // the connection's TS offset
    for (const s of before) expect((s.seg.opts.tsVal - Math.floor(s.t) - base) >>> 0).toBe(0);
    for (const s of after) expect((s.seg.opts.tsVal - Math.floor(s.t) - base) >>> 0).toBe(5_000);
    // The server is untouched: its TSvals follow the shared clock throughout.
    const srv = run1.wire.filter((s) => s.link === 'server->client');
    const sb = srv[0]!.seg.opts.tsVal - Math.floor(srv[0]!.t);
    for (const s of srv) expect((s.seg.opts.tsVal - Math.floor(s.t) - sb) >>> 0).toBe(0);
  });

  test('a rate: the host’s timers run faster in shared time (SYN retries twice as often at rate 2)', async () => {
    const synTimes = async (rate?: number): Promise<number[]> => {
      const w = world({ seed: 3, client: { tcp: { userTimeoutMs: 10_000 } }, echo: false });
      if (rate !== undefined) w.sim.skew('client', 0, rate);
      const c = w.sim.host('client').net.connect({ host: '10.0.0.2', port: 1 });
      c.on('error', () => {});
      // Port 1 answers with a RST: use an address nobody has so SYNs go unanswered.
      w.sim.host('server').netifs[1]!.up = false;
      await w.until(() => c.destroyed, 100_000);
      const t = w.wire.filter((s) => s.link === 'client->server' && s.flags === 'S').map((s) => s.t);
      w.sim.host('server').netifs[1]!.up = true;
      await w.finish();
      return t;
    };
    const normal = await synTimes();
    const fast = await synTimes(2);
    expect(normal.length).toBeGreaterThan(3);
    expect(fast.length).toBe(normal.length);
    const gaps = (t: number[]): number[] => t.slice(1).map((x, i) => x - t[i]!);
    for (const [i, g] of gaps(fast).entries()) expect(g).toBeCloseTo(gaps(normal)[i]! / 2, 6);
  });

  test('the skew is the host’s: kept across a restart; the other host never sees it', async () => {
    const w = world();
    w.sim.skew('server', 7_000);
    expect(w.sim.host('server').clock.now()).toBe(7_000);
    expect(w.sim.host('client').clock.now()).toBe(0);
    await w.advance(10);
    w.sim.restart('server');
    expect(w.sim.host('server').clock.now()).toBe(7_010);
    expect(w.sim.hostClock('server').offsetMs).toBe(7_000);
    const c = await w.run(dial(w));
    const back = await w.run(echoRoundTrip(c, pattern(10_000)));
    expect(back.length).toBe(10_000);
    await w.finish();
  });
});

describe('SkewedClock', () => {
  test('unskewed it is the base clock; skewed, now() and timers translate', () => {
    const base = new VirtualClock();
    const v = new SkewedClock(base);
    const fired: [string, number, number][] = [];
    const rec = (name: string) => () => fired.push([name, base.now(), v.now()]);
    v.timer(rec('a'), 'a').start(10);
    expect(v.now()).toBe(0);
    base.advanceTo(5);
    v.skew(1_000);
    expect(v.now()).toBe(1_005);
    expect(v.offsetMs).toBe(1_000);
    const t = v.timer(rec('b'), 'b').startAt(1_020); // view time 1020 = base 20
    expect(t.deadline).toBe(1_020);
    v.timer(rec('c'), 'c').start(3); // base 8
    base.advanceTo(100);
    expect(fired).toEqual([
      ['c', 8, 1_008],
      ['a', 10, 1_010], // armed before the skew: keeps its shared-time deadline
      ['b', 20, 1_020],
    ]);
  });

  test('a step back freezes the host clock until the new time catches up (never backwards)', () => {
    const base = new VirtualClock();
    const v = new SkewedClock(base);
    base.advanceTo(100);
    v.skew(-50);
    const seen: number[] = [];
    for (let t = 100; t <= 200; t += 10) {
      base.advanceTo(t);
      seen.push(v.now());
    }
    expect(seen).toEqual([100, 100, 100, 100, 100, 100, 110, 120, 130, 140, 150]);
    // A timer for view time 110 fires when the view reaches it (base 160 if armed during the freeze).
    const base2 = new VirtualClock();
    const v2 = new SkewedClock(base2);
    base2.advanceTo(100);
    v2.skew(-50);
    let at = -1;
    v2.timer(() => (at = base2.now())).startAt(110);
    base2.advanceTo(1_000);
    expect(at).toBe(160);
  });

  test('a fractional rate never makes a deadline fire a hair early (no re-arm loop)', () => {
    const base = new VirtualClock();
    const v = new SkewedClock(base);
    v.skew(0.1, 1 / 3);
    let fires = 0;
    const deadlines = [1, 7, 13.37, 1_000_000.1, 123_456_789];
    const t = v.timer(() => {
      fires++;
      const d = deadlines[fires - 1]!;
      expect(v.now()).toBeGreaterThanOrEqual(d);
      if (fires < deadlines.length) t.startAt(deadlines[fires]!);
    });
    t.startAt(deadlines[0]!);
    base.advanceTo(1e12);
    expect(fires).toBe(deadlines.length);
  });

  test('bad skews are RangeErrors', () => {
    const v = new SkewedClock(new VirtualClock());
    expect(() => v.skew(Number.NaN)).toThrow(RangeError);
    expect(() => v.skew(1, 0)).toThrow(/rate/);
    expect(() => v.skew(1, -1)).toThrow(RangeError);
    expect(() => v.skew(Infinity)).toThrow(RangeError);
  });
});
