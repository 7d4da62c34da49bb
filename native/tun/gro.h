// Receive coalescing (software GRO) for a plain TUN's receive thread.
//
// A kernel sender hands a TUN one MTU-sized packet per read. When the
// receive thread reads a run of in-order TCP data segments of one
// connection, it merges them into one super-segment in the ring, as
// Linux's GRO does for a NIC: JavaScript then runs IP and TCP input, and
// sends an ACK, once per run instead of once per 1500 bytes. The merged
// packet is a well-formed IPv4/IPv6 TCP packet (lengths, IP header checksum
// and TCP checksum recomputed), so a tap sees a valid segment.
//
// What merges (Linux's inet_gro_receive and tcp_gro_receive rules, kept
// strict): every segment has the right IPv4 header and TCP checksums, no IP options or extension headers, is not a
// fragment, carries data, and has flags ACK or ACK|PSH; it follows the
// previous one's last byte; its IP header (TOS/traffic class, TTL/hop
// limit, DF, addresses, flow label) and TCP header (ports, ACK number,
// window, header length, option bytes) equal the first segment's. A PSH
// segment is merged and ends the run. A merged packet stays ≤ 65535 bytes.
#pragma once

#include <cstdint>
#include <cstring>

namespace gro {

// Ones'-complement sum of n bytes as native-order 16-bit words (a right
// checksum folds to 0xFFFF in either byte order).
inline uint64_t SumBytes(const uint8_t* p, size_t n, uint64_t s) {
  while (n >= 8) {
    uint32_t a, b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + 4, 4);
    s += static_cast<uint64_t>(a) + b;
    p += 8;
    n -= 8;
  }
  while (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    s += w;
    p += 2;
    n -= 2;
  }
  if (n != 0) {
    uint8_t last[2] = {*p, 0};
    uint16_t w;
    std::memcpy(&w, last, 2);
    s += w;
  }
  return s;
}

inline uint32_t Fold(uint64_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint32_t>(s);
}

inline uint16_t Be16(uint16_t v) { return static_cast<uint16_t>((v >> 8) | (v << 8)); }

inline uint32_t Rd16(const uint8_t* p) { return (static_cast<uint32_t>(p[0]) << 8) | p[1]; }
inline uint32_t Rd32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) | (static_cast<uint32_t>(p[2]) << 8) | p[3];
}
inline void Wr16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

constexpr uint32_t MAX_MERGED = 65535;
constexpr uint8_t TCP_ACK = 0x10, TCP_PSH = 0x08;

// What one read packet is, for the receive path.
struct Seg {
  bool csumOk = false;  // a TCP/UDP packet whose checksum is right (RX_CSUM_OK)
  bool data = false;    // a TCP data segment that may merge (the fields below are set)
  bool v4 = false;
  uint32_t l3 = 0;      // IP header length
  uint32_t thl = 0;     // TCP header length
  uint32_t seq = 0;
  uint32_t payload = 0;
  uint8_t flags = 0;
  uint32_t paySum = 0;  // folded sum of the payload, native order
};

// Check a plain packet's TCP/UDP checksum and, for TCP, whether it may merge.
inline void Inspect(const uint8_t* pkt, uint32_t len, Seg& g) {
  g.csumOk = false;
  g.data = false;
  if (len < 1) return;
  uint32_t ipHdr, l4;
  uint8_t proto;
  uint64_t s;
  bool plainIp;  // no IP options (v4) and the L4 header right after (v6): mergeable shape
  if (pkt[0] >> 4 == 4) {
    if (len < 20) return;
    ipHdr = (pkt[0] & 15u) * 4;
    uint32_t total = Rd16(pkt + 2);
    if (ipHdr < 20 || total < ipHdr || total > len) return;
    if ((pkt[6] & 0x3f) != 0 || pkt[7] != 0) return;  // a fragment
    proto = pkt[9];
    l4 = total - ipHdr;
    s = SumBytes(pkt + 12, 8, 0);
    // Mergeable only with a right header checksum: Finish() writes a new one.
    plainIp = ipHdr == 20 && total == len && Fold(SumBytes(pkt, 20, 0)) == 0xffff;
    g.v4 = true;
  } else if (pkt[0] >> 4 == 6) {
    if (len < 40) return;
    ipHdr = 40;
    l4 = Rd16(pkt + 4);
    if (40 + l4 > len) return;
    proto = pkt[6];  // TCP or UDP right after the header only
    s = SumBytes(pkt + 8, 32, 0);
    plainIp = 40 + l4 == len;
    g.v4 = false;
  } else {
    return;
  }
  const uint8_t* t = pkt + ipHdr;
  s += Be16(proto) + Be16(static_cast<uint16_t>(l4));
  if (proto == 17) {
    if (l4 < 8 || Rd16(t + 4) != l4 || (t[6] == 0 && t[7] == 0)) return;
    g.csumOk = Fold(SumBytes(t, l4, s)) == 0xffff;
    return;
  }
  if (proto != 6 || l4 < 20) return;
  uint32_t thl = (t[12] >> 4) * 4u;
  if (thl < 20 || thl > l4) {
    g.csumOk = Fold(SumBytes(t, l4, s)) == 0xffff;
    return;
  }
  // Header and payload summed apart (thl is a multiple of 4: the payload's
  // words line up): the payload's sum is what a merge adds.
  uint32_t pay = Fold(SumBytes(t + thl, l4 - thl, 0));
  g.csumOk = Fold(SumBytes(t, thl, s) + pay) == 0xffff;
  if (!g.csumOk || !plainIp || l4 == thl) return;
  uint8_t f = t[13];
  if ((f & ~TCP_PSH) != TCP_ACK) return;
  g.data = true;
  g.l3 = ipHdr;
  g.thl = thl;
  g.seq = Rd32(t + 4);
  g.payload = l4 - thl;
  g.flags = f;
  g.paySum = pay;
}

