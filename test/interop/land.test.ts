// LAND and martian sources over a real TUN device (issue 12 findings 1 and
// 9). From the test's own namespace a python3 AF_PACKET socket writes
// crafted IPv4 packets straight onto the kernel side of tsip's TUN device
// (an IP_HDRINCL raw socket would replace a 0.0.0.0 source with the
// kernel's own): a SYN with source = destination = tsip's address and port
// to its HTTP listener, the same from other ports, an ACK, a RST and an
// echo request from tsip's own address, and SYNs from 0.0.0.0 and from the
// subnet's network address. tsip must drop each one at IP, count it under
// its reason, send nothing, create no connection, keep its pool, and still
// answer ping and HTTP right after.
import { afterEach, describe, expect, test } from 'vitest';
import { netnsExists } from '../../src/netif/tun-ip.ts';
import { generatedSha256, skipReason, skipTun, startTunEnv, waitFor, type TunEnv } from '../support/tun.ts';

const PY_LAND = `
import socket, struct, sys
dev, tsip, net = sys.argv[1], sys.argv[2], sys.argv[3]
def csum(b):
    if len(b) % 2: b += b'\\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
def ip(src, dst, proto, payload):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 0x4242, 0, 64, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + payload
def tcp(src, dst, sport, dport, flags, seq=1000, ack=0):
    h = struct.pack('!HHIIBBHHH', sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(h))
    return ip(src, dst, 6, h[:16] + struct.pack('!H', csum(ph + h)) + h[18:])
def echo(src, dst):
    m = struct.pack('!BBHHH', 8, 0, 0, 0x77, 1) + b'land' * 4
    return ip(src, dst, 1, m[:2] + struct.pack('!H', csum(m)) + m[4:])
SYN, RST, ACK = 0x02, 0x04, 0x10
pkts = [
    tcp(tsip, tsip, 80, 80, SYN),          # LAND
    tcp(tsip, tsip, 5555, 80, SYN),        # own address, another source port
    tcp(tsip, tsip, 80, 80, ACK, 1, 1),    # own address as the source of an ACK
    tcp(tsip, tsip, 4444, 80, ACK, 1, 1),
    tcp(tsip, tsip, 80, 80, RST),          # ... and of a RST
    echo(tsip, tsip),                      # ... and of an echo request
    tcp('0.0.0.0', tsip, 40000, 80, SYN),  # unspecified source
    tcp(net, tsip, 40000, 80, SYN),        # the subnet's network address
]
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
s.bind((dev, 0x0800))
for p in pkts:
    s.sendto(p, (dev, 0x0800))
print(len(pkts))
`;

describe.skipIf(skipTun)('LAND and martian sources from the kernel over TUN', () => {
  let env: TunEnv | null = null;
  afterEach(() => {
    const ns = env?.ns;
    env?.close();
    env = null;
    if (ns) expect(netnsExists(ns)).toBe(false);
  });

  for (const offload of [false, true]) {
    test(`dropped at IP and counted, nothing sent, no connection, still serving (offload ${offload ? 'on' : 'off'})`, async () => {
      const internal: unknown[] = [];
      env = startTunEnv({ offload, stack: { onInternalError: (err) => internal.push(err) } });
      const e = env;
      const st = e.stack.stats;
      const poolBefore = e.stack.pool.stats.bytesInUse;
      const txBefore = e.dev.counters.txPackets;
      const net = e.tsip.replace(/\.\d+$/, '.0'); // the /30's network address
      const r = await e.exec(['python3', '-c', PY_LAND, e.dev.name, e.tsip, net], { timeoutMs: 20_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(Number(r.stdout.toString())).toBe(8);
      // Wait (bounded) until all eight have been counted; they arrive with the kernel's own IPv6 chatter.
      const martians = (): number => st.martian.ownSrc + st.martian.unspecifiedSrc + st.martian.networkSrc;
      expect(await waitFor(() => martians() >= 8, 10_000), JSON.stringify(st.martian)).toBe(true);
      expect(st.martian).toMatchObject({ ownSrc: 6, unspecifiedSrc: 1, networkSrc: 1 });
      expect(st.tcp.recv).toBe(0);
      expect(st.icmp.recv).toBe(0);
      expect(e.stack.tcp.active.size).toBe(0);
      expect(e.stack.loopback.counters.txPackets).toBe(0); // it never talked to itself
      expect(e.dev.counters.txPackets).toBe(txBefore); // nor to anyone: no SYN-ACK to 0.0.0.0 or to itself
      expect(e.stack.pool.stats.bytesInUse).toBe(poolBefore);
      // Still serving: a ping and an HTTP download right after.
      const ping = await e.exec(['ping', '-c', '1', '-W', '5', e.tsip], { timeoutMs: 10_000 });
      expect(ping.code, ping.stdout.toString() + ping.stderr).toBe(0);
      const dl = await e.sh(`curl -s -S -m 20 http://${e.tsip}/bytes/100000 | sha256sum`, { timeoutMs: 25_000 });
      expect(dl.stdout.toString().slice(0, 64), dl.stderr).toBe(generatedSha256(100_000));
      expect(await waitFor(() => e.stack.tcp.active.size === 0 && e.stack.pool.stats.bytesInUse <= poolBefore, 10_000, 50)).toBe(true);
      expect(internal).toEqual([]);
    }, 60_000);
  }
});

if (skipTun) test.skip(skipReason, () => {});
