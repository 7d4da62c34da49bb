// Hostile IPv6 from the kernel side over the TUN device (issue 14): scapy
// (the system /usr/bin/python3's, python3-scapy) builds each packet, and a
// packet socket bound to the namespace's TUN device sends it to tsip as is
// (no kernel IPv6 output path: hop limit 0, bad payload lengths and
// overlapping fragments get through untouched) and listens on the same
// device for what tsip answers. Each case asserts the answer (or its
// absence) and the deltas of the counters that say why; then a download
// over IPv6 checks that tsip is still healthy and the pool is back where it
// was.
//
// Network safety: everything stays inside the namespace startTunEnv creates
// and deletes; the packet socket is bound to tsip0 inside it; each script
// sends a handful of packets and listens for at most a few seconds.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RawTcp, WriteFlag } from '../../src/callbacks/raw.ts';
import { Err } from '../../src/err.ts';
import { netnsExists } from '../../src/netif/tun-ip.ts';
import type { TcpPcb } from '../../src/pcb/pcb.ts';
import { generatedBody } from '../../src/services/http.ts';
import type { Stack } from '../../src/stack/stack.ts';
import { generatedSha256, skipReason, skipTun, startTunEnv, waitFor, type TunEnv } from '../support/tun.ts';

const PYTHON = '/usr/bin/python3';

/**
 * argv: tsip6 kernel6 case listen-seconds. Sends the case's packets on
 * tsip0 through an AF_PACKET socket and prints, as JSON, the packets sent
 * (hex) and every IPv6 packet from tsip6 that came back while listening.
 */
