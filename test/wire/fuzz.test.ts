// Random and mutated byte strings through every check and parse function.
// Each input is placed three ways: an exact-size Uint8Array at offset 0, and
// inside two larger buffers (at unaligned offsets, via subarrays with their
// own byteOffset) surrounded by different sentinel bytes. A read past
// off+len would see `undefined` in the first placement and different
// sentinels in the others, so the three results would differ.
import { describe, expect, test } from 'vitest';
import { WireError } from '../../src/wire/error.ts';
import { IcmpView, parseIcmp } from '../../src/wire/icmp.ts';
import { type Ipv4Repr, Ipv4View, emitIpv4, parseIpv4 } from '../../src/wire/ipv4.ts';
import { TcpFlag, TcpView, emitTcp, newTcpOptions, parseTcp, parseTcpOptions } from '../../src/wire/tcp.ts';
import { UdpView, emitUdp, parseUdp } from '../../src/wire/udp.ts';
import { emitIcmp } from '../../src/wire/icmp.ts';
import { onesSum } from '../../src/wire/checksum.ts';
import { Rng, embed } from './helpers.ts';

const SRC = 0x0a000001;
const DST = 0x0a000002;

function norm(x: unknown): unknown {
  if (x instanceof WireError) return { error: x.code };
  return JSON.parse(JSON.stringify(x, (_k, v: unknown) => (v instanceof Uint32Array ? Array.from(v) : v)));
}

// Reusable views and options, as the hot path would use them.
const ip = new Ipv4View();
const tcp = new TcpView();
const udp = new UdpView();
const icmp = new IcmpView();
const topts = newTcpOptions();

/** Everything the wire layer can say about `buf[off, off+len)`. */
function examine(buf: Uint8Array, off: number, len: number): unknown {
  const out: unknown[] = [];
  ip.wrap(buf, off, len);
  out.push(ip.check(), ip.verifyChecksum(), norm(parseIpv4(ip)), norm(parseIpv4(ip, { verifyChecksum: false })));
  tcp.wrap(buf, off, len);
  out.push(tcp.check(), tcp.verifyChecksum(SRC, DST), tcp.parseOptions(topts), norm(topts));
  out.push(norm(parseTcp(tcp, SRC, DST)), norm(parseTcp(tcp, SRC, DST, { verifyChecksum: false, into: topts })));
  out.push(parseTcpOptions(buf, off, len, topts), norm(topts));
  udp.wrap(buf, off, len);
  out.push(udp.check(), udp.verifyChecksum(SRC, DST), norm(parseUdp(udp, SRC, DST)), norm(parseUdp(udp, SRC, DST, { verifyChecksum: false })));
  icmp.wrap(buf, off, len);
  out.push(icmp.check(), icmp.verifyChecksum(), norm(parseIcmp(icmp)), norm(parseIcmp(icmp, { verifyChecksum: false })));
  out.push(onesSum(buf, off, len));
  // Nested: the payload of a valid-looking IPv4 packet as each transport.
  if (ip.check() === 0) {
    const po = ip.payloadOffset;
    const pl = ip.payloadLength;
    out.push(norm(parseTcp(tcp.wrap(buf, po, pl), ip.src, ip.dst, { verifyChecksum: false })));
    out.push(norm(parseUdp(udp.wrap(buf, po, pl), ip.src, ip.dst)));
    out.push(norm(parseIcmp(icmp.wrap(buf, po, pl))));
  }
  return out;
}

