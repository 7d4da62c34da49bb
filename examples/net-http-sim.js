// @ts-check
// node:http between two simulated tsip stacks: the server is node:http fed
// by a tsip listener, the client node:http with tsip sockets; virtual time
// runs while the request is pending. Run: node examples/net-http-sim.js
import * as http from 'node:http';
import { text } from 'node:stream/consumers';
import { Simulator } from 'tsip';

const sim = new Simulator();
const a = sim.addStack('a');
const b = sim.addStack('b');
sim.connect(a, b, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { latencyMs: 20 } });

const web = http.createServer((req, res) => res.end(`hello ${req.socket.remoteAddress}, you asked for ${req.url}\n`));
const listener = b.net.createServer((sock) => web.emit('connection', sock)).listen(80);

/** @type {Promise<http.IncomingMessage>} */
const response = new Promise((resolve) =>
  http.get({ host: '10.0.0.2', path: '/index.html', createConnection: () => a.net.connect({ host: '10.0.0.2', port: 80 }) }, resolve),
);
const res = await sim.settle(response);
process.stdout.write(`${res.statusCode} ${await sim.settle(text(res))}`);
console.log(`virtual time: ${sim.clock.now()} ms`);
listener.close();
sim.close();
