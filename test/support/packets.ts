// Builders for test packets and a stack with a capturing netif.
import { Err } from '../../src/err.ts';
import type { Netif } from '../../src/netif/netif.ts';
import { PbufType } from '../../src/pbuf/pbuf.ts';
import { PbufLayer } from '../../src/pbuf/pool.ts';
import { Stack, type StackOptions } from '../../src/stack/stack.ts';
import { parseIpv4Address } from '../../src/wire/address.ts';
import { emitIcmp, type IcmpRepr } from '../../src/wire/icmp.ts';
import { emitIpv4 } from '../../src/wire/ipv4.ts';
import { parseIpv6Address } from '../../src/wire/address6.ts';
import { emitIpv6 } from '../../src/wire/ipv6.ts';
import { isV6, localIp, peerIp } from './family.ts';

export const addr = (s: string): number => parseIpv4Address(s)!;

export interface IpSpec {
  src?: string;
  dst?: string;
  protocol?: number;
  ttl?: number;
  ident?: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  fragOffset?: number;
}

/**
 * An IPv4 datagram (20-byte header) around `payload`, from the peer
 * (10.0.0.2) to the stack (10.0.0.1) by default. In family 6 (or with IPv6
 * text addresses) an IPv6 packet (40-byte header, no extension headers;
 * `protocol` is the Next Header, `ttl` the Hop Limit, the IPv4-only
 * fragment fields are ignored) from fd00::2 to fd00::1.
 */
export function ipPacket(payload: Uint8Array, s: IpSpec = {}): Uint8Array {
  const srcText = s.src ?? peerIp();
  const dstText = s.dst ?? localIp();
  if (srcText.includes(':')) {
    const out = new Uint8Array(40 + payload.length);
    emitIpv6({ src: parseIpv6Address(srcText)!, dst: parseIpv6Address(dstText)!, nextHeader: s.protocol ?? 58, payloadLen: payload.length, hopLimit: s.ttl ?? 64, trafficClass: 0, flowLabel: 0 }, out, 0);
    out.set(payload, 40);
    return out;
  }
  const out = new Uint8Array(20 + payload.length);
  emitIpv4(
    {
      src: addr(srcText),
      dst: addr(dstText),
      protocol: s.protocol ?? 1,
      payloadLen: payload.length,
      ttl: s.ttl ?? 64,
      ident: s.ident ?? 0x1234,
      dontFragment: s.dontFragment ?? false,
      moreFragments: s.moreFragments ?? false,
      fragOffset: s.fragOffset ?? 0,
      dscp: 0,
      ecn: 0,
    },
    out,
    0,
  );
  out.set(payload, 20);
  return out;
}

/** Omit over each member of a union (plain Omit keeps only the shared keys). */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** An ICMP message with `data` after the 8-byte header. */
export function icmpMessage(repr: DistributiveOmit<IcmpRepr, 'dataLen'>, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + data.length);
  out.set(data, 8);
  emitIcmp({ ...repr, dataLen: data.length } as IcmpRepr, out, 0);
  return out;
}

export function echoRequest(ident: number, seqNo: number, data: Uint8Array): Uint8Array {
  return icmpMessage({ kind: 'echo-request', ident, seqNo }, data);
}

export function pattern(n: number, seed = 0): Uint8Array {
  const d = new Uint8Array(n);
  for (let i = 0; i < n; i++) d[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return d;
}

/**
 * A stack at 10.0.0.1/24 (in family 6: an IPv6-only netif at fd00::1/64)
 * whose netif records every packet it sends.
 */
export function captureStack(opts: StackOptions & { mtu?: number } = {}): { stack: Stack; netif: Netif; sent: Uint8Array[]; feed: (bytes: Uint8Array) => void } {
  const stack = new Stack({ pool: { trackLive: true }, ...opts });
  const sent: Uint8Array[] = [];
  const netif = stack.addNetif({
    name: 'cap0',
    ...(isV6() ? { addr6: `${localIp()}/64` } : { addr: localIp(), prefixLength: 24 }),
    mtu: opts.mtu ?? 1500,
    output: (p) => {
      sent.push(p.toBytes());
      return Err.OK;
    },
  });
  const feed = (bytes: Uint8Array): void => {
    const p = stack.pool.alloc(PbufLayer.RAW, bytes.length, PbufType.POOL)!;
    p.take(bytes);
    stack.input(p, netif);
  };
  return { stack, netif, sent, feed };
}

