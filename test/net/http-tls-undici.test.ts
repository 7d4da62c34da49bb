// Unchanged node:http, node:tls and undici over tsip sockets, on two
// simulated stacks: the libraries see stream.Duplex sockets with node:net's
// API and never know the TCP underneath is tsip's.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tls from 'node:tls';
import { Agent as UndiciAgent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Socket } from '../../src/net/index.ts';
import { netPair, pattern, sha256 } from './helpers.ts';

const BODY = pattern(1 << 20, 3);
const BODY_SHA = sha256(BODY);

/** node:http answering on a tsip server socket: GET /body, POST /echo-sha. */
function httpHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.url === '/body') {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BODY.length });
    res.end(BODY);
    return;
  }
  if (req.url === '/echo-sha' && req.method === 'POST') {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const b = Buffer.concat(parts);
      res.end(JSON.stringify({ len: b.length, sha: sha256(b), remote: req.socket.remoteAddress }));
    });
    return;
  }
  res.writeHead(404).end('no such page\n');
}

/** A tsip listener whose connections go to a node:http server (no node listener at all). */
function serveHttp(t: ReturnType<typeof netPair>, port: number): { close(): void; http: http.Server } {
  const hs = http.createServer(httpHandler);
  const srv = t.server.net.createServer((s) => hs.emit('connection', s));
  srv.listen(port);
  return {
    http: hs,
    close() {
      srv.close();
      hs.close();
      hs.closeAllConnections();
    },
  };
}

/** An http.Agent whose connections are tsip sockets. */
class TsipAgent extends http.Agent {
  constructor(
    private readonly make: (o: { host: string; port: number }) => Duplex,
    o: http.AgentOptions = {},
  ) {
    super(o);
  }
  override createConnection(options: http.ClientRequestArgs): Duplex {
    return this.make({ host: String(options.host), port: Number(options.port) });
  }
}

function request(o: http.RequestOptions, body?: Buffer): Promise<{ status: number; body: Buffer; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(o, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('node:http over tsip (simulator)', () => {
  test('node:http server on a tsip listener, node:http client through an Agent returning tsip sockets, keep-alive reuse', async () => {
    const t = netPair();
    const srv = serveHttp(t, 80);
    let conns = 0;
    const agent = new TsipAgent(
      (o) => {
        conns++;
        return t.client.net.connect(o);
      },
      { keepAlive: true, maxSockets: 1 },
    );
    const r1 = await t.run(request({ host: '10.0.0.2', port: 80, path: '/body', agent }));
    expect(r1.status).toBe(200);
    expect(r1.body.length).toBe(BODY.length);
    expect(sha256(r1.body)).toBe(BODY_SHA);
    const up = pattern(300_000, 9);
    const r2 = await t.run(request({ host: '10.0.0.2', port: 80, path: '/echo-sha', method: 'POST', agent }, up));
    expect(JSON.parse(r2.body.toString())).toEqual({ len: up.length, sha: sha256(up), remote: '10.0.0.1' });
    const r3 = await t.run(request({ host: '10.0.0.2', port: 80, path: '/nope', agent }));
    expect(r3.status).toBe(404);
    expect(conns).toBe(1); // keep-alive: one tsip connection carried all three
    agent.destroy();
    srv.close();
    await t.finish();
  });

  test('undici fetch through a connect function that returns tsip sockets', async () => {
    const t = netPair();
    const srv = serveHttp(t, 8080);
    const dispatcher = new UndiciAgent({
      connect: (opts, cb) => {
        const s = t.client.net.connect({ host: opts.hostname, port: Number(opts.port) });
        s.once('connect', () => cb(null, s as never));
        s.once('error', (e) => cb(e, null));
      },
    });
    const res = await t.run(undiciFetch('http://10.0.0.2:8080/body', { dispatcher }));
    expect(res.status).toBe(200);
    const body = Buffer.from(await t.run(res.arrayBuffer()));
    expect(sha256(body)).toBe(BODY_SHA);
    const up = pattern(100_000, 5);
    const res2 = await t.run(undiciFetch('http://10.0.0.2:8080/echo-sha', { method: 'POST', body: up, dispatcher }));
    expect(await t.run(res2.json())).toEqual({ len: up.length, sha: sha256(up), remote: '10.0.0.1' });
    await t.run(dispatcher.close());
    srv.close();
    await t.finish();
  });
});

describe('node:tls over tsip (simulator), self-signed certificate made in the test', () => {
  let dir = '';
  let key = '';
  let cert = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'tsip-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=tsip.test', '-addext', 'subjectAltName=DNS:tsip.test,IP:10.0.0.2,IP:10.0.0.1'], { stdio: 'ignore' });
    key = readFileSync(path.join(dir, 'key.pem'), 'utf8');
    cert = readFileSync(path.join(dir, 'cert.pem'), 'utf8');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const dirn of ['client→server', 'server→client'] as const) {
    test(`TLS both ways over tsip, 1 MB ${dirn}, bytes verified, certificate verified`, async () => {
      const t = netPair();
      const payload = pattern(1 << 20, dirn === 'client→server' ? 11 : 12);
      let serverGot = '';
      let serverAuthorized: boolean | null = null;
      const srv = t.server.net.createServer((raw) => {
        const s = new tls.TLSSocket(raw, { isServer: true, key, cert, requestCert: false });
        const parts: Buffer[] = [];
        s.on('secure', () => (serverAuthorized = true));
        s.on('data', (d: Buffer) => parts.push(d));
        s.on('end', () => {
          serverGot = sha256(Buffer.concat(parts));
          if (dirn === 'server→client') s.end(payload);
          else s.end(`sha:${serverGot}`);
        });
        s.on('error', () => {});
      });
      srv.listen(443);
      const raw: Socket = await t.run(t.client.connectTcp({ host: '10.0.0.2', port: 443 }));
      const c = tls.connect({ socket: raw, ca: [cert], servername: 'tsip.test' });
      const secure = new Promise<void>((resolve, reject) => {
        c.once('secureConnect', () => resolve());
        c.once('error', reject);
      });
      await t.run(secure);
      expect(c.authorized).toBe(true);
      expect(c.getPeerCertificate().subject.CN).toBe('tsip.test');
      const got = new Promise<Buffer>((resolve, reject) => {
        const parts: Buffer[] = [];
        c.on('data', (d: Buffer) => parts.push(d));
        c.on('end', () => resolve(Buffer.concat(parts)));
        c.on('error', reject);
      });
      if (dirn === 'client→server') c.end(payload);
      else c.end('ping');
      const reply = await t.run(got);
      if (dirn === 'client→server') {
        expect(reply.toString()).toBe(`sha:${sha256(payload)}`);
      } else {
        expect(sha256(reply)).toBe(sha256(payload));
        expect(serverGot).toBe(sha256(Buffer.from('ping')));
      }
      expect(serverAuthorized).toBe(true);
      await t.until(() => raw.destroyed);
      srv.close();
      await t.finish();
    });
  }
});
