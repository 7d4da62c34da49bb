// ICMPv6 errors reach the PCBs they are about (RFC 4443 §3, RFC 8201,
// RFC 5927 checks), through the same IcmpErrorReport kinds as ICMP:
// Packet Too Big lowers a TCP connection's MSS (never below what 1280
// carries), port unreachable aborts a connect in SYN_SENT and reaches a
// connected UDP PCB as ERR_RST; a report quoting a sequence number out of
// flight or a foreign 4-tuple changes nothing.
import { describe, expect, test } from 'vitest';
import { RawUdp } from '../../src/callbacks/raw-udp.ts';
import { Err } from '../../src/err.ts';
import { PbufLayer } from '../../src/pbuf/pool.ts';
import { PbufType } from '../../src/pbuf/pbuf.ts';
import { finishChecksum, onesSum } from '../../src/wire/checksum.ts';
import { ipv6PseudoHeaderSum } from '../../src/wire/checksum6.ts';
import { parseIpv6Address } from '../../src/wire/address6.ts';
import { useFamily } from '../support/family.ts';
import { captureStack, ipPacket } from '../support/packets.ts';
import { ACK, activeOpen, closeAndCheck, payload, scriptedPeer, startConnect, u32 } from '../support/tcp.ts';

useFamily(6);

const ROUTER = 'fd00::fe';

/** What an error quotes of a packet fd00::1 sent: its IPv6 header and the transport's first 8 bytes (ports, then the TCP sequence number). */
function quoteOf(protocol: number, srcPort: number, dstPort: number, seq = 0): Uint8Array {
  const t = new Uint8Array(8);
  t[0] = srcPort >>> 8;
  t[1] = srcPort;
  t[2] = dstPort >>> 8;
  t[3] = dstPort;
  t[4] = seq >>> 24;
  t[5] = seq >>> 16;
  t[6] = seq >>> 8;
  t[7] = seq;
  return ipPacket(t, { src: 'fd00::1', dst: 'fd00::2', protocol });
}

/** An ICMPv6 error (type, code, 4-byte field) from ROUTER to fd00::1 quoting `quoted` (an IPv6 packet we sent). */
function icmp6Error(type: number, code: number, field: number, quoted: Uint8Array): Uint8Array {
  const body = new Uint8Array(8 + Math.min(quoted.length, 1232));
  body[0] = type;
  body[1] = code;
  body[4] = field >>> 24;
  body[5] = field >>> 16;
  body[6] = field >>> 8;
  body[7] = field;
  body.set(quoted.subarray(0, body.length - 8), 8);
  const src = parseIpv6Address(ROUTER)!;
  const dst = parseIpv6Address('fd00::1')!;
  const sum = ipv6PseudoHeaderSum(src, 0, dst, 0, body.length, 58);
  const c = finishChecksum(onesSum(body, 0, body.length, sum));
  body[2] = c >>> 8;
  body[3] = c;
  return ipPacket(body, { src: ROUTER, dst: 'fd00::1', protocol: 58 });
}

describe('ICMPv6 errors delivered to TCP and UDP PCBs', () => {
  test('Packet Too Big lowers the MSS of the connection it quotes (MTU 1280 -> MSS 1220), and a PTB below 1280 is taken as 1280', () => {
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { pcb } = activeOpen(peer);
    expect(pcb.mss).toBe(1440);
    expect(peer.raw.tcpWrite(pcb, payload(4000), 1)).toBe(Err.OK);
    peer.raw.tcpOutput(pcb);
    const sent = peer.take();
    const data = sent.find((s) => s.data.length > 0)!;
    expect(data.data.length).toBe(1440);
    const feed = (bytes: Uint8Array): void => {
      const p = peer.stack.pool.alloc(PbufLayer.RAW, bytes.length, PbufType.POOL)!;
      p.take(bytes);
      peer.stack.input(p, peer.stack.netifs[1]!);
    };
    feed(icmp6Error(2, 0, 1000, quoteOf(6, peer.localPort, peer.peerPort, data.seq)));
    expect(peer.stack.stats.icmp6x.ptbReceived).toBe(1);
    expect(pcb.mss).toBe(1220);
    // What goes out now fits 1280 (the retransmission and new data alike).
    const after = peer.take().filter((s) => s.data.length > 0);
    for (const s of after) expect(s.data.length).toBeLessThanOrEqual(1220);
    // A PTB quoting a sequence number outside the flight is ignored (RFC 5927).
    pcb.mss = 1300;
    feed(icmp6Error(2, 0, 1280, quoteOf(6, peer.localPort, peer.peerPort, u32(data.seq + 10_000_000))));
    expect(pcb.mss).toBe(1300);
    pcb.mss = 1220;
    peer.inject({ seq: 1 + 0, ack: u32(data.seq + 4000), flags: ACK, wnd: 65535 });
    closeAndCheck(peer);
  });

  test('port unreachable while connecting aborts the connect with ERR_RST (a hard error, RFC 1122 §4.2.3.9)', () => {
    const peer = scriptedPeer();
    const c = startConnect(peer);
    const errs: number[] = [];
    peer.raw.tcpErr(c.pcb, (_a, err) => errs.push(err));
    const err = icmp6Error(1, 4, 0, quoteOf(6, c.syn.tcp.srcPort, c.syn.tcp.dstPort, c.syn.seq));
    const q = peer.stack.pool.alloc(PbufLayer.RAW, err.length, PbufType.POOL)!;
    q.take(err);
    peer.stack.input(q, peer.stack.netifs[1]!);
    expect(errs).toEqual([Err.RST]);
    expect(peer.stack.tcp.counters.attemptFails).toBe(1);
    closeAndCheck(peer);
  });

  test('a connected UDP PCB gets port unreachable as ERR_RST (code 4), no route as ERR_RTE (code 0)', () => {
    const { stack, sent } = captureStack();
    const raw = new RawUdp(stack);
    const pcb = raw.udpNew()!;
    expect(raw.udpConnect(pcb, 'fd00::2', 5353)).toBe(Err.OK);
    const errs: [number, number, number][] = [];
    raw.udpErr(pcb, (_a, _p, err, type, code) => errs.push([err, type, code]));
    expect(raw.udpSendBytes(pcb, new Uint8Array([1, 2, 3]))).toBe(Err.OK);
    const dgram = sent.at(-1)!;
    expect(dgram[0]! >> 4).toBe(6);
    for (const code of [4, 0]) {
      const e = icmp6Error(1, code, 0, dgram);
      const q = stack.pool.alloc(PbufLayer.RAW, e.length, PbufType.POOL)!;
      q.take(e);
      stack.input(q, stack.netifs[1]!);
    }
    expect(errs).toEqual([
      [Err.RST, 1, 4],
      [Err.RTE, 1, 0],
    ]);
    raw.udpRemove(pcb);
    stack.close();
    stack.pool.assertEmpty();
  });
});
