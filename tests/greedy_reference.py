#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The greedy GRO reference, independent of the library: how many TUN writes
a coalescer that follows the traces' definition makes, at a batch size.

Walk each batch in order; extend the flow's open run when the packet is
contiguous (TCP: the next sequence number; UDP: no larger than the run's
datagrams, a shorter one ending it) and its headers are identical except IP
length, ID, checksums and PSH; end a run at PSH, at a short segment, at 64
segments or at 65,535 bytes; a pure ACK neither joins nor ends a run; every
other packet is a write of its own; flush at the end of every batch.

    python3 tests/greedy_reference.py [--batch N] FILE.pcap...
prints "name writes" per file."""
import struct
import sys


def packets(path):
    with open(path, "rb") as f:
        data = f.read()
    end = "<" if struct.unpack_from("<I", data, 0)[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from(end + "IIII", data, off)[2]
        off += 16
        yield data[off:off + incl]
        off += incl


def parse(p):
    """(kind, key, fields...) of a raw IP packet."""
    v = p[0] >> 4
    if v == 4 and p[0] == 0x45 and len(p) >= 20 and not (struct.unpack_from("!H", p, 6)[0] & 0x3FFF):
        proto, ip_len, tot = p[9], 20, struct.unpack_from("!H", p, 2)[0]
        ip_fixed = p[0:2] + p[6:10] + p[12:20]  # all but length, ID, checksum
    elif v == 6 and len(p) >= 40 and p[6] in (6, 17):
        proto, ip_len, tot = p[6], 40, 40 + struct.unpack_from("!H", p, 4)[0]
        ip_fixed = p[0:4] + p[6:40]
    else:
        return None
    l4 = p[ip_len:tot]
    if proto == 6 and len(l4) >= 20:
        doff = (l4[12] >> 4) * 4
        flags = l4[13]
        payload = len(l4) - doff
        seq = struct.unpack_from("!I", l4, 4)[0]
        fixed = ip_fixed + l4[0:4] + l4[8:13] + bytes([flags & ~0x08]) + l4[14:16] + l4[18:doff]
        return ("tcp", ip_fixed + l4[0:4], fixed, seq, payload, flags, ip_len + doff)
    if proto == 17 and len(l4) >= 8:
        return ("udp", ip_fixed + l4[0:4], ip_fixed + l4[0:4], 0, len(l4) - 8, 0, ip_len + 8)
    return None


def writes(path, batch):
    pkts = list(packets(path))
    total = 0
    for i in range(0, len(pkts), batch):
        runs = {}  # flow key -> [fixed headers, next seq, seg size, segments, bytes, open]
        for p in pkts[i:i + batch]:
            info = parse(p)
            if info is None:
                total += 1
                continue
            kind, key, fixed, seq, payload, flags, hdr = info
            if kind == "tcp" and payload == 0 and (flags & ~0x48) == 0x10:
                total += 1  # pure ACK: its own write, the run goes on
                continue
            if kind == "tcp" and ((flags & ~0x58) or not flags & 0x10):
                runs.pop(key, None)  # SYN, FIN, RST, URG, CWR: sent alone, ends the run
                total += 1
                continue
            r = runs.get(key)
            if r and r[5] and r[0] == fixed and payload <= r[2] and payload > 0 and \
                    r[3] < 64 and r[4] + payload <= 65535 and (kind == "udp" or seq == r[1]):
                r[1] = seq + payload
                r[3] += 1
                r[4] += payload
            else:
                if payload == 0:
                    total += 1
                    runs.pop(key, None)
                    continue
                total += 1  # a new run: one write
                r = [fixed, seq + payload, payload, 1, hdr + payload, True]
                runs[key] = r
            if payload < r[2] or (kind == "tcp" and flags & 0x08) or r[3] == 64:
                r[5] = False
    return total


def main():
    args = sys.argv[1:]
    batch = 64
    if args[:1] == ["--batch"]:
        batch = int(args[1])
        args = args[2:]
    for path in args:
        name = path.rsplit("/", 1)[-1]
        print(name, writes(path, batch))


if __name__ == "__main__":
    main()
