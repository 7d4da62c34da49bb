// The UDP demux: PCBs by local port, and the most specific match for an
// incoming datagram (connected > bound to the address > wildcard).
import type { UdpPcb } from './pcb.ts';
import { bindAccepts, bindsOverlap, ipEq, type IpAddr } from '../wire/ipaddr.ts';

export class UdpTable {
  private readonly byPort = new Map<number, UdpPcb[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(pcb: UdpPcb): void {
    const l = this.byPort.get(pcb.localPort);
    if (l === undefined) this.byPort.set(pcb.localPort, [pcb]);
    else l.push(pcb);
    pcb.inTable = true;
    this.count++;
  }

  remove(pcb: UdpPcb): void {
    if (!pcb.inTable) return;
    const l = this.byPort.get(pcb.localPort);
    const i = l === undefined ? -1 : l.indexOf(pcb);
    if (l !== undefined && i >= 0) {
      l.splice(i, 1);
      if (l.length === 0) this.byPort.delete(pcb.localPort);
      this.count--;
    }
    pcb.inTable = false;
  }

  portInUse(port: number): boolean {
    return this.byPort.has(port);
  }

  /**
   * Would binding `pcb` to (ip, port) clash with another PCB? As lwIP and
   * Linux: the same port on the same address, or either address the
   * wildcard, unless both PCBs have SO_REUSEADDR.
   */
  conflicts(pcb: UdpPcb, ip: IpAddr, port: number, reuse: boolean): boolean {
    const l = this.byPort.get(port);
    if (l === undefined) return false;
    for (const o of l) {
      if (o === pcb) continue;
      if (reuse && o.reuseAddr) continue;
      if (bindsOverlap(o.localIp, o.v6only, ip, pcb.v6only)) return true;
    }
    return false;
  }

  /**
   * The PCB a datagram (src:srcPort -> dst:dstPort) belongs to, or null.
   * A connected PCB only matches its remote; a PCB bound to an address only
   * matches that destination (or, for a broadcast, the receiving netif's
   * address). Among equals the first bound wins.
   */
  lookup(dst: IpAddr, dstPort: number, src: IpAddr, srcPort: number, broadcast: boolean, netifAddr: number): UdpPcb | null {
    const l = this.byPort.get(dstPort);
    if (l === undefined) return null;
    let best: UdpPcb | null = null;
    let bestScore = -1;
    for (const pcb of l) {
      let score = 0;
      if (broadcast) {
        // A broadcast goes to wildcard PCBs and to the one bound to the receiving netif's address.
        if (pcb.localIp !== 0 && pcb.localIp !== netifAddr && bindAccepts(pcb.localIp, pcb.v6only, dst) !== 1) continue;
        if (pcb.localIp === netifAddr) score = 1;
      } else {
        const m = bindAccepts(pcb.localIp, pcb.v6only, dst);
        if (m === 0) continue;
        if (m === 3) score = 1;
      }
      if (pcb.connected) {
        if (!ipEq(pcb.remoteIp, src) || pcb.remotePort !== srcPort) continue;
        score += 2;
      }
      if (score > bestScore) {
        best = pcb;
        bestScore = score;
        if (score === 3) break;
      }
    }
    return best;
  }

  /** Connected PCBs sending from (localIp, localPort) to (remoteIp, remotePort), for ICMP errors. */
  findConnected(localIp: IpAddr, localPort: number, remoteIp: IpAddr, remotePort: number): UdpPcb | null {
    const l = this.byPort.get(localPort);
    if (l === undefined) return null;
    for (const pcb of l) {
      if (!pcb.connected || !ipEq(pcb.remoteIp, remoteIp) || pcb.remotePort !== remotePort) continue;
      if (bindAccepts(pcb.localIp, pcb.v6only, localIp) !== 0) return pcb;
    }
    return null;
  }

  *values(): IterableIterator<UdpPcb> {
    for (const l of this.byPort.values()) yield* l;
  }
}