const PY = String.raw`
import json, select, socket, sys, time
from scapy.layers.inet6 import (IPv6, ICMPv6EchoRequest, IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, HBHOptUnknown,
    IPv6ExtHdrRouting, IPv6ExtHdrFragment, ICMPv6ND_NS)
from scapy.layers.inet import UDP
from scapy.packet import Raw
TS, K, CASE, WAIT = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
IF, ETH_P_IPV6, PACKET_OUTGOING = 'tsip0', 0x86dd, 4
ID = 0x5a17
DATA = bytes(range(48))

def echo(seq, data=DATA, **kw):
    return IPv6(src=K, dst=TS, **kw) / ICMPv6EchoRequest(id=ID, seq=seq, data=data)

def hbh(otype, dst=TS, seq=1):
    return IPv6(src=K, dst=dst) / IPv6ExtHdrHopByHop(options=[HBHOptUnknown(otype=otype, optdata=b'\0' * 4)]) / ICMPv6EchoRequest(id=ID, seq=seq, data=DATA)

def fragments(seq, pieces, ident):
    # An echo request cut by hand: pieces are (byte offset, length, more) over the ICMPv6 message.
    icmp = bytes(IPv6(src=K, dst=TS) / ICMPv6EchoRequest(id=ID, seq=seq, data=bytes(range(200))))[40:]
    return [IPv6(src=K, dst=TS) / IPv6ExtHdrFragment(nh=58, offset=off // 8, m=int(more), id=ident) / Raw(icmp[off:off + n])
            for off, n, more in pieces]

def many_ext(n, seq):
    p = IPv6(src=K, dst=TS)
    for _ in range(n):
        p = p / IPv6ExtHdrDestOpt()
    return p / ICMPv6EchoRequest(id=ID, seq=seq, data=DATA)

def bad_plen_short():
    b = bytearray(bytes(IPv6(src=K, dst=TS) / IPv6ExtHdrDestOpt() / ICMPv6EchoRequest(id=ID, seq=31, data=DATA)))
    b[4:6] = (4).to_bytes(2, 'big')  # 4 bytes: not even the 8-byte destination options header
    return bytes(b)

def bad_plen_long():
    b = bytearray(bytes(echo(30)))
    b[4:6] = (len(b) - 40 + 100).to_bytes(2, 'big')  # 100 bytes more than the packet carries
    return bytes(b)

def solicited_node(a):
    import ipaddress
    low = ipaddress.IPv6Address(a).packed[13:]
    return str(ipaddress.IPv6Address(bytes.fromhex('ff02' + '0000' * 4 + '0001ff') + low))

CASES = {
    'ext143': lambda: [IPv6(src=K, dst=TS, nh=143) / Raw(b'\x3a\0' + b'\0' * 6) / ICMPv6EchoRequest(id=ID, seq=1)],
    'ext253-after-dstopts': lambda: [IPv6(src=K, dst=TS) / IPv6ExtHdrDestOpt(nh=253) / Raw(b'\x3a\0' + b'\0' * 6)],
    'hbh00': lambda: [hbh(0x1e, seq=2)],
    'hbh01': lambda: [hbh(0x5e, seq=3)],
    'hbh10': lambda: [hbh(0x9e, seq=4)],
    'hbh11': lambda: [hbh(0xde, seq=5)],
    'hbh11-multicast': lambda: [hbh(0xde, dst='ff02::1', seq=6)],
    'hbh10-multicast': lambda: [hbh(0x9e, dst='ff02::1', seq=7)],
    'hbh-not-first': lambda: [IPv6(src=K, dst=TS) / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / ICMPv6EchoRequest(id=ID, seq=14, data=DATA)],
    # A first fragment whose 8 bytes of data are the start of a 16-byte destination options header (RFC 7112).
    'incomplete-chain': lambda: [IPv6(src=K, dst=TS) / IPv6ExtHdrFragment(nh=60, offset=0, m=1, id=0x0badf00f) / Raw(bytes([58, 1]) + b'\x01\x04' + b'\0' * 4)],
    'rh0': lambda: [IPv6(src=K, dst=TS) / IPv6ExtHdrRouting(type=0, segleft=1, addresses=['fd00:88:ff::9']) / ICMPv6EchoRequest(id=ID, seq=8, data=DATA)],
    'rh0-segleft0': lambda: [IPv6(src=K, dst=TS) / IPv6ExtHdrRouting(type=0, segleft=0, addresses=[TS]) / ICMPv6EchoRequest(id=ID, seq=9, data=DATA)],
    # 208 bytes of ICMPv6: [0, 104) then [64, 208): 40 bytes counted twice (RFC 5722).
    'overlap': lambda: fragments(10, [(0, 104, True), (64, 144, False)], 0x0badf00d),
    # Only the first piece: reassembly times out (2 s here), Time Exceeded code 1.
    'first-fragment-only': lambda: fragments(15, [(0, 104, True)], 0x0badf010),
    # The same cut cleanly: [0, 104) then [104, 208), sent last piece first.
    'fragments-ok': lambda: list(reversed(fragments(11, [(0, 104, True), (104, 104, False)], 0x0badf00e))),
    'too-many-ext': lambda: [many_ext(20, 20)],
    'eight-ext': lambda: [many_ext(8, 21)],
    'hlim0': lambda: [echo(12, hlim=0)],
    'hlim1': lambda: [echo(13, hlim=1)],
    'plen-long': lambda: [bad_plen_long()],
    'plen-short': lambda: [bad_plen_short()],
    'ns255': lambda: [IPv6(src=K, dst=TS, hlim=255) / ICMPv6ND_NS(tgt=TS)],
    'ns255-solicited-node': lambda: [IPv6(src=K, dst=solicited_node(TS), hlim=255) / ICMPv6ND_NS(tgt=TS)],
    'ns-dad': lambda: [IPv6(src='::', dst=solicited_node(TS), hlim=255) / ICMPv6ND_NS(tgt=TS)],
    'ns-dad-unicast': lambda: [IPv6(src='::', dst=TS, hlim=255) / ICMPv6ND_NS(tgt=TS)],
    'ns64': lambda: [IPv6(src=K, dst=TS, hlim=64) / ICMPv6ND_NS(tgt=TS)],
    'udp-csum0': lambda: [IPv6(src=K, dst=TS) / UDP(sport=40007, dport=33333, chksum=0) / Raw(b'checksum zero')],
    'udp-csum-ok': lambda: [IPv6(src=K, dst=TS) / UDP(sport=40008, dport=33333) / Raw(b'checksum fine')],
}

s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IPV6))
s.bind((IF, ETH_P_IPV6))
pkts = [p if isinstance(p, bytes) else bytes(p) for p in CASES[CASE]()]
for b in pkts:
    s.sendto(b, (IF, ETH_P_IPV6))
    time.sleep(0.01)
got = []
end = time.time() + WAIT
ts = socket.inet_pton(socket.AF_INET6, TS)
while len(got) < 16:
    left = end - time.time()
    if left <= 0 or not select.select([s], [], [], left)[0]:
        break
    data, addr = s.recvfrom(65535)
    if addr[2] == PACKET_OUTGOING or len(data) < 40 or data[0] >> 4 != 6 or data[8:24] != ts:
        continue
    d = {'src': socket.inet_ntop(socket.AF_INET6, data[8:24]), 'dst': socket.inet_ntop(socket.AF_INET6, data[24:40]),
         'hlim': data[7], 'nh': data[6], 'plen': int.from_bytes(data[4:6], 'big'), 'len': len(data)}
    if data[6] == 58 and len(data) >= 48:
        d.update(type=data[40], code=data[41], word=int.from_bytes(data[44:48], 'big'), body=data[48:].hex())
        if data[40] == 136 and len(data) >= 64:
            d['target'] = socket.inet_ntop(socket.AF_INET6, data[48:64])
    elif data[6] == 17 and len(data) >= 48:
        d.update(sport=int.from_bytes(data[40:42], 'big'), dport=int.from_bytes(data[42:44], 'big'), body=data[48:].hex())
    got.append(d)
print(json.dumps({'sent': [b.hex() for b in pkts], 'got': got}))
`;

