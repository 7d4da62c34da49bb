// Receive coalescing (software GRO) on the TUN receive thread
// (TunOptions.rxCoalesce, native/tun/gro.h): a run of in-order TCP data
// segments of one connection read back to back is handed to the stack as
// one packet of up to 64 KiB, lengths and checksums recomputed.
//
// Bulk uploads from the kernel (IPv4, IPv6, two at once, coalescing off):
// the data arrives with the right sha256; a tap on what the stack is handed
// sees valid packets (parseSent checks the IP and TCP checksums), larger
// than the MTU only with coalescing on; each data segment starts at or
// before the end of what came before (no hole) and carries the file's bytes
// at its offset, the new bytes in order hash to the file, and the only
// bytes seen twice are ones the kernel says it retransmitted; the thread's
// counts add up (packets read = records handed over + segments merged).
// Then the merge rules, segment by segment: hand-made segments (python3, a
// packet socket) wait in the kernel's queue behind a full ring while the
// JavaScript thread is blocked, so the thread reads them in one burst, and
// the records the stack is handed are exactly the expected groups, and a
// segment with a wrong IPv4 header checksum is never merged (IP input drops
// it, counted). Every namespace is created and deleted here.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TunOptions } from '../../src/netif/tun.ts';
import { AF_INET6 } from '../../src/socket/constants.ts';
import { parseSent } from '../support/tcp.ts';
import { generatedSha256, skipReason, skipTun, startTunEnv, waitFor, type TunEnv } from '../support/tun.ts';

const ACK = 0x10;
const PSH = 0x08;
const FIN = 0x01;
const URG = 0x20;
const CWR = 0x80;
const SYN = 0x02;

/** One upload (to one local port) as the tap saw it. */
interface FlowSeen {
  /** The SYN's sequence number: data byte k of the file has sequence number isn + 1 + k. */
  isn: number;
  /** How much of the file has come in order (the offset the next new byte has). */
  next: number;
  /** sha256 of the new bytes, in order. */
  hash: Hash;
  /** Data segments that started beyond `next`: a hole (lost or reordered on the way in). */
  holes: string[];
  /** Data segments whose bytes are not the file's at their offset. */
  wrong: string[];
  /** Bytes handed over a second time (the kernel's retransmissions). */
  dupBytes: number;
  /** Packets larger than the MTU (merged). */
  overMtu: number;
}

/**
 * A tap on the TCP packets the stack is handed for uploads of `files` (by
 * local port): each one parsed with parseSent (throws on a wrong IP header
 * or TCP checksum: counted in `bad`), sizes recorded; each data segment's
 * bytes compared with the file's at its offset, the new ones hashed as they
 * come.
 */
function uploadTap(files: Map<number, Uint8Array>) {
  const r = {
    packets: 0,
    maxLen: 0,
    overMtu: 0,
    bad: 0,
    firstBad: '',
    flows: new Map<number, FlowSeen>(),
    tap: (_dir: 'in' | 'out', _b: Uint8Array): void => {},
  };
  r.tap = (dir, b) => {
    if (dir !== 'in') return;
    const v = b[0]! >> 4;
    const l3 = v === 4 ? (b[0]! & 15) * 4 : 40;
    if (v === 4 ? b[9] !== 6 : v !== 6 || b[6] !== 6) return;
    if (b.length < l3 + 20) return;
    const file = files.get((b[l3 + 2]! << 8) | b[l3 + 3]!);
    if (file === undefined) return;
    r.packets++;
    r.maxLen = Math.max(r.maxLen, b.length);
    if (b.length > 1500) r.overMtu++;
    let s;
    try {
      s = parseSent(b);
    } catch (err) {
      if (r.bad++ === 0) r.firstBad = `${(err as Error).message} (${b.length} bytes)`;
      return;
    }
    let f = r.flows.get(s.tcp.dstPort);
    if (s.flags & SYN) {
      f = { isn: s.seq, next: 0, hash: createHash('sha256'), holes: [], wrong: [], dupBytes: 0, overMtu: 0 };
      r.flows.set(s.tcp.dstPort, f);
      return;
    }
    if (f === undefined || s.data.length === 0) return;
    if (b.length > 1500) f.overMtu++;
    const off = (s.seq - f.isn - 1) >>> 0;
    const len = s.data.length;
    if (off > f.next) {
      if (f.holes.length < 5) f.holes.push(`offset ${off} len ${len}, expected ${f.next}`);
      return;
    }
    if (off + len > file.length || Buffer.compare(s.data, file.subarray(off, off + len)) !== 0) {
      if (f.wrong.length < 5) f.wrong.push(`offset ${off} len ${len}`);
      return;
    }
    const fresh = off + len - f.next;
    f.dupBytes += fresh > 0 ? len - fresh : len;
    if (fresh > 0) {
      f.hash.update(s.data.subarray(len - fresh));
      f.next += fresh;
    }
  };
  return r;
}

type UploadTap = ReturnType<typeof uploadTap>;

