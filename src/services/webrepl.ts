// WebREPL (seed 000: MicroPython's WebREPL) on tsip: a WebSocket service
// (websocket.ts) that asks for a password ("Password: " as a text frame),
// then runs the terminal service's REPL or shell over text frames, and
// carries file transfers in binary frames in the wire format of
// MicroPython's modwebrepl, as webrepl_cli.py and webrepl.html speak it:
//
// - binary payloads form one byte stream; a request is an 82-byte header
//   "<2sBBQLH64s": b"WA", op, 0, offset u64, size u32, name length u16,
//   name[64] (webrepl_cli sends it in two frames: 10 + 72 bytes);
// - op 1 (put): "WB" + u16 LE status; if 0, `size` bytes of file data
//   follow (in binary frames of any size), then "WB" + status;
// - op 2 (get): "WB" + status; if 0, for every byte the client sends (it
//   sends b"\0") one frame with a u16 LE length and that many bytes of the
//   file; a zero length ends it, then "WB" + status;
// - op 3 (version): three bytes (major, minor, micro), no status.
// Every reply is a frame of its own (webrepl_cli reads a reply from one frame).
//
// Files live under `root`: names are taken relative to it (a leading "/"
// is its top), and "..", NUL, backslashes and names longer than 64 bytes
// are refused, as is anything whose real path (symlinks resolved) leaves
// it. A put is written to a temporary file renamed into place at the end,
// so a transfer cut short leaves nothing behind.
//
// Off unless started (`tsip up --webrepl PORT` with a password): the REPL runs code.
import { createHash, timingSafeEqual } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Duplex } from 'node:stream';
import type { Stack } from '../stack/stack.ts';
import { hostPort } from './addr.ts';
import { ServiceTimeout, type ResolvedLimits } from './limits.ts';
import { DEFAULT_LIMITS, serve, type ServeOptions, type Service, type ServiceCounters } from './serve.ts';
import { startRepl, startShell, type TerminalMode } from './terminal.ts';
import { acceptWebSocket, type WebSocket, WS_CLOSE, type WebSocketOptions } from './websocket.ts';

export const WEBREPL_PUT_FILE = 1;
export const WEBREPL_GET_FILE = 2;
export const WEBREPL_GET_VER = 3;
/** Size of a file request header ("<2sBBQLH64s"). */
export const WEBREPL_HEADER_BYTES = 82;

/** Status codes in "WB" replies (0 = ok). */
export const WEBREPL_STATUS = { ok: 0, badRequest: 1, notAllowed: 2, notFound: 3, tooBig: 4, ioError: 5 } as const;

/** A WebREPL session command (shell mode). */
export type WebReplCommand = (args: string[], session: WebReplSession) => string | Promise<string>;

export interface WebReplOptions extends ServeOptions, WebSocketOptions {
  port: number;
  /** Required, non-empty. */
  password: string;
  /** The directory file transfers are confined to (none: file operations are refused). */
  root?: string;
  /** 'repl' (default) or 'shell', as the terminal service. */
  mode?: TerminalMode;
  /** Extra shell commands (shell mode). */
  commands?: Record<string, WebReplCommand>;
  /**
   * Echo and line editing by the server (readline's terminal mode), as a
   * terminal emulator such as webrepl.html's expects (MicroPython echoes
   * too); default false: plain lines, as webrepl_cli.py and scripts want.
   */
  tty?: boolean;
  /** Values visible in the REPL (repl mode); `stack` and `session` are always there. */
  context?: Record<string, unknown>;
  /** Password attempts per connection before it is closed (default 3). */
  maxAttempts?: number;
  /** Longest password accepted (bytes, default 256). */
  maxPasswordBytes?: number;
  /** The password must be right within this time of the connection (ms; default 30 s). */
  authTimeoutMs?: number;
  /** Largest file a put may write (bytes; default 64 MiB). */
  maxFileBytes?: number;
  /** File bytes per get frame (default 4096, at most 65533). */
  getChunkBytes?: number;
  /** What "get version" answers (default [1, 22, 0]). */
  version?: [number, number, number];
  /** One line per session event. */
  log?: (line: string) => void;
}

