// The dual-stack IP layer TCP and UDP talk to: one object that sends,
// routes, picks sources and sums pseudo-headers for either family by
// looking at the address type (a number is IPv4, an Ip6Addr IPv6). This is
// where the family is decided; the transports above never branch on it.
import type { Netif } from '../netif/netif.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import type { IpAddr } from '../wire/ipaddr.ts';
import type { IcmpErrorSink, IpFamilyLayer, ProtocolInput } from './host.ts';

export class Ip {
  /**
   * Some netif completes TCP checksums (Netif.txCsumOffload): TCP may leave
   * a data segment's checksum to the device, flagging it
   * PbufFlag.CSUM_PARTIAL; IP fills it in for a netif that cannot.
   */
  txCsumOffload = false;

  constructor(
    readonly v4: IpFamilyLayer,
    readonly v6: IpFamilyLayer,
  ) {}

  /** The layer of `a`'s family. */
  of(a: IpAddr): IpFamilyLayer {
    return typeof a === 'number' ? this.v4 : this.v6;
  }

  /** Register a transport's input with both families. */
  register(protocol: number, input: ProtocolInput): void {
    this.v4.register(protocol, input);
    this.v6.register(protocol, input);
  }

  output(p: Pbuf, src: IpAddr, dst: IpAddr, protocol: number, ttl?: number, tos?: number, dontFragment?: boolean, flowLabel?: number): number {
    return (typeof dst === 'number' ? this.v4 : this.v6).output(p, src, dst, protocol, ttl, tos, dontFragment, flowLabel);
  }

  route(dst: IpAddr): Netif | null {
    return (typeof dst === 'number' ? this.v4 : this.v6).route(dst);
  }

  isLocal(a: IpAddr): boolean {
    return (typeof a === 'number' ? this.v4 : this.v6).isLocal(a);
  }

  sourceFor(netif: Netif, dst: IpAddr): IpAddr {
    return (typeof dst === 'number' ? this.v4 : this.v6).sourceFor(netif, dst);
  }

  /** The source for `dst` by route, or the family's wildcard if there is no route. */
  sourceTo(dst: IpAddr): IpAddr {
    const l = typeof dst === 'number' ? this.v4 : this.v6;
    const n = l.route(dst);
    return n === null ? l.any : l.sourceFor(n, dst);
  }

  pseudoSum(src: IpAddr, dst: IpAddr, protocol: number, length: number): number {
    return (typeof dst === 'number' ? this.v4 : this.v6).pseudoSum(src, dst, protocol, length);
  }

  /** Fixed IP header bytes for `a`'s family (20 or 40). */
  headerLen(a: IpAddr): number {
    return typeof a === 'number' ? this.v4.headerLen : this.v6.headerLen;
  }

  /** MTU of `netif` for `a`'s family. */
  mtuOf(netif: Netif, a: IpAddr): number {
    return (typeof a === 'number' ? this.v4 : this.v6).mtuOf(netif);
  }

  /** The loopback netif. */
  get loopback(): Netif | null {
    return this.v4.loopback;
  }

  icmpErrorsFor(a: IpAddr): IcmpErrorSink | null {
    return (typeof a === 'number' ? this.v4 : this.v6).icmpErrors;
  }

  close(): void {
    this.v4.close();
    this.v6.close();
  }
}
