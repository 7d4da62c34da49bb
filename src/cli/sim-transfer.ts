// `tsip sim transfer`: the command line, the readable report and the JSON
// of a transfer between two simulated stacks. The transfer itself (stacks,
// link, the two peers, the checks) is in sim-transfer-run.ts.
import type { LinkSpec } from '../sim/link.ts';
import { type FaultEvent, parseFaults } from '../sim/faults.ts';
import { choice, custom, defineCommand, flag, formatHelp, integer, number, parseCommand, UsageError } from './args.ts';
import { formatRate, jsonOption, LINK_OPTIONS, linkSpecOf, mtuOption, pcapOption, seedOption, traceOption } from './common-options.ts';
import { formatBytes, Progress, type ProgressStream } from './progress.ts';
import { BYTES_MAX, type EndReport, runSimTransfer, type SimTransferOptions, type SimTransferResult, TRANSFER_LINK } from './sim-transfer-run.ts';

export { BYTES_MAX, defaultMaxSteps, runSimTransfer, type EndReport, type FrameReport, type PoolReport, type SimTransferOptions, type SimTransferResult } from './sim-transfer-run.ts';

/** Largest --bytes with --pcap: the capture is held in memory until the end (a little more than twice the payload). */
export const PCAP_BYTES_MAX = 100_000_000;

const fmt = (n: number, d = 1): string => n.toFixed(d);

/** The human-readable report. */
export function formatTransferReport(r: SimTransferResult, pcapFile?: string): string {
  const l = r.link;
  const linkParts = [`delay ${l.latencyMs ?? 1} ms`, l.bitsPerSecond ? `rate ${formatRate(l.bitsPerSecond)}` : 'rate unlimited'];
  if (l.jitterMs) linkParts.push(`jitter ${l.jitterMs} ms`);
  if (l.queueBytes !== undefined) linkParts.push(`queue ${l.queueBytes} bytes`);
  if (l.loss) linkParts.push(`loss ${fmt(l.loss * 100)}%`);
  if (l.burstLoss) linkParts.push(`burst loss (enter ${l.burstLoss.pGoodToBad}, leave ${l.burstLoss.pBadToGood})`);
  if (l.reorder) linkParts.push(`reorder ${fmt(l.reorder * 100)}%` + (l.reorderDelayMs !== undefined ? ` by ${l.reorderDelayMs} ms` : ''));
  if (l.duplicate) linkParts.push(`dup ${fmt(l.duplicate * 100)}%`);
  if (l.corrupt) linkParts.push(`corrupt ${fmt(l.corrupt * 100, 2)}%`);
  const yes = (b: boolean): string => (b ? 'match' : 'MISMATCH');
  const line = (from: string, to: string, sender: EndReport, receiver: EndReport, bytes: number): string =>
    `  ${from} -> ${to}: ${receiver.received} of ${bytes} bytes, sha256 ${sender.sentSha256.slice(0, 16)}… sent, ${receiver.receivedSha256.slice(0, 16)}… received: ${yes(receiver.received === bytes && sender.sentSha256 === receiver.receivedSha256)}`;
  const f = r.frames;
  const oversize = f.clientToServer.oversize + f.serverToClient.oversize;
  const sizes = r.serverBytes === r.bytes ? `${r.bytes} bytes each way` : `${r.bytes} bytes client -> server, ${r.serverBytes} server -> client`;
  const out = [
    `tsip sim transfer: seed ${String(r.seed)}, ${sizes}, ${r.family === 6 ? 'fd00::1 (client) <-> [fd00::2]:80' : '10.0.0.1 (client) <-> 10.0.0.2:80'} (server)`,
    `link (each direction): ${linkParts.join(', ')}`,
    'data:',
    line('client', 'server', r.client, r.server, r.bytes),
    line('server', 'client', r.server, r.client, r.serverBytes),
    `  ends at the end of the transfer: client ${r.client.stateAtEnd}, server ${r.server.stateAtEnd}` + (r.client.errors.length + r.server.errors.length > 0 ? `; errors: client [${r.client.errors.join(', ')}] server [${r.server.errors.join(', ')}]` : ''),
    'time:',
    `  virtual ${fmt(r.virtualMs, 1)} ms (idle at ${fmt(r.virtualIdleMs, 1)} ms, after TIME_WAIT; ${r.steps} timer events)`,
    `  wall    ${fmt(r.wallMs, 1)} ms (${fmt(r.wallTotalMs, 1)} ms including the close)`,
    'throughput (payload, both directions):',
    `  ${fmt(r.mbPerWallSecond, 2)} MB per wall-clock second`,
    `  ${fmt(r.mbitPerVirtualSecond, 2)} Mbit/s of virtual time`,
    'loss recovery (both ends):',
    `  ${r.retransmits} retransmitted segments, ${r.fastRetransmits} fast retransmits, ${r.fastRecoveries} fast recoveries, ${r.rtoCount} RTOs`,
    `  frames: client->server ${f.clientToServer.sent} sent / ${f.clientToServer.delivered} delivered, server->client ${f.serverToClient.sent} sent / ${f.serverToClient.delivered} delivered` + (oversize > 0 ? `; ${oversize} larger than the MTU with DF dropped` : ''),
    ...(r.superSegments.client + r.superSegments.server > 0 ? [`  GSO super-segments: client ${r.superSegments.client}, server ${r.superSegments.server} (cut into frames by the link)`] : []),
    'resources after close and run-until-idle:',
    `  pool: ${r.poolInUse} bytes in ${r.pbufsInUse} pbufs in use; ${r.pcbsLeft} PCBs; ${r.timersPending} timers pending`,
  ];
  if (pcapFile !== undefined) out.push(`wrote ${pcapFile} (read it with: tcpdump -nn -r ${pcapFile})`);
  if (r.trace !== undefined) out.push(`trace: wrote ${r.trace.lines} events to ${r.trace.file}, sha256 ${r.trace.sha256}`);
  out.push(r.ok ? 'OK' : `FAILED: ${r.problems.join('; ')}`);
  return out.join('\n');
}

