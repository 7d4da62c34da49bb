// The fault schedule (issue 16 part 3): plain-JSON events applied at their
// virtual times, each on the timeline as a 'fault' event, all checked
// before any is armed; deterministic; a compact text form. Link events go
// to the simulator's link controls (partition/heal/setLinkUp/setLink),
// stubbed here: the links' side provides them.
import { describe, expect, test } from 'vitest';
import { formatFaults, parseFaults, type FaultEvent, type LinkControls } from '../../src/sim/faults.ts';
import type { SimEvent } from '../../src/sim/simulator.ts';
import type { Socket as NetSocket } from '../../src/net/socket.ts';
import { pattern, sha256 } from '../net/helpers.ts';
import { dial, echoRoundTrip, world, type World } from './hosts.ts';

const faults = (events: SimEvent[]): SimEvent[] => events.filter((e) => e.ev === 'fault');

/** Give the simulator recording link controls (what the links' side adds). */
function stubLinks(w: World): string[] {
  const calls: string[] = [];
  const at = (): number => w.sim.clock.now();
  const controls: LinkControls = {
    partition: (groups) => calls.push(`${at()} partition ${JSON.stringify(groups)}`),
    heal: () => calls.push(`${at()} heal`),
    setLinkUp: (link, up) => calls.push(`${at()} setLinkUp ${link} ${up}`),
    setLink: (link, spec, dir) => calls.push(`${at()} setLink ${link} ${JSON.stringify(spec)} ${dir ?? '-'}`),
  };
  Object.assign(w.sim, controls);
  return calls;
}

