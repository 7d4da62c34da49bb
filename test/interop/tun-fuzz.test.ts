// Seeded hostile traffic over the TUN device (test/interop/tun-fuzz.py,
// scapy through an AF_PACKET socket bound to tsip0, so mangled headers
// reach tsip as built): random and mangled IPv4/IPv6 packets from the
// kernel's addresses, and live IPv4 and IPv6 connections to the echo,
// discard and HTTP services fed segments with random flags, sequence numbers, windows,
// options and payloads, then torn down with exact resets. Each seed must
// leave tsip answering pings, with no internal error; at the end downloads
// over both families are intact, no connection of the fuzz is left, and the
// pool is back to its baseline.
//
// More seeds by hand: TSIP_FUZZ_SEEDS=1-200 npx vitest run test/interop/tun-fuzz.test.ts
//
// Network safety: everything stays inside the namespace startTunEnv creates
// and deletes; each script sends a bounded number of packets (at most
// 120 s) on tsip0 inside it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { netnsExists } from '../../src/netif/tun-ip.ts';
import { generatedSha256, skipReason, skipTun, startTunEnv, waitFor, type TunEnv } from '../support/tun.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./tun-fuzz.py', import.meta.url));
/** On-link sources nobody owns (a /24 and a /64): the kernel neither answers tsip for them nor resets their connections. */
const FUZZ_SRC4_HOST = '.240';
const FUZZ_SRC6_HOST = '::f0';

/** '1-3,7' → [1, 2, 3, 7]. */
function seedList(spec: string): number[] {
  return spec.split(',').flatMap((part) => {
    const [a, b] = part.split('-').map(Number);
    if (!Number.isInteger(a) || (b !== undefined && !Number.isInteger(b))) throw new Error(`TSIP_FUZZ_SEEDS: bad part ${part}`);
    return b === undefined ? [a!] : Array.from({ length: b - a! + 1 }, (_, i) => a! + i);
  });
}
const SEEDS = seedList(process.env.TSIP_FUZZ_SEEDS ?? '1-3');

interface StatelessOut {
  sent: number;
  v4: number;
  v6: number;
  tooBig: number;
}
interface StatefulOut {
  conns: number;
  handshakes: number;
  sent: number;
  answers: number;
  resetsFromTsip: number;
  gone: number;
  left: number;
}

