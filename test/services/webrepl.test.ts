// WebREPL (issue 15): the RFC 6455 layer (handshake, masked and unmasked
// frames, fragments, ping, size limit) and the WebREPL protocol on top
// (password, the terminal over text frames, file transfers in
// webrepl_cli.py's wire format), between two simulated stacks.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { webreplService, type WebReplOptions, type WebReplService } from '../../src/services/webrepl.ts';
import { websocketAccept } from '../../src/services/websocket.ts';
import type { BlockingSocket } from '../../src/socket/socket.ts';
import { connect, enc, serviceEnv, type ServiceEnv, text } from './helpers.ts';

const PORT = 8266;
const PW = 'tsip-pw';

interface Frame {
  fin: boolean;
  op: number;
  data: Uint8Array;
}

/** A test client speaking raw WebSocket over a blocking tsip socket. */
class Client {
  private buf = new Uint8Array(0);
  /** Text received so far (text frames, in order). */
  out = '';
  constructor(readonly sock: BlockingSocket) {}

  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n) {
      const d = await this.sock.recv(65536);
      if (d.length === 0) return false;
      this.buf = Buffer.concat([this.buf, d]);
    }
    return true;
  }

  private take(n: number): Uint8Array {
    const out = Uint8Array.from(this.buf.subarray(0, n));
    this.buf = this.buf.subarray(n);
    return out;
  }

  async head(): Promise<string> {
    for (;;) {
      const i = Buffer.from(this.buf).indexOf('\r\n\r\n');
      if (i >= 0) return text(this.take(i + 4));
      if (!(await this.fill(this.buf.length + 1))) return text(this.take(this.buf.length));
    }
  }

  /** The next frame, or null at EOF. */
  async frame(): Promise<Frame | null> {
    if (!(await this.fill(2))) return null;
    let len = this.buf[1]! & 0x7f;
    let hl = 2;
    if (len === 126) hl = 4;
    if (len === 127) hl = 10;
    await this.fill(hl);
    const dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    if (len === 126) len = dv.getUint16(2);
    if (len === 127) len = Number(dv.getBigUint64(2));
    expect(this.buf[1]! & 0x80).toBe(0); // the server never masks
    if (!(await this.fill(hl + len))) return null;
    const f = this.take(hl + len);
    return { fin: (f[0]! & 0x80) !== 0, op: f[0]! & 0x0f, data: f.subarray(hl) };
  }

  /** Frames until a binary one (text collected in `out`); null at EOF or close. */
  async binary(): Promise<Uint8Array | null> {
    for (;;) {
      const f = await this.frame();
      if (f === null || f.op === 8) return null;
      if (f.op === 1) this.out += text(f.data);
      if (f.op === 2) return f.data;
    }
  }

  /** Collect text until `s` shows up; false at EOF/close. */
  async until(s: string): Promise<boolean> {
    while (!this.out.includes(s)) {
      const f = await this.frame();
      if (f === null || f.op === 8) return false;
      if (f.op === 1) this.out += text(f.data);
    }
    return true;
  }

  /** Frames until a close; its code (null at EOF without one). */
  async closeCode(): Promise<number | null> {
    for (;;) {
      const f = await this.frame();
      if (f === null) return null;
      if (f.op === 1) this.out += text(f.data);
      if (f.op === 8) return f.data.length >= 2 ? (f.data[0]! << 8) | f.data[1]! : 1005;
    }
  }

  async send(op: number, data: Uint8Array | string, o: { mask?: boolean; fin?: boolean } = {}): Promise<void> {
    const p = typeof data === 'string' ? enc(data) : data;
    const mask = o.mask ?? true;
    const n = p.length;
    const hl = (n < 126 ? 2 : n <= 0xffff ? 4 : 10) + (mask ? 4 : 0);
    const f = new Uint8Array(hl + n);
    f[0] = ((o.fin ?? true) ? 0x80 : 0) | op;
    const dv = new DataView(f.buffer);
    if (n < 126) f[1] = n;
    else if (n <= 0xffff) {
      f[1] = 126;
      dv.setUint16(2, n);
    } else {
      f[1] = 127;
      dv.setBigUint64(2, BigInt(n));
    }
    if (mask) {
      f[1] |= 0x80;
      const key = randomBytes(4);
      f.set(key, hl - 4);
      for (let i = 0; i < n; i++) f[hl + i] = p[i]! ^ key[i & 3]!;
    } else {
      f.set(p, hl);
    }
    await this.sock.write(f);
  }

  /** As webrepl_cli.py writes: one unmasked binary frame. */
  bin(data: Uint8Array): Promise<void> {
    return this.send(2, data, { mask: false });
  }
}

