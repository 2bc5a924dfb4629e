#!/bin/sh
# The same packets under every link layer the CLI reads (Ethernet, 802.1Q and
# 802.1ad tags, Linux cooked v1 and v2, big-endian and nanosecond pcaps,
# pcapng) must coalesce exactly as the raw-IP original: byte-identical
# OUT.pcap and vnet log. Frames without IP are skipped and counted;
# snap-length-truncated records are still committed and counted.
# Usage: sh tests/cli_linktypes.sh CLI SRC_DIR
. "$(dirname "$0")/cli-lib.sh"
need_python3 build the captures
make_tmp linktypes
raw="$src/examples/mixed.pcap" # IPv4 and IPv6, TCP, UDP and ICMP
v4="$src/examples/tcp4_bulk.pcap"
[ -f "$raw" ] && [ -f "$v4" ] || { echo "FAIL: bundled examples missing"; exit 1; }

# Writes the converted captures; prints how many non-IP frames each holds.
python3 - "$raw" "$v4" "$tmp" <<'PY'
import struct, sys

def read(path):
    d = open(path, 'rb').read()
    assert struct.unpack_from('<I', d, 0)[0] == 0xa1b2c3d4
    off, out = 24, []
    while off < len(d):
        s, us, incl, orig = struct.unpack_from('<IIII', d, off)
        out.append((s, us, d[off + 16:off + 16 + incl]))
        off += 16 + incl
    return out

def write_pcap(path, linktype, recs, endian='<', magic=0xa1b2c3d4):
    with open(path, 'wb') as f:
        f.write(struct.pack(endian + 'IHHiIII', magic, 2, 4, 0, 0, 262144, linktype))
        for s, frac, data, *orig in recs:
            f.write(struct.pack(endian + 'IIII', s, frac, len(data), orig[0] if orig else len(data)))
            f.write(data)

def ethertype(pkt):
    return 0x0800 if pkt[0] >> 4 == 4 else 0x86dd

MAC = bytes.fromhex('020000000002020000000001')
ARP = bytes.fromhex('0001080006040001') + bytes(20)

def eth(pkt, tags=()):
    h = MAC
    for tpid, vid in tags:
        h += struct.pack('>HH', tpid, vid)
    return h + struct.pack('>H', ethertype(pkt)) + pkt

def sll(pkt, proto=None):
    return struct.pack('>HHH8sH', 0, 1, 6, MAC[6:] + b'\0\0', proto or ethertype(pkt)) + pkt

def sll2(pkt, proto=None):
    return struct.pack('>HHIHBB8s', proto or ethertype(pkt), 0, 3, 1, 0, 6,
                       MAC[6:] + b'\0\0') + pkt

raw_path, v4_path, tmp = sys.argv[1:4]
recs = read(raw_path)

def with_non_ip(frames, junk):
    """Every 97th position gets a frame that carries no IP packet."""
    out, n = [], 0
    for i, (s, us, f) in enumerate(frames):
        if i % 97 == 0:
            for j in junk:
                out.append((s, us, j))
                n += 1
        out.append((s, us, f))
    return out, n

conv = {
    'eth': (1, lambda p: eth(p), [MAC + b'\x08\x06' + ARP, MAC[:10]]),
    'vlan': (1, lambda p: eth(p, [(0x8100, 7)]),
             [MAC + b'\x81\x00\x00\x07\x08\x06' + ARP, MAC + b'\x81\x00\x00']),
    'qinq': (1, lambda p: eth(p, [(0x88a8, 100), (0x8100, 7)]),
             [MAC + b'\x88\xa8\x00\x64\x81\x00\x00\x07\x88\xcc' + bytes(30)]),
    'sll': (113, lambda p: sll(p), [sll(ARP, 0x0806), bytes(15)]),
    'sll2': (276, lambda p: sll2(p), [sll2(ARP, 0x0806), bytes(19)]),
}
counts = []
for name, (lt, f, junk) in conv.items():
    frames, n = with_non_ip([(s, us, f(p)) for s, us, p in recs], junk)
    write_pcap('%s/%s.pcap' % (tmp, name), lt, frames)
    counts.append('%s=%d' % (name, n))
