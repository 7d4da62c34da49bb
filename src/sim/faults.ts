// Faults over time: a schedule of plain-JSON events applied on the
// simulator's virtual clock (issue 16 part 3). A schedule is data, so it can
// be written by hand, generated from a seed, printed in a report, and cut
// down by a shrinker that drops events; `parseFaults` reads a compact text
// form of it for the command line.
//
//   sim.schedule([
//     { at: 1000, do: 'crash', host: 'server' },
//     { at: 5000, do: 'restart', host: 'server' },
//     { at: 2000, do: 'partition', groups: [['a', 'b'], ['c']] },
//     { at: 4000, do: 'heal' },
//   ]);
//
// Every event is checked before any is armed (a RangeError names the bad
// one: its index and JSON). Events at the same time apply in list order.
// Each one, as it is applied, puts `{ t, ev: 'fault', do, ...fields }` on
// the timeline (sim.onEvent) before its effect, so what it causes follows
// it there. Host events (crash, restart, skew) are the Simulator's own;
// link events call partition/heal/setLinkUp/setLink on the simulator,
// which the links' side provides (LinkControls).
import { buildStages, type LinkSpec } from './link.ts';
import type { Simulator } from './simulator.ts';
import { Rng } from '../time/rng.ts';
import { VirtualClock } from '../time/virtual-clock.ts';

export type LinkDirection = 'both' | 'ab' | 'ba';

/** One fault: `at` is absolute virtual time in ms. */
export type FaultEvent =
  | { at: number; do: 'partition'; groups: readonly (readonly string[])[] }
  | { at: number; do: 'heal' }
  | { at: number; do: 'linkDown'; link: string }
  | { at: number; do: 'linkUp'; link: string }
  | { at: number; do: 'link'; link: string; spec: LinkSpec; dir?: LinkDirection }
  | { at: number; do: 'crash'; host: string }
  | { at: number; do: 'restart'; host: string }
  | { at: number; do: 'skew'; host: string; offsetMs: number; rate?: number };

export type FaultKind = FaultEvent['do'];

export const FAULT_KINDS: readonly FaultKind[] = ['partition', 'heal', 'linkDown', 'linkUp', 'link', 'crash', 'restart', 'skew'];

/** What the link side of the simulator provides (partitions, link state and specs mid-run). */
export interface LinkControls {
  partition(groups: readonly (readonly string[])[]): void;
  heal(): void;
  setLinkUp(link: string, up: boolean): void;
  setLink(link: string, spec: LinkSpec, dir?: LinkDirection): void;
}

export interface FaultScheduleHandle {
  /** The events, as checked (copies: editing the input later changes nothing). */
  readonly events: readonly FaultEvent[];
  /** Events not applied yet (and not cancelled). */
  readonly pending: number;
  /** Events applied so far. */
  readonly applied: number;
  /** Disarm the events not applied yet. */
  cancel(): void;
}

const FIELDS: Record<FaultKind, readonly string[]> = {
  partition: ['groups'],
  heal: [],
  linkDown: ['link'],
  linkUp: ['link'],
  link: ['link', 'spec', 'dir'],
  crash: ['host'],
  restart: ['host'],
  skew: ['host', 'offsetMs', 'rate'],
};

const LINK_METHODS: Partial<Record<FaultKind, keyof LinkControls>> = {
  partition: 'partition',
  heal: 'heal',
  linkDown: 'setLinkUp',
  linkUp: 'setLinkUp',
  link: 'setLink',
};

/**
 * Check `events` against `sim` (hosts it has, links' controls present, the
 * current time): throws a RangeError naming the first bad event. Returns
 * deep copies of the events.
 */
