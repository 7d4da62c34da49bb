// @ts-check
// lwIP's raw TCP API under lwIP's names (tcp_new -> tcpNew, ...): an echo
// server written the way it would be in C, and a client, on two simulated
// stacks. Callbacks return err_t codes (Err.OK, ...). Run: node examples/raw-echo.js
import { Err, RawTcp, Simulator } from 'tsip';

const sim = new Simulator({ seed: 3 });
const a = sim.addStack('client');
const b = sim.addStack('server');
sim.connect(a, b, { aAddr: '10.0.0.1', bAddr: '10.0.0.2' });

// Server: accept, then echo every pbuf back (tcp_write copies it) and free it.
const srv = new RawTcp(b);
const spcb = srv.tcpNew();
if (spcb === null || srv.tcpBind(spcb, '0.0.0.0', 7) !== Err.OK) throw new Error('bind failed');
const lpcb = srv.tcpListen(spcb, 4);
if (lpcb === null) throw new Error('listen failed');
srv.tcpAccept(lpcb, (_arg, pcb) => {
  srv.tcpRecv(pcb, (_a, p, q) => {
    if (q === null) return srv.tcpClose(p); // the peer's FIN: close our side too
    srv.tcpWrite(p, q.toBytes());
    srv.tcpRecved(p, q.totLen);
    q.free();
    return Err.OK;
  });
  return Err.OK;
});

// Client: connect, send, collect the echo until the server's FIN.
const cli = new RawTcp(a);
const pcb = cli.tcpNew();
if (pcb === null) throw new Error('no PCB');
let echoed = '';
let done = false;
cli.tcpRecv(pcb, (_a, p, q) => {
  if (q === null) {
    done = true;
    return cli.tcpClose(p);
  }
  echoed += new TextDecoder().decode(q.toBytes());
  cli.tcpRecved(p, q.totLen);
  q.free();
  return Err.OK;
});
cli.tcpConnect(pcb, '10.0.0.2', 7, (_a, p) => {
  cli.tcpWrite(p, new TextEncoder().encode('raw API says hi'));
  cli.tcpShutdown(p, false, true); // FIN after the data
  return Err.OK;
});
sim.runUntil(() => done, 10_000);
console.log(`echoed: ${echoed}`);
sim.runUntilIdle();
console.log(`pbufs in use: ${a.pool.stats.pbufsInUse + b.pool.stats.pbufsInUse}`);
sim.close();
