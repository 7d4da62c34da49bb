// PLACEHOLDER until ICMPv6 lands (branch ip6layer).
import { Err } from '../err.ts';
import type { Ip6Addr } from '../wire/ipaddr.ts';
import type { IcmpErrorReport, IpHost } from './host.ts';
import type { Ipv6 } from './ipv6.ts';

export interface Icmp6Options {}

export class Icmp6 {
  constructor(_host: IpHost, _ip6: Ipv6, _opts: Icmp6Options = {}) {}
  onError(_protocol: number, _cb: ((e: IcmpErrorReport) => void) | undefined): void {}
  onEchoReply(_cb: (r: import('./icmp.ts').EchoReply) => void): () => void {
    return () => {};
  }
  sendEchoRequest(_dst: Ip6Addr, _ident: number, _seqNo: number, _data: Uint8Array): number {
    return Err.RTE;
  }
}
