// Software TCP segmentation for simulated links: what a NIC (or the
// kernel's TUN driver) does with a GSO super-segment. The simulator offers
// GSO so the engine's large-segment send path runs under its loss and
// reordering, deterministically, not only on a real TUN device.
import { finishChecksum, ipv4PseudoHeaderSum, onesSum } from '../wire/checksum.ts';
import { ipv6PseudoHeaderSum } from '../wire/checksum6.ts';

const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/**
 * Cut an IPv4/TCP super-segment into packets of at most `mss` payload
 * bytes: the headers are repeated, the sequence number advances, the IP
 * ident increases, FIN and PSH stay on the last piece and CWR on the first
 * (as Linux's tcp_gso_segment does), and both checksums are recomputed.
 * IPv6/TCP (no extension headers, as tsip sends them) is cut the same way.
 * A frame that is neither or fits in one piece comes back as is.
 */
export function segmentTcpGso(frame: Uint8Array, mss: number): Uint8Array[] {
  if (mss <= 0) return [frame];
  const six = frame.length >= 60 && frame[0]! >> 4 === 6 && frame[6] === 6;
  if (!six && (frame.length < 20 || frame[0]! >> 4 !== 4 || frame[9] !== 6)) return [frame];
  const ihl = six ? 40 : (frame[0]! & 0x0f) * 4;
  if (frame.length < ihl + 20) return [frame];
  const thl = (frame[ihl + 12]! >> 4) * 4;
  const hdr = ihl + thl;
  const payload = frame.length - hdr;
  if (payload <= mss) return [frame];
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const seq0 = dv.getUint32(ihl + 4);
  const ident0 = six ? 0 : dv.getUint16(4);
  const flags = frame[ihl + 13]!;
  const out: Uint8Array[] = [];
  for (let off = 0, i = 0; off < payload; off += mss, i++) {
    const n = Math.min(mss, payload - off);
    const pkt = new Uint8Array(hdr + n);
    pkt.set(frame.subarray(0, hdr), 0);
    pkt.set(frame.subarray(hdr + off, hdr + off + n), hdr);
    const v = new DataView(pkt.buffer);
    let pseudo: number;
    if (six) {
      v.setUint16(4, thl + n); // payload length
      pseudo = ipv6PseudoHeaderSum(pkt, 8, pkt, 24, thl + n, 6);
    } else {
      v.setUint16(2, hdr + n);
      v.setUint16(4, (ident0 + i) & 0xffff);
      v.setUint16(10, 0);
      v.setUint16(10, finishChecksum(onesSum(pkt, 0, ihl)));
      pseudo = ipv4PseudoHeaderSum(v.getUint32(12), v.getUint32(16), 6, thl + n);
    }
    v.setUint32(ihl + 4, (seq0 + off) >>> 0);
    let f = flags;
    if (off + n < payload) f &= ~(TCP_FIN | TCP_PSH);
    if (i > 0) f &= ~TCP_CWR;
    pkt[ihl + 13] = f;
    v.setUint16(ihl + 16, 0);
    v.setUint16(ihl + 16, finishChecksum(onesSum(pkt, ihl, thl + n, pseudo)));
    out.push(pkt);
  }
  return out;
}

/**
 * Compute the TCP checksum of an unfragmented IPv4/TCP or IPv6/TCP frame
 * (no extension headers) in place, whatever its checksum field held: what
 * a NIC with TX checksum offload does. The simulator calls it on frames a
 * stack left partial (PbufFlag.CSUM_PARTIAL) before anyone can see or
 * damage them; on a frame whose checksum is already right it changes
 * nothing. Anything else is left alone.
 */
export function fillTcpChecksum(frame: Uint8Array): void {
  if (frame.length < 40) return;
  const ver = frame[0]! >> 4;
  let ihl: number;
  let pseudo: number;
  if (ver === 4) {
    ihl = (frame[0]! & 0x0f) * 4;
    if (frame[9] !== 6 || ((frame[6]! & 0x3f) | frame[7]!) !== 0 || frame.length < ihl + 20) return;
    const src = ((frame[12]! << 24) | (frame[13]! << 16) | (frame[14]! << 8) | frame[15]!) >>> 0;
    const dst = ((frame[16]! << 24) | (frame[17]! << 16) | (frame[18]! << 8) | frame[19]!) >>> 0;
    pseudo = ipv4PseudoHeaderSum(src, dst, 6, frame.length - ihl);
  } else if (ver === 6) {
    ihl = 40;
    if (frame[6] !== 6 || frame.length < 60) return;
    pseudo = ipv6PseudoHeaderSum(frame, 8, frame, 24, frame.length - 40, 6);
  } else {
    return;
  }
  frame[ihl + 16] = 0;
  frame[ihl + 17] = 0;
  const c = finishChecksum(onesSum(frame, ihl, frame.length - ihl, pseudo));
  frame[ihl + 16] = c >>> 8;
  frame[ihl + 17] = c;
}
