// WebREPL interop: tsip's WebREPL on a TUN device in a private namespace
// (test/support/tun.ts), and a python3 client inside that namespace that
// speaks the wire format of MicroPython's webrepl_cli.py: the handshake
// with key "foo", unmasked binary frames with 7/16-bit lengths, the
// password in a binary frame ending in "\r", the 82-byte "WA" request
// (a put's header in 10 + 72 bytes), "WB" replies, and a get driven by
// one b"\0" per chunk. Traffic stays between env.kernel and env.tsip.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, test } from 'vitest';
import { netnsExists } from '../../src/netif/tun-ip.ts';
import { webreplService } from '../../src/services/webrepl.ts';
import { skipReason, skipTun, startTunEnv, type TunEnv } from '../support/tun.ts';

// argv: host port password local_src remote_name local_dst
const PY_CLIENT = `
import hashlib, json, socket, struct, sys
host, port, pw, src, rname, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
s = socket.create_connection((host, port), timeout=30)
s.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: Upgrade\\r\\nUpgrade: websocket\\r\\nSec-WebSocket-Key: foo\\r\\n\\r\\n")
f = s.makefile("rb", 0)
status_line = f.readline()
while f.readline() not in (b"\\r\\n", b""):
    pass
def exact(n):
    out = b""
    while len(out) < n:
        d = s.recv(n - len(out))
        if not d:
            raise EOFError()
        out += d
    return out
def frame():
    b0, b1 = struct.unpack(">BB", exact(2))
    n = b1 & 0x7f
    if n == 126:
        (n,) = struct.unpack(">H", exact(2))
    return b0, exact(n)
text = []
def next_bin():
    while True:
        b0, d = frame()
        if b0 == 0x82:
            return d
        if b0 == 0x81:
            text.append(d.decode())
def send(d, op=0x82):
    if len(d) < 126:
        s.sendall(struct.pack(">BB", op, len(d)) + d)
    else:
        s.sendall(struct.pack(">BBH", op, 126, len(d)) + d)
def resp():
    sig, code = struct.unpack("<2sH", next_bin())
    assert sig == b"WB", sig
    return code
def req(op, size=0, name=b""):
    return struct.pack("<2sBBQLH64s", b"WA", op, 0, 0, size, len(name), name)
# login: text until ": "
seen = ""
while not seen.endswith("Password: "):
    b0, d = frame()
    seen += d.decode()
send(pw.encode() + b"\\r")
send(req(3))
ver = list(next_bin())
data = open(src, "rb").read()
h = req(1, len(data), rname.encode())
send(h[:10]); send(h[10:])
put1 = resp()
for i in range(0, len(data), 1024):
    send(data[i:i + 1024])
put2 = resp()
send(req(2, 0, rname.encode()))
get1 = resp()
got = b""
while True:
    send(b"\\0")
    d = next_bin()
    (n,) = struct.unpack("<H", d[:2])
    if n == 0:
        break
    got += d[2:2 + n]
get2 = resp()
open(dst, "wb").write(got)
send(req(1, 4, b"../escape"))
bad = resp()
# a shell command as text
send(b"echo from-python\\r", 0x81)
out = "".join(text)
while "from-python" not in out.split("echo from-python")[-1]:
    b0, d = frame()
    if b0 == 0x81:
        out += d.decode()
send(struct.pack(">H", 1000), 0x88)
print(json.dumps({"status": status_line.decode().strip(), "ver": ver, "put": [put1, put2], "get": [get1, get2], "bad": bad, "sha_got": hashlib.sha256(got).hexdigest(), "text": out[-200:]}))
`;

describe.skipIf(skipTun)('WebREPL interop (TUN, private namespace, a webrepl_cli.py-style python3 client)', () => {
  let env: TunEnv | null = null;
  let dir: string | null = null;
  afterEach(() => {
    const ns = env?.ns;
    env?.close();
    env = null;
    if (ns) expect(netnsExists(ns)).toBe(false);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  test('login, get version, put and get files of 0 B, 1 B, 1 MB and 10 MB (sha256 equal), ".." refused, a shell command', async () => {
    env = startTunEnv();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsip-webrepl-interop-'));
    const root = path.join(dir, 'root');
    fs.mkdirSync(root);
    const svc = webreplService(env.stack, { port: 8266, password: 'pw-interop', root, mode: 'shell', maxFileBytes: 16_000_000 });
    try {
      const sizes = [0, 1, 1_000_000, 10_000_000];
      for (const [k, size] of sizes.entries()) {
        const src = path.join(dir, `src-${size}.bin`);
        const buf = Buffer.alloc(size);
        for (let i = 0; i < buf.length; i++) buf[i] = (i * 2654435761) >>> 24;
        fs.writeFileSync(src, buf);
        const r = await env.exec(['python3', '-c', PY_CLIENT, env.tsip, '8266', 'pw-interop', src, `/up-${size}.bin`, path.join(dir, `down-${size}.bin`)], { timeoutMs: 60_000 });
        expect(r.code, r.stderr).toBe(0);
        const res = JSON.parse(r.stdout.toString()) as Record<string, unknown>;
        const sha = createHash('sha256').update(buf).digest('hex');
        expect(res).toMatchObject({ status: 'HTTP/1.1 101 Switching Protocols', ver: [1, 22, 0], put: [0, 0], get: [0, 0], sha_got: sha });
        expect(res.bad).not.toBe(0);
        expect(res.text).toContain('from-python');
        expect(createHash('sha256').update(fs.readFileSync(path.join(root, `up-${size}.bin`))).digest('hex')).toBe(sha);
        expect(svc.counters).toMatchObject({ logins: k + 1, filesPut: k + 1, filesGot: k + 1, fileErrors: k + 1, badPasswords: 0 });
      }
    } finally {
      svc.stop();
    }
  }, 90_000);
});

if (skipTun) test.skip(skipReason, () => {});
