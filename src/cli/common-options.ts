// Options that several commands share, declared once so they have the same
// name, unit, range and default everywhere (sim ping and sim transfer take
// the same link options; up and the simulator the same --mtu).
import type { LinkSpec } from '../sim/link.ts';
import { custom, flag, integer, number, text } from './args.ts';

/** IPv4's minimum MTU (RFC 791: every host takes 68-byte datagrams) up to the largest IPv4 datagram; Linux TUN allows the same range. */
export const MTU_MIN = 68;
export const MTU_MAX = 65535;

/** Link rates accepted: 1 bit/s to 1 Tbit/s. */
export const RATE_MAX_BPS = 1e12;

/** One-way delay accepted, ms (a minute is far beyond any real path). */
export const DELAY_MAX_MS = 60_000;

const SI: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12 };

/**
 * A link rate in bit/s from what a user types: a bare number is Mbit/s
 * (`10` = 10 Mbit/s); a number with an SI prefix is bit/s (`64k`, `10M`,
 * `1.5G`, also `64kbit/s`, `10Mbps`, `9600bps`). Undefined if not a rate.
 */
export function parseRate(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d*)?|\.\d+)(?:e([+-]?\d+))?\s*([kmgt]?)(bit\/s|bits\/s|bps|bit)?$/i.exec(raw);
  if (m === null) return undefined;
  const value = Number(`${m[1]}${m[2] !== undefined ? `e${m[2]}` : ''}`);
  const prefix = m[3]!.toLowerCase();
  const bare = prefix === '' && m[4] === undefined;
  const bps = bare ? value * 1e6 : value * SI[prefix]!;
  return Number.isFinite(bps) ? bps : undefined;
}

/** "10 Mbit/s", "64 kbit/s", "1.5 Gbit/s", "300 bit/s". */
export function formatRate(bps: number): string {
  for (const [p, f] of [['T', 1e12], ['G', 1e9], ['M', 1e6], ['k', 1e3]] as const) {
    if (bps >= f) return `${+(bps / f).toPrecision(6)} ${p}bit/s`;
  }
  return `${+bps.toPrecision(6)} bit/s`;
}

/** A seed: digits are a number, anything else a string that is hashed. */
export function parseSeed(raw: string): number | string | undefined {
  if (raw === '') return undefined;
  return /^\d+$/.test(raw) ? Number(raw) : raw;
}

export const seedOption = (what: string) =>
  custom({ description: `seed for ${what}: digits are a number, other text is hashed`, metavar: 'N', expects: 'a number or a non-empty word', parse: parseSeed, default: 1 as number | string });

export const mtuOption = (what: string) => integer({ description: what, metavar: 'N', min: MTU_MIN, max: MTU_MAX, unit: 'bytes', default: 1500 });

export const pcapOption = (what: string) => text({ description: what, metavar: 'FILE', expects: 'a file name' });

export const traceOption = () =>
  text({
    description: 'write a JSON-lines event log (packets, TCP state changes, timeline events) to FILE and print its sha256; the same seed writes the same file',
    metavar: 'FILE',
    expects: 'a file name',
  });

export const jsonOption = (extra = '') => flag({ description: `print one JSON object instead of the report${extra}` });

const probability = (description: string) => number({ description, metavar: 'P', min: 0, max: 1, default: 0 });

/** --delay (alias --latency): the one-way delay of a link, ms. */
export const delayOption = (defaultMs: number) => number({ description: 'one-way link delay', metavar: 'MS', min: 0, max: DELAY_MAX_MS, unit: 'ms', default: defaultMs, aliases: ['latency'] });

/** The link options of sim ping and sim transfer (and tsip up's user-space shaping): each direction of the link gets them. */
export const LINK_OPTIONS = {
  delay: delayOption(1),
  rate: custom({
    description: 'link rate: a bare number is Mbit/s (10 = 10 Mbit/s); with an SI prefix it is bit/s (64k, 10M, 1.5G)',
    metavar: 'RATE',
    expects: 'a rate from 1 bit/s to 1 Tbit/s: a bare number is Mbit/s, with an SI prefix bit/s (64k, 10M, 1.5G)',
    defaultText: 'unlimited',
    parse: (raw: string): number | undefined => {
      const bps = parseRate(raw);
      if (bps === undefined || bps < 1 || bps > RATE_MAX_BPS) return undefined;
      return bps;
    },
  }),
  loss: probability('drop probability per frame'),
  dup: probability('duplication probability per frame'),
  reorder: probability('reordering probability per frame (held back 10 ms)'),
  corrupt: probability('bit-corruption probability per frame'),
};

/** The LinkSpec for parsed link options (only the faults that are on). */
export function linkSpecOf(v: { delay: number; rate: number | undefined; loss: number; dup: number; reorder: number; corrupt: number }): LinkSpec {
  return {
    latencyMs: v.delay,
    ...(v.loss > 0 ? { loss: v.loss } : {}),
    ...(v.reorder > 0 ? { reorder: v.reorder } : {}),
    ...(v.dup > 0 ? { duplicate: v.dup } : {}),
    ...(v.corrupt > 0 ? { corrupt: v.corrupt } : {}),
    ...(v.rate !== undefined ? { bitsPerSecond: v.rate } : {}),
  };
}

