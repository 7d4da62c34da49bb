// UDP test support: crafted datagrams and parsing what a stack sends.
import { parseIpv4 } from '../../src/wire/ipv4.ts';
import { emitUdp, UdpView } from '../../src/wire/udp.ts';
import { isWireError } from '../../src/wire/error.ts';
import { addr, ipPacket, type IpSpec } from '../support/packets.ts';

export interface UdpSpec extends IpSpec {
  srcPort?: number;
  dstPort?: number;
  /** 'zero' sends checksum 0, 'bad' flips a bit of a good one. */
  checksum?: 'good' | 'zero' | 'bad';
  /** Override the UDP length field. */
  lengthField?: number;
}

/** An IPv4 datagram carrying a UDP datagram (default 10.0.0.2:5000 -> 10.0.0.1:7). */
export function udpPacket(payload: Uint8Array, s: UdpSpec = {}): Uint8Array {
  const src = s.src ?? '10.0.0.2';
  const dst = s.dst ?? '10.0.0.1';
  const u = new Uint8Array(8 + payload.length);
  u.set(payload, 8);
  emitUdp({ srcPort: s.srcPort ?? 5000, dstPort: s.dstPort ?? 7, payloadLen: payload.length }, u, 0, addr(src), addr(dst), { skipChecksum: s.checksum === 'zero' });
  if (s.checksum === 'bad') u[7]! ^= 0x01;
  if (s.lengthField !== undefined) {
    u[4] = s.lengthField >> 8;
    u[5] = s.lengthField & 0xff;
  }
  return ipPacket(u, { ...s, src, dst, protocol: 17 });
}

export interface SentUdp {
  src: number;
  dst: number;
  srcPort: number;
  dstPort: number;
  checksum: number;
  payload: Uint8Array;
  checksumOk: boolean;
}

/** Parse an IPv4/UDP packet a stack sent (throws if it is not one). */
export function parseSentUdp(bytes: Uint8Array): SentUdp {
  const ip = parseIpv4(bytes);
  if (isWireError(ip)) throw new Error(`not IPv4: ${ip.message}`);
  if (ip.protocol !== 17) throw new Error(`protocol ${ip.protocol}, not UDP`);
  const hl = (bytes[0]! & 0xf) * 4;
  const v = new UdpView(bytes, hl, bytes.length - hl);
  return {
    src: ip.src,
    dst: ip.dst,
    srcPort: v.srcPort,
    dstPort: v.dstPort,
    checksum: v.checksum,
    payload: bytes.slice(hl + 8, hl + v.length),
    checksumOk: v.checksum !== 0 && v.verifyChecksum(ip.src, ip.dst),
  };
}
