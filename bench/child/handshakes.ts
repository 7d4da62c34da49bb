// Handshakes of a bench world on the raw API, counted by one set of
// callbacks that every connection shares (no closure per PCB: the worlds
// measure the heap per connection).
import type { RawTcp } from '../../src/callbacks/raw.ts';
import { Err } from '../../src/err.ts';
import type { TcpPcb } from '../../src/pcb/pcb.ts';
import type { Simulator } from '../../src/sim/simulator.ts';

export class Handshakes {
  connected = 0;
  accepted = 0;
  failed = 0;
  readonly onConnected = (): number => {
    this.connected++;
    return Err.OK;
  };
  readonly onAccept = (_a: unknown, _pcb: TcpPcb, err: number): number => {
    if (err === Err.OK) this.accepted++;
    return Err.OK;
  };
  readonly onErr = (): void => {
    this.failed++;
  };

  /** A new client PCB connecting to ip:port; `at` names the point for errors. */
  connect(rc: RawTcp, ip: string, port: number, at: string): void {
    const pcb = rc.tcpNew();
    if (pcb === null) throw new Error(`tcpNew failed at ${at}`);
    rc.tcpErr(pcb, this.onErr);
    const err = rc.tcpConnect(pcb, ip, port, this.onConnected);
    if (err !== Err.OK) throw new Error(`connect failed at ${at}: ${err}`);
  }

  /** Start `n` connections with `openOne`, then run `sim` until each is connected and accepted (throws on a failure or after 60 s). */
  batch(sim: Simulator, n: number, openOne: () => void, total: () => number): void {
    const wantConnected = this.connected + n;
    const wantAccepted = this.accepted + n;
    for (let i = 0; i < n; i++) openOne();
    const ok = sim.runUntil(() => (this.connected >= wantConnected && this.accepted >= wantAccepted) || this.failed > 0, sim.clock.now() + 60_000);
    if (!ok || this.failed > 0) throw new Error(`handshakes did not complete: ${this.connected} connected, ${this.accepted} accepted, ${this.failed} failed of ${total()}`);
  }
}
