// Addresses as the raw APIs take them, and lwIP's "any" constants.
//
// lwIP has three wildcards: IP4_ADDR_ANY (0.0.0.0, IPv4 only),
// IP6_ADDR_ANY (::, IPv6 only) and IP_ANY_TYPE (both families on one
// PCB). tsip's engine has one IPv6 wildcard, `::`, that takes IPv4 too
// unless the PCB is v6only (Linux's IPV6_V6ONLY). The raw API keeps lwIP's
// meaning: binding `::` (IP6_ADDR_ANY, IP6_ANY, the text '::') makes the
// PCB v6only; binding IP_ANY_TYPE (a distinct Ip6Addr object, recognised
// by identity) makes it dual. The socket layer and the node:net façade,
// which follow Linux, bind IP_ANY_TYPE for a dual '::'.
import { Ip6Addr, IP6_ANY, toIpAddr, type IpAddr } from '../wire/ipaddr.ts';

/** lwIP's IP4_ADDR_ANY: 0.0.0.0, binds IPv4 only. */
export const IP4_ADDR_ANY = 0;

/** lwIP's IP6_ADDR_ANY: `::`, binds IPv6 only (the PCB becomes v6only). */
export const IP6_ADDR_ANY: Ip6Addr = IP6_ANY;

/**
 * lwIP's IP_ANY_TYPE: `::` for both families (a dual-stack PCB: IPv4
 * packets to the port are taken too, and reported with IPv4 addresses).
 * A distinct object, recognised by identity: another `::` is IP6_ADDR_ANY.
 */
export const IP_ANY_TYPE: Ip6Addr = new Ip6Addr(0, 0, 0, 0);

export { toIpAddr };

/**
 * What a bind to `a` means: the address to bind and the v6only flag to
 * give the PCB (null: leave it as it is, for a specific address).
 */
export function bindTarget(a: IpAddr | string): { ip: IpAddr; v6only: boolean | null } {
  if (a === IP_ANY_TYPE) return { ip: IP6_ANY, v6only: false };
  const ip = toIpAddr(a);
  if (typeof ip !== 'number' && ip.isUnspecified) return { ip: IP6_ANY, v6only: true };
  return { ip, v6only: null };
}
