// SYN cookies (RFC 4987 §3.6). When a listener cannot keep another
// half-open connection (its SYN queue or backlog is full, or the PCB limit
// is reached) the SYN-ACK carries the state in its sequence number instead,
// and nothing is kept; the ACK that completes the handshake brings it back.
//
//   ISS = H1(4-tuple) + client ISN + t << 24 + (H2(4-tuple, t, m) & ~7 | m) mod 2^24
//
// t counts 64-second ticks (mod 256); a cookie is good for MAX_AGE ticks.
// m (3 bits) indexes COOKIE_MSS and is itself hashed into the other 21
// bits, so a cookie off by one does not pass with a neighbouring MSS (as
// one built as H2 + m would) and a blind guess passes once in 2^21. H1 and H2 are HalfSipHash with keys derived from
// the stack's ISN key, so a seed fixes them and they cost no extra draws
// from the Rng. When the SYN had timestamps, the low 6 bits of our TSval
// carry the peer's window scale (4 bits, 15 = none) and SACK-permitted
// (1 bit), and the peer's ACK echoes them back (as Linux does); without
// timestamps the SYN-ACK offers neither, since nothing could bring them back.
import { halfSipHash24, type IsnGenerator } from './isn.ts';
import { tupleWords, type IpAddr } from '../wire/ipaddr.ts';

/** MSS values a cookie can carry (3 bits): each the largest not above what was agreed. */
export const COOKIE_MSS: readonly number[] = [28, 216, 536, 1220, 1360, 1440, 1460, 8960];
/** Cookies older than this many 64-second ticks are refused. */
export const COOKIE_MAX_AGE = 2;
const TICK_MS = 64_000;
/** Low TSval bits that carry options. */
export const COOKIE_TS_BITS = 6;
const TS_MASK = (1 << COOKIE_TS_BITS) - 1;
const NO_WSCALE = 15;

export interface CookieOptions {
  /** The peer's window scale, or -1 if it offered none. */
  wscale: number;
  sackPermitted: boolean;
}

export class SynCookies {
  private readonly a0: number;
  private readonly a1: number;
  private readonly b0: number;
  private readonly b1: number;
  private readonly msg = new Uint32Array(10);

  constructor(isn: IsnGenerator) {
    [this.a0, this.a1] = isn.deriveKey(0x434f4f31); // "COO1"
    [this.b0, this.b1] = isn.deriveKey(0x434f4f32); // "COO2"
  }

  /** The cookie (our ISS) for a SYN from rip:rport to lip:lport with ISN `clientIsn`. */
  make(lip: IpAddr, lport: number, rip: IpAddr, rport: number, clientIsn: number, mssIndex: number, nowMs: number): number {
    const t = tick(nowMs);
    const low = (this.hash2(lip, lport, rip, rport, t, mssIndex) & 0xfffff8) | (mssIndex & 7);
    return (this.hash1(lip, lport, rip, rport) + clientIsn + t * 0x1000000 + low) >>> 0;
  }

  /** The MSS index a valid cookie carries, or -1 (forged, mangled or too old). */
  check(lip: IpAddr, lport: number, rip: IpAddr, rport: number, clientIsn: number, cookie: number, nowMs: number): number {
    const v = (cookie - this.hash1(lip, lport, rip, rport) - clientIsn) >>> 0;
    const t = v >>> 24;
    if (((tick(nowMs) - t) & 0xff) > COOKIE_MAX_AGE) return -1;
    const m = v & 7;
    if ((v & 0xfffff8) !== (this.hash2(lip, lport, rip, rport, t, m) & 0xfffff8)) return -1;
    return m < COOKIE_MSS.length ? m : -1;
  }

  private hash1(lip: IpAddr, lport: number, rip: IpAddr, rport: number): number {
    const n = tupleWords(this.msg, lip, lport, rip, rport);
    return halfSipHash24(this.a0, this.a1, this.msg, n * 4);
  }

  private hash2(lip: IpAddr, lport: number, rip: IpAddr, rport: number, t: number, m: number): number {
    const msg = this.msg;
    const n = tupleWords(msg, lip, lport, rip, rport);
    msg[n] = (t << 8) | m;
    return halfSipHash24(this.b0, this.b1, msg, (n + 1) * 4);
  }
}

function tick(nowMs: number): number {
  return Math.floor(nowMs / TICK_MS) & 0xff;
}

/** The index of the largest COOKIE_MSS value not above `mss` (0 if even the smallest is). */
export function cookieMssIndex(mss: number): number {
  let i = COOKIE_MSS.length - 1;
  while (i > 0 && COOKIE_MSS[i]! > mss) i--;
  return i;
}

/**
 * Our TSval for a cookie SYN-ACK: the clock with its low bits replaced by the
 * options, stepped back a tick of 64 if that would run ahead of the clock.
 */
export function cookieTsVal(tsClock: number, o: CookieOptions): number {
  const bits = (o.wscale < 0 ? NO_WSCALE : o.wscale & 0xf) | (o.sackPermitted ? 0x10 : 0);
  let ts = ((tsClock & ~TS_MASK) | bits) >>> 0;
  if (((ts - tsClock) | 0) > 0) ts = (ts - (TS_MASK + 1)) >>> 0;
  return ts;
}

/** The options a cookie SYN-ACK's TSval carried, read from the peer's TSecr. */
export function cookieOptionsFromTsEcr(tsEcr: number): CookieOptions {
  const w = tsEcr & 0xf;
  return { wscale: w === NO_WSCALE ? -1 : Math.min(w, 14), sackPermitted: (tsEcr & 0x10) !== 0 };
}
