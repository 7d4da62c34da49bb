// A guard the IPv6 copies of the TCP suites register first: it proves the
// family switch took effect (the stack really talks IPv6 to the scripted
// peer and over the simulated link), so a copy can never pass by silently
// running the IPv4 bodies again.
import { expect, test } from 'vitest';
import { ipFamily } from '../../src/wire/ipaddr.ts';
import { family } from './family.ts';
import { activeOpen, closeAndCheck, scriptedPeer, simPair } from './tcp.ts';

export function v6Guard(): void {
  test('family switch: the helpers run over IPv6 (fd00::1 <-> fd00::2, 40-byte headers, MSS 1440, no IPv4 address)', () => {
    expect(family()).toBe(6);
    const peer = scriptedPeer({ tcp: { timestamps: false } });
    const { syn } = activeOpen(peer, { synAck: false });
    expect(ipFamily(syn.src)).toBe(6);
    expect(syn.src.toString()).toBe('fd00::1');
    expect(syn.dst.toString()).toBe('fd00::2');
    expect(syn.opts.mss).toBe(1440);
    expect(peer.stack.netifs[1]!.addr).toBe(0);
    closeAndCheck(peer);
    const pair = simPair();
    expect(pair.client.netifs[1]!.addr).toBe(0);
    expect(pair.server.netifs[1]!.addr).toBe(0);
  });
}
