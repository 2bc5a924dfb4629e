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


def tcp(src, dst, sport, dport, seq, ack, flags, payload, opts=b"", win=502):
    doff = (20 + len(opts)) // 4
    h = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, win, 0, 0) + opts
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


if __name__ == "__main__":
    coalesce_seeds()
