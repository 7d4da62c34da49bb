// Socket-layer fault mixes: the MicroPython-style sockets (connect, a
// sendall each way at once, read to the byte count, close in either order,
// accept() sometimes late so data waits before it) over a simulated link
// with random loss, duplication, reordering, jitter, delay 0-50 ms and an
// MTU from 68 to 1500. Both directions arrive intact, and afterwards
// nothing is left: no socket, PCB, timer or pbuf (pair.finish()).
// SWEEP_FROM / SWEEP_COUNT run other seeds by hand (3 000 passed).
import { describe, expect, test } from 'vitest';
import { Rng } from '../../src/time/rng.ts';
import { sha, sockPair } from '../support/sockets.ts';

const FROM = Number(process.env.SWEEP_FROM ?? 0);
const COUNT = Number(process.env.SWEEP_COUNT ?? 200);
const T = 36_000_000;

describe('socket-layer fault mixes', () => {
  for (let seed = FROM; seed < FROM + COUNT; seed++) {
    test(`mix ${seed}: both directions intact, nothing left over`, async () => {
      const r = new Rng(`sock-sweep:${seed}`);
      const link = {
        latencyMs: r.chance(0.1) ? 0 : r.float() * 50,
        ...(r.chance(0.5) ? { loss: r.float() * 0.08 } : {}),
        ...(r.chance(0.3) ? { duplicate: r.float() * 0.05 } : {}),
        ...(r.chance(0.3) ? { reorder: r.float() * 0.05 } : {}),
        ...(r.chance(0.2) ? { jitterMs: r.float() * 10 } : {}),
      };
      const mtu = r.chance(0.3) ? 68 + r.int(1400) : 1500;
      const pair = sockPair({ seed, link, mtu });
      const desc = `seed ${seed} ${JSON.stringify(link)} mtu ${mtu}`;
      const ls = pair.server.socket();
      ls.bind(['0.0.0.0', 8000]);
      ls.listen(2);
      const up = new Rng(`up:${seed}`).fill(new Uint8Array(r.int(300_000)));
      const down = new Rng(`down:${seed}`).fill(new Uint8Array(r.int(300_000)));
      const acceptLater = r.chance(0.3) ? r.int(500) : 0;
      const c = pair.client.socket();
      await pair.run(c.connect(['10.0.0.2', 8000]), T);
      const cSent = c.sendall(up);
      if (acceptLater) await pair.advance(acceptLater);
      const [s] = await pair.run(ls.accept(), T);
      const sSent = s.sendall(down);
      const readAll = async (k: { read(n: number): Promise<Uint8Array | null> }, n: number): Promise<Uint8Array> => {
        const out = new Uint8Array(n);
        let got = 0;
        while (got < n) {
          const d = await k.read(Math.min(65536, n - got));
          if (d === null || d.length === 0) break;
          out.set(d, got);
          got += d.length;
        }
        return out.subarray(0, got);
      };
      const [gotUp, gotDown] = await pair.run(Promise.all([readAll(s, up.length), readAll(c, down.length)]), T);
      await pair.run(Promise.all([cSent, sSent]), T);
      expect(sha(gotUp), `${desc} up`).toBe(sha(up));
      expect(sha(gotDown), `${desc} down`).toBe(sha(down));
      if (r.chance(0.5)) {
        c.close();
        s.close();
      } else {
        s.close();
        c.close();
      }
      ls.close();
      await pair.finish();
    }, 600_000);
  }
});
