// node:http served by a tsip socket on a real TUN device, answered to the
// kernel's curl inside a private network namespace (created and deleted
// per test). Skipped without root or /dev/net/tun unless REQUIRE_TUN=1.
import * as http from 'node:http';
import { afterEach, describe, expect, test } from 'vitest';
import { sha256, skipTun, startTunEnv, type TunEnv } from '../support/tun.ts';
import { pattern } from './helpers.ts';

const BODY = pattern(5 << 20, 33);

describe.skipIf(skipTun)('node:http over tsip on a TUN device, kernel curl as the client', () => {
  let env: TunEnv | null = null;
  afterEach(() => {
    env?.close();
    env = null;
  });

  for (const offload of [false, true]) {
    test(`GET 5 MB and POST 2 MB, sha256 verified (offload ${offload ? 'on' : 'off'})`, async () => {
      env = startTunEnv({ offload, stack: { pool: { trackLive: true } } });
      const e = env;
      const hs = http.createServer((req, res) => {
        if (req.url === '/big') {
          res.writeHead(200, { 'content-length': BODY.length }).end(BODY);
          return;
        }
        const parts: Buffer[] = [];
        req.on('data', (d: Buffer) => parts.push(d));
        req.on('end', () => res.end(`${sha256(Buffer.concat(parts))} ${req.socket.remoteAddress}\n`));
      });
      const srv = e.stack.net.createServer((s) => hs.emit('connection', s));
      srv.listen(8080);
      const get = await e.sh(`curl -s -m 30 http://${e.tsip}:8080/big | sha256sum`);
      expect(get.code).toBe(0);
      expect(get.stdout.toString().split(' ')[0]).toBe(sha256(BODY));
      const up = pattern(2 << 20, 34);
      const post = await e.exec(['curl', '-s', '-m', '30', '--data-binary', '@-', '-H', 'content-type: application/octet-stream', `http://${e.tsip}:8080/up`], { input: up });
      expect(post.code).toBe(0);
      expect(post.stdout.toString().trim()).toBe(`${sha256(up)} ${e.kernel}`);
      srv.close();
      hs.close();
      hs.closeAllConnections();
      const stack = e.stack;
      e.close();
      env = null;
      stack.pool.assertEmpty();
    }, 60_000);
  }
});
