// The link MTU: a wire carries frames of at most `mtu` bytes. An IPv4
// frame that is larger (a GSO piece cut at an MSS that does not fit the
// link, say) is dropped and counted when its DF bit is set, as a real
// sender's device would refuse it; without DF it is fragmented first, as
// Linux does for a GSO segment larger than the egress MTU. Anything else
// that does not fit (not IPv4, or too small an MTU to fragment into) is
// dropped and counted too: no frame larger than the MTU ever crosses.
import { finishChecksum, onesSum } from '../../wire/checksum.ts';
import type { FrameSink, LinkStage } from '../link.ts';
import { checkPositive } from './validate.ts';

const IP_DF = 0x4000;
const IP_MF = 0x2000;
const IP_OFFSET_MASK = 0x1fff;

export class MtuStage implements LinkStage {
  readonly name = 'mtu';
  /** Forwards frames within the MTU unchanged (larger ones become new fragments or are dropped): see LinkStage.intact. */
  readonly intact = true;
  /** passed: frames sent on (fragments counted one by one); oversize: frames dropped for their size; fragmented: frames cut into fragments. */
  readonly stats = { passed: 0, oversize: 0, fragmented: 0 };
  readonly mtu: number;

  /** `drop` takes the frames refused for their size (see StageContext.drop). */
  constructor(
    mtu: number,
    private readonly drop?: FrameSink,
  ) {
    this.mtu = checkPositive('MtuStage', 'mtu', mtu);
  }

  push(frame: Uint8Array, next: FrameSink): void {
    if (frame.length <= this.mtu) {
      this.stats.passed++;
      next(frame);
      return;
    }
    const pieces = fragmentIpv4(frame, this.mtu);
    if (pieces === null) {
      this.stats.oversize++;
      this.drop?.(frame);
      return;
    }
    this.stats.fragmented++;
    for (const piece of pieces) {
      this.stats.passed++;
      next(piece);
    }
  }
}

/**
 * Cut an IPv4 datagram (or fragment) into fragments of at most `mtu`
 * bytes; null when it may not or cannot be cut (DF set, not IPv4, or no
 * room for 8 bytes of payload after the header).
 */
export function fragmentIpv4(frame: Uint8Array, mtu: number): Uint8Array[] | null {
  if (frame.length < 20 || frame[0]! >> 4 !== 4) return null;
  const ihl = (frame[0]! & 0x0f) * 4;
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const total = dv.getUint16(2);
  if (ihl < 20 || total !== frame.length || total < ihl) return null;
  const flags = dv.getUint16(6);
  if (flags & IP_DF) return null;
  const unit = Math.floor((mtu - ihl) / 8) * 8;
  if (unit < 8) return null;
  const payload = total - ihl;
  const baseOffset = (flags & IP_OFFSET_MASK) * 8;
  const lastMf = flags & IP_MF;
  const out: Uint8Array[] = [];
  for (let off = 0; off < payload; off += unit) {
    const n = Math.min(unit, payload - off);
    const pkt = new Uint8Array(ihl + n);
    pkt.set(frame.subarray(0, ihl), 0);
    pkt.set(frame.subarray(ihl + off, ihl + off + n), ihl);
    const v = new DataView(pkt.buffer);
    const more = off + n < payload ? IP_MF : lastMf;
    v.setUint16(2, ihl + n);
    v.setUint16(6, more | ((baseOffset + off) / 8));
    v.setUint16(10, 0);
    v.setUint16(10, finishChecksum(onesSum(pkt, 0, ihl)));
    out.push(pkt);
  }
  return out;
}
