import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LinkPipeline, TapStage, LatencyStage } from '../../src/sim/link.ts';
import { LINKTYPE_ETHERNET, PcapWriter, readPcap, type PcapFile } from '../../src/sim/pcap.ts';
import { Rng } from '../../src/time/rng.ts';
import { VirtualClock } from '../../src/time/virtual-clock.ts';

function parsed(bytes: Uint8Array): PcapFile {
  const r = readPcap(bytes);
  if (r instanceof Error) throw r;
  return r;
}

/** Rewrite a little-endian microsecond pcap as big-endian (the other byte order). */
function toBigEndian(le: Uint8Array): Uint8Array {
  const out = le.slice();
  const src = new DataView(le.buffer, le.byteOffset, le.byteLength);
  const dst = new DataView(out.buffer);
  dst.setUint32(0, src.getUint32(0, true), false);
  dst.setUint16(4, src.getUint16(4, true), false);
  dst.setUint16(6, src.getUint16(6, true), false);
  for (let k = 8; k < 24; k += 4) dst.setUint32(k, src.getUint32(k, true), false);
  let at = 24;
  while (at < le.length) {
    for (let k = 0; k < 16; k += 4) dst.setUint32(at + k, src.getUint32(at + k, true), false);
    at += 16 + src.getUint32(at + 8, true);
  }
  return out;
}

/** A minimal IPv4/UDP packet 10.0.0.1:1234 -> 10.0.0.2:5678 carrying `payload`. */
function udpPacket(payload: Uint8Array, id: number): Uint8Array {
  const p = new Uint8Array(28 + payload.length);
  const v = new DataView(p.buffer);
  v.setUint8(0, 0x45);
  v.setUint16(2, p.length);
  v.setUint16(4, id);
  v.setUint8(8, 64);
  v.setUint8(9, 17);
  p.set([10, 0, 0, 1, 10, 0, 0, 2], 12);
  let sum = 0;
  for (let k = 0; k < 20; k += 2) sum += v.getUint16(k);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  v.setUint16(10, ~sum & 0xffff);
  v.setUint16(20, 1234);
  v.setUint16(22, 5678);
  v.setUint16(24, 8 + payload.length);
  p.set(payload, 28); // UDP checksum 0: none, allowed over IPv4
  return p;
}