describe('sim.schedule', () => {
  test('applies host events at their virtual times, ties in list order, each a fault event on the timeline first', async () => {
    const w = world({ echo: false });
    const order: string[] = [];
    w.sim.onEvent((e) => order.push(`${e.t} ${e.ev}:${String(e['do'])}:${w.sim.isDown('server') ? 'down' : 'up'}`));
    const h = w.sim.schedule([
      { at: 3000, do: 'restart', host: 'server' },
      { at: 1000, do: 'crash', host: 'server' },
      { at: 2000, do: 'skew', host: 'client', offsetMs: 500 },
      { at: 2000, do: 'skew', host: 'client', offsetMs: 700 },
    ]);
    expect(h.pending).toBe(4);
    await w.advance(1500);
    expect(h.applied).toBe(1);
    expect(w.sim.isDown('server')).toBe(true);
    await w.advance(10_000);
    expect(h.pending).toBe(0);
    expect(order).toEqual(['1000 fault:crash:up', '2000 fault:skew:down', '2000 fault:skew:down', '3000 fault:restart:down']);
    expect(faults(w.events)).toEqual([
      { t: 1000, ev: 'fault', do: 'crash', host: 'server' },
      { t: 2000, ev: 'fault', do: 'skew', host: 'client', offsetMs: 500 },
      { t: 2000, ev: 'fault', do: 'skew', host: 'client', offsetMs: 700 },
      { t: 3000, ev: 'fault', do: 'restart', host: 'server' },
    ]);
    expect(w.sim.hostClock('client').offsetMs).toBe(700); // the later of the tie
    expect(w.sim.generation('server')).toBe(1);
    await w.finish();
  });

  test('link events go to the link controls at their times (partition, heal, linkDown/Up, link spec), each on the timeline', async () => {
    const w = world({ echo: false });
    const L = w.sim.linkNames()[0]!;
    expect(L).toBe('client~server');
    const seen: string[] = [];
    const probe = (t: number): void => {
      w.sim.clock.after(t - w.sim.clock.now() + 1, () => {
        const pipes = w.sim.linkPipelines(L);
        seen.push(`${t} partitioned=${w.sim.partitionGroups().size} down=${String(!pipes.ab.up)} ab=${JSON.stringify(w.sim.linkSpec(L, 'ab'))} ba=${JSON.stringify(w.sim.linkSpec(L, 'ba'))}`);
      });
    };
    w.sim.schedule([
      { at: 10, do: 'partition', groups: [['client'], ['server']] },
      { at: 20, do: 'heal' },
      { at: 30, do: 'linkDown', link: L },
      { at: 40, do: 'linkUp', link: L },
      { at: 50, do: 'link', link: L, spec: { latencyMs: 40, loss: 0.1 }, dir: 'ab' },
      { at: 60, do: 'link', link: L, spec: { latencyMs: 1 } },
    ]);
    for (const t of [10, 20, 30, 40, 50, 60]) probe(t);
    await w.advance(100);
    expect(seen).toEqual([
      '10 partitioned=2 down=false ab={"latencyMs":5} ba={"latencyMs":5}',
      '20 partitioned=0 down=false ab={"latencyMs":5} ba={"latencyMs":5}',
      '30 partitioned=0 down=true ab={"latencyMs":5} ba={"latencyMs":5}',
      '40 partitioned=0 down=false ab={"latencyMs":5} ba={"latencyMs":5}',
      '50 partitioned=0 down=false ab={"latencyMs":40,"loss":0.1} ba={"latencyMs":5}',
      '60 partitioned=0 down=false ab={"latencyMs":1} ba={"latencyMs":1}',
    ]);
    expect(faults(w.events).map((e) => [e.t, e['do']])).toEqual([
      [10, 'partition'],
      [20, 'heal'],
      [30, 'linkDown'],
      [40, 'linkUp'],
      [50, 'link'],
      [60, 'link'],
    ]);
    expect(faults(w.events)[4]).toEqual({ t: 50, ev: 'fault', do: 'link', link: L, spec: { latencyMs: 40, loss: 0.1 }, dir: 'ab' });
    await w.finish();
  });

  test('the controls called directly put the same events on the timeline', async () => {
    const w = world({ echo: false });
    w.sim.partition([['client'], ['server']]);
    w.sim.heal();
    w.sim.setLinkUp('client~server', false);
    w.sim.setLinkUp('client~server', true);
    w.sim.skew('client', 500);
    expect(faults(w.events).map((e) => String(e['do']))).toEqual(['partition', 'heal', 'linkDown', 'linkUp', 'skew']);
    await w.finish();
  });

  test('without link controls, link events are refused up front with a clear error', () => {
    const w = world({ echo: false });
    // Hide them should this simulator have them (the links' side adds them).
    Object.assign(w.sim, { partition: undefined, heal: undefined, setLinkUp: undefined, setLink: undefined });
    expect(() => w.sim.schedule([{ at: 1, do: 'heal' }])).toThrow(/event 0 .*no heal\(\)/);
    expect(() => w.sim.schedule([{ at: 1, do: 'linkDown', link: 'x' }])).toThrow(/no setLinkUp\(\)/);
    w.sim.close();
  });

  test('cancel() disarms what has not been applied', async () => {
    const w = world({ echo: false });
    const h = w.sim.schedule([
      { at: 10, do: 'skew', host: 'client', offsetMs: 1 },
      { at: 20, do: 'crash', host: 'server' },
    ]);
    await w.advance(15);
    h.cancel();
    expect(h.pending).toBe(0);
    await w.advance(100);
    expect(w.sim.isDown('server')).toBe(false);
    expect(faults(w.events).map((e) => e['do'])).toEqual(['skew']);
    await w.finish();
  });

  test('the schedule is data: later edits of the input change nothing', async () => {
    const w = world({ echo: false });
    const ev: FaultEvent[] = [{ at: 10, do: 'crash', host: 'server' }];
    const h = w.sim.schedule(ev);
    (ev[0] as { host: string }).host = 'client';
    await w.advance(20);
    expect(w.sim.isDown('server')).toBe(true);
    expect(w.sim.isDown('client')).toBe(false);
    expect(h.events).toEqual([{ at: 10, do: 'crash', host: 'server' }]);
    await w.finish();
  });

  test('invalid schedules throw a RangeError naming the event, and arm nothing', async () => {
    const w = world({ echo: false });
    stubLinks(w);
    await w.advance(100);
    const pending = w.sim.clock.pendingTimers();
    const bad: [unknown, RegExp][] = [
      [{ at: 200, do: 'explode', host: 'server' }, /'do' must be one of/],
      [{ at: -1, do: 'heal' }, /'at' must be/],
      [{ at: Number.NaN, do: 'heal' }, /'at' must be/],
      [{ at: '5', do: 'heal' }, /'at' must be/],
      [{ at: 50, do: 'heal' }, /in the past \(now is 100 ms\)/],
      [{ at: 200, do: 'crash' }, /'host' must be a host name/],
      [{ at: 200, do: 'crash', host: 'nobody' }, /no host named "nobody"/],
      [{ at: 200, do: 'crash', host: 'server', link: 'x' }, /unknown field 'link' for 'crash'/],
      [{ at: 200, do: 'restart', host: 7 }, /'host' must be/],
      [{ at: 200, do: 'skew', host: 'client' }, /'offsetMs' must be/],
      [{ at: 200, do: 'skew', host: 'client', offsetMs: 1, rate: 0 }, /'rate' must be/],
      [{ at: 200, do: 'partition', groups: [] }, /'groups'/],
      [{ at: 200, do: 'partition', groups: [['client'], ['client', 'server']] }, /in two groups/],
      [{ at: 200, do: 'partition', groups: [['client'], ['mars']] }, /no host named "mars"/],
      [{ at: 200, do: 'linkDown' }, /'link' must be a link name/],
      [{ at: 200, do: 'link', link: 'l', spec: { latency: 5 } }, /unknown option 'latency'/],
      [{ at: 200, do: 'link', link: 'l', spec: { loss: 2 } }, /loss/],
      [{ at: 200, do: 'link', link: 'l', spec: { latencyMs: 1 }, dir: 'up' }, /'dir' must be/],
      [{ at: 200, do: 'link', link: 'l' }, /'spec' must be/],
      [null, /not an object/],
    ];
    for (const [e, re] of bad) {
      const events = [{ at: 150, do: 'crash', host: 'server' }, e] as FaultEvent[];
      expect(() => w.sim.schedule(events), JSON.stringify(e)).toThrow(RangeError);
      expect(() => w.sim.schedule(events), JSON.stringify(e)).toThrow(re);
      expect(() => w.sim.schedule(events)).toThrow(/^fault schedule: event 1 /);
    }
    expect(() => w.sim.schedule({} as unknown as FaultEvent[])).toThrow(RangeError);
    expect(w.sim.clock.pendingTimers()).toBe(pending);
    await w.advance(100);
    expect(w.sim.isDown('server')).toBe(false);
    await w.finish();
  });
});