/** The JSON report: one object (the result, whose summary keys come first). */
export function transferJson(r: SimTransferResult): SimTransferResult {
  return r;
}

const probability = (description: string) => number({ description, metavar: 'P', min: 0, max: 1 });

/** The TcpConfig booleans --off can clear (loss recovery, slow start, pacing and the options behind them). */
const SWITCHES = ['rack', 'tlp', 'dsack', 'undo', 'frto', 'hystart', 'pacing', 'sack', 'timestamps', 'windowScaling'] as const;
type Switch = (typeof SWITCHES)[number];

/** --faults: the compact schedule form, naming only this command's hosts and link. */
function parseFaultList(raw: string): FaultEvent[] | undefined {
  let events: FaultEvent[];
  try {
    events = parseFaults(raw);
  } catch {
    return undefined;
  }
  const hostsOk = (h: unknown): boolean => h === undefined || h === 'client' || h === 'server';
  for (const e of events) {
    const f = e as { host?: unknown; link?: unknown; groups?: readonly (readonly string[])[] };
    if (!hostsOk(f.host) || (f.link !== undefined && f.link !== TRANSFER_LINK) || (f.groups?.some((g) => g.some((h) => !hostsOk(h))) ?? false)) return undefined;
  }
  return events;
}

function parseSwitches(raw: string): Switch[] | undefined {
  const names = raw.split(',');
  return names.every((n) => (SWITCHES as readonly string[]).includes(n)) ? [...new Set(names)] as Switch[] : undefined;
}

