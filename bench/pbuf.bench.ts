// pbuf micro-benchmarks: the per-packet costs the stack pays on every
// segment (alloc/free, header push/pop, chain walks, copies), plus the
// steady-state allocation figure: ArrayBuffers created per 1e5 alloc/free
// must stay ~0, since backing blocks are recycled through the size classes.
import { type BenchReport, type BenchSpec, type MicroTask, runMicro } from './lib.ts';
import { type Pbuf, PbufType } from '../src/pbuf/pbuf.ts';
import { PbufLayer, PbufPool } from '../src/pbuf/pool.ts';

/** Results flow here so the JIT cannot drop the work. */
let sink = 0;

function must(p: Pbuf | null): Pbuf {
  if (p === null) throw new Error('pbuf alloc failed in benchmark');
  return p;
}

/** ArrayBuffers the pool's allocator creates over `n` steady-state alloc/free cycles. */
function buffersCreatedPer(pool: PbufPool, n: number, cycle: (i: number) => void): number {
  for (let i = 0; i < 1000; i++) cycle(i); // warm up: carve the slabs once
  const before = pool.memory.stats.buffersCreated;
  for (let i = 0; i < n; i++) cycle(i);
  return pool.memory.stats.buffersCreated - before;
}

const spec: BenchSpec = {
  name: 'pbuf',
  description: 'pbuf alloc/free (RAM, POOL, 64 KiB chains), chain walk, header push/pop, copyPartial; ArrayBuffers per 1e5 alloc/free',
  async run(): Promise<BenchReport> {
    const pool = new PbufPool();
    const unit = pool.opts.poolBufSize;

    // Long-lived fixtures for the non-alloc tasks.
    const chain44 = must(pool.alloc(PbufLayer.RAW, 44 * unit, PbufType.POOL));
    if (chain44.clen() !== 44) throw new Error(`expected a 44-piece chain, got ${chain44.clen()}`);
    const hdr = must(pool.alloc(PbufLayer.TRANSPORT, 1460));
    const two = must(pool.alloc(PbufLayer.RAW, 2 * unit - 200, PbufType.POOL)); // 1600 + 1400
    if (two.clen() !== 2) throw new Error('expected a 2-piece chain');
    const dst = new Uint8Array(1500);

    const tasks: MicroTask[] = [
      {
        name: 'alloc+free RAM 1500 B (TRANSPORT)',
        fn: () => {
          const p = must(pool.alloc(PbufLayer.TRANSPORT, 1500, PbufType.RAM));
          sink += p.len;
          p.free();
        },
      },
      {
        name: 'alloc+free POOL 1500 B (TRANSPORT)',
        fn: () => {
          const p = must(pool.alloc(PbufLayer.TRANSPORT, 1500, PbufType.POOL));
          sink += p.totLen;
          p.free();
        },
      },
      {
        name: 'alloc+free POOL 64 KiB chain (RAW)',
        fn: () => {
          const p = must(pool.alloc(PbufLayer.RAW, 65_536, PbufType.POOL));
          sink += p.totLen;
          p.free();
        },
      },
      {
        name: 'walk 44-piece chain summing len',
        fn: () => {
          let n = 0;
          for (let q: Pbuf | null = chain44; q !== null; q = q.next) n += q.len;
          sink += n;
        },
      },
      {
        name: 'addHeader 54 + removeHeader 54',
        fn: () => {
          hdr.addHeader(54);
          hdr.removeHeader(54);
          sink += hdr.len;
        },
      },
      {
        name: 'copyPartial 1500 B across 2 pieces',
        bytesPerOp: 1500,
        fn: () => {
          sink += two.copyPartial(dst, 1500, unit - 700);
        },
      },
    ];

    const { rows, figures } = await runMicro(tasks);

    const created = buffersCreatedPer(pool, 100_000, (i) => {
      const k = i % 3;
      const p =
        k === 0
          ? pool.alloc(PbufLayer.TRANSPORT, 1500, PbufType.RAM)
          : k === 1
            ? pool.alloc(PbufLayer.TRANSPORT, 1500, PbufType.POOL)
            : pool.alloc(PbufLayer.RAW, 65_536, PbufType.POOL);
      must(p).free();
    });
    figures['ArrayBuffers created per 1e5 alloc/free'] = created;
    rows.push({ task: 'ArrayBuffers created per 1e5 alloc/free (RAM 1500, POOL 1500, POOL 64 KiB in turn)', value: created });

    chain44.free();
    hdr.free();
    two.free();
    if (!pool.isEmpty()) throw new Error('benchmark leaked pbufs');

    return {
      name: 'pbuf',
      rows,
      figures,
      notes: [
        `poolBufSize ${unit}; TRANSPORT header room ${pool.headerRoom(PbufLayer.TRANSPORT)} B`,
        `allocator after run: ${pool.memory.stats.buffersCreated} ArrayBuffers created, ${pool.memory.stats.reservedBytes} B reserved`,
        `sink ${sink % 1000}`,
      ],
    };
  },
};

export default spec;
