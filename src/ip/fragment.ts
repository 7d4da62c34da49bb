// IPv4 fragmentation on output (lwIP ip4_frag): cut a datagram that is
// larger than the netif MTU into pieces whose payloads are multiples of 8
// bytes. Fragments are copies: fragmentation is rare for a host whose TCP
// honours the MSS, so simplicity wins over zero-copy here.
import { Err } from '../err.ts';
import type { Netif } from '../netif/netif.ts';
import type { Pbuf } from '../pbuf/pbuf.ts';
import { PbufType } from '../pbuf/pbuf.ts';
import { PbufLayer, PbufUse } from '../pbuf/pool.ts';
import { Ipv4Packet } from '../wire/ipv4.ts';
import type { IpHost } from './host.ts';

const view = new Ipv4Packet();

/**
 * Send `p` (a complete datagram, header first, header in the first piece)
 * through `netif` in fragments. Does not take ownership of `p`.
 */
export function fragmentAndSend(host: IpHost, p: Pbuf, netif: Netif): number {
  const st = host.stats.ipFrag;
  const v = view.wrap(p.buf, p.off, p.len);
  const hl = v.headerLen;
  const baseOffset = v.fragOffset;
  const baseMore = v.moreFragments;
  const payloadLen = p.totLen - hl;
  const chunk = ((netif.mtu - hl) >> 3) << 3;
  if (chunk <= 0) return Err.VAL;
  // Copy the header once; every fragment starts from it.
  const header = new Uint8Array(hl);
  p.copyPartial(header, hl, 0);
  for (let off = 0; off < payloadLen; off += chunk) {
    const n = Math.min(chunk, payloadLen - off);
    const last = off + n >= payloadLen;
    const f = host.pool.alloc(PbufLayer.LINK, hl + n, PbufType.RAM, PbufUse.CONTROL);
    if (f === null) {
      st.memerr++;
      st.drop++;
      return Err.MEM;
    }
    f.buf.set(header, f.off);
    p.copyPartial(f.buf, n, hl + off, f.off + hl);
    const fv = view.wrap(f.buf, f.off, hl);
    fv.totalLength = hl + n;
    fv.fragOffset = baseOffset + off;
    fv.moreFragments = !last || baseMore;
    fv.fillChecksum();
    const err = netif.output(f);
    f.free();
    if (err !== Err.OK) return err;
    st.xmit++;
  }
  return Err.OK;
}