export function validateFaults(sim: Simulator, events: readonly FaultEvent[]): FaultEvent[] {
  if (!Array.isArray(events)) throw new RangeError('fault schedule: expected an array of events');
  const hosts = new Set(sim.hostNames);
  const now = sim.clock.now();
  const out: FaultEvent[] = [];
  events.forEach((e: unknown, i) => {
    const bad = (why: string): never => {
      throw new RangeError(`fault schedule: event ${i} ${safeJson(e)}: ${why}`);
    };
    if (typeof e !== 'object' || e === null || Array.isArray(e)) bad('not an object');
    const ev = e as Record<string, unknown>;
    const kind = ev['do'];
    if (typeof kind !== 'string' || !(FAULT_KINDS as readonly string[]).includes(kind)) bad(`'do' must be one of ${FAULT_KINDS.join(', ')}`);
    const k = kind as FaultKind;
    for (const key of Object.keys(ev)) if (key !== 'at' && key !== 'do' && !FIELDS[k].includes(key)) bad(`unknown field '${key}' for '${k}'`);
    const at = ev['at'];
    if (typeof at !== 'number' || !Number.isFinite(at) || at < 0) bad("'at' must be a finite number of virtual ms >= 0");
    if ((at as number) < now) bad(`'at' is in the past (now is ${now} ms)`);
    const host = (): string => {
      const h = ev['host'];
      if (typeof h !== 'string') bad("'host' must be a host name");
      if (!hosts.has(h as string)) bad(`no host named ${JSON.stringify(h)}`);
      return h as string;
    };
    const link = (): string => {
      const l = ev['link'];
      if (typeof l !== 'string' || l.length === 0) bad("'link' must be a link name");
      return l as string;
    };
    const method = LINK_METHODS[k];
    if (method !== undefined && typeof (sim as unknown as Record<string, unknown>)[method] !== 'function') {
      bad(`this simulator has no ${method}() (link faults need the links' controls)`);
    }
    switch (k) {
      case 'partition': {
        const g = ev['groups'];
        if (!Array.isArray(g) || g.length === 0) bad("'groups' must be a non-empty array of arrays of host names");
        const seen = new Set<string>();
        const groups = (g as unknown[]).map((grp) => {
          if (!Array.isArray(grp) || grp.length === 0) bad("'groups' must be a non-empty array of non-empty arrays of host names");
          return (grp as unknown[]).map((h) => {
            if (typeof h !== 'string' || !hosts.has(h)) bad(`no host named ${JSON.stringify(h)}`);
            if (seen.has(h as string)) bad(`host ${JSON.stringify(h)} is in two groups`);
            seen.add(h as string);
            return h as string;
          });
        });
        out.push({ at: at as number, do: 'partition', groups });
        break;
      }
      case 'heal':
        out.push({ at: at as number, do: 'heal' });
        break;
      case 'linkDown':
      case 'linkUp':
        out.push({ at: at as number, do: k, link: link() });
        break;
      case 'link': {
        const l = link();
        const spec = ev['spec'];
        if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) bad("'spec' must be a LinkSpec object");
        try {
          buildStages({ clock: new VirtualClock(), rng: new Rng(0), name: 'fault-schedule check' }, spec as LinkSpec);
        } catch (err) {
          bad(err instanceof Error ? err.message : String(err));
        }
        const dir = ev['dir'];
        if (dir !== undefined && dir !== 'both' && dir !== 'ab' && dir !== 'ba') bad("'dir' must be 'both', 'ab' or 'ba'");
        out.push({ at: at as number, do: 'link', link: l, spec: structuredClone(spec as LinkSpec), ...(dir !== undefined ? { dir: dir as LinkDirection } : {}) });
        break;
      }
      case 'crash':
      case 'restart':
        out.push({ at: at as number, do: k, host: host() });
        break;
      case 'skew': {
        const h = host();
        const off = ev['offsetMs'];
        if (typeof off !== 'number' || !Number.isFinite(off)) bad("'offsetMs' must be a finite number");
        const rate = ev['rate'];
        if (rate !== undefined && (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0)) bad("'rate' must be a positive finite number");
        out.push({ at: at as number, do: 'skew', host: h, offsetMs: off as number, ...(rate !== undefined ? { rate: rate as number } : {}) });
        break;
      }
    }
  });
  return out;
}

/** Apply one event to `sim` now (the control it calls puts the 'fault' event on the timeline). */
export function applyFault(sim: Simulator, e: FaultEvent): void {
  const links = (): LinkControls => sim as unknown as LinkControls;
  switch (e.do) {
    case 'partition':
      links().partition(e.groups);
      break;
    case 'heal':
      links().heal();
      break;
    case 'linkDown':
      links().setLinkUp(e.link, false);
      break;
    case 'linkUp':
      links().setLinkUp(e.link, true);
      break;
    case 'link':
      if (e.dir === undefined) links().setLink(e.link, e.spec);
      else links().setLink(e.link, e.spec, e.dir);
      break;
    case 'crash':
      sim.crash(e.host);
      break;
    case 'restart':
      sim.restart(e.host);
      break;
    case 'skew':
      sim.skew(e.host, e.offsetMs, e.rate ?? 1);
      break;
  }
}

/**
 * Check every event, then arm each on the simulator's clock (ties in list
 * order: equal deadlines fire in the order they were set). Each applies at
 * its time after a `fault` event on the timeline.
 */
export function scheduleFaults(sim: Simulator, events: readonly FaultEvent[]): FaultScheduleHandle {
  const checked = validateFaults(sim, events);
  let applied = 0;
  let cancelled = false;
  const timers = checked.map((e, i) =>
    sim.clock.timer(() => {
      applied++;
      applyFault(sim, e); // each control puts its own 'fault' event on the timeline
    }, `fault #${i} ${e.do}`),
  );
  checked.forEach((e, i) => timers[i]!.startAt(e.at));
  return {
    events: checked,
    get pending() {
      return cancelled ? 0 : checked.length - applied;
    },
    get applied() {
      return applied;
    },
    cancel() {
      cancelled = true;
      for (const t of timers) t.stop();
    },
  };
}

