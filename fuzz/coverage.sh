#!/bin/sh
# Replays every fuzz corpus through targets built with clang source-based
# coverage (make fuzz-coverage builds them in BUILD) and prints line and
# branch coverage per file of src/, all targets merged, then per target.
#   fuzz/coverage.sh BUILD
# Profiles and the full llvm-cov report go to BUILD/cov/.
set -e
build=$1
[ -n "$build" ] || {
	echo "usage: $0 BUILD" >&2
	exit 2
}
src=$(cd "$(dirname "$0")/.." && pwd)
profdata=${LLVM_PROFDATA:-llvm-profdata-14}
cov=${LLVM_COV:-llvm-cov-14}
out=$build/cov
rm -rf "$out"
mkdir -p "$out"

# llvm-cov report: Filename, then Regions, Missed, Cover, Functions, Missed,
# Executed, Lines, Missed, Cover, Branches, Missed, Cover.
table() {
	awk -v what="$1" '
	/^-+$/ { next }
	$1 == "Filename" { printf "%-26s %8s %8s %9s %9s\n", what, "lines", "cover", "branches", "cover"; next }
	NF >= 13 { n = split($1, p, "/"); f = $1 == "TOTAL" ? "TOTAL" : "src/" p[n];
		printf "%-26s %8s %8s %9s %9s\n", f, $8, $10, $11, $13 }'
}

objs=""
for bin in "$build"/fuzz/fuzz_*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	t=${bin##*/fuzz_}
	corpus=$src/fuzz/corpus/$t
	[ -d "$corpus" ] || continue
	LLVM_PROFILE_FILE="$out/$t.profraw" "$bin" -runs=0 -max_len=140000 "$corpus" \
		>"$out/$t.log" 2>&1 || {
		tail -n 20 "$out/$t.log" >&2
		echo "coverage: $t failed over its corpus" >&2
		exit 1
	}
	"$profdata" merge -sparse "$out/$t.profraw" -o "$out/$t.profdata"
	echo "$t $(ls "$corpus" | wc -l)" >>"$out/targets"
	if [ -z "$objs" ]; then objs=$bin; else objs="$objs -object $bin"; fi
done
[ -n "$objs" ] || {
	echo "coverage: no targets in $build/fuzz" >&2
	exit 1
}
"$profdata" merge -sparse "$out"/*.profraw -o "$out/all.profdata"
# shellcheck disable=SC2086 # objs is a list of arguments
"$cov" report $objs -instr-profile="$out/all.profdata" "$src"/src/*.c >"$out/report.txt"
echo "fuzz coverage: every corpus, all targets merged"
table "file" <"$out/report.txt"
while read -r t n; do
	echo
	echo "fuzz_$t ($n corpus inputs)"
	"$cov" report "$build/fuzz/fuzz_$t" -instr-profile="$out/$t.profdata" "$src"/src/*.c |
		table "file"
done <"$out/targets"
echo
echo "full report: $out/report.txt"
