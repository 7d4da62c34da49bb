// Zero-copy writes (send/sendall with MSG_ZEROCOPY; the raw API's tcpWrite
// without TCP_WRITE_FLAG_COPY, lwIP's PBUF_REF): the stack references the
// caller's bytes until the peer acknowledges them. The peer gets them
// intact, retransmissions after loss come from the same memory, the
// references are held exactly until the ACK, and the pool ends empty.
// Also: the GSO autocorking of small writes (socket.ts autocork).
import { describe, expect, test } from 'vitest';
import { MSG_ZEROCOPY, IPPROTO_TCP, TCP_NODELAY } from '../../src/socket/constants.ts';
import { errno, OSError } from '../../src/socket/errors.ts';
import type { BlockingSocket, SockAddr } from '../../src/socket/socket.ts';
import { chargenBlock } from '../../src/services/simple.ts';
import { pattern } from '../net/helpers.ts';
import { sha, sockPair, type SockPair } from '../support/sockets.ts';

const PORT = 8000;
const SERVER: SockAddr = ['10.0.0.2', PORT];

async function connected(p: SockPair): Promise<{ c: BlockingSocket; s: BlockingSocket }> {
  const ls = p.server.socket();
  ls.bind(['0.0.0.0', PORT]);
  ls.listen(2);
  const c = p.client.socket();
  await p.run(c.connect(SERVER));
  const [s] = await p.run(ls.accept());
  ls.close();
  return { c, s };
}

/** The server sends `blocks` (each with `flags`), then closes; the client reads to EOF. */
async function transfer(p: SockPair, blocks: Uint8Array[], flags: number, nodelay = false): Promise<Uint8Array> {
  const { c, s } = await connected(p);
  if (nodelay) s.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
  const total = blocks.reduce((n, b) => n + b.length, 0);
  const [got] = await p.run(
    Promise.all([
      c.read(total + 1).then((d) => {
        c.close();
        return d;
      }),
      (async () => {
        for (const b of blocks) await s.sendall(b, flags);
        s.close();
      })(),
    ]),
  );
  return got;
}

const concat = (bs: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(bs.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of bs) {
    out.set(b, o);
    o += b.length;
  }
  return out;
};

describe('MSG_ZEROCOPY', () => {
  test('bytes arrive intact; the pool holds references, not copies, while they wait; empty at the end', async () => {
    const p = sockPair();
    const { c, s } = await connected(p);
    const data = pattern(200_000, 7);
    const before = p.server.pool.stats.bytesInUse;
    // 200 kB fits the 256 KiB send buffer: taken at once, nothing copied.
    await p.run(s.sendall(data, MSG_ZEROCOPY));
    const pcb = s.tcpPcb!;
    expect(pcb.unsent.bytes + pcb.unacked.bytes).toBeGreaterThan(0);
    expect(p.server.pool.stats.bytesInUse - before).toBeLessThan(4096); // headers only, never the 200 kB
    // Every queued segment's data is a view of the caller's memory.
    for (const q of [pcb.unacked, pcb.unsent]) {
      for (let seg = q.head; seg !== null; seg = seg.next) for (let b = seg.p; b !== null; b = b.next) expect(b.buf.buffer).toBe(data.buffer);
    }
    const got = await p.run(c.read(data.length));
    expect(sha(got)).toBe(sha(data));
    s.close();
    c.close();
    await p.finish();
  });

  test('the reference is held until the ACK, then released', async () => {
    const p = sockPair();
    const { c, s } = await connected(p);
    await p.advance(100);
    const pbufs0 = p.server.pool.stats.pbufsInUse;
    const data = pattern(3000, 3);
    await p.run(s.send(data, MSG_ZEROCOPY));
    // The segments are out but not acknowledged (RTT 10 ms): still referenced.
    await p.advance(2);
    const pcb = s.tcpPcb!;
    expect(pcb.unacked.bytes).toBeGreaterThan(0);
    expect(pcb.unacked.bytes + pcb.unsent.bytes).toBe(3000);
    expect(p.server.pool.stats.pbufsInUse).toBeGreaterThan(pbufs0);
    // The caller keeps its promise until then; after the ACK the stack holds nothing of it.
    await p.advance(100);
    expect(pcb.unacked.bytes + pcb.unsent.bytes).toBe(0);
    expect(p.server.pool.stats.pbufsInUse).toBe(pbufs0);
    data.fill(0); // the stack no longer looks at it
    const got = await p.run(c.read(3000));
    expect(sha(got)).toBe(sha(pattern(3000, 3)));
    s.close();
    c.close();
    await p.finish();
  });

  test('retransmissions after loss send the right bytes from the referenced buffer (one constant block, as HTTP)', async () => {
    const p = sockPair({ seed: 5, ba: { loss: 0.03 } });
    const block = pattern(65536, 11);
    const blocks = Array.from({ length: 24 }, () => block);
    const got = await transfer(p, blocks, MSG_ZEROCOPY);
    expect(p.server.tcp.counters.retransSegs).toBeGreaterThan(0);
    expect(got.length).toBe(24 * 65536);
    expect(sha(got)).toBe(sha(concat(blocks)));
    await p.finish();
  });

  test('with GSO and loss: super-segments split for retransmission still carry the referenced bytes', async () => {
    const p = sockPair({ seed: 9, ba: { loss: 0.02 }, gso: true });
    const blocks = Array.from({ length: 40 }, (_, i) => pattern(7000 + i * 97, i + 1));
    const got = await transfer(p, blocks, MSG_ZEROCOPY);
    expect(p.server.tcp.counters.retransSegs).toBeGreaterThan(0);
    expect(sha(got)).toBe(sha(concat(blocks)));
    await p.finish();
  });

  test('send flags other than MSG_ZEROCOPY: EOPNOTSUPP, nothing taken', async () => {
    const p = sockPair();
    const { c, s } = await connected(p);
    expect(() => s.send(new Uint8Array(10), 0x40)).toThrow(OSError);
    try {
      s.sendall(new Uint8Array(10), 0x1);
    } catch (e) {
      expect((e as OSError).errno).toBe(errno.EOPNOTSUPP);
    }
    expect(s.tcpPcb!.unsent.bytes + s.tcpPcb!.unacked.bytes).toBe(0);
    s.close();
    c.close();
    await p.finish();
  });
});

describe('GSO autocorking', () => {
  test('small writes (one chargen round each) go out in fewer, larger super-segments than with TCP_NODELAY; bytes intact both ways', async () => {
    const block = chargenBlock();
    const blocks = Array.from({ length: 150 }, () => block);
    const segs: number[] = [];
    for (const nodelay of [false, true]) {
      const p = sockPair({ gso: true });
      const got = await transfer(p, blocks, 0, nodelay);
      expect(sha(got)).toBe(sha(concat(blocks)));
      segs.push(p.server.tcp.counters.outSegs);
      await p.finish();
    }
    // ~1 MB in 7 kB writes: TCP_NODELAY sends each write at once (150+ segments); corked, far fewer.
    expect(segs[1]).toBeGreaterThanOrEqual(150);
    // (125 against 175 here; 222 before the reader's window updates rode
    // on its owed ACKs, when more writes were cut at the window's edge.)
    expect(segs[0]).toBeLessThan(segs[1]! * 0.75);
  });
});