export interface WebReplCounters extends ServiceCounters {
  /** WebSocket handshakes completed. */
  sessions: number;
  logins: number;
  badPasswords: number;
  /** Connections that did not log in within authTimeoutMs. */
  authTimeouts: number;
  /** Upgrade requests refused (400, 426, 431). */
  badHandshakes: number;
  filesPut: number;
  filesGot: number;
  /** File requests answered with a non-zero status. */
  fileErrors: number;
}

export interface WebReplSession {
  readonly id: number;
  readonly remote: string;
  readonly ws: WebSocket;
  authenticated: boolean;
  closeReason: string | null;
}

export interface WebReplService extends Service {
  readonly counters: WebReplCounters;
  /** The sessions open now (handshake done, not yet closed). */
  readonly sessions: ReadonlySet<WebReplSession>;
}

/** WebREPL's limits: few sessions, long idle (a terminal sits idle), the usual write deadline. */
export const WEBREPL_DEFAULT_LIMITS: ResolvedLimits = { ...DEFAULT_LIMITS, maxConnections: 16, idleTimeoutMs: 1_800_000 };

/** Largest message before login (bytes). */
const PRE_LOGIN_MAX_MESSAGE = 4096;

const digest = (s: string | Uint8Array): Buffer => createHash('sha256').update(s).digest();

function status(code: number): Uint8Array {
  return Uint8Array.of(0x57, 0x42, code & 0xff, code >> 8);
}

export function webreplService(stack: Stack, o: WebReplOptions): WebReplService {
  if (typeof o.password !== 'string' || o.password.length === 0) throw new Error('webrepl service: a non-empty password is required');
  const want = digest(o.password);
  const mode = o.mode ?? 'repl';
  const maxAttempts = o.maxAttempts ?? 3;
  const maxPw = o.maxPasswordBytes ?? 256;
  const log = o.log ?? (() => {});
  const sessions = new Set<WebReplSession>();
  let nextId = 1;
  let counters!: WebReplCounters;
  const svc = serve(
    stack.sockets,
    'webrepl',
    o.port,
    async (sock, addr, _c, conn) => {
      const hs = await acceptWebSocket(sock, conn, counters, o);
      if (hs === null) return;
      if (!hs.ok) {
        counters.badHandshakes++;
        return;
      }
      const ws = hs.ws;
      counters.sessions++;
      const session: WebReplSession = { id: nextId++, remote: hostPort(String(addr[0]), Number(addr[1])), ws, authenticated: false, closeReason: null };
      sessions.add(session);
      const cleanups: (() => void | Promise<void>)[] = [];
      try {
        session.closeReason = await runSession(stack, o, mode, session, counters, conn.clock.now() + (o.authTimeoutMs ?? 30_000), maxAttempts, maxPw, want, cleanups, log);
        await ws.close(WS_CLOSE.normal);
        // Wait (bounded) for the peer's close, so it learns why before the FIN.
        while (ws.closeReceived === null && (await ws.receive()) !== null);
      } catch (e) {
        session.closeReason ??= e instanceof ServiceTimeout ? `${e.kind} timeout` : e instanceof Error ? e.message : String(e);
        throw e;
      } finally {
        for (const c of cleanups.splice(0).reverse()) await c();
        sessions.delete(session);
        log(`webrepl: session ${session.id} from ${session.remote} closed (${session.closeReason ?? 'eof'})`);
      }
    },
    o,
    WEBREPL_DEFAULT_LIMITS,
  );
  counters = Object.assign(svc.counters, { sessions: 0, logins: 0, badPasswords: 0, authTimeouts: 0, badHandshakes: 0, filesPut: 0, filesGot: 0, fileErrors: 0 });
  return {
    name: svc.name,
    port: svc.port,
    counters,
    sessions,
    stop() {
      svc.stop();
    },
  };
}

