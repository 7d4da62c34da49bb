// The first example of docs/testing.md, verbatim: keep the two in step.
import * as http from 'node:http';
import { expect, test } from 'vitest';
import { Simulator } from 'tsip';

test('a request over a 50 ms link takes two round trips', async () => {
  const sim = new Simulator({ seed: 1 });
  const client = sim.addStack('client');
  const server = sim.addStack('server');
  sim.connect(client, server, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { latencyMs: 25 } });

  const elapsed = await sim.run(async () => {
    // Your server: node:http, fed by a tsip listener.
    const web = http.createServer((req, res) => res.end('hello'));
    const listener = server.net.createServer((sock) => web.emit('connection', sock)).listen(80);
    // Your client: node:http with tsip sockets (undici: see below).
    const t0 = Date.now();
    const body = await new Promise<string>((resolve) =>
      http.get({ host: 'server', path: '/', createConnection: () => client.net.connect({ host: 'server', port: 80 }) }, (res) => {
        let b = '';
        res.on('data', (d) => (b += d)).on('end', () => resolve(b));
      }),
    );
    expect(body).toBe('hello');
    listener.close();
    return Date.now() - t0;
  });
  expect(elapsed).toBe(100); // handshake + request/response, 50 ms each
  sim.close();
});
