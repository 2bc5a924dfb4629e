#!/bin/sh
# Runs the libFuzzer targets built in BUILD/fuzz, one after the other.
#   fuzz/run.sh BUILD regress [TARGET...]   each target over its corpus once: a regression test
#   fuzz/run.sh BUILD SECONDS [TARGET...]   each target fuzzes for SECONDS
# Without TARGETs, every target built.
# New inputs go to BUILD/fuzz/corpus-<target>/ (the corpus in fuzz/corpus/ is
# read, not written); crashes go to BUILD/fuzz/artifacts/. Exits non-zero on
# the first finding.
set -e
build=$1
mode=$2
shift 2 || true
only=" $* "
[ -n "$build" ] && [ -n "$mode" ] || {
	echo "usage: $0 BUILD regress|SECONDS" >&2
	exit 2
}
src=$(cd "$(dirname "$0")" && pwd)
found=0
for bin in "$build"/fuzz/fuzz_*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	t=${bin##*/fuzz_}
	[ "$only" = "  " ] || case $only in *" $t "*) ;; *) continue ;; esac
	corpus=$src/corpus/$t
	[ -d "$corpus" ] || {
		echo "fuzz: $t has no corpus in $corpus" >&2
		exit 1
	}
	found=$((found + 1))
	case $t in
	coalesce) opts="-max_len=65536" ;;
	pcap) opts="-max_len=65536" ;;
	tun_reader) opts="-max_len=140000" ;;
	tunnel) opts="-max_len=4097" ;; # a cipher byte and 512 operations
	carrier) opts="-max_len=4110" ;; # 14 option bytes + a control buffer
	*) opts="-max_len=65546" ;; # virtio header + a 64 KiB packet
	esac
	mkdir -p "$build/fuzz/artifacts"
	log=$build/fuzz/$t.log
	if [ "$mode" = regress ]; then
		n=$(ls "$corpus" | wc -l)
		if "$bin" $opts -runs=0 -artifact_prefix="$build/fuzz/artifacts/$t-" "$corpus" >"$log" 2>&1; then
			echo "fuzz: $t: $n corpus inputs, no finding"
		else
			tail -n 40 "$log" >&2
			echo "fuzz: $t: FAILED over its corpus (log: $log)" >&2
			exit 1
		fi
		continue
	fi
	work=$build/fuzz/corpus-$t
	mkdir -p "$work"
	echo "fuzz: $t for ${mode}s"
	if "$bin" $opts -max_total_time="$mode" -timeout=20 -print_final_stats=1 \
		-artifact_prefix="$build/fuzz/artifacts/$t-" "$work" "$corpus" >"$log" 2>&1; then
		grep -E '^#[0-9]+.*DONE|^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$log" |
			sed "s/^/fuzz: $t: /"
	else
		tail -n 60 "$log" >&2
		echo "fuzz: $t: FINDING (log: $log, input in $build/fuzz/artifacts/)" >&2
		exit 1
	fi
done
[ "$found" -gt 0 ] || {
	echo "fuzz: no targets in $build/fuzz" >&2
	exit 1
}
