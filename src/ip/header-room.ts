// Room for an IP header in front of a payload: the payload's own header
// room when it has some (lwIP pbuf_add_header), else a piece of its own
// chained in front (ROM/REF payloads have none). Shared by both families.
import type { Pbuf } from '../pbuf/pbuf.ts';
import { PbufFlag, PbufType } from '../pbuf/pbuf.ts';
import { chainOnesSum, foldSum } from '../wire/checksum.ts';
import { PbufLayer, PbufUse, type PbufPool } from '../pbuf/pool.ts';

/**
 * `p` itself with `len` bytes added in front, or a new `len`-byte pbuf
 * chained to `p` (the caller frees it after sending; `p` keeps its own
 * reference), or null when the pool is out of memory.
 */
export function withHeaderRoom(pool: PbufPool, p: Pbuf, len: number): Pbuf | null {
  if (p.addHeader(len)) return p;
  const h = pool.alloc(PbufLayer.IP, len, PbufType.RAM, PbufUse.CONTROL);
  if (h === null) return null;
  h.chain(p);
  return h;
}

/** Undo withHeaderRoom once the datagram is out. */
export function releaseHeaderRoom(head: Pbuf, p: Pbuf, len: number): void {
  if (head !== p) head.free();
  else p.removeHeader(len);
}

/**
 * TX checksum offload done in software (Linux's skb_checksum_help): the
 * TCP segment `p` (flagged PbufFlag.CSUM_PARTIAL, its checksum field 0),
 * behind an IP header of `hl` bytes in `head` (withHeaderRoom's result),
 * gets its checksum from `pseudo`, the pseudo-header sum, and loses the
 * flag. IP calls it for a netif that does not complete checksums itself, or
 * before cutting the packet into fragments.
 */
export function completeTcpChecksum(head: Pbuf, p: Pbuf, hl: number, pseudo: number): void {
  const c = ~foldSum(chainOnesSum(head, hl, head.totLen - hl, pseudo)) & 0xffff;
  const at = (head === p ? p.off + hl : p.off) + 16;
  p.buf[at] = c >>> 8;
  p.buf[at + 1] = c;
  p.flags &= ~PbufFlag.CSUM_PARTIAL;
}
