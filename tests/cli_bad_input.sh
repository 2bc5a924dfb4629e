#!/bin/sh
# tunbatch coalesce on captures whose records are bad in ways the other CLI
# tests leave out: records longer than the file's snap length (libpcap cuts
# them to it: committed, counted as snap-truncated, malformed in their lane),
# a record past libpcap's 256 KiB limit (exit 2, one line naming the file),
# records of 64 KiB and more, and link headers cut anywhere (skipped and
# counted, never read past).
# Usage: sh tests/cli_bad_input.sh CLI SRC_DIR
. "$(dirname "$0")/cli-lib.sh"
need_python3 build the captures
make_tmp bad_input

python3 - "$tmp" <<'PY'
import struct, sys

tmp = sys.argv[1]

def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

def tcp4(seq, n, total=None):
    src, dst = bytes([10, 9, 0, 1]), bytes([10, 9, 0, 2])
    pay = bytes((i * 7) & 0xff for i in range(n))
    th = struct.pack('!HHIIBBHHH', 1000, 2000, seq, 1, 5 << 4, 0x10, 500, 0, 0)
    c = csum(src + dst + struct.pack('!BBH', 0, 6, 20 + n) + th + pay)
    th = th[:16] + struct.pack('!H', c) + th[18:]
    tot = 40 + n if total is None else total
    ih = struct.pack('!BBHHHBBH4s4s', 0x45, 0, tot, 1, 0x4000, 64, 6, 0, src, dst)
    ih = ih[:10] + struct.pack('!H', csum(ih)) + ih[12:]
    return ih + th + pay

def write(name, link, recs, snap=262144):
    with open(tmp + '/' + name, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, snap, link))
        for i, (data, caplen, length) in enumerate(recs):
            f.write(struct.pack('<IIII', 1, i, caplen, length) + data)

def rec(data):
    return (data, len(data), len(data))

# Records of 1,040 bytes in a file whose snap length is 100: cut to 100.
write('snap.pcap', 101, [rec(tcp4(1 + 1000 * i, 1000)) for i in range(4)], snap=100)
# A record header claiming 300,000 bytes: past what libpcap accepts.
write('huge.pcap', 101, [rec(tcp4(1, 100)), (tcp4(101, 100), 300000, 300000)])
# 64 KiB and more: a 70,000-byte record holding a 1,100-byte TCP packet
# (the rest is trimmed), and 262,144 bytes that are not IP (sent whole).
write('big.pcap', 101, [rec(tcp4(1, 1060) + bytes(70000 - 1100)), rec(bytes(262144))])
# Ethernet, Linux cooked v1 and v2 frames cut at every length before the IP
# packet, VLAN tags cut, non-IP EtherTypes; then one good frame each.
mac = bytes.fromhex('020000000002020000000001')
good = tcp4(1, 10)
eth = [(mac + b'\x08\x00')[:n] for n in range(14)]
eth += [mac + b'\x81\x00' + b'\x00\x05'[:n] for n in range(3)]
eth += [mac + b'\x81\x00\x00\x05\x88\xa8\x00\x07\x08', mac + b'\x08\x06' + bytes(28)]
write('eth.pcap', 1, [rec(f) for f in eth] + [rec(mac + b'\x08\x00' + good)])
sll = struct.pack('!HHH8sH', 0, 1, 6, bytes(8), 0x0800)
write('sll.pcap', 113, [rec(sll[:n]) for n in range(16)] + [rec(sll + good)])
sll2 = struct.pack('!HHIHBB8s', 0x86dd, 0, 2, 1, 0, 6, bytes(8))
write('sll2.pcap', 276, [rec(sll2[:n]) for n in range(20)] + [rec(sll2[:0] + struct.pack('!H', 0x0800) + sll2[2:] + good)])
with open(tmp + '/counts', 'w') as f:
    f.write('%d %d %d\n' % (len(eth), 16, 20))
PY
[ $? -eq 0 ] || { echo "FAIL: building the captures"; exit 1; }

json() { # json FILE KEY...: a number from the --json summary
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    d = d[k]
print(d)' "$@"
}
run() { # run NAME ARGS...: exit status into $rc, summary in NAME.json
	name=$1
	shift
	"$cli" coalesce --json "$@" >"$tmp/$name.json" 2>"$tmp/$name.err"
	rc=$?
}

# Longer than the snap length: cut, counted, committed, malformed.
run snap "$tmp/snap.pcap" "$tmp/snap.out"
[ "$rc" -eq 0 ] || fail "snap: exit status $rc"
[ "$(json "$tmp/snap.json" records)" = 4 ] || fail "snap: records"
[ "$(json "$tmp/snap.json" snap_truncated)" = 4 ] || fail "snap: not counted as snap-truncated"
[ "$(json "$tmp/snap.json" packets_in)" = 4 ] || fail "snap: not every record committed"
[ "$(json "$tmp/snap.json" bytes_in)" = 400 ] || fail "snap: records not cut to the snap length"
[ "$(json "$tmp/snap.json" why malformed)" = 4 ] || fail "snap: cut packets not malformed"
[ "$(json "$tmp/snap.json" writes)" = 4 ] || fail "snap: writes"

# Past libpcap's limit: a readable error, the file named, exit 2.
run huge "$tmp/huge.pcap"
lines=$(wc -l <"$tmp/huge.err")
[ "$rc" -eq 2 ] || fail "huge: exit status $rc, expected 2"
[ "$lines" -eq 1 ] || fail "huge: $lines lines on stderr"
grep -q "huge.pcap" "$tmp/huge.err" || fail "huge: the message does not name the file"

# 64 KiB and more.
run big "$tmp/big.pcap" "$tmp/big.out"
[ "$rc" -eq 0 ] || fail "big: exit status $rc"
[ "$(json "$tmp/big.json" packets_in)" = 2 ] || fail "big: packets_in"
[ "$(json "$tmp/big.json" bytes_out)" = $((1100 + 262144)) ] || fail "big: bytes_out $(json "$tmp/big.json" bytes_out)"
python3 - "$tmp/big.out" <<'PY' || fail "big: OUT.pcap records"
import struct, sys
d = open(sys.argv[1], 'rb').read()
off, lens = 24, []
while off < len(d):
    incl = struct.unpack_from('<I', d, off + 8)[0]
    lens.append(incl)
    off += 16 + incl
sys.exit(0 if lens == [1100, 262144] else 1)
PY

# Cut link headers: skipped and counted, the one good frame committed.
set -- $(cat "$tmp/counts")
for c in "eth $1" "sll $2" "sll2 $3"; do
	set -- $c
	run "$1" "$tmp/$1.pcap"
	[ "$rc" -eq 0 ] || fail "$1: exit status $rc"
	[ "$(json "$tmp/$1.json" non_ip_skipped)" = "$2" ] || fail "$1: non_ip_skipped $(json "$tmp/$1.json" non_ip_skipped), expected $2"
	[ "$(json "$tmp/$1.json" packets_in)" = 1 ] || fail "$1: the good frame was not committed"
done

finish "snap length, 256 KiB limit, 64 KiB+ records, cut link headers"
