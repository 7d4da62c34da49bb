// UDP echo (RFC 862) on the raw UDP API: each datagram goes back to its
// sender as received, zero copy (the received pbuf is sent again, the
// header put back in its header room). Datagrams from the ports of other
// small services (echo, discard, daytime, chargen, time) are not answered,
// as inetd does, so two echo servers cannot ping-pong forever.
import type { SocketLayer } from '../socket/layer.ts';
import { IP_ANY_TYPE } from '../callbacks/addr.ts';
import { Err } from '../err.ts';
import { newServiceCounters, type Service } from './serve.ts';

const LOOP_PORTS = new Set([7, 9, 13, 19, 37]);

export function udpEchoService(layer: SocketLayer, port = 7): Service {
  const raw = layer.rawUdp;
  const counters = newServiceCounters();
  const pcb = raw.udpNew();
  if (pcb === null) throw new Error('udp-echo: no UDP PCB available');
  raw.setReuseAddr(pcb, true);
  // Both families (lwIP's IP_ANY_TYPE): IPv4 senders come with IPv4 addresses and are answered over IPv4.
  const err = raw.udpBind(pcb, IP_ANY_TYPE, port);
  if (err !== Err.OK) {
    raw.udpRemove(pcb);
    throw new Error(`udp-echo: cannot bind port ${port} (err ${err})`);
  }
  raw.udpRecv(pcb, (_arg, upcb, p, addr, srcPort) => {
    counters.accepted++;
    counters.bytesIn += p.totLen;
    if (!LOOP_PORTS.has(srcPort)) {
      const n = p.totLen;
      if (raw.udpSendTo(upcb, p, addr, srcPort) === Err.OK) counters.bytesOut += n;
      else counters.errors++;
    }
    p.free();
  });
  return {
    name: 'udp-echo',
    port,
    counters,
    stop() {
      raw.udpRemove(pcb);
    },
  };
}
