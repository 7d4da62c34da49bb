// Malformed traffic from the kernel side over the TUN device: a python3 raw
// socket (IP_HDRINCL) inside the test's namespace sends random and mutated
// IPv4 packets (bad options, fragments, TCP with every flag, truncated
// headers, wrong checksums) to tsip's address, bounded in count. tsip must
// count and drop what is bad, answer what is valid, leave its pool as it was,
// and still serve HTTP afterwards.
import { afterEach, describe, expect, test } from 'vitest';
import { netnsExists } from '../../src/netif/tun-ip.ts';
import { generatedSha256, skipReason, skipTun, startTunEnv, waitFor, type TunEnv } from '../support/tun.ts';

const PY_GARBAGE = `
import os, random, socket, struct, sys
dst, src, count, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(seed)
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
def csum(b):
    if len(b) % 2: b += b'\\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
def ip(proto, payload, ihl=5, opts=b'', frag=0, ttl=64, good=True):
    h = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, 20 + len(opts) + len(payload), rnd.getrandbits(16) or 1, frag, ttl, proto, 0, socket.inet_aton(src), socket.inet_aton(dst)) + opts
    c = csum(h) if good else rnd.getrandbits(16)
    return h[:10] + struct.pack('!H', c) + h[12:] + payload
def tcp(payload=b'', flags=None, doff=None, opts=b'', good=True):
    sport, dport = rnd.choice([rnd.getrandbits(16), 40000]), rnd.choice([80, 7, 9, 19, rnd.getrandbits(16)])
    flags = rnd.getrandbits(8) if flags is None else flags
    doff = (20 + len(opts)) // 4 if doff is None else doff
    h = struct.pack('!HHIIBBHHH', sport, dport, rnd.getrandbits(32), rnd.getrandbits(32), doff << 4, flags, rnd.getrandbits(16), 0, rnd.getrandbits(16)) + opts
    seg = h + payload
    ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(seg))
    c = csum(ph + seg) if good else rnd.getrandbits(16)
    return seg[:16] + struct.pack('!H', c) + seg[18:]
sent = 0
for i in range(count):
    k = rnd.randrange(10)
    try:
        if k == 0:   pkt = ip(rnd.randrange(256), os.urandom(rnd.randrange(0, 200)))
        elif k == 1: pkt = ip(6, tcp(os.urandom(rnd.randrange(0, 100))))
        elif k == 2: pkt = ip(6, tcp(doff=rnd.randrange(16)))
        elif k == 3: pkt = ip(6, tcp(opts=os.urandom(4 * rnd.randrange(1, 11))))
        elif k == 4: pkt = ip(6, tcp(good=False))
        elif k == 5: pkt = ip(1, os.urandom(rnd.randrange(0, 64)))
        elif k == 6: pkt = ip(6, tcp(os.urandom(64)), frag=rnd.getrandbits(13) | rnd.choice([0, 0x2000]))
        elif k == 7: pkt = ip(6, tcp(), ihl=rnd.randrange(6, 16), opts=os.urandom(4 * rnd.randrange(1, 11)))
        elif k == 8: pkt = ip(6, tcp(), good=False)
        else:        pkt = ip(6, os.urandom(rnd.randrange(0, 19)))
        s.sendto(pkt, (dst, 0))
        sent += 1
    except OSError:
        pass
print(sent)
`;

describe.skipIf(skipTun)('malformed traffic from the kernel over TUN', () => {
  let env: TunEnv | null = null;
  afterEach(() => {
    const ns = env?.ns;
    env?.close();
    env = null;
    if (ns) expect(netnsExists(ns)).toBe(false);
  });

  for (const offload of [false, true]) {
    test(`3000 random and mutated packets: counted drops, no crash, pool unchanged, HTTP still served (offload ${offload ? 'on' : 'off'})`, async () => {
      const internal: unknown[] = [];
      // A short reassembly timeout (default 15 s) so the half-datagrams the garbage leaves expire quickly.
      env = startTunEnv({ offload, stack: { ip: { reassembly: { timeoutMs: 1000 } }, onInternalError: (err) => internal.push(err) } });
      const e = env;
      const before = e.stack.pool.stats.bytesInUse;
      const r = await e.exec(['python3', '-c', PY_GARBAGE, e.tsip, e.kernel, '3000', '1'], { timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(Number(r.stdout.toString())).toBeGreaterThan(2500);
      // Let the last packets in, and half-open SYN_RCVD connections time out or be reset.
      await new Promise((ok) => setTimeout(ok, 300));
      const st = e.stack.stats;
      const dropped = st.ip.drop + st.ip.chkerr + st.ip.lenerr + st.ip.proterr + st.tcp.drop + st.tcp.chkerr + st.tcp.lenerr + st.icmp.drop;
      expect(dropped).toBeGreaterThan(500);
      expect(e.stack.tcp.counters.outRsts).toBeGreaterThan(0); // valid segments for closed ports were answered
      // Still healthy: a download with the right bytes.
      const dl = await e.sh(`curl -s -S -m 20 http://${e.tsip}/bytes/1000000 | sha256sum`, { timeoutMs: 25_000 });
      expect(dl.stdout.toString().slice(0, 64), dl.stderr).toBe(generatedSha256(1_000_000));
      // Connections the garbage opened (SYN to a listener) are reset or time out; the pool returns to where it was
      // (reassembly buffers for the fragments included) once the fragment timeout has passed.
      expect(await waitFor(() => e.stack.pool.stats.bytesInUse <= before, 10_000, 100), `pool ${e.stack.pool.stats.bytesInUse} > ${before}`).toBe(true);
      expect(internal).toEqual([]);
    }, 60_000);
  }
});

if (skipTun) test.skip(skipReason, () => {});
