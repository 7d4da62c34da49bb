// TCP option negotiation (RFC 9293 §3.7.1 MSS, RFC 7323 window scaling and
// timestamps, RFC 2018 SACK): every combination of what the peer offers and
// what our TcpConfig allows, checked on the wire afterwards (only what both
// sides agreed is ever used), plus MSS-sized segmentation, the timestamp
// echo rule and PAWS.
import { describe, expect, test } from 'vitest';
import type { TcpPcb } from '../../src/pcb/pcb.ts';
import { PcbFlag } from '../../src/pcb/state.ts';
import type { TcpConfig } from '../../src/pcb/tcp.ts';
import { ACK, activeOpen, Err, FIN, flagStr, payload, PSH, recordCallbacks, RST, scriptedPeer, type ScriptedPeer, type SentSeg, sha256, SYN, u32, closeAndCheck } from '../support/tcp.ts';

interface Offer {
  mss: boolean;
  ws: boolean;
  sack: boolean;
  ts: boolean;
}

const CONFIGS: [string, TcpConfig][] = [
  ['all enabled', {}],
  ['windowScaling off', { windowScaling: false }],
  ['sack off', { sack: false }],
  ['timestamps off', { timestamps: false }],
  ['all off', { windowScaling: false, sack: false, timestamps: false }],
];

const OFFERS: Offer[] = [];
for (let m = 0; m < 16; m++) OFFERS.push({ mss: (m & 1) !== 0, ws: (m & 2) !== 0, sack: (m & 4) !== 0, ts: (m & 8) !== 0 });
const offerName = (o: Offer): string => (['mss', 'ws', 'sack', 'ts'] as const).filter((k) => o[k]).join('+') || 'no options';

const PEER_MSS = 1000;
const PEER_WS = 5;
const PEER_TSVAL = 0x7000_0000;

/** What both sides agreed, given our config and the peer's offer. */
function agreed(cfg: TcpConfig, o: Offer): { ws: boolean; sack: boolean; ts: boolean; mss: number } {
  return {
    ws: o.ws && cfg.windowScaling !== false,
    sack: o.sack && cfg.sack !== false,
    ts: o.ts && cfg.timestamps !== false,
    mss: Math.min(o.mss ? PEER_MSS : 536, 1460),
  };
}

/**
 * After the handshake: the segments we send must use exactly the agreed
 * options. Sends data both ways (an out-of-order segment from the peer to
 * provoke SACK blocks) and checks every segment.
 */
