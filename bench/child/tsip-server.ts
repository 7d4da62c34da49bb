// Child process of bench/anchors.bench.ts: tsip as `tsip up` hosts it — a
// stack on a TUN device with the built-in services (echo :7, discard :9,
// chargen :19, http :80, and iperf3 :5201) — in its own Node process, so the benchmark can
// pin it to one CPU (taskset -a -p) and read its CPU time from /proc like
// the C servers beside it.
//
//   tsip-server.ts NETNS TSIP_ADDR KERNEL_ADDR PREFIX offload|plain MAX_SECONDS
//
// The namespace exists already (the benchmark made it and deletes it).
// Prints "READY" once the link is configured; exits on SIGTERM/SIGINT or
// after MAX_SECONDS (the benchmark kills it by PID when it is done).
import { TunDevice } from '../../src/netif/tun.ts';
import { configureTunLink } from '../../src/netif/tun-ip.ts';
import { iperf3Service, startServices } from '../../src/services/index.ts';
import { Stack } from '../../src/stack/stack.ts';
import { RealClock } from '../../src/time/real-clock.ts';

const [ns, tsip, kernel, prefix, mode, maxSeconds] = process.argv.slice(2);
if (ns === undefined || tsip === undefined || kernel === undefined || prefix === undefined || (mode !== 'offload' && mode !== 'plain') || maxSeconds === undefined) {
  console.error('usage: tsip-server.ts NETNS TSIP_ADDR KERNEL_ADDR PREFIX offload|plain MAX_SECONDS');
  process.exit(2);
}
const clock = new RealClock();
const stack = new Stack({ name: 'tsip', clock, rng: 1 });
// TSIP_TUN_TX_THREAD=1|0: the TUN transmit thread on or off (unset: the device's default);
// TSIP_TUN_TX_SPIN_US, TSIP_TUN_TX_PUBLISH_BYTES, TSIP_TUN_TX_INLINE: its tuning (TunOptions txSpinUs, txPublishBytes, txInlineRecords).
// TSIP_TUN_RX_THREAD=1|0 is read by the device itself; TSIP_TUN_RX_ENGAGE, TSIP_TUN_RX_IDLE_WAKES: its tuning (rxThreadEngage, rxThreadIdleWakes).
function rxTuning(): { rxThreadEngage?: number; rxThreadIdleWakes?: number } {
  const e = process.env;
  return { ...(e.TSIP_TUN_RX_ENGAGE ? { rxThreadEngage: Number(e.TSIP_TUN_RX_ENGAGE) } : {}), ...(e.TSIP_TUN_RX_IDLE_WAKES ? { rxThreadIdleWakes: Number(e.TSIP_TUN_RX_IDLE_WAKES) } : {}) };
}
const txEnv = process.env.TSIP_TUN_TX_THREAD;
const dev = TunDevice.open({ name: 'tsip0', netns: ns, offload: mode === 'offload', ...(txEnv === '1' || txEnv === '0' ? { txThread: txEnv === '1' } : {}), ...(process.env.TSIP_TUN_TX_SPIN_US ? { txSpinUs: Number(process.env.TSIP_TUN_TX_SPIN_US) } : {}), ...(process.env.TSIP_TUN_TX_PUBLISH_BYTES ? { txPublishBytes: Number(process.env.TSIP_TUN_TX_PUBLISH_BYTES) } : {}), ...(process.env.TSIP_TUN_TX_INLINE ? { txInlineRecords: Number(process.env.TSIP_TUN_TX_INLINE) } : {}), ...rxTuning() });
dev.attach(stack, { addr: tsip, prefixLength: Number(prefix), mtu: 1500 });
configureTunLink({ dev: dev.name, address: `${kernel}/${prefix}`, mtu: 1500, netns: ns });
const services = startServices(stack);
services.list.push(iperf3Service(stack.sockets)); // :5201, for the iperf3 rows (bench/anchors-iperf3.ts)
let closed = false;
const close = (): void => {
  if (closed) return;
  closed = true;
  const c = dev.counters;
  const tc = stack.tcp.counters;
  console.error(`tsip-server: TUN rx ${c.rxPackets} tx ${c.txPackets} drops rx ${c.rxDrops} tx ${c.txDrops}, rx batches ${c.rxBatches}${dev.txThread ? `, tx thread: kicks ${c.txKicks} waits ${c.txWaits} inline ${c.txInline}` : ''}${dev.rxThread ? `, rx thread: ring ${c.rxRing} ${JSON.stringify(dev.rxThreadStats())}` : ''}; TCP in ${tc.inSegs} out ${tc.outSegs} retransmitted ${tc.retransSegs}`);
  services.stop();
  dev.close();
  stack.close();
  clock.dispose();
  process.exit(0);
};
process.on('SIGTERM', close);
process.on('SIGINT', close);
setTimeout(close, Number(maxSeconds) * 1000);
console.log('READY');