describe.skipIf(skipTun || !existsSync(PYTHON))('seeded hostile traffic (scapy) over TUN', () => {
  let env: TunEnv;
  let fuzz4 = '';
  let fuzz6 = '';
  let baselineBytes = 0;
  const internal: unknown[] = [];

  beforeAll(() => {
    env = startTunEnv({
      ipv6: true,
      prefixLength: 24,
      stack: {
        // Fragments that never complete wait out a short time, so the pool is back quickly.
        ip: { reassembly: { timeoutMs: 2000 } },
        ip6: { reassembly: { timeoutMs: 2000 } },
        onInternalError: (err) => internal.push(err),
      },
    });
    fuzz4 = env.tsip.replace(/\.2$/, FUZZ_SRC4_HOST);
    fuzz6 = env.tsip6!.replace(/::2$/, FUZZ_SRC6_HOST);
    baselineBytes = env.stack.pool.stats.bytesInUse;
  });

  afterAll(() => {
    const ns = env?.ns;
    env?.close();
    if (ns) expect(netnsExists(ns)).toBe(false);
  });

  async function script<T>(args: string[]): Promise<T> {
    const r = await env.exec([PYTHON, SCRIPT, ...args], { timeoutMs: 150_000 });
    expect(r.code, r.stderr.toString()).toBe(0);
    return JSON.parse(r.stdout.toString().trim().split('\n').pop()!) as T;
  }

  /** Packets the kernel dropped on tsip0's queue before tsip could read them. */
  async function kernelTxDropped(): Promise<number> {
    const r = await env.sh('cat /sys/class/net/tsip0/statistics/tx_dropped');
    return Number(r.stdout.toString().trim());
  }

  /** Packets IPv4 and IPv6 counted as bad or dropped. */
  function ipDrops(): number {
    const { ip, ip6 } = env.stack.stats;
    return ip.chkerr + ip.lenerr + ip.proterr + ip.drop + ip6.lenerr + ip6.proterr + ip6.drop;
  }

  /** tsip still answers: one ping over each family. */
  async function answersPings(): Promise<void> {
    for (const [fam, addr] of [['-4', env.tsip], ['-6', env.tsip6!]] as const) {
      const r = await env.exec(['ping', fam, '-n', '-c', '1', '-W', '3', addr], { timeoutMs: 10_000 });
      expect(r.code, `ping ${addr}: ${r.stdout.toString()}${r.stderr.toString()}`).toBe(0);
    }
  }

  test.each(SEEDS)('seed %i: 3000 random and mangled IPv4/IPv6 packets are read, counted and survived', async (seed) => {
    const rx0 = env.dev.counters.rxPackets + env.dev.counters.rxCoalesced;
    const dropped0 = await kernelTxDropped();
    const errs0 = ipDrops();
    const out = await script<StatelessOut>(['stateless', env.kernel, env.tsip, env.kernel6!, env.tsip6!, String(seed), '3000']);
    expect(out.sent).toBeGreaterThanOrEqual(3000);
    expect(out.v4).toBeGreaterThan(0);
    expect(out.v6).toBeGreaterThan(0);
    const delivered = out.sent - ((await kernelTxDropped()) - dropped0);
    expect(await waitFor(() => env.dev.counters.rxPackets + env.dev.counters.rxCoalesced - rx0 >= delivered, 5000), `read ${env.dev.counters.rxPackets + env.dev.counters.rxCoalesced - rx0} of ${delivered}`).toBe(true);
    // The mangled ones are counted as drops, not lost silently.
    expect(ipDrops()).toBeGreaterThan(errs0);
    await answersPings();
    expect(internal).toEqual([]);
  }, 180_000);

  test.each(SEEDS)('seed %i: 20 IPv4 and 20 IPv6 connections fed 60 random segments each, then reset exactly', async (seed) => {
    for (const [dst, src] of [[env.tsip, fuzz4], [env.tsip6!, fuzz6]] as const) {
      const out = await script<StatefulOut>(['stateful', dst, src, String(seed), '20', '60']);
      expect(out.handshakes, `${src} -> ${dst}`).toBe(20);
      expect(out.left, `${src} -> ${dst}`).toBe(0);
      expect(out.answers, `${src} -> ${dst}`).toBeGreaterThan(20);
    }
    await answersPings();
    expect(internal).toEqual([]);
  }, 180_000);

  test('after all of that: both families download intact, no fuzz connection is left, the pool is back to its baseline', async () => {
    for (const [flag, host] of [['-4', env.tsip], ['-6', `[${env.tsip6!}]`]] as const) {
      const dl = await env.sh(`curl ${flag} -s -S -m 20 'http://${host}/bytes/1000000' | sha256sum`, { timeoutMs: 25_000 });
      expect(dl.stdout.toString().slice(0, 64), dl.stderr.toString()).toBe(generatedSha256(1_000_000));
    }
    const fuzzConns = (): string[] => [...env.stack.tcp.connections()].filter((c) => c.stateName !== 'TIME_WAIT').map((c) => `${c.stateName} ${String(c.remoteIp)}:${c.remotePort}`);
    expect(await waitFor(() => fuzzConns().length === 0, 20_000, 100), `still open: ${fuzzConns().join(', ')}`).toBe(true);
    const clean = (): boolean => env.stack.pool.stats.bytesInUse <= baselineBytes && env.stack.ip.reassembler.pending === 0 && env.stack.ip6.reassembler.pending === 0;
    expect(await waitFor(clean, 20_000, 100), `pool ${env.stack.pool.stats.bytesInUse} > ${baselineBytes}`).toBe(true);
    expect(internal).toEqual([]);
  }, 90_000);
});

if (skipTun) test.skip(skipReason, () => {});
