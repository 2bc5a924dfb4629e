# What every CLI test starts with, sourced as
#   . "$(dirname "$0")/cli-lib.sh"
# by a test run as `sh tests/cli_x.sh CLI SRC_DIR`. Not a test itself: the
# hyphen keeps it out of the cli_*.sh tests CMake collects.
set -u
cli=${1:?CLI}
src=${2:?SRC_DIR}
fails=0

# fail MESSAGE: reports one failure; the test goes on and finish counts them.
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# need_python3 WHAT: skips the test when python3, needed to WHAT, is missing.
need_python3() {
	command -v python3 >/dev/null || { echo "SKIP: python3 is needed to $*"; exit 77; }
}

# make_tmp NAME: a fresh directory in $tmp, removed whatever happens.
make_tmp() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/tb_cli_$1.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT INT TERM
}

# num KEY JSON: the number KEY holds in a --json summary.
num() {
	printf '%s\n' "$2" | sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"
}

# finish [MESSAGE]: exit 1 after any failure, else print ok (and MESSAGE).
finish() {
	[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
	echo "ok${1:+: $1}"
}
