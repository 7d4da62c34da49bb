// Transmit segmentation (software GSO) for a plain TUN's writer.
//
// A TUN device without a vnet header takes one MTU-sized packet per
// write(2). With GSO, tsip's TCP hands the writer one super-segment of up
// to 64 KiB (as it does to a device with TSO) and the writer cuts it here,
// in C: JavaScript then builds, copies and checksums one segment where it
// did ~45. Each piece is written with writev (its header from a small
// buffer, its payload straight from the ring): no payload copy.
//
// Per piece, as a NIC's TSO does: the IPv4 total length, identification
// (+1 per piece) and header checksum, or the IPv6 payload length; the TCP
// sequence number; FIN and PSH on the last piece only, CWR on the first
// only; the TCP checksum over the piece. tsip's TCP puts no IPv4 options
// and no IPv6 extension headers in front of its segments; anything else
// is written as it is.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <cstring>

#include "gro.h"

namespace gso {

constexpr uint8_t TCP_FIN = 0x01, TCP_PSH = 0x08, TCP_CWR = 0x80;

inline void Wr32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// Store the TCP checksum of pkt[0, len) computed from scratch (whatever the
// field held); false (nothing changed) when it is not a plain IPv4/IPv6 TCP packet.
inline bool FillTcpChecksum(uint8_t* pkt, uint32_t len) {
  using gro::Be16;
  using gro::Fold;
  using gro::SumBytes;
  uint32_t l3;
  uint64_t s;
  if (len >= 40 && pkt[0] >> 4 == 4 && pkt[9] == 6) {
    l3 = (pkt[0] & 15u) * 4;
    s = SumBytes(pkt + 12, 8, 0);
  } else if (len >= 60 && pkt[0] >> 4 == 6 && pkt[6] == 6) {
    l3 = 40;
    s = SumBytes(pkt + 8, 32, 0);
  } else {
    return false;
  }
  if (l3 < 20 || l3 + 20 > len) return false;
  uint8_t* t = pkt + l3;
  t[16] = t[17] = 0;
  uint16_t c = static_cast<uint16_t>(~Fold(SumBytes(t, len - l3, s + Be16(6) + Be16(static_cast<uint16_t>(len - l3)))));
  std::memcpy(t + 16, &c, 2);
  return true;
}

// Cut the TCP packet pkt[0, len) into pieces of at most `mss` payload bytes
// and hand each to write(iov, 2) (which returns false to stop: the device is
// gone). Returns the number of pieces handed over, or -1 when the packet is
// not a TCP super-segment this can cut (the caller writes it as it is).
template <class Write>
int Segment(const uint8_t* pkt, uint32_t len, uint32_t mss, Write write) {
  using gro::Be16;
  using gro::Fold;
  using gro::Rd16;
  using gro::Rd32;
  using gro::SumBytes;
  using gro::Wr16;
  if (len < 40 || mss == 0) return -1;
  const bool v4 = pkt[0] >> 4 == 4;
  uint32_t l3;
  if (v4) {
    l3 = (pkt[0] & 15u) * 4;
    if (l3 != 20 || pkt[9] != 6 || Rd16(pkt + 2) != len) return -1;
  } else if (pkt[0] >> 4 == 6) {
    l3 = 40;
    if (len < 60 || pkt[6] != 6 || 40 + Rd16(pkt + 4) != len) return -1;
  } else {
    return -1;
  }
  const uint8_t* t = pkt + l3;
  const uint32_t thl = (t[12] >> 4) * 4u;
  const uint32_t hdr = l3 + thl;
  if (thl < 20 || hdr >= len) return -1;
  const uint32_t payload = len - hdr;
  uint8_t hb[40 + 60];
  std::memcpy(hb, pkt, hdr);
  uint8_t* th = hb + l3;
  const uint32_t seq0 = Rd32(t + 4);
  const uint8_t flags = t[13];
  const uint32_t id0 = v4 ? Rd16(pkt + 4) : 0;
  // The pseudo-header without its length: addresses and protocol.
  const uint64_t pseudo = (v4 ? SumBytes(pkt + 12, 8, 0) : SumBytes(pkt + 8, 32, 0)) + Be16(6);
  int pieces = 0;
  for (uint32_t off = 0; off < payload; off += mss) {
    const uint32_t n = payload - off < mss ? payload - off : mss;
    const bool last = off + n == payload;
    if (v4) {
      Wr16(hb + 2, hdr + n);
      Wr16(hb + 4, (id0 + static_cast<uint32_t>(pieces)) & 0xffff);
      hb[10] = hb[11] = 0;
      uint16_t ipc = static_cast<uint16_t>(~Fold(SumBytes(hb, 20, 0)));
      std::memcpy(hb + 10, &ipc, 2);
    } else {
      Wr16(hb + 4, thl + n);
    }
    Wr32(th + 4, seq0 + off);
    uint8_t f = last ? flags : static_cast<uint8_t>(flags & ~(TCP_FIN | TCP_PSH));
    if (off != 0) f = static_cast<uint8_t>(f & ~TCP_CWR);
    th[13] = f;
    th[16] = th[17] = 0;
    const uint8_t* data = pkt + hdr + off;
    uint64_t s = SumBytes(th, thl, pseudo + Be16(static_cast<uint16_t>(thl + n)));
    uint16_t c = static_cast<uint16_t>(~Fold(s + Fold(SumBytes(data, n, 0))));
    std::memcpy(th + 16, &c, 2);
    struct iovec iov[2];
    iov[0].iov_base = hb;
    iov[0].iov_len = hdr;
    iov[1].iov_base = const_cast<uint8_t*>(data);
    iov[1].iov_len = n;
    pieces++;
    if (!write(iov)) break;
  }
  return pieces;
}

}  // namespace gso
