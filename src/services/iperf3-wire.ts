// The iperf3 control protocol as an unmodified iperf3 client speaks it
// (learned from esnet/iperf's documentation and behaviour; no code taken):
// a 37-byte cookie, single signed state bytes from the server, JSON
// messages behind a 4-byte big-endian length, and errors as the state byte
// SERVER_ERROR followed by two big-endian int32s (iperf3's i_errno, errno).

export const IPERF3_PORT = 5201;
/** 36 printable characters and a NUL: the client's test id, repeated at the start of every data stream. */
export const IPERF3_COOKIE_SIZE = 37;

/** The state bytes (iperf.h); the server drives the test with them. */
export const Iperf3State = {
  TEST_START: 1,
  TEST_RUNNING: 2,
  TEST_END: 4,
  PARAM_EXCHANGE: 9,
  CREATE_STREAMS: 10,
  SERVER_TERMINATE: 11,
  CLIENT_TERMINATE: 12,
  EXCHANGE_RESULTS: 13,
  DISPLAY_RESULTS: 14,
  IPERF_DONE: 16,
  ACCESS_DENIED: -1,
  SERVER_ERROR: -2,
} as const;

/** The i_errno codes this server reports after SERVER_ERROR (the client prints its own text for each). */
export const Iperf3Errno = {
  /** "test duration too long" */
  DURATION: 5,
  /** "number of parallel streams too large" */
  NUMSTREAMS: 6,
  /** "block size too large" */
  BLOCKSIZE: 7,
  /** "not implemented yet": UDP, SCTP, --bidir */
  UNIMP: 13,
  /** "unable to receive parameters from client" */
  RECVPARAMS: 114,
} as const;

/** What a test asks for, checked. */
export interface Iperf3Params {
  /** -R: the server sends. */
  reverse: boolean;
  /** -P */
  parallel: number;
  /** -t in seconds (0 with -n or -k). */
  time: number;
  /** -n: bytes to transfer (0: not this end condition). */
  bytes: number;
  /** -k: blocks to transfer (0: not this end condition). */
  blocks: number;
  /** -l: bytes per write. */
  len: number;
  /** -O: seconds at the start that are not counted. */
  omit: number;
}

export interface ParamLimits {
  maxStreams: number;
  maxTestSeconds: number;
  maxBlockBytes: number;
}

export type ParamsCheck = { ok: true; params: Iperf3Params } | { ok: false; errno: number; why: string };

const num = (v: unknown, dflt: number): number => (v === undefined ? dflt : typeof v === 'number' && Number.isFinite(v) ? v : NaN);
const intIn = (v: number, lo: number, hi: number): boolean => Number.isInteger(v) && v >= lo && v <= hi;

/** The client's parameter object, checked against `limits` (TCP only). */
export function checkParams(j: unknown, limits: ParamLimits): ParamsCheck {
  const bad = (errno: number, why: string): ParamsCheck => ({ ok: false, errno, why });
  if (typeof j !== 'object' || j === null || Array.isArray(j)) return bad(Iperf3Errno.RECVPARAMS, 'parameters are not a JSON object');
  const o = j as Record<string, unknown>;
  if (o.udp === true) return bad(Iperf3Errno.UNIMP, 'UDP tests are not supported');
  if (o.sctp === true) return bad(Iperf3Errno.UNIMP, 'SCTP tests are not supported');
  if (o.bidirectional === true) return bad(Iperf3Errno.UNIMP, 'bidirectional tests are not supported');
  const parallel = num(o.parallel, 1);
  const time = num(o.time, 10);
  const bytes = num(o.num, 0);
  const blocks = num(o.blockcount, 0);
  const len = num(o.len, 131072);
  const omit = num(o.omit, 0);
  if (!intIn(parallel, 1, limits.maxStreams)) return bad(Iperf3Errno.NUMSTREAMS, `parallel must be 1 to ${limits.maxStreams}, got ${String(o.parallel)}`);
  if (!intIn(len, 1, limits.maxBlockBytes)) return bad(Iperf3Errno.BLOCKSIZE, `len must be 1 to ${limits.maxBlockBytes}, got ${String(o.len)}`);
  if (!(time >= 0) || !(omit >= 0) || time + omit > limits.maxTestSeconds) return bad(Iperf3Errno.DURATION, `time + omit must be at most ${limits.maxTestSeconds} s`);
  if (!intIn(bytes, 0, Number.MAX_SAFE_INTEGER) || !intIn(blocks, 0, Number.MAX_SAFE_INTEGER)) return bad(Iperf3Errno.RECVPARAMS, 'num and blockcount must be non-negative integers');
  if (time === 0 && bytes === 0 && blocks === 0) return bad(Iperf3Errno.RECVPARAMS, 'no end condition (time, num or blockcount)');
  return { ok: true, params: { reverse: o.reverse === true, parallel, time, bytes, blocks, len, omit } };
}

/** iperf3 numbers its streams 1, 3, 4, 5, ... in connection order (both ends alike). */
export const streamId = (index: number): number => (index === 0 ? 1 : index + 2);

/** A cookie as iperf3 makes one: 36 printable ASCII characters, then a NUL. */
export function isCookie(b: Uint8Array): boolean {
  if (b.length !== IPERF3_COOKIE_SIZE || b[IPERF3_COOKIE_SIZE - 1] !== 0) return false;
  for (let i = 0; i < IPERF3_COOKIE_SIZE - 1; i++) if (b[i]! < 0x21 || b[i]! > 0x7e) return false;
  return true;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One state byte on the wire. */
export const stateByte = (s: number): Uint8Array => Uint8Array.of(s & 0xff);

/** A JSON message: 4-byte big-endian length, then the text. */
export function frameJson(value: unknown): Uint8Array {
  const body = new TextEncoder().encode(JSON.stringify(value));
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** SERVER_ERROR, then i_errno and errno as big-endian int32 (errno 0: no system error). */
export function serverError(iErrno: number): Uint8Array {
  const out = new Uint8Array(9);
  out[0] = Iperf3State.SERVER_ERROR & 0xff;
  new DataView(out.buffer).setInt32(1, iErrno);
  return out;
}

/** One stream's line in the results both ends exchange. */
export interface StreamResult {
  id: number;
  bytes: number;
  /** Seconds the stream was measured over. */
  seconds: number;
}

/**
 * The server's results, as the client's results parser requires them
 * (cpu fields and sender_has_retransmits must be present). CPU is not
 * measured: the stack has no real clock to measure it with.
 */
export function serverResults(streams: readonly StreamResult[], sender: boolean): unknown {
  return {
    cpu_util_total: 0,
    cpu_util_user: 0,
    cpu_util_system: 0,
    sender_has_retransmits: sender ? 0 : -1,
    streams: streams.map((s) => ({ id: s.id, bytes: s.bytes, retransmits: -1, jitter: 0, errors: 0, packets: 0, start_time: 0, end_time: s.seconds })),
  };
}

/** The client's per-stream byte counts by stream id, or null when the message is not results. */
export function clientStreamBytes(j: unknown): Map<number, number> | null {
  if (typeof j !== 'object' || j === null) return null;
  const streams = (j as Record<string, unknown>).streams;
  if (!Array.isArray(streams)) return null;
  const out = new Map<number, number>();
  for (const s of streams as unknown[]) {
    if (typeof s !== 'object' || s === null) return null;
    const { id, bytes } = s as Record<string, unknown>;
    if (typeof id !== 'number' || typeof bytes !== 'number' || !Number.isFinite(bytes) || bytes < 0) return null;
    out.set(id, bytes);
  }
  return out;
}