export const SIM_TRANSFER = defineCommand({
  name: 'tsip sim transfer',
  usage: 'tsip sim transfer [options]',
  brief: 'bulk TCP both ways between two simulated stacks, checked by sha256',
  summary: 'Bulk TCP both ways between two simulated stacks (10.0.0.1 <-> 10.0.0.2:80): both send --bytes of seeded data at once, half-close, read to EOF and close.',
  details: [
    'The report says whether every byte arrived intact (sha256 at both ends), the virtual and wall time, the loss recovery it needed, and whether everything was given back once the simulator went idle. The payload is generated as it is sent, so memory stays flat; on a terminal a progress line shows the bytes delivered.',
    'The link options are the same as those of tsip sim ping, with the same units; the same seed gives the same run. The options after --pcap shape the link and the applications further (the fault-mix suite, test/sim/fault-mix.ts, prints its failures as such command lines).',
  ],
  options: {
    seed: seedOption('every random choice and the payload'),
    bytes: integer({ description: `payload bytes each way; with --pcap at most ${PCAP_BYTES_MAX}, as the capture is held in memory`, min: 0, max: BYTES_MAX, maxNote: '100 GB', default: 1_000_000 }),
    ...LINK_OPTIONS,
    cc: choice({ description: 'congestion control', metavar: 'NAME', values: ['cubic', 'reno'], default: 'cubic' }),
    off: custom({
      description: `TCP mechanisms to switch off in both stacks, comma-separated: ${SWITCHES.join(', ')}`,
      metavar: 'LIST',
      expects: `a comma-separated list of ${SWITCHES.join(', ')}`,
      parse: parseSwitches,
    }),
    mtu: mtuOption('link MTU'),
    gso: flag({ description: "stacks send 64 KiB super-segments, the link cuts them (as a NIC's TSO)" }),
    gro: flag({ description: 'with --gso: super-segments cross the link whole (as between veth ends with GSO/GRO); a loss draw drops a whole one' }),
    ipv6: flag({ description: 'over IPv6: fd00::1 <-> [fd00::2]:80 (the MTU must then be at least 1280)', short: '6' }),
    pcap: pcapOption('write every frame sent to a pcap file'),
    trace: traceOption(),
    faults: custom({
      description: `faults on the timeline, e.g. "2000:linkDown:${'client~server'},5000:linkUp:${'client~server'}" or "1s:partition:client|server,4s:heal" (kinds: crash, restart, skew, partition, heal, linkDown, linkUp, link; docs/faults.md); hosts client and server, link client~server`,
      metavar: 'SCHEDULE',
      expects: 'a fault schedule in the compact form of docs/faults.md, naming hosts client/server and link client~server',
      parse: parseFaultList,
    }),
    json: jsonOption(' (and no progress line)'),
    'server-bytes': integer({ description: 'payload bytes the server sends', metavar: 'N', min: 0, max: BYTES_MAX, maxNote: '100 GB', defaultText: 'as --bytes' }),
    jitter: number({ description: 'extra random one-way delay, uniform from 0 to MS (never reorders)', metavar: 'MS', min: 0, max: 60_000, unit: 'ms', default: 0 }),
    queue: integer({ description: 'bottleneck queue before tail drop; needs --rate', metavar: 'BYTES', min: 0, max: 1_000_000_000, unit: 'bytes', defaultText: '65536' }),
    'reorder-delay': number({ description: 'how long a reordered frame is held back; needs --reorder', metavar: 'MS', min: 0, max: 60_000, unit: 'ms', defaultText: '10' }),
    'burst-enter': probability('bursty loss (Gilbert-Elliott): chance per frame of entering a burst, in which every frame is lost; needs --burst-leave'),
    'burst-leave': probability('chance per frame of leaving a loss burst (mean burst: 1/P frames); needs --burst-enter'),
    'close-delay': number({ description: 'each side waits this long after writing its last byte before it half-closes', metavar: 'MS', min: 0, max: 3_600_000, unit: 'ms', default: 0 }),
    'server-waits': flag({ description: 'the server sends only after reading the client\'s FIN (it writes while half-closed)' }),
    pool: integer({ description: "each stack's pbuf pool limit (a small pool makes writes fail with ERR_MEM; 1/16 of it is kept for input)", metavar: 'BYTES', min: 65_536, max: 4_294_967_296, unit: 'bytes', defaultText: '536870912' }),
    deadline: number({ description: 'virtual time the transfer may take', metavar: 'MS', min: 0, max: 1e12, minExclusive: true, unit: 'ms', defaultText: 'a day, plus four times the transfer time at --rate' }),
    'max-steps': integer({ description: 'timer events the transfer may take, and the close again (a hang fails instead of running on)', metavar: 'N', min: 1, max: 1e15, defaultText: '50 million + 25 per payload byte' }),
  },
  exits: ['0  the data arrived intact both ways, both ends closed, and nothing was left over (PCBs, timers, pool)', '1  anything else: data lost or damaged, the deadline or the step budget passed, an error, or something left over'],
});

type TransferValues = Extract<ReturnType<typeof parseCommand<(typeof SIM_TRANSFER)['options']>>, { help: false }>;

/** The LinkSpec of parsed sim transfer options: the shared link options and this command's own. */
function transferLinkSpec(p: TransferValues): LinkSpec {
  const v = p.values;
  const usage = (detail: string): never => {
    throw new UsageError(SIM_TRANSFER.name, detail);
  };
  if (v.queue !== undefined && v.rate === undefined) usage('--queue needs --rate');
  if (v['reorder-delay'] !== undefined && !(v.reorder > 0)) usage('--reorder-delay needs --reorder');
  if ((v['burst-enter'] === undefined) !== (v['burst-leave'] === undefined)) usage('--burst-enter and --burst-leave go together');
  return {
    ...linkSpecOf(v),
    ...(v.jitter > 0 ? { jitterMs: v.jitter } : {}),
    ...(v.queue !== undefined ? { queueBytes: v.queue } : {}),
    ...(v['reorder-delay'] !== undefined ? { reorderDelayMs: v['reorder-delay'] } : {}),
    ...(v['burst-enter'] !== undefined && v['burst-leave'] !== undefined ? { burstLoss: { pGoodToBad: v['burst-enter'], pBadToGood: v['burst-leave'] } } : {}),
  };
}

