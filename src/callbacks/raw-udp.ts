// lwIP's raw UDP API under lwIP's own names (udp_new -> udpNew, ...), the
// companion of RawTcp (raw.ts). The mapping is in docs/raw-api.md.
//
// The contract, as lwIP's:
// - udpRecv's callback receives (arg, pcb, p, addr, port) and takes `p`
//   (it must free it, or keep it and free it later). It runs when the
//   datagram is fully processed; it may call anything here (send, remove
//   its own PCB). Sends to a local address come back as queued stack
//   input, never recursively.
// - udpSend/udpSendTo do not take `p`: the caller frees it afterwards,
//   and may reuse it (the header is added in its header room and removed
//   again, or put in a piece of its own).
// - A callback that throws is counted (udp.counters.callbackErrors), the
//   pbuf freed if it still holds a reference, and the exception reported to
//   the Stack.
import { Err } from '../err.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import { PbufType } from '../pbuf/pbuf.ts';
import { PbufLayer } from '../pbuf/pool.ts';
import { UdpSockOpt, type UdpErrFn, type UdpPcb, type UdpRecvFn } from '../udp/pcb.ts';
import type { Udp } from '../udp/udp.ts';
import type { IpAddr } from '../wire/ipaddr.ts';
import { bindTarget, toIpAddr as addr } from './addr.ts';

/** The stack-side object the raw UDP API needs (a Stack satisfies it). */
export interface RawUdpHost {
  readonly udp: Udp;
  defer(fn: () => void): void;
}

/** lwIP's raw UDP API bound to one stack. */
export class RawUdp {
  readonly udp: Udp;

  constructor(readonly host: RawUdpHost) {
    this.udp = host.udp;
  }

  /** udp_new: a new PCB, or null at the PCB limit. */
  udpNew(): UdpPcb | null {
    return this.udp.newPcb();
  }

  /**
   * udp_bind: local address and port (0 = ephemeral), either family. The
   * wildcards are lwIP's: IP4_ADDR_ANY (0, '0.0.0.0') IPv4 only,
   * IP6_ADDR_ANY ('::') IPv6 only (v6only), IP_ANY_TYPE both (dual:
   * IPv4 datagrams are reported with IPv4 addresses).
   */
  udpBind(pcb: UdpPcb, ip: IpAddr | string, port: number): number {
    const t = bindTarget(ip);
    if (t.v6only === null) return this.udp.bind(pcb, t.ip, port);
    const was = pcb.v6only;
    pcb.v6only = t.v6only;
    const err = this.udp.bind(pcb, t.ip, port);
    if (err !== Err.OK) pcb.v6only = was;
    return err;
  }

  /** udp_connect: fix the remote; only its datagrams are received. */
  udpConnect(pcb: UdpPcb, ip: IpAddr | string, port: number): number {
    return this.udp.connect(pcb, addr(ip), port);
  }

  /** udp_disconnect. */
  udpDisconnect(pcb: UdpPcb): void {
    this.udp.disconnect(pcb);
  }

  /** udp_send: to the connected remote (ERR_CONN if not connected). Does not take `p`. */
  udpSend(pcb: UdpPcb, p: Pbuf): number {
    return this.udp.send(pcb, p);
  }

  /** udp_sendto. Does not take `p`. */
  udpSendTo(pcb: UdpPcb, p: Pbuf, ip: IpAddr | string, port: number): number {
    return this.udp.sendTo(pcb, p, addr(ip), port);
  }

  /** Convenience (no lwIP equivalent): copy `data` into a pbuf, send it, free it. */
  udpSendBytes(pcb: UdpPcb, data: Uint8Array, ip?: IpAddr | string, port?: number): number {
    const p = this.udp.pool.alloc(PbufLayer.TRANSPORT, data.length, PbufType.RAM);
    if (p === null) {
      this.udp.stats.memerr++;
      return Err.MEM;
    }
    p.buf.set(data, p.off);
    const err = ip === undefined || port === undefined ? this.udp.send(pcb, p) : this.udp.sendTo(pcb, p, addr(ip), port);
    p.free();
    return err;
  }

  /** udp_recv: set the receive callback and its first argument. */
  udpRecv(pcb: UdpPcb, fn: UdpRecvFn | null, arg: unknown = pcb.arg): void {
    pcb.recvFn = fn;
    pcb.arg = arg;
  }

  /** ICMP errors for a connected PCB (tsip extension; lwIP drops them). */
  udpErr(pcb: UdpPcb, fn: UdpErrFn | null): void {
    pcb.errFn = fn;
  }

  /** udp_remove: unbind and free. */
  udpRemove(pcb: UdpPcb): void {
    this.udp.remove(pcb);
  }

  /** ip_set_option(pcb, SOF_REUSEADDR) / ip_reset_option. */
  setReuseAddr(pcb: UdpPcb, on: boolean): void {
    if (on) pcb.soOptions |= UdpSockOpt.REUSEADDR;
    else pcb.soOptions &= ~UdpSockOpt.REUSEADDR;
  }

  /** udp_set_ttl / udp_get_ttl. */
  udpSetTtl(pcb: UdpPcb, ttl: number): void {
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw new RangeError('ttl must be an integer in 1..255');
    pcb.ttl = ttl;
  }

  /** Run `fn` as soon as the current packet is fully processed (see Stack.defer). */
  defer(fn: () => void): void {
    this.host.defer(fn);
  }
}
