// PCB tables: active connections and TIME_WAIT connections are found by
// their 4-tuple in O(1) (a hash of the tuple into a Map, chained through
// pcb.hashNext for the rare collision); listeners by local port. A registry
// of local ports answers bind() conflicts and picks ephemeral ports without
// scanning every PCB (lwIP walks all its lists for both).
import { bindAccepts, ipEq, ipHash, type IpAddr } from '../wire/ipaddr.ts';
import type { TcpPcb } from './pcb.ts';

export const TableKind = { NONE: 0, ACTIVE: 1, TIME_WAIT: 2, LISTEN: 3, BOUND: 4 } as const;

/** A 32-bit hash of a 4-tuple (not keyed: the chains check the full tuple). */
export function tupleHash(localIp: IpAddr, localPort: number, remoteIp: IpAddr, remotePort: number): number {
  let h = Math.imul(ipHash(remoteIp) ^ 0x9e3779b9, 0x85ebca6b);
  h ^= Math.imul(ipHash(localIp), 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 15), 0x27d4eb2f);
  h ^= ((localPort << 16) | remotePort) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0x165667b1);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Connections by 4-tuple. */
export class TupleTable {
  private readonly buckets = new Map<number, TcpPcb>();
  size = 0;

  constructor(private readonly kind: number) {}

  add(pcb: TcpPcb): void {
    // Keys as int32 (Smis): a u32 key above 2^31 would be a heap number per entry.
    const h = tupleHash(pcb.localIp, pcb.localPort, pcb.remoteIp, pcb.remotePort) | 0;
    pcb.hashNext = this.buckets.get(h) ?? null;
    this.buckets.set(h, pcb);
    pcb.table = this.kind;
    this.size++;
  }

  remove(pcb: TcpPcb): void {
    const h = tupleHash(pcb.localIp, pcb.localPort, pcb.remoteIp, pcb.remotePort) | 0;
    let cur = this.buckets.get(h) ?? null;
    let prev: TcpPcb | null = null;
    while (cur !== null && cur !== pcb) {
      prev = cur;
      cur = cur.hashNext;
    }
    if (cur === null) return;
    if (prev === null) {
      if (pcb.hashNext === null) this.buckets.delete(h);
      else this.buckets.set(h, pcb.hashNext);
    } else {
      prev.hashNext = pcb.hashNext;
    }
    pcb.hashNext = null;
    pcb.table = TableKind.NONE;
    this.size--;
  }

  lookup(localIp: IpAddr, localPort: number, remoteIp: IpAddr, remotePort: number): TcpPcb | null {
    let p = this.buckets.get(tupleHash(localIp, localPort, remoteIp, remotePort) | 0) ?? null;
    while (p !== null) {
      if (p.localPort === localPort && p.remotePort === remotePort && ipEq(p.remoteIp, remoteIp) && ipEq(p.localIp, localIp)) return p;
      p = p.hashNext;
    }
    return null;
  }

  *values(): IterableIterator<TcpPcb> {
    for (const head of this.buckets.values()) {
      for (let p: TcpPcb | null = head; p !== null; ) {
        const next: TcpPcb | null = p.hashNext;
        yield p;
        p = next;
      }
    }
  }
}

/**
 * Listeners by local port. A listener bound to the destination address wins
 * over a wildcard of the same family, which wins over a dual-stack ::
 * listener taking IPv4 (as Linux: a specific bind is the better match).
 */
export class ListenTable {
  private readonly byPort = new Map<number, TcpPcb[]>();
  size = 0;

  add(pcb: TcpPcb): void {
    const list = this.byPort.get(pcb.localPort);
    if (list === undefined) this.byPort.set(pcb.localPort, [pcb]);
    else list.push(pcb);
    pcb.table = TableKind.LISTEN;
    this.size++;
  }

  remove(pcb: TcpPcb): void {
    const list = this.byPort.get(pcb.localPort);
    if (list === undefined) return;
    const i = list.indexOf(pcb);
    if (i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.byPort.delete(pcb.localPort);
    pcb.table = TableKind.NONE;
    this.size--;
  }

  lookup(localIp: IpAddr, localPort: number): TcpPcb | null {
    const list = this.byPort.get(localPort);
    if (list === undefined) return null;
    let best: TcpPcb | null = null;
    let bestRank = 0;
    for (const p of list) {
      const r = bindAccepts(p.localIp, p.v6only, localIp);
      if (r === 3) return p;
      if (r > bestRank) {
        best = p;
        bestRank = r;
      }
    }
    return best;
  }

  *values(): IterableIterator<TcpPcb> {
    for (const list of this.byPort.values()) yield* list;
  }
}

/**
 * Every PCB holding a local port, by port: bind conflicts and ephemeral
 * choice. A port with one user maps to the PCB itself (no array: a client
 * has one per connection); with more, to a list in which each PCB knows its
 * index (pcb.portSlot), so removal is O(1) however many connections share
 * a listener's port.
 */
export class PortRegistry {
  private readonly users = new Map<number, TcpPcb | TcpPcb[]>();
  /** usersOf's answer for a port with one user (refilled on each call). */
  private readonly one: TcpPcb[] = [];

  add(pcb: TcpPcb): void {
    const cur = this.users.get(pcb.localPort);
    if (cur === undefined) {
      pcb.portSlot = -1;
      this.users.set(pcb.localPort, pcb);
    } else if (Array.isArray(cur)) {
      pcb.portSlot = cur.length;
      cur.push(pcb);
    } else {
      cur.portSlot = 0;
      pcb.portSlot = 1;
      this.users.set(pcb.localPort, [cur, pcb]);
    }
  }

  remove(pcb: TcpPcb, port = pcb.localPort): void {
    const cur = this.users.get(port);
    if (cur === undefined) return;
    if (!Array.isArray(cur)) {
      if (cur === pcb) this.users.delete(port);
      return;
    }
    const i = pcb.portSlot;
    if (i < 0 || i >= cur.length || cur[i] !== pcb) return;
    // Order does not matter: swap-remove.
    const last = cur.pop()!;
    if (last !== pcb) {
      cur[i] = last;
      last.portSlot = i;
    }
    pcb.portSlot = -1;
    if (cur.length === 1) {
      cur[0]!.portSlot = -1;
      this.users.set(port, cur[0]!);
    } else if (cur.length === 0) {
      this.users.delete(port);
    }
  }

  /** The port's users. The array may be reused by the next call: read it before changing the registry. */
  usersOf(port: number): readonly TcpPcb[] {
    const cur = this.users.get(port);
    if (cur === undefined) return EMPTY;
    if (Array.isArray(cur)) return cur;
    this.one[0] = cur;
    return this.one;
  }

  inUse(port: number): boolean {
    return this.users.has(port);
  }
}

const EMPTY: readonly TcpPcb[] = [];
