// SACK (RFC 2018) on both sides. Receiving: the blocks we report come from
// the out-of-order queue, the most recently received block first. Sending:
// an RFC 6675 scoreboard kept on the unacked segments, with running totals
// so that pipe = flight - sacked - lost + retransmitted costs nothing to read.
import type { TcpPcb } from './pcb.ts';
import type { TcpSeg } from './segment.ts';
import { rackDelivered } from './rack.ts';
import { seqGeq, seqGt, seqLeq, seqLt } from './seq.ts';

/**
 * Fill `out` with up to `max` [left, right) blocks for an ACK: a pending
 * D-SACK first (RFC 2883 §4), then the out-of-order queue, merging
 * adjacent segments. Returns the block count.
 */
export function buildSackBlocks(pcb: TcpPcb, out: Uint32Array, max: number): number {
  if (!pcb.dsackPending || max <= 0) return queueBlocks(pcb, out, 0, max, pcb.lastOooSeq);
  out[0] = pcb.dsackLeft;
  out[1] = pcb.dsackRight;
  // A duplicate of queued data: the block holding it comes second (RFC 2883 §4).
  const held = seqGeq(pcb.dsackLeft, pcb.rcvNxt);
  return 1 + queueBlocks(pcb, out, 1, max - 1, held ? pcb.dsackLeft : pcb.lastOooSeq);
}

/**
 * The out-of-order queue as blocks from out[2 * at] on, at most `max`; the
 * block holding sequence number `first` (-1: none) goes first (RFC 2018 §4
 * puts the most recent segment's block there), the rest in queue order.
 */
function queueBlocks(pcb: TcpPcb, out: Uint32Array, at: number, max: number, first: number): number {
  if (max <= 0) return 0;
  let n = 0;
  let placed = false;
  for (let s = pcb.hasOoseq ? pcb.ooseq.head : null; s !== null; ) {
    const left = s.seq;
    let right = s.end;
    let t = s.next;
    while (t !== null && seqLeq(t.seq, right)) {
      if (seqGt(t.end, right)) right = t.end;
      t = t.next;
    }
    if (!placed && first >= 0 && seqGeq(first, left) && seqLt(first, right)) {
      if (n > 0) out.copyWithin(2 * (at + 1), 2 * at, 2 * (at + Math.min(n, max - 1)));
      out[2 * at] = left;
      out[2 * at + 1] = right;
      placed = true;
      n = Math.min(n + 1, max);
    } else if (n < max) {
      out[2 * (at + n)] = left;
      out[2 * (at + n) + 1] = right;
      n++;
    }
    s = t;
  }
  return n;
}

/** Remove a segment's share from the scoreboard totals (before it changes or leaves). */
export function scoreOut(pcb: TcpPcb, seg: TcpSeg): void {
  const n = seg.tcplen;
  if (seg.sacked) pcb.sackedBytes -= n;
  else if (seg.lost) {
    pcb.lostBytes -= n;
    if (seg.retransmitted) pcb.retransInFlight -= n;
  } else if (seg.retransmitted) pcb.retransInFlight -= n;
}

/** Add a segment's share to the scoreboard totals. */
export function scoreIn(pcb: TcpPcb, seg: TcpSeg): void {
  const n = seg.tcplen;
  if (seg.sacked) pcb.sackedBytes += n;
  else if (seg.lost) {
    pcb.lostBytes += n;
    if (seg.retransmitted) pcb.retransInFlight += n;
  } else if (seg.retransmitted) pcb.retransInFlight += n;
}

/**
 * Apply the SACK blocks of an incoming ACK from index `first` (1 skips a
 * D-SACK): mark whole segments inside a valid block (above SND.UNA, not
 * above SND.MAX) as SACKed (each one delivered, for RACK when `rack`).
 * Returns true if anything new was SACKed.
 */
