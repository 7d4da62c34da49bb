// UDP input (lwIP udp_input): validate the datagram, find its PCB, hand the
// payload up as a view of the received pbuf (header removed, no copy), or
// answer ICMP port unreachable when nobody listens.
import type { IpInfo } from '../ip/host.ts';
import { type Pbuf, PbufFlag } from '../pbuf/pbuf.ts';
import { chainOnesSum } from '../wire/checksum.ts';
import { IpProtocol } from '../wire/ipv4.ts';
import { UDP_HEADER_LEN } from '../wire/udp.ts';
import type { Udp } from './udp.ts';

/** ICMP destination unreachable code 3. */
const PORT_UNREACHABLE = 3;

/** Takes ownership of `p` (payload at the UDP header). Never throws on packet contents. */
export function udpInput(udp: Udp, p: Pbuf, info: IpInfo): void {
  const st = udp.stats;
  const c = udp.counters;
  st.recv++;
  // The header must sit in the first piece (IP delivers it so; a first
  // fragment carries at least 8 bytes of payload).
  if (p.totLen < UDP_HEADER_LEN || p.len < UDP_HEADER_LEN) return drop(udp, p, 'lenerr');
  const b = p.buf;
  const o = p.off;
  const srcPort = (b[o]! << 8) | b[o + 1]!;
  const dstPort = (b[o + 2]! << 8) | b[o + 3]!;
  const length = (b[o + 4]! << 8) | b[o + 5]!;
  const checksum = (b[o + 6]! << 8) | b[o + 7]!;
  // Length field vs what IP delivered: more is a truncated datagram (drop),
  // less means trailing bytes that are not part of it (trim).
  if (length < UDP_HEADER_LEN || length > p.totLen) return drop(udp, p, 'lenerr');
  if (length < p.totLen) p.realloc(length);
  // Checksum 0: none was computed (allowed over IPv4, RFC 768; never over IPv6, RFC 8200 §8.1).
  if (checksum === 0) {
    if (udp.ip.of(info.src).udpChecksumRequired) return drop(udp, p, 'chkerr');
  } else if ((p.flags & (PbufFlag.CSUM_PARTIAL | PbufFlag.CSUM_VALID)) === 0 && chainOnesSum(p, 0, length, udp.ip.pseudoSum(info.src, info.dst, IpProtocol.UDP, length)) !== 0xffff) {
    return drop(udp, p, 'chkerr');
  }
  // Source port 0 is allowed (no reply expected); destination port 0 never matches.
  const multicast = info.multicast;
  const pcb = dstPort === 0 ? null : udp.table.lookup(info.dst, dstPort, info.src, srcPort, info.broadcast || multicast, (info.broadcastNetif ?? info.netif).addr);
  if (pcb !== null && pcb.recvFn === null) {
    // Bound but nobody receives (lwIP frees the datagram, no ICMP).
    st.drop++;
    p.free();
    return;
  }
  if (pcb === null) {
    c.noPorts++;
    st.drop++;
    // RFC 1122 3.2.2.1 / 4.1.3.1: port unreachable, never about a broadcast or multicast.
    const icmp = udp.ip.icmpErrorsFor(info.src);
    if (!info.broadcast && !multicast && icmp !== null && p.addHeader(info.headerLen)) {
      icmp.destUnreachable(p, PORT_UNREACHABLE);
    }
    p.free();
    return;
  }
  p.removeHeader(UDP_HEADER_LEN);
  c.inDatagrams++;
  udp.deliver(pcb, p, info.src, srcPort);
}

function drop(udp: Udp, p: Pbuf, reason: 'lenerr' | 'chkerr'): void {
  udp.stats[reason]++;
  udp.stats.drop++;
  udp.counters.inErrors++;
  if (reason === 'chkerr') udp.counters.inCsumErrors++;
  p.free();
}