/**
 * The compact text form, events separated by commas, fields by colons,
 * `at` first (virtual ms; `s` for seconds: 1.5s):
 *
 *   1000:crash:server, 5000:restart:server
 *   2000:partition:a+b|c        groups by '|', hosts in a group by '+'
 *   4000:heal
 *   3000:linkDown:LINK   3500:linkUp:LINK
 *   3000:link:LINK:latencyMs=50;loss=0.01[:ab]   LinkSpec numbers only
 *   100:skew:client:+500[:1.001]                 offset ms [, rate]
 *
 * Throws a RangeError naming the piece it cannot read. Names may not
 * contain , : | + = ;.
 */
export function parseFaults(text: string): FaultEvent[] {
  const out: FaultEvent[] = [];
  const pieces = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  for (const piece of pieces) {
    const bad = (why: string): never => {
      throw new RangeError(`fault schedule: cannot read '${piece}': ${why}`);
    };
    const f = piece.split(':').map((x) => x.trim());
    const at = parseTime(f[0]!);
    if (at === null) bad('it must start with a time in ms (or 1.5s)');
    const kind = f[1] as FaultKind;
    const want = (n: number): void => {
      if (f.length !== n) bad(`'${kind}' takes ${n - 2} field(s) after the time and kind`);
    };
    const t = at as number;
    switch (kind) {
      case 'partition':
        want(3);
        out.push({ at: t, do: 'partition', groups: f[2]!.split('|').map((g) => g.split('+').map((h) => h.trim())) });
        break;
      case 'heal':
        want(2);
        out.push({ at: t, do: 'heal' });
        break;
      case 'linkDown':
      case 'linkUp':
        want(3);
        out.push({ at: t, do: kind, link: f[2]! });
        break;
      case 'link': {
        if (f.length !== 4 && f.length !== 5) bad("'link' takes LINK:key=value;... and an optional direction (ab, ba, both)");
        const spec: Record<string, number> = {};
        for (const kv of f[3]!.split(';').filter((x) => x.length > 0)) {
          const [k, v] = kv.split('=');
          const n = Number(v);
          if (k === undefined || v === undefined || !Number.isFinite(n)) bad(`'${kv}' is not key=number`);
          spec[k!.trim()] = n;
        }
        const dir = f[4];
        if (dir !== undefined && dir !== 'ab' && dir !== 'ba' && dir !== 'both') bad(`direction '${dir}' is not ab, ba or both`);
        out.push({ at: t, do: 'link', link: f[2]!, spec: spec as LinkSpec, ...(dir !== undefined ? { dir: dir as LinkDirection } : {}) });
        break;
      }
      case 'crash':
      case 'restart':
        want(3);
        out.push({ at: t, do: kind, host: f[2]! });
        break;
      case 'skew': {
        if (f.length !== 4 && f.length !== 5) bad("'skew' takes HOST:OFFSETMS and an optional rate");
        const off = Number(f[3]);
        if (f[3] === '' || !Number.isFinite(off)) bad(`offset '${f[3]}' is not a number of ms`);
        const rate = f[4] === undefined ? undefined : Number(f[4]);
        if (rate !== undefined && !Number.isFinite(rate)) bad(`rate '${f[4]}' is not a number`);
        out.push({ at: t, do: 'skew', host: f[2]!, offsetMs: off, ...(rate !== undefined ? { rate } : {}) });
        break;
      }
      default:
        bad(`unknown kind '${f[1] ?? ''}' (one of ${FAULT_KINDS.join(', ')})`);
    }
  }
  return out;
}

/** The compact text form of `events` (parseFaults reads it back; link specs with numbers only). */
export function formatFaults(events: readonly FaultEvent[]): string {
  return events
    .map((e) => {
      switch (e.do) {
        case 'partition':
          return `${e.at}:partition:${e.groups.map((g) => g.join('+')).join('|')}`;
        case 'heal':
          return `${e.at}:heal`;
        case 'linkDown':
        case 'linkUp':
          return `${e.at}:${e.do}:${e.link}`;
        case 'link':
          return `${e.at}:link:${e.link}:${Object.entries(e.spec)
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(';')}${e.dir !== undefined ? `:${e.dir}` : ''}`;
        case 'crash':
        case 'restart':
          return `${e.at}:${e.do}:${e.host}`;
        case 'skew':
          return `${e.at}:skew:${e.host}:${e.offsetMs}${e.rate !== undefined ? `:${e.rate}` : ''}`;
      }
    })
    .join(',');
}

function parseTime(s: string): number | null {
  const sec = s.endsWith('s');
  const n = Number(sec ? s.slice(0, -1) : s);
  if (s === '' || s === 's' || !Number.isFinite(n) || n < 0) return null;
  return sec ? n * 1000 : n;
}

function safeJson(e: unknown): string {
  try {
    const s = JSON.stringify(e);
    return s === undefined ? String(e) : s.length > 200 ? `${s.slice(0, 200)}...` : s;
  } catch {
    return String(e);
  }
}