/** Password, then the terminal over text frames and file transfers over binary ones; the reason it ended. */
async function runSession(
  stack: Stack,
  o: WebReplOptions,
  mode: TerminalMode,
  session: WebReplSession,
  counters: WebReplCounters,
  authDeadline: number,
  maxAttempts: number,
  maxPw: number,
  want: Buffer,
  cleanups: (() => void | Promise<void>)[],
  log: (line: string) => void,
): Promise<string> {
  const ws = session.ws;
  await ws.sendText('Password: ');
  // Before login nothing needs big messages.
  const fullSize = ws.maxMessage;
  ws.maxMessage = Math.min(fullSize, PRE_LOGIN_MAX_MESSAGE);
  // Password input: text or binary frames (webrepl_cli sends it in a binary
  // frame), up to "\r" or "\n"; what follows the line in its frame is dropped.
  let pw: number[] = [];
  let attempts = 0;
  while (!session.authenticated) {
    let m;
    try {
      m = await ws.receive(authDeadline);
    } catch (e) {
      if (e instanceof ServiceTimeout) {
        counters.authTimeouts++;
        log(`webrepl: session ${session.id} from ${session.remote}: no password in time`);
        await ws.close(WS_CLOSE.policy, 'login timeout');
        return 'auth timeout';
      }
      throw e;
    }
    if (m === null) return 'eof';
    for (const c of m.data) {
      if (c !== 0x0d && c !== 0x0a) {
        if (pw.length >= maxPw) {
          counters.badPasswords++;
          await ws.sendText('\r\nAccess denied\r\n');
          return 'denied';
        }
        pw.push(c);
        continue;
      }
      const ok = timingSafeEqual(digest(Uint8Array.from(pw)), want);
      pw = [];
      if (ok) {
        session.authenticated = true;
        break;
      }
      counters.badPasswords++;
      attempts++;
      log(`webrepl: session ${session.id} from ${session.remote}: wrong password`);
      await ws.sendText('\r\nAccess denied\r\n');
      if (attempts >= maxAttempts) return 'denied';
      await ws.sendText('Password: ');
    }
  }
  ws.maxMessage = fullSize;
  counters.logins++;
  log(`webrepl: session ${session.id} from ${session.remote} connected (${mode})`);
  await ws.sendText(`\r\nWebREPL connected (tsip ${mode} on ${stack.name})\r\n`);

  // The terminal: text frames in, text frames out (lone "\n" as "\r\n", as a terminal wants).
  let ended: string | null = null;
  const io = new Duplex({
    read() {},
    write(chunk: Buffer | string, _e, cb) {
      const s = (typeof chunk === 'string' ? chunk : chunk.toString('utf8')).replace(/\r?\n/g, '\r\n');
      ws.sendText(s).then(() => cb(), cb);
    },
  });
  io.on('error', () => {});
  const endTerminal = (why: string): void => {
    if (ended !== null) return;
    ended = why;
    void ws.close(WS_CLOSE.normal); // the peer's close then ends the receive loop
  };
  if (mode === 'repl') startRepl(stack, io, { session, ...o.context }, cleanups as (() => void)[], () => endTerminal('exit'), o.tty ?? false);
  else startShell(stack, io, session, o.commands, cleanups as (() => void)[], (r) => endTerminal(r), o.tty ?? false);
  cleanups.push(() => {
    io.push(null);
    io.destroy();
  });

  const files = new FileOps(o, session, counters);
  cleanups.push(() => files.abort());
  for (;;) {
    const m = await ws.receive();
    if (m === null) return ended ?? (ws.closeSent === WS_CLOSE.tooBig ? 'message too big' : ws.closeSent === WS_CLOSE.protocolError ? 'protocol error' : 'eof');
    if (m.type === 'text') {
      if (ended === null) io.push(Buffer.from(m.data));
    } else {
      await files.feed(m.data);
    }
  }
}