// Whether `b` (inspected, g.data) continues the run whose first packet is `a`.
inline bool SameFlow(const uint8_t* a, const uint8_t* b, const Seg& first, const Seg& g) {
  if (g.v4 != first.v4 || g.thl != first.thl) return false;
  if (g.v4) {
    // TOS; DF (flags byte: fragments were refused); TTL, protocol; addresses.
    if (a[1] != b[1] || a[6] != b[6] || a[8] != b[8] || std::memcmp(a + 12, b + 12, 8) != 0) return false;
  } else {
    // Version, traffic class, flow label; next header and hop limit; addresses.
    if (std::memcmp(a, b, 4) != 0 || a[6] != b[6] || a[7] != b[7] || std::memcmp(a + 8, b + 8, 32) != 0) return false;
  }
  const uint8_t* ta = a + first.l3;
  const uint8_t* tb = b + g.l3;
  // Ports; ACK number, header length and window; options (timestamps included).
  return std::memcmp(ta, tb, 4) == 0 && std::memcmp(ta + 8, tb + 8, 5) == 0 && std::memcmp(ta + 14, tb + 14, 2) == 0 &&
         std::memcmp(ta + 20, tb + 20, g.thl - 20) == 0;
}

// A run being merged in place: its first packet's header, then the payloads.
struct Run {
  bool open = false;
  uint32_t pos = 0;      // ring offset of its record's length word
  uint32_t len = 0;      // packet length so far
  uint32_t nextSeq = 0;  // the sequence number that continues it
  uint32_t segs = 0;
  uint64_t paySum = 0;   // sum of the merged payload, native order
  Seg first;
};

// Start a run with the packet at `pkt` (its record at ring offset pos).
inline void Begin(Run& r, uint32_t pos, uint32_t len, const Seg& g) {
  r.open = (g.flags & TCP_PSH) == 0;
  r.pos = pos;
  r.len = len;
  r.nextSeq = g.seq + g.payload;
  r.segs = 1;
  r.paySum = g.paySum;
  r.first = g;
}

// Whether the packet `b` (inspected as g) can join run r, whose packet is `a`.
inline bool Fits(const Run& r, const uint8_t* a, const uint8_t* b, const Seg& g) {
  return r.open && g.data && g.seq == r.nextSeq && r.len + g.payload <= MAX_MERGED && SameFlow(a, b, r.first, g);
}

// Append g's payload (at `from`) to run r's packet `a` (at its end); the run
// ends with a PSH segment.
inline void Append(Run& r, uint8_t* a, const uint8_t* from, const Seg& g) {
  uint32_t merged = r.len - r.first.l3 - r.first.thl;  // payload bytes so far
  std::memmove(a + r.len, from, g.payload);
  // A payload that starts at an odd offset adds its sum byte-swapped (RFC 1071 §2(B)).
  r.paySum += (merged & 1) != 0 ? Be16(static_cast<uint16_t>(g.paySum)) : g.paySum;
  r.len += g.payload;
  r.nextSeq += g.payload;
  r.segs++;
  if ((g.flags & TCP_PSH) != 0) {
    a[r.first.l3 + 13] |= TCP_PSH;
    r.open = false;
  }
}

// Make run r's packet `a` well-formed again: lengths and checksums.
inline void Finish(Run& r, uint8_t* a) {
  r.open = false;
  if (r.segs < 2) return;
  const uint32_t l3 = r.first.l3;
  uint8_t* t = a + l3;
  const uint32_t l4 = r.len - l3;
  uint64_t s;
  if (r.first.v4) {
    Wr16(a + 2, r.len);
    a[10] = a[11] = 0;
    uint16_t ipc = static_cast<uint16_t>(~Fold(SumBytes(a, 20, 0)));
    std::memcpy(a + 10, &ipc, 2);
    s = SumBytes(a + 12, 8, 0);
  } else {
    Wr16(a + 4, l4);
    s = SumBytes(a + 8, 32, 0);
  }
  s += Be16(6) + Be16(static_cast<uint16_t>(l4));
  t[16] = t[17] = 0;
  uint16_t c = static_cast<uint16_t>(~Fold(SumBytes(t, r.first.thl, s) + Fold(r.paySum)));
  std::memcpy(t + 16, &c, 2);
}

}  // namespace gro
