// `tsip sim ping`: two simulated stacks joined by a faulty link; one pings
// the other on virtual time and we print what came back.
import { writeFileSync } from 'node:fs';
import { Pinger, type PingResult } from '../ip/ping.ts';
import { PcapWriter } from '../sim/pcap.ts';
import { Simulator } from '../sim/simulator.ts';
import type { LinkSpec } from '../sim/link.ts';
import { formatIpv4Address, parseIpv4Address } from '../wire/address.ts';

export interface SimPingOptions {
  seed: number | string;
  count: number;
  size: number;
  intervalMs: number;
  mtu: number;
  link: LinkSpec;
  pcapFile?: string;
  /** Print one line per reply. */
  verbose: boolean;
  log: (line: string) => void;
}

export interface SimPingOutcome {
  result: PingResult;
  pcap: Uint8Array;
  virtualMs: number;
  poolClean: boolean;
}

export function runSimPing(o: SimPingOptions): SimPingOutcome {
  const sim = new Simulator({ seed: o.seed });
  const client = sim.addStack('client');
  const server = sim.addStack('server');
  const pcap = new PcapWriter();
  const aAddr = '10.0.0.1';
  const bAddr = '10.0.0.2';
  sim.connect(client, server, { aAddr, bAddr, prefixLength: 24, mtu: o.mtu, link: o.link, pcap });
  const dst = parseIpv4Address(bAddr)!;
  o.log(`PING ${bAddr} from ${aAddr}: ${o.size} data bytes (simulated, seed ${String(o.seed)}, ${describeLink(o.link)})`);
  const pinger = new Pinger(client, client.icmp, {
    dst,
    count: o.count,
    size: o.size,
    intervalMs: o.intervalMs,
    ident: 0x7473,
    onReply: (r, rtt) => {
      if (o.verbose) o.log(`${r.data.length + 8} bytes from ${formatIpv4Address(r.src)}: icmp_seq=${r.seqNo} ttl=${r.ttl} time=${rtt.toFixed(3)} ms (virtual)`);
    },
  });
  pinger.start();
  sim.runUntil(() => pinger.done, sim.clock.now() + o.count * o.intervalMs + 60_000);
  sim.runUntilIdle(60_000);
  const r = pinger.result;
  const lossPct = r.sent === 0 ? 0 : ((r.sent - r.received) / r.sent) * 100;
  o.log(`--- ${bAddr} ping statistics ---`);
  o.log(`${r.sent} packets transmitted, ${r.received} received, ${lossPct.toFixed(0)}% packet loss` + (r.duplicates ? `, +${r.duplicates} duplicates` : '') + (r.corrupted ? `, ${r.corrupted} corrupted` : ''));
  if (r.rttsMs.length > 0) {
    const min = Math.min(...r.rttsMs);
    const max = Math.max(...r.rttsMs);
    const avg = r.rttsMs.reduce((a, b) => a + b, 0) / r.rttsMs.length;
    o.log(`rtt min/avg/max = ${min.toFixed(3)}/${avg.toFixed(3)}/${max.toFixed(3)} ms (virtual)`);
  }
  sim.close();
  const poolClean = sim.stacks.every((s) => s.pool.isEmpty());
  const bytes = pcap.bytes();
  if (o.pcapFile !== undefined) {
    writeFileSync(o.pcapFile, bytes);
    o.log(`wrote ${pcap.count} packets to ${o.pcapFile} (read it with: tcpdump -nv -r ${o.pcapFile})`);
  }
  return { result: r, pcap: bytes, virtualMs: sim.clock.now(), poolClean };
}

function describeLink(l: LinkSpec): string {
  const parts = [`latency ${l.latencyMs ?? 1} ms`];
  if (l.loss) parts.push(`loss ${(l.loss * 100).toFixed(1)}%`);
  if (l.duplicate) parts.push(`dup ${(l.duplicate * 100).toFixed(1)}%`);
  if (l.reorder) parts.push(`reorder ${(l.reorder * 100).toFixed(1)}%`);
  if (l.corrupt) parts.push(`corrupt ${(l.corrupt * 100).toFixed(1)}%`);
  if (l.bitsPerSecond) parts.push(`rate ${l.bitsPerSecond} bit/s`);
  return parts.join(', ');
}
