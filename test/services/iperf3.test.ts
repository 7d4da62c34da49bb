// The iperf3 server against a scripted client (written here, speaking
// iperf3's wire format byte for byte) on the simulator's virtual time: the
// state machine, the results exchange, and hostile or broken clients.
import { afterEach, describe, expect, test } from 'vitest';
import { upOptionsOf } from '../../src/cli/up-command.ts';
import { iperf3Service, type Iperf3Options, type Iperf3Service } from '../../src/services/iperf3.ts';
import { IPERF3_COOKIE_SIZE, Iperf3State as S } from '../../src/services/iperf3-wire.ts';
import { Simulator } from '../../src/sim/simulator.ts';
import type { BlockingSocket } from '../../src/socket/socket.ts';
import type { Stack } from '../../src/stack/stack.ts';

interface Env {
  sim: Simulator;
  client: Stack;
  server: Stack;
  svc: Iperf3Service;
  run<T>(p: Promise<T>): Promise<T>;
  finish(): Promise<void>;
}

let env: Env | null = null;
afterEach(() => {
  env?.sim.close();
  env = null;
});

function setup(o: Iperf3Options = {}): Env {
  const sim = new Simulator({ seed: 5 });
  const client = sim.addStack('client', { pool: { trackLive: true } });
  const server = sim.addStack('server', { pool: { trackLive: true } });
  sim.connect(client, server, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', prefixLength: 30, link: { latencyMs: 1 } });
  const svc = iperf3Service(server.sockets, 5201, o);
  const e: Env = {
    sim,
    client,
    server,
    svc,
    // Then a little more: the server reads the client's last byte (IPERF_DONE) after the client is done.
    run: async (p) => {
      const v = await sim.settle(p, 3_600_000);
      await sim.runUntilAsync(() => false, sim.clock.now() + 100);
      return v;
    },
    finish: async () => {
      svc.stop();
      await sim.runUntilAsync(() => sim.clock.pendingTimers() === 0, sim.clock.now() + 600_000);
      for (const st of [client, server]) {
        expect(st.sockets.open, `${st.name}: sockets left open`).toBe(0);
        expect(st.tcp.pcbCount, `${st.name}: PCBs left`).toBe(0);
        st.pool.assertEmpty();
      }
    },
  };
  env = e;
  return e;
}

const COOKIE_CHARS = 'abcdefghijklmnopqrstuvwxyz234567';
function cookie(n: number): Uint8Array {
  const b = new Uint8Array(IPERF3_COOKIE_SIZE);
  for (let i = 0; i < 36; i++) b[i] = COOKIE_CHARS.charCodeAt((n * 7 + i * 13) % 32);
  return b; // the last byte stays NUL
}

async function connect(e: Env): Promise<BlockingSocket> {
  const s = e.client.socket();
  await s.connect(['10.0.0.2', 5201]);
  return s;
}

/** Exactly n bytes, or fewer at EOF / reset. */
async function readN(s: BlockingSocket, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  try {
    while (got < n) {
      const d = await s.recv(n - got);
      if (d.length === 0) break;
      out.set(d, got);
      got += d.length;
    }
  } catch {
    /* reset: what came */
  }
  return out.subarray(0, got);
}

async function readState(s: BlockingSocket): Promise<number | null> {
  const b = await readN(s, 1);
  return b.length === 0 ? null : (b[0]! << 24) >> 24;
}

async function sendJson(s: BlockingSocket, v: unknown): Promise<void> {
  const body = new TextEncoder().encode(JSON.stringify(v));
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, body.length);
  await s.sendall(head);
  await s.sendall(body);
}

async function readJson(s: BlockingSocket): Promise<Record<string, unknown>> {
  const head = await readN(s, 4);
  const len = new DataView(head.buffer, head.byteOffset).getUint32(0);
  return JSON.parse(new TextDecoder().decode(await readN(s, len))) as Record<string, unknown>;
}

/** Read until EOF or an error; the count and how it ended. */
async function drain(s: BlockingSocket, until: () => boolean = () => false): Promise<number> {
  let n = 0;
  try {
    for (;;) {
      const d = await s.recv(65536);
      if (d.length === 0 || until()) return n + d.length;
      n += d.length;
    }
  } catch {
    return n;
  }
}

interface Params {
  omit?: number;
  reverse?: boolean;
  parallel?: number;
  time?: number;
  num?: number;
  len?: number;
}

