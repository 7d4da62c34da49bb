// IPv4 Identification values (RFC 6864; the hash-based scheme of RFC 7739
// §5, as Linux's ip_idents): a single global counter lets anyone who talks
// to us read how much we send to everybody else (idle scans, counting
// hosts behind a NAT, nmap's "Incremental"). Instead
//
//   ID = F(src, dst, proto) + counter[G(src, dst, proto)]
//
// with F and G from one keyed HalfSipHash, so each destination sees its own
// sequence starting at an unpredictable point. Flows that share a bucket
// share a counter; when time has passed since a bucket was last used it
// jumps by a random amount below the elapsed milliseconds (as Linux does),
// so a bucket shared with an observer does not count our other traffic.
//
// DF-set atomic datagrams (all of TCP's) take IDs from here as well: RFC
// 6864 lets them carry any value, and a varying one keeps middleboxes that
// still deduplicate or reassemble by ID working. Keys and jumps come from
// an Rng the stack hands over, so a seed fixes every ID.
import type { Clock } from '../time/clock.ts';
import type { Rng } from '../time/rng.ts';
import { halfSipHash24 } from './halfsiphash.ts';

/** 2048 counters, Linux's smallest ip_idents table. */
const BUCKET_BITS = 11;
const BUCKETS = 1 << BUCKET_BITS;

export class IdentGenerator {
  private readonly k0: number;
  private readonly k1: number;
  private readonly counters = new Uint16Array(BUCKETS);
  /** Whole milliseconds at each bucket's last use. */
  private readonly stamps = new Float64Array(BUCKETS);
  private readonly words = new Uint32Array(3);
  // The last flow's hash: bulk traffic hashes its flow once, not per datagram.
  private lastSrc = -1;
  private lastDst = -1;
  private lastProto = -1;
  private lastHash = 0;

  constructor(
    private readonly rng: Rng,
    private readonly clock: Pick<Clock, 'now'>,
  ) {
    this.k0 = rng.u32();
    this.k1 = rng.u32();
  }

  /**
   * The Identification for the next datagram from `src` to `dst` carrying
   * `protocol`; `count` > 1 reserves that many in a row (a TCP super-segment
   * the device cuts into `count` datagrams numbered from this one, as
   * Linux's ip_select_ident_segs).
   */
  next(src: number, dst: number, protocol: number, count = 1): number {
    let h: number;
    if (src === this.lastSrc && dst === this.lastDst && protocol === this.lastProto) {
      h = this.lastHash;
    } else {
      const w = this.words;
      w[0] = src;
      w[1] = dst;
      w[2] = protocol;
      h = halfSipHash24(this.k0, this.k1, w);
      this.lastSrc = src;
      this.lastDst = dst;
      this.lastProto = protocol;
      this.lastHash = h;
    }
    const b = h >>> (32 - BUCKET_BITS);
    const now = Math.floor(this.clock.now());
    let step = 1;
    const last = this.stamps[b]!;
    if (now > last) {
      this.stamps[b] = now;
      step += this.rng.int(Math.min(now - last, 0x10000));
    }
    const c = (this.counters[b]! + step) & 0xffff;
    this.counters[b] = (c + count - 1) & 0xffff;
    return (h + c) & 0xffff;
  }
}