/** A valid packet of a random kind, for mutation. */
function validPacket(rng: Rng): Uint8Array {
  const kind = rng.int(4);
  const plen = rng.int(80);
  const ipr: Ipv4Repr = { src: SRC, dst: DST, protocol: [6, 17, 1, 6][kind]!, payloadLen: 0, ttl: 64, ident: rng.int(65536), dontFragment: true, moreFragments: false, fragOffset: 0, dscp: 0, ecn: 0 };
  const opts = newTcpOptions();
  if (rng.chance(0.5)) opts.mss = 1460;
  if (rng.chance(0.5)) opts.wscale = rng.int(15);
  opts.sackPermitted = rng.chance(0.5);
  if (rng.chance(0.5)) {
    opts.hasTimestamp = true;
    opts.tsVal = rng.u32();
  }
  opts.sackCount = rng.chance(0.3) ? 1 + rng.int(4) : 0;
  const thl = 20 + (kind === 0 || kind === 3 ? 40 : 0);
  const b = new Uint8Array(20 + thl + 8 + plen);
  rng.fill(b);
  let l4: number;
  if (ipr.protocol === 6) {
    const r = { srcPort: rng.int(65536), dstPort: rng.int(65536), seq: rng.u32(), ack: rng.u32(), flags: rng.int(512) | TcpFlag.ACK, window: rng.int(65536), urgent: 0, options: opts, payloadLen: 0 };
    const hl = emitTcp(r, b, 20, SRC, DST, { skipChecksum: true });
    l4 = hl + plen;
    new TcpView(b, 20, l4).fillChecksum(SRC, DST);
  } else if (ipr.protocol === 17) {
    l4 = 8 + plen;
    emitUdp({ srcPort: rng.int(65536), dstPort: rng.int(65536), payloadLen: plen }, b, 20, SRC, DST);
  } else {
    l4 = 8 + plen;
    emitIcmp({ kind: 'echo-request', ident: rng.int(65536), seqNo: rng.int(65536), dataLen: plen }, b, 20);
  }
  emitIpv4({ ...ipr, payloadLen: l4 }, b, 0);
  return b.subarray(0, 20 + l4 + rng.int(3));
}

function mutate(rng: Rng, src: Uint8Array): Uint8Array {
  const b = src.slice();
  const n = rng.int(4);
  for (let i = 0; i < n && b.length > 0; i++) {
    const r = rng.int(4);
    const at = rng.int(b.length);
    if (r === 0) b[at] = rng.int(256);
    else if (r === 1) b[at]! ^= 1 << rng.int(8);
    else if (r === 2) b[at] = [0, 1, 2, 0xff, 0x45, 0x4f, 0xf0][rng.int(7)]!;
    else return b.subarray(0, at); // truncate
  }
  return b;
}

describe('fuzz: no exception, no read outside the view', () => {
  test('random byte strings, 0..120 bytes', () => {
    const rng = new Rng(0xf022);
    for (let i = 0; i < 4000; i++) {
      const len = rng.int(121);
      const bytes = rng.fill(new Uint8Array(len));
      // Bias the first bytes toward plausible headers now and then.
      if (len > 0 && rng.chance(0.5)) bytes[0] = 0x45 + rng.int(11);
      if (len > 3 && rng.chance(0.5)) {
        bytes[2] = 0;
        bytes[3] = rng.int(len + 8);
      }
      if (len > 12 && rng.chance(0.3)) bytes[12] = rng.int(16) << 4;
      if (len > 5 && rng.chance(0.3)) {
        bytes[4] = 0;
        bytes[5] = rng.int(len + 4);
      }
      check(bytes, rng, `seed 0xf022 iter ${i}`);
    }
  });

  test('mutated valid packets', () => {
    const rng = new Rng(0xbeef);
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const b = mutate(rng, validPacket(rng));
      const r = check(b, rng, `seed 0xbeef iter ${i}`);
      if (!(parseIpv4(b) instanceof WireError)) accepted++;
      void r;
    }
    // The generator really does produce packets that get through.
    expect(accepted).toBeGreaterThan(300);
  });
});

function check(bytes: Uint8Array, rng: Rng, label: string): void {
  const exact = new Uint8Array(bytes);
  const a = examine(exact, 0, exact.length);
  const p1 = embed(bytes, 8 + rng.int(8), 0xaa);
  const p2 = embed(bytes, 9 + rng.int(8), 0x55);
  const b = examine(p1.buf, p1.off, bytes.length);
  const c = examine(p2.buf, p2.off, bytes.length);
  if (JSON.stringify(a) !== JSON.stringify(b) || JSON.stringify(a) !== JSON.stringify(c)) {
    expect(b, label).toEqual(a);
    expect(c, label).toEqual(a);
  }
  // No NaN anywhere (a read of `undefined` turns arithmetic into NaN).
  expect(JSON.stringify(a).includes('null'), label).toBe(false);
}
