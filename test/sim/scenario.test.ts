// runScenario and shrinkScenario (issue 16, part 5): a failing seeded run
// says its seed and the one-line command that replays it; TSIP_SIM_SEED
// replays another seed, TSIP_SIM_TRACE traces the run; a failing fault
// schedule shrinks to the events that matter.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { Pinger } from '../../src/ip/ping.ts';
import { replayCommand, runScenario, ScenarioFailure, shrinkScenario, type Simulator } from '../../src/sim/index.ts';
import { callerTestFile } from '../../src/sim/scenario.ts';
import { addr } from '../support/packets.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'tsip-scenario-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Blackout {
  t: number;
  do: 'blackout';
  host: 'server';
  ms: number;
}

/** Ping the server 20 times, 100 ms apart, while the schedule blacks out its netif; returns the echoes received. */
function pingThrough(sim: Simulator, schedule: readonly Blackout[]): number {
  const client = sim.addStack('client');
  const server = sim.addStack('server');
  const link = sim.connect(client, server, { aAddr: '10.0.0.1', bAddr: '10.0.0.2' });
  for (const f of schedule) {
    sim.clock.after(f.t, () => {
      sim.emit('fault', { do: f.do, host: f.host, ms: f.ms });
      link.bNetif.linkUp = false;
      sim.clock.after(f.ms, () => {
        link.bNetif.linkUp = true;
      });
    });
  }
  const pinger = new Pinger(client, client.icmp, { dst: addr('10.0.0.2'), count: 20, intervalMs: 100 });
  pinger.start();
  sim.runUntil(() => pinger.done, 60_000);
  sim.runUntilIdle();
  return pinger.result.received;
}

