// tsip over IPv6 on a real TUN device against the Linux kernel, from the
// test's own namespace: ping -6, curl -6 of 100 MB (sha256, offload off and
// on), socat echo over TCP6, a python3 AF_INET6 client, and a tcpdump
// capture that tshark finds free of malformed or bad-checksum IPv6 frames.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { netnsExists } from '../../src/netif/tun-ip.ts';
import { generatedSha256, sha256, skipReason, skipTun, startCapture, startTunEnv, waitFor, type TunEnv } from '../support/tun.ts';

/** A python3 AF_INET6 client: echo 64 KiB through :7, then GET /bytes/N from :80; prints JSON. */
const PY_CLIENT = `
import socket, sys, json, hashlib
host, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.settimeout(10)
s.connect((host, 7, 0, 0))
peer = s.getpeername()
data = bytes((i * 7 + 3) & 255 for i in range(65536))
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = b''
while True:
    d = s.recv(65536)
    if not d: break
    got += d
s.close()
h = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
h.settimeout(10)
h.connect((host, 80))
h.sendall(('GET /bytes/%d HTTP/1.0\\r\\nHost: [%s]\\r\\n\\r\\n' % (n, host)).encode())
resp = b''
while True:
    d = h.recv(65536)
    if not d: break
    resp += d
h.close()
body = resp[resp.index(b'\\r\\n\\r\\n') + 4:]
print(json.dumps({'peer': list(peer), 'echoOk': got == data, 'status': resp.split(b' ')[1].decode(), 'bytes': len(body), 'sha256': hashlib.sha256(body).hexdigest()}))
`;

describe.skipIf(skipTun)('IPv6 over TUN against the kernel (ping -6, curl -6, socat, python3 AF_INET6, tshark)', () => {
  let env: TunEnv | null = null;
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsip-ipv6-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    const ns = env?.ns;
    env?.close();
    env = null;
    if (ns) expect(netnsExists(ns)).toBe(false);
  });

  for (const offload of [false, true]) {
    test(`ping -6 and curl -6 of 100 MB, sha256 matches (offload ${offload ? 'on' : 'off'})`, async () => {
      env = startTunEnv({ offload, ipv6: true });
      const e = env;
      const six = e.tsip6!;
      const ping = await e.exec(['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', six], { timeoutMs: 10_000 });
      expect(ping.stdout.toString(), ping.stderr).toMatch(/3 packets transmitted, 3 received/);
      const n = 100_000_000;
      const dl = await e.sh(`curl -6 -s -S -m 60 http://[${six}]/bytes/${n} | sha256sum`, { timeoutMs: 70_000 });
      expect(dl.stdout.toString().slice(0, 64), dl.stderr).toBe(generatedSha256(n));
      if (offload) expect(e.dev.counters.txGso, 'TSO6 super-segments sent').toBeGreaterThan(0);
      expect(e.stack.stats.ip6.recv).toBeGreaterThan(offload ? 100 : 1000);
    }, 120_000);
  }

  test('socat echo over TCP6 and a python3 AF_INET6 client', async () => {
    env = startTunEnv({ ipv6: true });
    const e = env;
    const six = e.tsip6!;
    const data = randomBytes(1_000_000);
    const file = join(dir, 'echo.bin');
    writeFileSync(file, data);
    const echo = await e.sh(`socat -t 5 - TCP6:[${six}]:7 < ${file} | sha256sum`, { timeoutMs: 30_000 });
    expect(echo.stdout.toString().slice(0, 64), echo.stderr).toBe(sha256(data));

    const py = await e.exec(['/usr/bin/python3', '-c', PY_CLIENT, six, '2000000'], { timeoutMs: 30_000 });
    expect(py.code, py.stderr).toBe(0);
    const r = JSON.parse(py.stdout.toString()) as { peer: unknown[]; echoOk: boolean; status: string; bytes: number; sha256: string };
    expect(r.peer[0]).toBe(six);
    expect(r.echoOk).toBe(true);
    expect(r.status).toBe('200');
    expect(r.bytes).toBe(2_000_000);
    expect(r.sha256).toBe(generatedSha256(2_000_000));
  }, 60_000);

  test('a capture of IPv6 traffic has no malformed or bad-checksum frames (tshark)', async () => {
    env = startTunEnv({ offload: false, ipv6: true });
    const e = env;
    const six = e.tsip6!;
    const file = join(dir, 'v6.pcapng');
    const cap = startCapture(e.ns, e.dev.name, file);
    await cap.ready;
    await e.exec(['ping', '-6', '-c', '2', '-i', '0.2', '-s', '3000', six], { timeoutMs: 10_000 }); // fragmented both ways
    const dl = await e.sh(`curl -6 -s -S -m 20 http://[${six}]/bytes/4000000 | sha256sum`, { timeoutMs: 25_000 });
    expect(dl.stdout.toString().slice(0, 64), dl.stderr).toBe(generatedSha256(4_000_000));
    const up = randomBytes(500_000);
    writeFileSync(join(dir, 'up.bin'), up);
    const ul = await e.sh(`socat -t 5 -u FILE:${join(dir, 'up.bin')} TCP6:[${six}]:9`, { timeoutMs: 20_000 });
    expect(ul.code, ul.stderr).toBe(0);
    const discard = e.services.list.find((s) => s.name === 'discard')!.counters;
    expect(await waitFor(() => discard.bytesIn >= up.length && discard.active === 0, 5000)).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    const stderr = await cap.stop();
    expect(stderr).toMatch(/\b0 packets dropped by kernel/);
    const tshark = (args: string[]) => e.exec(['tshark', '-n', '-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-d', 'tcp.port==9,data', ...args], { timeoutMs: 30_000 });
    const kernelFfff = `(ipv6.src == ${e.kernel6} && tcp.checksum.ffff)`;
    const bad = await tshark(['-Y', `ipv6 && (tcp.checksum.status == "Bad" || icmpv6.checksum.status == "Bad" || udp.checksum.status == "Bad" || _ws.malformed || _ws.expert.severity == "error" || tcp.flags.res != 0) && !${kernelFfff}`]);
    expect(bad.code, bad.stderr).toBe(0);
    expect(bad.stdout.toString().trim(), 'bad checksums / malformed IPv6 frames').toBe('');
    const good = await tshark(['-Y', `tcp.checksum.status == "Good" && ipv6.src == ${six}`, '-T', 'fields', '-e', 'frame.number']);
    expect(good.stdout.toString().trim().split('\n').length).toBeGreaterThan(100);
    // The fragmented echo replies reassembled in tshark too (fragment header seen, reply complete).
    const frag = await tshark(['-Y', `ipv6.src == ${six} && ipv6.fragment`, '-T', 'fields', '-e', 'frame.number']);
    expect(frag.stdout.toString().trim().split('\n').filter(Boolean).length).toBeGreaterThan(1);
  }, 60_000);
});

if (skipTun) test.skip(skipReason, () => {});
