// @ts-check
// node:http served by tsip on a real Linux TUN device. Needs root (or
// CAP_NET_ADMIN) and /dev/net/tun. The device lives in a network namespace
// this program creates and deletes, so nothing touches the host's network.
// It asks itself for the page from the kernel's side of the device, then
// keeps serving for SECONDS (default 60; Ctrl-C stops it sooner):
//   sudo node examples/net-http-tun.js [SECONDS]
//   sudo ip netns exec tsip-demo curl http://10.77.0.2:8080/    (another terminal)
import { execFile } from 'node:child_process';
import * as http from 'node:http';
import { configureTunLink, createNetns, deleteNetns, RealClock, Stack, TunDevice, tunAvailable } from 'tsip';

const NS = process.env.TSIP_DEMO_NETNS ?? 'tsip-demo';
const seconds = Number(process.argv[2] ?? 60);
const tun = tunAvailable();
if (!tun.ok) {
  console.error(`cannot open a TUN device here: ${tun.why}`);
  process.exit(1);
}

createNetns(NS);
const stack = new Stack({ clock: new RealClock() });
const dev = TunDevice.open({ name: 'tsip0', netns: NS });
dev.attach(stack, { addr: '10.77.0.2', prefixLength: 30, mtu: 1500 });
configureTunLink({ dev: 'tsip0', address: '10.77.0.1/30', netns: NS });

const web = http.createServer((req, res) => res.end(`hello from tsip, ${req.socket.remoteAddress}\n`));
const listener = stack.net.createServer((sock) => web.emit('connection', sock)).listen(8080);

let stopped = false;
const stop = () => {
  if (stopped) return;
  stopped = true;
  listener.close();
  dev.close();
  stack.close();
  deleteNetns(NS); // the namespace never outlives the demo
  clearTimeout(timer);
};
process.on('SIGINT', stop).on('SIGTERM', stop);
const timer = setTimeout(stop, Math.max(0, seconds) * 1000 + 5000);

// The kernel side asks (asynchronously: this process is the server).
const fetchScript = "fetch('http://10.77.0.2:8080/').then((r) => r.text()).then((t) => process.stdout.write(t))";
execFile('ip', ['netns', 'exec', NS, process.execPath, '-e', fetchScript], { timeout: 5000 }, (err, stdout) => {
  if (err) {
    console.error(`the kernel could not fetch the page: ${err.message}`);
    process.exitCode = 1;
    return stop();
  }
  process.stdout.write(`kernel got: ${stdout}`);
  if (seconds > 0) console.log(`serving http://10.77.0.2:8080/ in namespace ${NS} for ${seconds} s`);
  clearTimeout(timer);
  setTimeout(stop, Math.max(0, seconds) * 1000);
});
