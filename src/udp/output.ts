// UDP output (lwIP udp_sendto_if): prepend the header (in the payload's
// header room when there is some, else in a piece of its own), checksum
// over the pseudo-header, hand it to IP (which fragments above the MTU).
import { Err } from '../err.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import { PbufType } from '../pbuf/pbuf.ts';
import { PbufLayer, PbufUse } from '../pbuf/pool.ts';
import { chainOnesSum } from '../wire/checksum.ts';
import { bindReaches, ipIsAny, type IpAddr } from '../wire/ipaddr.ts';
import { IPV4_HEADER_LEN, IpProtocol } from '../wire/ipv4.ts';
import { UDP_HEADER_LEN } from '../wire/udp.ts';
import type { UdpPcb } from './pcb.ts';
import { autobindAddr, type Udp } from './udp.ts';

/** Largest payload one datagram can carry over IPv4 (65535 - 20 - 8); IPv6 takes 65527. */
export const UDP_MAX_PAYLOAD = 0xffff - IPV4_HEADER_LEN - UDP_HEADER_LEN;

/**
 * Send `p` (the payload; the caller keeps its reference, as lwIP) from
 * `pcb` to dst:dstPort. Binds the PCB to an ephemeral port first if needed.
 */
export function udpOutput(udp: Udp, pcb: UdpPcb, p: Pbuf, dst: IpAddr, dstPort: number): number {
  const st = udp.stats;
  if (pcb.freed) return Err.VAL;
  if (typeof dst === 'number') dst >>>= 0;
  if (!Number.isInteger(dstPort) || dstPort <= 0 || dstPort > 0xffff || ipIsAny(dst)) return Err.VAL;
  // A PCB bound to one family's address (or a v6only ::) cannot send to the other.
  if (pcb.localPort !== 0 && !bindReaches(pcb.localIp, pcb.v6only, dst)) return Err.VAL;
  const fl = udp.ip.of(dst);
  if (p.totLen > fl.maxPayload - UDP_HEADER_LEN) {
    st.lenerr++;
    st.err++;
    return Err.VAL;
  }
  if (pcb.localPort === 0) {
    const err = udp.bind(pcb, autobindAddr(pcb, dst), 0);
    if (err !== Err.OK) return err;
  }
  const ip = udp.ip;
  const netif = ip.route(dst);
  if (netif === null) {
    st.rterr++;
    st.err++;
    return Err.RTE;
  }
  let src = pcb.localIp;
  if (ipIsAny(src)) src = ip.sourceFor(netif, dst);
  else if (!ip.isLocal(src)) {
    // Bound to an address the stack no longer has (lwIP: ERR_RTE).
    st.rterr++;
    st.err++;
    return Err.RTE;
  }
  let head: Pbuf = p;
  let ownHead = false;
  if (!p.addHeader(UDP_HEADER_LEN)) {
    const h = udp.pool.alloc(PbufLayer.IP, UDP_HEADER_LEN, PbufType.RAM, PbufUse.CONTROL);
    if (h === null) {
      st.memerr++;
      st.err++;
      return Err.MEM;
    }
    h.chain(p);
    head = h;
    ownHead = true;
  }
  const len = head.totLen;
  const b = head.buf;
  const o = head.off;
  b[o] = pcb.localPort >>> 8;
  b[o + 1] = pcb.localPort;
  b[o + 2] = dstPort >>> 8;
  b[o + 3] = dstPort;
  b[o + 4] = len >>> 8;
  b[o + 5] = len;
  b[o + 6] = 0;
  b[o + 7] = 0;
  let c = ~chainOnesSum(head, 0, len, ip.pseudoSum(src, dst, IpProtocol.UDP, len)) & 0xffff;
  if (c === 0) c = 0xffff; // RFC 768: a computed 0 is sent as all ones
  b[o + 6] = c >>> 8;
  b[o + 7] = c;
  const err = ip.output(head, src, dst, IpProtocol.UDP, pcb.ttl, pcb.tos, false);
  if (ownHead) head.free();
  else p.removeHeader(UDP_HEADER_LEN);
  if (err === Err.OK) {
    st.xmit++;
    udp.counters.outDatagrams++;
  } else {
    st.err++;
  }
  return err;
}
