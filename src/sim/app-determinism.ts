// The parts of a Node program's output that would read the real world even
// with virtual timers in place, made reproducible for the length of a run:
//
// - node:http's automatic `Date:` response header comes from Node's own
//   cached copy of the real date (its internals use the original Date, not
//   the global one). While a run is active, a response that is about to
//   send its header block gets that header from the global Date (virtual),
//   unless the application set one or turned sendDate off.
// - Math.random draws from the simulation's seeded Rng.
//
// Not covered (documented): node:crypto's randomness (TLS handshakes,
// randomUUID, randomBytes) stays real, so bytes that depend on it differ
// between runs while timings and events do not.
import * as http from 'node:http';
import type { Rng } from '../time/rng.ts';

type WriteHead = typeof http.ServerResponse.prototype.writeHead;

export class AppDeterminism {
  private saved: { writeHead: WriteHead; random: () => number } | null = null;

  constructor(private readonly rng: Rng) {}

  install(): void {
    if (this.saved !== null) return;
    const proto = http.ServerResponse.prototype;
    const writeHead = proto.writeHead;
    const random = Math.random;
    this.saved = { writeHead, random };
    proto.writeHead = function (this: http.ServerResponse, ...args: unknown[]) {
      if (this.sendDate && !this.headersSent && !this.hasHeader('date')) this.setHeader('Date', new Date().toUTCString());
      return (writeHead as (...a: unknown[]) => http.ServerResponse).apply(this, args);
    } as WriteHead;
    const rng = this.rng;
    Math.random = () => rng.float();
  }

  uninstall(): void {
    const s = this.saved;
    if (s === null) return;
    http.ServerResponse.prototype.writeHead = s.writeHead;
    Math.random = s.random;
    this.saved = null;
  }
}
