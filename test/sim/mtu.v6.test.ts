// Fragmentation over IPv6, the counterpart of the IPv4 fragmentation suites
// (test/ip/reassembly*.test.ts, test/sim/mtu*.test.ts). IPv6 routers never
// fragment (RFC 8200 §5): a datagram larger than the link MTU is cut at the
// source into fragments (Fragment header, 8-byte-aligned pieces) and
// rebuilt by the receiver. Here UDP datagrams up to the 65527-byte maximum
// cross an IPv6-only simulated link (fd00::1 -> fd00::2) at MTU 1280, 1500
// and 9000, in order and through loss, reordering and duplication, and must
// arrive sha256-equal; overlapping fragments discard the whole datagram
// (RFC 8200 §4.5, RFC 5722); TCP is never fragmented: at MTU 1280 it
// announces and uses MSS 1220 and every segment fits the link. The
// reassembler's own rules are unit-tested in test/ip/reassembly6.test.ts and
// the cutter in test/ip/fragment6.test.ts.
import { describe, expect, test } from 'vitest';
import { RawUdp } from '../../src/callbacks/raw-udp.ts';
import { runSimTransfer } from '../../src/cli/sim-transfer-run.ts';
import { Err } from '../../src/err.ts';
import type { LinkSpec } from '../../src/sim/link.ts';
import { Simulator, type SimLink } from '../../src/sim/simulator.ts';
import type { Stack } from '../../src/stack/stack.ts';
import { Rng } from '../../src/time/rng.ts';
import { emitUdp } from '../../src/wire/udp.ts';
import { ip6PseudoHeaderSum, Ip6Addr } from '../../src/wire/ipaddr.ts';
import { parseIpv6Address } from '../../src/wire/address6.ts';
import { useFamily } from '../support/family.ts';
import { frag6 } from '../support/frag6.ts';
import { captureStack } from '../support/packets.ts';
import { bulkExchange, insertStage, parseSent, payload, sha256, simPair } from '../support/tcp.ts';

useFamily(6);

const CLIENT = 'fd00::1';
const SERVER = 'fd00::2';
const PORT = 7;
/** The largest UDP payload without a jumbogram: 65535 - 8. */
const MAX_UDP = 65527;

interface Frame {
  len: number;
  nextHeader: number;
  /** Fragment header fields when nextHeader is 44. */
  frag: { offset: number; more: boolean; ident: number; dataLen: number } | null;
}

function parseFrame(f: Uint8Array): Frame {
  expect(f[0]! >> 4).toBe(6);
  const nh = f[6]!;
  if (nh !== 44) return { len: f.length, nextHeader: nh, frag: null };
  const fo = (f[42]! << 8) | f[43]!;
  return { len: f.length, nextHeader: nh, frag: { offset: fo & 0xfff8, more: (fo & 1) === 1, ident: ((f[44]! << 24) | (f[45]! << 16) | (f[46]! << 8) | f[47]!) >>> 0, dataLen: f.length - 48 } };
}

interface UdpLink {
  sim: Simulator;
  a: Stack;
  b: Stack;
  link: SimLink;
  /** Every frame fd00::1 put on the link (before loss and the like). */
  frames: Frame[];
  /** Datagrams fd00::2 received, in order. */
  got: Uint8Array[];
  send(data: Uint8Array): number;
  /** Close, and check that nothing leaked on either side. */
  finish(): void;
}

function udpLink(o: { mtu: number; seed?: number; link?: LinkSpec }): UdpLink {
  const sim = new Simulator({ seed: o.seed ?? 1 });
  const a = sim.addStack('a', { pool: { trackLive: true } });
  const b = sim.addStack('b', { pool: { trackLive: true } });
  const link = sim.connect(a, b, { aAddr6: CLIENT, bAddr6: SERVER, mtu: o.mtu, link: { latencyMs: 2, ...o.link } });
  const frames: Frame[] = [];
  insertStage(link.ab, { push: (f, next) => (frames.push(parseFrame(f)), next(f)) });
  const ra = new RawUdp(a);
  const rb = new RawUdp(b);
  const pa = ra.udpNew()!;
  expect(ra.udpBind(pa, CLIENT, 5000)).toBe(Err.OK);
  const pb = rb.udpNew()!;
  expect(rb.udpBind(pb, '::', PORT)).toBe(Err.OK);
  const got: Uint8Array[] = [];
  rb.udpRecv(pb, (_arg, _pcb, p, from, port) => {
    expect(from.toString()).toBe(CLIENT);
    expect(port).toBe(5000);
    got.push(p.toBytes());
    p.free();
  });
  return {
    sim,
    a,
    b,
    link,
    frames,
    got,
    send: (data) => ra.udpSendBytes(pa, data, SERVER, PORT),
    finish() {
      ra.udpRemove(pa);
      rb.udpRemove(pb);
      // Incomplete reassemblies wait out their 60 s.
      expect(sim.runUntilIdle()).toBe(true);
      expect(b.ip6.reassembler.pending).toBe(0);
      expect(sim.clock.pendingTimers()).toBe(0);
      sim.close();
      a.pool.assertEmpty();
      b.pool.assertEmpty();
    },
  };
}

