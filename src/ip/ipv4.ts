// IPv4 input and output (lwIP ip4.c): validate what arrives, reassemble
// fragments, hand payloads to transport protocols; add headers, route and
// fragment what leaves. We are a host: nothing is forwarded.
import { Err } from '../err.ts';
import type { Netif } from '../netif/netif.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import { PbufFlag } from '../pbuf/pbuf.ts';
import type { ProtoStats } from '../stats.ts';
import { Rng } from '../time/rng.ts';
import { ipv4IsLoopback, ipv4IsMulticast } from '../wire/address.ts';
import { internetChecksum, ipv4PseudoHeaderSum } from '../wire/checksum.ts';
import { IPV4_HEADER_LEN, Ipv4Packet } from '../wire/ipv4.ts';
import { fragmentAndSend } from './fragment.ts';
import { completeTcpChecksum, releaseHeaderRoom, withHeaderRoom } from './header-room.ts';
import { IdentGenerator } from './ident.ts';
import type { IcmpErrorSink, IpFamilyLayer, IpHost, IpInfo, ProtocolInput } from './host.ts';
import { martianReason } from './martian.ts';
import { Reassembler, type ReassemblyOptions } from './reassembly.ts';

export interface Ipv4Options {
  /** TTL for datagrams we originate (default 64). */
  defaultTtl?: number;
  reassembly?: ReassemblyOptions;
}

export class Ipv4 implements IpFamilyLayer {
  readonly family = 4;
  readonly headerLen = IPV4_HEADER_LEN;
  readonly minMtu = 576;
  readonly maxPayload = 0xffff - IPV4_HEADER_LEN;
  readonly udpChecksumRequired = false;
  readonly any = 0;
  readonly defaultTtl: number;
  /** Where undeliverable datagrams are reported (installed by ICMP). */
  icmpErrors: IcmpErrorSink | null = null;
  /** The netif for destinations no netif is on-link for. */
  defaultNetif: Netif | null = null;
  /** The loopback netif (installed by the Stack). */
  loopback: Netif | null = null;
  readonly reassembler: Reassembler;
  private readonly handlers: (ProtocolInput | undefined)[] = new Array(256);
  private readonly view = new Ipv4Packet();
  private readonly info: IpInfo;
  private readonly st: ProtoStats;
  private readonly idents: IdentGenerator;

  constructor(
    private readonly host: IpHost,
    opts: Ipv4Options = {},
  ) {
    this.defaultTtl = opts.defaultTtl ?? 64;
    if (!Number.isInteger(this.defaultTtl) || this.defaultTtl < 1 || this.defaultTtl > 255) {
      throw new RangeError('defaultTtl must be an integer in 1..255');
    }
    this.st = host.stats.ip;
    // One draw from the stack's Rng (as the old counter's seed took), so the
    // streams of the layers built after this one stay as they were.
    this.idents = new IdentGenerator(new Rng(host.rng.u32()), host.clock);
    this.reassembler = new Reassembler(host, opts.reassembly, (p, code) => this.icmpErrors?.timeExceeded(p, code));
    this.info = { src: 0, dst: 0, protocol: 0, ttl: 0, tos: 0, headerLen: 0, netif: null as unknown as Netif, broadcast: false, broadcastNetif: null, multicast: false };
  }

  /** Register a transport protocol's input (TCP 6, UDP 17, ICMP 1). */
  register(protocol: number, input: ProtocolInput): void {
    this.handlers[protocol & 0xff] = input;
  }

  /** True if `a` is one of our addresses (any netif, weak host model). */
  isLocal(a: number): boolean {
    return ipv4IsLoopback(a) || this.isOwn(a);
  }

  /** True if `a` is the address of one of our netifs (127/8 aside). */
  readonly isOwn = (a: number): boolean => {
    if (a === 0) return false;
    for (const n of this.host.netifs) if (n.addr === a) return true;
    return false;
  };

