// Ingress filtering (RFC 1122 3.2.1.3, RFC 1812 5.3.7, issue 12 findings 1
// and 9): a datagram arriving from outside with a source no real peer can
// have (one of our own addresses, 0.0.0.0, a broadcast, multicast, loopback
// or reserved address, the receiving subnet's network address) is dropped
// before any protocol sees it, counted under its reason, and answered by
// nothing. LAND (source = destination = our address and port) is the case
// that made tsip answer itself forever.
import { describe, expect, test } from 'vitest';
import { RawTcp } from '../../src/callbacks/raw.ts';
import type { Stack } from '../../src/stack/stack.ts';
import type { MartianCounters } from '../../src/stats.ts';
import { addr, captureStack, echoRequest, ipPacket, pattern } from '../support/packets.ts';
import { ACK, RST, SYN, flagStr, parseSent, tcpPacket } from '../support/tcp.ts';

type Reason = keyof MartianCounters;

function listen(stack: Stack, port: number): RawTcp {
  const raw = new RawTcp(stack);
  const l = raw.tcpNew()!;
  raw.tcpBind(l, 0, port);
  raw.tcpListen(l);
  return raw;
}

const total = (m: MartianCounters): number => Object.values(m).reduce((a, b) => a + b, 0);

describe('martian sources from outside are dropped and counted', () => {
  // The capture stack is 10.0.0.1/24 on cap0: 10.0.0.0 and 10.0.0.255 are its subnet's own addresses.
  const cases: { src: string; dst?: string; reason: Reason }[] = [
    { src: '10.0.0.1', reason: 'ownSrc' },
    { src: '0.0.0.0', reason: 'unspecifiedSrc' },
    { src: '255.255.255.255', reason: 'broadcastSrc' },
    { src: '224.0.0.1', reason: 'multicastSrc' },
    { src: '239.255.255.250', reason: 'multicastSrc' },
    { src: '240.0.0.1', reason: 'reservedSrc' },
    { src: '254.1.2.3', reason: 'reservedSrc' },
    { src: '127.0.0.1', reason: 'loopbackSrc' },
    { src: '127.1.2.3', reason: 'loopbackSrc' },
    { src: '10.0.0.0', reason: 'networkSrc' },
    { src: '10.0.0.255', reason: 'subnetBroadcastSrc' },
    { src: '10.0.0.2', dst: '127.0.0.1', reason: 'loopbackDst' },
  ];

  for (const c of cases) {
    for (const kind of ['TCP SYN to a listener', 'ICMP echo request'] as const) {
      test(`${kind} from ${c.src}${c.dst ? ` to ${c.dst}` : ''}: ${c.reason}, no PCB, nothing sent`, () => {
        const { stack, sent, feed } = captureStack();
        listen(stack, 80);
        const bytes =
          kind === 'ICMP echo request'
            ? ipPacket(echoRequest(7, 1, pattern(16)), { src: c.src, dst: c.dst ?? '10.0.0.1' })
            : tcpPacket({ src: c.src, dst: c.dst ?? '10.0.0.1', srcPort: 40000, dstPort: 80, seq: 1000, flags: SYN, mss: 1460 });
        feed(bytes);
        expect(stack.stats.martian[c.reason]).toBe(1);
        expect(total(stack.stats.martian)).toBe(1);
        expect(stack.stats.ip.recv).toBe(1);
        expect(stack.stats.ip.drop).toBe(1);
        expect(stack.stats.tcp.recv + stack.stats.icmp.recv).toBe(0);
        expect(stack.tcp.active.size).toBe(0);
        expect(sent).toHaveLength(0);
        (stack.clock as import('../../src/time/virtual-clock.ts').VirtualClock).advanceBy(5000);
        expect(sent).toHaveLength(0);
        stack.close();
        stack.pool.assertEmpty();
      });
    }
  }

  test('a good peer on the same subnet is still served (SYN-ACK, echo reply)', () => {
    const { stack, sent, feed } = captureStack();
    listen(stack, 80);
    feed(tcpPacket({ src: '10.0.0.2', srcPort: 40000, dstPort: 80, seq: 1000, flags: SYN, mss: 1460 }));
    feed(ipPacket(echoRequest(7, 1, pattern(16)), { src: '10.0.0.2' }));
    expect(total(stack.stats.martian)).toBe(0);
    expect(sent).toHaveLength(2);
    expect(flagStr(parseSent(sent[0]!).flags)).toBe('SA');
    stack.close();
    stack.pool.assertEmpty();
  });

  test('a /31 (RFC 3021) has no network or broadcast address: both ends are hosts', () => {
    const { stack, netif, sent, feed } = captureStack();
    netif.addr = addr('10.0.0.1');
    netif.netmask = 0xfffffffe;
    feed(ipPacket(echoRequest(7, 1, pattern(8)), { src: '10.0.0.0' }));
    expect(total(stack.stats.martian)).toBe(0);
    expect(sent).toHaveLength(1);
    stack.close();
    stack.pool.assertEmpty();
  });

  test('our own addresses stay legal on the loopback netif: the stack pings itself and connects to itself', () => {
    const { stack } = captureStack();
    const clock = stack.clock as import('../../src/time/virtual-clock.ts').VirtualClock;
    const replies: number[] = [];
    stack.icmp.onEchoReply((r) => replies.push(r.src as number));
    stack.ping('10.0.0.1', 1, 1, pattern(8));
    stack.ping('127.0.0.1', 1, 2, pattern(8));
    while (clock.runNext()) {
      /* let loopback deliver */
    }
    expect(replies).toEqual([addr('10.0.0.1'), addr('127.0.0.1')]);
    const raw = listen(stack, 80);
    const c = raw.tcpNew()!;
    let connected = false;
    raw.tcpConnect(c, '10.0.0.1', 80, () => ((connected = true), 0));
    for (let i = 0; i < 100 && !connected; i++) clock.runNext();
    expect(connected).toBe(true);
    expect(total(stack.stats.martian)).toBe(0);
    stack.close();
    stack.pool.assertEmpty();
  });
});