/** Control connection up to CREATE_STREAMS, streams connected, TEST_START and TEST_RUNNING read. */
async function startTest(e: Env, p: Params, id = 1): Promise<{ ctl: BlockingSocket; streams: BlockingSocket[]; ck: Uint8Array }> {
  const ck = cookie(id);
  const ctl = await connect(e);
  await ctl.sendall(ck);
  expect(await readState(ctl)).toBe(S.PARAM_EXCHANGE);
  await sendJson(ctl, { tcp: true, omit: p.omit ?? 0, time: p.time ?? 10, num: p.num ?? 0, blockcount: 0, parallel: p.parallel ?? 1, ...(p.reverse ? { reverse: true } : {}), len: p.len ?? 131072, pacing_timer: 1000, client_version: '3.12' });
  expect(await readState(ctl)).toBe(S.CREATE_STREAMS);
  const streams: BlockingSocket[] = [];
  for (let i = 0; i < (p.parallel ?? 1); i++) {
    const s = await connect(e);
    await s.sendall(ck);
    streams.push(s);
  }
  expect(await readState(ctl)).toBe(S.TEST_START);
  expect(await readState(ctl)).toBe(S.TEST_RUNNING);
  return { ctl, streams, ck };
}

/** TEST_END through IPERF_DONE; returns the server's results. */
async function endTest(ctl: BlockingSocket, mine: { id: number; bytes: number }[]): Promise<Record<string, unknown>> {
  await ctl.sendall(Uint8Array.of(S.TEST_END));
  expect(await readState(ctl)).toBe(S.EXCHANGE_RESULTS);
  await sendJson(ctl, { cpu_util_total: 1, cpu_util_user: 0.5, cpu_util_system: 0.5, sender_has_retransmits: 1, streams: mine.map((m) => ({ ...m, retransmits: 0, jitter: 0, errors: 0, packets: 0, start_time: 0, end_time: 1 })) });
  const theirs = await readJson(ctl);
  expect(await readState(ctl)).toBe(S.DISPLAY_RESULTS);
  await ctl.sendall(Uint8Array.of(S.IPERF_DONE));
  return theirs;
}

const block = new Uint8Array(100_000).fill(0x61);

