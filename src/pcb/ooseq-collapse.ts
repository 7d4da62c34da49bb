// Out-of-order queue compaction (Linux tcp_collapse_ofo_queue). The queue's
// piece cap (TcpConfig.oooMaxSegments) bounds what a peer can make us hold
// in tiny segments; on a link with a small MSS (a few hundred bytes or
// less) a window of honest data reaches it long before the byte cap, and
// dropping it there makes the sender resend data the link delivered. So,
// before anything is dropped, each run of contiguous segments is copied
// into one pbuf: the run keeps its bytes and costs one piece.
import { PbufType } from '../pbuf/pbuf.ts';
import { PbufLayer, type PbufPool, PbufUse } from '../pbuf/pool.ts';
import { TcpFlag } from '../wire/tcp.ts';
import type { TcpPcb } from './pcb.ts';
import { seqDiff } from './seq.ts';
import { TcpSeg } from './segment.ts';

/** Most bytes one merged segment holds (one pbuf of at most this size). */
const MAX_MERGED = 65535;

/**
 * Merge runs of contiguous out-of-order segments into one segment each
 * (a FIN ends a run). Returns the pieces saved; it stops early, keeping
 * what it merged, when the pool cannot give the copy's memory.
 */
export function collapseOoseq(pool: PbufPool, pcb: TcpPcb): number {
  const q = pcb.ooseq;
  let saved = 0;
  for (let cur = q.head; cur !== null; ) {
    let last = cur;
    let bytes = cur.len;
    let pieces = cur.clen;
    for (let n = last.next; n !== null && seqDiff(n.seq, last.end) === 0 && (last.flags & TcpFlag.FIN) === 0 && bytes + n.len <= MAX_MERGED; n = last.next) {
      last = n;
      bytes += n.len;
      pieces += n.clen;
    }
    const after = last.next;
    if (pieces > 1 && bytes > 0) {
      const p = pool.alloc(PbufLayer.RAW, bytes, PbufType.RAM, PbufUse.RX);
      if (p === null) break;
      let off = 0;
      let flags = 0;
      for (let s: TcpSeg | null = cur; s !== after && s !== null; s = s.next) {
        if (s.p !== null && s.len > 0) off += s.p.copyPartial(p.buf, s.len, 0, p.off + off);
        flags |= s.flags;
      }
      const merged = new TcpSeg(p, cur.seq, bytes, flags & (TcpFlag.PSH | TcpFlag.FIN));
      q.insertBefore(merged, cur);
      for (let s: TcpSeg | null = cur; s !== after && s !== null; ) {
        const next: TcpSeg | null = s.next;
        q.remove(s);
        s.free();
        s = next;
      }
      pcb.ooseqPieces -= pieces - 1;
      saved += pieces - 1;
    }
    cur = after;
  }
  return saved;
}
