// A dupterm-like terminal service (seed 000, MicroPython's WebREPL idea)
// over tsip's node:net façade: each connection asks for a password, then
// gets a Node REPL (node:repl with the socket as input and output) or a
// small line-oriented command shell. Several sessions run at once; a
// session ends, and its socket, readline and REPL are released, when the
// peer sends EOF or a read or write on the socket fails (the seed's "dupterm
// closes the stream on EOF or error"), or on `exit` / `.exit`.
//
// A REPL over the network runs arbitrary code: the service is off unless
// started explicitly (`tsip up --terminal PORT` with a password), and every
// session must present the password first (one attempt, as WebREPL).
import { createHash, timingSafeEqual } from 'node:crypto';
import * as readline from 'node:readline';
import * as repl from 'node:repl';
import type { Duplex } from 'node:stream';
import type { Server, Socket } from '../net/index.ts';
import type { Stack } from '../stack/stack.ts';
import { hostPort } from './addr.ts';

export type TerminalMode = 'repl' | 'shell';

/** A shell command: returns the text to print (a trailing newline is added if missing). */
export type ShellCommand = (args: string[], session: TerminalSession) => string | Promise<string>;

export interface TerminalOptions {
  port: number;
  /** Where to listen (default '::': both families). */
  host?: string;
  /** Required, non-empty. */
  password: string;
  /** 'repl' (default) or 'shell'. */
  mode?: TerminalMode;
  /** Extra shell commands (shell mode). */
  commands?: Record<string, ShellCommand>;
  /** Values visible in the REPL's context (repl mode); `stack` is always there. */
  context?: Record<string, unknown>;
  /** Longest password line accepted (bytes) before the session is dropped. */
  maxLineBytes?: number;
  /** How long a connection may take to send its password line (default 30 s), so unauthenticated sessions cannot pile up. */
  authTimeoutMs?: number;
  /** Called with one line per session event (connected, denied, closed). */
  log?: (line: string) => void;
}

export interface TerminalSession {
  readonly id: number;
  readonly socket: Socket;
  /** The peer as host:port ([addr]:port for IPv6; an IPv4 peer as a dotted quad). */
  readonly remote: string;
  authenticated: boolean;
  /** Why the session ended: 'eof', 'exit', 'denied', 'stopped' or an error code. */
  closeReason: string | null;
}

export interface TerminalCounters {
  accepted: number;
  authenticated: number;
  denied: number;
  closed: number;
}

export interface TerminalService {
  readonly server: Server;
  readonly sessions: ReadonlySet<TerminalSession>;
  readonly counters: TerminalCounters;
  /** Resolves once listening. */
  readonly ready: Promise<void>;
  /** Stop listening and end every session. */
  stop(): void;
}

const digest = (s: string | Buffer): Buffer => createHash('sha256').update(s).digest();

export function startTerminal(stack: Stack, o: TerminalOptions): TerminalService {
  if (typeof o.password !== 'string' || o.password.length === 0) throw new Error('terminal service: a non-empty password is required');
  const want = digest(o.password);
  const mode = o.mode ?? 'repl';
  const maxLine = o.maxLineBytes ?? 1024;
  const log = o.log ?? (() => {});
  const sessions = new Set<TerminalSession>();
  const counters: TerminalCounters = { accepted: 0, authenticated: 0, denied: 0, closed: 0 };
  let nextId = 1;
  const server = stack.net.createServer({ noDelay: true }, (sock) => {
    counters.accepted++;
    const session: TerminalSession = { id: nextId++, socket: sock, remote: hostPort(sock.remoteAddress, sock.remotePort), authenticated: false, closeReason: null };
    sessions.add(session);
    const cleanups: (() => void)[] = [];
    const finish = (reason: string): void => {
      if (session.closeReason !== null) return;
      session.closeReason = reason;
      for (const c of cleanups.splice(0)) c();
      // Drop whatever input is left, so the peer's EOF can arrive and the socket close.
      sock.removeAllListeners('data');
      sock.resume();
      if (!sock.destroyed) {
        if (reason === 'eof' || reason === 'exit' || reason === 'denied' || reason === 'stopped') sock.end();
        else sock.destroy();
      }
    };
    sock.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? 'error'));
    sock.on('end', () => finish('eof'));
    sock.on('close', () => {
      finish('closed');
      if (sessions.delete(session)) counters.closed++;
      log(`terminal: session ${session.id} from ${session.remote} closed (${session.closeReason})`);
    });
    sock.write('Password: ');
    // The password line must come in time (a slowloris must not hold sessions open unauthenticated).
    sock.setTimeout(o.authTimeoutMs ?? 30_000);
    sock.once('timeout', () => {
      if (session.authenticated) return;
      counters.denied++;
      log(`terminal: session ${session.id} from ${session.remote}: no password in time`);
      finish('denied');
    });
    // Read the password line by hand, so whatever follows it stays in the stream for the REPL.
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > maxLine) finish('denied');
        return;
      }
      sock.removeListener('data', onData);
      sock.pause();
      const line = buf.subarray(0, nl).toString('utf8').replace(/\r$/, '');
      const rest = buf.subarray(nl + 1);
      if (!timingSafeEqual(digest(line), want)) {
        counters.denied++;
        log(`terminal: session ${session.id} from ${session.remote}: wrong password`);
        sock.write('\r\nAccess denied\r\n');
        finish('denied');
        return;
      }
      counters.authenticated++;
      session.authenticated = true;
      sock.setTimeout(0);
      log(`terminal: session ${session.id} from ${session.remote} connected (${mode})`);
      if (rest.length > 0) sock.unshift(rest);
      sock.write(`\r\ntsip ${mode} on ${stack.name}\r\n`);
      const ended = (): void => finish(sock.readableEnded ? 'eof' : 'exit');
      if (mode === 'repl') startRepl(stack, sock, { session, ...o.context }, cleanups, ended);
      else startShell(stack, sock, session, o.commands, cleanups, (r) => (r === 'exit' ? finish('exit') : ended()));
      sock.resume();
    };
    sock.on('data', onData);
  });
  const ready = new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  server.listen({ port: o.port, host: o.host ?? '::' });
  return {
    server,
    sessions,
    counters,
    ready,
    stop() {
      server.close();
      for (const s of sessions) {
        s.closeReason ??= 'stopped';
        s.socket.end();
      }
    },
  };
}