type FileState = { kind: 'header' } | { kind: 'put'; left: number; fh: fs.FileHandle; tmp: string; dest: string; name: Uint8Array } | { kind: 'get'; fh: fs.FileHandle; buf: Uint8Array };

/** The binary byte stream of one session: requests, put data, get acknowledgements. */
class FileOps {
  private pending = new Uint8Array(0);
  private state: FileState = { kind: 'header' };
  private readonly maxFile: number;
  private readonly chunk: number;

  constructor(
    private readonly o: WebReplOptions,
    private readonly session: WebReplSession,
    private readonly counters: WebReplCounters,
  ) {
    this.maxFile = o.maxFileBytes ?? 64 * 1024 * 1024;
    this.chunk = Math.max(1, Math.min(65533, o.getChunkBytes ?? 4096));
  }

  private get ws(): WebSocket {
    return this.session.ws;
  }

  async feed(data: Uint8Array): Promise<void> {
    let d = data;
    while (d.length > 0) {
      const st = this.state;
      if (st.kind === 'put') {
        const n = Math.min(st.left, d.length);
        await st.fh.write(d.subarray(0, n));
        st.left -= n;
        d = d.subarray(n);
        if (st.left === 0) await this.finishPut(st);
      } else if (st.kind === 'get') {
        // Every byte the client sends asks for the next chunk.
        d = d.subarray(1);
        await this.sendChunk(st);
      } else {
        const need = WEBREPL_HEADER_BYTES - this.pending.length;
        const take = d.subarray(0, need);
        const p = new Uint8Array(this.pending.length + take.length);
        p.set(this.pending);
        p.set(take, this.pending.length);
        this.pending = p;
        d = d.subarray(take.length);
        if (this.pending.length === WEBREPL_HEADER_BYTES) {
          const h = this.pending;
          this.pending = new Uint8Array(0);
          await this.request(h);
        }
      }
    }
  }

  private async fail(code: number): Promise<void> {
    this.counters.fileErrors++;
    await this.ws.sendBinary(status(code));
  }

