# Seeded hostile traffic for tsip over its TUN device, sent from inside the
# test's namespace through an AF_PACKET socket bound to the device (no
# kernel output path: mangled headers reach tsip as built). Used by
# tun-fuzz.test.ts; by hand:
#
#   ip netns exec NS python3 tun-fuzz.py stateless K4 T4 K6 T6 SEED COUNT
#   ip netns exec NS python3 tun-fuzz.py stateful T SRC SEED CONNS SEGMENTS
#
# stateless: COUNT random packets of both families (scapy's fuzz() of TCP,
#   UDP, ICMP, ICMPv6 and IPv6 extension headers, shuffled fragments with
#   lying offsets, byte-flipped SYNs, truncations), from the kernel's own
#   addresses K4/K6 to tsip's T4/T6.
# stateful: CONNS connections to tsip's echo, discard and HTTP ports at T
#   (IPv4 or IPv6) from SRC, an on-link address of the same family that
#   nobody owns (the kernel does not forward in a new namespace, so it
#   neither answers tsip nor resets the connections): a real handshake, then SEGMENTS segments with random
#   flags, sequence and acknowledgment numbers near and far from the window,
#   random windows, urgent pointers, options (timestamps, SACK blocks, window
#   scale, garbage) and payloads, some with bad checksums, lying data
#   offsets or cut short. Then each connection is torn down as a peer would:
#   an ACK far outside the window draws an ACK carrying RCV.NXT, and a reset
#   goes at exactly that sequence number.
#
# Prints one JSON line of counts. Bounded: COUNT/CONNS*SEGMENTS packets and
# at most 120 s.
import json
import random
import select
import socket
import sys
import time

from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment
from scapy.layers.inet6 import (ICMPv6EchoRequest, ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6PacketTooBig, IPv6,
                                IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting)
from scapy.packet import Raw, fuzz
from scapy.utils import checksum

IF, P4, P6 = 'tsip0', 0x0800, 0x86dd
MTU = 1500
DEADLINE = time.time() + 120
MASK = 0xffffffff


def stateless(k4, t4, k6, t6, seed, count):
    rnd = random.Random(seed)
    random.seed(seed)  # scapy's fuzz() draws from the module's generator
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM)
    stats = {'sent': 0, 'v4': 0, 'v6': 0, 'tooBig': 0}

    def rbytes(lo, hi):
        return bytes(rnd.getrandbits(8) for _ in range(rnd.randint(lo, hi)))

    def one():
        r = rnd.random()
        if r < 0.2:
            p = IP(src=k4, dst=t4) / fuzz(TCP(dport=rnd.choice([7, 9, 19, 80, 1234]))) / Raw(rbytes(0, 100))
        elif r < 0.3:
            p = fuzz(IP(src=k4, dst=t4, proto=6)) / fuzz(TCP())
        elif r < 0.4:
            p = IP(src=k4, dst=t4) / fuzz(UDP()) / Raw(rbytes(0, 50))
        elif r < 0.5:
            p = IP(src=k4, dst=t4) / fuzz(ICMP()) / Raw(rbytes(0, 60))
        elif r < 0.6:
            p = IPv6(src=k6, dst=t6) / fuzz(TCP(dport=rnd.choice([7, 9, 80])))
        elif r < 0.7:
            ext = rnd.choice([IPv6ExtHdrHopByHop(), IPv6ExtHdrRouting(), IPv6ExtHdrDestOpt(), fuzz(IPv6ExtHdrFragment())])
            p = IPv6(src=k6, dst=t6) / ext / Raw(rbytes(0, 80))
        elif r < 0.8:
            p = IPv6(src=k6, dst=t6) / fuzz(rnd.choice([ICMPv6EchoRequest(), ICMPv6ND_NS(), ICMPv6ND_RA(), ICMPv6PacketTooBig()]))
        elif r < 0.9:
            # An echo request in shuffled fragments, some with a random offset.
            whole = IP(src=k4, dst=t4, id=rnd.getrandbits(16)) / ICMP() / Raw(rbytes(100, 2000))
            frags = fragment(whole, fragsize=rnd.choice([64, 256, 1024]))
            rnd.shuffle(frags)
            for f in frags:
                if rnd.random() < 0.2:
                    f.frag = rnd.randint(0, 8191)
            return [bytes(f) for f in frags]
        else:
            b = bytearray(bytes(IP(src=k4, dst=t4) / TCP(dport=80, flags='S')))
            for _ in range(rnd.randint(1, 6)):
                b[rnd.randrange(len(b))] = rnd.getrandbits(8)
            return [bytes(b)]
        b = bytes(p)
        if rnd.random() < 0.15:
            b = b[:rnd.randint(0, len(b))]
        return [b]

    while stats['sent'] < count and time.time() < DEADLINE:
        for b in one():
            if not b:
                continue
            v6 = (b[0] >> 4) == 6
            try:
                s.sendto(b, (IF, P6 if v6 else P4))
            except OSError:
                stats['tooBig'] += 1  # larger than the device's MTU: the kernel refuses it
                continue
            stats['sent'] += 1
            stats['v6' if v6 else 'v4'] += 1
    return stats