/** webrepl_cli.py's request header: struct.pack("<2sBBQLH64s", b"WA", op, 0, 0, size, len(fname), fname). */
function req(op: number, size = 0, name = ''): Uint8Array {
  const n = enc(name);
  const h = new Uint8Array(82);
  const dv = new DataView(h.buffer);
  h[0] = 0x57;
  h[1] = 0x41;
  h[2] = op;
  dv.setUint32(12, size, true);
  dv.setUint16(16, n.length, true);
  h.set(n.subarray(0, 64), 18);
  return h;
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function handshake(env: ServiceEnv, key = 'dGhlIHNhbXBsZSBub25jZQ=='): Promise<{ c: Client; head: string }> {
  const s = await connect(env, PORT);
  await s.write(enc(`GET / HTTP/1.1\r\nHost: tsip\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${key}\r\n\r\n`));
  const c = new Client(s);
  return { c, head: await c.head() };
}

/** Handshake and password as webrepl_cli.py does it (password + "\r" in an unmasked binary frame). */
async function login(env: ServiceEnv, pw = PW): Promise<Client> {
  const { c } = await handshake(env, 'foo');
  expect(await c.until('Password: ')).toBe(true);
  await c.bin(enc(`${pw}\r`));
  return c;
}

async function status(c: Client): Promise<number> {
  const r = await c.binary();
  expect(r).not.toBeNull();
  expect(r!.length).toBe(4);
  expect(text(r!.subarray(0, 2))).toBe('WB');
  return r![2]! | (r![3]! << 8);
}

/** put_file as webrepl_cli.py: header in 10 + 72 bytes, then 1 KiB frames. */
async function put(c: Client, name: string, data: Uint8Array): Promise<[number, number]> {
  const h = req(1, data.length, name);
  await c.bin(h.subarray(0, 10));
  await c.bin(h.subarray(10));
  const first = await status(c);
  if (first !== 0) return [first, -1];
  for (let off = 0; off < data.length; off += 1024) await c.bin(data.subarray(off, off + 1024));
  return [first, await status(c)];
}

/** get_file as webrepl_cli.py: ask with b"\0" for each chunk (u16 LE length + data), until length 0. */
async function get(c: Client, name: string): Promise<{ first: number; last: number; data: Uint8Array }> {
  await c.bin(req(2, 0, name));
  const first = await status(c);
  if (first !== 0) return { first, last: -1, data: new Uint8Array(0) };
  const parts: Uint8Array[] = [];
  for (;;) {
    await c.bin(Uint8Array.of(0));
    const f = (await c.binary())!;
    const n = f[0]! | (f[1]! << 8);
    expect(f.length).toBe(2 + n);
    if (n === 0) break;
    parts.push(f.subarray(2));
  }
  return { first, last: await status(c), data: Buffer.concat(parts) };
}

let root: string;
let outside: string;
let env: ServiceEnv;
let svc: WebReplService;
let beat = true;

function start(o: Partial<WebReplOptions> = {}): void {
  env = serviceEnv();
  svc = webreplService(env.server, { port: PORT, password: PW, root, mode: 'shell', ...o });
  // File I/O is real (the thread pool) while time is virtual: keep the simulator stepping meanwhile.
  beat = true;
  const tick = (): void => {
    if (beat) env.sim.clock.after(1, tick);
  };
  tick();
}

async function done(): Promise<void> {
  svc.stop();
  beat = false;
  await env.finish();
}

beforeEach(() => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'tsip-webrepl-'));
  root = path.join(base, 'root');
  outside = path.join(base, 'outside');
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
});

afterEach(() => {
  fs.rmSync(path.dirname(root), { recursive: true, force: true });
});

