// `tsip sim ping`: two simulated stacks joined by a faulty link; one pings
// the other on virtual time and we print what came back.
import { writeFileSync } from 'node:fs';
import { Pinger, type PingResult } from '../ip/ping.ts';
import { PcapWriter } from '../sim/pcap.ts';
import { Simulator } from '../sim/simulator.ts';
import { Trace } from '../sim/trace.ts';
import type { LinkSpec } from '../sim/link.ts';
import { formatIp, parseIp } from '../wire/ipaddr.ts';
import { defineCommand, flag, formatHelp, integer, number, parseCommand, UsageError } from './args.ts';
import { formatRate, jsonOption, LINK_OPTIONS, linkSpecOf, mtuOption, pcapOption, seedOption, traceOption } from './common-options.ts';

export interface SimPingOptions {
  seed: number | string;
  count: number;
  size: number;
  intervalMs: number;
  mtu: number;
  link: LinkSpec;
  pcapFile?: string;
  /** Write the simulation's JSON-lines event log to this file. */
  traceFile?: string;
  /** Print one line per reply. */
  verbose: boolean;
  /** Ping over IPv6 (ICMPv6 between fd00::1 and fd00::2). */
  ipv6?: boolean;
  log: (line: string) => void;
}

export interface SimPingOutcome {
  result: PingResult;
  pcap: Uint8Array;
  virtualMs: number;
  poolClean: boolean;
  /** With traceFile: the trace written (the same seed and options give the same sha256). */
  trace?: { file: string; lines: number; sha256: string };
}

export function runSimPing(o: SimPingOptions): SimPingOutcome {
  const sim = new Simulator({ seed: o.seed });
  const trace = o.traceFile !== undefined ? Trace.attach(sim, { path: o.traceFile, meta: { seed: o.seed, command: 'sim ping' } }) : undefined;
  try {
    return ping(o, sim, trace);
  } finally {
    trace?.close();
  }
}

function ping(o: SimPingOptions, sim: Simulator, trace: Trace | undefined): SimPingOutcome {
  const client = sim.addStack('client');
  const server = sim.addStack('server');
  const pcap = new PcapWriter();
  const six = o.ipv6 === true;
  const aAddr = six ? 'fd00::1' : '10.0.0.1';
  const bAddr = six ? 'fd00::2' : '10.0.0.2';
  sim.connect(client, server, six ? { aAddr6: aAddr, bAddr6: bAddr, mtu: o.mtu, link: o.link, pcap } : { aAddr, bAddr, prefixLength: 24, mtu: o.mtu, link: o.link, pcap });
  const dst = parseIp(bAddr)!;
  o.log(`PING ${bAddr} from ${aAddr}: ${o.size} data bytes (simulated, seed ${String(o.seed)}, ${describeLink(o.link)})`);
  const pinger = new Pinger(client, six ? client.icmp6 : client.icmp, {
    dst,
    count: o.count,
    size: o.size,
    intervalMs: o.intervalMs,
    ident: 0x7473,
    onReply: (r, rtt) => {
      if (o.verbose) o.log(`${r.data.length + 8} bytes from ${formatIp(r.src)}: icmp_seq=${r.seqNo} ttl=${r.ttl} time=${rtt.toFixed(3)} ms (virtual)`);
    },
  });
  pinger.start();
  sim.runUntil(() => pinger.done, sim.clock.now() + o.count * o.intervalMs + 60_000);
  sim.runUntilIdle(60_000);
  const r = pinger.result;
  const lossPct = r.sent === 0 ? 0 : ((r.sent - r.received) / r.sent) * 100;
  o.log(`--- ${bAddr} ping statistics ---`);
  o.log(`${r.sent} packets transmitted, ${r.received} received, ${lossPct.toFixed(0)}% packet loss` + (r.duplicates ? `, +${r.duplicates} duplicates` : '') + (r.corrupted ? `, ${r.corrupted} corrupted` : ''));
  const rtt = rttSummary(r.rttsMs);
  if (rtt !== null) o.log(`rtt min/avg/max = ${rtt.min.toFixed(3)}/${rtt.avg.toFixed(3)}/${rtt.max.toFixed(3)} ms (virtual)`);
  sim.close();
  const poolClean = sim.stacks.every((s) => s.pool.isEmpty());
  const bytes = pcap.bytes();
  if (o.pcapFile !== undefined) {
    writeFileSync(o.pcapFile, bytes);
    o.log(`wrote ${pcap.count} packets to ${o.pcapFile} (read it with: tcpdump -nv -r ${o.pcapFile})`);
  }
  let traced: SimPingOutcome['trace'];
  if (trace !== undefined && o.traceFile !== undefined) {
    trace.close();
    traced = { file: o.traceFile, lines: trace.count, sha256: trace.sha256() };
    o.log(`trace: wrote ${traced.lines} events to ${traced.file}, sha256 ${traced.sha256}`);
  }
  return { result: r, pcap: bytes, virtualMs: sim.clock.now(), poolClean, ...(traced !== undefined ? { trace: traced } : {}) };
}

