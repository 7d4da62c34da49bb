// `tsip up` (npm start): tsip on a Linux TUN device in a network namespace
// of its own, with its built-in services, a self-check from the kernel side,
// and clean-up on exit. Without root or /dev/net/tun it runs the same
// services in the simulator against a simulated client instead, and says so.
import { createHash, randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { TunDevice, TunError } from '../netif/tun.ts';
import { configureTunLink, createNetns, deleteNetns, netnsExists, tunAvailable } from '../netif/tun-ip.ts';
import { DeviceFaults, describeLinkSpec } from '../sim/device-faults.ts';
import type { LinkSpec } from '../sim/link.ts';
import { PcapWriter } from '../sim/pcap.ts';
import { Simulator } from '../sim/simulator.ts';
import { generatedBody, startServices } from '../services/index.ts';
import { startTerminal, type TerminalService } from '../services/terminal.ts';
import { webreplService, type WebReplService } from '../services/webrepl.ts';
import { iperf3Service } from '../services/iperf3.ts';
import { Stack } from '../stack/stack.ts';
import { AF_INET6 } from '../socket/constants.ts';
import { RealClock } from '../time/real-clock.ts';
import { formatIpv4Address, parseIpv4Address, prefixToMask } from '../wire/address.ts';
import { Ip6Addr } from '../wire/ipaddr.ts';
import { formatRate } from './common-options.ts';
import { type LongTimeout, setLongTimeout } from './long-timeout.ts';
import { Progress } from './progress.ts';
import { selfCheck } from './self-check.ts';

export interface UpOptions {
  netns: string | null;
  /** tsip's address with prefix, e.g. 10.77.0.2/30 (the kernel gets the first other host address). */
  addr: string;
  /** tsip's IPv6 address with prefix, e.g. fd00:7473::2/64 (the kernel gets the first other address); null: IPv4 only. */
  addr6?: string | null;
  mtu: number;
  offload: boolean;
  /** false: write packets from the JavaScript thread, not the TUN addon's transmit thread (TunOptions.txThread; default on). */
  txThread?: boolean;
  /** false: read packets on the JavaScript thread only, not the TUN addon's receive thread (TunOptions.rxThread; default on). */
  rxThread?: boolean;
  /** false: no receive coalescing on the receive thread (TunOptions.rxCoalesce; default on). */
  rxCoalesce?: boolean;
  /** false: no transmit segmentation, TCP sends MTU-sized segments (TunOptions.txSegmentation; default on). */
  txSegmentation?: boolean;
  /** Busy polling on the device's reads, µs (TunOptions.busyPollUs; default 0: off). */
  busyPollUs?: number;
  pcap?: string;
  /** Seconds to serve (any length: timers are chained); undefined = until Ctrl-C. */
  duration?: number;
  dev: string;
  /** Opt-in terminal service (src/services/terminal.ts): a password-protected REPL or shell. */
  terminal?: { port: number; password: string; mode: 'repl' | 'shell' };
  /** Opt-in WebREPL service (src/services/webrepl.ts): password, REPL or shell over WebSocket, file transfers under `root`. */
  webrepl?: { port: number; password: string; mode: 'repl' | 'shell'; root?: string };
  /** Opt-in iperf3 server (src/services/iperf3.ts) for an unmodified `iperf3 -c`. */
  iperf3?: { port: number };
  /** Link faults in user space on both directions of the TUN link (none: no shaping at all). */
  faults?: { spec: LinkSpec; seed: number | string };
  /** Run the services in the simulator even where a TUN device could be used. */
  simulate?: boolean;
  log: (line: string) => void;
  /** Where the self-check shows which step runs (a terminal); none by default. */
  progress?: Progress;
}

interface Addressing {
  tsip: string;
  kernel: string;
  prefix: number;
}

/** Why `spec` is not a usable --addr ("must be ..."), or null when it is. */
export function addrProblem(spec: string): string | null {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(spec);
  const tsip = m === null ? null : parseIpv4Address(m[1]!);
  const prefix = m === null ? NaN : Number(m[2]);
  if (tsip === null || !(prefix >= 1 && prefix <= 30)) return 'must be an IPv4 address with a prefix length from 1 to 30, such as 10.77.0.2/30';
  const mask = prefixToMask(prefix);
  const net = (tsip & mask) >>> 0;
  const bcast = (net | ~mask) >>> 0;
  if (tsip === net || tsip === bcast) return `must be a host address, not the network or broadcast address of its /${prefix}`;
  return null;
}

/** Why `spec` is not a usable --addr6 ("must be ..."), or null when it is. */
export function addr6Problem(spec: string): string | null {
  const slash = spec.lastIndexOf('/');
  const a = slash < 0 ? null : Ip6Addr.parse(spec.slice(0, slash));
  const prefix = slash < 0 ? NaN : Number(spec.slice(slash + 1));
  if (a === null || !Number.isInteger(prefix) || !(prefix >= 64 && prefix <= 126)) return 'must be an IPv6 address with a prefix length from 64 to 126, such as fd00:7473::2/64';
  if (a.isMulticast || a.isLoopback || a.isUnspecified || a.isV4Mapped || a.isLinkLocal) return 'must be a unicast global or unique-local address (not multicast, loopback, link-local or v4-mapped)';
  if (a.samePrefix(networkOf(a, prefix), 128)) return `must not be the subnet-router anycast address (all-zero interface id) of its /${prefix}`;
  return null;
}

function networkOf(a: Ip6Addr, prefix: number): Ip6Addr {
  const w = [a.w0, a.w1, a.w2, a.w3].map((x, i) => {
    const bits = Math.max(0, Math.min(32, prefix - 32 * i));
    return bits === 0 ? 0 : bits === 32 ? x : (x & ~(0xffffffff >>> bits)) >>> 0;
  });
  return new Ip6Addr(w[0]!, w[1]!, w[2]!, w[3]!);
}

/** tsip's IPv6 address and the kernel's (the network + 1, or + 2 when tsip has + 1). */
export function addressing6(spec: string): Addressing {
  const why = addr6Problem(spec);
  if (why !== null) throw new RangeError(`addr6 ${why}, got ${spec}`);
  const slash = spec.lastIndexOf('/');
  const tsip = Ip6Addr.parse(spec.slice(0, slash))!;
  const prefix = Number(spec.slice(slash + 1));
  const net = networkOf(tsip, prefix);
  let kernel = new Ip6Addr(net.w0, net.w1, net.w2, net.w3 + 1);
  if (kernel.equals(tsip)) kernel = new Ip6Addr(net.w0, net.w1, net.w2, net.w3 + 2);
  return { tsip: tsip.toString(), kernel: kernel.toString(), prefix };
}

/** tsip's address and the kernel's (the lowest other host of the subnet). */
export function addressing(spec: string): Addressing {
  const why = addrProblem(spec);
  if (why !== null) throw new RangeError(`addr ${why}, got ${spec}`);
  const [addr, p] = spec.split('/') as [string, string];
  const tsip = parseIpv4Address(addr)!;
  const prefix = Number(p);
  const net = (tsip & prefixToMask(prefix)) >>> 0;
  let kernel = (net + 1) >>> 0;
  if (kernel === tsip) kernel = (net + 2) >>> 0;
  return { tsip: formatIpv4Address(tsip), kernel: formatIpv4Address(kernel), prefix };
}

export async function up(o: UpOptions): Promise<number> {
  if (o.simulate) {
    o.log('tsip up: --simulate: running the services in the simulator.');
    return upSimulated(o);
  }
  const avail = tunAvailable();
  if (!avail.ok) {
    o.log(`tsip up: cannot use a TUN device here (${avail.why}); running the simulator instead.`);
    return upSimulated(o);
  }
  const a = addressing(o.addr);
  const a6 = o.addr6 === null || o.addr6 === undefined ? null : addressing6(o.addr6);
  const ns = o.netns;
  let created = false;
  const clock = new RealClock();
  const stack = new Stack({ name: 'tsip', clock, rng: randomInt(2 ** 31), onInternalError: (e) => o.log(`tsip: internal error: ${String(e)}`) });
  let dev: TunDevice | null = null;
  let services: ReturnType<typeof startServices> | null = null;
  let terminal: TerminalService | null = null;
  let webrepl: WebReplService | null = null;
  const pcap = o.pcap ? new PcapWriter() : null;
  const faults = o.faults === undefined ? null : new DeviceFaults({ clock, seed: o.faults.seed, link: o.faults.spec });
  let stop: (() => void) | null = null;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onSignal = (): void => stop?.();
  let serveTimer: LongTimeout | null = null;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    if (ns !== null) {
      if (netnsExists(ns)) throw new Error(`network namespace ${ns} already exists (another tsip up? remove it with: ip netns del ${ns})`);
      createNetns(ns);
      created = true;
    }
    dev = TunDevice.open({
      name: o.dev,
      ...(ns !== null ? { netns: ns } : {}),
      offload: o.offload,
      ...(o.txThread !== undefined ? { txThread: o.txThread } : {}),
      ...(o.rxThread !== undefined ? { rxThread: o.rxThread } : {}),
      ...(o.rxCoalesce !== undefined ? { rxCoalesce: o.rxCoalesce } : {}),
      ...(o.txSegmentation !== undefined ? { txSegmentation: o.txSegmentation } : {}),
      ...(o.busyPollUs !== undefined ? { busyPollUs: o.busyPollUs } : {}),
      ...(faults !== null ? { shaper: faults } : {}),
      ...(pcap ? { tap: (_dir: 'in' | 'out', bytes: Uint8Array) => pcap.write(Date.now(), bytes) } : {}),
      onError: (e) => {
        o.log(`tsip: ${e.message}`);
        stop?.();
      },
    });
    dev.attach(stack, { addr: a.tsip, prefixLength: a.prefix, ...(a6 !== null ? { addr6: a6.tsip, prefixLength6: a6.prefix } : {}), mtu: o.mtu });
    configureTunLink({ dev: dev.name, address: `${a.kernel}/${a.prefix}`, ...(a6 !== null ? { address6: `${a6.kernel}/${a6.prefix}` } : {}), mtu: o.mtu, ...(ns !== null ? { netns: ns } : {}) });
    const d = dev;
    // The kernel side may see the status page's connection rows, whatever the prefix (a /30 is covered anyway).
    services = startServices(stack, { extra: () => ({ tun: { name: d.name, offload: d.offload, ...d.counters, ...(d.rxThread ? { rxThread: d.rxThreadStats() } : {}), ...(o.busyPollUs ? { busyPoll: d.busyPollStats() } : {}) }, ...(faults !== null ? { linkFaults: faults.stats() } : {}) }), localPeers: [a.kernel, ...(a6 !== null ? [a6.kernel] : [])] });
    o.log(`tsip up: ${a.tsip}/${a.prefix}${a6 !== null ? ` and ${a6.tsip}/${a6.prefix}` : ''} on ${dev.name}${ns !== null ? ` in network namespace ${ns}` : ''} (kernel side ${a.kernel}${a6 !== null ? `, ${a6.kernel}` : ''}), MTU ${o.mtu}, offload ${o.offload ? 'on' : 'off'}`);
    if (faults !== null && o.faults !== undefined) o.log(`link faults (user space, each way, seed ${String(o.faults.seed)}): ${describeLinkSpec(o.faults.spec, formatRate)}`);
    o.log('services: echo :7, discard :9, chargen :19, http :80 (/, /status.json, /bytes/N)');
    if (o.terminal) {
      terminal = startTerminal(stack, { ...o.terminal, log: o.log });
      await terminal.ready;
      o.log(`terminal: password-protected ${o.terminal.mode} on ${a.tsip}:${o.terminal.port} (try: ${ns !== null ? `ip netns exec ${ns} ` : ''}nc ${a.tsip} ${o.terminal.port})`);
    }
    if (o.iperf3) {
      services.list.push(iperf3Service(stack.sockets, o.iperf3.port)); // its counters on the status page; stopped with the services
      o.log(`iperf3: TCP tests on ${a.tsip}:${o.iperf3.port} (try: ${ns !== null ? `ip netns exec ${ns} ` : ''}iperf3 -c ${a.tsip}${o.iperf3.port !== 5201 ? ` -p ${o.iperf3.port}` : ''} [-R] [-P N])`);
    }
    if (o.webrepl) {
      // tty: echo and line editing, as webrepl.html's terminal expects (webrepl_cli.py ignores text frames).
      webrepl = webreplService(stack, { ...o.webrepl, tty: true, log: o.log });
      services.list.push(webrepl); // its counters on the status page; stopped with the services
      o.log(
        `webrepl: password-protected ${o.webrepl.mode} on ws://${a.tsip}:${o.webrepl.port}/${o.webrepl.root !== undefined ? `, files under ${o.webrepl.root}` : ', no file transfers (no --webrepl-root)'} (try: ${ns !== null ? `ip netns exec ${ns} ` : ''}python3 webrepl_cli.py -p PW FILE ${a.tsip}:${o.webrepl.port}:/FILE)`,
      );
    }

    // Self-check from the kernel side (needs no tool beyond ip: see self-check.ts).
    const check = await selfCheck({ stack, tsip: a.tsip, kernel: a.kernel, ...(a6 !== null ? { tsip6: a6.tsip, kernel6: a6.kernel } : {}), netns: ns, log: o.log, progress: o.progress ?? Progress.none() });
    const allOk = check.ok;
    o.log(`reach it with: ${ns !== null ? `ip netns exec ${ns} ` : ''}curl http://${a.tsip}/${a6 !== null ? ` or curl -6 'http://[${a6.tsip}]/'` : ''}`);
    if (o.duration !== undefined) {
      o.log(`serving for ${o.duration} s`);
      // Chained timers: one Node timer holds at most ~24.8 days.
      serveTimer = setLongTimeout(() => stop?.(), o.duration * 1000, { unref: true });
    } else {
      o.log('serving until Ctrl-C');
    }
    await stopped;
    return allOk ? 0 : 1;
  } catch (e) {
    o.log(`tsip up: ${e instanceof TunError || e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    serveTimer?.clear();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    services?.stop();
    terminal?.stop();
    dev?.close();
    faults?.close();
    stack.close();
    clock.dispose();
    if (pcap && o.pcap) {
      writeFileSync(o.pcap, pcap.bytes());
      o.log(`wrote ${pcap.count} packets to ${o.pcap}`);
    }
    if (created && ns !== null) {
      deleteNetns(ns);
      o.log(`removed network namespace ${ns}`);
    }
  }
}

/** The fallback: the same services on a simulated stack, checked by a simulated client. */
async function upSimulated(o: UpOptions): Promise<number> {
  const a = addressing(o.addr);
  const a6 = o.addr6 === null || o.addr6 === undefined ? null : addressing6(o.addr6);
  const sim = new Simulator({ seed: o.faults?.seed ?? 1 });
  const tsip = sim.addStack('tsip');
  const kernel = sim.addStack('kernel');
  const pcap = o.pcap ? new PcapWriter() : null;
  sim.connect(kernel, tsip, {
    aAddr: a.kernel,
    bAddr: a.tsip,
    prefixLength: a.prefix,
    ...(a6 !== null ? { aAddr6: a6.kernel, bAddr6: a6.tsip, prefixLength6: a6.prefix } : {}),
    mtu: o.mtu,
    link: o.faults?.spec ?? { latencyMs: 1 },
    ...(pcap ? { pcap } : {}),
  });
  const services = startServices(tsip);
  o.log(`tsip up (simulated): ${a.tsip}/${a.prefix}${a6 !== null ? ` and ${a6.tsip}/${a6.prefix}` : ''}, a simulated client at ${a.kernel}${a6 !== null ? ` and ${a6.kernel}` : ''}; services: echo :7, discard :9, chargen :19, http :80`);
  const check = async (host: string, six: boolean): Promise<boolean> => {
    const s = six ? kernel.socket(AF_INET6) : kernel.socket();
    await s.connect([host, 80]);
    await s.write(new TextEncoder().encode('GET /bytes/1000000 HTTP/1.1\r\nHost: tsip\r\n\r\n'));
    const chunks: Uint8Array[] = [];
    for (;;) {
      const d = await s.recv(65536);
      if (d.length === 0) break;
      chunks.push(d);
    }
    s.close();
    const all = Buffer.concat(chunks);
    const body = all.subarray(all.indexOf('\r\n\r\n') + 4);
    return createHash('sha256').update(body).digest('hex') === createHash('sha256').update(generatedBody(1_000_000)).digest('hex');
  };
  let ok = true;
  for (const [host, six] of [[a.tsip, false], ...(a6 !== null ? [[a6.tsip, true]] : [])] as [string, boolean][]) {
    let one = false;
    try {
      one = await sim.settle(check(host, six), 120_000);
    } catch (e) {
      o.log(`self-check failed: ${String(e)}`);
    }
    ok &&= one;
    o.log(`self-check (simulated client): 1 MB over HTTP${six ? ' over IPv6' : ''}, sha256 ${one ? 'matches' : 'MISMATCH'} after ${sim.clock.now().toFixed(0)} ms of virtual time`);
  }
  services.stop();
  await sim.runUntilAsync(() => sim.clock.pendingTimers() === 0, sim.clock.now() + 300_000);
  sim.close();
  if (pcap && o.pcap) {
    writeFileSync(o.pcap, pcap.bytes());
    o.log(`wrote ${pcap.count} packets to ${o.pcap}`);
  }
  return ok ? 0 : 1;
}
