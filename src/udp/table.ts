// The UDP demux: PCBs by local port, and the most specific match for an
// incoming datagram (connected > bound to the address > wildcard).
import type { UdpPcb } from './pcb.ts';

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
  conflicts(pcb: UdpPcb, ip: number, port: number, reuse: boolean): boolean {
    const l = this.byPort.get(port);
    if (l === undefined) return false;
    for (const o of l) {
      if (o === pcb) continue;
      if (reuse && o.reuseAddr) continue;
      if (o.localIp === 0 || ip === 0 || o.localIp === ip) return true;
    }
    return false;
  }

  /**
   * The PCB a datagram (src:srcPort -> dst:dstPort) belongs to, or null.
   * A connected PCB only matches its remote; a PCB bound to an address only
   * matches that destination (or, for a broadcast, the receiving netif's
   * address). Among equals the first bound wins.
   */
  lookup(dst: number, dstPort: number, src: number, srcPort: number, broadcast: boolean, netifAddr: number): UdpPcb | null {
    const l = this.byPort.get(dstPort);
    if (l === undefined) return null;
    let best: UdpPcb | null = null;
    let bestScore = -1;
    for (const pcb of l) {
      let score = 0;
      if (pcb.localIp !== 0) {
        if (broadcast ? pcb.localIp !== netifAddr : pcb.localIp !== dst) continue;
        score = 1;
      }
      if (pcb.connected) {
        if (pcb.remoteIp !== src || pcb.remotePort !== srcPort) continue;
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
  findConnected(localIp: number, localPort: number, remoteIp: number, remotePort: number): UdpPcb | null {
    const l = this.byPort.get(localPort);
    if (l === undefined) return null;
    for (const pcb of l) {
      if (!pcb.connected || pcb.remoteIp !== remoteIp || pcb.remotePort !== remotePort) continue;
      if (pcb.localIp === 0 || pcb.localIp === localIp) return pcb;
    }
    return null;
  }

  *values(): IterableIterator<UdpPcb> {
    for (const l of this.byPort.values()) yield* l;
  }
}
