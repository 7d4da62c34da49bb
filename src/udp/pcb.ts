// The UDP protocol control block (lwIP struct udp_pcb): a local address and
// port, optionally a fixed remote ("connected"), options, and the
// application's callbacks.
import type { Pbuf } from '../pbuf/pbuf.ts';
import { formatIp, type IpAddr } from '../wire/ipaddr.ts';

/**
 * udp_recv callback (lwIP udp_recv_fn): a datagram's payload (a pbuf the
 * callback takes and must free) and who sent it.
 */
export type UdpRecvFn = (arg: unknown, pcb: UdpPcb, p: Pbuf, addr: IpAddr, port: number) => void;

/**
 * An ICMP error about a datagram this connected PCB sent (tsip extension:
 * lwIP drops these). `err` is Err.RST for port/protocol unreachable (the
 * socket layer's ECONNREFUSED), Err.RTE for net/host unreachable and
 * Err.VAL for the rest; `type`/`code` are the ICMP ones.
 */
export type UdpErrFn = (arg: unknown, pcb: UdpPcb, err: number, type: number, code: number) => void;

/** lwIP SOF_* bits kept in soOptions (the values lwIP and modlwip use). */
export const UdpSockOpt = {
  REUSEADDR: 0x04,
  BROADCAST: 0x20,
} as const;

export class UdpPcb {
  /** 0 or :: = any local address (a u32 for IPv4, an Ip6Addr for IPv6). */
  localIp: IpAddr = 0;
  /** 0 = not bound yet. */
  localPort = 0;
  remoteIp: IpAddr = 0;
  remotePort = 0;
  /** lwIP UDP_FLAGS_CONNECTED: remote address and port are fixed (filtering input). */
  connected = false;
  soOptions = 0;
  /** Bound to :: but refusing IPv4 (IPV6_V6ONLY). */
  v6only = false;
  ttl: number;
  tos = 0;
  arg: unknown = null;
  recvFn: UdpRecvFn | null = null;
  errFn: UdpErrFn | null = null;
  /** True once udp_remove'd: every operation fails. */
  freed = false;
  /** @internal True while in the demux table. */
  inTable = false;

  constructor(ttl: number) {
    this.ttl = ttl;
  }

  get reuseAddr(): boolean {
    return (this.soOptions & UdpSockOpt.REUSEADDR) !== 0;
  }

  toString(): string {
    const a = formatIp;
    return `UdpPcb(${a(this.localIp)}:${this.localPort}${this.connected ? ` -> ${a(this.remoteIp)}:${this.remotePort}` : ''})`;
  }
}
