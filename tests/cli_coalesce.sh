#!/bin/sh
# tunbatch coalesce on every shared trace (or the bundled examples): the
# summary, OUT.pcap and the vnet log must agree with each other and with the
# input, and the write counts must be exactly the greedy reference's
# (tests/greedy_reference.py).
# Usage: sh tests/cli_coalesce.sh CLI SRC_DIR
. "$(dirname "$0")/cli-lib.sh"
need_python3 check the output
make_tmp coalesce

traces="$src/../shared/traces"
if [ -d "$traces" ] && ls "$traces"/*.pcap >/dev/null 2>&1; then
	shared=1
else
	traces="$src/examples"
	shared=0
fi

# The greedy GRO reference at batch 64, computed independently of the library.
reference() {
	python3 "$src/tests/greedy_reference.py" "$1" | awk '{print $2}'
}

# Reads IN.pcap, OUT.pcap and the vnet log independently of the CLI and
# prints "records writes segments" after checking that OUT carries exactly
# the input's L4 payload bytes, per protocol, with consistent headers.
check_out() {
	python3 - "$@" <<'PY'
import json, struct, sys

def records(path):
    with open(path, 'rb') as f:
        data = f.read()
    magic = struct.unpack_from('<I', data, 0)[0]
    assert magic in (0xa1b2c3d4, 0xa1b23c4d), 'not a little-endian pcap: %s' % path
    linktype = struct.unpack_from('<I', data, 20)[0]
    off, out = 24, []
    while off < len(data):
        _, _, incl, orig = struct.unpack_from('<IIII', data, off)
        off += 16
        assert off + incl <= len(data), 'record cut short in %s' % path
        out.append(data[off:off + incl])
        off += incl
    return linktype, out

def l4(pkt):
    """(proto, header length, payload bytes) of an IP packet, or None."""
    v = pkt[0] >> 4
    if v == 4:
        ihl = (pkt[0] & 15) * 4
        tot = struct.unpack_from('>H', pkt, 2)[0]
        assert tot == len(pkt), 'IPv4 total length %d, record %d' % (tot, len(pkt))
        proto = pkt[9]
    elif v == 6:
        ihl = 40
        plen = struct.unpack_from('>H', pkt, 4)[0]
        assert plen + 40 == len(pkt), 'IPv6 payload length %d, record %d' % (plen, len(pkt))
        proto = pkt[6]
    else:
        return None
    if proto == 6:
        h = ihl + (pkt[ihl + 12] >> 4) * 4
    elif proto == 17:
        h = ihl + 8
        assert struct.unpack_from('>H', pkt, ihl + 4)[0] == len(pkt) - ihl, 'UDP length'
    else:
        return (proto, len(pkt), 0)
    return (proto, h, len(pkt) - h)

inp, outp, logp = sys.argv[1:4]
lt_in, pin = records(inp)
lt_out, pout = records(outp)
assert lt_out == 101, 'OUT link type %d' % lt_out
with open(logp) as f:
    log = [json.loads(line) for line in f]
assert len(log) == len(pout), 'vnet log has %d lines, OUT %d records' % (len(log), len(pout))

def payload_by_proto(pkts):
    t = {}
    for p in pkts:
        r = l4(p)
        if r:
            t[r[0]] = t.get(r[0], 0) + r[2]
    return t

segments = 0
for p, v in zip(pout, log):
    assert set(v) == {'gso_type', 'gso_size', 'hdr_len', 'csum_start', 'csum_offset',
                      'needs_csum'}, v
    if v['gso_type'] == 'none':
        assert v['needs_csum'] is False and v['gso_size'] == 0, v
        segments += 1
        continue
    proto, h, pay = l4(p)
    want = {'tcpv4': (4, 6), 'tcpv6': (6, 6), 'udp_l4': (None, 17)}[v['gso_type']]
    assert proto == want[1] and (want[0] is None or p[0] >> 4 == want[0]), v
    assert v['needs_csum'] is True and v['hdr_len'] == h, (v, h)
    assert v['csum_offset'] == (16 if proto == 6 else 6), v
    assert 0 < v['gso_size'] and pay > v['gso_size'], (v, pay)
    n = -(-pay // v['gso_size'])
    assert 2 <= n <= 64 and len(p) <= 65535, (n, len(p))
    segments += n
assert payload_by_proto(pin) == payload_by_proto(pout), 'payload bytes differ per protocol'
print(len(pin), len(pout), segments)
PY
}

for trace in "$traces"/*.pcap; do
	name=$(basename "$trace" .pcap)
	out="$tmp/$name.out.pcap"
	log="$tmp/$name.vnet"
	json=$("$cli" coalesce --json --vnet-log "$log" "$trace" "$out")
	rc=$?
	[ $rc -eq 0 ] || { fail "$name: exit status $rc"; continue; }
	printf '%s\n' "$json" | python3 -m json.tool >/dev/null || fail "$name: --json is not valid JSON"
	pkts=$(num packets_in "$json")
	writes=$(num writes "$json")
	sps=$(num superpackets "$json")
	segs=$(num segments "$json")
	if ! counts=$(check_out "$trace" "$out" "$log"); then
		fail "$name: OUT.pcap / vnet log check"
		continue
	fi
	set -- $counts
	[ "$pkts" = "$1" ] || fail "$name: packets_in $pkts, the file has $1"
	[ "$shared" = 0 ] || [ "$pkts" = 6000 ] || fail "$name: packets_in $pkts, expected 6000"
	[ "$writes" = "$2" ] || fail "$name: summary says $writes writes, OUT.pcap has $2 records"
	[ "$3" = "$pkts" ] || fail "$name: OUT.pcap carries $3 packets, $pkts went in"
	[ "$(wc -l <"$log")" -eq "$writes" ] || fail "$name: vnet log lines != writes"
	[ $((writes - sps + segs)) -eq "$pkts" ] || fail "$name: writes - superpackets + segments != packets"
	if command -v tcpdump >/dev/null; then
		n=$(tcpdump -n -r "$out" 2>/dev/null | wc -l)
		[ "$n" -eq "$writes" ] || fail "$name: tcpdump reads $n records of $writes"
	fi
	# The readable summary reports the same run.
	text=$("$cli" coalesce "$trace")
	printf '%s\n' "$text" | grep -q "^writes out  *$writes " || fail "$name: text summary writes differ"
	printf '%s\n' "$text" | grep -q "^packets in  *$pkts " || fail "$name: text summary packets differ"

	ref=$(reference "$trace")
	echo "$name: $pkts packets, $writes writes (greedy reference $ref)"
	[ "$writes" = "$ref" ] || fail "$name: $writes writes, the greedy reference makes $ref"

	# Lanes off: every packet is its own write.
	j=$("$cli" coalesce --json --no-tcp --no-udp "$trace")
	[ "$(num writes "$j")" = "$pkts" ] || fail "$name: --no-tcp --no-udp gave $(num writes "$j") writes"
	[ "$(num superpackets "$j")" = 0 ] || fail "$name: superpackets with both lanes off"
	tcp=$(printf '%s\n' "$json" | sed -n 's/.*"lane_packets":{"tcp":\([0-9]*\),"udp":\([0-9]*\).*/\1 \2/p')
	set -- $tcp
	j=$("$cli" coalesce --json --no-tcp "$trace")
	[ "$(num superpackets "$j")" -le "$sps" ] || fail "$name: --no-tcp made more superpackets"
	if [ "$2" = 0 ]; then # TCP-only (or no TCP/UDP at all): nothing left to merge
		[ "$(num writes "$j")" = "$pkts" ] || fail "$name: --no-tcp gave $(num writes "$j") writes"
	fi
	j=$("$cli" coalesce --json --no-udp "$trace")
	if [ "$1" = 0 ]; then
		[ "$(num writes "$j")" = "$pkts" ] || fail "$name: --no-udp gave $(num writes "$j") writes"
	fi
	if [ "$2" = 0 ]; then # no UDP: turning its lane off changes nothing
		[ "$(num writes "$j")" = "$writes" ] || fail "$name: --no-udp changed a UDP-free trace"
	fi
	# --verify-csum: the traces' checksums are all valid, so nothing changes.
	j=$("$cli" coalesce --json --verify-csum "$trace")
	[ "$(num writes "$j")" = "$writes" ] || fail "$name: --verify-csum gave $(num writes "$j") writes"
	# Bigger bursts never need more writes than --batch 1 (one write per packet).
	j=$("$cli" coalesce --json --batch 1 "$trace")
	[ "$(num writes "$j")" = "$pkts" ] || fail "$name: --batch 1 gave $(num writes "$j") writes"
	# --order on a capture in its own order changes nothing and displaces nothing.
	j=$("$cli" coalesce --json --order "$trace" "$tmp/ord.pcap")
	[ "$(num writes "$j")" = "$writes" ] || fail "$name: --order gave $(num writes "$j") writes"
	[ "$(num displaced "$j")" = 0 ] || fail "$name: --order displaced $(num displaced "$j") packets"
	# --swap reorders; --order puts every burst back: the same bytes as without either.
	j=$("$cli" coalesce --json --swap 16 --order "$trace" "$tmp/swap-ord.pcap")
	[ "$(num writes "$j")" = "$writes" ] || fail "$name: --swap 16 --order gave $(num writes "$j") writes"
	cmp -s "$tmp/ord.pcap" "$tmp/swap-ord.pcap" || fail "$name: --swap 16 --order wrote other bytes"
	if [ "$sps" -gt 0 ] && [ "$pkts" -ge 16 ]; then
		[ "$(num displaced "$j")" -gt 0 ] || fail "$name: --swap 16 displaced nothing"
	fi
done

# --json always has swap, order and displaced; the text has a line for each
# of --swap and --order only when it is given.
ex="$src/examples/mixed.pcap"
j=$("$cli" coalesce --json "$ex")
case $j in
*'"swap":0,"order":false,"displaced":0}') ;;
*) fail "--json without --swap and --order: $j" ;;
esac
j=$("$cli" coalesce --json --swap 16 --order "$ex")
case $j in
*'"swap":16,"order":true,"displaced":'[1-9]*) ;;
*) fail "--json --swap 16 --order: $j" ;;
esac
t=$("$cli" coalesce "$ex")
case $t in *swapped* | *"order restored"*) fail "swapped or order restored without the options" ;; esac
t=$("$cli" coalesce --swap 16 --order "$ex")
printf '%s\n' "$t" | grep -q '^swapped  *one adjacent pair in every 16 packets$' ||
	fail "no swapped line with --swap 16"
printf '%s\n' "$t" | grep -Eq '^order restored +[1-9][0-9]* packets arrived displaced$' ||
	fail "no order restored line with --order"

finish
