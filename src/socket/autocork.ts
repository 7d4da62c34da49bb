// Autocorking for GSO, shared by the socket APIs above the raw one (the
// MicroPython sockets, the node:net façade): when to leave tcpOutput to
// the next ACK after queueing data.
import { maxPayload, segLimit } from '../pcb/output.ts';
import type { TcpPcb } from '../pcb/pcb.ts';
import { PcbFlag } from '../pcb/state.ts';
import { TcpFlag } from '../wire/tcp.ts';

/**
 * Autocorking for GSO (Linux tcp_autocorking / tcp_tso_should_defer, in
 * spirit): with a GSO-capable netif, a write that leaves only a partial
 * super-segment queued while at least two MSS are in flight need not send
 * it now: the ACK those bring (soon: the peer acknowledges every second
 * full segment) sends it, by then filled by the writes that follow. Else a
 * writer of small blocks sends one small super-segment per write, and each
 * costs a device write. Never with TCP_NODELAY, never without GSO (there a
 * partial segment is Nagle's, unchanged), never with nothing in flight.
 */
export function autocork(pcb: TcpPcb): boolean {
  if (pcb.gsoMax <= 0 || (pcb.flags & (PcbFlag.NODELAY | PcbFlag.ACK_NOW)) !== 0) return false;
  const tail = pcb.unsent.tail;
  if (tail === null || tail !== pcb.unsent.head || (tail.flags & TcpFlag.FIN) !== 0 || tail.len >= segLimit(pcb)) return false;
  return pcb.inFlight >= 2 * maxPayload(pcb);
}