/** min/avg/max without spreading (a million RTTs would overflow the call stack). */
function rttSummary(rtts: readonly number[]): { min: number; avg: number; max: number } | null {
  if (rtts.length === 0) return null;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const x of rtts) {
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
  }
  return { min, avg: sum / rtts.length, max };
}

function describeLink(l: LinkSpec): string {
  const parts = [`delay ${l.latencyMs ?? 1} ms`];
  if (l.loss) parts.push(`loss ${(l.loss * 100).toFixed(1)}%`);
  if (l.duplicate) parts.push(`dup ${(l.duplicate * 100).toFixed(1)}%`);
  if (l.reorder) parts.push(`reorder ${(l.reorder * 100).toFixed(1)}%`);
  if (l.corrupt) parts.push(`corrupt ${(l.corrupt * 100).toFixed(1)}%`);
  if (l.bitsPerSecond) parts.push(`rate ${formatRate(l.bitsPerSecond)}`);
  return parts.join(', ');
}

/** The most capture --pcap may hold (it is kept in memory until the end). */
const PCAP_MAX_BYTES = 100_000_000;

export const SIM_PING = defineCommand({
  name: 'tsip sim ping',
  usage: 'tsip sim ping [options]',
  brief: 'ping between two simulated stacks over a faulty link',
  summary: 'Ping between two simulated stacks (10.0.0.1 -> 10.0.0.2, or fd00::1 -> fd00::2 with -6) over a faulty link, on virtual time: one line per reply, then the statistics.',
  details: ['The link options are the same as those of tsip sim transfer, with the same units; the same seed gives the same run.'],
  options: {
    seed: seedOption('every random choice'),
    count: integer({ description: 'echo requests to send', min: 1, max: 1_000_000, default: 10 }),
    size: integer({ description: 'echo data bytes per request', min: 0, max: 65507, unit: 'bytes', default: 56 }),
    interval: number({ description: 'virtual time between requests', metavar: 'MS', min: 0, max: 3_600_000, unit: 'ms', default: 1000 }),
    ...LINK_OPTIONS,
    mtu: mtuOption('link MTU (smaller MTUs exercise fragmentation and reassembly)'),
    pcap: pcapOption('write every packet sent to a pcap file (LINKTYPE_RAW; held in memory, so --count x --size is limited to about 100 MB of packets)'),
    trace: traceOption(),
    quiet: flag({ description: 'only the summary, no line per reply' }),
    ipv6: flag({ description: 'ping over IPv6: ICMPv6 from fd00::1 to fd00::2 (the MTU must then be at least 1280)', short: '6' }),
    json: jsonOption(),
  },
  exits: ['0  the run completed (lost echoes are part of the result, not a failure)', '1  a simulated stack leaked pbufs'],
});

/** `tsip sim ping` from argv (after "sim ping"): prints through `print`, returns the exit status. Bad options throw UsageError. */
export function simPingCommand(argv: string[], print: (s: string) => void = (s) => console.log(s)): number {
  const p = parseCommand(SIM_PING, argv);
  if (p.help) {
    print(formatHelp(SIM_PING));
    return 0;
  }
  const v = p.values;
  // Each echo puts at least a request and a reply of size + 28 bytes into the capture, which is held in memory.
  const captured = v.count * (v.size + 28) * 2;
  if (v.pcap !== undefined && captured > PCAP_MAX_BYTES) {
    throw new UsageError(SIM_PING.name, `--count x --size must stay within ${PCAP_MAX_BYTES} bytes (100 MB) of capture with --pcap (held in memory), got ${v.count} x ${v.size}`);
  }
  if (v.ipv6 && v.mtu < 1280) throw new UsageError(SIM_PING.name, `--mtu must be at least 1280 with -6 (RFC 8200), got ${v.mtu}`);
  const link = linkSpecOf(v);
  const outcome = runSimPing({
    seed: v.seed,
    count: v.count,
    size: v.size,
    intervalMs: v.interval,
    mtu: v.mtu,
    link,
    ...(v.pcap === undefined ? {} : { pcapFile: v.pcap }),
    ...(v.trace === undefined ? {} : { traceFile: v.trace }),
    verbose: !v.quiet && !v.json,
    ipv6: v.ipv6,
    log: v.json ? () => {} : print,
  });
  if (v.json) print(JSON.stringify(pingJson(v.seed, outcome, link)));
  if (!outcome.poolClean) {
    console.error('tsip sim ping: a simulated stack leaked pbufs');
    return 1;
  }
  return 0;
}

/** The --json report: counts, RTT summary (virtual ms) and the link. */
export function pingJson(seed: number | string, o: SimPingOutcome, link: LinkSpec): Record<string, unknown> {
  const r = o.result;
  return {
    seed,
    sent: r.sent,
    received: r.received,
    duplicates: r.duplicates,
    corrupted: r.corrupted,
    sendErrors: r.sendErrors,
    rttMs: rttSummary(r.rttsMs),
    virtualMs: o.virtualMs,
    poolClean: o.poolClean,
    link,
    ...(o.trace !== undefined ? { trace: o.trace } : {}),
  };
}