/** A datagram whose first 4 bytes number it, for matching what arrives with what was sent. */
function numbered(i: number, n: number): Uint8Array {
  const d = payload(Math.max(n, 4), 1000 + i);
  new DataView(d.buffer).setUint32(0, i);
  return d;
}

describe('UDP datagrams larger than the MTU over an IPv6 link: cut at the source, rebuilt at the receiver', () => {
  for (const mtu of [1280, 1500, 9000]) {
    test(`MTU ${mtu}: sizes from one byte over the link's room to ${MAX_UDP}, each arrives once and sha256-equal; fragments fit and are 8-byte aligned`, () => {
      const room = mtu - 40 - 8; // the largest UDP payload that goes unfragmented
      const sizes = [1, room, room + 1, 2 * room, 4000, 9000, 20_000, 40_000, MAX_UDP - 1, MAX_UDP];
      const u = udpLink({ mtu });
      const sent = sizes.map((n, i) => numbered(i, n));
      for (const d of sent) {
        expect(u.send(d)).toBe(Err.OK);
        u.sim.runUntilIdle();
      }
      expect(u.got.map(sha256)).toEqual(sent.map(sha256));
      // Link side: nothing over the MTU, nothing dropped for size, the link fragmented nothing itself.
      expect(u.frames.every((f) => f.len <= mtu)).toBe(true);
      expect(u.link.ab.stat('oversize')).toBe(0);
      expect(u.link.ab.stat('fragmented')).toBe(0);
      // The datagrams that fit went whole; the others as fragments: every
      // non-last piece a multiple of 8 bytes, offsets contiguous, one id each.
      const whole = u.frames.filter((f) => f.frag === null);
      const fits = sizes.filter((n) => n <= room).length;
      expect(whole.map((f) => f.nextHeader)).toEqual(Array(fits).fill(17));
      const byId = new Map<number, NonNullable<Frame['frag']>[]>();
      for (const f of u.frames) if (f.frag) byId.set(f.frag.ident, [...(byId.get(f.frag.ident) ?? []), f.frag]);
      expect(byId.size).toBe(sizes.length - fits);
      for (const [, fr] of byId) {
        let off = 0;
        for (const [k, x] of fr.entries()) {
          expect(x.offset).toBe(off);
          expect(x.more).toBe(k < fr.length - 1);
          if (x.more) expect(x.dataLen % 8).toBe(0);
          off += x.dataLen;
        }
      }
      const ax = u.a.stats.ip6x;
      expect(ax.fragmented).toBe(sizes.length - fits);
      expect(ax.fragmentsOut).toBe(u.frames.length - fits);
      expect(u.b.stats.ip6x.fragmentsIn).toBe(u.frames.length - fits);
      expect(u.b.stats.ip6x.reassembled).toBe(sizes.length - fits);
      expect(u.b.ip6.reassembler.counters.overlaps).toBe(0);
      u.finish();
    });
  }

  test('a datagram over 65527 bytes of UDP payload is refused at the source, nothing sent', () => {
    const u = udpLink({ mtu: 1500 });
    expect(u.send(payload(MAX_UDP + 1))).not.toBe(Err.OK);
    u.sim.runUntilIdle();
    expect(u.frames).toEqual([]);
    expect(u.got).toEqual([]);
    u.finish();
  });

  const faults: [string, LinkSpec, number][] = [
    ['reordered 30% (up to 20 ms) and duplicated 10%', { reorder: 0.3, reorderDelayMs: 20, duplicate: 0.1, jitterMs: 3 }, 0],
    ['2% loss, reordered 20%, duplicated 5%', { loss: 0.02, reorder: 0.2, reorderDelayMs: 15, duplicate: 0.05 }, 0.02],
    ['10% loss in bursts', { loss: 0.05, burstLoss: { pGoodToBad: 0.01, pBadToGood: 0.4, lossInBad: 0.5 } }, 0.1],
  ];
  for (const [name, spec, loss] of faults) {
    for (const mtu of [1280, 1500]) {
      test(`MTU ${mtu}, ${name}: 300 datagrams of 1..30000 bytes; whatever arrives is sha256-equal to what was sent, nothing leaks`, () => {
        const rng = new Rng(mtu + Math.round(loss * 1000));
        const u = udpLink({ mtu, seed: mtu, link: spec });
        const sent: Uint8Array[] = [];
        for (let i = 0; i < 300; i++) {
          const d = numbered(i, 1 + rng.int(30_000));
          sent.push(d);
          expect(u.send(d)).toBe(Err.OK);
          // Paced at one datagram every 25 ms: a reordered fragment (up to
          // 20 ms late) lands among the next datagram's. Unpaced, tens of
          // datagrams would be under reassembly at once, past the receiver's
          // budget (256 KiB, 32 datagrams; late duplicates of completed
          // datagrams' fragments also wait out 60 s in it), and evictions,
          // not the link, would decide what arrives. (Paced, evictions still
          // happen, of the oldest entries: datagrams that lost a fragment and
          // stray late duplicates, both waiting out 60 s; with no loss every
          // datagram must still arrive.)
          u.sim.runUntil(() => false, u.sim.clock.now() + 25);
        }
        u.sim.runUntilIdle();
        const seen = new Set<number>();
        for (const g of u.got) {
          const i = new DataView(g.buffer, g.byteOffset).getUint32(0);
          expect(i).toBeLessThan(300);
          expect(sha256(g)).toBe(sha256(sent[i]!));
          seen.add(i);
        }
        const rc = u.b.ip6.reassembler.counters;
        if (loss === 0) expect(seen.size, JSON.stringify(rc)).toBe(300);
        else expect(seen.size).toBeGreaterThan(300 * 0.3);
        expect(u.frames.every((f) => f.len <= mtu)).toBe(true);
        expect(u.link.ab.stat('oversize')).toBe(0);
        expect(rc.overlaps).toBe(0);
        if (spec.duplicate) expect(rc.duplicateFragments).toBeGreaterThan(0);
        if (loss > 0) expect(rc.timeouts).toBeGreaterThan(0);
        u.finish();
      });
    }
  }
});