/** A listener on `port` (IPv4 or IPv6 any address). */
function listen(e: TunEnv, port: number, six: boolean) {
  const ls = six ? e.stack.socket(AF_INET6) : e.stack.socket();
  ls.bind(six ? ['::', port, 0, 0] : ['0.0.0.0', port]);
  ls.listen(1);
  ls.settimeout(30); // accept() fails rather than hangs if the sender never connects
  return ls;
}

/** socat sends `file` to tsip's `port`; what the accepted socket reads, its length and sha256. */
async function upload(e: TunEnv, port: number, file: string, six: boolean): Promise<{ got: number; sha: string; code: number | null; stderr: string }> {
  const ls = listen(e, port, six);
  const target = six ? `TCP6:[${e.tsip6!}]:${port}` : `TCP:${e.tsip}:${port}`;
  const sender = e.exec(['socat', '-u', `FILE:${file}`, target], { timeoutMs: 40_000 });
  const [s] = await ls.accept();
  s.settimeout(40);
  const why = (): string => `dev ${JSON.stringify(e.dev.counters)} rx ${JSON.stringify(e.dev.rxThreadStats())} tcp ${JSON.stringify(e.stack.tcp.counters)}`;
  const watchdog = setTimeout(() => console.error(`upload to ${port} stalled? ${why()}`), 15_000);
  const h = createHash('sha256');
  let got = 0;
  try {
    for (;;) {
      const d = await s.recv(65536);
      if (d.length === 0) break;
      h.update(d);
      got += d.length;
    }
  } finally {
    clearTimeout(watchdog);
    s.close();
    ls.close();
  }
  const r = await sender;
  return { got, sha: h.digest('hex'), code: r.code, stderr: r.stderr };
}

/** The thread's counts add up once the ring is drained: every packet read was handed over as a record or merged into one. */
async function expectCountsAddUp(e: TunEnv): Promise<void> {
  const sum = () => {
    const st = e.dev.rxThreadStats()!;
    return { packets: st.packets, records: e.dev.counters.rxRing, coalesced: st.coalesced, queued: st.queuedBytes };
  };
  await waitFor(() => {
    const c = sum();
    return c.queued === 0 && c.packets === c.records + c.coalesced;
  }, 3000);
  const c = sum();
  expect(c.packets, JSON.stringify(c)).toBe(c.records + c.coalesced);
  // rxThreadEngage 0: every packet came through the ring.
  expect(e.dev.counters.rxRing).toBe(e.dev.counters.rxPackets);
}

/** TCP segments the kernel in the namespace retransmitted (/proc/net/snmp: Tcp RetransSegs). */
async function kernelRetransSegs(e: TunEnv): Promise<number> {
  const r = await e.exec(['cat', '/proc/net/snmp'], { timeoutMs: 5000 });
  const [names, values] = r.stdout
    .toString()
    .split('\n')
    .filter((l) => l.startsWith('Tcp:'))
    .map((l) => l.split(/\s+/));
  const i = names!.indexOf('RetransSegs');
  expect(i, r.stderr).toBeGreaterThan(0);
  return Number(values![i]);
}

/**
 * The upload to `port` as the tap saw it: every data segment began at or
 * before the end of what had come (no hole: nothing lost or reordered on
 * the way in) and carried the file's bytes at its offset; in order they
 * make up the whole file (sha256); the only bytes seen twice are the
 * kernel's retransmissions (it resends what tsip's TCP dropped before
 * accept() returned, and a tail loss probe when an ACK is late), at most
 * one MSS per retransmitted segment.
 */
