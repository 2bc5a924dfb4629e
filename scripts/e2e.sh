#!/usr/bin/env bash
# End-to-end benchmark of `tunbatch tunnel` (root): two network namespaces
# joined by a veth pair (MTU 1500), a tunnel in each (tunnel MTU 1420), iperf3
# through the tunnel: TCP with 1 and 4 streams, the reverse direction, and
# UDP at a fixed offered rate with the loss iperf3 reports. Modes run
# interleaved, round by round (this machine is noisy); the table gives the
# median of the rounds and their range.
#
#   scripts/e2e.sh BUILD [--peers] [--quick]
#
# BUILD holds tools/tunbatch and tests/tb_impair (make e2e builds it: build-e2e).
# --peers also measures tunnels from Debian's packages: tinc, OpenVPN, fastd,
# Nebula and wireguard-go (installed with apt-get when missing). --quick: one
# round of 3 seconds (a smoke run, not a measurement).
# Environment: ROUNDS (3), DURATION (iperf3 -t, 5), UDP_RATE (iperf3 -b, 2G),
# MODES (a subset, in order), OUT (BUILD/e2e: table.md, e2e.json, e2e.png, logs),
# CHART (a second copy of the chart, e.g. docs/e2e.png).
#
# Namespaces: tnl_a, tnl_b and, for the reordering modes, tnl_r (a relay that
# reorders 2% of the datagrams between the two). Only processes this script
# started are stopped, by PID; everything is removed on exit.
set -u -o pipefail

BUILD=${1:-}
[ -n "$BUILD" ] && [ -x "$BUILD/tools/tunbatch" ] || {
	echo "usage: $0 BUILD [--peers] [--quick]   (BUILD/tools/tunbatch must exist)" >&2
	exit 2
}
BUILD=$(cd "$BUILD" && pwd)
shift
PEERS=0
for a in "$@"; do
	case $a in
	--peers) PEERS=1 ;;
	--quick) ROUNDS=1 DURATION=3 ;;
	*) echo "e2e: unknown option $a" >&2; exit 2 ;;
	esac
done
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
UDP_RATE=${UDP_RATE:-2G}
OUT=${OUT:-$BUILD/e2e}
CLI=$BUILD/tools/tunbatch
IMPAIR=$BUILD/tests/tb_impair
SRC=$(cd "$(dirname "$0")/.." && pwd)

NSA=tnl_a NSB=tnl_b NSR=tnl_r
UA=192.168.70.1 UB=192.168.70.2 TA=10.70.0.1 TB=10.70.0.2
# the relay's two legs (reordering modes)
RA1=192.168.71.1 RA2=192.168.71.2 RB1=192.168.72.1 RB2=192.168.72.2
PORT=51900

# mode : tests : what it is
MODE_LIST="
kernel:p1 p4 rev udp:the kernel over the bare veth, no tunnel (the limit)
tb-aes:p1 p4 rev udp:tunbatch tunnel, AES-256-GCM
tb-chacha:p1 p4 rev udp:tunbatch tunnel, ChaCha20-Poly1305
tb-none:p1 p4 rev udp:tunbatch tunnel, --cipher none
tb-no-tun-off:p1 rev:tunbatch, --cipher none --no-tun-offload
tb-no-carrier-off:p1 rev:tunbatch, --cipher none --no-carrier-offload
tb-classic:p1 rev:tunbatch, --cipher none, both off: one packet per TUN read or write, one datagram per UDP message (sendmmsg and recvmmsg still batch messages)
tb-reorder-on:p1:tunbatch AES-256-GCM through a relay reordering 2%, ordering on
tb-reorder-off:p1:the same with --no-order
tinc:p1 rev:tinc 1.0, Cipher = none, Digest = none
openvpn:p1 rev:OpenVPN 2.6 p2p, --cipher none --auth none
fastd:p1 rev:fastd, method null, MTU 1420
nebula:p1 rev:Nebula 1.6, AES-256-GCM
wireguard-go:p1 rev:wireguard-go, ChaCha20-Poly1305
"
TB_MODES="kernel tb-aes tb-chacha tb-none tb-no-tun-off tb-no-carrier-off tb-classic tb-reorder-on tb-reorder-off"
PEER_MODES="tinc openvpn fastd nebula wireguard-go"
if [ -z "${MODES:-}" ]; then
	MODES=$TB_MODES
	[ $PEERS = 1 ] && MODES="$MODES $PEER_MODES"