function checkAgreedOnWire(peer: ScriptedPeer, pcb: TcpPcb, a: ReturnType<typeof agreed>, log: ReturnType<typeof recordCallbacks>, rcvNxt: number, sndNxt: number): void {
  const tsv = PEER_TSVAL + 10;
  const ts = a.ts ? { ts: [tsv, 0] as [number, number] } : {};
  expect((pcb.flags & PcbFlag.WND_SCALE) !== 0).toBe(a.ws);
  expect((pcb.flags & PcbFlag.SACK) !== 0).toBe(a.sack);
  expect((pcb.flags & PcbFlag.TIMESTAMP) !== 0).toBe(a.ts);
  expect(pcb.mss).toBe(a.mss);
  expect(pcb.sndScale).toBe(a.ws ? PEER_WS : 0);
  expect(pcb.rcvScale).toBe(a.ws ? 3 : 0);
  // Without window scaling the receive window cannot exceed 64 KiB - 1.
  expect(pcb.rcvBufSize).toBe(a.ws ? 256 * 1024 : 0xffff);

  // A window update from the peer is scaled only if agreed.
  peer.inject({ seq: rcvNxt, ack: sndNxt, flags: ACK, wnd: 1000, ...ts });
  expect(pcb.sndWnd).toBe(a.ws ? 1000 << PEER_WS : 1000);
  // Out-of-order data: the immediate duplicate ACK carries a SACK block only if agreed.
  peer.inject({ seq: u32(rcvNxt + 100), ack: sndNxt, flags: ACK, wnd: 1000, data: payload(50), ...ts });
  let out = peer.take();
  expect(out.length).toBe(1);
  expect(flagStr(out[0]!.flags)).toBe('A');
  expect(out[0]!.ack).toBe(rcvNxt);
  expect(out[0]!.opts.sackCount).toBe(a.sack ? 1 : 0);
  if (a.sack) expect([out[0]!.opts.sackBlocks[0], out[0]!.opts.sackBlocks[1]]).toEqual([u32(rcvNxt + 100), u32(rcvNxt + 150)]);
  checkSeg(out[0]!, a, tsv);
  // Fill the hole.
  peer.inject({ seq: rcvNxt, ack: sndNxt, flags: ACK, wnd: 1000, data: payload(100), ...ts });
  expect(log.data.reduce((n, d) => n + d.length, 0)).toBe(150);
  out = peer.take();
  expect(out.map((s) => s.ack)).toEqual([u32(rcvNxt + 150)]);
  expect(out[0]!.opts.sackCount).toBe(0);
  checkSeg(out[0]!, a, tsv);
  // Our data: segments no larger than the agreed MSS less the timestamp option.
  peer.inject({ seq: u32(rcvNxt + 150), ack: sndNxt, flags: ACK, wnd: 0xffff, ...ts });
  const data = payload(5000, 9);
  expect(peer.raw.tcpWrite(pcb, data)).toBe(Err.OK);
  peer.raw.tcpOutput(pcb);
  out = peer.take().filter((s) => s.data.length > 0);
  const maxPayload = a.mss - (a.ts ? 12 : 0);
  expect(out.length).toBeGreaterThan(0);
  for (const s of out) {
    expect(s.data.length).toBeLessThanOrEqual(maxPayload);
    checkSeg(s, a, tsv);
  }
  // Full-sized segments are exactly the payload limit.
  expect(out[0]!.data.length).toBe(Math.min(maxPayload, 5000));
  // Drain it: the peer ACKs as it goes.
  let acked = 0;
  for (let guard = 0; acked < 5000 && guard < 100; guard++) {
    const segs = out.length > 0 ? out : peer.take().filter((s) => s.data.length > 0);
    out = [];
    if (segs.length === 0) {
      peer.advance(200);
      continue;
    }
    for (const s of segs) {
      expect(s.data.length).toBeLessThanOrEqual(maxPayload);
      checkSeg(s, a, tsv);
    }
    const last = segs.at(-1)!;
    acked = u32(last.seq + last.data.length - sndNxt);
    peer.inject({ seq: u32(rcvNxt + 150), ack: u32(sndNxt + acked), flags: ACK, wnd: 0xffff, ...ts });
  }
  expect(acked).toBe(5000);
  expect(log.events.filter((e) => e.startsWith('sent:')).reduce((n, e) => n + Number(e.slice(5)), 0)).toBe(5000);
}

/** Options on a non-SYN segment we sent: TS iff agreed (echoing the peer), never MSS/WS/SACK-permitted. */
function checkSeg(s: SentSeg, a: ReturnType<typeof agreed>, tsEcr: number): void {
  expect(s.opts.mss).toBe(0);
  expect(s.opts.wscale).toBe(-1);
  expect(s.opts.sackPermitted).toBe(false);
  expect(s.opts.hasTimestamp).toBe(a.ts);
  if (a.ts) expect(s.opts.tsEcr).toBe(tsEcr);
  // Without window scaling the field is the window itself, never above 65535.
  if (!a.ws) expect(s.wnd).toBeLessThanOrEqual(0xffff);
}