  private async request(h: Uint8Array): Promise<void> {
    const dv = new DataView(h.buffer, h.byteOffset, h.byteLength);
    if (h[0] !== 0x57 || h[1] !== 0x41) return this.fail(WEBREPL_STATUS.badRequest);
    const op = h[2]!;
    const size = dv.getUint32(12, true);
    const nameLen = dv.getUint16(16, true);
    if (op === WEBREPL_GET_VER) {
      await this.ws.sendBinary(Uint8Array.from(this.o.version ?? [1, 22, 0]));
      return;
    }
    if (op !== WEBREPL_PUT_FILE && op !== WEBREPL_GET_FILE) return this.fail(WEBREPL_STATUS.badRequest);
    if (nameLen > 64) return this.fail(WEBREPL_STATUS.notAllowed);
    const name = h.subarray(18, 18 + nameLen);
    const target = await resolveInRoot(this.o.root, name, op === WEBREPL_PUT_FILE);
    if (typeof target === 'number') return this.fail(target);
    if (op === WEBREPL_PUT_FILE) {
      if (size > this.maxFile) return this.fail(WEBREPL_STATUS.tooBig);
      const tmp = path.join(path.dirname(target), `.${path.basename(target)}.webrepl-${this.session.id}-${process.pid}.part`);
      let fh: fs.FileHandle;
      try {
        fh = await fs.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o644);
      } catch {
        return this.fail(WEBREPL_STATUS.ioError);
      }
      const st: FileState = { kind: 'put', left: size, fh, tmp, dest: target, name: name.slice() };
      this.state = st;
      await this.ws.sendBinary(status(WEBREPL_STATUS.ok));
      if (size === 0) await this.finishPut(st);
      return;
    }
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(target, fsc.O_RDONLY | fsc.O_NOFOLLOW);
      const stat = await fh.stat();
      if (!stat.isFile()) {
        await fh.close();
        return this.fail(WEBREPL_STATUS.notFound);
      }
    } catch {
      return this.fail(WEBREPL_STATUS.notFound);
    }
    this.state = { kind: 'get', fh, buf: new Uint8Array(2 + this.chunk) };
    await this.ws.sendBinary(status(WEBREPL_STATUS.ok));
  }

  private async finishPut(st: Extract<FileState, { kind: 'put' }>): Promise<void> {
    this.state = { kind: 'header' };
    try {
      await st.fh.close();
      // The destination must still be inside root and not a symlink (it may have changed meanwhile).
      const again = await resolveInRoot(this.o.root, st.name, true);
      if (again !== st.dest) throw new Error('escaped');
      await fs.rename(st.tmp, st.dest);
    } catch {
      await fs.rm(st.tmp, { force: true });
      return this.fail(WEBREPL_STATUS.ioError);
    }
    this.counters.filesPut++;
    await this.ws.sendBinary(status(WEBREPL_STATUS.ok));
  }

  private async sendChunk(st: Extract<FileState, { kind: 'get' }>): Promise<void> {
    let n: number;
    try {
      n = (await st.fh.read(st.buf, 2, this.chunk, null)).bytesRead;
    } catch {
      this.state = { kind: 'header' };
      await st.fh.close().catch(() => {});
      await this.ws.sendBinary(Uint8Array.of(0, 0));
      return this.fail(WEBREPL_STATUS.ioError);
    }
    st.buf[0] = n & 0xff;
    st.buf[1] = n >> 8;
    await this.ws.sendBinary(st.buf.slice(0, 2 + n));
    if (n === 0) {
      this.state = { kind: 'header' };
      await st.fh.close().catch(() => {});
      this.counters.filesGot++;
      await this.ws.sendBinary(status(WEBREPL_STATUS.ok));
    }
  }

  /** The session is over: close what is open, drop a partial put. */
  async abort(): Promise<void> {
    const st = this.state;
    this.state = { kind: 'header' };
    if (st.kind === 'put') {
      await st.fh.close().catch(() => {});
      await fs.rm(st.tmp, { force: true }).catch(() => {});
    } else if (st.kind === 'get') {
      await st.fh.close().catch(() => {});
    }
  }
}

/**
 * The absolute path `name` (bytes, as sent) stands for under `root`, or a
 * status: no root, a bad name (empty, NUL, "\", "..", not UTF-8), or a
 * real path outside root (a symlink out, or a symlink as the put target).
 */
export async function resolveInRoot(root: string | undefined, name: Uint8Array, forPut: boolean): Promise<string | number> {
  if (root === undefined) return WEBREPL_STATUS.notAllowed;
  let s: string;
  try {
    s = new TextDecoder('utf-8', { fatal: true }).decode(name);
  } catch {
    return WEBREPL_STATUS.notAllowed;
  }
  if (s.length === 0 || name.length > 64 || s.includes('\0') || s.includes('\\')) return WEBREPL_STATUS.notAllowed;
  const parts = s.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.includes('..')) return WEBREPL_STATUS.notAllowed;
  let realRoot: string;
  try {
    realRoot = await fs.realpath(root);
  } catch {
    return WEBREPL_STATUS.ioError;
  }
  const target = path.join(realRoot, ...parts);
  const inside = (p: string): boolean => p === realRoot || p.startsWith(realRoot + path.sep);
  try {
    const dir = await fs.realpath(path.dirname(target));
    if (!inside(dir)) return WEBREPL_STATUS.notAllowed;
    const full = path.join(dir, path.basename(target));
    let st;
    try {
      st = await fs.lstat(full);
    } catch {
      return forPut ? full : WEBREPL_STATUS.notFound;
    }
    if (st.isSymbolicLink()) {
      if (forPut) return WEBREPL_STATUS.notAllowed;
      const real = await fs.realpath(full);
      return inside(real) ? real : WEBREPL_STATUS.notAllowed;
    }
    if (st.isDirectory()) return WEBREPL_STATUS.notAllowed;
    return full;
  } catch {
    return WEBREPL_STATUS.notFound;
  }
}
