// RFC 6528 ISNs: HalfSipHash-2-4 against the reference test vectors and an
// independent byte-oriented port of the reference C, then the generator:
// key from the Rng, determinism, the 4-µs clock and its wrap, and the
// statistical quality of F over many tuples.
import { describe, expect, it } from 'vitest';
import { IsnGenerator, halfSipHash24, halfSipHash24Bytes, isnClock } from '../../src/pcb/isn.ts';
import { seqDiff } from '../../src/pcb/seq.ts';
import { Rng } from '../../src/time/rng.ts';

/**
 * vectors_hsip32 from the reference repository veorq/SipHash (vectors.h):
 * HalfSipHash-2-4 with 32-bit output, key = bytes 00..07, message = bytes
 * 00..(n-1) for n = 0..63. Each entry is the 4 output bytes in order.
 */
const VECTORS_HSIP32: readonly string[] = [
  'a9359f5b', '27475ab8', 'fa62a603', '8afee704', '2a6e4689', 'c5fab669', '5863fc23', '8bcf63c5',
  'd0b8848f', 'f806e779', '94b07934', '08083050', '57f0872f', '77e663ff', 'd6fff87c', '74fe2b97',
  'd9b5ac84', 'c474645b', '465b8d9b', '7befe387', 'e34d1045', '613f62b3', '70f367fe', 'e6adb8bd',
  '27400c63', '26787875', '4f567b5f', '3ab0e669', 'b0644000', 'ff670fb4', '509e338b', '5d589f1a',
  'fee72112', '33753259', '6a434f8c', 'fe28b729', 'e75cc6ec', '697e8d54', '63688b0f', '650b62b4',
  'b6bc1840', '5d074505', '2442fd2e', '7bb7863a', '7705d548', 'd75208b1', 'b6d499c8', '0892202e',
  '69e12ce3', '8db580e5', '369764c6', '016e0204', '3b85f3d4', 'fedb66be', '1e692a3a', 'c68984c0',
  'a5c5b940', '9be9e88c', '7dbc8140', '7c078ec5', 'd4e76c73', '428fcbb9', 'bd83997a', '59ea4a74',
];

/** The reference key 00..07 as the two little-endian key words. */
const K0 = 0x03020100;
const K1 = 0x07060504;

function bytesHex(u32: number): string {
  // The reference writes the output little-endian.
  const b = [u32 & 0xff, (u32 >>> 8) & 0xff, (u32 >>> 16) & 0xff, u32 >>> 24];
  return b.map((x) => x.toString(16).padStart(2, '0')).join('');
}

function iota(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => i);
}

/**
 * An independent, byte-oriented port of the reference halfsiphash.c
 * (outlen 4): key and message as bytes, uint32 arithmetic through >>> 0,
 * output as 4 bytes. Shares no code with src/pcb/isn.ts.
 */