  /**
   * Process one received datagram; takes ownership of `p` (payload at the
   * IP header). Every rejection is counted; nothing here throws on bad input.
   */
  input(p: Pbuf, netif: Netif): void {
    const st = this.st;
    st.recv++;
    // The header must sit in the first piece (drivers deliver it so).
    if (p.len < IPV4_HEADER_LEN) return this.drop(p, 'lenerr');
    const v = this.view.wrap(p.buf, p.off, p.len);
    if (v.version !== 4) return this.drop(p, 'proterr');
    const hl = v.headerLen;
    if (hl < IPV4_HEADER_LEN) return this.drop(p, 'proterr');
    if (hl > p.len) return this.drop(p, 'lenerr');
    const total = v.totalLength;
    if (total < hl || total > p.totLen) return this.drop(p, 'lenerr');
    if (internetChecksum(p.buf, p.off, hl) !== 0) return this.drop(p, 'chkerr');
    // Trim link-layer padding beyond the datagram.
    if (p.totLen > total) p.realloc(total);

    const src = v.src;
    const dst = v.dst;
    // Ingress filtering, before any protocol sees the datagram.
    const martian = martianReason(src, dst, netif, netif !== this.loopback, this.isOwn);
    if (martian !== null) {
      this.host.stats.martian[martian]++;
      return this.drop(p, 'drop');
    }
    if (v.ttl === 0) return this.drop(p, 'drop');
    // A broadcast of the receiving netif's subnet, or (as lwIP ip4_input,
    // which offers the datagram to every netif) the directed broadcast of
    // another of our netifs' subnets, accepted for that netif.
    let bcastNetif: Netif | null = netif.isBroadcast(dst) ? netif : null;
    if (bcastNetif === null && netif !== this.loopback) {
      for (const n of this.host.netifs) {
        if (n !== netif && n !== this.loopback && n.isUp && n.hasSubnetAddresses && dst === n.broadcast) {
          bcastNetif = n;
          break;
        }
      }
    }
    const broadcast = bcastNetif !== null;
    if (!broadcast && !this.isLocal(dst)) {
      // Not for us and we do not forward: lwIP counts these as plain drops.
      return this.drop(p, 'drop');
    }

    let q: Pbuf | null = p;
    if (v.moreFragments || v.fragOffset !== 0) {
      q = this.reassembler.insert(p);
      if (q === null) return; // held (or dropped and counted) by the reassembler
    }

    const info = this.info;
    // A reassembled datagram carries its first fragment's header.
    const hv = this.view.wrap(q.buf, q.off, q.len);
    const qhl = hv.headerLen;
    info.src = src;
    info.dst = dst;
    info.protocol = hv.protocol;
    info.ttl = hv.ttl;
    info.tos = hv.dscp << 2 | hv.ecn;
    info.headerLen = qhl;
    info.netif = netif;
    info.broadcast = broadcast;
    info.broadcastNetif = bcastNetif;
    info.multicast = ipv4IsMulticast(dst);
    const handler = this.handlers[info.protocol];
    if (handler === undefined) {
      st.proterr++;
      st.drop++;
      if (!broadcast) this.icmpErrors?.destUnreachable(q, 2 /* protocol unreachable */);
      q.free();
      return;
    }
    q.removeHeader(qhl);
    handler(q, info);
  }

  /** Our address for a datagram to `dst` through `netif`: `dst` itself when we talk to ourselves. */
  sourceFor(netif: Netif, dst: number): number {
    return netif === this.loopback && this.isLocal(dst) ? dst : netif.addr;
  }

  mtuOf(netif: Netif): number {
    return netif.mtu;
  }

  pseudoSum(src: number, dst: number, protocol: number, length: number): number {
    return ipv4PseudoHeaderSum(src, dst, protocol, length);
  }

  /** The netif a datagram to `dst` leaves through, or null (no route). */
  route(dst: number): Netif | null {
    if (this.loopback !== null && this.isLocal(dst)) return this.loopback.isUp ? this.loopback : null;
    const netifs = this.host.netifs;
    for (const n of netifs) if (n.isUp && n !== this.loopback && n.addr !== 0 && n.onLink(dst)) return n;
    const d = this.defaultNetif;
    return d !== null && d.isUp ? d : null;
  }

