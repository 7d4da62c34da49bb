// Interop against the Linux kernel's TCP: tsip on a TUN device in a private
// namespace (test/support/tun.ts), the kernel's tools (curl, socat, nc,
// python3) running inside that namespace. Every scenario runs with offload
// off and on. Traffic stays between env.kernel and env.tsip; every loop is
// bounded in count and time; every namespace is deleted in afterEach.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { netnsExists } from '../../src/netif/tun-ip.ts';
import { errno, isOSError } from '../../src/socket/errors.ts';
import type { Socket } from '../../src/socket/socket.ts';
import { generatedSha256, sha256, skipReason, skipTun, startTunEnv, waitFor, type TunEnv } from '../support/tun.ts';

const MB = 1_000_000;
/** The four listeners startServices opens (echo, discard, chargen, http). */
const SERVICE_PCBS = 4;

/** Connect tsip to a kernel listener that may not be listening yet (bounded retries on ECONNREFUSED). */
async function connectRetry(env: TunEnv, port: number, tries = 50): Promise<Socket> {
  for (let i = 0; ; i++) {
    const s = env.stack.socket();
    try {
      await s.connect([env.kernel, port]);
      return s;
    } catch (e) {
      s.close();
      if (i >= tries || !isOSError(e, errno.ECONNREFUSED)) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Everything tsip reads from `s` until EOF: byte count and sha256 (bounded by `ms`). */
async function drain(s: Socket, ms: number): Promise<{ n: number; sha: string }> {
  s.settimeout(ms / 1000);
  const h = createHash('sha256');
  let n = 0;
  for (;;) {
    const d = await s.recv(65536);
    if (d.length === 0) break;
    h.update(d);
    n += d.length;
  }
  return { n, sha: h.digest('hex') };
}

// python3 one-shot listener on (host, port): 'sink' hashes everything until
// EOF, 'source PATH' sends the file and closes. Prints "<bytes> <sha256>".
const PY_LISTENER = `
import hashlib, socket, sys
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((host, port))
ls.listen(1)
ls.settimeout(30)
c, _ = ls.accept()
c.settimeout(30)
h = hashlib.sha256()
n = 0
if mode == 'sink':
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        h.update(d)
        n += len(d)
else:
    with open(sys.argv[4], 'rb') as f:
        data = f.read()
    c.sendall(data)
    h.update(data)
    n = len(data)
    c.shutdown(socket.SHUT_WR)
    while c.recv(65536):
        pass
c.close()
print(n, h.hexdigest())
`;

// 100 (argv[3]) concurrent connections to (host, port), each sending its own
// random payload (argv[4] bytes), half-closing, and reading until EOF.
// Prints JSON: how many came back intact, and the failures.
const PY_MANY = `
import json, os, selectors, socket, sys, time
host, port, conns, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
deadline = time.monotonic() + float(sys.argv[5])
sel = selectors.DefaultSelector()
st = {}
for i in range(conns):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex((host, port))
    st[s] = {'i': i, 'out': os.urandom(size), 'sent': 0, 'got': bytearray(), 'eof': False, 'err': None}
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
open_ = len(st)
while open_ and time.monotonic() < deadline:
    for key, ev in sel.select(timeout=0.5):
        s = key.fileobj
        c = st[s]
        try:
            if ev & selectors.EVENT_WRITE and c['sent'] < size:
                c['sent'] += s.send(c['out'][c['sent']:c['sent'] + 65536])
                if c['sent'] == size:
                    s.shutdown(socket.SHUT_WR)
                    sel.modify(s, selectors.EVENT_READ)
            if ev & selectors.EVENT_READ:
                d = s.recv(262144)
                if d:
                    c['got'] += d
                else:
                    c['eof'] = True
        except OSError as e:
            c['err'] = repr(e)
        if c['eof'] or c['err']:
            sel.unregister(s)
            s.close()
            open_ -= 1
ok = sum(1 for c in st.values() if c['eof'] and c['err'] is None and bytes(c['got']) == c['out'])
bad = [{'i': c['i'], 'sent': c['sent'], 'got': len(c['got']), 'eof': c['eof'], 'err': c['err']} for c in st.values() if not (c['eof'] and c['err'] is None and bytes(c['got']) == c['out'])]
print(json.dumps({'ok': ok, 'bad': bad[:10], 'nbad': len(bad)}))
`;

// Connect to (host, port), optionally send a request line, read argv[4]
// bytes, then close with SO_LINGER 0 (an RST). Prints the bytes read.
const PY_RESET = `
import socket, struct, sys
host, port, want, req = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s = socket.create_connection((host, port), timeout=20)
if req:
    s.sendall(req.encode())
n = 0
while n < want:
    d = s.recv(65536)
    if not d:
        break
    n += len(d)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
s.close()
print(n)
`;

// Half-close: send argv[3] random bytes to echo, shutdown(SHUT_WR), keep
// reading until EOF (a reader thread runs alongside the sender). Prints
// JSON: bytes sent and received, whether they match, and how many bytes
// arrived after the shutdown.
const PY_HALF = `
import json, os, socket, sys, threading
host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port), timeout=20)
out = os.urandom(size)
got = bytearray()
after = [None]
def reader():
    while True:
        d = s.recv(65536)
        if not d:
            return
        got.extend(d)
t = threading.Thread(target=reader)
t.start()
s.sendall(out)
s.shutdown(socket.SHUT_WR)
after[0] = len(got)
t.join(30)
print(json.dumps({'sent': size, 'got': len(got), 'same': bytes(got) == out, 'gotAtShutdown': after[0], 'eof': not t.is_alive()}))
s.close()
`;

describe.skipIf(skipTun)('interop with the Linux kernel TCP (TUN, private namespace)', () => {
  let env: TunEnv | null = null;
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsip-interop-'));
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
    const tag = `offload ${offload ? 'on' : 'off'}`;

    test(`curl downloads 20 MB from tsip's HTTP server, sha256 matches (${tag})`, async () => {
      env = startTunEnv({ offload });
      const n = 20 * MB;
      const r = await env.sh(`curl -s -S -m 40 http://${env.tsip}/bytes/${n} | sha256sum`, { timeoutMs: 45_000 });
      expect(r.stderr).toBe('');
      expect(r.stdout.toString().slice(0, 64)).toBe(generatedSha256(n));
      const http = env.services.list.find((s) => s.name === 'http')!.counters;
      expect(await waitFor(() => http.active === 0, 2000)).toBe(true);
      expect(http.errors).toBe(0);
    }, 60_000);

    for (const tool of ['socat', 'nc'] as const) {
      test(`${tool}: 1 MB through echo :7 comes back intact (${tag})`, async () => {
        env = startTunEnv({ offload });
        const data = randomBytes(MB);
        const file = join(dir, `echo-${tool}-${offload ? 1 : 0}.bin`);
        writeFileSync(file, data);
        // socat half-closes when its input ends and keeps reading (-t: at most 10 s after that);
        // nc -N shuts its write side down at EOF on stdin and reads until the peer closes.
        const cmd = tool === 'socat' ? `socat -t 10 - TCP:${env.tsip}:7 < ${file} | sha256sum` : `nc -N -w 10 ${env.tsip} 7 < ${file} | sha256sum`;
        const r = await env.sh(cmd, { timeoutMs: 25_000 });
        expect(r.stdout.toString().slice(0, 64), r.stderr).toBe(sha256(data));
        const echo = env.services.list.find((s) => s.name === 'echo')!.counters;
        expect(await waitFor(() => echo.active === 0, 2000)).toBe(true);
        expect(echo.bytesIn).toBe(MB);
        expect(echo.bytesOut).toBe(MB);
      }, 40_000);
    }

    test(`tsip connects out: uploads 20 MB to and downloads 20 MB from kernel listeners (${tag})`, async () => {
      env = startTunEnv({ offload });
      const n = 20 * MB;
      // Upload: the kernel hashes what it gets.
      const up = randomBytes(n);
      const sink = env.exec(['python3', '-c', PY_LISTENER, env.kernel, '5001', 'sink'], { timeoutMs: 40_000 });
      const s1 = await connectRetry(env, 5001);
      s1.settimeout(30);
      await s1.sendall(up);
      s1.close();
      const sr = await sink;
      expect(sr.code, sr.stderr).toBe(0);
      expect(sr.stdout.toString().trim()).toBe(`${n} ${sha256(up)}`);

      // Download: the kernel serves a file, tsip hashes it.
      const down = randomBytes(n);
      const file = join(dir, `down-${offload ? 1 : 0}.bin`);
      writeFileSync(file, down);
      const source = env.exec(['python3', '-c', PY_LISTENER, env.kernel, '5002', 'source', file], { timeoutMs: 40_000 });
      const s2 = await connectRetry(env, 5002);
      const got = await drain(s2, 30_000);
      s2.close();
      const so = await source;
      expect(so.code, so.stderr).toBe(0);
      expect(so.stdout.toString().trim()).toBe(`${n} ${sha256(down)}`);
      expect(got).toEqual({ n, sha: sha256(down) });
      // tsip closed the upload first: that connection waits in TIME_WAIT (2 MSL); nothing else is left.
      const tcp = env.stack.tcp;
      expect(await waitFor(() => tcp.active.size === 0 && tcp.pcbCount === SERVICE_PCBS + tcp.timeWait.size, 5000), `pcbs: ${tcp.pcbCount}`).toBe(true);
      expect(tcp.timeWait.size).toBe(1);
    }, 60_000);

    test(`100 concurrent kernel connections each echo 100 KB through tsip (${tag})`, async () => {
      env = startTunEnv({ offload });
      const r = await env.exec(['python3', '-c', PY_MANY, env.tsip, '7', '100', '100000', '25'], { timeoutMs: 35_000 });
      expect(r.code, r.stderr).toBe(0);
      const res = JSON.parse(r.stdout.toString()) as { ok: number; nbad: number; bad: unknown[] };
      expect(res, JSON.stringify(res.bad)).toEqual({ ok: 100, nbad: 0, bad: [] });
      const echo = env.services.list.find((s) => s.name === 'echo')!.counters;
      expect(echo.accepted).toBe(100);
      expect(await waitFor(() => echo.active === 0, 3000)).toBe(true);
      expect(echo.bytesIn).toBe(100 * 100_000);
      expect(echo.bytesOut).toBe(100 * 100_000);
      expect(echo.errors).toBe(0);
    }, 45_000);

    test(`a kernel client resetting mid-transfer leaves nothing behind in tsip (${tag})`, async () => {
      env = startTunEnv({ offload });
      const e = env;
      const pool = e.stack.pool.stats;
      const http = e.services.list.find((s) => s.name === 'http')!.counters;
      const chargen = e.services.list.find((s) => s.name === 'chargen')!.counters;
      expect(e.stack.tcp.pcbCount).toBe(SERVICE_PCBS);
      const before = pool.bytesInUse;

      // HTTP: a 100 MB download, reset after 2 MB.
      const r1 = await e.exec(['python3', '-c', PY_RESET, e.tsip, '80', String(2 * MB), 'GET /bytes/100000000 HTTP/1.1\r\nHost: tsip\r\n\r\n'], { timeoutMs: 25_000 });
      expect(r1.code, r1.stderr).toBe(0);
      expect(Number(r1.stdout.toString())).toBeGreaterThanOrEqual(2 * MB);
      const freed = () => e.stack.tcp.pcbCount === SERVICE_PCBS && pool.bytesInUse === before && http.active === 0;
      expect(await waitFor(freed, 3000), `pcbs ${e.stack.tcp.pcbCount}, pool ${pool.bytesInUse} (before ${before}), http ${JSON.stringify(http)}`).toBe(true);
      expect(http.accepted).toBe(1);
      expect(http.errors).toBe(1); // the handler's write failed with ECONNRESET
      expect(http.bytesOut).toBeLessThan(100 * MB);
      expect(e.stack.sockets.open).toBe(SERVICE_PCBS);

      // chargen: reset after 1 MB.
      const r2 = await e.exec(['python3', '-c', PY_RESET, e.tsip, '19', String(MB), ''], { timeoutMs: 25_000 });
      expect(r2.code, r2.stderr).toBe(0);
      const freed2 = () => e.stack.tcp.pcbCount === SERVICE_PCBS && pool.bytesInUse === before && chargen.active === 0;
      expect(await waitFor(freed2, 3000), `pcbs ${e.stack.tcp.pcbCount}, pool ${pool.bytesInUse} (before ${before}), chargen ${JSON.stringify(chargen)}`).toBe(true);
      expect(chargen.accepted).toBe(1);
      expect(chargen.errors).toBe(1);
      expect(e.stack.sockets.open).toBe(SERVICE_PCBS);
    }, 45_000);

    test(`loss both ways (tsip's device drops 1 data packet in 20 each way): 2 MB echo intact, both sides recover (${tag})`, async () => {
      // Deterministic: every 20th packet carrying TCP payload is lost, counted per
      // direction (a super-segment counts as one), so both senders must retransmit.
      const seen = { in: 0, out: 0 };
      const carriesData = (b: Uint8Array): boolean => {
        const ihl = (b[0]! & 0x0f) * 4;
        const total = (b[2]! << 8) | b[3]!;
        return b[9] === 6 && b.length >= ihl + 20 && total > ihl + (b[ihl + 12]! >> 4) * 4;
      };
      env = startTunEnv({ offload, filter: (dir, b) => !carriesData(b) || ++seen[dir] % 20 !== 0 });
      const data = randomBytes(2 * MB);
      const file = join(dir, `lossy-${offload ? 1 : 0}.bin`);
      writeFileSync(file, data);
      const r = await env.sh(`socat -t 20 - TCP:${env.tsip}:7 < ${file} | sha256sum`, { timeoutMs: 40_000 });
      const why = () => `${r.stderr} after ${Math.round(r.ms)} ms; dev ${JSON.stringify(env?.dev.counters)}; tcp ${JSON.stringify(env?.stack.tcp.counters)}; echo ${JSON.stringify(env?.services.list.find((s) => s.name === 'echo')!.counters)}`;
      expect(r.stdout.toString().slice(0, 64), why()).toBe(sha256(data));
      const c = env.dev.counters;
      expect(c.rxFiltered).toBeGreaterThan(0);
      expect(c.txFiltered).toBeGreaterThan(0);
      expect(env.stack.tcp.counters.retransSegs).toBeGreaterThan(0);
      const echo = env.services.list.find((s) => s.name === 'echo')!.counters;
      expect(await waitFor(() => echo.active === 0, 3000)).toBe(true);
      expect(echo.errors).toBe(0);
    }, 60_000);

    test(`half-close: the kernel shuts its write side and still reads every echoed byte, then EOF (${tag})`, async () => {
      env = startTunEnv({ offload });
      const r = await env.exec(['python3', '-c', PY_HALF, env.tsip, '7', String(2 * MB)], { timeoutMs: 40_000 });
      expect(r.code, r.stderr).toBe(0);
      const res = JSON.parse(r.stdout.toString()) as { sent: number; got: number; same: boolean; gotAtShutdown: number; eof: boolean };
      expect(res).toMatchObject({ sent: 2 * MB, got: 2 * MB, same: true, eof: true });
      // Some of the echo really travelled after the FIN (not a vacuous half-close).
      expect(res.gotAtShutdown).toBeLessThan(2 * MB);
      const echo = env.services.list.find((s) => s.name === 'echo')!.counters;
      expect(await waitFor(() => echo.active === 0, 2000)).toBe(true);
      expect(echo.errors).toBe(0);
    }, 45_000);
  }
});

if (skipTun) test.skip(skipReason, () => {});
