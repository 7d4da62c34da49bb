// Checksum offload on simulated links (issue 17 part 5): a stack leaves its
// data segments' TCP checksums to a connect() link (Netif.txCsumOffload),
// which fills them only when someone can see or damage the frame (a pcap
// tap, a frame observer, a corrupt or duplicate stage, fragmentation), and
// the receiver is told that frames no stage touched are verified
// (PbufFlag.CSUM_VALID). Nothing observable may change: the same bytes,
// virtual times and counters, and damaged frames still dropped and counted.
import { describe, expect, test } from 'vitest';
import { Err } from '../../src/err.ts';
import { RawTcp, WriteFlag } from '../../src/callbacks/raw.ts';
import type { LinkSpec } from '../../src/sim/link.ts';
import { PcapWriter, readPcap } from '../../src/sim/pcap.ts';
import { Simulator } from '../../src/sim/simulator.ts';
import type { Stack } from '../../src/stack/stack.ts';
import { isV6, localIp, peerIp } from '../support/family.ts';
import { bulkExchange, parseSent, payload, sha256, type Pair } from '../support/tcp.ts';

function pair(link: LinkSpec, pcap?: PcapWriter): Pair {
  const sim = new Simulator({ seed: 5 });
  const client = sim.addStack('client', { pool: { trackLive: true } });
  const server = sim.addStack('server', { pool: { trackLive: true } });
  sim.connect(client, server, {
    ...(isV6() ? { aAddr6: localIp(), bAddr6: peerIp() } : { aAddr: localIp(), bAddr: peerIp() }),
    link: { latencyMs: 2, ...link },
    ...(pcap !== undefined ? { pcap } : {}),
  });
  return { sim, client, server, rc: new RawTcp(client), rs: new RawTcp(server) };
}

/** True if `frame` is a TCP packet whose IP and TCP checksums verify (test/support's independent parser). */
function checksumsOk(frame: Uint8Array): boolean {
  try {
    parseSent(frame);
    return true;
  } catch {
    return false;
  }
}

/** TCP payload bytes of a well-formed IPv4 or IPv6 frame (0 for anything else). */
function dataLen(frame: Uint8Array): number {
  const six = frame[0]! >> 4 === 6;
  const ihl = six ? 40 : (frame[0]! & 0x0f) * 4;
  if (frame.length < ihl + 20) return 0;
  return frame.length - ihl - (frame[ihl + 12]! >> 4) * 4;
}

/** Look at every frame as deliver() gets it (before the receiver copies it): data frames whose checksums do and do not verify. */
function watchDeliveries(sim: Simulator): { good: number; bad: number } {
  const seen = { good: 0, bad: 0 };
  const deliver = sim.deliver.bind(sim);
  sim.deliver = (stack: Stack, netif, frame, label) => {
    if (dataLen(frame) > 0) {
      if (checksumsOk(frame)) seen.good++;
      else seen.bad++;
    }
    deliver(stack, netif, frame, label);
  };
  return seen;
}

function counters(p: Pair): number[] {
  return [p.client, p.server].flatMap((st) => [st.tcp.counters.inSegs, st.tcp.counters.outSegs, st.tcp.counters.retransSegs, st.stats.ip.chkerr, st.stats.tcp.chkerr]);
}

const A = payload(400_000, 3);
const B = payload(250_000, 4);

