// Micro: the CPU and wall time of one small blocking write() through the
// MicroPython-style sockets, in the simulator (two stacks, 50 µs latency):
// N writes of SIZE bytes, each awaited, the peer reading with recv_into.
// Compare source trees (e.g. before/after a change) by running it
// alternately with each tree's root:
//
//   npx tsx bench/tools/sock-write-micro.mts TREE_ROOT [N] [SIZE]
//
// Prints one JSON line: µs of CPU (process.cpuUsage: JIT and GC threads
// included) and of wall time per write.
const [tree, nStr, sizeStr] = process.argv.slice(2);
if (tree === undefined) {
  console.error('usage: sock-write-micro.mts TREE_ROOT [N] [SIZE]');
  process.exit(2);
}
const { Simulator } = (await import(`${tree}/src/sim/simulator.ts`)) as typeof import('../../src/sim/simulator.ts');
const N = Number(nStr ?? 100_000);
const SIZE = Number(sizeStr ?? 100);
const sim = new Simulator({ seed: 1 });
const a = sim.addStack('a', {});
const b = sim.addStack('b', {});
sim.connect(a, b, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { latencyMs: 0.05 } });
const ls = b.socket();
ls.bind(['0.0.0.0', 9000]);
ls.listen(2);
const c = a.socket();
await sim.settle(c.connect(['10.0.0.2', 9000]), 60_000);
const [s] = await sim.settle(ls.accept(), 60_000);
const buf = new Uint8Array(SIZE);
const rbuf = new Uint8Array(1 << 20);
const reader = (async () => {
  let got = 0;
  while (got < N * SIZE) {
    const k = await s.recvInto(rbuf);
    if (k === 0) break;
    got += k;
  }
  return got;
})();
const cpu0 = process.cpuUsage();
const w0 = performance.now();
const writer = (async () => {
  for (let i = 0; i < N; i++) await c.write(buf);
})();
const [, got] = await sim.settle(Promise.all([writer, reader]), 1e9);
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - w0;
console.log(JSON.stringify({ tree, N, SIZE, bytes: got, cpuUsPerWrite: +((cpu.user + cpu.system) / N).toFixed(3), wallUsPerWrite: +((wall * 1000) / N).toFixed(3) }));
c.close();
s.close();
ls.close();
process.exit(0);
