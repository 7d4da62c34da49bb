// node:http between two simulated tsip stacks: the server is node:http fed
// by a tsip listener, the client node:http with tsip sockets; virtual time
// runs while the request is pending. Run: npx tsx examples/net-http-sim.ts
import * as http from 'node:http';
import { Simulator } from '../src/sim/simulator.ts';

export async function netHttpSimExample(): Promise<string> {
  const sim = new Simulator();
  const a = sim.addStack('a'), b = sim.addStack('b');
  sim.connect(a, b, { aAddr: '10.0.0.1', bAddr: '10.0.0.2' });
  const web = http.createServer((req, res) => res.end(`hello ${req.socket.remoteAddress}\n`));
  const srv = b.net.createServer((sock) => web.emit('connection', sock)).listen(80);
  const reply = new Promise<string>((resolve) =>
    http.get({ host: '10.0.0.2', path: '/', createConnection: (o) => a.net.connect({ host: String(o.host), port: 80 }) }, (res) => res.setEncoding('utf8').on('data', resolve)),
  );
  const text = await sim.settle(reply);
  srv.close();
  sim.close();
  return text;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await netHttpSimExample());
