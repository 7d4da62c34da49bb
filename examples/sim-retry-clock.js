// @ts-check
// A retry loop on the simulator's clock: the server starts listening 4.5 s
// into the run (an application timer), the client retries every second
// (setTimeout), and Simulator.run drives both timers and the network on one
// virtual clock, so the script finishes at once and the times are exact.
// Run: node examples/sim-retry-clock.js
import { setTimeout as sleep } from 'node:timers/promises';
import { Simulator } from 'tsip';

const sim = new Simulator({ seed: 1 });
const client = sim.addStack('client');
const server = sim.addStack('server');
sim.connect(client, server, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { latencyMs: 5 } });

const result = await sim.run(async () => {
  const t0 = Date.now();
  setTimeout(() => server.net.createServer((s) => s.end('hello\n')).listen(7), 4500);
  for (let attempt = 1; ; attempt++) {
    try {
      const reply = await new Promise((resolve, reject) => {
        const s = client.net.connect({ host: 'server', port: 7 });
        let got = '';
        s.on('data', (d) => (got += d));
        s.on('end', () => resolve(got));
        s.on('error', reject);
      });
      return { attempt, reply, ms: Date.now() - t0 };
    } catch (e) {
      console.log(`attempt ${attempt} at ${Date.now() - t0} ms: ${/** @type {{ code?: string }} */ (e).code}`);
      await sleep(1000);
    }
  }
});
console.log(`attempt ${result.attempt} at ${result.ms} ms: ${result.reply.trim()}`);

sim.close();