export function applySackBlocks(pcb: TcpPcb, blocks: Uint32Array, first: number, count: number, rack: boolean, now: number, tsEcr: number): boolean {
  let changed = false;
  for (let i = first; i < count; i++) {
    const left = blocks[2 * i]!;
    const right = blocks[2 * i + 1]!;
    // Ignore D-SACKs and garbage: a block must lie within (SND.UNA, SND.MAX].
    if (!seqLt(left, right) || !seqGt(right, pcb.sndUna) || seqGt(right, pcb.sndMax) || seqLt(left, pcb.sndUna)) continue;
    if (seqGt(right, pcb.highSacked)) pcb.highSacked = right;
    for (let s = pcb.unacked.head; s !== null; s = s.next) {
      if (seqGeq(s.seq, right)) break;
      if (s.sacked || seqLt(s.seq, left) || seqGt(s.end, right)) continue;
      scoreOut(pcb, s);
      s.sacked = true;
      scoreIn(pcb, s);
      if (rack) rackDelivered(pcb, s, now, tsEcr);
      if (!s.everRetransmitted && seqLeq(s.end, pcb.recoverySeq)) pcb.ackedOriginal = true;
      changed = true;
    }
  }
  return changed;
}

/**
 * RFC 6675 IsLost over the whole scoreboard: an un-SACKed segment is lost
 * when at least `dupThresh` SACKed segments, or more than
 * (dupThresh - 1) * MSS SACKed bytes, lie above it. Returns bytes newly marked.
 */
export function markLost(pcb: TcpPcb, dupThresh: number): number {
  let sackedSegs = 0;
  let sackedBytes = 0;
  let marked = 0;
  const byteLimit = (dupThresh - 1) * pcb.mss;
  for (let s = pcb.unacked.tail; s !== null; s = s.prev) {
    if (s.sacked) {
      sackedSegs++;
      sackedBytes += s.len;
      continue;
    }
    if (s.lost) continue;
    if (sackedSegs >= dupThresh || sackedBytes > byteLimit) {
      scoreOut(pcb, s);
      s.lost = true;
      s.retransmitted = false;
      scoreIn(pcb, s);
      marked += s.tcplen;
    }
  }
  return marked;
}

/** Mark one segment lost (NewReno head retransmission, partial ACKs). */
export function markSegLost(pcb: TcpPcb, s: TcpSeg): void {
  if (s.sacked || (s.lost && !s.retransmitted)) return;
  scoreOut(pcb, s);
  s.lost = true;
  s.retransmitted = false;
  scoreIn(pcb, s);
}

/** After a retransmission timeout: everything outstanding is lost, SACK marks forgotten (the peer may renege). */
export function markAllLost(pcb: TcpPcb): void {
  for (let s = pcb.unacked.head; s !== null; s = s.next) {
    scoreOut(pcb, s);
    s.sacked = false;
    s.lost = true;
    s.retransmitted = false;
    scoreIn(pcb, s);
  }
  pcb.highSacked = pcb.sndUna;
}

/**
 * Loss recovery ended: forget lost/retransmitted marks (a later loss starts
 * a new recovery episode) but keep SACK marks, which the peer still holds.
 */
export function clearLossMarks(pcb: TcpPcb): void {
  let sacked = 0;
  for (let s = pcb.unacked.head; s !== null; s = s.next) {
    s.lost = false;
    s.retransmitted = false;
    if (s.sacked) sacked += s.tcplen;
  }
  pcb.sackedBytes = sacked;
  pcb.lostBytes = 0;
  pcb.retransInFlight = 0;
}

/**
 * Is the first SACK block a D-SACK (RFC 2883 §4)? It is when it lies at or
 * below the cumulative ACK, or inside the second block.
 */
export function firstBlockIsDsack(blocks: Uint32Array, count: number, ack: number): boolean {
  if (count === 0) return false;
  const left = blocks[0]!;
  const right = blocks[1]!;
  if (!seqLt(left, right)) return false;
  if (seqLeq(right, ack)) return true;
  return count > 1 && seqGeq(left, blocks[2]!) && seqLeq(right, blocks[3]!);
}
