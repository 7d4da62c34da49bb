// The status page's content: every counter group the stack keeps (so new
// drop counters show up without edits here), the pool, the services, and
// per-connection rows only for clients allowed to see them — addresses and
// ports of other clients tell an attacker which connection to aim at.
import type { Stack } from '../stack/stack.ts';
import { parseIpv4Address, prefixToMask } from '../wire/address.ts';
import { connectionRows, type StatusSource, type StatusViewer } from './http.ts';
import type { Service } from './serve.ts';
import { ipEq, ipUnmapV4, parseIp, type IpAddr } from '../wire/ipaddr.ts';

/** Who sees per-connection rows: everyone, local clients only (default), nobody. */
export type ConnectionVisibility = 'all' | 'local' | 'none';

export interface StatusOptions {
  /** Who sees the connection list on / and /status.json (default 'local'). */
  statusConnections?: ConnectionVisibility;
  /**
   * Addresses that count as local besides 127.0.0.0/8, tsip's own
   * addresses and the far end of a point-to-point link (see isLocalViewer),
   * e.g. the kernel side of `tsip up`'s link when its prefix is wider than /30.
   */
  localPeers?: readonly string[];
  /** Most connection rows listed (default 100); connectionCount tells how many there are. */
  statusMaxRows?: number;
  /** More sections for the page (`tsip up` adds the TUN device's counters). */
  extra?: () => Record<string, unknown>;
}

export const DEFAULT_STATUS_ROWS = 100;

/**
 * Local, for the status page: loopback (127.0.0.0/8), one of tsip's own
 * addresses, one of `peers`, or the one other host of a /30 or /31 netif
 * (a point-to-point link such as `tsip up`'s TUN: its far end is the
 * namespace's kernel, not a stranger).
 */
export function isLocalViewer(stack: Stack, remote: string, peers: readonly IpAddr[]): boolean {
  const any = ipUnmapV4(parseIp(remote) ?? 0);
  if (typeof any !== 'number') {
    // IPv6: loopback, our own addresses and the named peers (a point-to-point TUN's kernel side).
    return any.isLoopback || stack.ip6.isLocal(any) || peers.some((p) => ipEq(p, any));
  }
  const a = any;
  if (a === 0) return false;
  if (a >>> 24 === 127 || stack.ip.isLocal(a) || peers.includes(a)) return true;
  for (const n of stack.netifs) {
    const mask = n.netmask >>> 0;
    if (mask < prefixToMask(30) || mask === 0xffffffff || n.addr === 0) continue;
    if (((a & mask) >>> 0) !== ((n.addr & mask) >>> 0) || a === n.addr) continue;
    // A /30's network and broadcast addresses are no hosts; a /31 has two hosts (RFC 3021).
    if (mask === prefixToMask(30) && (a === ((n.addr & mask) >>> 0) || a === ((n.addr | ~mask) >>> 0))) continue;
    return true;
  }
  return false;
}

/** Plain objects of numbers among `o`'s own properties (counter groups), copied; `skip` leaves out groups already shown. */
export function counterGroups(o: object, skip: ReadonlySet<object> = new Set()): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === null || typeof v !== 'object' || skip.has(v) || Object.getPrototypeOf(v) !== Object.prototype) continue;
    const vals = Object.values(v as Record<string, unknown>);
    if (vals.length > 0 && vals.every((x) => typeof x === 'number')) out[k] = { ...(v as Record<string, number>) };
  }
  return out;
}

/** Property names that hold counters (`counters`, `stats`, `fooCounters`, `barStats`): only those of a layer are shown, never other state (keys, secrets). */
const COUNTER_NAME = /^(counters|stats)$|[a-z0-9](Counters|Stats)$/;

/** Every counter group of a layer object (by name, see COUNTER_NAME), merged into one (key clashes: the later group wins). */
function mergedCounters(o: object, skip: ReadonlySet<object>): Record<string, number> {
  const groups = Object.entries(counterGroups(o, skip)).filter(([k]) => COUNTER_NAME.test(k));
  return Object.assign({}, ...groups.map(([, v]) => v)) as Record<string, number>;
}

export function statusSource(stack: Stack, services: () => readonly Service[], o: StatusOptions = {}): StatusSource {
  const visibility = o.statusConnections ?? 'local';
  if (visibility !== 'all' && visibility !== 'local' && visibility !== 'none') throw new RangeError(`statusConnections must be 'all', 'local' or 'none', got ${String(visibility)}`);
  const maxRows = o.statusMaxRows ?? DEFAULT_STATUS_ROWS;
  if (!Number.isInteger(maxRows) || maxRows < 0) throw new RangeError(`statusMaxRows must be a non-negative integer, got ${String(maxRows)}`);
  const peers = (o.localPeers ?? []).map((p) => {
    const a = parseIp(p);
    if (a === null) throw new RangeError(`localPeers: not an IP address: ${p}`);
    return a;
  });
  const mayList = (viewer: StatusViewer | undefined): boolean => {
    if (visibility === 'all') return true;
    if (visibility === 'none') return false;
    // No viewer: asked from inside the process (a test, the CLI), which is local.
    return viewer === undefined || isLocalViewer(stack, viewer.remote, peers);
  };
  return {
    status(viewer) {
      const st = stack.stats;
      // Every group of stack.stats (link, ip, ipFrag, icmp, udp, tcp, stack, and whatever is added).
      const groups: Record<string, Record<string, unknown>> = counterGroups(st);
      const shown = new Set<object>(Object.values(st as object) as object[]);
      // Counter objects the layers keep besides (ip ingress, reassembly, ...), merged into their group.
      groups.ip = { ...groups.ip, ...mergedCounters(stack.ip, shown) };
      groups.icmp = { ...groups.icmp, ...mergedCounters(stack.icmp, shown) };
      groups.tcp = { ...groups.tcp, ...stack.tcp.counters, pcbs: stack.tcp.pcbCount };
      groups.udp = { ...groups.udp, ...stack.udp.counters, pcbs: stack.udp.pcbCount };
      const r = stack.ip.reassembler;
      groups.reassembly = { pending: r.pending, bytes: r.bytes, ...mergedCounters(r, shown) };
      const conns = [...stack.tcp.connections()];
      const out: Record<string, unknown> = {
        services: Object.fromEntries(services().map((s) => [`${s.name}:${s.port}`, { ...s.counters }])),
        ...o.extra?.(),
        ...groups,
        sockets: { open: stack.sockets.open, ...stack.sockets.counters },
        pool: { ...stack.pool.stats, maxBytes: stack.pool.opts.maxBytes, rxReserveBytes: stack.pool.opts.rxReserveBytes, dataBytesLeft: stack.pool.dataBytesLeft() },
        connectionCount: conns.length,
      };
      if (mayList(viewer)) {
        out.connections = connectionRows(conns.slice(0, maxRows));
        if (conns.length > maxRows) out.connectionsTruncated = conns.length - maxRows;
      } else {
        out.connectionsHidden = visibility === 'none' ? 'connections are not listed (statusConnections: none)' : 'connections are listed only for local clients';
      }
      return out;
    },
  };
}
