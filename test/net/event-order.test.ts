// Every event-order case runs twice: once over tsip (two simulated stacks)
// and once over a real node:net socket on 127.0.0.1, and the sequences of
// events each side sees must be identical (names, order, error codes and
// syscalls, close's hadError, write() return values).
import * as nodeNet from 'node:net';
import { describe, expect, test } from 'vitest';
import { netPair, recordEvents } from './helpers.ts';

const EVENTS = ['connect', 'ready', 'data', 'end', 'finish', 'drain', 'timeout', 'error', 'close'];

interface SockLike extends NodeJS.EventEmitter {
  write(d: string | Uint8Array): boolean;
  end(d?: string): unknown;
  destroy(e?: Error): unknown;
  resetAndDestroy(): unknown;
  pause(): unknown;
  resume(): unknown;
  setTimeout(ms: number): unknown;
  readonly destroyed: boolean;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly remotePort?: number;
  readonly localPort?: number;
}
interface ServerLike extends NodeJS.EventEmitter {
  listen(o: { port: number; host?: string }): unknown;
  close(): unknown;
  address(): unknown;
}
interface Api {
  name: string;
  host: string;
  createServer(o: Record<string, unknown>, cb: (s: SockLike) => void): ServerLike;
  connect(o: Record<string, unknown>): SockLike;
  /** Let the network run until `cond` holds. */
  until(cond: () => boolean, ms?: number): Promise<void>;
  /** Let `ms` of (virtual or real) time pass. */
  sleep(ms: number): Promise<void>;
}

interface Result {
  client: string[];
  server: string[];
}

type Scenario = (api: Api) => Promise<Result>;

async function realApi<T>(fn: (api: Api) => Promise<T>): Promise<T> {
  const api: Api = {
    name: 'node:net',
    host: '127.0.0.1',
    createServer: (o, cb) => nodeNet.createServer(o, cb as (s: nodeNet.Socket) => void) as unknown as ServerLike,
    connect: (o) => nodeNet.connect(o as unknown as nodeNet.NetConnectOpts) as unknown as SockLike,
    until: async (cond, ms = 5000) => {
      const end = performance.now() + ms;
      while (!cond()) {
        if (performance.now() > end) throw new Error('node:net: condition not reached');
        await new Promise((r) => setTimeout(r, 2));
      }
    },
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  };
  return fn(api);
}

async function tsipApi<T>(fn: (api: Api) => Promise<T>): Promise<T> {
  const t = netPair();
  const api: Api = {
    name: 'tsip',
    host: '10.0.0.2',
    createServer: (o, cb) => t.server.net.createServer(o, cb as never) as unknown as ServerLike,
    connect: (o) => t.client.net.connect(o as never) as unknown as SockLike,
    until: async (cond, ms = 600_000) => {
      if (!(await t.until(cond, ms))) throw new Error('tsip: condition not reached');
    },
    sleep: (ms) => t.advance(ms),
  };
  const r = await fn(api);
  await t.finish();
  return r;
}

/** Listen on an ephemeral port (node:net) or 7000 (tsip); returns the port. */
async function listen(api: Api, srv: ServerLike): Promise<number> {
  let ok = false;
  srv.once('listening', () => (ok = true));
  srv.listen({ port: api.name === 'tsip' ? 7000 : 0, host: api.name === 'tsip' ? '0.0.0.0' : '127.0.0.1' });
  await api.until(() => ok);
  return (srv.address() as { port: number }).port;
}

const closed = (log: string[]): boolean => log.some((e) => e.startsWith('close'));

