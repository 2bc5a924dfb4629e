#!/bin/sh
# The ABI of libtunbatch.so holds: the exported symbols are exactly the
# functions the public header declares, each listed by name in
# src/tunbatch.map and exported under its version node; and the types they
# use are those of the baseline in abi/tunbatch.abi (abidiff, from Debian's
# abigail-tools): a symbol that disappears or changes, or a public struct
# whose layout changes, fails. Added symbols pass (they go under a new node).
#
# Usage: sh tests/abi_check.sh LIBTUNBATCH.so SRC_DIR BUILD_INCLUDE_DIR
#        sh tests/abi_check.sh --update LIBTUNBATCH.so SRC_DIR BUILD_INCLUDE_DIR
# --update rewrites the baseline: for a release that changes the ABI on
# purpose (and bumps the soname when it breaks it).
set -u
update=0
[ "${1:-}" = --update ] && { update=1; shift; }
so=${1:?LIBTUNBATCH.so}
src=${2:?SRC_DIR}
geninc=${3:?BUILD_INCLUDE_DIR}
fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
for c in nm abidw abidiff; do
	command -v $c >/dev/null || { echo "SKIP: $c not found (Debian: binutils, abigail-tools)"; exit 77; }
done
# The types come from DWARF: a Release build (make) has none to compare.
if command -v readelf >/dev/null && ! readelf -S "$so" | grep -q '\.debug_info'; then
	echo "SKIP: $so has no debug info (the test build, Debug, has: make test)"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tb_abi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# The three lists: what the header declares, what the map lists, what the library exports.
grep -o '\btb_[a-z0-9_]*(' "$src/include/tunbatch.h" | tr -d '(' | grep -v '^tb_segment_fn$' |
	sort -u >"$tmp/header"
sed -n 's/^[[:space:]]*\(tb_[a-z0-9_]*\);$/\1/p' "$src/src/tunbatch.map" | sort >"$tmp/map"
nm -D --defined-only "$so" | awk '$2 != "A" { print $3 }' >"$tmp/dynsym"
sed 's/@.*//' "$tmp/dynsym" | sort >"$tmp/exported"
[ -s "$tmp/header" ] || fail "no function found in the header"
if ! cmp -s "$tmp/header" "$tmp/map"; then
	fail "src/tunbatch.map does not list exactly the header's functions:"
	diff "$tmp/header" "$tmp/map" | sed -n 's/^[<>]/  &/p'
fi
if ! cmp -s "$tmp/map" "$tmp/exported"; then
	fail "the library does not export exactly the map's symbols:"
	diff "$tmp/map" "$tmp/exported" | sed -n 's/^[<>]/  &/p'
fi
unversioned=$(grep -v '@@TUNBATCH_[0-9]*\.[0-9]*$' "$tmp/dynsym")
[ -z "$unversioned" ] || fail "exported without a version node: $unversioned"
dup=$(sort "$tmp/map" | uniq -d)
[ -z "$dup" ] || fail "listed twice in the map: $dup"

# The types: the library as built against the baseline, both read the same way.
# Translation units are named relative to the source tree, so that the
# baseline holds no path of the machine it was written on.
srcabs=$(cd "$src" && pwd)
abidw --hd "$src/include" --hd "$geninc" --drop-private-types --no-show-locs \
	--no-corpus-path --no-comp-dir-path "$so" >"$tmp/raw.abi" || fail "abidw could not read $so"
sed "s|path='$srcabs/|path='|" "$tmp/raw.abi" >"$tmp/now.abi"
base=$src/abi/tunbatch.abi
if [ "$update" = 1 ]; then
	cp "$tmp/now.abi" "$base" && echo "abi: baseline written to abi/tunbatch.abi"
	exit 0
fi
if [ ! -f "$base" ]; then
	fail "no baseline abi/tunbatch.abi"
else
	abidiff --no-added-syms "$base" "$tmp/now.abi" >"$tmp/diff"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		cat "$tmp/diff"
		fail "the ABI differs from abi/tunbatch.abi (abidiff exit $rc); if that is meant, see docs/abi.md"
	fi
fi

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "ok: $(wc -l <"$tmp/exported") symbols, each in the header and the map, versioned; ABI as the baseline"