describe('option negotiation, passive open', () => {
  for (const [cfgName, cfg] of CONFIGS) {
    for (const o of OFFERS) {
      test(`${cfgName}; peer offers ${offerName(o)}`, () => {
        const peer = scriptedPeer({ tcp: cfg });
        const raw = peer.raw;
        const l = raw.tcpNew()!;
        raw.tcpBind(l, 0, 80);
        raw.tcpListen(l);
        let pcb: TcpPcb | null = null;
        let log: ReturnType<typeof recordCallbacks> | null = null;
        raw.tcpAccept(l, (_a, npcb) => {
          pcb = npcb;
          log = recordCallbacks(raw, npcb);
          return Err.OK;
        });
        const a = agreed(cfg, o);
        peer.inject({
          seq: 1000,
          flags: SYN,
          wnd: 0xffff,
          ...(o.mss ? { mss: PEER_MSS } : {}),
          ...(o.ws ? { wscale: PEER_WS } : {}),
          ...(o.sack ? { sackPermitted: true } : {}),
          ...(o.ts ? { ts: [PEER_TSVAL, 0] as [number, number] } : {}),
        });
        const sa = peer.take();
        expect(sa.length).toBe(1);
        const s = sa[0]!;
        expect(flagStr(s.flags)).toBe('SA');
        expect(s.opts.mss).toBe(1460);
        expect(s.opts.wscale).toBe(a.ws ? 3 : -1);
        expect(s.opts.sackPermitted).toBe(a.sack);
        expect(s.opts.hasTimestamp).toBe(a.ts);
        if (a.ts) expect(s.opts.tsEcr).toBe(PEER_TSVAL);
        expect(s.wnd).toBe(0xffff); // unscaled in a SYN
        const iss = s.seq;
        const tsAck = a.ts ? { ts: [PEER_TSVAL + 1, s.opts.tsVal] as [number, number] } : {};
        peer.inject({ seq: 1001, ack: u32(iss + 1), flags: ACK, wnd: 0xffff, ...tsAck });
        expect(pcb).not.toBeNull();
        const p = pcb! as TcpPcb;
        expect(p.stateName).toBe('ESTABLISHED');
        // The window from the peer's SYN was not scaled; this ACK's is (if agreed).
        expect(p.sndWnd).toBe(a.ws ? 0xffff << PEER_WS : 0xffff);
        checkAgreedOnWire(peer, p, a, log!, 1001, u32(iss + 1));
        closeAndCheck(peer);
      });
    }
  }
});

describe('option negotiation, active open', () => {
  for (const [cfgName, cfg] of CONFIGS) {
    for (const o of OFFERS) {
      test(`${cfgName}; peer answers ${offerName(o)}`, () => {
        const peer = scriptedPeer({ tcp: cfg });
        const { pcb, iss, syn, log } = activeOpen(peer, { synAck: false });
        // Our SYN offers what the config allows.
        expect(syn.opts.mss).toBe(1460);
        expect(syn.opts.wscale).toBe(cfg.windowScaling === false ? -1 : 3);
        expect(syn.opts.sackPermitted).toBe(cfg.sack !== false);
        expect(syn.opts.hasTimestamp).toBe(cfg.timestamps !== false);
        expect(syn.wnd).toBe(0xffff);
        const a = agreed(cfg, o);
        // The peer may answer with options we did not offer: those must be ignored (RFC 7323 §2.2, §3.2).
        peer.inject({
          seq: 5000,
          ack: u32(iss + 1),
          flags: SYN | ACK,
          wnd: 0xffff,
          ...(o.mss ? { mss: PEER_MSS } : {}),
          ...(o.ws ? { wscale: PEER_WS } : {}),
          ...(o.sack ? { sackPermitted: true } : {}),
          ...(o.ts ? { ts: [PEER_TSVAL, syn.opts.tsVal] as [number, number] } : {}),
        });
        expect(pcb.stateName).toBe('ESTABLISHED');
        expect(pcb.sndWnd).toBe(0xffff); // a SYN-ACK's window is never scaled
        const ack = peer.take();
        expect(ack.map((s) => flagStr(s.flags))).toEqual(['A']);
        checkSeg(ack[0]!, a, PEER_TSVAL);
        expect(ack[0]!.wnd).toBe(a.ws ? (256 * 1024) >>> 3 : 0xffff);
        expect(log.events).toEqual(['connected']);
        checkAgreedOnWire(peer, pcb, a, log, 5001, u32(iss + 1));
        closeAndCheck(peer);
      });
    }
  }
});

