#!/bin/sh
# Fails when a C file does not follow .clang-format (make format fixes it).
cd "$(dirname "$0")/.." || exit 1
command -v clang-format >/dev/null 2>&1 || { echo "clang-format not installed: skipped"; exit 77; }
bad=0
for f in include/*.h src/*.c src/*.h tools/*.c tools/*.h tests/*.c tests/*.h bench/*.c bench/*.h \
	fuzz/*.c fuzz/*.h examples/*.c; do
	[ -f "$f" ] || continue
	if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f"
		bad=1
	fi
done
[ $bad = 0 ] && echo "every C file follows .clang-format"
exit $bad
