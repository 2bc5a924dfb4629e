#!/bin/sh
# Mutation probe: plants one-line bugs, one at a time, and runs the unit and
# CLI tests against each. A mutant is killed when a test fails (or the build
# does); one that survives marks a rule no test pins down.
#
#   scripts/mutate.sh [MUTANTS]     (default scripts/mutants.txt)
#
# MUTANTS holds one mutant a line, "FILE: OLD => NEW", OLD occurring exactly
# once in FILE; the comment line above a mutant names it. Everything happens
# in a copy of the working tree (tracked and untracked files, not ignored
# ones) under a temporary directory: the tree itself is never modified.
# Sanitized Debug build, as make test. Environment:
#   MUTATE_TESTS    ctest -E regex of tests left out (default: kernel tests, format)
#   MUTATE_KEEP=1   keep the copy and its build (the path is printed)
#   JOBS            parallel build and test jobs (default: nproc)
# Exits 1 when a mutant survived or could not be planted.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
list=${1:-$src/scripts/mutants.txt}
skip=${MUTATE_TESTS:-'^ktest_|^format$'}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
[ -r "$list" ] || {
	echo "mutate: no mutant list $list" >&2
	exit 2
}
command -v python3 >/dev/null || {
	echo "mutate: needs python3" >&2
	exit 2
}

work=$(mktemp -d "${TMPDIR:-/tmp}/tb-mutate.XXXXXX")
[ "${MUTATE_KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
(cd "$src" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work") || exit 2
[ "${MUTATE_KEEP:-0}" = 1 ] && echo "mutate: copy in $work"
build=$work/build

tests() {
	(cd "$build" && ctest -E "$skip" --timeout 300 -j"$jobs" >"$work/ctest.log" 2>&1)
}

# Replaces the one occurrence of $2 in file $1 by $3; fails when it is not there exactly once.
plant() {
	python3 - "$1" "$2" "$3" <<'EOF'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
if text.count(old) != 1:
    sys.exit(1)
open(path, "w").write(text.replace(old, new))
EOF
}

echo "mutate: building the unmutated copy"
cmake -S "$work" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DTB_SANITIZE=ON >"$work/cmake.log" 2>&1 &&
	cmake --build "$build" -j"$jobs" >"$work/build.log" 2>&1 || {
	tail -n 20 "$work/build.log" >&2
	echo "mutate: the unmutated tree does not build" >&2
	exit 2
}
tests || {
	tail -n 20 "$work/ctest.log" >&2
	echo "mutate: tests fail without any mutant" >&2
	exit 2
}

n=0 killed=0 survived=0 stale=0 name=""
while IFS= read -r line; do
	case $line in
	'#'*)
		name=${line#\# }
		continue
		;;
	'') continue ;;
	esac
	file=${line%%: *}
	rest=${line#*: }
	old=${rest%% => *}
	new=${rest#* => }
	n=$((n + 1))
	label="$n. ${name:-$file}"
	name=""
	cp "$work/$file" "$work/.orig"
	if ! plant "$work/$file" "$old" "$new"; then
		echo "STALE    $label: \"$old\" is not in $file exactly once"
		stale=$((stale + 1))
		continue
	fi
	if ! cmake --build "$build" -j"$jobs" >"$work/build.log" 2>&1; then
		echo "KILLED   $label: by the build"
		killed=$((killed + 1))
	elif tests; then
		echo "SURVIVED $label ($file: $new)"
		survived=$((survived + 1))
	else
		failed=$(sed -n 's/^[[:space:]]*[0-9]* - \([^ ]*\) .*/\1/p' "$work/ctest.log" | tr '\n' ' ')
		echo "KILLED   $label: by ${failed:-a test}"
		killed=$((killed + 1))
	fi
	cp "$work/.orig" "$work/$file"
done <"$list"
# Leave the build matching the tree.
cmake --build "$build" -j"$jobs" >/dev/null 2>&1
echo "mutate: $n mutants: $killed killed, $survived survived, $stale not planted"
[ "$survived" -eq 0 ] && [ "$stale" -eq 0 ]
