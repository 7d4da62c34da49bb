// lwIP's err_t values, kept numerically identical so code ported from lwIP
// (and MicroPython's modlwip errno mapping) reads the same.
export const Err = {
  OK: 0,
  MEM: -1, // out of memory (pbuf pool, PCBs, queues)
  BUF: -2, // buffer error
  TIMEOUT: -3,
  RTE: -4, // no route
  INPROGRESS: -5,
  VAL: -6, // illegal value
  WOULDBLOCK: -7,
  USE: -8, // address in use
  ALREADY: -9,
  ISCONN: -10,
  CONN: -11, // not connected
  IF: -12, // low-level netif error
  ABRT: -13, // connection aborted
  RST: -14, // connection reset
  CLSD: -15, // connection closed
  ARG: -16, // illegal argument
} as const;

export type Err = (typeof Err)[keyof typeof Err];

const NAMES = new Map<number, string>(Object.entries(Err).map(([k, v]) => [v, `ERR_${k}`]));

export function errName(code: number): string {
  return NAMES.get(code) ?? `ERR_${code}`;
}
