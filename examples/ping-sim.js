// @ts-check
// ICMP echo between two simulated stacks over a link that loses 20% of its
// packets, with every packet written to a pcap file (tcpdump -r reads it).
// The same seed gives the same run, byte for byte. Run: node examples/ping-sim.js [seed]
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapWriter, Pinger, Simulator } from 'tsip';

const seed = Number(process.argv[2] ?? 7);
const sim = new Simulator({ seed });
const a = sim.addStack('a');
const b = sim.addStack('b');
const pcap = new PcapWriter();
sim.connect(a, b, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { latencyMs: 15, loss: 0.2 }, pcap });

const ping = new Pinger(a, a.icmp, { dst: '10.0.0.2', count: 10, intervalMs: 100 });
ping.start();
sim.runUntil(() => ping.done, 60_000);
const { sent, received, rttsMs } = ping.result;
console.log(`seed ${seed}: ${sent} sent, ${received} received, rtt ${Math.min(...rttsMs)}..${Math.max(...rttsMs)} ms`);
const file = join(tmpdir(), `tsip-ping-${seed}.pcap`);
writeFileSync(file, pcap.bytes());
console.log(`pcap: ${pcap.count} packets in ${file}`);
sim.close();