fi

log() { printf '[e2e %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (namespaces, TUN devices)"
command -v iperf3 >/dev/null || die "no iperf3 (make e2e installs it)"
command -v python3 >/dev/null || die "no python3"

if [ $PEERS = 1 ]; then
	"$SRC/scripts/deps.sh" tinc openvpn fastd nebula wireguard-go wireguard-tools openssl ||
		die "cannot install the peer tunnels"
fi

rm -rf "$OUT"
mkdir -p "$OUT/work"
WORK=$OUT/work
RAW=$OUT/raw.tsv
: >"$RAW"
STARTED=()
TUNPIDS=()

stop_pid() {
	local p=$1 i keep=()
	for i in "${STARTED[@]}"; do [ "$i" = "$p" ] || keep+=("$i"); done
	STARTED=("${keep[@]}")
	kill -0 "$p" 2>/dev/null || { wait "$p" 2>/dev/null; return 0; }
	kill -TERM "$p" 2>/dev/null
	for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	return 0
}
cleanup() {
	local p
	for p in "${STARTED[@]}"; do stop_pid "$p"; done
	for ns in $NSA $NSB $NSR; do ip netns del $ns 2>/dev/null; done
	rm -f /var/run/wireguard/tnl_wga.sock /var/run/wireguard/tnl_wgb.sock
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bg_in() { # bg_in NS LOG cmd...: the PID in BGPID
	local ns=$1 lf=$2
	shift 2
	ip netns exec "$ns" "$@" >"$lf" 2>&1 &
	BGPID=$!
	STARTED+=("$BGPID")
}

# ------------------------------------------------------------------ topology
for ns in $NSA $NSB $NSR; do ip netns del $ns 2>/dev/null; done
ip netns add $NSA && ip netns add $NSB && ip netns add $NSR || die "cannot create namespaces"
for ns in $NSA $NSB $NSR; do ip -n $ns link set lo up; done
ip link add tnl_va netns $NSA mtu 1500 type veth peer name tnl_vb netns $NSB mtu 1500 || die veth
ip -n $NSA addr add $UA/24 dev tnl_va
ip -n $NSB addr add $UB/24 dev tnl_vb
ip -n $NSA link set tnl_va up
ip -n $NSB link set tnl_vb up
ip link add tnl_ra netns $NSA mtu 1500 type veth peer name tnl_r1 netns $NSR mtu 1500 || die veth
ip link add tnl_rb netns $NSB mtu 1500 type veth peer name tnl_r2 netns $NSR mtu 1500 || die veth
ip -n $NSA addr add $RA1/24 dev tnl_ra
ip -n $NSR addr add $RA2/24 dev tnl_r1
ip -n $NSB addr add $RB1/24 dev tnl_rb
ip -n $NSR addr add $RB2/24 dev tnl_r2
ip -n $NSA link set tnl_ra up
ip -n $NSB link set tnl_rb up
ip -n $NSR link set tnl_r1 up
ip -n $NSR link set tnl_r2 up

"$CLI" genkey >"$WORK/key" && chmod 600 "$WORK/key" || die "tunbatch genkey failed"

wait_ping() { # through the tunnel, with a TCP connect (no ping needed)
	local i
	for i in $(seq 50); do
		ip netns exec $NSA timeout 1 bash -c "exec 3<>/dev/tcp/$1/5201" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}
tun_mtu() { ip -n $NSA -o link show dev "$1" 2>/dev/null | sed -n 's/.* mtu \([0-9]*\) .*/\1/p'; }

# ------------------------------------------------------------------ tunnels
up_tb() { # up_tb "FLAGS" [relay]
	local flags=$1 via=${2:-} n i peer listen
	if [ -n "$via" ]; then
		bg_in $NSR "$WORK/impair.log" "$IMPAIR" --a $RA2:$PORT --a-peer $RA1:$PORT \
			--b $RB2:$PORT --b-peer $RB1:$PORT --reorder 20 --seed 7
		RELAYPID=$BGPID
	fi
	for n in a b; do
		if [ $n = a ]; then
			ns=$NSA listen=$UA peer=$UB
			[ -n "$via" ] && listen=$RA1 peer=$RA2
		else
			ns=$NSB listen=$UB peer=$UA
			[ -n "$via" ] && listen=$RB1 peer=$RB2
		fi
		# shellcheck disable=SC2086
		bg_in $ns "$WORK/tb-$n.log" "$CLI" tunnel --tun tnl_tb --listen $listen:$PORT \
			--peer $peer:$PORT --key "$WORK/key" --stats 1000 --json $flags
		TUNPIDS+=("$BGPID")
	done
	for n in a b; do
		[ $n = a ] && ns=$NSA || ns=$NSB
		for i in $(seq 50); do ip -n $ns link show tnl_tb >/dev/null 2>&1 && break; sleep 0.1; done
		ip -n $ns addr add $([ $n = a ] && echo $TA || echo $TB)/24 dev tnl_tb ||
			{ FAIL="tunbatch: no device in $ns: $(tail -2 "$WORK/tb-$n.log")"; return 1; }
	done
	MTU=$(tun_mtu tnl_tb)
}

up_tinc() {
	local n h u t pu
	for n in a b; do
		mkdir -p "$WORK/tinc/$n/hosts"
		if [ $n = a ]; then u=$UA t=$TA; else u=$UB t=$TB; fi
		[ -s "$WORK/tinc/$n/rsa_key.priv" ] || {
			openssl genrsa -traditional -out "$WORK/tinc/$n/rsa_key.priv" 2048 >/dev/null 2>&1
			openssl rsa -in "$WORK/tinc/$n/rsa_key.priv" -RSAPublicKey_out \
				-out "$WORK/tinc/$n/rsa_key.pub" >/dev/null 2>&1
		}
		printf 'Name = %s\nInterface = tnl_tinc\nAddressFamily = ipv4\nBindToAddress = %s\n' $n $u \
			>"$WORK/tinc/$n/tinc.conf"
		[ $n = a ] && echo "ConnectTo = b" >>"$WORK/tinc/$n/tinc.conf"
		printf '#!/bin/sh\nip addr add %s/24 dev $INTERFACE\nip link set $INTERFACE up\n' $t \
			>"$WORK/tinc/$n/tinc-up"
		chmod +x "$WORK/tinc/$n/tinc-up"
	done
	for h in a b; do
		if [ $h = a ]; then u=$UA t=$TA; else u=$UB t=$TB; fi
		{ printf 'Cipher = none\nDigest = none\nAddress = %s\nPort = 655\nSubnet = %s/32\n\n' $u $t
		  cat "$WORK/tinc/$h/rsa_key.pub"; } >"$WORK/tinc/$h.host"
		cp "$WORK/tinc/$h.host" "$WORK/tinc/a/hosts/$h"
		cp "$WORK/tinc/$h.host" "$WORK/tinc/b/hosts/$h"
	done
	for n in b a; do
		[ $n = a ] && ns=$NSA || ns=$NSB
		bg_in $ns "$WORK/tinc-$n.log" tincd -c "$WORK/tinc/$n" -D -d1 --pidfile "$WORK/tinc/$n.pid"
		TUNPIDS+=("$BGPID")
		sleep 0.5
	done
	# tinc sends large packets over its TCP meta connection until its path MTU probe is done
	for i in $(seq 40); do grep -q 'Fixing MTU' "$WORK/tinc-a.log" 2>/dev/null && break; sleep 1; done
	MTU=$(tun_mtu tnl_tinc)
}

up_openvpn() {
	local n u pu t pt
	for n in b a; do
		if [ $n = a ]; then ns=$NSA u=$UA pu=$UB t=$TA pt=$TB; else ns=$NSB u=$UB pu=$UA t=$TB pt=$TA; fi
		bg_in $ns "$WORK/ovpn-$n.log" openvpn --dev-type tun --dev tnl_ovpn --proto udp --local $u \
			--lport 1194 --remote $pu --rport 1194 --ifconfig $t $pt --disable-dco --verb 3 \
			--cipher none --auth none
		TUNPIDS+=("$BGPID")
	done
	for i in $(seq 100); do grep -q 'Initialization Sequence Completed' "$WORK/ovpn-a.log" 2>/dev/null && break; sleep 0.2; done
	MTU=$(tun_mtu tnl_ovpn)
}

up_fastd() {
	local n o u pu t pt
	mkdir -p "$WORK/fastd"
	for n in a b; do
		[ -s "$WORK/fastd/$n.sec" ] || {
			fastd --generate-key --machine-readable >"$WORK/fastd/$n.sec" 2>/dev/null
			printf 'secret "%s";\n' "$(cat "$WORK/fastd/$n.sec")" >"$WORK/fastd/$n.keyconf"
			fastd -c "$WORK/fastd/$n.keyconf" --show-key --machine-readable >"$WORK/fastd/$n.pub" 2>/dev/null
		}
	done
	for n in a b; do
		if [ $n = a ]; then o=b u=$UA pu=$UB t=$TA pt=$TB; else o=a u=$UB pu=$UA t=$TB pt=$TA; fi
		cat >"$WORK/fastd/$n.conf" <<EOF
log level warn;
mode tun;
interface "tnl_fastd";
method "null";
mtu 1420;
bind $u:10000;
secret "$(cat "$WORK/fastd/$n.sec")";
on up "ip addr add $t peer $pt dev \$INTERFACE && ip link set up dev \$INTERFACE";
peer "$o" {
  key "$(cat "$WORK/fastd/$o.pub")";
  remote $pu:10000;
}
EOF
	done
	for n in b a; do
		[ $n = a ] && ns=$NSA || ns=$NSB
		bg_in $ns "$WORK/fastd-$n.log" fastd -c "$WORK/fastd/$n.conf"
		TUNPIDS+=("$BGPID")
		sleep 0.5
	done
	MTU=$(tun_mtu tnl_fastd)
}

up_nebula() {
	local n u pu t pt d=$WORK/neb
	mkdir -p "$d"
	[ -s "$d/ca.crt" ] || {
		nebula-cert ca -name tnl-ca -duration 720h -out-crt "$d/ca.crt" -out-key "$d/ca.key" >/dev/null
		nebula-cert sign -ca-crt "$d/ca.crt" -ca-key "$d/ca.key" -name a -ip $TA/24 \
			-out-crt "$d/a.crt" -out-key "$d/a.key" >/dev/null
		nebula-cert sign -ca-crt "$d/ca.crt" -ca-key "$d/ca.key" -name b -ip $TB/24 \
			-out-crt "$d/b.crt" -out-key "$d/b.key" >/dev/null
	}
	for n in a b; do
		if [ $n = a ]; then u=$UA pu=$UB pt=$TB; else u=$UB pu=$UA pt=$TA; fi
		cat >"$d/$n.yml" <<EOF
pki: {ca: $d/ca.crt, cert: $d/$n.crt, key: $d/$n.key}
static_host_map: {"$pt": ["$pu:4242"]}
lighthouse: {am_lighthouse: false, hosts: []}
listen: {host: $u, port: 4242}
punchy: {punch: false}
tun: {dev: tnl_neb}
logging: {level: info}
firewall:
  outbound: [{port: any, proto: any, host: any}]
  inbound: [{port: any, proto: any, host: any}]
EOF
	done
	for n in b a; do
		[ $n = a ] && ns=$NSA || ns=$NSB
		bg_in $ns "$WORK/neb-$n.log" nebula -config "$d/$n.yml"
		TUNPIDS+=("$BGPID")
	done
	sleep 1
	MTU=$(tun_mtu tnl_neb)
}

up_wg() {
	local n o u pu t pt d=$WORK/wg
	mkdir -p "$d"
	for n in a b; do
		[ -s "$d/$n.key" ] || { (umask 077; wg genkey >"$d/$n.key"); wg pubkey <"$d/$n.key" >"$d/$n.pub"; }
	done
	# distinct names: wireguard-go's control socket is not per namespace
	for n in a b; do
		[ $n = a ] && ns=$NSA || ns=$NSB
		bg_in $ns "$WORK/wg-$n.log" env WG_PROCESS_FOREGROUND=1 wireguard-go -f tnl_wg$n
		TUNPIDS+=("$BGPID")
	done
	for n in a b; do
		if [ $n = a ]; then ns=$NSA o=b pu=$UB t=$TA pt=$TB; else ns=$NSB o=a pu=$UA t=$TB pt=$TA; fi
		for i in $(seq 50); do [ -S /var/run/wireguard/tnl_wg$n.sock ] && break; sleep 0.1; done
		ip netns exec $ns wg set tnl_wg$n private-key "$d/$n.key" listen-port 51820 \
			peer "$(cat "$d/$o.pub")" allowed-ips $pt/32 endpoint $pu:51820 || { FAIL="wg set"; return 1; }
		ip -n $ns addr add $t/24 dev tnl_wg$n && ip -n $ns link set tnl_wg$n up
	done
	MTU=$(tun_mtu tnl_wga)
}

IPERF_SRV=
RELAYPID=
mode_up() {
	TUNPIDS=() FAIL= MTU= TARGET=$TB RELAYPID=
	case $1 in
	kernel) TARGET=$UB MTU=1500 ;;
	tb-aes) up_tb "--cipher aes-256-gcm" ;;
	tb-chacha) up_tb "--cipher chacha20-poly1305" ;;
	tb-none) up_tb "--cipher none" ;;
	tb-no-tun-off) up_tb "--cipher none --no-tun-offload" ;;
	tb-no-carrier-off) up_tb "--cipher none --no-carrier-offload" ;;
	tb-classic) up_tb "--cipher none --no-tun-offload --no-carrier-offload" ;;
	tb-reorder-on) up_tb "--cipher aes-256-gcm" relay ;;
	tb-reorder-off) up_tb "--cipher aes-256-gcm --no-order" relay ;;
	tinc) up_tinc ;;
	openvpn) up_openvpn ;;
	fastd) up_fastd ;;
	nebula) up_nebula ;;
	wireguard-go) up_wg ;;
	*) FAIL="unknown mode $1" ;;
	esac
	[ -n "$FAIL" ] && return 1
	bg_in $NSB "$WORK/iperf3-server.log" iperf3 -s -B $TARGET
	IPERF_SRV=$BGPID
	wait_ping $TARGET || { FAIL="nothing gets through (logs in $WORK)"; return 1; }
}
mode_down() {
	local p
	[ -n "$IPERF_SRV" ] && stop_pid "$IPERF_SRV"
	IPERF_SRV=
	for p in "${TUNPIDS[@]}"; do stop_pid "$p"; done
	[ -n "$RELAYPID" ] && stop_pid "$RELAYPID"
	TUNPIDS=() RELAYPID=
	sleep 0.3
}