/**
 * A Node REPL over `io` (the terminal's socket, or WebREPL's text frames):
 * `stack` and `context` visible in it; `onExit` when it ends (`.exit` or
 * EOF on `io`); what `cleanups` gets releases it. `tty`: readline's
 * terminal mode (echo, line editing, ANSI), for a terminal emulator at the
 * other end (WebREPL's browser page).
 */
export function startRepl(stack: Stack, io: Duplex, context: Record<string, unknown>, cleanups: (() => void)[], onExit: () => void, tty = false): void {
  const r = repl.start({ input: io, output: io, prompt: '>>> ', terminal: tty, useGlobal: false, ignoreUndefined: true });
  Object.assign(r.context, { stack }, context);
  r.on('error', () => {}); // the stream's errors (forwarded by readline) end the session, handled by its owner
  r.on('exit', onExit);
  cleanups.push(() => {
    r.removeAllListeners('exit');
    r.close();
  });
}

/** What the shell knows of its session (the terminal's, or WebREPL's). */
export interface ShellSession {
  readonly id: number;
  readonly remote: string;
  closeReason: string | null;
}

/**
 * The line shell over `io`: built-in commands plus `extra`; `onEnd('exit')`
 * on exit/quit, `onEnd('eof')` when `io` ends. `tty`: echo and line
 * editing (readline's terminal mode) for a terminal emulator at the other end.
 */
export function startShell<S extends ShellSession>(
  stack: Stack,
  io: Duplex,
  session: S,
  extra: Record<string, (args: string[], session: S) => string | Promise<string>> | undefined,
  cleanups: (() => void)[],
  onEnd: (r: 'exit' | 'eof') => void,
  tty = false,
): void {
  const sock = io;
  type Cmd = (args: string[], session: S) => string | Promise<string>;
  const builtins: Record<string, Cmd> = {
    help: () => `commands: ${Object.keys(commands).sort().join(' ')}`,
    echo: (args) => args.join(' '),
    stats: () => JSON.stringify({ tcp: { ...stack.stats.tcp, pcbs: stack.tcp.pcbCount }, ip: stack.stats.ip }),
    conns: () =>
      [...stack.tcp.connections()].map((p) => `${p.stateName} ${p.localPort} -> ${hostPort(p.remoteIp, p.remotePort)}`).join('\n') || '(none)',
    whoami: (_a, s) => `session ${s.id} from ${s.remote}`,
  };
  const commands: Record<string, Cmd> = { ...builtins, ...extra };
  const rl = readline.createInterface({ input: sock, ...(tty ? { output: sock, terminal: true } : { terminal: false }), crlfDelay: Infinity });
  const prompt = (): void => {
    if (session.closeReason === null && sock.writable) sock.write('$ ');
  };
  // One line at a time: the next is read only once this one's output is written.
  rl.on('line', (line) => {
    const [name, ...args] = line.trim().split(/\s+/);
    if (name === undefined || name === '') {
      prompt();
      return;
    }
    if (name === 'exit' || name === 'quit') {
      onEnd('exit');
      return;
    }
    const cmd = commands[name];
    if (cmd === undefined) {
      sock.write(`${name}: command not found\r\n`);
      prompt();
      return;
    }
    rl.pause();
    Promise.resolve()
      .then(() => cmd(args, session))
      .then(
        (out) => out,
        (e: unknown) => `error: ${e instanceof Error ? e.message : String(e)}`,
      )
      .then((out) => {
        if (session.closeReason !== null) return;
        const text = out.endsWith('\n') ? out : `${out}\n`;
        sock.write(text.replace(/\r?\n/g, '\r\n'));
        prompt();
        rl.resume();
      });
  });
  rl.on('error', () => {}); // forwarded socket errors: handled by the session
  rl.on('close', () => onEnd('eof'));
  cleanups.push(() => {
    rl.removeAllListeners('close');
    rl.close();
  });
  prompt();
}