def stateful(t, src, seed, conns, segments):
    rnd = random.Random(seed)
    v6 = ':' in t
    proto, hlen = (P6, 40) if v6 else (P4, 20)

    def net():
        return IPv6(src=src, dst=t) if v6 else IP(src=src, dst=t)

    def cut_short(b):
        """The packet cut at a random length, its IP length field saying so."""
        b = b[:rnd.randint(hlen, len(b))]
        if v6:
            b[4:6] = (len(b) - 40).to_bytes(2, 'big')
        else:
            b[2:4] = len(b).to_bytes(2, 'big')
            b[10:12] = b'\0\0'
            b[10:12] = checksum(bytes(b[:20])).to_bytes(2, 'big')
        return b

    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(proto))
    s.bind((IF, proto))
    stats = {'conns': conns, 'handshakes': 0, 'sent': 0, 'answers': 0, 'resetsFromTsip': 0, 'gone': 0}

    def send(b):
        s.sendto(b, (IF, proto))
        stats['sent'] += 1

    def answers(wait, until_port=None):
        """tsip's TCP answers to `src` within `wait` s (0: what is queued), by our port; with until_port, up to the first to that port."""
        got = {}
        end = time.time() + wait
        while True:
            r, _, _ = select.select([s], [], [], max(end - time.time(), 0))
            if not r:
                return got
            b, addr = s.recvfrom(70000)
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            p = IPv6(b) if v6 else IP(b)
            if p.src != t or p.dst != src or not p.haslayer(TCP):
                continue
            stats['answers'] += 1
            got.setdefault(p[TCP].dport, []).append(p[TCP])
            if p[TCP].dport == until_port:
                return got

    def options():
        if rnd.random() < 0.4:
            return []
        out = []
        for _ in range(rnd.randint(1, 4)):
            c = rnd.random()
            if c < 0.2:
                out.append(('MSS', rnd.getrandbits(16)))
            elif c < 0.35:
                out.append(('WScale', rnd.getrandbits(8)))
            elif c < 0.55:
                out.append(('Timestamp', (rnd.getrandbits(32), rnd.getrandbits(32))))
            elif c < 0.75:
                out.append(('SAck', tuple(rnd.getrandbits(32) for _ in range(2 * rnd.randint(1, 4)))))
            elif c < 0.85:
                out.append(('SAckOK', b''))
            else:
                out.append((rnd.getrandbits(8), bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 10)))))
        return out

    def near(base):
        c = rnd.random()
        if c < 0.5:
            return base
        if c < 0.7:
            return (base + rnd.randint(-3, 3)) & MASK
        if c < 0.85:
            return (base + rnd.randint(-70000, 70000)) & MASK
        return rnd.getrandbits(32)

    live = {}  # our port -> [their port, SND.NXT, RCV.NXT, timestamps on, TS.Recent as tsip echoes it]
    for i in range(conns):
        if time.time() > DEADLINE:
            break
        sport = 20000 + (seed * 1000 + i) % 40000
        dport = rnd.choice([7, 9, 80])
        isn = rnd.getrandbits(32)
        ts_on = rnd.random() < 0.5
        syn_opts = [('MSS', 1440), ('SAckOK', b''), ('WScale', 7)] + ([('Timestamp', (1, 0))] if ts_on else [])
        send(bytes(net() / TCP(sport=sport, dport=dport, flags='S', seq=isn, window=65535, options=syn_opts)))
        synack = [r for r in answers(1.0, sport).get(sport, []) if r.flags & 0x12 == 0x12]
        if not synack:
            continue
        stats['handshakes'] += 1
        c = live[sport] = [dport, (isn + 1) & MASK, (synack[0].seq + 1) & MASK, ts_on, 1]
        send(bytes(net() / TCP(sport=sport, dport=dport, flags='A', seq=c[1], ack=c[2], window=65535)))
        for _ in range(segments):
            flags = rnd.choice(['A', 'PA', 'PA', 'A', 'FA', 'S', 'SA', 'R', 'RA', 'U', 'UA', 'UPA', '', 'FSRPAUEC', 'E', 'C'])
            tcp = TCP(sport=sport, dport=dport, flags=flags, seq=near(c[1]), ack=near(c[2]),
                      window=rnd.choice([0, 1, 100, 65535, rnd.getrandbits(16)]),
                      urgptr=rnd.choice([0, 1, rnd.getrandbits(16)]), options=options())
            room = MTU - len(bytes(net() / tcp))
            if room < 0:  # more options than a header holds
                tcp.options = []
                room = MTU - hlen - 20
            data = bytes(rnd.getrandbits(8) for _ in range(min(room, rnd.choice([0, 0, 1, 10, 100, 1000, 1380]))))
            b = bytearray(bytes(net() / tcp / Raw(data)))
            m = rnd.random()
            if m < 0.05:
                b[hlen + 16] ^= 0xff  # bad checksum
            elif m < 0.1:
                b[hlen + 12] = rnd.getrandbits(8)  # the data offset lies
            elif m < 0.13:
                b = cut_short(b)
            send(bytes(b))
            if m >= 0.13 and 'S' not in flags and 'R' not in flags and tcp.seq == c[1]:
                c[1] = (c[1] + len(data) + (1 if 'F' in flags else 0)) & MASK
            for r in answers(0).get(sport, []):
                if r.flags & 0x10:
                    c[2] = (r.seq + len(bytes(r.payload))) & MASK
                if r.flags & 0x04:
                    stats['resetsFromTsip'] += 1
                for o in r.options:
                    if o[0] == 'Timestamp':
                        c[4] = o[1][1]

    # Tear down: out-of-window ACKs are answered at most once per 500 ms per
    # connection (tsip's invalid-ACK rate limit, as Linux's), hence the
    # pause; a PAWS-failed probe is answered too, so its timestamp need not
    # be right. No answer: the connection is gone.
    for _ in range(5):
        if not live:
            break
        time.sleep(0.6)
        for sport, (dport, snd, rcv, ts_on, tsr) in live.items():
            opts = [('Timestamp', ((tsr + 1) & MASK, 0))] if ts_on else []
            send(bytes(net() / TCP(sport=sport, dport=dport, flags='A', seq=(snd + 0x40000000) & MASK, ack=rcv, window=65535, options=opts)))
        got = answers(0.3)
        for sport in list(live):
            acks = [r for r in got.get(sport, []) if r.flags & 0x10 and not r.flags & 0x04]
            if not acks:
                del live[sport]
                stats['gone'] += 1
                continue
            send(bytes(net() / TCP(sport=sport, dport=live[sport][0], flags='R', seq=acks[-1].ack)))
    stats['left'] = len(live)
    return stats


if __name__ == '__main__':
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == 'stateless':
        out = stateless(args[0], args[1], args[2], args[3], int(args[4]), int(args[5]))
    elif mode == 'stateful':
        out = stateful(args[0], args[1], int(args[2]), int(args[3]), int(args[4]))
    else:
        sys.exit('usage: tun-fuzz.py stateless K4 T4 K6 T6 SEED COUNT | stateful T SRC SEED CONNS SEGMENTS')
    print(json.dumps(out))
