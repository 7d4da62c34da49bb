// @ts-check
// Blocking MicroPython-style sockets: JavaScript cannot block, so every call
// that could block returns a Promise (settimeout(t) makes it reject with
// ETIMEDOUT after t seconds). read(n) is "exact": it waits for n bytes or EOF.
// Run: node examples/socket-blocking.js
import { Simulator } from 'tsip';

const sim = new Simulator({ seed: 2 });
const server = sim.addStack('server');
const client = sim.addStack('client');
sim.connect(client, server, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { latencyMs: 10, loss: 0.05 } });

async function serve() {
  const ls = server.socket();
  ls.bind(['0.0.0.0', 8000]);
  ls.listen(1);
  const [conn] = await ls.accept();
  const request = await conn.readline(); // up to and including '\n'
  await conn.sendall(new TextEncoder().encode(`you said: ${new TextDecoder().decode(request)}`));
  conn.close();
  ls.close();
}

async function ask() {
  const s = client.socket().settimeout(10);
  await s.connect(['10.0.0.2', 8000]);
  await s.write(new TextEncoder().encode('ping over a lossy link\n'));
  const reply = await s.read(4096); // everything until the server closes
  s.close();
  return new TextDecoder().decode(reply);
}

const [, reply] = await sim.settle(Promise.all([serve(), ask()]));
process.stdout.write(reply);
sim.close();
