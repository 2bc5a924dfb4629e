#!/bin/sh
# Replays the bundled example traces through `tunbatch coalesce` and prints,
# per trace, how many TUN writes the coalescer makes at a few burst sizes.
# Usage: scripts/demo.sh PATH/TO/tunbatch [TRACE.pcap...]
set -eu

cli=${1:?usage: scripts/demo.sh PATH/TO/tunbatch [TRACE.pcap...]}
shift
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || set -- "$here"/examples/*.pcap
[ -e "$1" ] || { echo "demo: no traces in $here/examples" >&2; exit 1; }

describe() {
	case $1 in
	tcp4_bulk*) echo "one TCP/IPv4 bulk flow" ;;
	tcp4_4flows*) echo "four interleaved TCP/IPv4 bulk flows" ;;
	tcp6_bulk*) echo "one TCP/IPv6 bulk flow" ;;
	tcp4_bidir*) echo "TCP data plus the pure ACKs of the reverse flow" ;;
	udp4_fixed*) echo "one UDP/IPv4 flow, 1372-byte datagrams" ;;
	udp6_fixed*) echo "one UDP/IPv6 flow, 1352-byte datagrams" ;;
	mixed*) echo "two TCP/IPv4 flows, UDP/IPv6, ICMP and ICMPv6" ;;
	*) echo "" ;;
	esac
}

# A number from the one-line JSON summary.
num() {
	printf '%s\n' "$2" | sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"
}

# The three most frequent reasons that ended runs, e.g. "psh 28, flush 13".
top_reasons() {
	printf '%s\n' "$1" | sed -n 's/.*"why":{\([^}]*\)}.*/\1/p' | tr ',' '\n' |
		sed -n 's/^"\([a-z_]*\)":\([1-9][0-9]*\)$/\1 \2/p' | head -n 3 |
		paste -s -d, - | sed 's/,/, /g'
}

row() {
	label=$1
	shift
	json=$("$cli" coalesce --json "$@")
	printf '  %-10s %8s %8s %12s %13s %11s   %s\n' "$label" "$(num packets_in "$json")" \
		"$(num writes "$json")" "$(num packets_per_write "$json")" \
		"$(num superpackets "$json")" "$(num segments_per_superpacket "$json")" \
		"$(top_reasons "$json")"
}

echo "tunbatch $("$cli" --version | sed -n 's/^tunbatch \([^ ]*\).*/\1/p'): each burst of N packets is committed, then flushed;"
echo "a write is one TUN write: a TSO/USO superpacket or a single packet."
for trace in "$@"; do
	name=$(basename "$trace")
	echo
	echo "$name: $(describe "$name")"
	printf '  %-10s %8s %8s %12s %13s %11s   %s\n' "burst" "packets" "writes" \
		"pkts/write" "superpackets" "segs/super" "runs ended by (top 3)"
	row "no merge" --no-tcp --no-udp "$trace"
	for b in 16 64 256; do
		row "$b" --batch "$b" "$trace"
	done
done
