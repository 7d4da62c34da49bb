// PLACEHOLDER until the IPv6 layer lands (branch ip6layer): drops everything.
import { Err } from '../err.ts';
import type { Netif } from '../netif/netif.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import { IP6_ANY, ip6PseudoHeaderSum, type Ip6Addr, type IpAddr } from '../wire/ipaddr.ts';
import type { IcmpErrorSink, IpFamilyLayer, IpHost, ProtocolInput } from './host.ts';

export interface Ipv6Options {
  defaultHopLimit?: number;
  flowKey?: [number, number];
}

export class Ipv6 implements IpFamilyLayer {
  readonly family = 6;
  readonly headerLen = 40;
  readonly minMtu = 1280;
  readonly maxPayload = 0xffff;
  readonly udpChecksumRequired = true;
  readonly any = IP6_ANY;
  readonly defaultTtl = 64;
  loopback: Netif | null = null;
  defaultNetif: Netif | null = null;
  icmpErrors: IcmpErrorSink | null = null;
  constructor(_host: IpHost, _opts: Ipv6Options = {}) {}
  register(_protocol: number, _input: ProtocolInput): void {}
  isLocal(_a: IpAddr): boolean {
    return false;
  }
  route(_dst: IpAddr): Netif | null {
    return null;
  }
  sourceFor(_netif: Netif, _dst: IpAddr): IpAddr {
    return IP6_ANY;
  }
  mtuOf(_netif: Netif): number {
    return 0;
  }
  pseudoSum(src: IpAddr, dst: IpAddr, protocol: number, length: number): number {
    return ip6PseudoHeaderSum(src as Ip6Addr, dst as Ip6Addr, protocol, length);
  }
  output(_p: Pbuf): number {
    return Err.RTE;
  }
  input(p: Pbuf, _netif: Netif): void {
    p.free();
  }
  close(): void {}
}