/**
 * A client that keeps trying to echo `data` through the server (retrying
 * 500 ms after each failure) while the schedule crashes and restarts it.
 */
async function resilientEcho(seed: number): Promise<{ timeline: string[]; attempts: string[]; hash: string; wire: string[] }> {
  const w = world({ seed, client: { tcp: { userTimeoutMs: 60_000 } } });
  w.sim.schedule(parseFaults('30:crash:server, 2s:restart:server, 2500:skew:server:250'));
  const data = pattern(300_000, 11);
  const attempts: string[] = [];
  const app = async (): Promise<Buffer> => {
    for (;;) {
      let c: NetSocket | null = null;
      try {
        c = await dial(w);
        const back = await echoRoundTrip(c, data);
        attempts.push(`${w.sim.clock.now()} ok`);
        return back;
      } catch (e) {
        attempts.push(`${w.sim.clock.now()} ${(e as { code?: string }).code ?? String(e)}`);
        c?.destroy();
        await new Promise<void>((resolve) => w.sim.host('client').clock.after(500, resolve));
      }
    }
  };
  const back = await w.run(app());
  await w.finish();
  return {
    timeline: w.events.map((e) => JSON.stringify(e)),
    attempts,
    hash: sha256(back),
    wire: w.wire.map((s) => `${s.t} ${s.link} ${s.flags} ${s.seg.seq} ${s.seg.data.length}`),
  };
}

describe('a scheduled crash and restart under traffic', () => {
  test('the client reconnects to the restarted server and moves its bytes; the same seed gives the same run', async () => {
    const a = await resilientEcho(5);
    expect(a.hash).toBe(sha256(pattern(300_000, 11)));
    // The first connection waits out the crash in retransmissions and meets the restarted stack's RST; the second works.
    expect(a.attempts.map((x) => x.split(' ')[1])).toEqual(['ECONNRESET', 'ok']);
    expect(Number(a.attempts[0]!.split(' ')[0])).toBeGreaterThan(2000);
    expect(a.timeline.filter((e) => e.includes('"fault"'))).toEqual([
      '{"t":30,"ev":"fault","do":"crash","host":"server"}',
      '{"t":2000,"ev":"fault","do":"restart","host":"server"}',
      '{"t":2500,"ev":"fault","do":"skew","host":"server","offsetMs":250}',
    ]);
    const b = await resilientEcho(5);
    expect(b).toEqual(a);
  });
});

describe('parseFaults / formatFaults', () => {
  test('the compact form reads every kind, and formats back', () => {
    const text = '1000:crash:server-1, 5s:restart:server-1, 2000:partition:a+b|c, 2500:heal, 3000:linkDown:a-b, 3500:linkUp:a-b, 4000:link:a-b:latencyMs=50;loss=0.01:ab, 4500:link:a-b:latencyMs=5, 100:skew:client:+500, 200:skew:client:-20:1.001';
    const ev = parseFaults(text);
    expect(ev).toEqual([
      { at: 1000, do: 'crash', host: 'server-1' },
      { at: 5000, do: 'restart', host: 'server-1' },
      { at: 2000, do: 'partition', groups: [['a', 'b'], ['c']] },
      { at: 2500, do: 'heal' },
      { at: 3000, do: 'linkDown', link: 'a-b' },
      { at: 3500, do: 'linkUp', link: 'a-b' },
      { at: 4000, do: 'link', link: 'a-b', spec: { latencyMs: 50, loss: 0.01 }, dir: 'ab' },
      { at: 4500, do: 'link', link: 'a-b', spec: { latencyMs: 5 } },
      { at: 100, do: 'skew', host: 'client', offsetMs: 500 },
      { at: 200, do: 'skew', host: 'client', offsetMs: -20, rate: 1.001 },
    ]);
    expect(parseFaults(formatFaults(ev))).toEqual(ev);
    expect(parseFaults('')).toEqual([]);
  });

  test('unreadable pieces are RangeErrors naming them', () => {
    expect(() => parseFaults('crash:server')).toThrow(/cannot read 'crash:server': it must start with a time/);
    expect(() => parseFaults('10:explode:x')).toThrow(/unknown kind 'explode'/);
    expect(() => parseFaults('10:crash')).toThrow(/'crash' takes 1 field/);
    expect(() => parseFaults('10:heal:x')).toThrow(/'heal' takes 0 field/);
    expect(() => parseFaults('10:skew:c:abc')).toThrow(/offset 'abc'/);
    expect(() => parseFaults('10:link:l:loss')).toThrow(/'loss' is not key=number/);
    expect(() => parseFaults('10:link:l:loss=1:up')).toThrow(/direction 'up'/);
    expect(() => parseFaults('-5:heal')).toThrow(RangeError);
  });
});
