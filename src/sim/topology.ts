// Ready-made topologies on one switch: a LAN of named hosts, a star (N
// clients, one server) and a proxied service (a client, a proxy, K
// servers). Addresses follow the order of the hosts, never the seed:
// host k (from 1) is 10.0.H.L/16 with H.L = k (10.0.0.1, 10.0.0.2, ...)
// and fd00::k/64 (hexadecimal k), so a test can name them without asking.
// Every host's name resolves on every host (sim.names). The same can be
// built by hand with sim.addStack() and sim.attach().
import type { Stack, StackOptions } from '../stack/stack.ts';
import type { LinkSpec } from './link.ts';
import type { PcapWriter } from './pcap.ts';
import type { AttachOptions, Simulator } from './simulator.ts';
import type { Switch, SwitchOptions } from './switch.ts';

export interface LanOptions {
  /** The switch's name (default 'switch'). */
  switchName?: string;
  /** Options of the switch (e.g. a pcap of everything it forwards). */
  switch?: SwitchOptions;
  /** Faults and delay of every host's link, both ways (default 1 ms latency). */
  link?: LinkSpec;
  /** Per-host link overrides, by host name. */
  links?: Readonly<Record<string, LinkSpec>>;
  /** false (default): IPv4 only; true: IPv4 and IPv6; 'only': IPv6 only. */
  ipv6?: boolean | 'only';
  mtu?: number;
  gso?: boolean;
  /** Capture on every port (what each host sends and receives). */
  pcap?: PcapWriter;
  /** Options for every stack made (e.g. { pool: { trackLive: true } }). */
  stack?: Omit<StackOptions, 'clock' | 'name'>;
  /** Number of the first host (default 1): host k gets 10.0.0.k and fd00::k. */
  firstHost?: number;
}

/** The IPv4 address of host number `k` (1-based) on a topology LAN. */
export function lanAddr(k: number): string {
  if (!Number.isInteger(k) || k < 1 || k > 0xfffe) throw new RangeError(`lan host number must be in 1..65534, got ${k}`);
  return `10.0.${k >> 8}.${k & 0xff}`;
}

/** The IPv6 address of host number `k` on a topology LAN. */
export function lanAddr6(k: number): string {
  lanAddr(k);
  return `fd00::${k.toString(16)}`;
}

/** Stacks named `names` on one new switch, host k at 10.0.0.k / fd00::k (see the file comment). */
export function lan(sim: Simulator, names: readonly string[], o: LanOptions = {}): { sw: Switch; hosts: Stack[] } {
  const sw = sim.addSwitch(o.switchName ?? 'switch', o.switch ?? {});
  const first = o.firstHost ?? 1;
  const hosts = names.map((name, i) => {
    const stack = sim.addStack(name, o.stack ?? {});
    const k = first + i;
    const a: AttachOptions = {};
    if (o.ipv6 !== 'only') {
      a.addr = lanAddr(k);
      a.prefixLength = 16;
    }
    if (o.ipv6 === true || o.ipv6 === 'only') a.addr6 = lanAddr6(k);
    const perHost = o.links?.[name];
    if (o.link !== undefined || perHost !== undefined) a.link = { ...o.link, ...perHost };
    if (o.mtu !== undefined) a.mtu = o.mtu;
    if (o.gso !== undefined) a.gso = o.gso;
    if (o.pcap !== undefined) a.pcap = o.pcap;
    sim.attach(stack, sw, a);
    return stack;
  });
  return { sw, hosts };
}

export interface StarOptions extends LanOptions {
  /** How many clients ('client-1' ... 'client-N'). */
  clients: number;
  /** The server's name (default 'server'). */
  server?: string;
}

/** One server (host 1: 10.0.0.1, fd00::1) and N clients (client-i is host i+1) on one switch. */
export function star(sim: Simulator, o: StarOptions): { sw: Switch; server: Stack; clients: Stack[] } {
  if (!Number.isInteger(o.clients) || o.clients < 0) throw new RangeError(`star: clients must be an integer >= 0, got ${o.clients}`);
  const names = [o.server ?? 'server', ...Array.from({ length: o.clients }, (_, i) => `client-${i + 1}`)];
  const { sw, hosts } = lan(sim, names, o);
  return { sw, server: hosts[0]!, clients: hosts.slice(1) };
}

export interface ProxiedOptions extends LanOptions {
  /** How many servers ('server-1' ... 'server-K'). */
  servers: number;
  /** The client's and the proxy's names (default 'client', 'proxy'). */
  client?: string;
  proxy?: string;
}

/**
 * A client (host 1), a proxy (host 2) and K servers (server-i is host
 * i+2) on one switch: the shape of a load balancer or reverse proxy test.
 */
export function proxied(sim: Simulator, o: ProxiedOptions): { sw: Switch; client: Stack; proxy: Stack; servers: Stack[] } {
  if (!Number.isInteger(o.servers) || o.servers < 0) throw new RangeError(`proxied: servers must be an integer >= 0, got ${o.servers}`);
  const names = [o.client ?? 'client', o.proxy ?? 'proxy', ...Array.from({ length: o.servers }, (_, i) => `server-${i + 1}`)];
  const { sw, hosts } = lan(sim, names, o);
  return { sw, client: hosts[0]!, proxy: hosts[1]!, servers: hosts.slice(2) };
}
