// Macro: an hour of virtual time for a keep-alive service, in wall seconds.
// 1,000 node:http keep-alive connections from one client stack to a server
// stack (unmodified node:http on both ends, Simulator.run putting the
// application's timers on the virtual clock). Each connection makes one
// request, then stays idle for an hour while the application keeps
// per-connection timers (the server's session housekeeping every 30 s, the
// client's idle watchdog re-armed every 60 s), then makes a second request
// on the same connection and closes. The agent's keepAliveMsecs sets TCP
// keepalive (node's http.Agent turns it on for keep-alive sockets): at 2 h
// the idle hour is silent on the wire; at 60 s each connection probes once
// a minute; node's default, 1 s, probes every second (after each answered
// probe the connection is idle again, on Linux as here), 2,000 frames per
// second for 1,000 connections.
// Figures: wall ms, CPU ms and events per virtual hour. The target
// is under 5 s of wall time per virtual hour with 1,000 connections.
import * as http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { Simulator } from '../src/sim/simulator.ts';
import { type BenchReport, type BenchSpec, type Row, round } from './lib.ts';

const CONNS = 1000;
const HOUR_MS = 3_600_000;

interface Run {
  wallMs: number;
  cpuMs: number;
  virtualMs: number;
  appTimers: number;
  stackSteps: number;
  frames: number;
  ok: boolean;
}

class TsipAgent extends http.Agent {
  constructor(
    private readonly make: (o: { host: string; port: number }) => Duplex,
    o: http.AgentOptions,
  ) {
    super(o);
  }
  override createConnection(options: http.ClientRequestArgs): Duplex {
    return this.make({ host: String(options.host), port: Number(options.port) });
  }
}

function get(agent: http.Agent, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '10.0.0.2', port: 80, path, agent }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function idleHour(keepAliveMsecs: number): Promise<Run> {
  const sim = new Simulator({ seed: 3 });
  const client = sim.addStack('client', { tcp: { maxPcbs: CONNS * 2 + 16 } });
  const server = sim.addStack('server', { tcp: { maxPcbs: CONNS * 2 + 16 } });
  const link = sim.connect(client, server, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { latencyMs: 1 } });
  let appTimers = 0;
  sim.onEvent((e) => {
    if (e.ev === 'timer') appTimers++;
  });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const steps0 = sim.steps;
  const ok = await sim.run(async () => {
    const hs = http.createServer((req, res) => res.end(`${req.url} on ${req.socket.remotePort}`));
    hs.keepAliveTimeout = 2 * HOUR_MS;
    hs.headersTimeout = 0;
    hs.requestTimeout = 0;
    const sessions = new Set<NodeJS.Timeout>();
    const srv = server.net.createServer((s) => {
      const housekeeping = setInterval(() => {}, 30_000); // per-connection session housekeeping
      sessions.add(housekeeping);
      s.on('close', () => {
        clearInterval(housekeeping);
        sessions.delete(housekeeping);
      });
      hs.emit('connection', s);
    });
    srv.listen(80);
    const agent = new TsipAgent(
      (o) => client.net.connect(o),
      { keepAlive: true, keepAliveMsecs, maxSockets: CONNS, maxFreeSockets: CONNS, timeout: 0 },
    );
    // Open every connection with a first request, all at once.
    const first = await Promise.all(Array.from({ length: CONNS }, (_, i) => get(agent, `/first/${i}`)));
    // The client's idle watchdogs: re-armed every 60 s for an hour.
    const start = Date.now();
    await Promise.all(
      Array.from(
        { length: CONNS },
        () =>
          new Promise<void>((resolve) => {
            const tick = (): void => {
              if (Date.now() - start >= HOUR_MS) resolve();
              else setTimeout(tick, 60_000);
            };
            setTimeout(tick, 60_000);
          }),
      ),
    );
    const second = await Promise.all(Array.from({ length: CONNS }, (_, i) => get(agent, `/second/${i}`)));
    // The second requests went over the first requests' connections (the
    // same client ports, in any order): keep-alive held for the hour.
    const port = (s: string): string => s.split(' on ')[1]!;
    const before = new Set(first.map(port));
    const samePorts = before.size === CONNS && new Set(second.map(port)).size === CONNS && second.every((s) => before.has(port(s)));
    agent.destroy();
    srv.close();
    for (const t of sessions) clearInterval(t);
    hs.close();
    return samePorts && second.length === CONNS;
  });
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const r: Run = {
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    virtualMs: sim.clock.now(),
    appTimers,
    stackSteps: sim.steps - steps0,
    frames: link.ab.sent + link.ba.sent,
    ok,
  };
  sim.runUntilIdle();
  sim.close();
  return r;
}

const spec: BenchSpec = {
  name: 'sim-idle-hour',
  description: '1,000 node:http keep-alive connections idle for one virtual hour with per-connection application timers (Simulator.run), wall time',
  async run(): Promise<BenchReport> {
    const rows: Row[] = [];
    const figures: Record<string, number> = {};
    const scenarios = [
      ['HTTP keep-alive + app timers, silent wire', 'silent', 2 * HOUR_MS],
      ['… + TCP keepalive probe per minute', 'probe 60 s', 60_000],
      ["… + node's default keepAliveMsecs (probe per second)", 'probe 1 s', 1000],
    ] as const;
    // TSIP_BENCH_IDLE_ROWS=1 runs the first row only (the target), 2 the first two.
    const rowCount = Number(process.env.TSIP_BENCH_IDLE_ROWS ?? scenarios.length);
    for (const [label, key, keepAliveMsecs] of scenarios.slice(0, rowCount)) {
      const r = await idleHour(keepAliveMsecs);
      rows.push({
        scenario: label,
        connections: CONNS,
        'virtual s': round(r.virtualMs / 1000, 1),
        'wall ms': round(r.wallMs, 0),
        'CPU ms': round(r.cpuMs, 0),
        'app timers fired': r.appTimers,
        'stack timer events': r.stackSteps,
        frames: r.frames,
        'virtual s per wall s': round(r.virtualMs / r.wallMs, 0),
        check: r.ok ? 'same connection both requests' : 'FAILED',
      });
      figures[`${key} wall ms per virtual hour`] = round((r.wallMs * HOUR_MS) / r.virtualMs, 0);
      if (!r.ok) throw new Error(`sim-idle-hour: ${label}: a connection was not kept alive for the hour`);
    }
    return { name: 'sim-idle-hour', rows, figures, notes: ['target (issue 16): under 5 s of wall time per virtual hour with 1,000 idle keep-alive connections and app-level timers'] };
  },
};

export default spec;