describe('runScenario', () => {
  test('returns what the body returns, on a simulator seeded as asked', async () => {
    const r = await runScenario({ name: 'plain', seed: 77, env: {} }, (sim, ctx) => {
      expect(ctx.seed).toBe(77);
      expect(ctx.trace).toBe(null);
      return pingThrough(sim, []);
    });
    expect(r).toBe(20);
  });

  test('a failure names the seed and the command that replays it (this file, -t the name)', async () => {
    const name = 'fails on purpose (seed 5)';
    const err = await runScenario({ name, seed: 5, env: {} }, () => {
      throw new Error('boom');
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScenarioFailure);
    const f = err as ScenarioFailure;
    expect(f.seed).toBe(5);
    expect(f.message).toContain('boom');
    expect(f.message).toContain('seed 5');
    expect(f.replay).toBe(`TSIP_SIM_SEED=5 npx vitest run test/sim/scenario.test.ts -t 'fails on purpose \\(seed 5\\)'`);
    expect(f.message).toContain(`replay: ${f.replay}`);
    expect((f.cause as Error).message).toBe('boom');
    expect(f.stack).toContain('caused by');
  });

  test('TSIP_SIM_SEED overrides the seed (from process.env too); the replayed run is the same run', async () => {
    const seen: (number | string)[] = [];
    const draw = async (env?: Record<string, string | undefined>) =>
      runScenario({ name: 'seeded', seed: 1, ...(env !== undefined ? { env } : {}) }, (sim, ctx) => {
        seen.push(ctx.seed);
        return sim.rng.derive('draw').u32();
      });
    const one = await draw({});
    const nine = await draw({ TSIP_SIM_SEED: '9' });
    const word = await draw({ TSIP_SIM_SEED: 'flaky-run' });
    const old = process.env.TSIP_SIM_SEED;
    process.env.TSIP_SIM_SEED = '9';
    let fromProcess: number;
    try {
      fromProcess = await draw();
    } finally {
      if (old === undefined) delete process.env.TSIP_SIM_SEED;
      else process.env.TSIP_SIM_SEED = old;
    }
    expect(seen).toEqual([1, 9, 'flaky-run', 9]);
    expect(nine).not.toBe(one);
    expect(fromProcess).toBe(nine);
    expect(word).not.toBe(one);
    // The failure of an overridden run names the seed it ran with.
    const err = (await runScenario({ name: 'x', seed: 1, env: { TSIP_SIM_SEED: '42' } }, () => {
      throw new Error('no');
    }).catch((e: unknown) => e)) as ScenarioFailure;
    expect(err.message).toContain('seed 42');
    expect(err.replay).toMatch(/^TSIP_SIM_SEED=42 npx vitest run /);
  });

  test('TSIP_SIM_TRACE (or trace) writes the trace, {seed} and {name} filled in; a failing run keeps its trace', async () => {
    const tpl = path.join(dir, 'run-{name}-{seed}.jsonl');
    await runScenario({ name: 'traced one', seed: 3, env: { TSIP_SIM_TRACE: tpl } }, (sim) => pingThrough(sim, []));
    const lines = readFileSync(path.join(dir, 'run-traced_one-3.jsonl'), 'utf8').trim().split('\n');
    expect(JSON.parse(lines[0]!)).toEqual({ t: 0, ev: 'meta', scenario: 'traced one', seed: 3 });
    expect(lines.filter((l) => l.includes('"ev":"pkt"'))).toHaveLength(80);
    await runScenario({ name: 'traced two', seed: 3, trace: tpl, env: {} }, (sim) => {
      pingThrough(sim, [{ t: 450, do: 'blackout', host: 'server', ms: 100 }]);
      throw new Error('after the faults');
    }).catch(() => {});
    const two = readFileSync(path.join(dir, 'run-traced_two-3.jsonl'), 'utf8');
    expect(two).toContain('{"t":450,"ev":"fault","do":"blackout","host":"server","ms":100}');
  });

  test('replay: a test file, a command, or a hint', () => {
    expect(replayCommand('a b', 7, 'test/x.test.ts')).toBe(`TSIP_SIM_SEED=7 npx vitest run test/x.test.ts -t 'a b'`);
    expect(replayCommand('a', 'it\'s', 'npx tsx scripts/soak.ts --hosts 5')).toBe(`TSIP_SIM_SEED='it'\\''s' npx tsx scripts/soak.ts --hosts 5`);
    expect(replayCommand('a', 7, undefined)).toBe('TSIP_SIM_SEED=7 <the command that ran "a">');
    expect(callerTestFile('Error\n    at f (/x/src/sim/scenario.ts:1:2)\n    at file:///tmp/p/test/a.test.ts:10:3')).toBe(path.relative(process.cwd(), '/tmp/p/test/a.test.ts'));
    expect(callerTestFile('Error\n    at g (/tmp/b.spec.js:1:1)')).toBe(path.relative(process.cwd(), '/tmp/b.spec.js'));
    expect(callerTestFile('Error\n    at g (/tmp/b.js:1:1)')).toBe(undefined);
  });
});

describe('shrinkScenario', () => {
  test('12 blackouts, two of which lose echoes: the schedule shrinks to those two', async () => {
    // Echoes leave at 0, 100, ... and reach the server 1 ms later; blackouts at 30 + 100k miss them,
    // those at 495 and 1195 swallow one each. Two lost echoes fail the scenario.
    const schedule: Blackout[] = [];
    for (let k = 0; k < 10; k++) schedule.push({ t: 30 + 100 * k, do: 'blackout', host: 'server', ms: 40 });
    schedule.splice(3, 0, { t: 495, do: 'blackout', host: 'server', ms: 10 });
    schedule.splice(8, 0, { t: 1195, do: 'blackout', host: 'server', ms: 10 });
    const body = (sim: Simulator, evs: readonly Blackout[]): void => {
      const got = pingThrough(sim, evs);
      if (got <= 18) throw new Error(`${20 - got} echoes lost`);
    };
    await expect(runScenario({ name: 'blackouts', seed: 4, env: {} }, (sim) => body(sim, schedule))).rejects.toThrow('2 echoes lost');
    const logs: string[] = [];
    const r = await shrinkScenario({ name: 'blackouts', seed: 4, env: {}, events: schedule, log: (m) => logs.push(m) }, body);
    expect(r.events.map((e) => e.t)).toEqual([495, 1195]);
    expect(r.minimal).toBe(true);
    expect(r.runs).toBeLessThan(80);
    expect(logs.length).toBeGreaterThan(0);
  });
});