cpu_ticks() { # utime + stime of the PIDs and their threads
	local p s=0 f
	for p in "$@"; do
		f=$(cat /proc/$p/stat 2>/dev/null) || continue
		f=${f##*) }
		set -- $f
		s=$((s + ${12} + ${13}))
	done
	echo $s
}
# The tunnel's own processes, not the `ip netns exec` wrappers that started them.
tunnel_pids() {
	local p c
	for p in "${TUNPIDS[@]}"; do
		c=$(cat /proc/$p/task/$p/children 2>/dev/null)
		echo "${c:-$p}"
	done
}

measure() { # measure ROUND MODE TEST
	local r=$1 m=$2 t=$3 args j=$WORK/iperf-$2-$3-$1.json c0 c1 pids
	case $t in
	p1) args="" ;;
	p4) args="-P 4" ;;
	rev) args="-R" ;;
	udp) args="-u -b $UDP_RATE -l 1340" ;; # fits the TCP MSS of MTU 1420: no warning
	esac
	pids=$(tunnel_pids)
	c0=$(cpu_ticks $pids)
	# shellcheck disable=SC2086
	timeout -k 5 $((DURATION + 30)) ip netns exec $NSA iperf3 -c $TARGET -t $DURATION -J $args >"$j" 2>"$j.err"
	c1=$(cpu_ticks $pids)
	python3 - "$j" "$r" "$m" "$t" "$((c1 - c0))" "$(getconf CLK_TCK)" "${MTU:-?}" >>"$RAW" <<'EOF'