describe('LAND and its variants, injected at the netif (scripted peer)', () => {
  const variants: { name: string; src: string; srcPort: number; dstPort: number; flags: number; reason: Reason }[] = [
    { name: 'SYN src = dst = own address and port, to a listener (LAND)', src: '10.0.0.1', srcPort: 80, dstPort: 80, flags: SYN, reason: 'ownSrc' },
    { name: 'SYN from own address, another source port', src: '10.0.0.1', srcPort: 5555, dstPort: 80, flags: SYN, reason: 'ownSrc' },
    { name: 'SYN from own address to a closed port', src: '10.0.0.1', srcPort: 81, dstPort: 81, flags: SYN, reason: 'ownSrc' },
    { name: 'ACK from own address and port', src: '10.0.0.1', srcPort: 80, dstPort: 80, flags: ACK, reason: 'ownSrc' },
    { name: 'ACK from own address, other ports', src: '10.0.0.1', srcPort: 1234, dstPort: 80, flags: ACK, reason: 'ownSrc' },
    { name: 'RST from own address', src: '10.0.0.1', srcPort: 80, dstPort: 80, flags: RST | ACK, reason: 'ownSrc' },
    { name: 'SYN from 0.0.0.0', src: '0.0.0.0', srcPort: 40000, dstPort: 80, flags: SYN, reason: 'unspecifiedSrc' },
    { name: "SYN from the subnet's network address", src: '10.0.0.0', srcPort: 40000, dstPort: 80, flags: SYN, reason: 'networkSrc' },
  ];
  for (const v of variants) {
    test(`${v.name}: dropped at IP, no PCB, nothing sent, stack still serves`, () => {
      const { stack, sent, feed } = captureStack();
      listen(stack, 80);
      const clock = stack.clock as import('../../src/time/virtual-clock.ts').VirtualClock;
      feed(tcpPacket({ src: v.src, dst: '10.0.0.1', srcPort: v.srcPort, dstPort: v.dstPort, seq: 1000, ack: 77, flags: v.flags, mss: 1460 }));
      // Whatever it started must settle within a bounded number of clock steps.
      let steps = 0;
      while (steps < 1000 && clock.runNext()) steps++;
      expect(steps).toBeLessThan(1000);
      expect(stack.stats.martian[v.reason]).toBe(1);
      expect(stack.stats.ip.drop).toBe(1);
      expect(stack.stats.tcp.recv).toBe(0);
      expect(stack.tcp.active.size).toBe(0);
      expect(stack.stats.link.recv).toBe(1); // nothing came back through loopback
      expect(sent).toHaveLength(0);
      // Responsive: a real peer's SYN is answered and a ping too.
      feed(tcpPacket({ src: '10.0.0.2', srcPort: 40000, dstPort: 80, seq: 5000, flags: SYN, mss: 1460 }));
      feed(ipPacket(echoRequest(9, 1, pattern(8)), { src: '10.0.0.2' }));
      expect(sent.map((b) => b[9])).toEqual([6, 1]);
      expect(flagStr(parseSent(sent[0]!).flags)).toBe('SA');
      stack.close();
      stack.pool.assertEmpty();
    });
  }
});

