// UDP interop against the Linux kernel: tsip on a TUN device in a private
// namespace (test/support/tun.ts), python3 inside that namespace. Traffic
// stays between env.kernel and env.tsip; every loop is bounded in count and
// time; every namespace is deleted in afterEach.
import { afterEach, describe, expect, test } from 'vitest';
import { netnsExists } from '../../src/netif/tun-ip.ts';
import { AF_INET, SOCK_DGRAM } from '../../src/socket/constants.ts';
import type { DatagramSocket } from '../../src/socket/dgram.ts';
import { skipReason, skipTun, startTunEnv, waitFor, type TunEnv } from '../support/tun.ts';

// A connected UDP client: argv[3] datagrams of random sizes 1..1472 plus
// five of 8 KB (they fragment), each sent and waited for (2 s, at most 3
// tries), the echo compared byte for byte. Prints JSON counts.
const PY_ECHO_CLIENT = `
import json, os, random, socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(int(sys.argv[4]))
deadline = time.monotonic() + 60
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((host, port))
s.settimeout(2)
sizes = [random.randint(1, 1472) for _ in range(n)] + [8192] * 5
ok = lost = retries = stray = 0
for sz in sizes:
    if time.monotonic() > deadline:
        break
    out = os.urandom(sz)
    for attempt in range(3):
        s.send(out)
        try:
            while True:
                d = s.recv(65535)
                if d == out:
                    break
                stray += 1  # a late echo of an earlier retry, or damage
            ok += 1
            break
        except socket.timeout:
            retries += 1
    else:
        lost += 1
print(json.dumps({'total': len(sizes), 'ok': ok, 'lost': lost, 'retries': retries, 'stray': stray}))
`;

// A connected UDP socket sends to a closed port; the ICMP port unreachable
// that comes back makes the next recv fail with ECONNREFUSED.
const PY_REFUSED = `
import errno, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((sys.argv[1], int(sys.argv[2])))
s.settimeout(3)
s.send(b'is anyone there?')
try:
    s.recv(100)
    print('GOT-DATA')
except ConnectionRefusedError:
    print('ECONNREFUSED')
except socket.timeout:
    print('TIMEOUT')
`;

/** A UDP echo on tsip's socket API (blocking recvfrom in a loop) until closed. */
function socketEcho(env: TunEnv, port: number): { sock: DatagramSocket; echoed: () => number } {
  const sock = env.stack.socket(AF_INET, SOCK_DGRAM);
  sock.bind(['0.0.0.0', port]);
  let n = 0;
  void (async () => {
    for (;;) {
      let r: [Uint8Array, readonly [string, number]];
      try {
        r = await sock.recvfrom(65535);
      } catch {
        return; // closed
      }
      sock.sendto(r[0], r[1]);
      n++;
    }
  })();
  return { sock, echoed: () => n };
}

describe.skipIf(skipTun)('UDP interop with the Linux kernel (TUN, private namespace)', () => {
  let env: TunEnv | null = null;
  afterEach(() => {
    const ns = env?.ns;
    env?.close();
    env = null;
    if (ns) expect(netnsExists(ns)).toBe(false);
  });

  test('python3 gets 1000 random-size datagrams and five fragmented 8 KB ones echoed intact (raw-API echo :7 and a socket echo)', async () => {
    env = startTunEnv();
    const e = env;
    const { sock, echoed } = socketEcho(e, 5007);
    try {
      for (const [port, seed] of [[7, 1], [5007, 2]] as const) {
        const r = await e.exec(['python3', '-c', PY_ECHO_CLIENT, e.tsip, String(port), '1000', String(seed)], { timeoutMs: 90_000 });
        expect(r.code, r.stderr).toBe(0);
        const res = JSON.parse(r.stdout.toString()) as { total: number; ok: number; lost: number; retries: number; stray: number };
        expect(res, `port ${port}`).toMatchObject({ total: 1005, ok: 1005, lost: 0 });
      }
      const svc = e.services.list.find((s) => s.name === 'udp-echo')!.counters;
      expect(svc.accepted).toBeGreaterThanOrEqual(1005);
      expect(svc.errors).toBe(0);
      expect(echoed()).toBeGreaterThanOrEqual(1005);
      expect(e.stack.stats.udp.chkerr).toBe(0);
      expect(e.stack.stats.ipFrag.recv).toBeGreaterThan(0); // the 8 KB ones came in fragments
    } finally {
      sock.close();
    }
  }, 200_000);

  test('python3 on a connected socket gets ECONNREFUSED from a closed tsip port (ICMP port unreachable)', async () => {
    env = startTunEnv();
    const r = await env.exec(['python3', '-c', PY_REFUSED, env.tsip, '9999'], { timeoutMs: 15_000 });
    expect(r.stdout.toString().trim(), r.stderr).toBe('ECONNREFUSED');
    const udp = env.stack.udp.counters;
    expect(await waitFor(() => udp.noPorts >= 1, 1000)).toBe(true);
    expect(env.stack.stats.icmp.xmit).toBeGreaterThanOrEqual(1);
  }, 30_000);
});

if (skipTun) test.skip(skipReason, () => {});