describe('MSS', () => {
  test('no MSS option: 536 (RFC 9293 §3.7.1); segments of 536 bytes', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss } = activeOpen(peer, { synAck: false });
    peer.inject({ seq: 5000, ack: u32(iss + 1), flags: SYN | ACK });
    expect(pcb.mss).toBe(536);
    expect(pcb.peerMss).toBe(536);
    peer.take();
    peer.raw.tcpNagleDisable(pcb); // the short tail would wait for an ACK otherwise
    peer.raw.tcpWrite(pcb, payload(2000));
    peer.raw.tcpOutput(pcb);
    expect(peer.take().map((s) => s.data.length)).toEqual([536, 536, 536, 392]);
    closeAndCheck(peer);
  });

  test('the smaller of the peer MSS and ours (config mss / netif MTU) is used; we announce ours', () => {
    const a = scriptedPeer({ tcp: { timestamps: false, mss: 700 } });
    const ra = activeOpen(a, { mss: 1400 });
    expect(ra.syn.opts.mss).toBe(700);
    expect(ra.pcb.mss).toBe(700);
    a.take();
    a.raw.tcpNagleDisable(ra.pcb);
    a.raw.tcpWrite(ra.pcb, payload(1500));
    a.raw.tcpOutput(ra.pcb);
    expect(a.take().map((s) => s.data.length)).toEqual([700, 700, 100]);
    closeAndCheck(a);

    const b = scriptedPeer({ tcp: { timestamps: false }, mtu: 576 });
    const rb = activeOpen(b, { mss: 1460 });
    expect(rb.syn.opts.mss).toBe(536);
    expect(rb.pcb.mss).toBe(536);
    closeAndCheck(b);
  });

  test('with timestamps each segment carries MSS - 12 bytes of data (RFC 6691)', () => {
    const peer = scriptedPeer();
    const { pcb, iss } = activeOpen(peer, { mss: 1000, tsVal: 1 });
    peer.take();
    const data = payload(3000, 4);
    peer.raw.tcpWrite(pcb, data);
    peer.raw.tcpOutput(pcb);
    let segs = peer.take();
    // Nagle holds the short tail until the data in flight is acknowledged.
    expect(segs.map((s) => s.data.length)).toEqual([988, 988, 988]);
    peer.inject({ seq: 5001, ack: u32(iss + 1 + 2964), flags: ACK, ts: [2, segs[2]!.opts.tsVal] });
    segs = [...segs, ...peer.take()];
    expect(segs.map((s) => s.data.length)).toEqual([988, 988, 988, 36]);
    expect(segs.map((s) => u32(s.seq - iss - 1))).toEqual([0, 988, 1976, 2964]);
    expect(sha256(Buffer.concat(segs.map((s) => s.data)))).toBe(sha256(data));
    closeAndCheck(peer);
  });
});

describe('window scaling', () => {
  test('a shift above 14 is taken as 14 (RFC 7323 §2.3)', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb, iss } = activeOpen(peer, { wscale: 20 });
    expect(pcb.sndScale).toBe(14);
    peer.inject({ seq: 5001, ack: u32(iss + 1), flags: ACK, wnd: 3 });
    expect(pcb.sndWnd).toBe(3 << 14);
    closeAndCheck(peer);
  });

  test('the window we announce follows the receive buffer, scaled; never above 65535 unscaled', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false, rcvWnd: 100_000 } });
    const { pcb, syn } = activeOpen(peer, { wscale: 0 });
    expect(syn.opts.wscale).toBe(1); // 100000 >> 1 fits in 16 bits
    expect(syn.wnd).toBe(0xffff);
    const ack = peer.take()[0]!;
    expect(ack.wnd).toBe(50_000);
    expect(pcb.rcvScale).toBe(1);
    closeAndCheck(peer);
    const p2 = scriptedPeer({ tcp: { timestamps: false, rcvWnd: 100_000 } });
    const r2 = activeOpen(p2); // no WS from the peer
    expect(r2.pcb.rcvScale).toBe(0);
    expect(p2.take()[0]!.wnd).toBe(0xffff);
    closeAndCheck(p2);
  });
});

