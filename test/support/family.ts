// The address family the shared TCP test support works in. Default 4: the
// IPv4 suites run exactly as before. An IPv6 copy of a suite calls
// useFamily(6) before it imports the suite, and the helpers (scriptedPeer,
// tcpPacket, parseSent, simPair, bulkExchange, activeOpen, startConnect,
// acceptConnection, ipPacket, captureStack) then use fd00::1 (the stack /
// the client) and fd00::2 (the scripted peer / the server) and IPv6 headers.
//
// The setting is module state: vitest runs every test file in its own module
// graph, so a v6 file's useFamily(6) never reaches an IPv4 file.

export type Family = 4 | 6;

let current: Family = 4;

/** Switch the helpers to `f` (call before the suite is imported). */
export function useFamily(f: Family): void {
  current = f;
}

/** The family the helpers work in. */
export function family(): Family {
  return current;
}

export const isV6 = (): boolean => current === 6;

/** The stack's address in the scripted-peer tests, and the client's in simPair. */
export function localIp(): string {
  return current === 6 ? 'fd00::1' : '10.0.0.1';
}

/** The scripted peer's address, and the server's in simPair. */
export function peerIp(): string {
  return current === 6 ? 'fd00::2' : '10.0.0.2';
}

/** An address that is not on the link (no route once the default netif is cleared). */
export function offLinkIp(): string {
  return current === 6 ? '2001:db8:77::1' : '192.168.77.1';
}

/** An address no netif of the stack holds (a foreign bind). */
export function foreignIp(): string {
  return current === 6 ? 'fd00:1::1' : '192.168.1.1';
}

/** The loopback address of the family. */
export function loopbackIp(): string {
  return current === 6 ? '::1' : '127.0.0.1';
}

/** The wildcard to bind: 0 (IPv4's any, as the IPv4 suites always passed) or '::'. */
export function anyIp(): number | string {
  return current === 6 ? '::' : 0;
}

/** Fixed IP header bytes: 20 or 40. */
export function ipHdrLen(): number {
  return current === 6 ? 40 : 20;
}

/** The MSS TCP announces for a link MTU: MTU - 40 (IPv4) or MTU - 60 (IPv6). */
export function mssFor(mtu = 1500): number {
  return mtu - 20 - ipHdrLen();
}
