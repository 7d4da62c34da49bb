// A host table: names to addresses, as /etc/hosts is for a real machine.
// tsip has no DNS; a Stack looks names up here (stack.names) when node:net's
// connect, a Server's listen or the socket module's getaddrinfo is given a
// host that is not an IP literal. A lone stack has a table of its own; the
// simulator shares one table between all its stacks (restarted ones too)
// and enters each host's addresses under the host's name as it wires the
// host to a link or a switch, so 'server-1' means the same to every host.
//
// Names are case-insensitive (as DNS names are). Addresses keep the order
// they were added in within each family; lookups of either family give the
// IPv4 ones first (getaddrinfo's usual order on a host without IPv6
// preference rules), and no address twice.
import { formatIp, ipEq, type IpAddr, toIpAddr } from '../wire/ipaddr.ts';

export class HostTable {
  private readonly v4 = new Map<string, number[]>();
  private readonly v6 = new Map<string, IpAddr[]>();

  /** Enter `addr` (a u32, an Ip6Addr or either family's text) under `name`; a repeat is ignored. */
  add(name: string, addr: IpAddr | string): void {
    if (typeof name !== 'string' || name === '') throw new RangeError('HostTable: a name must be a non-empty string');
    const ip = toIpAddr(addr, `address for ${name}`);
    const key = name.toLowerCase();
    const table = typeof ip === 'number' ? this.v4 : this.v6;
    const list = table.get(key) as IpAddr[] | undefined;
    if (list === undefined) table.set(key, [ip] as number[]);
    else if (!list.some((a) => ipEq(a, ip))) list.push(ip);
  }

  /** Forget `name` (every address, or only `addr`). */
  remove(name: string, addr?: IpAddr | string): void {
    const key = name.toLowerCase();
    if (addr === undefined) {
      this.v4.delete(key);
      this.v6.delete(key);
      return;
    }
    const ip = toIpAddr(addr);
    const table = typeof ip === 'number' ? this.v4 : this.v6;
    const list = table.get(key) as IpAddr[] | undefined;
    if (list === undefined) return;
    const rest = list.filter((a) => !ipEq(a, ip));
    if (rest.length === 0) table.delete(key);
    else table.set(key, rest as number[]);
  }

  /** The addresses of `name`: family 4 or 6 only those, 0 (default) both, IPv4 first. Empty when unknown. */
  lookup(name: string, family: 0 | 4 | 6 = 0): IpAddr[] {
    const key = name.toLowerCase();
    const out: IpAddr[] = [];
    if (family !== 6) out.push(...(this.v4.get(key) ?? []));
    if (family !== 4) out.push(...(this.v6.get(key) ?? []));
    return out;
  }

  /** The first address of `name` (IPv4 before IPv6 for family 0), or null. */
  first(name: string, family: 0 | 4 | 6 = 0): IpAddr | null {
    const key = name.toLowerCase();
    if (family !== 6) {
      const a = this.v4.get(key);
      if (a !== undefined && a.length > 0) return a[0]!;
    }
    if (family !== 4) {
      const a = this.v6.get(key);
      if (a !== undefined && a.length > 0) return a[0]!;
    }
    return null;
  }

  /** A name `addr` is entered under (the first one), or null: a reverse lookup. */
  nameOf(addr: IpAddr | string): string | null {
    const ip = toIpAddr(addr);
    const table = typeof ip === 'number' ? this.v4 : this.v6;
    for (const [name, list] of table as Map<string, IpAddr[]>) if (list.some((a) => ipEq(a, ip))) return name;
    return null;
  }

  /** Every name in the table, sorted. */
  names(): string[] {
    return [...new Set([...this.v4.keys(), ...this.v6.keys()])].sort();
  }

  /** The table as text, one `address name` line per entry (an /etc/hosts file). */
  toString(): string {
    const lines: string[] = [];
    for (const name of this.names()) for (const a of this.lookup(name)) lines.push(`${formatIp(a)} ${name}`);
    return lines.join('\n');
  }
}
