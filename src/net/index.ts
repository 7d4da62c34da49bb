// `tsip/net`: node:net over tsip: `stack.net.createServer()`, `stack.net.connect()`,
// and async sugar (`stack.listen()` as an async iterator of sockets,
// `stack.connectTcp()` as a promise). See docs/net.md.
import { RawTcp } from '../callbacks/raw.ts';
import type { Stack } from '../stack/stack.ts';
import { Server, type ListenOptions, type ServerOptions } from './server.ts';
import { type NetHost, Socket, type SocketOptions, type TcpConnectOptions } from './socket.ts';

export { Server, type ListenOptions, type ServerOptions } from './server.ts';
export { Socket, type AddressInfo, type SocketOptions, type TcpConnectOptions } from './socket.ts';
export { isIP, isIPv4, isIPv6 } from './address.ts';
export { netError, type NetError } from './errors.ts';

/** Options of stack.listen(): where to listen and how to set up each accepted socket. */
export interface AcceptLoopOptions extends ListenOptions, ServerOptions {
  /** Stop listening when this aborts (the loop ends). */
  signal?: AbortSignal;
}

/** stack.listen(): `for await (const sock of ...)`, with the Server at hand. */
export interface AcceptLoop extends AsyncIterableIterator<Socket> {
  readonly server: Server;
  /** Resolves once listening (rejects with EADDRINUSE etc.). */
  readonly ready: Promise<void>;
  /** Stop listening; the loop ends (sockets already accepted stay open). */
  close(): void;
}

/** The node:net-shaped API of one Stack (stack.net). */
export class Net implements NetHost {
  readonly raw: RawTcp;

  constructor(readonly stack: Stack) {
    this.raw = new RawTcp(stack);
  }

  /** net.createServer([options][, connectionListener]). */
  createServer(options?: ServerOptions | ((s: Socket) => void), onConnection?: (s: Socket) => void): Server {
    if (typeof options === 'function') return new Server(this, {}, options);
    return new Server(this, options ?? {}, onConnection);
  }

  /** net.connect(options[, connectListener]) / net.connect(port[, host][, connectListener]). */
  connect(options: TcpConnectOptions | number, host?: string | (() => void), cb?: () => void): Socket {
    const o = typeof options === 'object' ? options : {};
    const s = new Socket(this, o);
    return s.connect(options, host, cb);
  }

  /** Alias of connect (node:net). */
  createConnection(options: TcpConnectOptions | number, host?: string | (() => void), cb?: () => void): Socket {
    return this.connect(options, host, cb);
  }

  /** A Socket not yet connected (new net.Socket()); call socket.connect(). */
  socket(options: SocketOptions = {}): Socket {
    return new Socket(this, options);
  }

  /** Connect and resolve with the socket on 'connect'; rejects with the error (or AbortError). */
  connectTcp(options: TcpConnectOptions): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = this.connect(options);
      const onError = (e: Error): void => {
        s.removeListener('connect', onConnect);
        reject(e);
      };
      const onConnect = (): void => {
        s.removeListener('error', onError);
        resolve(s);
      };
      s.once('error', onError);
      s.once('connect', onConnect);
    });
  }

  /** Listen and iterate over accepted sockets: `for await (const sock of stack.listen({ port }))`. */
  listen(options: AcceptLoopOptions = {}): AcceptLoop {
    const server = this.createServer(options);
    const queue: Socket[] = [];
    const waiters: { resolve: (r: IteratorResult<Socket>) => void; reject: (e: unknown) => void }[] = [];
    let done = false;
    let failure: unknown = null;
    const finish = (): void => {
      if (done) return;
      done = true;
      for (const w of waiters.splice(0)) {
        if (failure !== null) w.reject(failure);
        else w.resolve({ value: undefined, done: true });
      }
      if (server.listening) server.close();
    };
    server.on('connection', (s: Socket) => {
      const w = waiters.shift();
      if (w) w.resolve({ value: s, done: false });
      else queue.push(s);
    });
    const ready = new Promise<void>((resolve, reject) => {
      server.once('listening', () => resolve());
      server.once('error', (e: unknown) => {
        failure = e;
        reject(e);
        finish();
      });
    });
    ready.catch(() => {}); // reported through next() too
    const signal = options.signal;
    if (signal) {
      if (signal.aborted) process.nextTick(finish);
      else signal.addEventListener('abort', finish, { once: true });
    }
    server.listen({
      port: options.port ?? 0,
      ...(options.host !== undefined ? { host: options.host } : {}),
      ...(options.backlog !== undefined ? { backlog: options.backlog } : {}),
      ...(options.ipv6Only !== undefined ? { ipv6Only: options.ipv6Only } : {}),
    });
    const loop: AcceptLoop = {
      server,
      ready,
      close: finish,
      next(): Promise<IteratorResult<Socket>> {
        const s = queue.shift();
        if (s) return Promise.resolve({ value: s, done: false });
        if (done) return failure !== null ? Promise.reject(failure) : Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
      },
      return(): Promise<IteratorResult<Socket>> {
        finish();
        // Sockets accepted but never handed out are closed.
        for (const s of queue.splice(0)) s.destroy();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return loop;
      },
    };
    return loop;
  }
}
