// Why a packet was rejected. Parsing never throws for packet contents: view
// check() methods return one of these codes (no allocation), parse functions
// return a WireError value carrying one.
//
// Naming rule: TRUNCATED means "fewer bytes than a header needs" (or, for
// IPv4, the outermost layer, fewer bytes than the header says the packet
// has). The BAD_* codes mean the header's own fields are inconsistent with
// each other or with the length the layer below gave.

export const WireErrorCode = {
  OK: 0,
  /** Fewer bytes than the header requires. */
  TRUNCATED: 1,
  /** IPv4 version field is not 4. */
  BAD_VERSION: 2,
  /** IPv4 IHL < 5. */
  BAD_HEADER_LENGTH: 3,
  /** IPv4 total length smaller than the header length. */
  BAD_TOTAL_LENGTH: 4,
  /** Checksum does not verify. */
  BAD_CHECKSUM: 5,
  /** TCP data offset < 5 or past the end of the segment. */
  BAD_DATA_OFFSET: 6,
  /** Malformed TCP option (bad length, overruns the option space). */
  BAD_OPTION: 7,
  /** UDP length field < 8 or larger than the datagram. */
  BAD_LENGTH: 8,
  /** Well-formed but not something this layer handles. */
  UNSUPPORTED: 9,
  /**
   * IPv6 extension headers (RFC 8200 §4): drop the packet; the walker's
   * result gives the ICMPv6 Parameter Problem code and pointer, and whether
   * one may be sent.
   */
  PARAMETER_PROBLEM: 10,
} as const;
export type WireErrorCode = (typeof WireErrorCode)[keyof typeof WireErrorCode];

const NAMES: readonly string[] = (() => {
  const out: string[] = [];
  for (const [k, v] of Object.entries(WireErrorCode)) out[v] = k;
  return out;
})();

/** `TRUNCATED`, `BAD_CHECKSUM`, ... or `WIRE_<n>` for an unknown code. */
export function wireErrorName(code: number): string {
  return NAMES[code] ?? `WIRE_${code}`;
}

/** A parse failure, returned (never thrown) by the parse functions. */
export class WireError {
  constructor(
    readonly code: WireErrorCode,
    readonly message: string,
  ) {}

  get name(): string {
    return wireErrorName(this.code);
  }

  toString(): string {
    return `WireError(${wireErrorName(this.code)}): ${this.message}`;
  }
}

export function isWireError(x: unknown): x is WireError {
  return x instanceof WireError;
}

/** A WireError for `code` with a default message naming the layer. */
export function wireError(code: WireErrorCode, layer: string, detail?: string): WireError {
  return new WireError(code, `${layer}: ${wireErrorName(code)}${detail === undefined ? '' : ` (${detail})`}`);
}
