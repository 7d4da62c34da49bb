// SYN cookies (RFC 4987): stateless SYN-ACKs when the backlog is full, the
// options that survive in the cookie, forged and stale cookies, a flood of
// spoofed SYNs, and reclaiming at maxPcbs. Family-aware (test/support/
// family.ts): syncookies.v6.test.ts runs the same cases over IPv6, where the
// cookie hashes the full addresses.
import { describe, expect, test } from 'vitest';
import { Err } from '../../src/err.ts';
import { anyIp, isV6, mssFor } from '../support/family.ts';
import { ACK, closeAndCheck, flagStr, payload, PSH, scriptedPeer, SYN, u32 } from '../support/tcp.ts';

describe('SYN cookies (RFC 4987)', () => {
  /** A listener on :80 with `backlog`, recording accepted PCBs. */
  function listener(peer: ReturnType<typeof scriptedPeer>, backlog: number) {
    const l = peer.raw.tcpNew()!;
    peer.raw.tcpBind(l, anyIp(), 80);
    const lp = peer.raw.tcpListen(l, backlog)!;
    const accepted: import('../../src/pcb/pcb.ts').TcpPcb[] = [];
    peer.raw.tcpAccept(lp, (_a, npcb) => {
      accepted.push(npcb);
      return Err.OK;
    });
    return { lp, accepted };
  }

  test('a full backlog of half-open connections: the next SYN gets a cookie, nothing is kept, and its ACK makes the connection with every option (wscale, SACK, timestamps)', () => {
    const peer = scriptedPeer();
    const { lp, accepted } = listener(peer, 2);
    for (const port of [41000, 41001]) peer.inject({ srcPort: port, seq: 1, flags: SYN, mss: 1460, wscale: 7, sackPermitted: true, ts: [100, 0] });
    expect(peer.take().map((s) => flagStr(s.flags))).toEqual(['SA', 'SA']);
    const pcbs = peer.stack.tcp.pcbCount;
    peer.inject({ srcPort: 42000, seq: 5000, flags: SYN, mss: 1400, wscale: 7, sackPermitted: true, ts: [777, 0] });
    const [sa] = peer.take();
    expect(flagStr(sa!.flags)).toBe('SA');
    expect(sa!.ack).toBe(5001);
    expect(sa!.opts.mss).toBe(mssFor(1500));
    expect(sa!.opts.wscale).toBeGreaterThanOrEqual(0);
    expect(sa!.opts.sackPermitted).toBe(true);
    expect(sa!.opts.tsEcr).toBe(777);
    expect(peer.stack.tcp.pcbCount).toBe(pcbs); // stateless
    expect(peer.stack.tcp.counters.synCookiesSent).toBe(1);
    // The ACK brings the cookie back (and echoes our TSval, which carries wscale and SACK).
    peer.inject({ srcPort: 42000, seq: 5001, ack: u32(sa!.seq + 1), flags: ACK | PSH, wnd: 1000, ts: [778, sa!.opts.tsVal], data: payload(20) });
    expect(peer.stack.tcp.counters.synCookiesValidated).toBe(1);
    expect(accepted).toHaveLength(1);
    const c = accepted[0]!;
    expect(c.stateName).toBe('ESTABLISHED');
    const info = c.info();
    expect(info.mss).toBe(1360); // the largest cookie MSS not above the agreed 1400
    expect(c.sndScale).toBe(7);
    expect(c.sndWnd).toBe(1000 << 7);
    expect(c.flags & 0x0300).toBe(0x0300); // TIMESTAMP | SACK
    expect(c.rcvNxt).toBe(5021); // the data that came with the ACK was taken
    void lp;
    closeAndCheck(peer);
  });

  test('an ACK with a forged, stale or mangled cookie is answered with a RST and makes nothing', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { accepted } = listener(peer, 1);
    peer.inject({ srcPort: 41000, seq: 1, flags: SYN, mss: 1460 });
    peer.inject({ srcPort: 42000, seq: 9000, flags: SYN, mss: 1460 });
    const sa = peer.take()[1]!;
    expect(sa.opts.wscale).toBe(-1); // no timestamps: no option could come back
    expect(sa.opts.sackPermitted).toBe(false);
    const before = peer.stack.tcp.pcbCount;
    peer.inject({ srcPort: 42000, seq: 9001, ack: u32(sa.seq + 2), flags: ACK }); // mangled
    peer.inject({ srcPort: 42001, seq: 9001, ack: u32(sa.seq + 1), flags: ACK }); // another port
    peer.inject({ srcPort: 42000, seq: 9002, ack: u32(sa.seq + 1), flags: ACK }); // another ISN
    expect(peer.take().map((s) => flagStr(s.flags))).toEqual(['R', 'R', 'R']);
    expect(peer.stack.tcp.counters.synCookiesFailed).toBe(3);
    expect(peer.stack.tcp.pcbCount).toBe(before);
    // Four minutes later the genuine cookie has expired too.
    peer.advance(4 * 64_000);
    peer.take(); // the half-open one's SYN-ACK retries
    peer.inject({ srcPort: 42000, seq: 9001, ack: u32(sa.seq + 1), flags: ACK });
    expect(peer.take().map((s) => flagStr(s.flags))).toEqual(['R']);
    expect(accepted).toHaveLength(0);
    closeAndCheck(peer);
  });

  test('a flood of 20 000 spoofed SYNs keeps at most the backlog half-open; a legitimate client connects at once through a cookie; everything is freed after the SYN-ACK retries', () => {
    const peer = scriptedPeer({ tcp: { timestamps: true } });
    const { accepted } = listener(peer, 64);
    for (let i = 0; i < 20_000; i++) {
      peer.inject({ src: isV6() ? `fd00::${(1 + ((i >> 8) % 200)).toString(16)}:${(2 + (i % 250)).toString(16)}` : `10.0.${1 + ((i >> 8) % 200)}.${2 + (i % 250)}`, srcPort: 1024 + (i % 60_000), seq: i * 7919, flags: SYN, mss: 1460, ts: [i, 0] });
    }
    peer.take();
    const tcp = peer.stack.tcp;
    expect(tcp.pcbCount).toBe(1 + 64);
    expect(tcp.counters.synCookiesSent).toBe(20_000 - 64);
    peer.inject({ srcPort: 55555, seq: 123, flags: SYN, mss: 1460, wscale: 2, sackPermitted: true, ts: [5, 0] });
    const sa = peer.take()[0]!;
    peer.inject({ srcPort: 55555, seq: 124, ack: u32(sa.seq + 1), flags: ACK, ts: [6, sa.opts.tsVal] });
    expect(accepted).toHaveLength(1);
    expect(accepted[0]!.stateName).toBe('ESTABLISHED');
    peer.raw.tcpClose(accepted[0]!);
    // The flood's half-open connections give up after their SYN-ACK retries.
    peer.advance(200_000);
    expect(tcp.halfOpen).toBe(0);
    closeAndCheck(peer);
  });

  test('a connection made by a cookie and then reset by us is not made again by the peer\'s retransmission (which still acknowledges the cookie): RST at the sequence it expects', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { accepted } = listener(peer, 1);
    peer.inject({ srcPort: 41000, seq: 1, flags: SYN, mss: 1460 }); // fills the backlog, half-open
    peer.inject({ srcPort: 42000, seq: 9000, flags: SYN, mss: 1460 });
    const sa = peer.take()[1]!;
    peer.inject({ srcPort: 42000, seq: 9001, ack: u32(sa.seq + 1), flags: ACK | PSH, data: payload(50) });
    expect(accepted).toHaveLength(1);
    const c = accepted[0]!;
    expect(peer.raw.tcpWrite(c, payload(3000))).toBe(Err.OK);
    peer.raw.tcpOutput(c);
    peer.raw.tcpAbort(c); // its RST carries SND.NXT, beyond what the peer (which lost our data) expects
    peer.take();
    // The peer goes on sending its request, acknowledging only the cookie.
    peer.inject({ srcPort: 42000, seq: 9001, ack: u32(sa.seq + 1), flags: ACK | PSH, data: payload(50) });
    const r = peer.take();
    expect(r.map((x) => [flagStr(x.flags), x.seq])).toEqual([['R', u32(sa.seq + 1)]]);
    expect(accepted).toHaveLength(1);
    expect(peer.stack.tcp.counters.synCookiesValidated).toBe(1);
    closeAndCheck(peer);
  });

  test('at maxPcbs, a cookie ACK evicts the oldest half-open connection (pcbsReclaimed)', () => {
    const peer = scriptedPeer({ tcp: { maxPcbs: 3, timestamps: false } });
    const { accepted } = listener(peer, 8);
    peer.inject({ srcPort: 41000, seq: 1, flags: SYN, mss: 1460 });
    peer.advance(10);
    peer.inject({ srcPort: 41001, seq: 1, flags: SYN, mss: 1460 });
    expect(peer.stack.tcp.pcbCount).toBe(3);
    peer.take();
    peer.inject({ srcPort: 42000, seq: 100, flags: SYN, mss: 1460 });
    const sa = peer.take()[0]!;
    expect(peer.stack.tcp.counters.synCookiesSent).toBe(1);
    peer.inject({ srcPort: 42000, seq: 101, ack: u32(sa.seq + 1), flags: ACK });
    expect(accepted.map((p) => p.remotePort)).toEqual([42000]);
    expect(peer.stack.tcp.counters.pcbsReclaimed).toBe(1);
    expect([...peer.stack.tcp.active.values()].map((p) => p.remotePort).sort()).toEqual([41001, 42000]);
    closeAndCheck(peer);
  });
});