describe('PcapWriter', () => {
  it('writes the libpcap global header byte for byte', () => {
    const w = new PcapWriter();
    // prettier-ignore
    expect([...w.bytes()]).toEqual([
      0xd4, 0xc3, 0xb2, 0xa1, // magic 0xa1b2c3d4, little-endian
      0x02, 0x00, 0x04, 0x00, // version 2.4
      0x00, 0x00, 0x00, 0x00, // thiszone
      0x00, 0x00, 0x00, 0x00, // sigfigs
      0xff, 0xff, 0x00, 0x00, // snaplen 65535
      0x65, 0x00, 0x00, 0x00, // network 101 = LINKTYPE_RAW
    ]);
    expect(w.count).toBe(0);
    expect(w.byteLength).toBe(24);
    const e = new PcapWriter({ snaplen: 0x12345, linktype: LINKTYPE_ETHERNET }).bytes();
    expect([...e.subarray(16, 24)]).toEqual([0x45, 0x23, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00]);
  });

  it('writes a record header and data byte for byte', () => {
    const w = new PcapWriter();
    w.write(12_345.678, new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x01]));
    expect(w.count).toBe(1);
    // prettier-ignore
    expect([...w.bytes().subarray(24)]).toEqual([
      0x0c, 0x00, 0x00, 0x00, // ts_sec 12
      0x4e, 0x46, 0x05, 0x00, // ts_usec 345678 = 0x05464e
      0x05, 0x00, 0x00, 0x00, // incl_len 5
      0x05, 0x00, 0x00, 0x00, // orig_len 5
      0xde, 0xad, 0xbe, 0xef, 0x01,
    ]);
  });

  it('round-trips times, bytes and lengths through readPcap', () => {
    const rng = new Rng('pcap-roundtrip');
    const w = new PcapWriter();
    const sent: { timeMs: number; data: Uint8Array }[] = [];
    let t = 0;
    for (let i = 0; i < 3000; i++) {
      t += rng.int(5000) / 1000; // whole microseconds, as a pcap can hold
      const data = rng.fill(new Uint8Array(rng.int(1600)));
      sent.push({ timeMs: t, data });
      w.write(t, data);
    }
    const file = parsed(w.bytes());
    expect(file.linktype).toBe(101);
    expect(file.snaplen).toBe(65535);
    expect(file.records).toHaveLength(3000);
    expect(w.count).toBe(3000);
    const total = 24 + sent.reduce((s, r) => s + 16 + r.data.length, 0);
    expect(w.byteLength).toBe(total);
    expect(w.bytes().length).toBe(total);
    for (let i = 0; i < sent.length; i++) {
      const r = file.records[i]!;
      expect(r.timeMs).toBeCloseTo(sent[i]!.timeMs, 9);
      expect(Math.round(r.timeMs * 1000)).toBe(Math.round(sent[i]!.timeMs * 1000));
      expect(Buffer.from(r.data).equals(sent[i]!.data), `record ${i} data`).toBe(true);
      expect(r.origLen).toBe(sent[i]!.data.length);
    }
  });

  it('keeps whole-ms times exact and rounds to the microsecond with carry', () => {
    const w = new PcapWriter();
    const frame = new Uint8Array([1]);
    w.write(0, frame);
    w.write(1000, frame);
    w.write(1999.9996, frame); // rounds up into the next second
    w.write(2000.0004, frame); // rounds down
    w.write(4_000_000_123, frame);
    const file = parsed(w.bytes());
    expect(file.records.map((r) => r.timeMs)).toEqual([0, 1000, 2000, 2000, 4_000_000_123]);
    const v = new DataView(w.bytes().buffer);
    const third = 24 + 2 * 17;
    expect([v.getUint32(third, true), v.getUint32(third + 4, true)]).toEqual([2, 0]);
  });

  it('cuts frames at snaplen but keeps their original length', () => {
    const w = new PcapWriter({ snaplen: 100 });
    const big = new Rng(1).fill(new Uint8Array(1500));
    const small = new Uint8Array(100).fill(7);
    w.write(1, big);
    w.write(2, small);
    const file = parsed(w.bytes());
    expect(file.snaplen).toBe(100);
    expect(file.records.map((r) => [r.data.length, r.origLen])).toEqual([
      [100, 1500],
      [100, 100],
    ]);
    expect(file.records[0]!.data).toEqual(big.subarray(0, 100));
    expect(w.byteLength).toBe(24 + 2 * (16 + 100));
  });

  it('copies frames in, and bytes() out', () => {
    const w = new PcapWriter();
    const f = new Uint8Array([1, 2, 3]);
    w.write(0, f);
    f[0] = 99;
    const out = w.bytes();
    out[40] = 42;
    expect(parsed(w.bytes()).records[0]!.data).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('rejects bad options and bad times with RangeError', () => {
    expect(() => new PcapWriter({ snaplen: 0 })).toThrow(RangeError);
    expect(() => new PcapWriter({ snaplen: 1.5 })).toThrow(RangeError);
    expect(() => new PcapWriter({ linktype: -1 })).toThrow(RangeError);
    const w = new PcapWriter();
    expect(() => w.write(-1, new Uint8Array(1))).toThrow(RangeError);
    expect(() => w.write(NaN, new Uint8Array(1))).toThrow(RangeError);
    expect(() => w.write(2 ** 32 * 1000, new Uint8Array(1))).toThrow(RangeError);
    expect(w.count).toBe(0);
  });

  it('captures a link through a TapStage on virtual time', () => {
    const clock = new VirtualClock();
    const w = new PcapWriter();
    const link = new LinkPipeline(
      [new LatencyStage({ clock, rng: new Rng(1) }, { delayMs: 12.5 }), new TapStage({ clock }, (t, f) => w.write(t, f))],
      () => {},
    );
    link.send(new Uint8Array([1]));
    clock.advanceTo(1000);
    link.send(new Uint8Array([2, 2]));
    while (clock.runNext());
    const file = parsed(w.bytes());
    expect(file.records.map((r) => [r.timeMs, [...r.data]])).toEqual([
      [12.5, [1]],
      [1012.5, [2, 2]],
    ]);
  });
});

