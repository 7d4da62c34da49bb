import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { UsageError } from '../../src/cli/args.ts';
import { runSimTransfer, simTransferCommand, transferOptionsFromArgv } from '../../src/cli/sim-transfer.ts';
import { readPcap } from '../../src/sim/pcap.ts';
import { Rng } from '../../src/time/rng.ts';

describe('tsip sim transfer', () => {
  test('seed 7, 5% loss, 200 KB each way: intact, pool empty, recovery counted', () => {
    const r = runSimTransfer({ seed: 7, bytes: 200_000, link: { latencyMs: 1, loss: 0.05 } });
    expect(r.sha256Match).toBe(true);
    expect(r.delivered).toEqual({ clientToServer: 200_000, serverToClient: 200_000 });
    expect(r.client.receivedSha256).toBe(r.server.sentSha256);
    expect(r.server.receivedSha256).toBe(r.client.sentSha256);
    expect(r.client.sentSha256).not.toBe(r.server.sentSha256);
    expect(r.poolInUse).toBe(0);
    expect(r.pbufsInUse).toBe(0);
    expect(r.pcbsLeft).toBe(0);
    expect(r.timersPending).toBe(0);
    expect(r.retransmits).toBeGreaterThan(0); // 5% loss needs some
    expect(r.virtualMs).toBeGreaterThan(0);
    expect(r.ok).toBe(true);
  });

  test('the same seed gives the same run (virtual time and counters)', () => {
    const a = runSimTransfer({ seed: 7, bytes: 100_000, link: { latencyMs: 3, loss: 0.05, reorder: 0.02 } });
    const b = runSimTransfer({ seed: 7, bytes: 100_000, link: { latencyMs: 3, loss: 0.05, reorder: 0.02 } });
    expect([a.virtualMs, a.retransmits, a.rtoCount, a.fastRecoveries, a.frames]).toEqual([b.virtualMs, b.retransmits, b.rtoCount, b.fastRecoveries, b.frames]);
  });

  test('--json prints exactly one JSON object with the summary keys; exit status 0', () => {
    const out: string[] = [];
    const code = simTransferCommand(['--seed', '7', '--loss', '0.05', '--bytes', '200000', '--json'], (s) => out.push(s));
    expect(code).toBe(0);
    expect(out).toHaveLength(1);
    const j = JSON.parse(out[0]!) as Record<string, unknown>;
    for (const k of ['bytes', 'sha256Match', 'virtualMs', 'wallMs', 'retransmits', 'poolInUse', 'fastRecoveries', 'rtoCount', 'mbPerWallSecond']) expect(j).toHaveProperty(k);
    expect(j['bytes']).toBe(200_000);
    expect(j['sha256Match']).toBe(true);
    expect(j['poolInUse']).toBe(0);
  });

  test('--gso: super-segments cut by the link, a lossy transfer still arrives intact and leaves nothing behind', () => {
    const out: string[] = [];
    const code = simTransferCommand(['--seed', '7', '--loss', '0.02', '--bytes', '2000000', '--gso', '--json'], (s) => out.push(s));
    const j = JSON.parse(out[0]!) as Record<string, unknown>;
    expect(code).toBe(0);
    expect(j).toMatchObject({ sha256Match: true, poolInUse: 0, pcbsLeft: 0 });
    expect(j['retransmits']).toBeGreaterThan(0);
    // Both sides really sent super-segments (the link cut them into frames).
    const sup = j['superSegments'] as { client: number; server: number };
    expect(sup.client).toBeGreaterThan(10);
    expect(sup.server).toBeGreaterThan(10);
    const plain = runSimTransfer({ seed: 7, bytes: 100_000, link: { latencyMs: 1 } });
    expect(plain.superSegments).toEqual({ client: 0, server: 0 });
  });

  test('--gso --gro: super-segments cross the link whole; intact under loss, nothing left behind', () => {
    const out: string[] = [];
    const code = simTransferCommand(['--seed', '7', '--loss', '0.01', '--bytes', '2000000', '--gso', '--gro', '--json'], (s) => out.push(s));
    const j = JSON.parse(out[0]!) as Record<string, unknown>;
    expect(code).toBe(0);
    expect(j).toMatchObject({ sha256Match: true, poolInUse: 0, pcbsLeft: 0 });
    // Whole super-segments on the wire: far fewer frames than MSS-sized pieces would make.
    const cut = runSimTransfer({ seed: 7, bytes: 2_000_000, gso: true, link: { latencyMs: 1 } });
    const whole = runSimTransfer({ seed: 7, bytes: 2_000_000, gso: true, gro: true, link: { latencyMs: 1 } });
    expect(whole.sha256Match).toBe(true);
    expect(whole.frames.clientToServer.sent).toBeLessThan(cut.frames.clientToServer.sent / 5);
  });

  test('the readable report, rate and delay options, and a pcap', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsip-transfer-'));
    try {
      const file = join(dir, 't.pcap');
      const out: string[] = [];
      const code = simTransferCommand(['--seed', '3', '--delay', '10', '--rate', '10', '--dup', '0.01', '--reorder', '0.01', '--corrupt', '0.001', '--bytes', '50000', '--pcap', file], (s) => out.push(s));
      expect(code).toBe(0);
      const text = out.join('\n');
      expect(text).toMatch(/client -> server: 50000 of 50000 bytes.*match/);
      expect(text).toMatch(/server -> client: 50000 of 50000 bytes.*match/);
      expect(text).toContain('rate 10 Mbit/s');
      expect(text).toContain('MB per wall-clock second');
      expect(text).toContain('pool: 0 bytes');
      expect(text.trimEnd().endsWith('OK')).toBe(true);
      const pcap = readPcap(readFileSync(file));
      if (pcap instanceof Error) throw pcap;
      expect(pcap.records.length).toBeGreaterThan(70); // ≥ 35 data segments each way
      // 10 Mbit/s: 100 KB of payload takes at least 80 ms of virtual time.
      const r = runSimTransfer({ seed: 3, bytes: 50_000, link: { latencyMs: 10, bitsPerSecond: 10e6 } });
      expect(r.virtualMs).toBeGreaterThan(80);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--faults: a scheduled link outage mid-transfer is in the trace, recovered from by RTOs, bytes intact; bad schedules are usage errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsip-faults-'));
    try {
      const out: string[] = [];
      const args = ['--seed', '3', '--bytes', '1000000', '--rate', '10', '--faults', '200:linkDown:client~server,1500:linkUp:client~server', '--trace', join(dir, 't.jsonl'), '--json'];
      expect(simTransferCommand(args, (s) => out.push(s))).toBe(0);
      const j = JSON.parse(out[0]!) as { sha256Match: boolean; rtoCount: number; virtualMs: number };
      expect(j.sha256Match).toBe(true);
      expect(j.rtoCount).toBeGreaterThan(0); // nothing crossed for 1.3 s
      expect(j.virtualMs).toBeGreaterThan(1500);
      const faults = readFileSync(join(dir, 't.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"ev":"fault"'));
      expect(faults).toEqual(['{"t":200,"ev":"fault","do":"linkDown","link":"client~server"}', '{"t":1500,"ev":"fault","do":"linkUp","link":"client~server"}']);
      // Only this command's hosts and link can be named.
      for (const bad of ['200:linkDown:a~b', '1:crash:nobody', '1:partition:client|x', 'nonsense']) {
        expect(() => transferOptionsFromArgv(['--faults', bad])).toThrow(UsageError);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('exit status 1 when the data does not arrive (a link that drops everything)', () => {
    const out: string[] = [];
    expect(simTransferCommand(['--loss', '1', '--bytes', '1000'], (x) => out.push(x))).toBe(1);
    expect(out.join('\n')).toMatch(/FAILED: the transfer did not finish .*client -> server: 0 of 1000 bytes; server -> client: 0 of 1000 bytes/);
    expect(out.join('\n')).toContain('ERR_TIMEOUT');
  });

  test('bad options are refused with a usage error naming the option and what it takes', () => {
    expect(() => simTransferCommand(['--loss', 'lots'], () => {})).toThrow(UsageError);
    expect(() => simTransferCommand(['--loss', 'lots'], () => {})).toThrow('tsip sim transfer: --loss must be a number from 0 to 1, got lots (see tsip sim transfer --help)');
    expect(() => simTransferCommand(['--cc', 'bbr'], () => {})).toThrow('tsip sim transfer: --cc must be one of cubic, reno, got bbr (see tsip sim transfer --help)');
    expect(() => simTransferCommand(['--nope'], () => {})).toThrow('tsip sim transfer: unknown option --nope (see tsip sim transfer --help)');
  });

  test('the payload is streamed: the same bytes as generating it in one piece (chunk edges, odd tail)', () => {
    const bytes = 600_003; // more than two 256 KiB pieces and a tail that is not a multiple of 4
    const progress: number[] = [];
    const r = runSimTransfer({ seed: 9, bytes, link: { latencyMs: 1 }, onProgress: (p) => progress.push(p.delivered) });
    const whole = (label: string): string => createHash('sha256').update(new Rng(9).derive(label).fill(new Uint8Array(bytes))).digest('hex');
    expect(r.client.sentSha256).toBe(whole('payload:client'));
    expect(r.server.sentSha256).toBe(whole('payload:server'));
    expect(r.ok).toBe(true);
    expect(progress.at(-1)).toBe(2 * bytes);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  test('progress on a terminal (\\r lines, cleared before the report); none under --json or on a pipe', () => {
    const fake = (isTTY: boolean) => {
      const writes: string[] = [];
      return { writes, stream: { isTTY, columns: 120, write: (x: string) => writes.push(x) } };
    };
    const tty = fake(true);
    const out: string[] = [];
    expect(simTransferCommand(['--bytes', '300000'], (s) => out.push(s), tty.stream)).toBe(0);
    expect(tty.writes[0]).toMatch(/^\rsim transfer: .* of 600\.0 kB delivered \(\d+%\), [\d.]+ s virtual\x1b\[K$/);
    expect(tty.writes.at(-1)).toBe('\r\x1b[K');
    expect(out.join('\n')).not.toContain('\r');
    for (const [f, args] of [[fake(true), ['--json']], [fake(false), []]] as const) {
      simTransferCommand(['--bytes', '300000', ...args], () => {}, f.stream);
      expect(f.writes).toEqual([]);
    }
  });

  test('--help prints its own usage through print, exit 0; the old spelling --latency is --delay', () => {
    const out: string[] = [];
    expect(simTransferCommand(['--help'], (s) => out.push(s))).toBe(0);
    expect(out.join('\n')).toMatch(/^usage: tsip sim transfer \[options\]/);
    const a: string[] = [];
    const b: string[] = [];
    simTransferCommand(['--seed', '4', '--bytes', '20000', '--loss', '0.05', '--latency', '9', '--json'], (s) => a.push(s));
    simTransferCommand(['--seed', '4', '--bytes', '20000', '--loss', '0.05', '--delay', '9', '--json'], (s) => b.push(s));
    const strip = (j: string): Record<string, unknown> => ({ ...(JSON.parse(j) as Record<string, unknown>), wallMs: 0, wallTotalMs: 0, mbPerWallSecond: 0 });
    expect(strip(a[0]!)).toEqual(strip(b[0]!));
    expect(strip(a[0]!)['link']).toEqual({ latencyMs: 9, loss: 0.05 });
  });
});

describe('tsip sim transfer: ok means finished, intact and nothing left over (issue 12)', () => {
  test('a deadline that passes mid-transfer is never ok, even with both ends still ESTABLISHED', () => {
    const r = runSimTransfer({ seed: 2, bytes: 2_000_000, link: { latencyMs: 5, bitsPerSecond: 10e6 }, deadlineMs: 300 });
    expect(r.client.stateAtEnd).toBe('ESTABLISHED');
    expect(r.server.stateAtEnd).toBe('ESTABLISHED');
    expect(r.finished).toBe(false);
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatch(/^the transfer did not finish \(the virtual deadline passed at 300\.0 ms\): client ESTABLISHED, server ESTABLISHED$/);
    // The close still gives everything back: the report counts what is left.
    expect([r.pcbsLeft, r.timersPending, r.poolInUse, r.pbufsInUse]).toEqual([0, 0, 0, 0]);
  });

  test('writes refused with ERR_MEM under memory pressure (a small pool) are retried from the sent and poll callbacks: intact', () => {
    const r = runSimTransfer({ seed: 1, bytes: 300_000, link: { latencyMs: 5, bitsPerSecond: 10e6 }, pool: { maxBytes: 320 * 1024 } });
    expect(r.client.writeMemErrors).toBeGreaterThan(0);
    expect(r.server.writeMemErrors).toBeGreaterThan(0);
    // The pressure rule refuses first, so the pool itself never has to.
    expect(r.pool.client.pressureRefusals).toBeGreaterThan(0);
    expect(r.pool.server.pressureRefusals).toBeGreaterThan(0);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
  });

  test('writes refused with ERR_MEM by the pool itself (pressure rule off) are retried too: intact', () => {
    const r = runSimTransfer({ seed: 1, bytes: 300_000, link: { latencyMs: 5, bitsPerSecond: 10e6 }, pool: { maxBytes: 320 * 1024 }, tcp: { pressureFraction: 0 } });
    expect(r.client.writeMemErrors).toBeGreaterThan(0);
    expect(r.pool.client.allocFailures).toBeGreaterThan(0);
    expect(r.pool.client.pressureRefusals).toBe(0);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
  });

  test('a step budget that runs out is a failure that says so, not a hang', () => {
    const r = runSimTransfer({ seed: 1, bytes: 200_000, link: { latencyMs: 1, loss: 0.05 }, maxSteps: 5 });
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(/transfer: step budget of 5 timer events spent at [\d.]+ ms virtual \(a hang\?\)/);
  });

  test('asymmetric sizes, a server that answers only after EOF, and a delayed half-close: intact both ways', () => {
    for (const o of [
      { bytes: 30_000, serverBytes: 0 },
      { bytes: 0, serverBytes: 30_000, serverWaitsForEof: true },
      { bytes: 5_000, serverBytes: 70_000, serverWaitsForEof: true, closeDelayMs: 250 },
      { bytes: 40_000, serverBytes: 1, closeDelayMs: 1_000 },
    ]) {
      const r = runSimTransfer({ seed: 5, link: { latencyMs: 3, loss: 0.03 }, ...o });
      expect(r.problems, JSON.stringify(o)).toEqual([]);
      expect(r.delivered).toEqual({ clientToServer: o.bytes, serverToClient: o.serverBytes });
    }
  });

  test('the command line takes the suite\'s options and refuses options without the one they need', () => {
    const out: string[] = [];
    const argv = ['--seed', '8', '--bytes', '20000', '--server-bytes', '7000', '--rate', '2', '--queue', '20000', '--jitter', '3', '--reorder', '0.05', '--reorder-delay', '4', '--burst-enter', '0.01', '--burst-leave', '0.5', '--close-delay', '40', '--server-waits', '--mtu', '576', '--max-steps', '1000000', '--deadline', '600000', '--json'];
    expect(simTransferCommand(argv, (s) => out.push(s))).toBe(0);
    const j = JSON.parse(out[0]!) as { ok: boolean; link: unknown; delivered: unknown; serverBytes: number };
    expect(j.ok).toBe(true);
    expect(j.delivered).toEqual({ clientToServer: 20_000, serverToClient: 7_000 });
    expect(j.link).toEqual({ latencyMs: 1, bitsPerSecond: 2e6, queueBytes: 20_000, jitterMs: 3, reorder: 0.05, reorderDelayMs: 4, burstLoss: { pGoodToBad: 0.01, pBadToGood: 0.5 } });
    expect(() => simTransferCommand(['--queue', '1000'], () => {})).toThrow('tsip sim transfer: --queue needs --rate');
    expect(() => simTransferCommand(['--reorder-delay', '3'], () => {})).toThrow('--reorder-delay needs --reorder');
    expect(() => simTransferCommand(['--burst-enter', '0.1'], () => {})).toThrow('--burst-enter and --burst-leave go together');
  });
});

describe('tsip sim transfer --off: mechanisms switched off by name', () => {
  test('--off rack,undo runs RFC 6675 without undo (reordering fools it again); an unknown name is a usage error', () => {
    const on = transferOptionsFromArgv(['--seed', '1', '--delay', '20', '--reorder', '0.13'])!;
    const off = transferOptionsFromArgv(['--seed', '1', '--delay', '20', '--reorder', '0.13', '--off', 'rack,undo'])!;
    expect(off.tcp).toEqual({ congestion: 'cubic', rack: false, undo: false });
    const strip = ({ json: _j, pcap: _p, ...o }: typeof on): typeof on => o as typeof on;
    const a = runSimTransfer(strip(on));
    const b = runSimTransfer(strip(off));
    expect(a.ok && b.ok).toBe(true);
    expect(b.retransmits).toBeGreaterThan(10 * Math.max(1, a.retransmits));
    expect(() => transferOptionsFromArgv(['--off', 'rack,nagle'])).toThrow(/--off must be a comma-separated list of rack, tlp/);
  });
});