function expectFlow(t: UploadTap, port: number, n: number, sha: string, retrans: number, mss: number): void {
  const f = t.flows.get(port);
  expect(f, `flows seen: ${[...t.flows.keys()].join(', ')}`).toBeDefined();
  expect(f!.holes, 'data segments beyond what had come').toEqual([]);
  expect(f!.wrong, "data segments whose bytes are not the file's").toEqual([]);
  expect(f!.next).toBe(n);
  expect(f!.hash.digest('hex')).toBe(sha);
  expect(f!.dupBytes, `bytes seen twice; the kernel retransmitted ${retrans} segments`).toBeLessThanOrEqual(retrans * mss);
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

// ---------------------------------------------------------------------------
// The merge rules, packet by packet.

/** A hand-made segment from the kernel's address to tsip's CRAFT_PORT (no listener: tsip answers RST). */
interface Crafted {
  sport: number;
  seq: number;
  len: number;
  flags?: number;
  win?: number;
  ack?: number;
  ttl?: number;
  tos?: number;
  /** TCP timestamp option (NOP NOP TS val 0) with this value. */
  ts?: number;
  /** IPv4 header with 4 option bytes (NOP NOP NOP EOL): IHL 6. */
  ipOpts?: boolean;
  /** The TCP checksum XOR 0x5555. */
  badCsum?: boolean;
  /** The IPv4 header checksum XOR 0x5555. */
  badIpCsum?: boolean;
}

const CRAFT_PORT = 5999;
const FILL_PORT = 5998;
const A = 40000;
const B = 40001;
const C = 40002;
const D = 40003;
const seg = (sport: number, seq: number, len: number, o: Omit<Crafted, 'sport' | 'seq' | 'len'> = {}): Crafted => ({ sport, seq, len, ...o });

/**
 * The segments in the order sent, grouped into the records the stack must
 * be handed: each group is one record (its segments merged). Each boundary
 * between groups comes from one rule: the segment after it differs from the
 * run before it in that one respect, or one side of it is a segment that
 * never merges (another flow's, a pure ACK, a FIN, a wrong checksum, IP
 * options). Defaults: flags ACK, ack 7777, window 5000, TTL 64, TOS 0, no
 * options.
 */
const GROUPS: [string, Crafted[]][] = [
  ['two in-order segments merge', [seg(A, 1000, 100), seg(A, 1100, 100)]],
  ["another flow's segment in between ends A's run", [seg(B, 5000, 50)]],
  ['a PSH segment is merged and ends the run', [seg(A, 1200, 100), seg(A, 1300, 100, { flags: ACK | PSH })]],
  ['after a PSH: a new record', [seg(A, 1400, 100)]],
  ['a gap in sequence (1500 missing)', [seg(A, 1600, 100)]],
  ['a wrong TCP checksum: never merged, handed over unchanged', [seg(A, 1700, 100, { badCsum: true })]],
  ['a segment before a window change', [seg(A, 1800, 100)]],
  ['a different window ends the run; equal windows merge', [seg(A, 1900, 100, { win: 1000 }), seg(A, 2000, 100, { win: 1000 })]],
  ['a pure ACK is not merged (and ends the run)', [seg(A, 2100, 0, { win: 1000 })]],
  ['a segment before a FIN', [seg(A, 2100, 100, { win: 1000 })]],
  ['a FIN segment is not merged', [seg(A, 2200, 100, { win: 1000, flags: ACK | FIN })]],
  ['odd lengths merge (payloads at odd offsets): checksum still right', [seg(A, 2300, 101), seg(A, 2401, 100), seg(A, 2501, 99), seg(A, 2600, 1)]],
  ['equal timestamp options merge (a header length change ends the run)', [seg(A, 2601, 100, { ts: 7 }), seg(A, 2701, 100, { ts: 7 })]],
  ['a different timestamp value ends the run', [seg(A, 2801, 100, { ts: 8 })]],
  ['a different TTL', [seg(A, 2901, 100, { ts: 8, ttl: 63 })]],
  ['a different ACK number', [seg(A, 3001, 100, { ts: 8, ttl: 63, ack: 7778 })]],
  ['a different TOS; then equal fields merge again', [seg(A, 3101, 100, { ts: 8, ttl: 63, ack: 7778, tos: 0x20 }), seg(A, 3201, 100, { ts: 8, ttl: 63, ack: 7778, tos: 0x20 })]],
  ['IPv4 options: never merged', [seg(A, 3301, 100, { ts: 8, ttl: 63, ack: 7778, tos: 0x20, ipOpts: true })]],
  ['after it, a run again', [seg(A, 3401, 100, { ts: 8, ttl: 63, ack: 7778, tos: 0x20 }), seg(A, 3501, 100, { ts: 8, ttl: 63, ack: 7778, tos: 0x20, flags: ACK | PSH })]],
  // 40 + 45 * 1448 + 335 = 65535: the largest packet, exactly; one byte more starts a new run.
  ['merged up to 65535 bytes exactly', [...Array.from({ length: 45 }, (_, i) => seg(C, 100_000 + i * 1448, 1448)), seg(C, 100_000 + 45 * 1448, 335)]],
  ['a segment that would make it 65536: a new run', [seg(C, 100_000 + 45 * 1448 + 335, 1), seg(C, 100_000 + 45 * 1448 + 336, 100)]],
  ['another flow: a segment before URG', [seg(D, 7000, 100)]],
  ['URG: not merged', [seg(D, 7100, 100, { flags: ACK | URG })]],
  ['a segment before CWR', [seg(D, 7200, 100)]],
  ['CWR: not merged', [seg(D, 7300, 100, { flags: ACK | CWR })]],
];

/**
 * A wrong IPv4 header checksum, in a run and first in a run: tsip's IPv4
 * input drops such a packet (chkerr), so GRO must not merge it (Linux's
 * inet_gro_receive checks ip_fast_csum and flushes) and hand it over
 * as it came.
 */
const BAD_IP_GROUPS: [string, Crafted[]][] = [
  ['a segment before one with a wrong IPv4 header checksum', [seg(A, 1000, 100)]],
  ['a wrong IPv4 header checksum in a run: not merged', [seg(A, 1100, 100, { badIpCsum: true })]],
  ['a segment after it', [seg(A, 1200, 100, { flags: ACK | PSH })]],
  ['a wrong IPv4 header checksum first: not merged', [seg(B, 5000, 100, { badIpCsum: true })]],
  ['a segment after it', [seg(B, 5100, 100)]],
];

/** Byte k of the segment with sequence number s. */
const patternByte = (s: number, k: number): number => (s + k) & 255;

// Both scripts' RFC 1071 checksum and filler datagrams (nfill of 1400
// bytes to UDP port fport at dst: they fill the ring or the kernel's queue).
const PY_CSUM_AND_FILL = `def csum(b):
    if len(b) % 2: b += b'\\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(nfill):
    u.sendto(bytes(1400), (dst, fport))`;

// First nfill UDP datagrams of 1400 bytes to a closed port on tsip (they
// fill the 256 KiB ring: the thread stops reading, the rest waits in the
// kernel's queue), then the crafted segments (JSON in argv) behind them,
// written to the device as they are (a packet socket: no IP header field
// filled in or checked by the kernel).
const PY_CRAFT = `
import json, socket, struct, sys
dev, src, dst, nfill, fport, cport, segs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), json.loads(sys.argv[7])
${PY_CSUM_AND_FILL}
r = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
r.bind((dev, 0x0800))
sa, da = socket.inet_aton(src), socket.inet_aton(dst)
for i, g in enumerate(segs):
    seq = g['seq']
    opts = b'' if g.get('ts') is None else b'\\x01\\x01\\x08\\x0a' + struct.pack('!II', g['ts'], 0)
    pay = bytes((seq + k) & 255 for k in range(g['len']))
    thl = 20 + len(opts)
    tcp = struct.pack('!HHIIBBHHH', g['sport'], cport, seq, g.get('ack', 7777), (thl // 4) << 4, g.get('flags', 0x10), g.get('win', 5000), 0, 0) + opts + pay
    c = csum(sa + da + struct.pack('!BBH', 0, 6, len(tcp)) + tcp)
    if g.get('badCsum'): c ^= 0x5555
    tcp = tcp[:16] + struct.pack('!H', c) + tcp[18:]
    ipo = b'\\x01\\x01\\x01\\x00' if g.get('ipOpts') else b''
    ip = struct.pack('!BBHHHBBH4s4s', 0x40 | (5 + len(ipo) // 4), g.get('tos', 0), 20 + len(ipo) + len(tcp), 1000 + i, 0x4000, g.get('ttl', 64), 6, 0, sa, da) + ipo
    ic = csum(ip)
    if g.get('badIpCsum'): ic ^= 0x5555
    ip = ip[:10] + struct.pack('!H', ic) + ip[12:]
    r.sendto(ip + tcp, (dev, 0x0800))
print('sent', nfill, len(segs))
`;

// Hostile input for the receive thread's parser: nfill filler datagrams
// (the ring fills, the thread stops), then n packets from a seeded mix:
// runs of valid in-order segments (IPv4 and IPv6) to merge, each packet
// mangled with some probability: truncated, a header byte overwritten
// (version, IHL, lengths, flags, data offset, checksums...), lengths that
// claim more than there is, or random bytes. Written to the device as they
// are (a packet socket), read back to back by the thread.
const PY_FUZZ = `
import random, socket, struct, sys
dev, src, dst, src6, dst6, nfill, fport, cport, n, seed = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9]), int(sys.argv[10])
rnd = random.Random(seed)
${PY_CSUM_AND_FILL}
r4 = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
r4.bind((dev, 0x0800))
r6 = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x86dd))
r6.bind((dev, 0x86dd))
sa, da = socket.inet_aton(src), socket.inet_aton(dst)
sa6, da6 = socket.inet_pton(socket.AF_INET6, src6), socket.inet_pton(socket.AF_INET6, dst6)
seqs = {}
for i in range(n):
    six = rnd.random() < 0.3
    sport = 41000 + rnd.randrange(3)
    seq = seqs.get((six, sport), 1000)
    ln = rnd.choice([0, 1, 7, 100, 101, 1000, 1400])
    opts = b'' if rnd.random() < 0.5 else b'\\x01\\x01\\x08\\x0a' + struct.pack('!II', 5, 0)
    flags = 0x10 if rnd.random() < 0.8 else rnd.randrange(256)
    pay = bytes((seq + k) & 255 for k in range(ln))
    thl = 20 + len(opts)
    tcp = struct.pack('!HHIIBBHHH', sport, cport, seq, 7777, (thl // 4) << 4, flags, 5000, 0, 0) + opts + pay
    if six:
        c = csum(sa6 + da6 + struct.pack('!IxxxB', len(tcp), 6) + tcp)
        tcp = tcp[:16] + struct.pack('!H', c) + tcp[18:]
        pkt = struct.pack('!IHBB16s16s', 0x60000000, len(tcp), 6, 64, sa6, da6) + tcp
    else:
        c = csum(sa + da + struct.pack('!BBH', 0, 6, len(tcp)) + tcp)
        tcp = tcp[:16] + struct.pack('!H', c) + tcp[18:]
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), i & 0xffff, 0x4000, 64, 6, 0, sa, da)
        ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
        pkt = ip + tcp
    seqs[(six, sport)] = seq + ln
    b = bytearray(pkt)
    x = rnd.random()
    if x < 0.1:
        b = b[:rnd.randrange(len(b) + 1)]
    elif x < 0.3:
        for _ in range(rnd.randrange(1, 4)):
            k = rnd.randrange(min(len(b), 80))
            b[k] = rnd.randrange(256)
    elif x < 0.35:
        b = bytearray(rnd.randbytes(rnd.randrange(1, 200)))
    elif x < 0.4 and not six:
        b[2:4] = struct.pack('!H', rnd.randrange(65536))
    if len(b) == 0:
        continue
    (r6 if six else r4).sendto(bytes(b), (dev, 0x86dd if six else 0x0800))
print('sent')
`;

/** Ones'-complement sum of big-endian 16-bit words, folded. */
function sum16(b: Uint8Array, off: number, n: number, s = 0): number {
  for (let i = 0; i + 1 < n; i += 2) s += (b[off + i]! << 8) | b[off + i + 1]!;
  if (n & 1) s += b[off + n - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The right TCP checksum of an IPv4 packet's segment (its checksum field taken as 0). */
function rightTcpChecksum(b: Uint8Array): number {
  const l3 = (b[0]! & 15) * 4;
  const l4 = ((b[2]! << 8) | b[3]!) - l3;
  const c = b.slice();
  c[l3 + 16] = c[l3 + 17] = 0;
  return ~sum16(c, l3, l4, sum16(c, 12, 8) + 6 + l4) & 0xffff;
}

/** The stored TCP checksum of an IPv4 packet. */
const tcpChecksumField = (b: Uint8Array): number => {
  const l3 = (b[0]! & 15) * 4;
  return (b[l3 + 16]! << 8) | b[l3 + 17]!;
};

/**
 * Send `groups`' segments to tsip in one burst the receive thread reads
 * (behind a full ring, the JavaScript thread blocked) and check that the
 * records the stack is handed are exactly the groups, merged right.
 */
async function craftedBurst(groups: [string, Crafted[]][], reader: 'thread' | 'js' = 'thread'): Promise<void> {
  const thread = reader === 'thread';
  const seen: Uint8Array[] = [];
  let fillers = 0;
  const tap: NonNullable<TunOptions['tap']> = (dir, b) => {
    if (dir !== 'in' || b[0]! >> 4 !== 4) return;
    const l3 = (b[0]! & 15) * 4;
    const dport = (b[l3 + 2]! << 8) | b[l3 + 3]!;
    if (b[9] === 6 && dport === CRAFT_PORT) seen.push(b.slice());
    else if (b[9] === 17 && dport === FILL_PORT) fillers++;
  };
  // A 256 KiB ring; JavaScript takes all of it in its first batch once unblocked (batch limits above what the ring holds).
  // Without the thread, the kernel's queue holds the burst and one batch of reads on the JavaScript thread takes it.
  const e = startTunEnv({ tun: { rxThread: thread, rxThreadEngage: 0, rxRingBytes: 256 * 1024, rxCoalesce: true, batch: 1024, batchBytes: 1 << 20, tap } });
  const coalesced = (): number => (thread ? e.dev.rxThreadStats()!.coalesced : e.dev.counters.rxCoalesced);
  try {
    const segs = groups.flatMap(([, g]) => g);
    // The thread stops reading after 138 of these (138 records of 1432
    // bytes and room for a largest packet no longer fit). Once JavaScript
    // has taken those, it has ~129 KiB before it would stop again: for the
    // 12 datagrams left in the kernel's queue (17 KiB) and the segments
    // (~75 KiB at most), all read in one burst.
    const nfill = 150;
    if (thread) expect(e.dev.rxThreadStats()!.packets, 'the ring is empty and unused before').toBe(0);
    // Block this thread while the datagrams fill the ring (the receive
    // thread stops reading) and the crafted segments queue behind them.
    const r = spawnSync('ip', ['netns', 'exec', e.ns, 'python3', '-c', PY_CRAFT, e.dev.name, e.kernel, e.tsip, String(nfill), String(FILL_PORT), String(CRAFT_PORT), JSON.stringify(segs)], { timeout: 20_000, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    if (thread) expect(e.dev.rxThreadStats()!.fullStalls, 'the ring filled while JavaScript was blocked').toBeGreaterThan(0);
    await waitFor(() => fillers === nfill && seen.length >= groups.length, 3000);
    await new Promise((ok) => setTimeout(ok, 50)); // nothing more comes
    expect(fillers).toBe(nfill);
    if (thread) expect(e.dev.rxThreadStats()!.fullStalls, 'the thread stopped once only (not within the burst)').toBe(1);
    else expect(e.dev.counters.rxRing, 'every packet read on the JavaScript thread').toBe(0);
    const desc = (b: Uint8Array): string => {
      const l3 = (b[0]! & 15) * 4;
      const v = new DataView(b.buffer, b.byteOffset);
      return `sport ${v.getUint16(l3)} seq ${v.getUint32(l3 + 4)} len ${b.length - l3 - (b[l3 + 12]! >> 4) * 4}`;
    };
    // The grouping: each record's first segment and merged length.
    expect(seen.map(desc)).toEqual(groups.map(([, g]) => `sport ${g[0]!.sport} seq ${g[0]!.seq} len ${g.reduce((a, s) => a + s.len, 0)}`));
    for (const [i, [what, g]] of groups.entries()) {
      const b = seen[i]!;
      const first = g[0]!;
      const last = g[g.length - 1]!;
      const l3 = (b[0]! & 15) * 4;
      const v = new DataView(b.buffer, b.byteOffset);
      const thl = (b[l3 + 12]! >> 4) * 4;
      const ctx = `${what}: ${desc(b)}`;
      expect(l3, ctx).toBe(first.ipOpts ? 24 : 20);
      expect(v.getUint16(2), ctx).toBe(b.length); // IPv4 total length
      expect(thl, ctx).toBe(first.ts === undefined ? 20 : 32);
      // The payload: the segments' bytes one after the other.
      const want = g.flatMap((s) => Array.from({ length: s.len }, (_, k) => patternByte(s.seq, k)));
      expect(Buffer.from(b.subarray(l3 + thl)).equals(Buffer.from(want)), ctx).toBe(true);
      // Flags: the first segment's, with PSH if the last had it.
      expect(b[l3 + 13], ctx).toBe((first.flags ?? ACK) | ((last.flags ?? ACK) & PSH));
      expect(v.getUint16(l3 + 14), ctx).toBe(first.win ?? 5000);
      expect(v.getUint32(l3 + 8), ctx).toBe(first.ack ?? 7777);
      expect(b[8], ctx).toBe(first.ttl ?? 64);
      expect(b[1], ctx).toBe(first.tos ?? 0);
      if (first.ts !== undefined) expect(v.getUint32(l3 + 24), ctx).toBe(first.ts);
      if (first.badCsum || first.badIpCsum) {
        // Handed over as it came: the wrong checksum still the wrong one.
        expect(g.length).toBe(1);
        expect(() => parseSent(b), ctx).toThrow(/checksum/i);
        if (first.badCsum) expect(tcpChecksumField(b), ctx).toBe(rightTcpChecksum(b) ^ 0x5555);
        if (first.badIpCsum) expect(sum16(b, 0, l3), ctx).not.toBe(0xffff);
      } else if (first.ipOpts) {
        // parseSent takes no IP options: the checksums by hand.
        expect(sum16(b, 0, l3), ctx).toBe(0xffff);
        expect(tcpChecksumField(b), ctx).toBe(rightTcpChecksum(b));
      } else {
        // Lengths, IPv4 header checksum and TCP checksum right (merged: recomputed).
        expect(() => parseSent(b), ctx).not.toThrow();
      }
    }
    // The checksums the thread vouched for were right: tsip's IP and TCP
    // input found exactly the wrong ones the burst carried.
    expect(e.stack.stats.ip.chkerr, 'IPv4 header checksum errors').toBe(segs.filter((s) => s.badIpCsum).length);
    expect(e.stack.tcp.counters.inErrs, 'TCP checksum errors').toBe(segs.filter((s) => s.badCsum).length);
    expect(coalesced()).toBe(segs.length - groups.length);
    if (thread) await expectCountsAddUp(e);
  } finally {
    e.close();
  }
  e.stack.pool.assertEmpty();
}

describe.skipIf(skipTun)('TUN receive coalescing (GRO)', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsip-gro-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const file = (name: string, n: number): { path: string; data: Buffer; sha: string } => {
    const data = randomBytes(n);
    const path = join(dir, name);
    writeFileSync(path, data);
    return { path, data, sha: sha256(data) };
  };

  /**
   * One upload of `n` random bytes from the kernel to port 5001, over a
   * device with `tun` options and a tap that checks every packet handed to
   * the stack; asserts it arrived whole, runs `check`, closes, and asserts
   * the pool empty.
   */
  const uploadOnce = async (
    name: string,
    n: number,
    six: boolean,
    tun: NonNullable<Parameters<typeof startTunEnv>[0]>['tun'],
    check: (e: TunEnv, t: UploadTap, f: { sha: string }) => Promise<void>,
  ): Promise<void> => {
    const port = 5001;
    const f = file(name, n);
    const t = uploadTap(new Map([[port, f.data]]));
    const e = startTunEnv({ ipv6: six, tun: { ...tun, tap: t.tap } });
    try {
      const r = await upload(e, port, f.path, six);
      expect(r.code, r.stderr).toBe(0);
      expect(r.got).toBe(n);
      expect(r.sha).toBe(f.sha);
      expect(t.bad, t.firstBad).toBe(0);
      await check(e, t, f);
    } finally {
      e.close();
    }
    e.stack.pool.assertEmpty();
  };

  for (const six of [false, true]) {
    test(`a 20 MB upload from the kernel over IPv${six ? 6 : 4}: sha256 matches; the stack is handed merged packets (> MTU, ≤ 64 KiB), each valid, in order, with the file's bytes; counts add up`, () =>
      uploadOnce(`up${six ? 6 : 4}.bin`, 20_000_000, six, { rxThread: true, rxThreadEngage: 0, rxCoalesce: true }, async (e, t, f) => {
        const n = 20_000_000;
        expect(e.dev.rxThreadStats()!.coalesced).toBeGreaterThan(0);
        await expectCountsAddUp(e);
        expect(e.dev.counters.rxDrops).toBe(0);
        expect(t.overMtu).toBeGreaterThan(0);
        expect(t.maxLen).toBeLessThanOrEqual(65535);
        // Most of the upload came merged: far fewer records than MSS-sized segments.
        expect(t.packets).toBeLessThan(n / 1448 / 2);
        expectFlow(t, 5001, n, f.sha, await kernelRetransSegs(e), six ? 1428 : 1448);
      }), 60_000);
  }

  test('without the receive thread, batches of reads on the JavaScript thread merge too: a 20 MB upload over IPv4, sha256 right, merged packets valid and in order', () =>
    uploadOnce('up-js.bin', 20_000_000, false, { rxThread: false, rxCoalesce: true }, async (e, t, f) => {
      expect(e.dev.rxThreadStats()).toBeNull();
      expect(e.dev.counters.rxCoalesced).toBeGreaterThan(0);
      expect(e.dev.counters.rxDrops).toBe(0);
      expect(t.overMtu).toBeGreaterThan(0);
      expect(t.maxLen).toBeLessThanOrEqual(65535);
      expectFlow(t, 5001, 20_000_000, f.sha, await kernelRetransSegs(e), 1448);
    }), 60_000);

  test('rxCoalesce: false: a 5 MB upload arrives intact, nothing merged, no packet above the MTU', () =>
    uploadOnce('up-off.bin', 5_000_000, false, { rxThread: true, rxThreadEngage: 0, rxCoalesce: false }, async (e, t, f) => {
      await expectCountsAddUp(e);
      const st = e.dev.rxThreadStats()!;
      expect(st.coalesced).toBe(0);
      expect(e.dev.counters.rxCoalesced).toBe(0);
      expect(st.packets).toBe(e.dev.counters.rxRing);
      expect(t.overMtu).toBe(0);
      expect(t.maxLen).toBeLessThanOrEqual(1500);
      expect(t.packets).toBeGreaterThan(5_000_000 / 1448);
      expectFlow(t, 5001, 5_000_000, f.sha, await kernelRetransSegs(e), 1448);
    }), 40_000);

  test('with a filter, neither coalescing nor segmentation: the filter sees every packet as it came and went, none above the MTU', async () => {
    const port = 5001;
    const n = 5_000_000;
    const f = file('up-filter.bin', n);
    let maxIn = 0;
    let maxOut = 0;
    const filter = (dir: 'in' | 'out', b: Uint8Array): boolean => {
      if (dir === 'in') maxIn = Math.max(maxIn, b.length);
      else maxOut = Math.max(maxOut, b.length);
      return true;
    };
    const e = startTunEnv({ filter, tun: { rxThread: true, rxThreadEngage: 0, rxCoalesce: true, txThread: true, txSegmentation: true } });
    try {
      expect(e.dev.txGso).toBe(false);
      const r = await upload(e, port, f.path, false);
      expect(r.code, r.stderr).toBe(0);
      expect(r.sha).toBe(f.sha);
      const d = await e.sh(`curl -s -S -m 20 http://${e.tsip}/bytes/2000000 | sha256sum`, { timeoutMs: 25_000 });
      expect(d.stdout.toString().split(' ')[0], d.stderr).toBe(generatedSha256(2_000_000));
      expect(e.dev.rxThreadStats()!.coalesced).toBe(0);
      expect(e.dev.counters.rxCoalesced).toBe(0);
      expect(e.dev.counters.txGsoNative).toBe(0);
      expect(maxIn).toBeLessThanOrEqual(1500);
      expect(maxOut).toBeLessThanOrEqual(1500);
    } finally {
      e.close();
    }
    e.stack.pool.assertEmpty();
  }, 40_000);

  test('a merged run is ACKed as its segments would be (at once, not after the delayed-ACK timer): 1548-byte writes to discard make the kernel resend nothing', async () => {
    const e = startTunEnv({ tun: { rxThread: true, rxThreadEngage: 0, rxCoalesce: true } });
    try {
      // One connection; every 60 ms a write of 1548 bytes (a full segment
      // and a small one), 15 times. tsip answers nothing but ACKs: if a
      // merged pair waited 40 ms for its ACK, Linux's loss probe (2 SRTT,
      // at least 10 ms) would resend its tail.
      const py = 'import socket,time,sys\ns=socket.create_connection((sys.argv[1],9))\nfor i in range(15):\n    s.sendall(bytes(1548)); time.sleep(0.06)\ns.close()\n';
      const before = await kernelRetransSegs(e);
      const r = await e.exec(['python3', '-c', py, e.tsip], { timeoutMs: 20_000 });
      expect(r.code, r.stderr).toBe(0);
      await new Promise((ok) => setTimeout(ok, 100));
      expect(e.dev.rxThreadStats()!.coalesced, 'the pairs were merged').toBeGreaterThan(0);
      expect(await kernelRetransSegs(e) - before).toBe(0);
    } finally {
      e.close();
    }
    e.stack.pool.assertEmpty();
  }, 40_000);

  test('two uploads at once (two connections to two listeners): both intact and in order, merged packets', async () => {
    const ports = [5001, 5002];
    const n = 10_000_000;
    const fs = ports.map((p) => file(`up-two-${p}.bin`, n));
    const t = uploadTap(new Map(ports.map((p, i) => [p, fs[i]!.data])));
    const e = startTunEnv({ tun: { rxThread: true, rxThreadEngage: 0, rxCoalesce: true, tap: t.tap } });
    try {
      const rs = await Promise.all(ports.map((p, i) => upload(e, p, fs[i]!.path, false)));
      for (const [i, r] of rs.entries()) {
        expect(r.code, r.stderr).toBe(0);
        expect(r.got).toBe(n);
        expect(r.sha).toBe(fs[i]!.sha);
      }
      expect(e.dev.rxThreadStats()!.coalesced).toBeGreaterThan(0);
      await expectCountsAddUp(e);
      expect(t.bad, t.firstBad).toBe(0);
      expect(t.overMtu).toBeGreaterThan(0);
      expect(t.maxLen).toBeLessThanOrEqual(65535);
      expect(t.flows.size).toBe(2);
      const retrans = await kernelRetransSegs(e);
      for (const [i, p] of ports.entries()) {
        expectFlow(t, p, n, fs[i]!.sha, retrans, 1448);
        expect(t.flows.get(p)!.overMtu, `merged packets of the upload to ${p}`).toBeGreaterThan(0);
      }
    } finally {
      e.close();
    }
    e.stack.pool.assertEmpty();
  }, 60_000);

  test('the merge rules, segment by segment: hand-made segments read in one burst are handed over in exactly the expected groups', () => craftedBurst(GROUPS), 30_000);

  test('the same rules on the JavaScript thread (no receive thread): one batch of reads hands over exactly the expected groups', () => craftedBurst(GROUPS, 'js'), 30_000);

  for (const reader of ['thread', 'js'] as const) {
    test(`hostile bursts (truncated, mangled, lying lengths, random bytes, v4 and v6) read back to back${reader === 'js' ? ' on the JavaScript thread' : ''}: no crash, every merged packet valid, counts add up, the stack still answers`, async () => {
      const thread = reader === 'thread';
      let merged = 0;
      let badMerged = 0;
      const tap: NonNullable<TunOptions['tap']> = (dir, b) => {
        if (dir !== 'in' || b.length <= 1500) return;
        merged++; // the fuzz packets are all smaller: this one was merged
        try {
          parseSent(b);
        } catch {
          badMerged++;
        }
      };
      const e = startTunEnv({ ipv6: true, tun: { rxThread: thread, rxThreadEngage: 0, rxRingBytes: 256 * 1024, rxCoalesce: true, batch: 1024, batchBytes: 1 << 20, tap } });
      try {
        for (const seed of [1, 2, 3]) {
          const r = spawnSync('ip', ['netns', 'exec', e.ns, 'python3', '-c', PY_FUZZ, e.dev.name, e.kernel, e.tsip, e.kernel6!, e.tsip6!, '150', String(FILL_PORT), String(CRAFT_PORT), '400', String(seed)], { timeout: 20_000, encoding: 'utf8' });
          expect(r.status, r.stderr).toBe(0);
          if (thread) await expectCountsAddUp(e);
          else await waitFor(() => merged > 0, 3000);
        }
        expect(e.dev.isClosed).toBe(false);
        expect(thread ? e.dev.rxThreadStats()!.coalesced : e.dev.counters.rxCoalesced).toBeGreaterThan(0);
        expect(merged).toBeGreaterThan(0);
        expect(badMerged).toBe(0);
        // Still a working stack: a TCP exchange with the kernel.
        const d = await e.sh(`curl -s -S -m 10 http://${e.tsip}/bytes/100000 | sha256sum`, { timeoutMs: 15_000 });
        expect(d.stdout.toString().split(' ')[0], d.stderr).toBe(generatedSha256(100_000));
      } finally {
        e.close();
      }
      e.stack.pool.assertEmpty();
    }, 60_000);
  }

  // A merged packet gets a new IPv4 header checksum, so a segment whose own
  // is wrong must never merge (gro.h Inspect): IP input drops it, as without GRO.
  test('a segment with a wrong IPv4 header checksum is not merged and reaches IP input as it came (dropped there)', () => craftedBurst(BAD_IP_GROUPS), 30_000);
  test('… nor on the JavaScript thread', () => craftedBurst(BAD_IP_GROUPS, 'js'), 30_000);
});

if (skipTun) test.skip(skipReason, () => {});
