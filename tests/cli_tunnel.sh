#!/bin/sh
# tunbatch genkey and the setup errors of tunbatch tunnel that need no
# device: each exits 2 with one line naming its cause, before any TUN device
# exists. (ktest_tunnel runs the tunnel itself.)
# Usage: sh tests/cli_tunnel.sh CLI SRC_DIR
. "$(dirname "$0")/cli-lib.sh"
make_tmp tunnel

# genkey: 44 base64 characters, a new key every time.
k1=$("$cli" genkey) || fail "genkey: exit status $?"
k2=$("$cli" genkey)
printf '%s\n' "$k1" | grep -Eq '^[A-Za-z0-9+/]{43}=$' || fail "genkey printed '$k1'"
[ "$k1" != "$k2" ] || fail "genkey printed the same key twice"
"$cli" genkey extra >/dev/null 2>&1 && fail "genkey took an argument"

(umask 077 && printf '%s\n' "$k1" >"$tmp/key")
printf 'not a key\n' >"$tmp/bad"
chmod 600 "$tmp/bad"

# expect WORD CASE-NAME ARGS...: exit status 2, a last stderr line naming WORD.
expect() {
	word=$1 what=$2
	shift 2
	"$cli" tunnel "$@" >"$tmp/stdout" 2>"$tmp/stderr"
	rc=$?
	msg=$(tail -n 1 "$tmp/stderr")
	echo "$what: exit $rc: $msg"
	[ "$rc" -eq 2 ] || fail "$what: exit status $rc, expected 2"
	case $msg in
	*"$word"*) ;;
	*) fail "$what: the message does not name '$word'" ;;
	esac
	[ ! -s "$tmp/stdout" ] || fail "$what: output on stdout"
}

expect "--tun NAME is required" no-tun --listen 127.0.0.1:1 --key "$tmp/key"
expect "--listen ADDR:PORT is required" no-listen --tun x --key "$tmp/key"
expect "--key FILE is required" no-key --tun x --listen 127.0.0.1:1
expect "unknown cipher 'rot13'" cipher --tun x --listen 127.0.0.1:1 --key "$tmp/key" --cipher rot13
expect "--queues" queues --tun x --listen 127.0.0.1:1 --key "$tmp/key" --queues 0
expect "--mtu" mtu --tun x --listen 127.0.0.1:1 --key "$tmp/key" --mtu 70000
expect "more than 0 and at most 86400" stats --tun x --listen 127.0.0.1:1 --key "$tmp/key" \
	--stats 86401
expect "not a valid interface name" tun-name --tun 0123456789abcdefXYZ --listen 127.0.0.1:1 --key "$tmp/key"
expect "cannot open '$tmp/missing'" missing-key --tun x --listen 127.0.0.1:1 --key "$tmp/missing"
expect "does not hold a key" bad-key --tun x --listen 127.0.0.1:1 --key "$tmp/bad"
expect "is not ADDR:PORT" bad-listen --tun x --listen 127.0.0.1 --key "$tmp/key"
expect "cannot resolve 'no-such-host.invalid'" bad-peer --tun x --listen 127.0.0.1:1 \
	--peer no-such-host.invalid:1 --key "$tmp/key"
# 192.0.2.1 (TEST-NET-1) is no address of this machine: the socket fails before any device.
expect "cannot listen on 192.0.2.1:9" not-local --tun x --listen 192.0.2.1:9 --key "$tmp/key"

# The help gives the options' ranges, and what --json prints without --stats.
help=$("$cli" tunnel --help) || fail "tunnel --help: exit status $?"
for w in "--queues N" 1..64 576..65475 "--stats SECONDS" 86400 "fractions" '"final"'; do
	case $help in
	*"$w"*) ;;
	*) fail "tunnel --help does not say '$w'" ;;
	esac
done

# Queue q uses port PORT+q: a port that would carry the last queue past 65535
# is refused, not wrapped around to 0 and up. (tb/x, a name the kernel
# refuses: no device even if the check were missing.)
expect "port 65535 with --queues 2 would put queue 1 on port 65536" listen-port-wraps \
	--tun tb/x --listen 127.0.0.1:65535 --queues 2 --key "$tmp/key"
expect "--peer: port 65534 with --queues 3" peer-port-wraps --tun tb/x \
	--listen 127.0.0.1:40000 --peer 127.0.0.1:65534 --queues 3 --key "$tmp/key"

# libcrypto without its default provider can't set up the cipher: a setup
# failure, so status 2, with libcrypto's reason. The device name is one the
# kernel refuses, so that no device is made whatever the order of the steps.
cat >"$tmp/openssl.cnf" <<'EOF'
openssl_conf = init
[init]
providers = providers
[providers]
null = null
[null]
activate = 1
EOF
export OPENSSL_CONF="$tmp/openssl.cnf"
expect "libcrypto could not set up aes-256-gcm: error:" no-cipher --tun tb/x \
	--listen 127.0.0.1:1 --key "$tmp/key"
unset OPENSSL_CONF

# A key file others can read still works, with a warning.
chmod 644 "$tmp/key"
"$cli" tunnel --tun x --listen 127.0.0.1 --key "$tmp/key" 2>"$tmp/stderr"
grep -q "accessible by group or others" "$tmp/stderr" || fail "no warning for a mode 644 key file"
finish