/**
 * The transfer options of a `tsip sim transfer` command line (the words
 * after "sim transfer"), or null when it asks for help. What the command
 * runs, and what the fault-mix suite runs from the lines it prints: the two
 * can never differ. Bad options throw UsageError.
 */
export function transferOptionsFromArgv(argv: readonly string[]): (SimTransferOptions & { json: boolean; pcap?: string }) | null {
  const p = parseCommand(SIM_TRANSFER, argv);
  if (!p.help && p.values.ipv6 && p.values.mtu < 1280) throw new UsageError(SIM_TRANSFER.name, `--mtu must be at least 1280 with -6 (RFC 8200), got ${p.values.mtu}`);
  if (p.help) return null;
  const v = p.values;
  if (v.pcap !== undefined && Math.max(v.bytes, v['server-bytes'] ?? 0) > PCAP_BYTES_MAX) {
    throw new UsageError(SIM_TRANSFER.name, `--bytes must be at most ${PCAP_BYTES_MAX} (100 MB) with --pcap (the capture is held in memory), got ${Math.max(v.bytes, v['server-bytes'] ?? 0)}`);
  }
  return {
    seed: v.seed,
    bytes: v.bytes,
    ...(v['server-bytes'] !== undefined ? { serverBytes: v['server-bytes'] } : {}),
    link: transferLinkSpec(p),
    tcp: { congestion: v.cc, ...Object.fromEntries((v.off ?? []).map((k) => [k, false])) },
    ...(p.given.has('mtu') ? { mtu: v.mtu } : {}),
    ...(v.gso ? { gso: true } : {}),
    ...(v.gro ? { gro: true } : {}),
    ...(v.ipv6 ? { ipv6: true } : {}),
    ...(v.pool !== undefined ? { pool: { maxBytes: v.pool } } : {}),
    ...(v.pcap !== undefined ? { pcapFile: v.pcap, pcap: v.pcap } : {}),
    ...(v.trace !== undefined ? { traceFile: v.trace } : {}),
    ...(v.faults !== undefined ? { faults: v.faults } : {}),
    ...(v['close-delay'] > 0 ? { closeDelayMs: v['close-delay'] } : {}),
    ...(v['server-waits'] ? { serverWaitsForEof: true } : {}),
    ...(v.deadline !== undefined ? { deadlineMs: v.deadline } : {}),
    ...(v['max-steps'] !== undefined ? { maxSteps: v['max-steps'] } : {}),
    json: v.json,
  };
}

/**
 * `tsip sim transfer` from argv (after "sim transfer"): prints the report
 * (or the JSON, or the help) through `print` and returns the exit status.
 * Bad options throw UsageError. Progress goes to `progressTo` (stderr)
 * when it is a terminal and the output is not --json.
 */
export function simTransferCommand(argv: string[], print: (s: string) => void = (s) => console.log(s), progressTo: ProgressStream = process.stderr): number {
  const o = transferOptionsFromArgv(argv);
  if (o === null) {
    print(formatHelp(SIM_TRANSFER));
    return 0;
  }
  const { json, pcap, ...run } = o;
  const prog = Progress.forStream(progressTo, { json });
  let r: SimTransferResult;
  try {
    r = runSimTransfer({
      ...run,
      ...(prog.active
        ? {
            onProgress: (q: { delivered: number; total: number; virtualMs: number }) =>
              prog.update(`sim transfer: ${formatBytes(q.delivered)} of ${formatBytes(q.total)} delivered (${q.total === 0 ? 100 : Math.floor((q.delivered / q.total) * 100)}%), ${(q.virtualMs / 1000).toFixed(1)} s virtual`),
          }
        : {}),
    });
  } finally {
    prog.clear();
  }
  print(json ? JSON.stringify(transferJson(r)) : formatTransferReport(r, pcap));
  if (!r.ok && !json) print(`replay: ${replayLine(argv, r.seed)}`);
  return r.ok ? 0 : 1;
}

/** The command line that runs this transfer again, with its seed and a trace (the same seed gives the same run). */
export function replayLine(argv: readonly string[], seed: number | string): string {
  const args = [...argv];
  if (!args.some((a) => a === '--seed' || a.startsWith('--seed='))) args.unshift('--seed', String(seed));
  if (!args.some((a) => a === '--trace' || a.startsWith('--trace='))) args.push('--trace', 'trace.jsonl');
  return ['tsip sim transfer', ...args.map(shellWord)].join(' ');
}

function shellWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}