describe('overlapping fragments discard the whole datagram (RFC 8200 §4.5, RFC 5722)', () => {
  const SRC = parseIpv6Address(SERVER)!; // the peer, fd00::2
  const DST = parseIpv6Address(CLIENT)!; // the capture stack, fd00::1

  /** A UDP datagram (header + data) from fd00::2:5000 to fd00::1:7 with its checksum. */
  function udp6(data: Uint8Array): Uint8Array {
    const u = new Uint8Array(8 + data.length);
    u.set(data, 8);
    emitUdp({ srcPort: 5000, dstPort: PORT, payloadLen: data.length }, u, 0, 0, 0, { skipChecksum: true });
    const s = ip6PseudoHeaderSum(Ip6Addr.fromBytes(SRC), Ip6Addr.fromBytes(DST), 17, u.length);
    let sum = s;
    for (let i = 0; i < u.length; i += 2) sum += (u[i]! << 8) | (u[i + 1] ?? 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    const c = ~sum & 0xffff || 0xffff;
    u[6] = c >>> 8;
    u[7] = c & 0xff;
    return u;
  }

  function receiver() {
    const { stack, feed } = captureStack();
    const raw = new RawUdp(stack);
    const pcb = raw.udpNew()!;
    expect(raw.udpBind(pcb, '::', PORT)).toBe(Err.OK);
    const got: Uint8Array[] = [];
    raw.udpRecv(pcb, (_a, _p, p) => {
      got.push(p.toBytes());
      p.free();
    });
    return {
      stack,
      feed,
      got,
      finish() {
        stack.close();
        stack.pool.assertEmpty();
      },
    };
  }

  const data = payload(3000, 77);
  const dgram = udp6(data); // 3008 bytes

  test('the clean fragment set is delivered (control)', () => {
    const r = receiver();
    for (const [off, len] of [[0, 1232], [1232, 1232], [2464, 544]] as const) r.feed(frag6(dgram.subarray(off, off + len), off, off + len < dgram.length, { src: SRC, dst: DST, ident: 1 }));
    expect(r.got.map(sha256)).toEqual([sha256(data)]);
    r.finish();
  });

  const cases: [string, [number, number][]][] = [
    ['a partial overlap (teardrop)', [[0, 1232], [1224, 1240], [2464, 544]]],
    ['a fragment inside another', [[0, 1232], [1232, 1232], [1240, 8], [2464, 544]]],
    ['a fragment covering one already received and reaching into the next', [[1232, 1232], [2464, 544], [1224, 1248], [0, 1232]]],
    ['an overlap with the last fragment, arriving first', [[2456, 552], [0, 1232], [1232, 1232]]],
  ];
  for (const [name, pieces] of cases) {
    test(`${name}: nothing delivered, counted as an overlap, and the same id stays dead; a new id rebuilds the datagram`, () => {
      const r = receiver();
      for (const [off, len] of pieces) r.feed(frag6(dgram.subarray(off, off + len), off, off + len < dgram.length, { src: SRC, dst: DST, ident: 9 }));
      // The clean set again under the same id: the datagram stays discarded (RFC 5722: silently drop the rest).
      for (const [off, len] of [[0, 1232], [1232, 1232], [2464, 544]] as const) r.feed(frag6(dgram.subarray(off, off + len), off, off + len < dgram.length, { src: SRC, dst: DST, ident: 9 }));
      expect(r.got).toEqual([]);
      expect(r.stack.ip6.reassembler.counters.overlaps).toBe(1);
      // Another id is a fresh datagram.
      for (const [off, len] of [[0, 1232], [1232, 1232], [2464, 544]] as const) r.feed(frag6(dgram.subarray(off, off + len), off, off + len < dgram.length, { src: SRC, dst: DST, ident: 10 }));
      expect(r.got.map(sha256)).toEqual([sha256(data)]);
      r.finish();
    });
  }
});

describe('TCP over IPv6 is never fragmented: MTU 1280 gives MSS 1220', () => {
  for (const ts of [false, true]) {
    test(`1 MB each way at MTU 1280${ts ? ' with timestamps (1208 bytes of data a segment)' : ''}, 1% loss: SYNs announce 1220, every frame fits, no Fragment header, byte-exact`, () => {
      const pair = simPair({ seed: 5, mtu: 1280, tcp: { timestamps: ts }, link: { latencyMs: 3, loss: 0.01 } });
      const link = pair.sim.links[0]!;
      const segs: { len: number; mss: number; data: number; nh: number }[] = [];
      for (const dir of [link.ab, link.ba]) {
        insertStage(dir, {
          push: (f, next) => {
            const s = f[6] === 6 ? parseSent(f) : null;
            segs.push({ len: f.length, nh: f[6]!, mss: s?.opts.mss ?? 0, data: s?.data.length ?? 0 });
            next(f);
          },
        });
      }
      const a = payload(1_000_000, 51);
      const b = payload(1_000_000, 52);
      const { cli, srv, listener } = bulkExchange(pair, a, b);
      expect(pair.sim.runUntil(() => cli.gotFin && srv.gotFin, 600_000)).toBe(true);
      expect(sha256(srv.bytes)).toBe(sha256(a));
      expect(sha256(cli.bytes)).toBe(sha256(b));
      expect(segs.filter((s) => s.mss !== 0).map((s) => s.mss)).toEqual(expect.arrayContaining([1220]));
      expect(segs.every((s) => s.mss === 0 || s.mss === 1220)).toBe(true);
      expect(segs.every((s) => s.nh === 6 && s.len <= 1280)).toBe(true);
      expect(Math.max(...segs.map((s) => s.data))).toBe(ts ? 1208 : 1220);
      expect(link.ab.stat('oversize') + link.ba.stat('oversize')).toBe(0);
      expect(pair.client.stats.ip6x.fragmented + pair.server.stats.ip6x.fragmented).toBe(0);
      pair.rs.tcpClose(listener);
      pair.sim.runUntilIdle();
      expect(pair.client.tcp.pcbCount + pair.server.tcp.pcbCount).toBe(0);
      expect(pair.sim.clock.pendingTimers()).toBe(0);
      pair.client.pool.assertEmpty();
      pair.server.pool.assertEmpty();
    });
  }

  test('MTU sweep 1280..9000 over IPv6, 20 kB each way, GSO on every other MTU: intact, nothing oversize', () => {
    const bad: string[] = [];
    const mtus = [1280, 1281, 1287, 1288, 1300, 1400, 1492, 1500, 2000, 4352, 8192, 9000];
    for (const [k, mtu] of mtus.entries()) {
      const gso = k % 2 === 1;
      const r = runSimTransfer({ seed: mtu, bytes: 20_000, mtu, gso, ipv6: true, link: { latencyMs: 2, loss: 0.01 }, maxSteps: 1_000_000 });
      const oversize = r.frames.clientToServer.oversize + r.frames.serverToClient.oversize;
      if (r.family !== 6 || !r.ok || oversize > 0) bad.push(`tsip sim transfer -6 --seed ${mtu} --bytes 20000 --mtu ${mtu}${gso ? ' --gso' : ''} --delay 2 --loss 0.01: ${[...r.problems, `${oversize} oversize frames`].join('; ')}`);
    }
    expect(bad, bad.join('\n')).toEqual([]);
  });
});
