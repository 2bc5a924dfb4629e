#!/bin/sh
# Runs the benchmark that `make bench` built: scripts/bench.sh BUILD_DIR [tb_bench options]
# Traces: $TB_TRACES if set, else ../shared/traces, else the bundled examples/.
# Synthetic traces are always added. --json prints JSON instead of the table.
set -e
build=${1:-build-bench}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$build/bench/tb_bench
if [ ! -x "$bin" ]; then
	echo "bench.sh: $bin is not built (run make bench)" >&2
	exit 1
fi
has_pcaps() {
	for f in "$1"/*.pcap; do
		[ -f "$f" ] && return 0
	done
	return 1
}
if [ -n "$TB_TRACES" ]; then
	dir=$TB_TRACES
elif has_pcaps "$root/../shared/traces"; then
	dir=$(cd "$root/../shared/traces" && pwd)
elif has_pcaps "$root/examples"; then
	dir=$root/examples
else
	dir=
fi
# The TUN and carrier parts need root; they are skipped (and say so) otherwise.
"$bin" "$@" $dir
# Instructions per packet per class of traffic (not with --json or a single part).
case " $* " in
*" --json "* | *" --profile "* | *" --tun-only "* | *" --carrier-only "*) ;;
*)
	echo
	"$root/scripts/instructions.sh" "$build" $dir
	;;
esac