function referenceHalfSipHash(input: Uint8Array, key: Uint8Array): Uint8Array {
  const rotl = (x: number, b: number) => ((x << b) | (x >>> (32 - b))) >>> 0;
  const le32 = (p: Uint8Array, o: number) => (p[o]! | (p[o + 1]! << 8) | (p[o + 2]! << 16) | (p[o + 3]! << 24)) >>> 0;
  let v0 = 0;
  let v1 = 0;
  let v2 = 0x6c796765;
  let v3 = 0x74656462;
  const k0 = le32(key, 0);
  const k1 = le32(key, 4);
  const inlen = input.length;
  const end = inlen - (inlen % 4);
  const left = inlen & 3;
  let b = (inlen << 24) >>> 0;
  v3 = (v3 ^ k1) >>> 0;
  v2 = (v2 ^ k0) >>> 0;
  v1 = (v1 ^ k1) >>> 0;
  v0 = (v0 ^ k0) >>> 0;
  const sipround = () => {
    v0 = (v0 + v1) >>> 0;
    v1 = rotl(v1, 5);
    v1 = (v1 ^ v0) >>> 0;
    v0 = rotl(v0, 16);
    v2 = (v2 + v3) >>> 0;
    v3 = rotl(v3, 8);
    v3 = (v3 ^ v2) >>> 0;
    v0 = (v0 + v3) >>> 0;
    v3 = rotl(v3, 7);
    v3 = (v3 ^ v0) >>> 0;
    v2 = (v2 + v1) >>> 0;
    v1 = rotl(v1, 13);
    v1 = (v1 ^ v2) >>> 0;
    v2 = rotl(v2, 16);
  };
  let p = 0;
  for (; p !== end; p += 4) {
    const m = le32(input, p);
    v3 = (v3 ^ m) >>> 0;
    sipround();
    sipround();
    v0 = (v0 ^ m) >>> 0;
  }
  // The reference's fall-through switch on `left`, unrolled.
  if (left >= 3) b = (b | (input[p + 2]! << 16)) >>> 0;
  if (left >= 2) b = (b | (input[p + 1]! << 8)) >>> 0;
  if (left >= 1) b = (b | input[p]!) >>> 0;
  v3 = (v3 ^ b) >>> 0;
  sipround();
  sipround();
  v0 = (v0 ^ b) >>> 0;
  v2 = (v2 ^ 0xff) >>> 0;
  sipround();
  sipround();
  sipround();
  sipround();
  b = (v1 ^ v3) >>> 0;
  return Uint8Array.of(b & 0xff, (b >>> 8) & 0xff, (b >>> 16) & 0xff, b >>> 24);
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (x) => x.toString(16).padStart(2, '0')).join('');
}

describe('HalfSipHash-2-4 (32-bit output)', () => {
  it('the independent reference port reproduces all 64 reference vectors', () => {
    const key = iota(8);
    for (let n = 0; n < 64; n++) expect(hex(referenceHalfSipHash(iota(n), key)), `n=${n}`).toBe(VECTORS_HSIP32[n]);
  });

  it('halfSipHash24Bytes reproduces all 64 reference vectors', () => {
    for (let n = 0; n < 64; n++) expect(bytesHex(halfSipHash24Bytes(K0, K1, iota(n))), `n=${n}`).toBe(VECTORS_HSIP32[n]);
  });

  it('the first vectors as u32 values (output bytes read little-endian)', () => {
    expect(halfSipHash24Bytes(K0, K1, new Uint8Array(0))).toBe(0x5b9f35a9);
    expect(halfSipHash24Bytes(K0, K1, iota(1))).toBe(0xb85a4727);
    expect(halfSipHash24Bytes(K0, K1, iota(4))).toBe(0x89466e2a);
    expect(halfSipHash24Bytes(K0, K1, iota(8))).toBe(0x8f84b8d0);
  });

  it('halfSipHash24 on words reproduces the vectors, hashing only byteLength bytes of the last word', () => {
    for (let n = 0; n < 64; n++) {
      const bytes = iota(n);
      const words: number[] = [];
      for (let i = 0; i < n; i += 4) {
        let w = 0;
        for (let j = 0; j < 4; j++) w |= (i + j < n ? bytes[i + j]! : 0xa5) << (8 * j); // junk past the end
        words.push(w >>> 0);
      }
      expect(bytesHex(halfSipHash24(K0, K1, words, n)), `n=${n}`).toBe(VECTORS_HSIP32[n]);
      if (n % 4 === 0) {
        expect(halfSipHash24(K0, K1, words)).toBe(halfSipHash24(K0, K1, words, n)); // default length
        expect(halfSipHash24(K0, K1, Uint32Array.from(words))).toBe(halfSipHash24(K0, K1, words));
      }
    }
  });

  it('matches the reference port on random keys and messages', () => {
    const rng = new Rng('halfsiphash');
    for (let i = 0; i < 2000; i++) {
      const key = rng.fill(new Uint8Array(8));
      const msg = rng.fill(new Uint8Array(rng.int(80)));
      const k0 = (key[0]! | (key[1]! << 8) | (key[2]! << 16) | (key[3]! << 24)) >>> 0;
      const k1 = (key[4]! | (key[5]! << 8) | (key[6]! << 16) | (key[7]! << 24)) >>> 0;
      expect(bytesHex(halfSipHash24Bytes(k0, k1, msg))).toBe(hex(referenceHalfSipHash(msg, key)));
    }
  });

  it('accepts keys given as signed int32 as well as u32', () => {
    const msg = Uint32Array.of(1, 2, 3);
    expect(halfSipHash24(0xdeadbeef | 0, 0x80000001 | 0, msg)).toBe(halfSipHash24(0xdeadbeef, 0x80000001, msg));
  });

  it('rejects a byteLength that does not fit the words', () => {
    const w = [1, 2];
    expect(() => halfSipHash24(0, 0, w, 9)).toThrow(RangeError);
    expect(() => halfSipHash24(0, 0, w, -1)).toThrow(RangeError);
    expect(() => halfSipHash24(0, 0, w, 1.5)).toThrow(RangeError);
    expect(() => halfSipHash24(0, 0, w, Number.NaN)).toThrow(RangeError);
    expect(() => halfSipHash24(0, 0, w, 8)).not.toThrow();
    expect(() => halfSipHash24(0, 0, w, 0)).not.toThrow();
  });
});

