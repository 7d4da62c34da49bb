// Argument checks the sockets make before any state changes, so a bad
// argument never consumes or discards queued data. TypeError for the wrong
// type, RangeError (Python's ValueError) for a bad value.
import { MSG_DONTWAIT, MSG_PEEK, MSG_ZEROCOPY } from './constants.ts';
import { errno, OSError } from './errors.ts';

/** A bytes-like argument (a Uint8Array; any ArrayBufferView as its bytes). */
export function bytesArg(x: unknown, what: string): Uint8Array {
  if (x instanceof Uint8Array) return x;
  if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  throw new TypeError(`${what}: a bytes-like object (Uint8Array) is required, not ${typeName(x)}`);
}

/** A writable buffer (readinto, recv_into): a Uint8Array. */
export function bufferArg(x: unknown, what: string): Uint8Array {
  if (x instanceof Uint8Array) return x;
  throw new TypeError(`${what}: a writable buffer (Uint8Array) is required, not ${typeName(x)}`);
}

/** A byte count: a non-negative integer (RangeError for a negative one, as CPython's ValueError). */
export function sizeArg(n: unknown, what: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new TypeError(`${what}: an integer is required, not ${typeName(n)}`);
  if (n < 0) throw new RangeError(`${what}: negative size ${n}`);
  return n;
}

/** recv flags: MSG_PEEK and MSG_DONTWAIT; other bits are EOPNOTSUPP. */
export function flagsArg(flags: unknown): number {
  if (typeof flags !== 'number' || !Number.isInteger(flags)) throw new TypeError(`flags: an integer is required, not ${typeName(flags)}`);
  if ((flags & ~(MSG_PEEK | MSG_DONTWAIT)) !== 0) throw new OSError(errno.EOPNOTSUPP, `recv flags 0x${flags.toString(16)}`);
  return flags;
}

/** send/sendall flags: MSG_ZEROCOPY; other bits are EOPNOTSUPP. */
export function sendFlagsArg(flags: unknown): number {
  if (typeof flags !== 'number' || !Number.isInteger(flags)) throw new TypeError(`flags: an integer is required, not ${typeName(flags)}`);
  if ((flags & ~MSG_ZEROCOPY) !== 0) throw new OSError(errno.EOPNOTSUPP, `send flags 0x${flags.toString(16)}`);
  return flags;
}

/** MicroPython's stream write(buf, max_len) / write(buf, off, max_len): the slice they mean. */
export function writeSlice(data: Uint8Array, a?: number, b?: number): Uint8Array {
  if (a === undefined) return data;
  if (b === undefined) return data.subarray(0, Math.min(data.length, sizeArg(a, 'write length')));
  const off = Math.min(data.length, sizeArg(a, 'write offset'));
  return data.subarray(off, off + Math.min(data.length - off, sizeArg(b, 'write length')));
}

function typeName(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'object';
  return typeof x;
}

/** Smallest SO_SNDBUF / SO_RCVBUF (smaller values are raised to it, as Linux raises to its minimums). */
export const MIN_SOCKET_BUFFER = 536;

/** An SO_SNDBUF / SO_RCVBUF value: a positive integer, raised to MIN_SOCKET_BUFFER, at most 2^30 - 1. */
export function bufSizeArg(value: unknown, what: string): number {
  const v = typeof value === 'boolean' ? Number(value) : value;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${what}: an integer is required, not ${typeName(value)}`);
  if (v <= 0) throw new OSError(errno.EINVAL, `${what} must be positive`);
  return Math.min(Math.max(v, MIN_SOCKET_BUFFER), 0x3fffffff);
}

/** An SO_LINGER value: [onoff, seconds], or struct linger's 8 bytes (two little-endian int32, CPython's form). */
export function lingerArg(value: unknown): [number, number] {
  let onoff: unknown;
  let secs: unknown;
  if (Array.isArray(value) && value.length === 2) [onoff, secs] = value as unknown[];
  else if (value instanceof Uint8Array && value.length === 8) {
    const dv = new DataView(value.buffer, value.byteOffset, 8);
    onoff = dv.getInt32(0, true);
    secs = dv.getInt32(4, true);
  } else throw new TypeError(`SO_LINGER takes [onoff, seconds] or 8 bytes of struct linger, not ${typeName(value)}`);
  if (typeof onoff === 'boolean') onoff = Number(onoff);
  if (typeof onoff !== 'number' || !Number.isInteger(onoff) || typeof secs !== 'number' || !Number.isInteger(secs)) throw new TypeError('SO_LINGER: integers are required');
  if (secs < 0) throw new OSError(errno.EINVAL, 'SO_LINGER seconds must be non-negative');
  return [onoff !== 0 ? 1 : 0, secs];
}