const scenarios: Record<string, Scenario> = {
  'client end(): echo, FIN both ways, end before close': async (api) => {
    const server: string[] = [];
    const srv = api.createServer({}, (s) => {
      recordEvents(s, EVENTS, server);
      s.on('data', (d: Buffer) => s.write(d));
    });
    const port = await listen(api, srv);
    const c = api.connect({ host: api.host, port });
    const client = recordEvents(c, EVENTS);
    c.on('connect', () => c.end('hello'));
    await api.until(() => closed(client) && closed(server));
    srv.close();
    return { client, server };
  },
  'server ends first: data, end, finish, close(false)': async (api) => {
    const server: string[] = [];
    const srv = api.createServer({}, (s) => {
      recordEvents(s, EVENTS, server);
      s.end('bye');
    });
    const port = await listen(api, srv);
    const c = api.connect({ host: api.host, port });
    const client = recordEvents(c, EVENTS);
    await api.until(() => closed(client) && closed(server));
    srv.close();
    return { client, server };
  },
  'allowHalfOpen: the server keeps writing after end': async (api) => {
    const server: string[] = [];
    const srv = api.createServer({ allowHalfOpen: true }, (s) => {
      recordEvents(s, EVENTS, server);
      s.resume();
      s.on('end', () => {
        server.push(`write:${s.write('late reply')}`);
        s.end();
      });
    });
    const port = await listen(api, srv);
    const c = api.connect({ host: api.host, port, allowHalfOpen: true });
    const client = recordEvents(c, EVENTS);
    c.on('connect', () => c.end());
    await api.until(() => closed(client) && closed(server));
    srv.close();
    return { client, server };
  },
  'server destroy(): the client sees end, then close(false)': async (api) => {
    const server: string[] = [];
    const srv = api.createServer({}, (s) => {
      recordEvents(s, EVENTS, server);
      s.destroy();
    });
    const port = await listen(api, srv);
    const c = api.connect({ host: api.host, port });
    const client = recordEvents(c, EVENTS);
    await api.until(() => closed(client) && closed(server));
    srv.close();
    return { client, server };
  },
  'server resetAndDestroy() after data: ECONNRESET (read), close(true)': async (api) => {
    const server: string[] = [];
    const srv = api.createServer({}, (s) => {
      recordEvents(s, EVENTS, server);
      s.once('data', () => s.resetAndDestroy());
    });
    const port = await listen(api, srv);
    const c = api.connect({ host: api.host, port });
    const client = recordEvents(c, EVENTS);
    c.on('error', (e: NodeJS.ErrnoException) => client.push(`syscall:${e.syscall}`));
    c.on('connect', () => c.write('x'));
    await api.until(() => closed(client) && closed(server));
    srv.close();
    return { client, server };
  },
  'connection refused: ECONNREFUSED (connect), close(true)': async (api) => {
    // A port nobody listens on (an ephemeral port just closed on node:net).
    let port = 7001;
    if (api.name !== 'tsip') {
      const tmp = nodeNet.createServer();
      await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', () => r()));
      port = (tmp.address() as nodeNet.AddressInfo).port;
      await new Promise((r) => tmp.close(r));
    }
    const c = api.connect({ host: api.host, port });
    const client = recordEvents(c, EVENTS);
    let info = '';
    c.on('error', (e: NodeJS.ErrnoException & { address?: string; port?: number }) => {
      info = `${e.syscall} ${e.code} ${e.port === port} ${e.address === api.host} ${e.message === `connect ECONNREFUSED ${api.host}:${port}`}`;
    });
    await api.until(() => closed(client));
    client.push(info);
    return { client, server: [] };
  },
  'destroy(err): error then close(true)': async (api) => {
    const server: string[] = [];
    const srv = api.createServer({}, (s) => {
      recordEvents(s, EVENTS, server);
      s.resume();
    });
    const port = await listen(api, srv);
    const c = api.connect({ host: api.host, port });
    const client = recordEvents(c, EVENTS);
    c.on('connect', () => c.destroy(Object.assign(new Error('boom'), { code: 'EBOOM' })));
    await api.until(() => closed(client) && closed(server));
    srv.close();
    return { client, server };
  },
  'write() false beyond the high-water mark while the peer does not read, then drain': async (api) => {
    const server: string[] = [];
    let got = 0;
    let ss: SockLike | null = null;
    const srv = api.createServer({}, (s) => {
      ss = s;
      s.pause();
      s.on('data', (d: Buffer) => (got += d.length));
      s.on('end', () => s.end());
    });
    const port = await listen(api, srv);
    const c = api.connect({ host: api.host, port });
    const client = recordEvents(c, EVENTS);
    await api.until(() => client.includes('connect') && ss !== null);
    client.push(`small:${c.write(Buffer.alloc(100))}`);
    client.push(`big:${c.write(Buffer.alloc(32 << 20))}`);
    await api.sleep(50);
    client.push(`drained-while-paused:${client.includes('drain')}`);
    ss!.resume();
    await api.until(() => client.includes('drain'));
    c.end();
    await api.until(() => closed(client));
    server.push(`got:${got}`);
    srv.close();
    return { client, server };
  },
  'setTimeout: timeout is only an event; the socket stays open': async (api) => {
    const server: string[] = [];
    const srv = api.createServer({}, (s) => {
      recordEvents(s, EVENTS, server);
      s.resume();
    });
    const port = await listen(api, srv);
    const c = api.connect({ host: api.host, port, timeout: 50 });
    const client = recordEvents(c, EVENTS);
    await api.until(() => client.includes('timeout'));
    await api.sleep(20);
    client.push(`destroyed:${c.destroyed}`);
    c.setTimeout(0);
    c.end();
    await api.until(() => closed(client) && closed(server));
    srv.close();
    return { client, server };
  },
  'pause()/resume(): no data while paused, then all of it': async (api) => {
    const server: string[] = [];
    let ss: SockLike | null = null;
    const srv = api.createServer({}, (s) => {
      recordEvents(s, EVENTS, server);
      s.pause();
      s.once('end', () => s.end());
      ss = s;
    });
    const port = await listen(api, srv);
    const c = api.connect({ host: api.host, port });
    const client = recordEvents(c, EVENTS);
    c.on('connect', () => c.end('abc'));
    await api.until(() => client.includes('finish') && ss !== null);
    await api.sleep(100);
    server.push(`while-paused:${server.length}`);
    ss!.resume();
    await api.until(() => closed(client) && closed(server));
    srv.close();
    return { client, server };
  },
  'listen twice on a port: EADDRINUSE (listen)': async (api) => {
    const server: string[] = [];
    const a = api.createServer({}, () => {});
    const port = await listen(api, a);
    const b = api.createServer({}, () => {});
    b.on('error', (e: NodeJS.ErrnoException) => server.push(`error:${e.code}:${e.syscall}`));
    b.listen({ port, host: api.host === '127.0.0.1' ? '127.0.0.1' : '0.0.0.0' });
    await api.until(() => server.length > 0);
    a.close();
    return { client: [], server };
  },
};

describe('event order: tsip against node:net on loopback', () => {
  for (const [name, sc] of Object.entries(scenarios)) {
    test(name, async () => {
      const real = await realApi(sc);
      const ours = await tsipApi(sc);
      expect(ours).toEqual(real);
      expect(ours.client.length + ours.server.length).toBeGreaterThan(0);
      if (name in EXPECTED) expect(ours).toEqual(EXPECTED[name]);
    });
  }
});

/** A few sequences spelled out, so a regression in both would still show. */
const EXPECTED: Record<string, Result> = {
  'client end(): echo, FIN both ways, end before close': {
    client: ['connect', 'ready', 'finish', 'data', 'end', 'close(false)'],
    server: ['data', 'end', 'finish', 'close(false)'],
  },
  'server resetAndDestroy() after data: ECONNRESET (read), close(true)': {
    client: ['connect', 'ready', 'error(ECONNRESET)', 'syscall:read', 'close(true)'],
    server: ['data', 'close(false)'],
  },
  'connection refused: ECONNREFUSED (connect), close(true)': {
    client: ['error(ECONNREFUSED)', 'close(true)', 'connect ECONNREFUSED true true true'],
    server: [],
  },
};
