// @ts-check
// The shortest tsip program: two stacks in the simulator, a TCP echo server
// on one (through the node:net façade), a client on the other. Time is
// virtual: sim.settle() runs the network until the promise settles.
// Run: node examples/sim-echo.js
import { text } from 'node:stream/consumers';
import { Simulator } from 'tsip';

const sim = new Simulator({ seed: 1 });
const server = sim.addStack('server');
const client = sim.addStack('client');
sim.connect(client, server, { aAddr: '10.0.0.1', bAddr: '10.0.0.2', link: { latencyMs: 5, loss: 0.1 } });

server.net.createServer((sock) => sock.pipe(sock)).listen(7);
const sock = client.net.connect({ host: '10.0.0.2', port: 7 });
sock.end('hello over a lossy link');
console.log(await sim.settle(text(sock)));
console.log(`virtual time: ${sim.clock.now()} ms`);
sim.close();