import json, sys
j, r, m, t, ticks, hz, mtu = sys.argv[1:]
try:
    d = json.load(open(j))
    e = d['end']
    if t == 'udp':
        s = e['sum']
        bps, nbytes, retr, lost = s['bits_per_second'], s['bytes'], '', s.get('lost_percent', 0.0)
        # the receiver's figure: what arrived
        bps = bps * (1 - lost / 100.0)
        nbytes = nbytes * (1 - lost / 100.0)
    else:
        rx = e['sum_received']
        bps, nbytes, retr, lost = rx['bits_per_second'], rx['bytes'], e['sum_sent'].get('retransmits', ''), ''
    print('\t'.join(map(str, [r, m, t, 'OK', bps / 1e9, int(nbytes), int(ticks) / int(hz), retr, lost, mtu])))
except Exception as ex:
    print('\t'.join([r, m, t, 'FAIL', str(ex).replace('\t', ' ').replace('\n', ' ')[:200]]))
EOF
	tail -1 "$RAW" | awk -F'\t' -v r="$r" -v n="$ROUNDS" '{
		if ($4 == "OK") printf "[e2e] round %s/%s %-18s %-4s %7.3f Gbit/s%s%s\n", r, n, $2, $3, $5,
			($8 != "" ? "  retransmits " $8 : ""), ($9 != "" ? sprintf("  lost %.2f%%", $9) : "");
		else printf "[e2e] round %s/%s %-18s %-4s FAILED: %s\n", r, n, $2, $3, $5 }' >&2
}

