// The raw API's zero-copy tcpWrite (flags without TCP_WRITE_FLAG_COPY:
// lwIP's PBUF_REF): the queued segments reference the caller's bytes,
// which must stay unchanged until the sent callback reports them; the
// wire carries exactly those bytes, a retransmission after a loss too, and
// the pbufs are released by the ACK, leaving the pool empty.
import { expect, test } from 'vitest';
import { Err } from '../../src/err.ts';
import { TCP_WRITE_FLAG_MORE } from '../../src/callbacks/raw.ts';
import { seqAdd, seqDiff } from '../../src/pcb/seq.ts';
import { ACK, openConn } from '../support/tcp.ts';

function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

test('tcpWrite without COPY: the wire carries the referenced bytes, a retransmission too; released on the ACK, the pool empty', () => {
  const c = openConn({ mss: 536 });
  const { peer, pcb } = c;
  const raw = peer.raw;
  let acked = 0;
  raw.tcpSent(pcb, (_a, _p, len) => {
    acked += len;
    return Err.OK;
  });
  const data = pattern(4 * 536);
  const bytesBefore = peer.stack.pool.stats.bytesInUse;
  expect(raw.tcpWrite(pcb, data, 0)).toBe(Err.OK);
  // Referenced, not copied: the pool's bytes do not grow by the data.
  expect(peer.stack.pool.stats.bytesInUse).toBe(bytesBefore);
  for (let seg = pcb.unsent.head; seg !== null; seg = seg.next) for (let b = seg.p; b !== null; b = b.next) expect(b.buf.buffer).toBe(data.buffer);
  raw.tcpOutput(pcb);
  const first = peer.take().filter((s) => s.data.length > 0);
  expect(first.length).toBeGreaterThan(0);
  const base = seqAdd(c.iss, 1);
  for (const s of first) {
    const off = seqDiff(s.seq, base);
    expect(s.data).toEqual(data.subarray(off, off + s.data.length));
  }
  // The first segment is "lost": the peer acknowledges nothing, the RTO retransmits from the same memory.
  peer.advance(3_000);
  const again = peer.take().filter((s) => s.data.length > 0);
  expect(again.length).toBeGreaterThan(0);
  expect(again[0]!.seq).toBe(base);
  expect(again[0]!.data).toEqual(data.subarray(0, again[0]!.data.length));
  expect(acked).toBe(0);
  expect(peer.stack.pool.stats.pbufsInUse).toBeGreaterThan(0); // still referenced: the caller must not touch it yet
  // Everything acknowledged (the peer's ACK for all four segments; whatever the stack still sends goes too).
  for (let i = 0; i < 10 && acked < data.length; i++) {
    peer.inject({ seq: c.irs + 1, ack: seqAdd(base, data.length), flags: ACK, wnd: 0xffff });
    peer.advance(10);
    const more = peer.take().filter((s) => s.data.length > 0);
    for (const s of more) {
      const off = seqDiff(s.seq, base);
      expect(s.data).toEqual(data.subarray(off, off + s.data.length));
    }
  }
  expect(acked).toBe(data.length);
  expect(pcb.unsent.bytes + pcb.unacked.bytes).toBe(0);
  expect(peer.stack.pool.stats.pbufsInUse).toBe(0);
  raw.tcpAbort(pcb);
  peer.stack.pool.assertEmpty();
});

test('several zero-copy writes (with MORE) into one segment: pieces chained in order, then freed on the ACK', () => {
  const c = openConn({ mss: 536 });
  const { peer, pcb } = c;
  const raw = peer.raw;
  const parts = [pattern(100), pattern(200).map((x) => x ^ 0x55), pattern(150).map((x) => x ^ 0xaa)];
  for (let i = 0; i < parts.length; i++) expect(raw.tcpWrite(pcb, parts[i]!, i < parts.length - 1 ? TCP_WRITE_FLAG_MORE : 0)).toBe(Err.OK);
  raw.tcpOutput(pcb);
  const segs = peer.take().filter((s) => s.data.length > 0);
  const wire = new Uint8Array(segs.reduce((n, s) => n + s.data.length, 0));
  let o = 0;
  for (const s of segs) {
    wire.set(s.data, o);
    o += s.data.length;
  }
  const want = new Uint8Array(450);
  want.set(parts[0]!, 0);
  want.set(parts[1]!, 100);
  want.set(parts[2]!, 300);
  expect(wire).toEqual(want);
  peer.inject({ seq: c.irs + 1, ack: seqAdd(c.iss, 1 + 450), flags: ACK, wnd: 0xffff });
  peer.advance(10);
  expect(peer.stack.pool.stats.pbufsInUse).toBe(0);
  raw.tcpAbort(pcb);
  peer.stack.pool.assertEmpty();
});