# The same records in other pcap flavours.
write_pcap(tmp + '/big_endian.pcap', 101, recs, endian='>')
write_pcap(tmp + '/nanosec.pcap', 101, [(s, us * 1000, p) for s, us, p in recs], magic=0xa1b23c4d)
with open(tmp + '/pcapng.pcap', 'wb') as f:
    f.write(struct.pack('<IIIHHqI', 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28))
    f.write(struct.pack('<IIHHII', 1, 20, 101, 0, 262144, 20))
    for s, us, p in recs:
        pad = (-len(p)) % 4
        t = s * 1000000 + us
        blen = 32 + len(p) + pad
        f.write(struct.pack('<IIIIIII', 6, blen, 0, t >> 32, t & 0xffffffff, len(p), len(p)))
        f.write(p + bytes(pad) + struct.pack('<I', blen))
# LINKTYPE_IPV4 holds IPv4 only.
write_pcap(tmp + '/ipv4.pcap', 228, read(v4_path))
# Snap-length truncation: every 50th record keeps only its first 40 bytes.
cut = [(s, us, p[:40] if i % 50 == 0 else p, len(p)) for i, (s, us, p) in enumerate(recs)]
write_pcap(tmp + '/snap.pcap', 101, cut)
print(' '.join(counts))
with open(tmp + '/snapcount', 'w') as f:
    f.write('%d\n' % sum(1 for i, r in enumerate(recs) if i % 50 == 0 and len(r[2]) > 40))
PY
[ $? -eq 0 ] || { echo "FAIL: could not build the captures"; exit 1; }

"$cli" coalesce --json --vnet-log "$tmp/raw.vnet" "$raw" "$tmp/raw.out" >"$tmp/raw.json" ||
	fail "raw: exit $?"
"$cli" coalesce --json --vnet-log "$tmp/v4.vnet" "$v4" "$tmp/v4.out" >"$tmp/v4.json" ||
	fail "raw v4: exit $?"
base=$(cat "$tmp/raw.json")
echo "raw: $(num packets_in "$base") packets, $(num writes "$base") writes"

same_as() {
	name=$1 ref=$2 link=$3 skipped=$4
	j=$("$cli" coalesce --json --vnet-log "$tmp/$name.vnet" "$tmp/$name.pcap" "$tmp/$name.out")
	rc=$?
	echo "$name: exit $rc, $(num writes "$j") writes, $(num non_ip_skipped "$j") non-IP skipped"
	[ $rc -eq 0 ] || { fail "$name: exit status $rc"; return; }
	case $j in *"\"link_type\":\"$link\""*) ;; *) fail "$name: link type is not $link" ;; esac
	[ "$(num non_ip_skipped "$j")" = "$skipped" ] || fail "$name: $(num non_ip_skipped "$j") skipped, expected $skipped"
	cmp -s "$tmp/$ref.out" "$tmp/$name.out" || fail "$name: OUT.pcap differs from the raw run"
	cmp -s "$tmp/$ref.vnet" "$tmp/$name.vnet" || fail "$name: vnet log differs from the raw run"
}

# 1000 frames, a non-IP frame (or two) in front of every 97th: 11 positions.
same_as eth raw ethernet 22
same_as vlan raw ethernet 22
same_as qinq raw ethernet 11
same_as sll raw linux_sll 22
same_as sll2 raw linux_sll2 22
same_as big_endian raw raw 0
same_as nanosec raw raw 0
same_as pcapng raw raw 0
same_as ipv4 v4 raw 0

# Truncated records are committed, counted, and make it through verbatim.
want=$(cat "$tmp/snapcount")
j=$("$cli" coalesce --json "$tmp/snap.pcap" "$tmp/snap.out") || fail "snap: exit $?"
echo "snap: $(num snap_truncated "$j") snap-truncated records, $(num writes "$j") writes"
[ "$(num snap_truncated "$j")" = "$want" ] || fail "snap: snap_truncated $(num snap_truncated "$j"), expected $want"
[ "$(num packets_in "$j")" = "$(num packets_in "$base")" ] || fail "snap: not every record committed"
[ "$(num malformed "$j")" -ge 1 ] || fail "snap: no truncated packet counted as malformed"
[ "$(num writes "$j")" -ge "$(num writes "$base")" ] || fail "snap: fewer writes than the intact trace"

finish