describe('LAND through the simulator', () => {
  test('LAND and variants at a simulated server: no loop, counted, the client still connects and pings', async () => {
    const { Simulator } = await import('../../src/sim/simulator.ts');
    const sim = new Simulator({ seed: 12 });
    const client = sim.addStack('client', { pool: { trackLive: true } });
    const server = sim.addStack('server', { pool: { trackLive: true } });
    const link = sim.connect(client, server, { aAddr: '10.0.0.2', bAddr: '10.0.0.1' });
    listen(server, 80);
    const inject = (bytes: Uint8Array): void => link.bNetif.input(server.pool.fromBytes(bytes)!);
    const land = [
      tcpPacket({ src: '10.0.0.1', dst: '10.0.0.1', srcPort: 80, dstPort: 80, seq: 1, flags: SYN }),
      tcpPacket({ src: '10.0.0.1', dst: '10.0.0.1', srcPort: 3000, dstPort: 80, seq: 1, flags: SYN }),
      tcpPacket({ src: '10.0.0.1', dst: '10.0.0.1', srcPort: 80, dstPort: 80, seq: 1, ack: 1, flags: ACK }),
      tcpPacket({ src: '10.0.0.1', dst: '10.0.0.1', srcPort: 80, dstPort: 80, seq: 1, flags: RST }),
      ipPacket(echoRequest(1, 1, pattern(8)), { src: '10.0.0.1', dst: '10.0.0.1' }),
      tcpPacket({ src: '0.0.0.0', dst: '10.0.0.1', srcPort: 1, dstPort: 80, seq: 1, flags: SYN }),
      tcpPacket({ src: '10.0.0.0', dst: '10.0.0.1', srcPort: 1, dstPort: 80, seq: 1, flags: SYN }),
    ];
    for (const b of land) inject(b);
    expect(sim.runUntilIdle(60_000)).toBe(true);
    expect(server.stats.martian.ownSrc).toBe(5);
    expect(server.stats.martian.unspecifiedSrc).toBe(1);
    expect(server.stats.martian.networkSrc).toBe(1);
    expect(server.stats.ip.drop).toBe(7);
    expect(server.tcp.active.size).toBe(0);
    expect(link.bNetif.counters.txPackets).toBe(0);
    expect(server.loopback.counters.txPackets).toBe(0);

    const raw = new RawTcp(client);
    const c = raw.tcpNew()!;
    let connected = false;
    raw.tcpConnect(c, '10.0.0.1', 80, () => ((connected = true), 0));
    const replies: number[] = [];
    client.icmp.onEchoReply((r) => replies.push(r.seqNo));
    client.ping('10.0.0.1', 5, 42, pattern(8));
    expect(sim.runUntil(() => connected && replies.length === 1, sim.clock.now() + 10_000)).toBe(true);
    expect(replies).toEqual([42]);
    sim.close();
    client.pool.assertEmpty();
    server.pool.assertEmpty();
  });
});
