// Internet checksum throughput: the fast onesSum (32-bit words through a
// Uint32Array view) against a plain byte-pair reference loop, on a small
// packet, a full-size frame (aligned and at an odd offset), a 64 KiB TSO-
// sized buffer, and a 64 KiB pbuf-like chain of ~1500-byte pieces.
import { type BenchSpec, runMicro } from './lib.ts';
import { type ByteChain, WORD_PATH_MIN, chainOnesSum, onesSum } from '../src/wire/checksum.ts';
import { Rng } from '../src/time/rng.ts';

/** The obvious RFC 1071 loop, for comparison. */
function refOnesSum(b: Uint8Array, off: number, len: number): number {
  let s = 0;
  let i = off;
  const e = off + len;
  for (; i + 1 < e; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < e) s += b[i]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

const KIB64 = 64 * 1024;

function buildChain(rng: Rng, total: number): ByteChain {
  // Pieces in one slab, each at its own (sometimes odd) offset, lengths
  // around 1500 with some odd ones, as a received TCP stream would look.
  const slab = rng.fill(new Uint8Array(total + 64 * 64));
  const pieces: ByteChain[] = [];
  let done = 0;
  let at = 0;
  for (let k = 0; done < total; k++) {
    const want = k % 3 === 1 ? 1499 : k % 3 === 2 ? 1501 : 1500;
    const n = Math.min(want, total - done);
    const off = at + (k & 3);
    pieces.push({ buf: slab, off, len: n, next: null });
    at = off + n + 16;
    done += n;
  }
  for (let k = 0; k + 1 < pieces.length; k++) pieces[k]!.next = pieces[k + 1]!;
  return pieces[0]!;
}

const spec: BenchSpec = {
  name: 'checksum',
  description: 'RFC 1071 Internet checksum: fast 32-bit path vs byte-pair reference, flat and chained',
  async run() {
    const rng = new Rng(1071);
    const big = rng.fill(new Uint8Array(KIB64 + 64));
    const chain = buildChain(rng, KIB64);
    let sink = 0;
    // tinybench times every call (~40 ns of its own per call), so each task
    // runs a batch of calls covering at least 32 KiB; MB/s counts the batch.
    const batch = (size: number): number => Math.max(1, Math.floor(32768 / size));
    const task = (name: string, size: number, sum: () => number) => {
      const reps = batch(size);
      return {
        name,
        bytesPerOp: size * reps,
        fn: () => {
          let x = 0;
          for (let r = 0; r < reps; r++) x ^= sum();
          sink ^= x;
        },
      };
    };
    const tasks = [
      task('fast 20B', 20, () => onesSum(big, 0, 20)),
      task('fast 64B', 64, () => onesSum(big, 0, 64)),
      task('fast 1500B', 1500, () => onesSum(big, 0, 1500)),
      task('fast 1500B odd', 1500, () => onesSum(big, 1, 1500)),
      task('fast 64KiB', KIB64, () => onesSum(big, 0, KIB64)),
      task('chain 64KiB', KIB64, () => chainOnesSum(chain)),
      task('ref 64B', 64, () => refOnesSum(big, 0, 64)),
      task('ref 1500B', 1500, () => refOnesSum(big, 0, 1500)),
      task('ref 64KiB', KIB64, () => refOnesSum(big, 0, KIB64)),
    ];
    // Same answers, or the numbers mean nothing.
    if (onesSum(big, 1, 1500) !== refOnesSum(big, 1, 1500) || onesSum(big, 0, KIB64) !== refOnesSum(big, 0, KIB64)) {
      throw new Error('checksum bench: fast and reference sums differ');
    }
    const { rows, figures } = await runMicro(tasks);
    const fast = figures['fast 1500B MB/s'];
    const ref = figures['ref 1500B MB/s'];
    const notes = [
      `byte loop below ${WORD_PATH_MIN} B, Uint32Array word loop above`,
      'each op is a batch of calls covering >= 32 KiB (ns/op is per batch); MB/s counts every byte summed',
      `sink ${sink & 1}`,
    ];
    if (fast !== undefined && ref !== undefined) {
      figures['speedup 1500B'] = Math.round((fast / ref) * 10) / 10;
      notes.push(`fast/ref at 1500 B: ${(fast / ref).toFixed(1)}x`);
    }
    const fast64k = figures['fast 64KiB MB/s'];
    const ref64k = figures['ref 64KiB MB/s'];
    if (fast64k !== undefined && ref64k !== undefined) figures['speedup 64KiB'] = Math.round((fast64k / ref64k) * 10) / 10;
    return { name: 'checksum', rows, figures, notes };
  },
};

export default spec;
