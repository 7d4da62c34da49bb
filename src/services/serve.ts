// A tiny accept loop on the socket API: one async handler per connection,
// counters, and a stop() that closes the listener and every connection.
import type { SocketLayer } from '../socket/layer.ts';
import { SO_REUSEADDR, SOL_SOCKET } from '../socket/constants.ts';
import type { BlockingSocket, SockAddr, Socket } from '../socket/socket.ts';

export interface ServiceCounters {
  accepted: number;
  active: number;
  bytesIn: number;
  bytesOut: number;
  /** Connections that ended with an error (reset, timeout, ...). */
  errors: number;
}

export interface Service {
  readonly name: string;
  readonly port: number;
  readonly counters: ServiceCounters;
  stop(): void;
}

/** Runs once per connection; `sock` is blocking (accepted from a blocking listener): await its calls. */
export type Handler = (sock: BlockingSocket, addr: SockAddr, counters: ServiceCounters) => Promise<void>;

export function serve(layer: SocketLayer, name: string, port: number, handler: Handler, backlog = 64): Service {
  const ls = layer.socket();
  ls.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  ls.bind(['0.0.0.0', port]);
  ls.listen(backlog);
  const counters: ServiceCounters = { accepted: 0, active: 0, bytesIn: 0, bytesOut: 0, errors: 0 };
  const open = new Set<Socket>();
  let stopped = false;
  const loop = async (): Promise<void> => {
    while (!stopped) {
      let conn: [BlockingSocket, SockAddr];
      try {
        conn = await ls.accept();
      } catch {
        return; // the listener was closed
      }
      const [sock, addr] = conn;
      counters.accepted++;
      counters.active++;
      open.add(sock);
      handler(sock, addr, counters)
        .catch(() => {
          counters.errors++;
        })
        .finally(() => {
          counters.active--;
          open.delete(sock);
          sock.close();
        });
    }
  };
  void loop();
  return {
    name,
    port,
    counters,
    stop() {
      stopped = true;
      ls.close();
      for (const s of open) s.close();
    },
  };
}
