#!/bin/sh
# The manual: every page in man/ passes mandoc's lint with no warning, has
# the sections a reader looks for, and every function the library exports
# has a section-3 page (its own or its family's, by a NAME entry) that man
# finds once the build is installed; so do tunbatch(1) and tunbatch(7).
#
# Usage: sh tests/man_check.sh LIBTUNBATCH.so SRC_DIR BUILD_DIR
set -u
so=${1:?LIBTUNBATCH.so}
src=${2:?SRC_DIR}
build=${3:?BUILD_DIR}
fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
for c in mandoc man nm cmake; do
	command -v $c >/dev/null || { echo "SKIP: $c not found (Debian: mandoc, man-db)"; exit 77; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tb_man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

pages=$(ls "$src"/man/*.[137])
# Lint: mandoc reports nothing at the warning level or above.
mandoc -Tlint -W warning $pages >"$tmp/lint" 2>&1 || true
[ -s "$tmp/lint" ] && { cat "$tmp/lint"; fail "mandoc -Tlint -W warning"; }

for p in $pages; do
	name=${p##*/}
	need='NAME:DESCRIPTION:SEE ALSO'
	case $name in *.7) ;; *) need="$need:SYNOPSIS" ;; esac
	old_ifs=$IFS
	IFS=:
	for s in $need; do
		grep -q "^\.Sh $s\$" "$p" || fail "$name has no $s section"
	done
	IFS=$old_ifs
	# A page with a function has a RETURN VALUE; every function in the
	# SYNOPSIS is one of the names under NAME (so it gets its link).
	syn=$(sed -n '/^\.Sh SYNOPSIS/,/^\.Sh /{s/^\.F[no] \(tb_[a-z0-9_]*\).*/\1/p}' "$p" | sort -u)
	names=$(sed -n '/^\.Sh NAME/,/^\.Sh /{s/^\.Nm \([a-z0-9_]*\).*/\1/p}' "$p" | sort -u)
	if [ -n "$syn" ]; then
		grep -q '^\.Sh RETURN VALUE$' "$p" || fail "$name has functions but no RETURN VALUE"
		for f in $syn; do
			printf '%s\n' "$names" | grep -qx "$f" || fail "$name: $f is in SYNOPSIS, not under NAME"
		done
	fi
done

# Installed, as make install lays it out, every exported symbol opens a page.
cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 ||
	{ tail -n 20 "$tmp/install.log"; fail "cmake --install"; }
mp=$tmp/prefix/share/man
n=0
for sym in $(nm -D --defined-only "$so" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }'); do
	n=$((n + 1))
	# man -w follows a link page's .so to the family's page.
	page=$(man -M "$mp" -w 3 "$sym" 2>/dev/null) || { fail "man 3 $sym: no page"; continue; }
	sed -n '/^\.Sh NAME/,/^\.Sh /p' "$page" | grep -qx "\.Nm $sym\( ,\)\{0,1\}" ||
		fail "man 3 $sym opens ${page##*/}, whose NAME does not list it"
done
[ "$n" -gt 0 ] || fail "no exported symbol found in $so"
for p in "1 tunbatch" "7 tunbatch" "3 tb_coalescer_flush"; do
	# shellcheck disable=SC2086 # section and name
	MANWIDTH=100 man -M "$mp" -P cat $p 2>/dev/null | grep -q '^NAME' || fail "man $p: no page"
done

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "ok: $(echo "$pages" | wc -l) pages lint clean; all $n exported symbols have an installed page"