# ------------------------------------------------------------------ run
log "modes: $MODES; $ROUNDS rounds of ${DURATION}s; UDP at $UDP_RATE; output in $OUT"
for r in $(seq "$ROUNDS"); do
	for m in $MODES; do
		tests=$(printf '%s\n' "$MODE_LIST" | awk -F: -v m="$m" '$1==m{print $2}')
		[ -n "$tests" ] || die "unknown mode $m"
		if mode_up "$m"; then
			for t in $tests; do measure "$r" "$m" "$t"; done
		else
			log "round $r: $m FAILED: $FAIL"
			for t in $tests; do printf '%s\t%s\t%s\tFAIL\t%s\n' "$r" "$m" "$t" "$FAIL" >>"$RAW"; done
		fi
		mode_down
	done
done

python3 "$SRC/scripts/e2e-report.py" "$RAW" "$OUT" "$MODES" "$MODE_LIST" "$ROUNDS" "$DURATION" "$UDP_RATE" ||
	die "report failed"
if command -v gnuplot >/dev/null; then
	gnuplot "$OUT/chart.gp" && log "chart: $OUT/e2e.png"
	[ -n "${CHART:-}" ] && cp "$OUT/e2e.png" "$CHART" && log "chart copied to $CHART"
else
	log "no gnuplot: no chart (apt-get install gnuplot-nox)"
fi
cat "$OUT/table.md"
