// Room for an IP header in front of a payload: the payload's own header
// room when it has some (lwIP pbuf_add_header), else a piece of its own
// chained in front (ROM/REF payloads have none). Shared by both families.
import type { Pbuf } from '../pbuf/pbuf.ts';
import { PbufType } from '../pbuf/pbuf.ts';
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
