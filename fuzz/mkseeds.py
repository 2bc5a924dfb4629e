#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora in fuzz/corpus/<target>/ from the shared traces and
from hand-made packets. Run from the repository root:

    python3 fuzz/mkseeds.py [TRACES_DIR]

The seeds are kept in the repository; rerunning rewrites the seed files (named
seed-*) and leaves files the fuzzer added alone."""
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRACES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "traces")


def read_pcap(path, limit):
    with open(path, "rb") as f:
        hdr = f.read(24)
        magic = struct.unpack("<I", hdr[:4])[0]
        end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        out = []
        while len(out) < limit:
            rh = f.read(16)
            if len(rh) < 16:
                break
            _, _, incl, _ = struct.unpack(end + "IIII", rh)
            out.append(f.read(incl))
        return out


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def l4_csum(src, dst, proto, l4):
    pseudo = src + dst + struct.pack("!BBH", 0, proto, len(l4)) if len(src) == 4 else \
        src + dst + struct.pack("!IxxxB", len(l4), proto)
    c = csum(pseudo + l4)
    return 0xFFFF if (c == 0 and proto == 17) else c


def tcp(src, dst, sport, dport, seq, ack, flags, payload, opts=b"", win=502, urg=0):
    doff = (20 + len(opts)) // 4
    h = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, win, 0, urg) + opts
    c = l4_csum(src, dst, 6, h + payload)
    return h[:16] + struct.pack("!H", c) + h[18:] + payload


def udp(src, dst, sport, dport, payload):
    h = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    c = l4_csum(src, dst, 17, h + payload)
    return h[:6] + struct.pack("!H", c) + payload


V4A, V4B = bytes([10, 77, 0, 1]), bytes([10, 77, 0, 2])
V6A = bytes.fromhex("fd770000000000000000000000000001")
V6B = bytes.fromhex("fd770000000000000000000000000002")


def ip4(proto, l4, ident=1, df=True, tos=0, ttl=64, opts=b"", frag=0):
    ihl = 5 + len(opts) // 4
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, ihl * 4 + len(l4), ident,
                    (0x4000 if df else 0) | frag, ttl, proto, 0, V4A, V4B) + opts
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + l4


def ip6(nh, rest, tc=0, hlim=64):
    return struct.pack("!IHBB", 0x60000000 | tc << 20, len(rest), nh, hlim) + V6A + V6B + rest


def ext(nh, kind, body_units=0):
    """One IPv6 extension header of the given kind, followed by nh."""
    if kind == 44:
        return struct.pack("!BBHI", nh, 0, 0, 0x1234)
    if kind == 51:
        return struct.pack("!BB", nh, body_units) + b"\0" * (4 * (body_units + 2) - 2)
    return struct.pack("!BB", nh, body_units) + b"\1\4\0\0\0\0" + b"\0" * (8 * body_units)


PAY = b"0123456789" * 140


def tcp4(seq, n, flags=0x10, **kw):
    return ip4(6, tcp(V4A, V4B, 40000, 5201, seq, 7, flags, PAY[:n]), **kw)


def tcp6(seq, n, flags=0x10, **kw):
    return ip6(6, tcp(V6A, V6B, 40000, 5201, seq, 7, flags, PAY[:n]), **kw)


def udp4(n, **kw):
    return ip4(17, udp(V4A, V4B, 40001, 5201, PAY[:n]), **kw)


def udp6(n, **kw):
    return ip6(17, udp(V6A, V6B, 40001, 5201, PAY[:n]), **kw)


def write(target, name, data):
    d = os.path.join(ROOT, "fuzz", "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# --- coalesce: see fuzz_coalesce.c for the format ---------------------------

def c_raw(p):
    return b"\0" + struct.pack("!H", len(p)) + p


def c_derive(back=0, payload=1368, tweak=0):
    return bytes([1 | tweak << 2, back]) + struct.pack("!H", payload)


C_FLUSH = b"\x02"


def coalesce_seeds():
    traces = {}
    for name in ("tcp4_bulk", "tcp4_4flows", "tcp6_bulk", "tcp4_bidir", "udp4_fixed",
                 "udp6_fixed", "mixed"):
        path = os.path.join(TRACES, name + ".pcap")
        if os.path.exists(path):
            traces[name] = read_pcap(path, 400)
    # A short slice of real packets, and each trace's first packet grown
    # into a long run by derived packets (cheap to store, long chains).
    for name, pkts in traces.items():
        write("coalesce", name + "-slice", b"\0\0" + b"".join(c_raw(p) for p in pkts[:12]))
        first = pkts[0]
        body = c_raw(first)
        for i in range(70):
            body += c_derive(0, 1400 - 72)
            if i == 50:
                body += C_FLUSH
        write("coalesce", name + "-run", b"\0\0" + body)
    if "tcp4_bidir" in traces:
        p = traces["tcp4_bidir"]
        # ACKs and data of the same trace, interleaved as they arrived
        acks = [x for x in p if len(x) <= 60][:6]
        data = [x for x in p if len(x) > 60][:6]
        mix = b""
        for a, d in zip(acks, data):
            mix += c_raw(d) + c_raw(a)
        write("coalesce", "bidir-interleaved", b"\0\0" + mix)
    if "mixed" in traces:
        write("coalesce", "mixed-verify-small-lanes",
              bytes([4 | 3 << 5, 0x81]) + b"".join(c_raw(x) for x in traces["mixed"][:24]))

    # Hand-made shapes: each followed by derived packets of its flow.
    shapes = {
        "tcp4-psh": [tcp4(1000, 500), tcp4(1500, 500), tcp4(2000, 500, flags=0x18), tcp4(2500, 500)],
        "tcp4-ipopt": [tcp4(1, 100), ip4(6, tcp(V4A, V4B, 40000, 5201, 101, 7, 0x10, PAY[:100]),
                                         opts=b"\x01\x01\x01\x00"), tcp4(201, 100)],
        "tcp4-frag": [tcp4(1, 100), ip4(6, tcp(V4A, V4B, 40000, 5201, 101, 7, 0x10, PAY[:100]),
                                        df=False, frag=0x2000), ip4(6, PAY[:64], df=False, frag=16),
                      tcp4(201, 100)],
        "udp4-frag": [udp4(200), ip4(17, udp(V4A, V4B, 40001, 5201, PAY[:200]), df=False,
                                     frag=0x2000), udp4(200)],
        "tcp4-dfclear-ids": [tcp4(1, 100, df=False, ident=7), tcp4(101, 100, df=False, ident=8),
                             tcp4(201, 100, df=False, ident=10)],
        "tcp4-flags": [tcp4(1, 100), tcp4(101, 100, flags=0x11), tcp4(201, 0, flags=0x02),
                       tcp4(201, 100, flags=0x90), tcp4(301, 100, flags=0x50)],
        "tcp4-pure-ack-mid": [tcp4(1, 100), tcp4(101, 0), tcp4(101, 100), tcp4(201, 0)],
        "tcp4-urgent-ptr": [tcp4(1, 100), ip4(6, tcp(V4A, V4B, 40000, 5201, 101, 7, 0x10, PAY[:100], urg=0x3000)),
                            tcp4(201, 100)],
        "tcp4-ecn": [tcp4(1, 100, tos=2), tcp4(101, 100, tos=1), tcp4(201, 100, tos=3)],
        "tcp6-ext": [tcp6(1, 100), ip6(0, ext(6, 0) + tcp(V6A, V6B, 40000, 5201, 101, 7, 0x10, PAY[:100])),
                     tcp6(201, 100), ip6(60, ext(43, 60) + ext(44, 43) + ext(51, 44, 1) + ext(6, 51) +
                                         tcp(V6A, V6B, 40000, 5201, 301, 7, 0x10, PAY[:100])),
                     tcp6(401, 100)],
        "udp6-ext": [udp6(300), ip6(60, ext(17, 60) + udp(V6A, V6B, 40001, 5201, PAY[:300])), udp6(300)],
        "tcp6-ext-9": [tcp6(1, 100), ip6(60, b"".join(ext(60, 60) for _ in range(8)) + ext(6, 60) +
                                         tcp(V6A, V6B, 40000, 5201, 101, 7, 0x10, PAY[:100])),
                       tcp6(201, 100)],
        "tcp6-ext-overrun": [tcp6(1, 100), ip6(0, struct.pack("!BB", 6, 200) + b"\0" * 14), tcp6(101, 100)],
        "tcp6-jumbo": [tcp6(1, 100), bytes(tcp6(101, 100)[:4]) + b"\0\0" + tcp6(101, 100)[6:], tcp6(201, 100)],
        "udp4-len": [udp4(100)] + [udp4(100)[:24] + struct.pack("!H", n) + udp4(100)[26:] for n in range(8)] +
                    [udp4(0), udp4(100)[:26] + b"\0\0" + udp4(100)[28:]],
        "tcp4-doff": [tcp4(1, 100)] + [tcp4(101, 100)[:32] + bytes([n << 4]) + tcp4(101, 100)[33:] for n in (0, 4, 15)],
        "tcp4-trunc": [tcp4(1, 100)] + [tcp4(101, 100)[:n] for n in (0, 1, 19, 20, 21, 39, 40, 59)],
        "tcp4-totlen": [tcp4(1, 100), tcp4(101, 100) + b"pad!", tcp4(201, 100)[:2] + b"\xff\xff" + tcp4(201, 100)[4:],
                        tcp4(201, 100)[:2] + b"\0\x10" + tcp4(201, 100)[4:]],
        "tcp4-ihl": [tcp4(1, 100)] + [bytes([0x40 | n]) + tcp4(101, 100)[1:] for n in (0, 1, 4, 15)],
        "udp-zero-csum": [udp4(100), udp4(100)[:26] + b"\0\0" + udp4(100)[28:], udp6(100),
                          udp6(100)[:46] + b"\0\0" + udp6(100)[48:]],
        "not-ip": [b"\x00" * 40, b"\x50" * 60, b"\x45", b"\x60" + b"\0" * 30, b""],
    }
    for name, pkts in shapes.items():
        body = b"".join(c_raw(p) for p in pkts)
        body += c_derive(0, 100) + c_derive(0, 100, 1) + c_derive(0, 100, 16) + c_derive(0, 50)
        write("coalesce", name, b"\0\0" + body)
        write("coalesce", name + "-verify", bytes([4, 0x80]) + body + C_FLUSH + body)


# --- segment: virtio header + packet ---------------------------------------

def vnet(flags=0, gso=0, hdr_len=0, gso_size=0, start=0, off=0):
    return struct.pack("<BBHHHH", flags, gso, hdr_len, gso_size, start, off)


def pseudo_fold(pkt, ip_len, proto):
    l4len = len(pkt) - ip_len
    if pkt[0] >> 4 == 4:
        ps = pkt[12:20] + struct.pack("!BBH", 0, proto, l4len)
    else:
        ps = pkt[8:40] + struct.pack("!IxxxB", l4len, proto)
    return (~csum(ps)) & 0xFFFF  # folded sum, not inverted


def hdr_lens(p):
    ip_len = (p[0] & 15) * 4 if p[0] >> 4 == 4 else 40
    proto = p[9] if p[0] >> 4 == 4 else p[6]
    l4_len = (p[ip_len + 12] >> 4) * 4 if proto == 6 else 8
    return ip_len, proto, l4_len


def partial(p):
    """The packet as the kernel hands it over with NEEDS_CSUM."""
    ip_len, proto, _ = hdr_lens(p)
    off = ip_len + (16 if proto == 6 else 6)
    p = p[:off] + struct.pack("!H", pseudo_fold(p, ip_len, proto)) + p[off + 2:]
    return vnet(1, 0, 0, 0, ip_len, off - ip_len) + p


def superpacket(pkts, ecn=False):
    """What the kernel would hand over for these same-flow packets."""
    first = pkts[0]
    ip_len, proto, l4_len = hdr_lens(first)
    hl = ip_len + l4_len
    sp = bytearray(first[:hl] + b"".join(p[hl:] for p in pkts))
    if sp[0] >> 4 == 4:
        sp[2:4] = struct.pack("!H", len(sp))
        sp[10:12] = b"\0\0"
        sp[10:12] = struct.pack("!H", csum(bytes(sp[:ip_len])))
        gso = 1 if proto == 6 else 5
    else:
        sp[4:6] = struct.pack("!H", len(sp) - 40)
        gso = 4 if proto == 6 else 5
    if proto == 17:
        sp[ip_len + 4:ip_len + 6] = struct.pack("!H", len(sp) - ip_len)
    off = 16 if proto == 6 else 6
    sp[ip_len + off:ip_len + off + 2] = struct.pack("!H", pseudo_fold(bytes(sp), ip_len, proto))
    return vnet(1, gso | (0x80 if ecn else 0), hl, len(pkts[0]) - hl, ip_len, off) + bytes(sp)


def segment_seeds():
    for name, n in (("tcp4_bulk", 10), ("tcp6_bulk", 10), ("udp4_fixed", 10), ("udp6_fixed", 10),
                    ("tcp4_4flows", 3)):
        path = os.path.join(TRACES, name + ".pcap")
        if not os.path.exists(path):
            continue
        pkts = read_pcap(path, n)
        write("segment", name + "-super", superpacket(pkts))
        write("segment", name + "-plain", vnet() + pkts[0])
        write("segment", name + "-partial", partial(pkts[0]))
    seeds = {
        "tcp4-small": superpacket([tcp4(1 + 100 * i, 100) for i in range(5)] + [tcp4(501, 37, flags=0x19)]),
        "tcp4-cwr-ecn": superpacket([tcp4(1, 100, flags=0xd0)] + [tcp4(101 + 100 * i, 100, flags=0x50) for i in range(3)], ecn=True),
        "tcp4-ipopt": superpacket([ip4(6, tcp(V4A, V4B, 1, 2, 1 + 64 * i, 9, 0x10, PAY[:64]), opts=b"\x01\x01\x01\x00") for i in range(3)]),
        "tcp4-tsopt": superpacket([ip4(6, tcp(V4A, V4B, 1, 2, 1 + 64 * i, 9, 0x10, PAY[:64], opts=b"\x01\x01\x08\x0a" + b"\0" * 8)) for i in range(3)]),
        "tcp6-small": superpacket([tcp6(1 + 90 * i, 90) for i in range(4)]),
        "udp4-small": superpacket([udp4(50)] * 4 + [udp4(7)]),
        "udp6-small": superpacket([udp6(50)] * 3),
        "gso-size-1": vnet(1, 1, 40, 1, 20, 16) + tcp4(1, 20),
        "udp6-partial": partial(udp6(33)),
        "tcp6-ext-partial": vnet(1, 0, 0, 0, 48, 16) + ip6(0, ext(6, 0) + tcp(V6A, V6B, 1, 2, 3, 4, 0x10, PAY[:20])),
        "icmp-plain": vnet() + ip4(1, b"\x08\0\0\0" + PAY[:56]),
        "empty": vnet(),
        "bad-flags": vnet(0x84) + tcp4(1, 10),
        "bad-gso-type": vnet(1, 3, 40, 10, 20, 16) + udp4(100),
        "gso-size-0": vnet(1, 1, 40, 0, 20, 16) + tcp4(1, 100),
        "csum-start-past": vnet(1, 0, 0, 0, 500, 16) + tcp4(1, 100),
        "csum-offset-past": vnet(1, 0, 0, 0, 20, 0xfff0) + tcp4(1, 100),
        "gso-v6-on-v4": vnet(1, 4, 40, 50, 20, 16) + tcp4(1, 200),
        "gso-udp-on-tcp": vnet(1, 5, 28, 50, 20, 6) + tcp4(1, 200),
        "gso-no-payload": vnet(1, 1, 40, 50, 20, 16) + tcp4(1, 0),
        "ihl-4": vnet(1, 1, 40, 50, 20, 16) + b"\x44" + tcp4(1, 200)[1:],
        "len-lies": vnet(1, 1, 40, 50, 20, 16) + tcp4(1, 200)[:150],
        "doff-4": vnet(1, 1, 40, 50, 20, 16) + tcp4(1, 200)[:32] + b"\x40" + tcp4(1, 200)[33:],
        "udp-len-0": vnet(1, 5, 28, 50, 20, 6) + udp4(200)[:24] + b"\0\0" + udp4(200)[26:],
        "frag": vnet(1, 1, 40, 50, 20, 16) + ip4(6, tcp(V4A, V4B, 1, 2, 3, 4, 0x10, PAY[:200]), df=False, frag=0x2000),
        "version-5": vnet(1, 1, 40, 50, 20, 16) + b"\x55" + tcp4(1, 200)[1:],
        "trunc-ip": vnet(1, 1, 40, 50, 20, 16) + tcp4(1, 200)[:19],
        "jumbo": vnet(1, 4, 60, 50, 40, 16) + tcp6(1, 200)[:4] + b"\0\0" + tcp6(1, 200)[6:],
        "big": superpacket([tcp4(1 + 1400 * i, 1400) for i in range(46)]),
    }
    for name, data in seeds.items():
        write("segment", name, data)


# --- tun_reader: datagrams as TUN delivers them ----------------------------

def r_dgrams(opts, dgrams):
    return bytes([opts]) + b"".join(struct.pack("!I", len(d))[1:] + d for d in dgrams)


def tun_reader_seeds():
    good = [superpacket([tcp4(1 + 100 * i, 100) for i in range(5)]), partial(udp6(33)),
            vnet() + ip4(1, b"\x08\0\0\0" + PAY[:56]), superpacket([udp4(50)] * 4)]
    bad = [vnet(0x84) + tcp4(1, 10), vnet(1, 1, 40, 0, 20, 16) + tcp4(1, 100),
           vnet(1, 0, 0, 0, 500, 16) + tcp4(1, 100), b"\x01\x01\x28",
           vnet(1, 1, 40, 50, 20, 16) + tcp4(1, 200)[:150]]
    write("tun_reader", "good", r_dgrams(0, good))
    write("tun_reader", "mixed", r_dgrams(0, [good[0], bad[0], good[1], bad[1], bad[3], good[2],
                                            bad[2], bad[4], good[3]]))
    write("tun_reader", "one-per-read", r_dgrams(2, good + bad))
    write("tun_reader", "small-buffer", r_dgrams(8 | 4, good * 3))
    write("tun_reader", "plain", r_dgrams(1, [tcp4(1, 100), b"\x45", udp6(20)]))
    write("tun_reader", "big", r_dgrams(8, [vnet() + b"\x45" + b"\0" * 65700, good[1],
                                         superpacket([tcp4(1 + 1400 * i, 1400) for i in range(46)])]))
    write("tun_reader", "big-plain", r_dgrams(1 | 16, [b"\x60" * 65650, tcp4(1, 100)]))


# --- pcap: capture files for the CLI's reader --------------------------------

def pcap_file(linktype, frames, snap=65535, magic=0xA1B2C3D4, endian="<", origlen=None):
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snap, linktype)
    for i, f in enumerate(frames):
        out += struct.pack(endian + "IIII", 1700000000, i, len(f),
                           origlen if origlen is not None else len(f)) + f
    return out


def pcapng_file(linktype, frames):
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", linktype, 0, 65535))
    for f in frames:
        out += block(6, struct.pack("<IIIII", 0, 0, 0, len(f), len(f)) + f)
    return out


def eth(p, tags=()):
    et = 0x0800 if p[0] >> 4 == 4 else 0x86DD
    h = b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01"
    for t in tags:
        h += struct.pack("!HH", t, 5)
    return h + struct.pack("!H", et) + p


def sll(p):
    et = 0x0800 if p[0] >> 4 == 4 else 0x86DD
    return struct.pack("!HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\x01\0\0", et) + p


def sll2(p):
    et = 0x0800 if p[0] >> 4 == 4 else 0x86DD
    return struct.pack("!HHIHBB8s", et, 0, 2, 1, 0, 6, b"\x02\0\0\0\0\x01\0\0") + p


def pcap_seeds():
    for name in ("tcp4_bulk", "tcp6_bulk", "mixed", "tcp4_bidir"):
        path = os.path.join(TRACES, name + ".pcap")
        if os.path.exists(path):
            write("pcap", name, pcap_file(101, read_pcap(path, 6)))
    pk = [tcp4(1, 100), tcp4(101, 100), udp6(50), ip4(1, b"\x08\0\0\0" + PAY[:20])]
    seeds = {
        "raw": pcap_file(101, pk),
        "ipv4-dlt": pcap_file(228, pk[:2]),
        "ipv6-dlt": pcap_file(229, pk[2:3]),
        "eth": pcap_file(1, [eth(p) for p in pk] + [b"\xff" * 12 + b"\x08\x06" + b"\0" * 28]),
        "eth-vlan": pcap_file(1, [eth(pk[0], (0x8100,)), eth(pk[2], (0x88A8, 0x8100)),
                                  eth(pk[1], (0x8100,) * 5), eth(pk[0], (0x8100,))[:16]]),
        "eth-short": pcap_file(1, [eth(pk[0])[:n] for n in (0, 6, 13, 14, 15)]),
        "sll": pcap_file(113, [sll(p) for p in pk] + [sll(pk[0])[:15]]),
        "sll2": pcap_file(276, [sll2(p) for p in pk] + [sll2(pk[0])[:19]]),
        "unknown-link": pcap_file(105, pk),
        "big-endian": pcap_file(101, pk, endian=">"),
        "nanosecond": pcap_file(101, pk, magic=0xA1B23C4D),
        "snaplen-small": pcap_file(101, pk, snap=64),
        "snap-cut": pcap_file(101, [p[:60] for p in pk], origlen=140),
        "truncated-record": pcap_file(101, pk)[:-30],
        "truncated-header": pcap_file(101, pk)[:20],
        "record-huge": pcap_file(101, pk[:1])[:24] + struct.pack("<IIII", 0, 0, 0x7FFFFFFF, 0x7FFFFFFF) + pk[0],
        "empty-file": b"",
        "no-records": pcap_file(101, []),
        "pcapng-raw": pcapng_file(101, pk),
        "pcapng-eth": pcapng_file(1, [eth(p) for p in pk]),
    }
    for name, data in seeds.items():
        write("pcap", name, data)


# --- order: see fuzz_order.c for the format ----------------------------------

def o_key(epoch, counter):
    return bytes([epoch << 6 | (counter >> 8) & 0x3F, counter & 0xFF])


def o_raw(p, epoch, counter):
    return b"\0" + bytes([len(p)]) + p + o_key(epoch, counter)


def o_next(epoch, counter, back=0):
    return b"\x01" + bytes([back]) + o_key(epoch, counter)


def order_seeds():
    seeds = {}
    # A TCP flow whose segments arrive shuffled: sorted they are one chain.
    shuffled = [5, 2, 0, 7, 1, 3, 6, 4]
    body = o_raw(tcp4(1000, 100), 0, 0)
    for c in range(1, 8):
        body += o_next(0, c)
    seeds["tcp4-in-order"] = b"\x07" + body
    # The same packets, keyed so that their arrival is shuffled.
    out = [o_raw(tcp4(1000 + 100 * shuffled[0], 100), 0, shuffled[0])]
    for k in shuffled[1:]:
        out.append(o_raw(tcp4(1000 + 100 * k, 100), 0, k))
    seeds["tcp4-shuffled"] = b"\x07" + b"".join(out)
    # An epoch change: the new session's counters restart.
    seeds["epoch-change"] = b"\x07" + o_raw(tcp6(1, 60), 1, 0) + o_next(1, 1) + \
        o_raw(tcp6(1, 60), 0, 9) + o_next(2, 0) + o_next(0, 10)
    # UDP datagrams and a ping, reversed, in windows of 4 (max_pkts 4).
    rev = [o_raw(udp4(50), 0, 9)] + [o_next(0, 9 - k) for k in range(1, 9)]
    seeds["udp4-reversed-windows"] = b"\x01" + b"".join(rev) + b"\x02" + \
        o_raw(bytes([0x45, 0, 0, 28]) + bytes(24), 0, 3)
    # Equal keys: arrival order decides.
    seeds["equal-keys"] = b"\x07" + o_raw(tcp4(5, 100), 0, 1) + o_next(0, 1) + o_next(0, 1) + \
        b"\x03\x01" + o_key(0, 0)
    for name, data in seeds.items():
        write("order", name, data)


if __name__ == "__main__":
    order_seeds()
    coalesce_seeds()
    segment_seeds()
    tun_reader_seeds()
    pcap_seeds()