interface Got {
  src: string;
  dst: string;
  hlim: number;
  nh: number;
  plen: number;
  len: number;
  type?: number;
  code?: number;
  word?: number;
  body?: string;
  sport?: number;
  dport?: number;
  /** Of a neighbour advertisement. */
  target?: string;
}

const ECHO_REPLY = 129;
const PARAM_PROBLEM = 4;
const NA = 136;
const DEST_UNREACHABLE = 1;
const TIME_EXCEEDED = 3;
/** The identifier and sequence word of the script's echo requests. */
const echoWord = (seq: number): number => ((0x5a17 << 16) | seq) >>> 0;

describe.skipIf(skipTun || !existsSync(PYTHON))('hostile IPv6 (scapy) from the kernel over TUN', () => {
  let env: TunEnv;
  let baseline = 0;
  const internal: unknown[] = [];

  beforeAll(() => {
    env = startTunEnv({
      ipv6: true,
      stack: {
        // Every case here may send an error: no rate limit in the way.
        icmp6: { errorRatePerSec: 1000, errorBurst: 1000 },
        // Discarded (overlapping) datagrams wait out their time: a short one, so the pool is back quickly.
        ip6: { reassembly: { timeoutMs: 2000 } },
        onInternalError: (err) => internal.push(err),
      },
    });
    baseline = env.stack.pool.stats.bytesInUse;
  });

  afterAll(() => {
    const ns = env?.ns;
    env?.close();
    if (ns) expect(netnsExists(ns)).toBe(false);
  });

  /** Counter snapshot: the flat numbers of the stats this test looks at. */
  function snap(): Record<string, number> {
    const st = env.stack.stats;
    const out: Record<string, number> = {};
    const add = (prefix: string, o: object): void => {
      for (const [k, v] of Object.entries(o)) if (typeof v === 'number') out[`${prefix}.${k}`] = v;
    };
    add('ip6', st.ip6);
    add('ip6x', st.ip6x);
    add('icmp6', st.icmp6);
    add('icmp6x', st.icmp6x);
    add('udp', st.udp);
    add('re6', env.stack.ip6.reassembler.counters);
    return out;
  }

  /** What changed since `before` (only the non-zero deltas). */
  function delta(before: Record<string, number>): Record<string, number> {
    const now = snap();
    const d: Record<string, number> = {};
    for (const [k, v] of Object.entries(now)) if (v !== before[k]) d[k] = v - (before[k] ?? 0);
    return d;
  }

  /** Run one scapy case; returns what was sent, what tsip answered and the counter deltas. */
  async function run(name: string, listenSec = 0.6): Promise<{ sent: string[]; got: Got[]; d: Record<string, number> }> {
    const before = snap();
    const r = await env.exec([PYTHON, '-c', PY, env.tsip6!, env.kernel6!, name, String(listenSec)], { timeoutMs: 20_000 });
    expect(r.code, `${name}: ${r.stderr}`).toBe(0);
    const out = JSON.parse(r.stdout.toString()) as { sent: string[]; got: Got[] };
    // Anything still in flight has arrived long before the listening ended.
    return { ...out, d: delta(before) };
  }

  const icmpFrom = (got: Got[], type: number): Got[] => got.filter((g) => g.nh === 58 && g.type === type);
  const only = (d: Record<string, number>, keys: string[]): Record<string, number> => Object.fromEntries(keys.map((k) => [k, d[k] ?? 0]));

  test('unknown next header 143 right after the fixed header: parameter problem code 1 pointing at byte 6', async () => {
    const { sent, got, d } = await run('ext143');
    const pp = icmpFrom(got, PARAM_PROBLEM);
    expect(pp).toHaveLength(1);
    expect(pp[0]).toMatchObject({ code: 1, word: 6, dst: env.kernel6, src: env.tsip6 });
    expect(pp[0]!.body).toBe(sent[0]); // the whole offending packet quoted
    expect(icmpFrom(got, ECHO_REPLY)).toHaveLength(0);
    expect(only(d, ['ip6x.unknownNextHeader', 'ip6.proterr', 'icmp6x.errorsSent', 'icmp6x.echoAnswered'])).toEqual({
      'ip6x.unknownNextHeader': 1,
      'ip6.proterr': 1,
      'icmp6x.errorsSent': 1,
      'icmp6x.echoAnswered': 0,
    });
  });

  test('unknown next header 253 after a destination options header: code 1 pointing at that header\'s Next Header (40)', async () => {
    const { sent, got, d } = await run('ext253-after-dstopts');
    const pp = icmpFrom(got, PARAM_PROBLEM);
    expect(pp).toHaveLength(1);
    expect(pp[0]).toMatchObject({ code: 1, word: 40 });
    expect(pp[0]!.body).toBe(sent[0]);
    expect(only(d, ['ip6x.unknownNextHeader', 'icmp6x.errorsSent'])).toEqual({ 'ip6x.unknownNextHeader': 1, 'icmp6x.errorsSent': 1 });
  });

  test('unknown hop-by-hop option, high bits 00: skipped, the echo request is answered', async () => {
    const { got, d } = await run('hbh00');
    const rep = icmpFrom(got, ECHO_REPLY);
    expect(rep).toHaveLength(1);
    expect(rep[0]!.word).toBe(echoWord(2)); // id, seq
    expect(icmpFrom(got, PARAM_PROBLEM)).toHaveLength(0);
    expect(only(d, ['icmp6x.echoAnswered', 'ip6x.unknownOption', 'ip6x.extHeaderDrops'])).toEqual({
      'icmp6x.echoAnswered': 1,
      'ip6x.unknownOption': 0,
      'ip6x.extHeaderDrops': 0,
    });
  });

  test('unknown hop-by-hop option, high bits 01: silently dropped', async () => {
    const { got, d } = await run('hbh01');
    expect(got.filter((g) => g.nh === 58 && (g.type === ECHO_REPLY || g.type === PARAM_PROBLEM))).toHaveLength(0);
    expect(only(d, ['ip6x.unknownOption', 'ip6x.extHeaderDrops', 'ip6.opterr', 'icmp6x.errorsSent', 'icmp6x.echoAnswered'])).toEqual({
      'ip6x.unknownOption': 1,
      'ip6x.extHeaderDrops': 1,
      'ip6.opterr': 1,
      'icmp6x.errorsSent': 0,
      'icmp6x.echoAnswered': 0,
    });
  });

  for (const [name, bits] of [
    ['hbh10', '10'],
    ['hbh11', '11'],
  ] as const) {
    test(`unknown hop-by-hop option, high bits ${bits}, unicast destination: parameter problem code 2 pointing at the option type (42)`, async () => {
      const { sent, got, d } = await run(name);
      const pp = icmpFrom(got, PARAM_PROBLEM);
      expect(pp).toHaveLength(1);
      expect(pp[0]).toMatchObject({ code: 2, word: 42, dst: env.kernel6, src: env.tsip6 });
      expect(pp[0]!.body).toBe(sent[0]);
      expect(icmpFrom(got, ECHO_REPLY)).toHaveLength(0);
      expect(only(d, ['ip6x.unknownOption', 'icmp6x.errorsSent', 'icmp6x.echoAnswered'])).toEqual({
        'ip6x.unknownOption': 1,
        'icmp6x.errorsSent': 1,
        'icmp6x.echoAnswered': 0,
      });
    });
  }

  test('unknown hop-by-hop option, high bits 11, to ff02::1: dropped without an error (RFC 8200 §4.2)', async () => {
    const { got, d } = await run('hbh11-multicast');
    expect(icmpFrom(got, PARAM_PROBLEM)).toHaveLength(0);
    expect(only(d, ['ip6x.unknownOption', 'icmp6x.errorsSent'])).toEqual({ 'ip6x.unknownOption': 1, 'icmp6x.errorsSent': 0 });
  });

  test('unknown hop-by-hop option, high bits 10, to ff02::1: parameter problem code 2 all the same, from our unicast address', async () => {
    const { got, d } = await run('hbh10-multicast');
    const pp = icmpFrom(got, PARAM_PROBLEM);
    expect(pp).toHaveLength(1);
    expect(pp[0]).toMatchObject({ code: 2, word: 42, src: env.tsip6, dst: env.kernel6 });
    expect(only(d, ['ip6x.unknownOption', 'icmp6x.errorsSent'])).toEqual({ 'ip6x.unknownOption': 1, 'icmp6x.errorsSent': 1 });
  });

  test('hop-by-hop options after a destination options header: parameter problem code 1 pointing at the Next Header that names it (40)', async () => {
    const { sent, got, d } = await run('hbh-not-first');
    const pp = icmpFrom(got, PARAM_PROBLEM);
    expect(pp).toHaveLength(1);
    expect(pp[0]).toMatchObject({ code: 1, word: 40 });
    expect(pp[0]!.body).toBe(sent[0]);
    expect(icmpFrom(got, ECHO_REPLY)).toHaveLength(0);
    expect(only(d, ['ip6x.hbhNotFirst', 'ip6x.extHeaderDrops', 'icmp6x.errorsSent'])).toEqual({ 'ip6x.hbhNotFirst': 1, 'ip6x.extHeaderDrops': 1, 'icmp6x.errorsSent': 1 });
  });

  test('a first fragment that cuts the header chain short: parameter problem code 3 (RFC 7112), nothing held', async () => {
    const { got, d } = await run('incomplete-chain');
    const pp = icmpFrom(got, PARAM_PROBLEM);
    expect(pp).toHaveLength(1);
    expect(pp[0]).toMatchObject({ code: 3, word: 0 });
    expect(only(d, ['ip6x.incompleteChain', 'ip6x.extHeaderDrops', 'ip6x.fragmentsIn', 'icmp6x.errorsSent'])).toEqual({
      'ip6x.incompleteChain': 1,
      'ip6x.extHeaderDrops': 1,
      'ip6x.fragmentsIn': 0,
      'icmp6x.errorsSent': 1,
    });
    expect(env.stack.ip6.reassembler.bytes).toBe(0);
  });

  test('routing header type 0 with segments left: parameter problem code 0 pointing at the routing type (42)', async () => {
    const { sent, got, d } = await run('rh0');
    const pp = icmpFrom(got, PARAM_PROBLEM);
    expect(pp).toHaveLength(1);
    expect(pp[0]).toMatchObject({ code: 0, word: 42 });
    expect(pp[0]!.body).toBe(sent[0]);
    expect(icmpFrom(got, ECHO_REPLY)).toHaveLength(0);
    expect(only(d, ['ip6x.routingHeader', 'ip6x.routingType0', 'ip6x.extHeaderDrops', 'icmp6x.errorsSent'])).toEqual({
      'ip6x.routingHeader': 1,
      'ip6x.routingType0': 1,
      'ip6x.extHeaderDrops': 1,
      'icmp6x.errorsSent': 1,
    });
  });

  test('routing header type 0 with no segments left: ignored, the echo request is answered (RFC 8200 §4.4)', async () => {
    const { got, d } = await run('rh0-segleft0');
    expect(icmpFrom(got, ECHO_REPLY)).toHaveLength(1);
    expect(only(d, ['icmp6x.echoAnswered', 'ip6x.routingHeader'])).toEqual({ 'icmp6x.echoAnswered': 1, 'ip6x.routingHeader': 0 });
  });

  test('overlapping fragments (RFC 5722): the datagram is dropped, nothing delivered', async () => {
    // Listen past the reassembly timeout (2 s): the discarded datagram expires without a Time Exceeded.
    const { got, d } = await run('overlap', 3);
    expect(icmpFrom(got, ECHO_REPLY)).toHaveLength(0);
    expect(icmpFrom(got, TIME_EXCEEDED)).toHaveLength(0);
    expect(only(d, ['ip6x.fragmentsIn', 're6.overlaps', 'ip6x.reassembled', 'icmp6x.echoAnswered'])).toEqual({
      'ip6x.fragmentsIn': 2,
      're6.overlaps': 1,
      'ip6x.reassembled': 0,
      'icmp6x.echoAnswered': 0,
    });
  });

  test('a first fragment alone: reassembly times out with Time Exceeded code 1 quoting it (RFC 8200 §4.5)', async () => {
    const { sent, got, d } = await run('first-fragment-only', 3.5);
    const te = icmpFrom(got, TIME_EXCEEDED);
    expect(te).toHaveLength(1);
    expect(te[0]).toMatchObject({ code: 1, dst: env.kernel6, src: env.tsip6 });
    expect(te[0]!.body).toBe(sent[0]);
    expect(only(d, ['ip6x.fragmentsIn', 're6.timeouts', 're6.timeExceeded', 'icmp6x.echoAnswered'])).toEqual({
      'ip6x.fragmentsIn': 1,
      're6.timeouts': 1,
      're6.timeExceeded': 1,
      'icmp6x.echoAnswered': 0,
    });
  });

  test('the same echo request in clean fragments (last one first): reassembled and answered', async () => {
    const { got, d } = await run('fragments-ok');
    const rep = icmpFrom(got, ECHO_REPLY);
    expect(rep).toHaveLength(1);
    expect(rep[0]!.plen).toBe(208);
    expect(rep[0]!.word).toBe(echoWord(11));
    expect(only(d, ['ip6x.fragmentsIn', 're6.reassembled', 'ip6x.reassembled', 'icmp6x.echoAnswered'])).toEqual({
      'ip6x.fragmentsIn': 2,
      're6.reassembled': 1,
      'ip6x.reassembled': 1,
      'icmp6x.echoAnswered': 1,
    });
  });

  test('a 3000-byte ping from the kernel: fragmented both ways, reassembled and answered', async () => {
    const before = snap();
    const r = await env.exec(['ping', '-6', '-n', '-c', '2', '-i', '0.2', '-W', '3', '-s', '3000', env.tsip6!], { timeoutMs: 15_000 });
    expect(r.code, r.stdout.toString() + r.stderr).toBe(0);
    expect(r.stdout.toString()).toMatch(/2 received/);
    const d = delta(before);
    // 3008 bytes of ICMPv6 over a 1500-byte link: 3 fragments each way, per ping.
    expect(only(d, ['ip6x.fragmentsIn', 'ip6x.reassembled', 'icmp6x.echoAnswered', 'ip6x.fragmented', 'ip6x.fragmentsOut'])).toEqual({
      'ip6x.fragmentsIn': 6,
      'ip6x.reassembled': 2,
      'icmp6x.echoAnswered': 2,
      'ip6x.fragmented': 2,
      'ip6x.fragmentsOut': 6,
    });
  });

  test('20 destination options headers: a counted drop (too many extension headers), no answer', async () => {
    const { got, d } = await run('too-many-ext');
    expect(got.filter((g) => g.nh === 58 && (g.type === ECHO_REPLY || g.type === PARAM_PROBLEM))).toHaveLength(0);
    expect(only(d, ['ip6x.tooManyExt', 'ip6x.extHeaderDrops', 'ip6.proterr', 'icmp6x.echoAnswered'])).toEqual({
      'ip6x.tooManyExt': 1,
      'ip6x.extHeaderDrops': 1,
      'ip6.proterr': 1,
      'icmp6x.echoAnswered': 0,
    });
  });

  test('8 destination options headers (the limit): walked, the echo request is answered', async () => {
    const { got, d } = await run('eight-ext');
    const rep = icmpFrom(got, ECHO_REPLY);
    expect(rep).toHaveLength(1);
    expect(rep[0]!.word).toBe(echoWord(21));
    expect(only(d, ['ip6x.tooManyExt', 'icmp6x.echoAnswered'])).toEqual({ 'ip6x.tooManyExt': 0, 'icmp6x.echoAnswered': 1 });
  });

  for (const [name, hlim, seq] of [
    ['hlim0', 0, 12],
    ['hlim1', 1, 13],
  ] as const) {
    test(`echo request with hop limit ${hlim}: a host accepts it and answers (RFC 8200 §3)`, async () => {
      const { got, d } = await run(name);
      const rep = icmpFrom(got, ECHO_REPLY);
      expect(rep).toHaveLength(1);
      expect(rep[0]).toMatchObject({ dst: env.kernel6, hlim: 64 });
      expect(rep[0]!.word).toBe(echoWord(seq));
      expect(only(d, ['icmp6x.echoAnswered', 'ip6x.hopLimitZero'])).toEqual({ 'icmp6x.echoAnswered': 1, 'ip6x.hopLimitZero': hlim === 0 ? 1 : 0 });
    });
  }

  test('payload length 100 bytes past the end of the packet: a counted length error', async () => {
    const { got, d } = await run('plen-long');
    expect(icmpFrom(got, ECHO_REPLY)).toHaveLength(0);
    // (ip6.recv and ip6.drop may also count the kernel's own MLD reports: not asserted.)
    expect(only(d, ['ip6.lenerr', 'ip6x.extHeaderDrops', 'icmp6.recv'])).toEqual({ 'ip6.lenerr': 1, 'ip6x.extHeaderDrops': 0, 'icmp6.recv': 0 });
  });

  test('payload length shorter than the extension header it starts with: a counted drop', async () => {
    const { got, d } = await run('plen-short');
    expect(got.filter((g) => g.nh === 58 && (g.type === ECHO_REPLY || g.type === PARAM_PROBLEM))).toHaveLength(0);
    expect(only(d, ['ip6x.malformedExt', 'ip6x.extHeaderDrops', 'ip6.lenerr', 'icmp6.recv'])).toEqual({
      'ip6x.malformedExt': 1,
      'ip6x.extHeaderDrops': 1,
      'ip6.lenerr': 1,
      'icmp6.recv': 0,
    });
  });

  for (const name of ['ns255', 'ns255-solicited-node'] as const) {
    test(`neighbour solicitation for tsip6 with hop limit 255 (${name === 'ns255' ? 'unicast' : 'to the solicited-node group'}): a solicited NA`, async () => {
      const { got, d } = await run(name);
      const na = icmpFrom(got, NA);
      expect(na).toHaveLength(1);
      expect(na[0]).toMatchObject({ src: env.tsip6, dst: env.kernel6, hlim: 255, code: 0 });
      // R 0, S 1, O 1; then the target.
      expect(na[0]!.word! >>> 29).toBe(0b011);
      expect(na[0]!.target).toBe(env.tsip6);
      expect(only(d, ['icmp6x.nsReceived', 'icmp6x.ndSolicitsAnswered', 'icmp6x.nsIgnored'])).toEqual({
        'icmp6x.nsReceived': 1,
        'icmp6x.ndSolicitsAnswered': 1,
        'icmp6x.nsIgnored': 0,
      });
    });
  }

  test('duplicate address detection (NS from :: to the solicited-node group): an unsolicited NA to ff02::1', async () => {
    const { got, d } = await run('ns-dad');
    const na = icmpFrom(got, NA);
    expect(na).toHaveLength(1);
    expect(na[0]).toMatchObject({ src: env.tsip6, dst: 'ff02::1', hlim: 255, target: env.tsip6 });
    expect(na[0]!.word! >>> 29).toBe(0b001); // R 0, S 0, O 1 (RFC 4861 §7.2.4)
    expect(only(d, ['icmp6x.nsReceived', 'icmp6x.ndSolicitsAnswered'])).toEqual({ 'icmp6x.nsReceived': 1, 'icmp6x.ndSolicitsAnswered': 1 });
  });

  test('NS from :: to a unicast address: ignored (RFC 4861 §7.1.1)', async () => {
    const { got, d } = await run('ns-dad-unicast');
    expect(icmpFrom(got, NA)).toHaveLength(0);
    expect(only(d, ['icmp6x.nsReceived', 'icmp6x.nsIgnored', 'icmp6x.ndSolicitsAnswered'])).toEqual({ 'icmp6x.nsReceived': 1, 'icmp6x.nsIgnored': 1, 'icmp6x.ndSolicitsAnswered': 0 });
  });

  test('neighbour solicitation with hop limit 64: ignored (RFC 4861 §7.1.1)', async () => {
    const { got, d } = await run('ns64');
    expect(icmpFrom(got, NA)).toHaveLength(0);
    expect(only(d, ['icmp6x.nsReceived', 'icmp6x.ndSolicitsAnswered', 'icmp6x.nsIgnored'])).toEqual({
      'icmp6x.nsReceived': 1,
      'icmp6x.ndSolicitsAnswered': 0,
      'icmp6x.nsIgnored': 1,
    });
  });

  test('UDP over IPv6 with checksum 0: dropped, counted in udp.chkerr (RFC 8200 §8.1); the same with a checksum reaches UDP (port unreachable)', async () => {
    const zero = await run('udp-csum0');
    expect(zero.got.filter((g) => g.nh === 17 || g.type === DEST_UNREACHABLE)).toHaveLength(0);
    expect(only(zero.d, ['udp.recv', 'udp.chkerr', 'udp.drop', 'icmp6x.errorsSent'])).toEqual({ 'udp.recv': 1, 'udp.chkerr': 1, 'udp.drop': 1, 'icmp6x.errorsSent': 0 });
    // The control: nobody listens on 33333, so a datagram that passes the checks is answered with port unreachable.
    const ok = await run('udp-csum-ok');
    const unr = icmpFrom(ok.got, DEST_UNREACHABLE);
    expect(unr).toHaveLength(1);
    expect(unr[0]).toMatchObject({ code: 4, dst: env.kernel6 });
    expect(unr[0]!.body).toBe(ok.sent[0]);
    expect(only(ok.d, ['udp.recv', 'udp.chkerr', 'icmp6x.errorsSent'])).toEqual({ 'udp.recv': 1, 'udp.chkerr': 0, 'icmp6x.errorsSent': 1 });
  });

  test('after all of that: curl -6 downloads the right bytes, no internal error, the pool back to its baseline', async () => {
    // The built-in HTTP service, which listens on both families ('::', dual).
    const http = env.services.list.find((x) => x.name === 'http')!.counters;
    const before = http.accepted;
    const dl = await env.sh(`curl -6 -s -S -m 20 'http://[${env.tsip6}]/bytes/100000' | sha256sum`, { timeoutMs: 25_000 });
    expect(dl.stdout.toString().slice(0, 64), dl.stderr).toBe(generatedSha256(100_000));
    expect(http.accepted).toBe(before + 1);
    // The overlapping datagram's entry waits out the (2 s) reassembly timeout; connections close.
    expect(await waitFor(() => env.stack.pool.stats.bytesInUse <= baseline && env.stack.ip6.reassembler.pending === 0, 10_000, 100), `pool ${env.stack.pool.stats.bytesInUse} > ${baseline}`).toBe(true);
    expect(internal).toEqual([]);
  }, 40_000);
});

if (skipTun) test.skip(skipReason, () => {});