describe('readPcap', () => {
  function sample(): Uint8Array {
    const w = new PcapWriter();
    w.write(1.5, new Uint8Array([1, 2, 3]));
    w.write(2000, new Uint8Array(0));
    w.write(3000.25, new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]));
    return w.bytes();
  }

  it('reads big-endian files', () => {
    const le = sample();
    const be = toBigEndian(le);
    expect([...be.subarray(0, 4)]).toEqual([0xa1, 0xb2, 0xc3, 0xd4]);
    expect(parsed(be)).toEqual(parsed(le));
  });

  it('reads nanosecond-resolution files', () => {
    const bytes = sample();
    const v = new DataView(bytes.buffer);
    v.setUint32(0, 0xa1b23c4d, true);
    v.setUint32(24 + 4, 500_000, true); // 0.5 ms in ns
    const file = parsed(bytes);
    expect(file.records[0]!.timeMs).toBe(0.5);
    expect(file.records[2]!.timeMs).toBeCloseTo(3000.00025, 9); // 250 "ns" read from the usec field
  });

  it('reads a header-only file as no records', () => {
    expect(parsed(new PcapWriter().bytes()).records).toEqual([]);
  });

  it('returns an Error for every truncation that is not at a record boundary', () => {
    const bytes = sample();
    const boundaries = new Set([24, 24 + 16 + 3, 24 + 16 + 3 + 16]);
    for (let cut = 0; cut < bytes.length; cut++) {
      const r = readPcap(bytes.subarray(0, cut));
      if (boundaries.has(cut)) {
        expect(r, `cut at ${cut}`).not.toBeInstanceOf(Error);
      } else {
        expect(r, `cut at ${cut}`).toBeInstanceOf(Error);
        expect((r as Error).message).toMatch(/^pcap: (truncated|bad)/);
      }
    }
    expect(parsed(bytes.subarray(0, 24 + 19)).records).toHaveLength(1);
  });

  it('returns an Error for garbage instead of throwing', () => {
    const rng = new Rng('garbage');
    for (let i = 0; i < 200; i++) {
      const junk = rng.fill(new Uint8Array(rng.int(200)));
      expect(readPcap(junk)).toBeInstanceOf(Error);
    }
    const bytes = sample();
    const v = new DataView(bytes.buffer);
    const badVersion = bytes.slice();
    new DataView(badVersion.buffer).setUint16(4, 3, true);
    expect(readPcap(badVersion)).toBeInstanceOf(Error);
    const inclOverOrig = bytes.slice();
    new DataView(inclOverOrig.buffer).setUint32(24 + 12, 2, true);
    expect(String(readPcap(inclOverOrig))).toMatch(/bad record lengths/);
    const hugeIncl = bytes.slice();
    new DataView(hugeIncl.buffer).setUint32(24 + 8, 0x7fffffff, true);
    expect(readPcap(hugeIncl)).toBeInstanceOf(Error);
    const badUsec = bytes.slice();
    new DataView(badUsec.buffer).setUint32(24 + 4, 1_000_000, true);
    expect(String(readPcap(badUsec))).toMatch(/bad timestamp/);
    expect(v.getUint32(0, true)).toBe(0xa1b2c3d4); // the sample itself was left alone
  });

  it('works on a view into a larger buffer', () => {
    const bytes = sample();
    const big = new Uint8Array(bytes.length + 10);
    big.set(bytes, 5);
    expect(parsed(big.subarray(5, 5 + bytes.length))).toEqual(parsed(bytes));
  });
});

const hasTcpdump = spawnSync('sh', ['-c', 'command -v tcpdump'], { encoding: 'utf8' }).status === 0;

describe('interop with tcpdump', () => {
  it.skipIf(!hasTcpdump)(
    hasTcpdump ? 'tcpdump -r reads the file the writer produced' : 'tcpdump -r reads the file (SKIPPED: tcpdump is not installed)',
    () => {
      const w = new PcapWriter();
      for (let i = 0; i < 5; i++) w.write(1000 * i + 0.25, udpPacket(new Uint8Array([i, i, i, i]), i));
      const dir = mkdtempSync(join(tmpdir(), 'tsip-pcap-'));
      try {
        const file = join(dir, 'capture.pcap');
        writeFileSync(file, w.bytes());
        const out = execFileSync('tcpdump', ['-r', file, '-n', '-tt'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        const lines = out.trim().split('\n');
        expect(lines).toHaveLength(5);
        lines.forEach((line, i) => {
          expect(line).toBe(`${i}.000250 IP 10.0.0.1.1234 > 10.0.0.2.5678: UDP, length 4`);
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