describe('timestamps', () => {
  test('TSecr echoes the TSval of the segment that opened the ACK window (RFC 7323 §4.3)', () => {
    const peer = scriptedPeer();
    const { pcb, iss, irs, log } = activeOpen(peer, { tsVal: 100 });
    expect(peer.take()[0]!.opts.tsEcr).toBe(100);
    const snd = u32(iss + 1);
    // Two small segments back to back: the second triggers the ACK, which echoes the first's TSval.
    peer.inject({ seq: irs + 1, ack: snd, flags: ACK, data: payload(10), ts: [200, 0] });
    expect(peer.take()).toEqual([]); // delayed ACK
    peer.inject({ seq: irs + 11, ack: snd, flags: ACK, data: payload(10), ts: [201, 0] });
    const a1 = peer.take();
    expect(a1.map((s) => [s.ack, s.opts.tsEcr])).toEqual([[irs + 21, 200]]);
    // The next segment is at Last.ACK.sent: its TSval is taken.
    peer.inject({ seq: irs + 21, ack: snd, flags: ACK, data: payload(10), ts: [300, 0] });
    peer.advance(peer.stack.tcp.config.delayedAckMs);
    const a2 = peer.take();
    expect(a2.map((s) => [s.ack, s.opts.tsEcr])).toEqual([[irs + 31, 300]]);
    // TSval on our segments follows our clock.
    const t0 = a2[0]!.opts.tsVal;
    peer.advance(1234);
    peer.raw.tcpWrite(pcb, payload(5));
    peer.raw.tcpOutput(pcb);
    const d = peer.take();
    expect(d[0]!.opts.tsVal).toBe(u32(t0 + 1234));
    expect(log.events.filter((e) => e.startsWith('recv')).length).toBe(3);
    closeAndCheck(peer);
  });

  test('PAWS: a segment with an older TSval is dropped and ACKed (counters.pawsDrops); RST is exempt', () => {
    const peer = scriptedPeer();
    const { pcb, iss, irs, log } = activeOpen(peer, { tsVal: 1000 });
    peer.take();
    const snd = u32(iss + 1);
    peer.inject({ seq: irs + 1, ack: snd, flags: ACK | PSH, data: payload(10, 1), ts: [2000, 0] });
    expect(log.events).toEqual(['connected', 'recv:10']);
    peer.advance(100);
    peer.take();
    const drops = peer.stack.tcp.counters.pawsDrops;
    // An old duplicate from a previous wrap of the sequence space: in-window seq, old TSval.
    peer.inject({ seq: irs + 11, ack: snd, flags: ACK | PSH | FIN, data: payload(10, 2), ts: [1500, 0] });
    expect(peer.stack.tcp.counters.pawsDrops).toBe(drops + 1);
    expect(log.events).toEqual(['connected', 'recv:10']);
    expect(pcb.stateName).toBe('ESTABLISHED');
    const dup = peer.take();
    expect(dup.map((s) => [flagStr(s.flags), s.ack, s.opts.tsEcr])).toEqual([['A', irs + 11, 2000]]);
    // TSval wrap-around is modular: 0x80000000 + 2000 is "older" than 2000.
    peer.inject({ seq: irs + 11, ack: snd, flags: ACK, data: payload(10, 2), ts: [u32(2000 + 0x80000001), 0] });
    expect(peer.stack.tcp.counters.pawsDrops).toBe(drops + 2);
    peer.take();
    // The same data with a current TSval is taken.
    peer.inject({ seq: irs + 11, ack: snd, flags: ACK | PSH | FIN, data: payload(10, 2), ts: [2001, 0] });
    expect(log.events).toEqual(['connected', 'recv:10', 'recv:10', 'recv:null']);
    expect(pcb.stateName).toBe('CLOSE_WAIT');
    // A RST with an old TSval still resets (RFC 7323 Appendix D).
    peer.inject({ seq: irs + 22, flags: RST, ts: [1, 0] });
    expect(pcb.freed).toBe(true);
    expect(log.events.at(-1)).toBe(`err:${Err.RST}`);
    closeAndCheck(peer);
  });

  test('timestamps agreed but absent on a segment: it is still processed (as Linux does)', () => {
    const peer = scriptedPeer();
    const { pcb, iss, irs, log } = activeOpen(peer, { tsVal: 1000 });
    peer.take();
    peer.inject({ seq: irs + 1, ack: u32(iss + 1), flags: ACK | PSH, data: payload(10) });
    expect(log.events).toEqual(['connected', 'recv:10']);
    expect(pcb.tsRecent).toBe(1000);
    closeAndCheck(peer);
  });
});