describe('iperf3 service (scripted client, simulator)', () => {
  test('forward, -P 2: stream ids 1 and 3, the server reports every byte each stream sent', async () => {
    const e = setup();
    await e.run(
      (async () => {
        const { ctl, streams } = await startTest(e, { parallel: 2, time: 1 });
        const sent = [0, 0];
        await Promise.all(
          streams.map(async (s, i) => {
            for (let k = 0; k < 3 + i; k++) {
              await s.sendall(block);
              sent[i]! += block.length;
            }
          }),
        );
        const res = await endTest(ctl, [
          { id: 1, bytes: sent[0]! },
          { id: 3, bytes: sent[1]! },
        ]);
        expect(res.sender_has_retransmits).toBe(-1);
        for (const k of ['cpu_util_total', 'cpu_util_user', 'cpu_util_system']) expect(res).toHaveProperty(k);
        const rs = res.streams as { id: number; bytes: number; start_time: number; end_time: number }[];
        expect(rs.map((r) => [r.id, r.bytes])).toEqual([
          [1, 300_000],
          [3, 400_000],
        ]);
        expect(rs[0]!.end_time).toBeGreaterThan(0);
        for (const s of [ctl, ...streams]) s.close();
      })(),
    );
    expect(e.svc.counters.bytesIn).toBe(700_000);
    expect(e.svc.iperf3).toMatchObject({ tests: 1, completed: 1, deniedBusy: 0 });
    expect(e.svc.lastResult?.client).toEqual([
      { id: 1, bytes: 300_000 },
      { id: 3, bytes: 400_000 },
    ]);
    await e.finish();
  });

  test('-O 1: bytes before the end of the omitted second are not counted, and the seconds start there', async () => {
    const e = setup();
    await e.run(
      (async () => {
        const { ctl, streams } = await startTest(e, { omit: 1, time: 2 });
        await streams[0]!.sendall(block);
        await new Promise<void>((r) => e.sim.clock.after(1500, r));
        await streams[0]!.sendall(block);
        await streams[0]!.sendall(block);
        await new Promise<void>((r) => e.sim.clock.after(500, r));
        const res = await endTest(ctl, [{ id: 1, bytes: 200_000 }]);
        const r0 = (res.streams as { bytes: number; end_time: number }[])[0]!;
        expect(r0.bytes).toBe(200_000);
        expect(r0.end_time).toBeGreaterThan(0.9);
        expect(r0.end_time).toBeLessThan(1.2);
        for (const s of [ctl, ...streams]) s.close();
      })(),
    );
    expect(e.svc.counters.bytesIn).toBe(300_000);
    await e.finish();
  });

  test('reverse -n 300000 -l 1000: the server sends exactly -n bytes over the streams, reported as the sender', async () => {
    const e = setup();
    await e.run(
      (async () => {
        const { ctl, streams } = await startTest(e, { reverse: true, parallel: 2, time: 0, num: 300_000, len: 1000 });
        const got = [0, 0];
        let ended = false;
        const readers = streams.map(async (s, i) => {
          for (;;) {
            const d = await s.recv(65536);
            if (d.length === 0) return;
            got[i]! += d.length;
            if (!ended && got[0]! + got[1]! >= 300_000) {
              ended = true;
              const res = await endTest(ctl, [
                { id: 1, bytes: got[0]! },
                { id: 3, bytes: got[1]! },
              ]);
              expect(res.sender_has_retransmits).toBe(0);
              const rs = res.streams as { id: number; bytes: number }[];
              expect(rs[0]!.bytes + rs[1]!.bytes).toBe(300_000);
              ctl.close();
            }
          }
        });
        await Promise.all(readers.map((r) => r.catch(() => undefined)));
        expect(got[0]! + got[1]!).toBe(300_000);
        for (const s of streams) s.close();
      })(),
    );
    expect(e.svc.counters.bytesOut).toBe(300_000);
    expect(e.svc.iperf3).toMatchObject({ tests: 1, completed: 1 });
    await e.finish();
  });

  test('reverse -t: the server sends until TEST_END while the client drains; twice in a row', async () => {
    const e = setup();
    await e.run(
      (async () => {
        for (const id of [1, 2]) {
          const { ctl, streams } = await startTest(e, { reverse: true, time: 1 }, id);
          const s = streams[0]!;
          let got = 0;
          while (got < 500_000) got += (await s.recv(65536)).length;
          // As iperf3's client: keep reading the stream while in TEST_END, so a server blocked on a full window can go on.
          let draining = true;
          const drainer = (async () => {
            try {
              while (draining) {
                const d = await s.recv(65536);
                if (d.length === 0) return;
                got += d.length;
              }
            } catch {
              /* reset at the end of the test */
            }
          })();
          const res = await endTest(ctl, [{ id: 1, bytes: got }]);
          draining = false;
          const rs = res.streams as { id: number; bytes: number }[];
          expect(rs[0]!.id).toBe(1);
          expect(rs[0]!.bytes).toBeGreaterThanOrEqual(got);
          ctl.close();
          s.close();
          await drainer;
        }
      })(),
    );
    expect(e.svc.iperf3).toMatchObject({ tests: 2, completed: 2 });
    const reported = e.svc.lastResult!.streams[0]!.bytes;
    expect(reported).toBeGreaterThan(0);
    await e.finish();
  });

  test('reverse -t: after TEST_END each stream ends with a FIN, so a client draining whole blocks with blocking reads (iperf3 3.12) is not left waiting', async () => {
    const e = setup();
    const len = 131_072;
    await e.run(
      (async () => {
        const { ctl, streams } = await startTest(e, { reverse: true, time: 1, len });
        const s = streams[0]!;
        let got = 0;
        // Odd read sizes while running: the client's reads no longer line up with the server's blocks.
        while (got < 500_000) got += (await s.recv(70_001)).length;
        await ctl.sendall(Uint8Array.of(S.TEST_END));
        // As iperf3's client after TEST_END: read whole blocks, each until it is full or EOF, before the control connection.
        let eof = false;
        while (!eof) {
          let part = 0;
          while (part < len) {
            const d = await s.recv(len - part);
            if (d.length === 0) {
              eof = true;
              break;
            }
            part += d.length;
          }
          got += part;
        }
        expect(await readState(ctl)).toBe(S.EXCHANGE_RESULTS);
        await sendJson(ctl, { cpu_util_total: 1, cpu_util_user: 0.5, cpu_util_system: 0.5, sender_has_retransmits: 1, streams: [{ id: 1, bytes: got, retransmits: 0, jitter: 0, errors: 0, packets: 0, start_time: 0, end_time: 1 }] });
        const theirs = await readJson(ctl);
        expect(await readState(ctl)).toBe(S.DISPLAY_RESULTS);
        await ctl.sendall(Uint8Array.of(S.IPERF_DONE));
        // Everything sent arrived before the FIN: the server's count is the client's.
        expect((theirs.streams as { bytes: number }[])[0]!.bytes).toBe(got);
        ctl.close();
        s.close();
      })(),
    );
    expect(e.svc.iperf3).toMatchObject({ tests: 1, completed: 1, timeouts: 0 });
    await e.finish();
  });

  test('a client gone or terminating while its streams are being created ends the test at once, not at the handshake deadline', async () => {
    const e = setup();
    await e.run(
      (async () => {
        const t0 = e.sim.clock.now();
        // Ctrl-C during stream creation: CLIENT_TERMINATE on the control connection.
        let ctl = await connect(e);
        await ctl.sendall(cookie(1));
        expect(await readState(ctl)).toBe(S.PARAM_EXCHANGE);
        await sendJson(ctl, { tcp: true, time: 5, parallel: 2 });
        expect(await readState(ctl)).toBe(S.CREATE_STREAMS);
        await ctl.sendall(Uint8Array.of(S.CLIENT_TERMINATE));
        expect(await readState(ctl)).toBe(null);
        ctl.close();
        // The control connection closed during stream creation.
        ctl = await connect(e);
        await ctl.sendall(cookie(2));
        expect(await readState(ctl)).toBe(S.PARAM_EXCHANGE);
        await sendJson(ctl, { tcp: true, time: 5, parallel: 1 });
        expect(await readState(ctl)).toBe(S.CREATE_STREAMS);
        ctl.close();
        // Both over within a few round trips: the next client is served, not told the server is busy.
        await new Promise<void>((r) => e.sim.clock.after(50, r));
        const t = await startTest(e, { time: 1 }, 3);
        expect(e.sim.clock.now() - t0).toBeLessThan(1_000);
        await endTest(t.ctl, [{ id: 1, bytes: 0 }]);
        for (const s of [t.ctl, ...t.streams]) s.close();
      })(),
    );
    expect(e.svc.iperf3).toMatchObject({ clientTerminated: 1, aborted: 1, deniedBusy: 0, timeouts: 0, completed: 1 });
    await e.finish();
  });

  test('a second client while a test runs gets ACCESS_DENIED (-1) and is closed; the test goes on', async () => {
    const e = setup();
    await e.run(
      (async () => {
        const { ctl, streams } = await startTest(e, { parallel: 1, time: 1 });
        const other = await connect(e);
        await other.sendall(cookie(9));
        expect(await readState(other)).toBe(S.ACCESS_DENIED);
        expect((await readN(other, 1)).length).toBe(0); // then closed
        other.close();
        await streams[0]!.sendall(block);
        const res = await endTest(ctl, [{ id: 1, bytes: block.length }]);
        expect((res.streams as { bytes: number }[])[0]!.bytes).toBe(block.length);
        ctl.close();
        streams[0]!.close();
      })(),
    );
    expect(e.svc.iperf3).toMatchObject({ completed: 1, deniedBusy: 1 });
    await e.finish();
  });

  test('while streams are created: a stranger with another cookie is denied, garbage is reset, the test still starts', async () => {
    const e = setup();
    await e.run(
      (async () => {
        const ck = cookie(1);
        const ctl = await connect(e);
        await ctl.sendall(ck);
        expect(await readState(ctl)).toBe(S.PARAM_EXCHANGE);
        await sendJson(ctl, { tcp: true, time: 1, parallel: 1, len: 1000 });
        expect(await readState(ctl)).toBe(S.CREATE_STREAMS);
        const stranger = await connect(e);
        await stranger.sendall(cookie(2));
        expect(await readState(stranger)).toBe(S.ACCESS_DENIED);
        stranger.close();
        const junk = await connect(e);
        await junk.sendall(new Uint8Array(IPERF3_COOKIE_SIZE).fill(0xff));
        expect((await readN(junk, 1)).length).toBe(0);
        junk.close();
        const st = await connect(e);
        await st.sendall(ck);
        expect(await readState(ctl)).toBe(S.TEST_START);
        expect(await readState(ctl)).toBe(S.TEST_RUNNING);
        await endTest(ctl, [{ id: 1, bytes: 0 }]);
        ctl.close();
        st.close();
      })(),
    );
    expect(e.svc.iperf3).toMatchObject({ completed: 1, deniedBusy: 1, badCookies: 1 });
    await e.finish();
  });

  test('hostile control connections: garbage cookie, huge or broken JSON, slowloris; each counted and closed, the server stays free', async () => {
    const e = setup({ handshakeTimeoutMs: 5_000 });
    await e.run(
      (async () => {
        // Garbage instead of a cookie.
        let s = await connect(e);
        await s.sendall(new TextEncoder().encode('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n'));
        expect((await readN(s, 1)).length).toBe(0);
        s.close();
        // A JSON length of 2 GB: refused at once, nothing buffered.
        s = await connect(e);
        await s.sendall(cookie(3));
        expect(await readState(s)).toBe(S.PARAM_EXCHANGE);
        await s.sendall(Uint8Array.of(0x7f, 0xff, 0xff, 0xff, 0x7b));
        expect((await readN(s, 1)).length).toBe(0);
        s.close();
        // Not JSON.
        s = await connect(e);
        await s.sendall(cookie(4));
        expect(await readState(s)).toBe(S.PARAM_EXCHANGE);
        await s.sendall(Uint8Array.of(0, 0, 0, 3, 0x7b, 0x7b, 0x7b));
        expect((await readN(s, 1)).length).toBe(0);
        s.close();
        // Slowloris: half a cookie, then nothing; ended after the handshake timeout.
        const t0 = e.sim.clock.now();
        s = await connect(e);
        await s.sendall(cookie(5).subarray(0, 10));
        expect((await readN(s, 1)).length).toBe(0);
        expect(e.sim.clock.now() - t0).toBeGreaterThanOrEqual(5_000);
        expect(e.sim.clock.now() - t0).toBeLessThan(6_000);
        s.close();
        // A JSON length announced but never sent.
        s = await connect(e);
        await s.sendall(cookie(6));
        expect(await readState(s)).toBe(S.PARAM_EXCHANGE);
        await s.sendall(Uint8Array.of(0, 0, 1, 0, 0x7b));
        expect((await readN(s, 1)).length).toBe(0);
        s.close();
        // And then a real test still runs.
        const { ctl, streams } = await startTest(e, { time: 1 }, 7);
        await endTest(ctl, [{ id: 1, bytes: 0 }]);
        ctl.close();
        streams[0]!.close();
      })(),
    );
    expect(e.svc.iperf3).toMatchObject({ badCookies: 1, badJson: 2, timeouts: 2, completed: 1 });
    await e.finish();
  });

  test('UDP, --bidir and -P 1000 are refused with SERVER_ERROR and the iperf3 error code', async () => {
    const e = setup();
    await e.run(
      (async () => {
        const cases: [Record<string, unknown>, number][] = [
          [{ udp: true, time: 10, parallel: 1, len: 1460 }, 13],
          [{ tcp: true, time: 10, parallel: 1, bidirectional: true }, 13],
          [{ tcp: true, time: 10, parallel: 1000 }, 6],
          [{ tcp: true, time: 100_000, parallel: 1 }, 5],
          [{ tcp: true, time: 10, parallel: 1, len: 1 << 24 }, 7],
        ];
        for (const [params, code] of cases) {
          const s = await connect(e);
          await s.sendall(cookie(code));
          expect(await readState(s)).toBe(S.PARAM_EXCHANGE);
          await sendJson(s, params);
          expect(await readState(s)).toBe(S.SERVER_ERROR);
          const err = await readN(s, 8);
          expect(new DataView(err.buffer, err.byteOffset).getInt32(0)).toBe(code);
          expect(new DataView(err.buffer, err.byteOffset).getInt32(4)).toBe(0);
          s.close();
        }
      })(),
    );
    expect(e.svc.iperf3.refusedTests).toBe(5);
    expect(e.svc.counters.refused).toBe(0); // the connection counter of the same name is a different thing
    await e.finish();
  });

  test('a client that ends early (CLIENT_TERMINATE), one that vanishes, one that never makes its streams, one that stalls', async () => {
    const e = setup({ handshakeTimeoutMs: 3_000, idleTimeoutMs: 4_000 });
    await e.run(
      (async () => {
        // CLIENT_TERMINATE mid-test: the streams are reset.
        let t = await startTest(e, { parallel: 2, time: 5 }, 1);
        await t.streams[0]!.sendall(block);
        await t.ctl.sendall(Uint8Array.of(S.CLIENT_TERMINATE));
        expect(await drain(t.streams[1]!)).toBe(0);
        for (const s of [t.ctl, ...t.streams]) s.close();
        // The control connection closes mid-test.
        t = await startTest(e, { time: 5 }, 2);
        t.ctl.close();
        expect(await drain(t.streams[0]!)).toBe(0);
        t.streams[0]!.close();
        // No streams after CREATE_STREAMS.
        const ctl = await connect(e);
        await ctl.sendall(cookie(3));
        expect(await readState(ctl)).toBe(S.PARAM_EXCHANGE);
        await sendJson(ctl, { tcp: true, time: 5, parallel: 1 });
        expect(await readState(ctl)).toBe(S.CREATE_STREAMS);
        expect(await readState(ctl)).toBe(null);
        ctl.close();
        // -n with nothing sent: stalled after idleTimeoutMs.
        const t0 = e.sim.clock.now();
        t = await startTest(e, { time: 0, num: 1_000_000 }, 4);
        expect(await readState(t.ctl)).toBe(null);
        expect(e.sim.clock.now() - t0).toBeGreaterThanOrEqual(4_000);
        for (const s of [t.ctl, ...t.streams]) s.close();
        // A -t 1 test whose client never says TEST_END: ended at -t plus the grace.
        const t1 = e.sim.clock.now();
        t = await startTest(e, { time: 1 }, 5);
        const sender = (async () => {
          try {
            // A trickle: never a stall, so only the wall can end it.
            for (let i = 0; i < 30; i++) {
              await t.streams[0]!.sendall(block.subarray(0, 1000));
              await new Promise<void>((r) => e.sim.clock.after(1000, r));
            }
          } catch {
            /* reset when the server ends the test */
          }
        })();
        expect(await readState(t.ctl)).toBe(null);
        expect(e.sim.clock.now() - t1).toBeGreaterThanOrEqual(11_000);
        expect(e.sim.clock.now() - t1).toBeLessThan(12_000);
        await sender;
        for (const s of [t.ctl, ...t.streams]) s.close();
        // Still serving.
        t = await startTest(e, { time: 1 }, 6);
        await endTest(t.ctl, [{ id: 1, bytes: 0 }]);
        for (const s of [t.ctl, ...t.streams]) s.close();
      })(),
    );
    expect(e.svc.iperf3).toMatchObject({ tests: 5, clientTerminated: 1, aborted: 1, timeouts: 3, completed: 1 });
    await e.finish();
  });

  test('stop() during a test closes everything', async () => {
    const e = setup();
    await e.run(
      (async () => {
        const t = await startTest(e, { reverse: true, time: 10 });
        await t.streams[0]!.recv(65536);
        e.svc.stop();
        await drain(t.streams[0]!);
        for (const s of [t.ctl, ...t.streams]) s.close();
      })(),
    );
    await e.finish();
  });
});

describe('tsip up --iperf3', () => {
  test('off by default; --iperf3 on 5201 or --iperf3-port; the port must be free', () => {
    expect(upOptionsOf([], {})).not.toHaveProperty('iperf3');
    expect(upOptionsOf(['--iperf3'], {})).toMatchObject({ iperf3: { port: 5201 } });
    expect(upOptionsOf(['--iperf3', '--iperf3-port', '5301'], {})).toMatchObject({ iperf3: { port: 5301 } });
    expect(() => upOptionsOf(['--iperf3-port', '5301'], {})).toThrow(/--iperf3-port needs --iperf3/);
    expect(() => upOptionsOf(['--iperf3', '--iperf3-port', '80'], {})).toThrow(/--iperf3-port must be a TCP port/);
    expect(() => upOptionsOf(['--iperf3', '--iperf3-port', '2323', '--terminal', '2323'], { TSIP_TERMINAL_PASSWORD: 'x' })).toThrow(/taken by --terminal/);
  });
});