describe('isnClock (RFC 6528 M: 4 µs ticks modulo 2^32)', () => {
  it.each([
    [0, 0],
    [1, 250],
    [0.004, 1],
    [0.003, 0],
    [1000, 250_000],
    [17179869, 4294967250], // the last whole ms before the wrap
    [17179870, 204], // 4294967500 − 2^32
    [-1, 4294967046],
  ])('isnClock(%d) = %d', (t, m) => {
    expect(isnClock(t)).toBe(m);
  });

  it('is exact modulo 2^32 for epoch-sized times', () => {
    for (const t of [1_700_000_000_000, 1_700_000_000_123, 2 ** 40 + 7]) {
      expect(isnClock(t)).toBe(Number((BigInt(t) * 250n) % 2n ** 32n));
    }
  });
});

/** The hashed message the generator documents: [localIp, remoteIp, lport << 16 | rport]. */
function expectedF(k0: number, k1: number, lip: number, lport: number, rip: number, rport: number): number {
  return halfSipHash24(k0, k1, [lip >>> 0, rip >>> 0, ((lport << 16) | rport) >>> 0]);
}

function randomTuple(rng: Rng): [number, number, number, number] {
  return [rng.u32(), rng.int(65536), rng.u32(), rng.int(65536)];
}

describe('IsnGenerator', () => {
  const LIP = 0x0a000001; // 10.0.0.1
  const RIP = 0x0a000002; // 10.0.0.2

  it('draws its key as two u32 from the Rng and hashes the documented 4-tuple message', () => {
    const keys = new Rng(42);
    const k0 = keys.u32();
    const k1 = keys.u32();
    const rng = new Rng(42);
    const gen = new IsnGenerator(rng);
    expect(rng.u32()).toBe(keys.u32()); // consumed exactly two values
    const t = new Rng('tuples');
    for (let i = 0; i < 200; i++) {
      const [lip, lport, rip, rport] = randomTuple(t);
      expect(gen.isn(lip, lport, rip, rport, 0)).toBe(expectedF(k0, k1, lip, lport, rip, rport));
      const now = t.int(1 << 30);
      expect(gen.isn(lip, lport, rip, rport, now)).toBe((isnClock(now) + expectedF(k0, k1, lip, lport, rip, rport)) >>> 0);
    }
  });

  it('is deterministic for the same Rng seed', () => {
    const a = new IsnGenerator(new Rng(7));
    const b = new IsnGenerator(new Rng(7));
    const t = new Rng('det');
    for (let i = 0; i < 500; i++) {
      const [lip, lport, rip, rport] = randomTuple(t);
      const now = t.int(1e9);
      expect(a.isn(lip, lport, rip, rport, now)).toBe(b.isn(lip, lport, rip, rport, now));
    }
  });

  it('gives different ISNs for the same tuple under different keys', () => {
    const gens = [1, 2, 3, 'x', 'y'].map((s) => new IsnGenerator(new Rng(s)));
    for (let port = 1024; port < 1124; port++) {
      const isns = gens.map((g) => g.isn(LIP, port, RIP, 80, 12345));
      expect(new Set(isns).size).toBe(gens.length);
    }
  });

  it('returns u32 values and does not carry state between calls', () => {
    const gen = new IsnGenerator(new Rng(3));
    const first = gen.isn(LIP, 40000, RIP, 80, 99);
    const t = new Rng('u32');
    for (let i = 0; i < 1000; i++) {
      const [lip, lport, rip, rport] = randomTuple(t);
      const v = gen.isn(lip, lport, rip, rport, t.u32());
      expect(Number.isInteger(v) && v >= 0 && v < 2 ** 32).toBe(true);
    }
    expect(gen.isn(LIP, 40000, RIP, 80, 99)).toBe(first);
  });

  it('advances with the clock at 250 per ms (mod 2^32) for a fixed tuple', () => {
    const gen = new IsnGenerator(new Rng(11));
    const base = gen.isn(LIP, 5000, RIP, 443, 0);
    for (const t of [1, 2, 10, 1000, 60_000, 8_589_934]) {
      expect(gen.isn(LIP, 5000, RIP, 443, t)).toBe((base + 250 * t) % 2 ** 32);
    }
    // Successive milliseconds are exactly 250 apart in sequence space.
    for (let t = 0; t < 2000; t += 7) {
      expect(seqDiff(gen.isn(LIP, 5000, RIP, 443, t + 1), gen.isn(LIP, 5000, RIP, 443, t))).toBe(250);
    }
  });

  it('keeps advancing by 250 per ms across the wrap of M', () => {
    const gen = new IsnGenerator(new Rng(12));
    const wrapMs = 2 ** 32 / 250; // 17179869.184 ms: M wraps here
    const f = gen.isn(LIP, 5000, RIP, 443, 0);
    let prev = gen.isn(LIP, 5000, RIP, 443, 17179860);
    for (let t = 17179861; t < 17179880; t++) {
      const v = gen.isn(LIP, 5000, RIP, 443, t);
      expect(seqDiff(v, prev)).toBe(250);
      expect(v).toBe((f + isnClock(t)) >>> 0);
      prev = v;
    }
    expect(isnClock(Math.ceil(wrapMs))).toBeLessThan(250);
    // 2^31 ms is exactly 125 periods of M: the ISN comes back.
    expect(gen.isn(LIP, 5000, RIP, 443, 1000 + 2 ** 31)).toBe(gen.isn(LIP, 5000, RIP, 443, 1000));
  });

  describe('F is unrelated across tuples', () => {
    const N = 10_000;

    /** Pairs that share a bucket, summed over buckets. */
    function collidingPairs(values: number[], bucket: (v: number) => number): number {
      const counts = new Map<number, number>();
      for (const v of values) counts.set(bucket(v), (counts.get(bucket(v)) ?? 0) + 1);
      let pairs = 0;
      for (const c of counts.values()) pairs += (c * (c - 1)) / 2;
      return pairs;
    }

    function checkUniform(values: number[]): void {
      expect(values).toHaveLength(N);
      // Full 32-bit values: expected colliding pairs N²/2^33 ≈ 0.012.
      expect(collidingPairs(values, (v) => v)).toBeLessThanOrEqual(2);
      // Top 16 bits: the birthday bound says ≈ N(N−1)/2/65536 ≈ 763 colliding
      // pairs for a random function (sd ≈ 28), so "few collisions" would be
      // the wrong test; check the count is what randomness predicts (±4 sd).
      const top16 = collidingPairs(values, (v) => v >>> 16);
      expect(top16).toBeGreaterThan(650);
      expect(top16).toBeLessThan(880);
      // Top 8 bits: chi-square with 255 degrees of freedom (mean 255, sd ≈ 22.6).
      const counts = new Array<number>(256).fill(0);
      for (const v of values) counts[v >>> 24]!++;
      const e = N / 256;
      const chi = counts.reduce((acc, c) => acc + ((c - e) * (c - e)) / e, 0);
      expect(chi).toBeLessThan(360);
      // Each output bit set about half the time (sd 50): within 6 sd.
      for (let bit = 0; bit < 32; bit++) {
        let ones = 0;
        for (const v of values) ones += (v >>> bit) & 1;
        expect(Math.abs(ones - N / 2), `bit ${bit}`).toBeLessThan(300);
      }
    }

    it('over 10k random tuples', () => {
      const gen = new IsnGenerator(new Rng(2024));
      const t = new Rng('random-tuples');
      const values: number[] = [];
      for (let i = 0; i < N; i++) {
        const [lip, lport, rip, rport] = randomTuple(t);
        values.push(gen.isn(lip, lport, rip, rport, 0));
      }
      checkUniform(values);
    });

    it('over 10k tuples that differ only in the local (ephemeral) port', () => {
      const gen = new IsnGenerator(new Rng(2025));
      const values: number[] = [];
      for (let i = 0; i < N; i++) values.push(gen.isn(LIP, 49152 + i, RIP, 80, 0));
      checkUniform(values);
    });

    it('over 10k tuples from consecutive remote addresses', () => {
      const gen = new IsnGenerator(new Rng(2026));
      const values: number[] = [];
      for (let i = 0; i < N; i++) values.push(gen.isn(LIP, 80, (0xc0a80000 + i) >>> 0, 33000, 0));
      checkUniform(values);
    });

    it('flipping any one input bit flips about half the output bits (avalanche)', () => {
      const gen = new IsnGenerator(new Rng(99));
      const t = new Rng('avalanche');
      const popcount = (x: number) => {
        let c = 0;
        for (; x !== 0; x &= x - 1) c++;
        return c;
      };
      let total = 0;
      let trials = 0;
      const perInputBit = new Array<number>(96).fill(0);
      const ROUNDS = 100;
      for (let r = 0; r < ROUNDS; r++) {
        const [lip, lport, rip, rport] = randomTuple(t);
        const base = gen.isn(lip, lport, rip, rport, 0);
        for (let bit = 0; bit < 96; bit++) {
          let v: number;
          if (bit < 32) v = gen.isn((lip ^ (1 << bit)) >>> 0, lport, rip, rport, 0);
          else if (bit < 64) v = gen.isn(lip, lport, (rip ^ (1 << (bit - 32))) >>> 0, rport, 0);
          else if (bit < 80) v = gen.isn(lip, lport, rip, rport ^ (1 << (bit - 64)), 0);
          else v = gen.isn(lip, lport ^ (1 << (bit - 80)), rip, rport, 0);
          const d = popcount((v ^ base) >>> 0);
          perInputBit[bit]! += d;
          total += d;
          trials++;
        }
      }
      // Mean 16 over 9600 trials (sd of the mean ≈ 0.03).
      expect(total / trials).toBeGreaterThan(15.7);
      expect(total / trials).toBeLessThan(16.3);
      // Every single input bit matters (mean over 100 trials, sd ≈ 0.28).
      for (let bit = 0; bit < 96; bit++) {
        expect(perInputBit[bit]! / ROUNDS, `input bit ${bit}`).toBeGreaterThan(14.5);
        expect(perInputBit[bit]! / ROUNDS, `input bit ${bit}`).toBeLessThan(17.5);
      }
    });
  });
});
