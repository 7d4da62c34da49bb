// Lossless mixes: `tsip sim transfer` lines whose link loses nothing (no
// loss, no corruption, a bottleneck queue that never overflows, no
// reordering), so that every retransmission is a needless one: delay 0 to
// 80 ms, jitter (which never reorders), duplication, a rate, MTUs from 68
// to 9000, IPv4 and IPv6, GSO/GRO, reno or cubic, one TCP mechanism
// switched off, a delayed half-close, a server that answers only after EOF.
//
// Two allowances, of at most 2 retransmissions each, where TCP cannot know:
// - duplication with SACK off: three duplicated data segments give three
//   duplicate ACKs, which without SACK (and its D-SACK) cannot be told
//   from a loss; Linux too retransmits then (and undoes it);
// - a bottleneck rate: its queue (never full) can hold an ACK behind a
//   burst of the other direction's data for longer than the tail-loss
//   probe's 2*SRTT + 2 ms, the SRTT coming from the emptier queue before
//   (seen: one probe of a 2.5 KB tail behind 25 KB super-segments at 104
//   Mbit/s); Linux's probe fires then too.
//
// By hand, a longer sweep:
//   npx tsx test/sim/lossless-mix.ts --count 2000 [--from 0]
import { runSimTransfer, type SimTransferResult, transferOptionsFromArgv } from '../../src/cli/sim-transfer.ts';
import { Rng } from '../../src/time/rng.ts';
import { sweepArg } from './fault-mix.ts';

const OFF = ['rack', 'tlp', 'sack', 'timestamps', 'pacing', 'hystart', 'windowScaling'];

/** The arguments of lossless mix `seed`; `maxBytes` bounds each direction's payload. */
export function losslessArgv(seed: number, maxBytes = 3_000_000): string[] {
  const r = new Rng(`lossless:${seed}`);
  const a = ['--seed', String(seed)];
  const six = r.chance(0.3);
  const mtu = Math.round(Math.exp(Math.log(six ? 1280 : 68) + r.float() * (Math.log(9000) - Math.log(six ? 1280 : 68))));
  a.push('--mtu', String(mtu), '--bytes', String(r.chance(0.1) ? 0 : r.int(maxBytes)), '--server-bytes', String(r.chance(0.1) ? 0 : r.int(maxBytes)));
  a.push('--delay', r.chance(0.15) ? '0' : (r.float() * 80).toFixed(2));
  if (six) a.push('--ipv6');
  if (r.chance(0.3)) a.push('--jitter', (r.float() * 20).toFixed(2));
  if (r.chance(0.3)) a.push('--dup', (r.float() * 0.05).toFixed(4));
  // A queue far above any window: the bottleneck delays, never drops.
  if (r.chance(0.4)) a.push('--rate', (1 + r.float() * 999).toFixed(1), '--queue', '4000000');
  a.push('--cc', r.chance(0.5) ? 'reno' : 'cubic');
  if (r.chance(0.3)) {
    a.push('--gso');
    if (r.chance(0.5)) a.push('--gro');
  }
  if (r.chance(0.2)) a.push('--close-delay', String(r.int(500)));
  if (r.chance(0.2)) a.push('--server-waits');
  if (r.chance(0.2)) a.push('--off', OFF[r.int(OFF.length)]!);
  return a;
}

/** Retransmissions mix `argv` may need (see the header). */
export function allowedRetransmits(argv: readonly string[]): number {
  const sackOff = argv.includes('--off') && argv[argv.indexOf('--off') + 1] === 'sack';
  return (sackOff && argv.includes('--dup')) || argv.includes('--rate') ? 2 : 0;
}

/** Run a lossless mix: what is wrong with it (empty when fine). */
export function runLossless(seed: number, maxBytes?: number): { problems: string[]; result: SimTransferResult | null; argv: string[] } {
  const argv = losslessArgv(seed, maxBytes);
  try {
    const o = transferOptionsFromArgv([...argv, '--max-steps', '5000000'])!;
    const { json: _j, pcap: _p, ...run } = o;
    const r = runSimTransfer(run);
    const problems = [...r.problems];
    if (!r.ok && problems.length === 0) problems.push('not ok');
    if (r.retransmits > allowedRetransmits(argv)) problems.push(`${r.retransmits} retransmissions on a link that lost nothing (${r.fastRetransmits} fast, ${r.rtoCount} RTOs)`);
    return { problems, result: r, argv };
  } catch (e) {
    return { problems: [`threw: ${e instanceof Error ? e.message : String(e)}`], result: null, argv };
  }
}

// By hand: npx tsx test/sim/lossless-mix.ts --count N [--from S]
if (import.meta.url === `file://${process.argv[1]}`) {
  const from = sweepArg('from', 0);
  const count = sweepArg('count', 500);
  let failed = 0;
  for (let seed = from; seed < from + count; seed++) {
    const m = runLossless(seed);
    if (m.problems.length > 0) {
      failed++;
      console.log(`lossless mix ${seed}: ${m.problems.join('; ')}\n  reproduce: npx tsx src/cli/main.ts sim transfer ${m.argv.join(' ')}`);
    }
    if ((seed - from + 1) % 100 === 0) console.error(`${seed - from + 1} of ${count}, ${failed} failed`);
  }
  console.log(`${count} lossless mixes from seed ${from}: ${count - failed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}
