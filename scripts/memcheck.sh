#!/bin/sh
# valgrind memcheck over every unit test and the CLI on the bundled traces:
# any error or leak fails. Usage: scripts/memcheck.sh BUILD_DIR (a build
# without sanitizers).
set -e
build=$1
[ -d "$build/tests" ] || {
	echo "usage: $0 BUILD_DIR (configured with the tests)" >&2
	exit 2
}
src=$(cd "$(dirname "$0")/.." && pwd)
out=$build/memcheck
rm -rf "$out"
mkdir -p "$out"
vg="valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --show-leak-kinds=all
	--errors-for-leak-kinds=all --track-origins=yes --num-callers=30 --quiet"
fail=0
n=0
export CMOCKA_MESSAGE_OUTPUT=STDOUT

# check ok|any NAME CMD...: runs CMD under valgrind. Any valgrind report
# fails; with "ok" the command must also succeed (or skip: 77), with "any"
# (error paths) its own exit status does not matter.
check() {
	want=$1
	name=$2
	shift 2
	n=$((n + 1))
	set +e
	$vg --log-file="$out/$name.vg" "$@" >"$out/$name.out" 2>&1
	rc=$?
	set -e
	if [ "$rc" = 99 ] || [ -s "$out/$name.vg" ]; then
		echo "memcheck: $name: valgrind reported:" >&2
		cat "$out/$name.vg" >&2
		fail=$((fail + 1))
	elif [ "$want" = ok ] && [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		echo "memcheck: $name: exit status $rc" >&2
		tail -n 30 "$out/$name.out" >&2
		fail=$((fail + 1))
	else
		echo "memcheck: $name: clean (exit $rc)"
	fi
}

for t in "$build"/tests/test_*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	check ok "${t##*/}" "$t"
done

cli=$build/tools/tunbatch
for p in "$src"/examples/*.pcap; do
	b=${p##*/}
	b=${b%.pcap}
	check ok "cli_coalesce_$b" "$cli" coalesce --vnet-log "$out/$b.vnet" "$p" "$out/$b.out.pcap"
	check ok "cli_coalesce_json_$b" "$cli" coalesce --json --batch 7 --no-udp "$p"
done
# Error paths free what they took too.
printf 'not a capture' >"$out/bad.pcap"
check any cli_bad_pcap "$cli" coalesce "$out/bad.pcap"
check any cli_missing "$cli" coalesce "$out/does-not-exist.pcap"
check any cli_bad_option "$cli" coalesce --batch 0 "$src/examples/mixed.pcap"
# The tunnel's key handling and its setup errors that need no device.
check ok cli_genkey "$cli" genkey
check any cli_tunnel_bad_key "$cli" tunnel --tun x --listen 127.0.0.1:1 --key "$out/bad.pcap"
check any cli_tunnel_no_peer "$cli" tunnel --tun x --listen 127.0.0.1:1 --peer no-such-host.invalid:1 \
	--key "$out/cli_genkey.out"

echo "memcheck: $n runs, $fail with errors or leaks"
[ "$fail" = 0 ]
