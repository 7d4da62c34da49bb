// One turn of the Node event loop: lets every pending promise continuation
// run. The simulator's async driver awaits this between virtual events so
// that async application code (awaiting socket operations) keeps up with
// virtual time. It reads no clock: virtual time stays deterministic.
//
// The real setImmediate/setTimeout are taken when this module loads:
// Simulator.run replaces the globals with virtual-time fakes while it
// drives the event loop with these.
const realSetImmediate = globalThis.setImmediate;
const realSetTimeout = globalThis.setTimeout;

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => realSetImmediate(resolve));
}

/** Wait `ms` of real time (the driver's patience with work outside the simulation). */
export function realSleep(ms: number): Promise<void> {
  return new Promise((resolve) => realSetTimeout(resolve, ms));
}