describe('websocket', () => {
  test('handshake: the RFC 6455 §1.3 accept value', async () => {
    expect(websocketAccept('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    start();
    const head = await env.run(
      (async () => {
        const { c, head } = await handshake(env);
        c.sock.close();
        return head;
      })(),
    );
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    expect(head).toContain('Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n');
    await done();
  });

  test('bad requests get 400 (no upgrade, POST), 431 (huge head)', async () => {
    start();
    const heads = await env.run(
      (async () => {
        const out: string[] = [];
        for (const r of ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'POST / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\n\r\n', `GET / HTTP/1.1\r\nX: ${'a'.repeat(10000)}\r\n\r\n`]) {
          const s = await connect(env, PORT);
          await s.write(enc(r));
          const c = new Client(s);
          out.push(await c.head());
          s.close();
        }
        return out;
      })(),
    );
    expect(heads[0]).toMatch(/^HTTP\/1\.1 400 /);
    expect(heads[1]).toMatch(/^HTTP\/1\.1 400 /);
    expect(heads[2]).toMatch(/^HTTP\/1\.1 431 /);
    expect(svc.counters.badHandshakes).toBe(3);
    await done();
  });

  test('masked and unmasked text, fragments, ping → pong, close echoed', async () => {
    start();
    const out = await env.run(
      (async () => {
        const { c } = await handshake(env);
        await c.until('Password: ');
        // The password in three fragments: masked text, unmasked continuation, masked continuation.
        await c.send(1, 'tsip', { fin: false });
        await c.send(0, '-p', { fin: false, mask: false });
        await c.send(0, 'w\r');
        await c.until('$ ');
        await c.send(9, 'hi');
        const pong = await c.frame();
        await c.send(1, 'echo masked\n');
        await c.until('masked\r\n');
        await c.send(1, 'echo unmasked\n', { mask: false });
        await c.until('unmasked\r\n');
        await c.send(8, Uint8Array.of(0x03, 0xe8));
        const code = await c.closeCode();
        const eof = await c.frame();
        c.sock.close();
        return { pong, code, eof, out: c.out };
      })(),
    );
    expect(out.pong).toEqual({ fin: true, op: 10, data: enc('hi') });
    expect(out.out).toContain('masked\r\n');
    expect(out.out).toContain('unmasked\r\n');
    expect(out.code).toBe(1000);
    expect(out.eof).toBeNull();
    expect(svc.counters.logins).toBe(1);
    await done();
  });

  test('before login, messages over 4 KiB → close 1009', async () => {
    start();
    const code = await env.run(
      (async () => {
        const { c } = await handshake(env);
        await c.send(1, 'x'.repeat(5000));
        const r = await c.closeCode();
        c.sock.close();
        return r;
      })(),
    );
    expect(code).toBe(1009);
    await done();
  });

  test('a message over the limit → close 1009; a bad opcode → close 1002', async () => {
    start({ maxMessageBytes: 1000 });
    const codes = await env.run(
      (async () => {
        const { c } = await handshake(env);
        await c.send(2, new Uint8Array(1001));
        const a = await c.closeCode();
        c.sock.close();
        const d = await handshake(env);
        await d.c.send(2, new Uint8Array(600), { fin: false });
        await d.c.send(0, new Uint8Array(600)); // the message as a whole is too big
        const b = await d.c.closeCode();
        d.c.sock.close();
        const e = await handshake(env);
        await e.c.send(5, 'x');
        const x = await e.c.closeCode();
        e.c.sock.close();
        return [a, b, x];
      })(),
    );
    expect(codes).toEqual([1009, 1009, 1002]);
    await done();
  });
});

describe('webrepl', () => {
  test('wrong passwords: "Access denied", closed after maxAttempts; the right one logs in', async () => {
    start({ maxAttempts: 2 });
    const out = await env.run(
      (async () => {
        const { c } = await handshake(env, 'foo');
        await c.until('Password: ');
        await c.bin(enc('nope\r'));
        await c.bin(enc('still-nope\n'));
        const code = await c.closeCode();
        c.sock.close();
        const ok = await login(env);
        await ok.until('$ ');
        await ok.send(1, 'whoami\r');
        await ok.until('session 2');
        ok.sock.close();
        return { denied: c.out, code, ok: ok.out };
      })(),
    );
    expect(out.denied).toContain('Access denied');
    expect(out.code).toBe(1000);
    expect(out.ok).toContain('WebREPL connected');
    expect(svc.counters.badPasswords).toBe(2);
    expect(svc.counters.logins).toBe(1);
    await done();
  });

  test('no password within authTimeoutMs: closed (1008), counted', async () => {
    start({ authTimeoutMs: 5_000 });
    const out = await env.run(
      (async () => {
        const { c } = await handshake(env, 'foo');
        const t0 = env.now();
        const code = await c.closeCode();
        c.sock.close();
        return { code, after: env.now() - t0 };
      })(),
    );
    expect(out.code).toBe(1008);
    expect(out.after).toBeGreaterThanOrEqual(5_000);
    expect(out.after).toBeLessThan(6_000);
    expect(svc.counters.authTimeouts).toBe(1);
    await done();
  });

  test('tty: the REPL echoes what is typed and takes keystrokes (as from a browser terminal)', async () => {
    start({ mode: 'repl', tty: true });
    const out = await env.run(
      (async () => {
        const c = await login(env);
        await c.until('>>> ');
        for (const k of ['6', ' ', '*', ' ', '8', '\x7f', '7', '\r']) await c.send(1, k);
        await c.until('42');
        await c.send(1, '.exit\r');
        const code = await c.closeCode();
        c.sock.close();
        return { out: c.out, code };
      })(),
    );
    expect(out.out).toContain('6 * ');
    expect(out.out).toContain('42');
    expect(out.code).toBe(1000);
    await done();
  });

  test('exit: a client that never answers the close is let go after closeTimeoutMs', async () => {
    start({ closeTimeoutMs: 2_000 });
    const out = await env.run(
      (async () => {
        const c = await login(env);
        await c.until('$ ');
        await c.send(1, 'exit\r');
        const t0 = env.now();
        const f = await c.frame(); // the close: not answered
        let eof = await c.frame();
        while (eof !== null) eof = await c.frame(); // pings, pongs: none expected
        const waited = env.now() - t0;
        c.sock.close();
        return { op: f?.op, waited };
      })(),
    );
    expect(out.op).toBe(8);
    expect(out.waited).toBeGreaterThanOrEqual(2_000);
    expect(out.waited).toBeLessThan(2_500);
    expect(svc.sessions.size).toBe(0);
    await done();
  });

  test('several sessions at once: a transfer in one, commands in another; closing one leaves the other', async () => {
    start();
    const out = await env.run(
      (async () => {
        const a = await login(env);
        const b = await login(env);
        await a.until('$ ');
        await b.until('$ ');
        const both = svc.sessions.size;
        const data = randomBytes(300_000);
        const [p] = await Promise.all([
          put(a, 'a.bin', data),
          (async () => {
            for (let i = 0; i < 5; i++) {
              await b.send(1, `echo b${i}\r`);
              await b.until(`b${i}\r\n`);
            }
          })(),
        ]);
        b.sock.close();
        const g = await get(a, 'a.bin');
        a.sock.close();
        return { both, p, same: sha(g.data) === sha(data) };
      })(),
    );
    expect(out).toEqual({ both: 2, p: [0, 0], same: true });
    await done();
  });

  test('the REPL mode runs code', async () => {
    start({ mode: 'repl' });
    const out = await env.run(
      (async () => {
        const c = await login(env);
        await c.until('>>> ');
        await c.send(1, '6 * 7\r');
        await c.until('42');
        await c.send(1, 'stack.name\r');
        await c.until("'server'");
        await c.send(1, '.exit\r');
        const code = await c.closeCode();
        c.sock.close();
        return code;
      })(),
    );
    expect(out).toBe(1000);
    await done();
  });

  test('get version, put and get 0 B, 1 B, 100 KB, 1 MB (sha256 equal)', async () => {
    start();
    const sizes = [0, 1, 100_000, 1_000_000];
    const out = await env.run(
      (async () => {
        const c = await login(env);
        await c.bin(req(3));
        const ver = await c.binary();
        const res = [];
        for (const n of sizes) {
          const data = randomBytes(n);
          const p = await put(c, `/f${n}.bin`, data);
          const g = await get(c, `f${n}.bin`);
          res.push({ n, p, g: [g.first, g.last], same: sha(g.data) === sha(data), disk: sha(fs.readFileSync(path.join(root, `f${n}.bin`))) === sha(data) });
        }
        // 100 KB of put data in one masked frame (a 64-bit length), then in two fragments.
        const big = randomBytes(100_000);
        for (const split of [false, true]) {
          await c.bin(req(1, big.length, 'one.bin'));
          const s1 = await status(c);
          if (split) {
            await c.send(2, big.subarray(0, 70_000), { fin: false });
            await c.send(0, big.subarray(70_000));
          } else {
            await c.send(2, big);
          }
          const s2 = await status(c);
          const g = await get(c, 'one.bin');
          res.push({ n: split ? -2 : -1, p: [s1, s2], g: [g.first, g.last], same: sha(g.data) === sha(big), disk: true });
        }
        c.sock.close();
        return { ver, res };
      })(),
    );
    expect(out.ver).toEqual(Uint8Array.of(1, 22, 0));
    for (const r of out.res) expect(r).toEqual({ n: r.n, p: [0, 0], g: [0, 0], same: true, disk: true });
    expect(out.res.length).toBe(6);
    expect(svc.counters.filesPut).toBe(6);
    expect(svc.counters.filesGot).toBe(6);
    await done();
  }, 60_000);

  test('names outside root are refused with an error status; nothing is written outside', async () => {
    fs.writeFileSync(path.join(outside, 'secret'), 'secret');
    fs.symlinkSync(outside, path.join(root, 'link'));
    start();
    const out = await env.run(
      (async () => {
        const c = await login(env);
        const r: number[] = [];
        for (const name of ['../escape', '/../escape', 'a/../../escape', 'link/new', 'x\0y', 'a\\b', '']) r.push((await put(c, name, enc('data')))[0]);
        r.push((await get(c, '../outside/secret')).first);
        r.push((await get(c, 'link/secret')).first);
        r.push((await get(c, 'missing')).first);
        // Still usable after all that.
        r.push((await put(c, 'ok.txt', enc('fine')))[1]);
        c.sock.close();
        return r;
      })(),
    );
    expect(out.slice(0, 10).every((s) => s !== 0)).toBe(true);
    expect(out[10]).toBe(0);
    expect(fs.readdirSync(outside)).toEqual(['secret']);
    expect(fs.readdirSync(path.dirname(root)).sort()).toEqual(['outside', 'root']);
    expect(fs.readFileSync(path.join(root, 'ok.txt'), 'utf8')).toBe('fine');
    expect(svc.counters.fileErrors).toBe(10);
    await done();
  });

  test('a client that disconnects mid-put: no session, no partial file, nothing left in the stacks', async () => {
    start();
    await env.run(
      (async () => {
        const c = await login(env);
        const h = req(1, 100_000, 'big.bin');
        await c.bin(h);
        expect(await status(c)).toBe(0);
        await c.bin(new Uint8Array(30_000));
        c.sock.close();
        const d = await login(env);
        await d.bin(req(2, 0, 'nothing-here'));
        expect(await status(d)).not.toBe(0);
        await d.bin(req(1, 10, 'mid.bin'));
        await status(d);
        d.sock.close();
        // Mid-get: one chunk, then gone.
        fs.writeFileSync(path.join(root, 'src.bin'), randomBytes(50_000));
        const g = await login(env);
        await g.bin(req(2, 0, 'src.bin'));
        expect(await status(g)).toBe(0);
        await g.bin(Uint8Array.of(0));
        expect((await g.binary())!.length).toBe(4098);
        g.sock.close();
      })(),
    );
    await env.run(
      (async () => {
        while (svc.sessions.size > 0) await new Promise<void>((r) => env.sim.clock.after(10, r));
      })(),
    );
    expect(fs.readdirSync(root)).toEqual(['src.bin']);
    expect(svc.counters.active).toBe(0);
    await done();
  });
});
