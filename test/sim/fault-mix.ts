// The fault-mix generator (issue 12): from a seed, one `tsip sim transfer`
// command line mixing link faults (loss, bursty loss, duplication,
// reordering, corruption, delay and jitter, a rate with its queue), an MTU
// from 68 to 9000 (log-uniform), reno or cubic, GSO on or off, small
// payloads each way and some application behaviour (a delayed half-close,
// a server that answers only after EOF). Each mix runs through the very
// parser the CLI uses, so the line printed for a failure reproduces it.
//
// A mix passes when the data arrives intact both ways and nothing is left
// over (the driver's `ok`), within a virtual-time and a step budget: a hang
// is a failure that names its seed, never a stuck test.
//
// By hand, a longer sweep (one line per failure, a summary at the end):
//   npx tsx test/sim/fault-mix.ts --count 20000 [--from 0]
// One mix, as the suite prints it:
//   npx tsx src/cli/main.ts sim transfer --seed ... (the printed line)
import { runSimTransfer, type SimTransferResult, transferOptionsFromArgv } from '../../src/cli/sim-transfer.ts';
import { Rng } from '../../src/time/rng.ts';

/** Virtual time one mix may take: generous, virtual time costs nothing. */
export const MIX_DEADLINE_MS = 3_600_000;
/** Timer events one mix may take (and its close again): some 50 times what the busiest of 20 000 mixes needed. */
export const MIX_MAX_STEPS = 500_000;

/** Four significant digits: short command lines whose values the CLI parses back exactly. */
function sig(x: number): string {
  return String(Number(x.toPrecision(4)));
}

/** A log-uniform integer from lo to hi. */
function logUniformInt(rng: Rng, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Math.round(Math.exp(Math.log(lo) + rng.float() * (Math.log(hi) - Math.log(lo))))));
}

/** Payload bytes one side sends: sometimes none, else log-uniform from 1 byte to 64 KiB. */
function payloadSize(rng: Rng): number {
  if (rng.chance(0.05)) return 0;
  return logUniformInt(rng, 1, 65_536);
}

/** The `tsip sim transfer` arguments of mix `seed` (the transfer's seed is the mix seed). */
export function mixArgv(seed: number): string[] {
  const rng = new Rng(`fault-mix:${seed}`);
  const a: string[] = ['--seed', String(seed)];
  const opt = (name: string, value: string): void => {
    a.push(`--${name}`, value);
  };
  const mtu = logUniformInt(rng, 68, 9000);
  opt('bytes', String(payloadSize(rng)));
  opt('server-bytes', String(payloadSize(rng)));
  opt('mtu', String(mtu));
  opt('delay', rng.chance(0.1) ? '0' : sig(Math.exp(Math.log(0.05) + rng.float() * Math.log(100 / 0.05))));
  if (rng.chance(0.2)) opt('jitter', sig(rng.float() * 20));
  if (rng.chance(0.5)) {
    // 64 kbit/s to 1 Gbit/s, in Mbit/s.
    opt('rate', sig(Math.exp(Math.log(0.064) + rng.float() * Math.log(1000 / 0.064))));
    // A queue of at least two full frames: below that a bottleneck drops every large frame.
    if (rng.chance(0.5)) opt('queue', String(logUniformInt(rng, 2 * mtu + 100, 262_144)));
  }
  if (rng.chance(0.6)) opt('loss', sig(rng.float() * 0.1));
  if (rng.chance(0.15)) {
    // Short bursts (1 to 1.7 frames on average). The chain moves once per frame, so while a
    // sender backs off, a longer burst swallows one retransmission after another: with bursts
    // of 2 to 4 frames, 12 of 20 000 mixes lost 12 retransmissions (or 7 SYNs) in a row and
    // the connection rightly gave up (seeds 1396, 2436, 8693, 12729, 14252, 14475, 15671 ...).
    opt('burst-enter', sig(0.001 + rng.float() * 0.02));
    opt('burst-leave', sig(0.6 + rng.float() * 0.4));
  }
  if (rng.chance(0.25)) opt('dup', sig(rng.float() * 0.05));
  if (rng.chance(0.25)) {
    opt('reorder', sig(rng.float() * 0.1));
    if (rng.chance(0.5)) opt('reorder-delay', sig(rng.float() * 30));
  }
  if (rng.chance(0.2)) opt('corrupt', sig(rng.float() * 0.01));
  opt('cc', rng.chance(0.5) ? 'reno' : 'cubic');
  if (rng.chance(0.3)) a.push('--gso');
  if (rng.chance(0.2)) opt('close-delay', sig(rng.float() * 500));
  if (rng.chance(0.2)) a.push('--server-waits');
  opt('deadline', String(MIX_DEADLINE_MS));
  opt('max-steps', String(MIX_MAX_STEPS));
  return a;
}

/** The command that reproduces mix `seed`. */
export function mixCommand(seed: number): string {
  return `tsip sim transfer ${mixArgv(seed).join(' ')} --json`;
}

export interface MixOutcome {
  seed: number;
  ok: boolean;
  /** Why not (empty when ok). */
  problems: string[];
  steps: number;
  virtualMs: number;
  result: SimTransferResult | null;
}

/** Run mix `seed`; anything thrown is a problem of the mix, not of the caller. */
export function runMix(seed: number): MixOutcome {
  try {
    const o = transferOptionsFromArgv(mixArgv(seed));
    if (o === null) throw new Error('help asked for');
    const { json: _json, pcap: _pcap, ...run } = o;
    const r = runSimTransfer(run);
    return { seed, ok: r.ok, problems: r.problems, steps: r.steps, virtualMs: r.virtualIdleMs, result: r };
  } catch (e) {
    return { seed, ok: false, problems: [`threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`], steps: 0, virtualMs: 0, result: null };
  }
}

/** One line per failed mix: the command to run it again and what went wrong. */
export function describeFailure(m: MixOutcome): string {
  return `fault mix ${m.seed} failed: ${m.problems.join('; ')}\n  reproduce: npx tsx src/cli/main.ts sim transfer ${mixArgv(m.seed).join(' ')}`;
}

/** A by-hand sweep's `--name N` argument (dflt when absent). */
export function sweepArg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

// By hand: npx tsx test/sim/fault-mix.ts --count N [--from S]
if (import.meta.url === `file://${process.argv[1]}`) {
  const from = sweepArg('from', 0);
  const count = sweepArg('count', 1000);
  let failed = 0;
  let maxSteps = 0;
  let maxSeed = from;
  for (let seed = from; seed < from + count; seed++) {
    const m = runMix(seed);
    if (m.steps > maxSteps) {
      maxSteps = m.steps;
      maxSeed = seed;
    }
    if (!m.ok) {
      failed++;
      console.log(describeFailure(m));
    }
    if ((seed - from + 1) % 500 === 0) console.error(`${seed - from + 1} of ${count} mixes, ${failed} failed`);
  }
  console.log(`${count} mixes from seed ${from}: ${count - failed} passed, ${failed} failed; most timer events ${maxSteps} (seed ${maxSeed})`);
  process.exitCode = failed > 0 ? 1 : 0;
}