describe('TCP checksum offload on simulated links', () => {
  test('lossy, reordering, rate-limited, delayed link: data crosses without its checksum, arrives intact, and the run is the same as with a pcap (where every checksum is filled)', () => {
    const spec: LinkSpec = { loss: 0.02, reorder: 0.02, bitsPerSecond: 50e6, jitterMs: 1 };
    const run = (withPcap: boolean) => {
      const pcap = withPcap ? new PcapWriter() : undefined;
      const p = pair(spec, pcap);
      const seen = watchDeliveries(p.sim);
      const { cli, srv } = bulkExchange(p, A, B);
      expect(p.sim.runUntil(() => cli.gotFin && srv.gotFin, 600_000)).toBe(true);
      expect(sha256(srv.bytes)).toBe(sha256(A));
      expect(sha256(cli.bytes)).toBe(sha256(B));
      const virtualMs = p.sim.clock.now();
      expect(p.sim.runUntilIdle()).toBe(true);
      p.client.pool.assertEmpty();
      p.server.pool.assertEmpty();
      return { virtualMs, counters: counters(p), seen, pcap };
    };
    const fast = run(false);
    const tapped = run(true);
    // Without a tap the sender left its data segments' checksums to the link...
    expect(fast.seen.good).toBe(0);
    expect(fast.seen.bad).toBeGreaterThan(300);
    // ...and nothing else changed: same virtual time, same segments, no checksum errors anywhere.
    expect(fast.virtualMs).toBe(tapped.virtualMs);
    expect(fast.counters).toEqual(tapped.counters);
    expect(fast.counters.filter((_, i) => i % 5 >= 3)).toEqual([0, 0, 0, 0]);
    // With a tap every frame was filled before the pcap saw it (and still is when it arrives).
    expect(tapped.seen.bad).toBe(0);
    expect(tapped.seen.good).toBe(fast.seen.bad);
    const file = readPcap(tapped.pcap!.bytes());
    if (file instanceof Error) throw file;
    expect(file.records.length).toBeGreaterThan(500);
    for (const r of file.records) expect(checksumsOk(r.data)).toBe(true);
  });

  test('a corrupt stage forces real checksums: every damaged frame is dropped and counted, the rest verify, the data arrives intact', () => {
    const p = pair({ corrupt: 0.03, loss: 0.01 });
    const seen = watchDeliveries(p.sim);
    const { cli, srv } = bulkExchange(p, A, B);
    expect(p.sim.runUntil(() => cli.gotFin && srv.gotFin, 600_000)).toBe(true);
    expect(sha256(srv.bytes)).toBe(sha256(A));
    expect(sha256(cli.bytes)).toBe(sha256(B));
    const links = p.sim.linkPipelines(p.sim.linkNames()[0]!);
    const corrupted = links.ab.stat('corrupted') + links.ba.stat('corrupted');
    expect(corrupted).toBeGreaterThan(5);
    // Only the damaged frames fail (data frames among them): none was sent unfilled.
    expect(seen.bad).toBeGreaterThan(0);
    expect(seen.bad).toBeLessThanOrEqual(corrupted);
    expect(seen.good).toBeGreaterThan(300);
    const dropped = [p.client, p.server].reduce((n, st) => n + st.stats.ip.chkerr + st.stats.tcp.chkerr, 0);
    expect(dropped).toBeGreaterThanOrEqual(seen.bad);
    expect(p.sim.runUntilIdle()).toBe(true);
    p.client.pool.assertEmpty();
    p.server.pool.assertEmpty();
  });

  test('a frame observer attached mid-transfer sees only correct checksums, frames already in flight included', () => {
    const p = pair({ loss: 0.01 });
    const { cli, srv } = bulkExchange(p, A, B);
    expect(p.sim.runUntil(() => srv.bytes.length > 100_000, 600_000)).toBe(true);
    let frames = 0;
    let bad = 0;
    const off = p.sim.onFrame((_t, _kind, _link, frame) => {
      frames++;
      if (!checksumsOk(frame)) bad++;
    });
    expect(p.sim.runUntil(() => srv.bytes.length > 200_000, 600_000)).toBe(true);
    off();
    expect(p.sim.runUntil(() => cli.gotFin && srv.gotFin, 600_000)).toBe(true);
    expect(frames).toBeGreaterThan(100);
    expect(bad).toBe(0);
    expect(sha256(srv.bytes)).toBe(sha256(A));
    expect(p.sim.runUntilIdle()).toBe(true);
    p.client.pool.assertEmpty();
  });

  test('IP fills the checksum in for a netif that does not offload (loopback of a simulated stack)', () => {
    const p = pair({});
    expect(p.client.inet.txCsumOffload).toBe(true);
    const raw = p.rc;
    const got: number[] = [];
    let fin = false;
    const l = raw.tcpNew()!;
    expect(raw.tcpBind(l, localIp(), 81)).toBe(Err.OK);
    raw.tcpListen(l);
    raw.tcpAccept(l, (_a, npcb) => {
      raw.tcpRecv(npcb, (_b, pcb, q) => {
        if (q === null) {
          fin = true;
          return Err.OK;
        }
        for (let x: typeof q | null = q; x !== null; x = x.next) got.push(...x.buf.subarray(x.off, x.off + x.len));
        raw.tcpRecved(pcb, q.totLen);
        q.free();
        return Err.OK;
      });
      return Err.OK;
    });
    const data = payload(50_000, 9);
    const c = raw.tcpNew()!;
    let sent = 0;
    const pump = (pcb: typeof c): void => {
      while (sent < data.length) {
        const n = Math.min(raw.tcpSndbuf(pcb), data.length - sent);
        if (n <= 0 || raw.tcpWrite(pcb, data.subarray(sent, sent + n), WriteFlag.COPY) !== Err.OK) break;
        sent += n;
      }
      if (sent === data.length) raw.tcpClose(pcb);
      else raw.tcpOutput(pcb);
    };
    raw.tcpSent(c, (_a, pcb) => {
      if (sent < data.length) pump(pcb);
      return Err.OK;
    });
    expect(raw.tcpConnect(c, localIp(), 81, (_a, pcb) => (pump(pcb), Err.OK))).toBe(Err.OK);
    expect(p.sim.runUntil(() => fin, 60_000)).toBe(true);
    expect(sha256(Uint8Array.from(got))).toBe(sha256(data));
    expect(p.client.stats.tcp.chkerr).toBe(0);
  });
});
