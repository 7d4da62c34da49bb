// The simulated link enforces its MTU: nothing larger crosses. DF frames
// that do not fit are dropped and counted; others are fragmented. A GSO
// super-segment is cut at its MSS, and a piece that still does not fit is
// dropped like any other DF frame (issue 12: the cutter used to deliver
// pieces of any size).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PbufLayer } from '../../src/pbuf/pool.ts';
import { PbufType } from '../../src/pbuf/pbuf.ts';
import { Simulator } from '../../src/sim/simulator.ts';
import { fragmentIpv4, MtuStage } from '../../src/sim/stages/mtu.ts';
import { parseIpv4 } from '../../src/wire/ipv4.ts';
import { isWireError } from '../../src/wire/error.ts';
import { TcpFlag } from '../../src/wire/tcp.ts';
import { ipPacket, pattern } from '../support/packets.ts';
import { payload, tcpPacket } from '../support/tcp.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function through(stage: MtuStage, frame: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  stage.push(frame, (f) => out.push(f));
  return out;
}

describe('MtuStage', () => {
  it('passes frames up to the MTU untouched', () => {
    const stage = new MtuStage(100);
    const f = ipPacket(pattern(80), { dontFragment: true });
    expect(through(stage, f)).toEqual([f]);
    expect(stage.stats).toEqual({ passed: 1, oversize: 0, fragmented: 0 });
  });

  it('drops and counts a DF frame larger than the MTU, and anything not IPv4 that does not fit', () => {
    const stage = new MtuStage(100);
    expect(through(stage, ipPacket(pattern(81), { dontFragment: true }))).toEqual([]);
    expect(through(stage, new Uint8Array(200))).toEqual([]); // version 0: not IPv4
    expect(stage.stats).toEqual({ passed: 0, oversize: 2, fragmented: 0 });
  });

  it('fragments a frame without DF into valid fragments of at most the MTU that rebuild the datagram', () => {
    const stage = new MtuStage(68);
    const data = pattern(301, 5);
    const out = through(stage, ipPacket(data, { protocol: 17, ident: 0x4242 }));
    expect(out.length).toBe(7); // 48 bytes a fragment (68 - 20, rounded down to 8)
    expect(out.every((f) => f.length <= 68)).toBe(true);
    const parts = out.map((f) => {
      const ip = parseIpv4(f); // throws nothing: checks the header checksum
      if (isWireError(ip)) throw new Error(ip.message);
      return ip;
    });
    expect(parts.map((p) => p.fragOffset)).toEqual([0, 48, 96, 144, 192, 240, 288]);
    expect(parts.map((p) => p.moreFragments)).toEqual([true, true, true, true, true, true, false]);
    expect(parts.every((p) => p.ident === 0x4242 && p.protocol === 17)).toBe(true);
    expect(sha(Buffer.concat(out.map((f) => f.subarray(20))))).toBe(sha(data));
    expect(stage.stats).toEqual({ passed: 7, oversize: 0, fragmented: 1 });
  });

  it('re-fragments a fragment: offsets continue from it and its own MF stays on the last piece', () => {
    const middle = ipPacket(pattern(100), { fragOffset: 800, moreFragments: true });
    const pieces = fragmentIpv4(middle, 68)!;
    const parsed = pieces.map((f) => parseIpv4(f));
    expect(parsed.map((p) => (isWireError(p) ? -1 : p.fragOffset))).toEqual([800, 848, 896]);
    expect(parsed.map((p) => (isWireError(p) ? null : p.moreFragments))).toEqual([true, true, true]);
    expect(fragmentIpv4(ipPacket(pattern(100)), 27)).toBeNull(); // no room for 8 bytes of payload
  });
});

describe('a simulated link enforces its MTU', () => {
  /** Hand one super-segment (a TCP frame of `bytes` payload, gsoSize `gso`) to the client's netif. */
  function sendSuper(mtu: number, bytes: number, gso: number, dontFragment: boolean) {
    const sim = new Simulator({ seed: 1 });
    const a = sim.addStack('a');
    const b = sim.addStack('b');
    const link = sim.connect(a, b, { aAddr: '10.0.0.2', bAddr: '10.0.0.1', mtu, gso: true });
    const seg = tcpPacket({ seq: 1000, ack: 1, flags: TcpFlag.ACK | TcpFlag.PSH, data: payload(bytes, 9) }).subarray(20);
    const frame = ipPacket(seg, { protocol: 6, dontFragment });
    const p = a.pool.alloc(PbufLayer.RAW, frame.length, PbufType.RAM)!;
    p.take(frame);
    p.gsoSize = gso;
    link.aNetif.output(p);
    p.free();
    sim.runUntilIdle();
    const received = b.stats.ip.recv;
    sim.close();
    a.pool.assertEmpty();
    b.pool.assertEmpty();
    return { link, received };
  }

  it('a super-segment cut at an MSS that fits crosses whole', () => {
    const r = sendSuper(100, 600, 60, true);
    expect(r.link.ab.stat('oversize')).toBe(0);
    expect(r.link.ab.delivered).toBe(10);
    expect(r.received).toBe(10);
  });

  it('pieces of a DF super-segment cut at an MSS larger than the MTU allows are dropped and counted, never delivered', () => {
    const r = sendSuper(100, 600, 88, true); // 20 + 20 + 88 = 128 > 100
    expect(r.link.ab.sent).toBe(7);
    expect(r.link.ab.stat('oversize')).toBe(7);
    expect(r.link.ab.delivered).toBe(0);
    expect(r.received).toBe(0);
  });

  it('without DF such pieces are fragmented to fit', () => {
    const r = sendSuper(100, 600, 88, false);
    expect(r.link.ab.stat('oversize')).toBe(0);
    expect(r.link.ab.stat('fragmented')).toBe(7);
    expect(r.link.ab.delivered).toBe(14); // each 108-byte datagram: 80 + 28 bytes of payload
  });
});
