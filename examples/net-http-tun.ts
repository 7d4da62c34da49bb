// node:http served by tsip on a real TUN device (needs root and /dev/net/tun):
// the device lives in network namespace `tsip-demo`; try
//   sudo ip netns exec tsip-demo curl http://10.77.0.2:8080/
// Run: sudo npx tsx examples/net-http-tun.ts   (Ctrl-C stops it; it stops by itself after 10 minutes)
import * as http from 'node:http';
import { TunDevice } from '../src/netif/tun.ts';
import { configureTunLink, createNetns, deleteNetns } from '../src/netif/tun-ip.ts';
import { RealClock, Stack } from '../src/index.ts';

createNetns('tsip-demo');
const stack = new Stack({ clock: new RealClock() });
const dev = TunDevice.open({ name: 'tsip0', netns: 'tsip-demo' });
dev.attach(stack, { addr: '10.77.0.2', prefixLength: 30, mtu: 1500 });
configureTunLink({ dev: 'tsip0', address: '10.77.0.1/30', netns: 'tsip-demo' });
const web = http.createServer((req, res) => res.end(`hello from tsip, ${req.socket.remoteAddress}\n`));
stack.net.createServer((sock) => web.emit('connection', sock)).listen(8080);
const stop = (): never => (dev.close(), stack.close(), deleteNetns('tsip-demo'), process.exit(0));
process.on('SIGINT', stop).on('SIGTERM', stop);
setTimeout(stop, 10 * 60_000); // bounded: the namespace never outlives the demo
