// ACK coalescing across a driver's input batch (Stack.beginInputBatch /
// endInputBatch, used by the TUN device): in-order data is acknowledged
// once per connection at the batch's end; ACKs that must go at once still do.
import { describe, expect, test } from 'vitest';
import { seqAdd } from '../../src/pcb/seq.ts';
import { ACK, type Conn, flagStr, openConn, payload, PSH, type SentSeg } from '../support/tcp.ts';

const MSS = 536;

function send(c: Conn, off: number, data: Uint8Array): void {
  c.peer.inject({ seq: seqAdd(c.irs + 1, off), ack: seqAdd(c.iss, 1), flags: ACK | PSH, data, wnd: 0xffff });
}

const acks = (c: Conn, segs: SentSeg[]): string[] => segs.map((s) => `${flagStr(s.flags)} ack=${(s.ack - (c.irs + 1)) | 0} len=${s.data.length}`);

function finish(c: Conn): void {
  if (!c.pcb.freed) c.peer.raw.tcpAbort(c.pcb);
  c.peer.stack.pool.assertEmpty();
}

describe('ACK coalescing across an input batch', () => {
  test('ten full segments outside a batch: an ACK every second segment (RFC 5681); inside a batch: one ACK at its end', () => {
    const data = payload(20 * MSS, 3);
    const plain = openConn();
    plain.peer.take();
    for (let i = 0; i < 10; i++) send(plain, i * MSS, data.subarray(i * MSS, (i + 1) * MSS));
    expect(acks(plain, plain.peer.take())).toEqual([2, 4, 6, 8, 10].map((k) => `A ack=${k * MSS} len=0`));
    finish(plain);

    const c = openConn();
    c.peer.take();
    const stack = c.peer.stack;
    stack.beginInputBatch();
    for (let i = 0; i < 10; i++) send(c, i * MSS, data.subarray(i * MSS, (i + 1) * MSS));
    expect(c.peer.take()).toEqual([]); // nothing yet: the batch is not over
    stack.endInputBatch();
    expect(acks(c, c.peer.take())).toEqual([`A ack=${10 * MSS} len=0`]);
    expect(Buffer.concat(c.app.events.flatMap((e) => (e.t === "recv" && e.bytes ? [e.bytes] : [])))).toEqual(Buffer.from(data.subarray(0, 10 * MSS)));
    // No second ACK from the delayed-ACK timer: the batch's ACK settled the debt.
    c.peer.advance(500);
    expect(c.peer.take()).toEqual([]);
    finish(c);
  });

  test('out-of-order data inside a batch is acknowledged at once (duplicate ACK), as without a batch', () => {
    const c = openConn();
    c.peer.take();
    const data = payload(4 * MSS, 5);
    c.peer.stack.beginInputBatch();
    send(c, 0, data.subarray(0, MSS));
    send(c, 2 * MSS, data.subarray(2 * MSS, 3 * MSS)); // a hole at [MSS, 2 MSS)
    expect(acks(c, c.peer.take())).toEqual([`A ack=${MSS} len=0`]);
    send(c, MSS, data.subarray(MSS, 2 * MSS)); // fills it
    expect(acks(c, c.peer.take())).toEqual([`A ack=${3 * MSS} len=0`]);
    c.peer.stack.endInputBatch();
    expect(c.peer.take()).toEqual([]);
    finish(c);
  });

  test('a reply the application sends during the batch carries the ACK: no extra pure ACK at the end', () => {
    const c = openConn();
    c.peer.take();
    const data = payload(2 * MSS, 9);
    c.peer.stack.beginInputBatch();
    send(c, 0, data.subarray(0, MSS));
    send(c, MSS, data.subarray(MSS, 2 * MSS));
    c.peer.raw.tcpWrite(c.pcb, new Uint8Array([1, 2, 3]), 1);
    c.peer.raw.tcpOutput(c.pcb);
    c.peer.stack.endInputBatch();
    expect(acks(c, c.peer.take())).toEqual([`PA ack=${2 * MSS} len=3`]);
    finish(c);
  });

  test('batches nest; a single segment in a batch still waits for the delayed-ACK timer', () => {
    const c = openConn();
    c.peer.take();
    const s = c.peer.stack;
    s.beginInputBatch();
    s.beginInputBatch();
    send(c, 0, payload(100, 1));
    s.endInputBatch();
    s.endInputBatch();
    expect(c.peer.take()).toEqual([]);
    c.peer.advance(200);
    expect(acks(c, c.peer.take())).toEqual(['A ack=100 len=0']);
    finish(c);
  });
});