  /**
   * Send `p` (payload at the transport header) to `dst` (lwIP ip4_output):
   * routes, prepends the IP header, fragments if needed. Does not take
   * ownership: `p` is returned to the caller as it was. `src` 0 picks the
   * outgoing netif's address.
   */
  output(p: Pbuf, src: number, dst: number, protocol: number, ttl = this.defaultTtl, tos = 0, dontFragment = false): number {
    const netif = this.route(dst);
    if (netif === null) {
      this.st.rterr++;
      this.st.drop++;
      return Err.RTE;
    }
    return this.outputIf(p, src, dst, protocol, ttl, tos, dontFragment, netif);
  }

  /** As output(), through a given netif. */
  outputIf(p: Pbuf, src: number, dst: number, protocol: number, ttl: number, tos: number, dontFragment: boolean, netif: Netif): number {
    const st = this.st;
    if (src === 0) src = this.sourceFor(netif, dst);
    const head = withHeaderRoom(this.host.pool, p, IPV4_HEADER_LEN);
    if (head === null) {
      st.memerr++;
      st.drop++;
      return Err.MEM;
    }
    const ownHead = head !== p;
    let err: number;
    const total = head.totLen;
    if (total > 0xffff) {
      st.lenerr++;
      st.drop++;
      err = Err.VAL;
    } else {
      const v = this.view.wrap(head.buf, head.off, IPV4_HEADER_LEN);
      v.version = 4;
      v.headerLen = IPV4_HEADER_LEN;
      v.dscp = tos >>> 2;
      v.ecn = tos & 3;
      v.totalLength = total;
      // A super-segment the device cuts: one Identification per piece (at most; TCP options make pieces fewer).
      v.ident = this.idents.next(src, dst, protocol, p.gsoSize > 0 && total > netif.mtu ? Math.ceil((total - IPV4_HEADER_LEN - 20) / p.gsoSize) : 1);
      v.reservedFlag = false; // recycled memory: the flag setters keep the other bits
      v.dontFragment = dontFragment;
      v.moreFragments = false;
      v.fragOffset = 0;
      v.ttl = ttl;
      v.protocol = protocol;
      v.src = src;
      v.dst = dst;
      v.fillChecksum();
      st.xmit++;
      if ((p.flags & PbufFlag.CSUM_PARTIAL) !== 0) {
        // TCP left its checksum to the device: one that cannot (or a packet about to be fragmented) gets it here; a
        // super-segment the device cuts itself (GSO) is summed by it, piece by piece.
        if (!netif.txCsumOffload || (total > netif.mtu && !(p.gsoSize > 0 && total <= netif.gsoMaxSize))) completeTcpChecksum(head, p, IPV4_HEADER_LEN, this.pseudoSum(src, dst, protocol, total - IPV4_HEADER_LEN));
        else head.flags |= PbufFlag.CSUM_PARTIAL;
      }
      if (total <= netif.mtu) {
        err = netif.output(head);
      } else if (p.gsoSize > 0 && total <= netif.gsoMaxSize) {
        // A TCP super-segment for a GSO-capable device: it cuts it itself.
        head.gsoSize = p.gsoSize;
        err = netif.output(head);
        if (ownHead) head.gsoSize = 0;
      } else if (dontFragment) {
        st.err++;
        err = Err.VAL;
      } else {
        err = fragmentAndSend(this.host, head, netif);
      }
    }
    releaseHeaderRoom(head, p, IPV4_HEADER_LEN);
    return err;
  }

  /** Tear down: drop held fragments and stop timers. */
  close(): void {
    this.reassembler.clear();
  }

  private drop(p: Pbuf, reason: 'lenerr' | 'proterr' | 'chkerr' | 'drop'): void {
    const st = this.st;
    if (reason !== 'drop') st[reason]++;
    st.drop++;
    p.free();
  }
}
