// One turn of the Node event loop: lets every pending promise continuation
// run. The simulator's async driver awaits this between virtual events so
// that async application code (awaiting socket operations) keeps up with
// virtual time. It reads no clock: virtual time stays deterministic.
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
