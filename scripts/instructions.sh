#!/bin/sh
# Instructions per packet of the coalescer (reserve + commit + flush, writer reading
# lengths), per class of traffic: perf stat where the machine has hardware
# counters, else valgrind's callgrind, which counts the same instructions
# exactly, whatever else the machine is doing. Each count is the difference
# between 3 passes and 1 pass over a trace, over 2 x its packets, so loading
# the trace is not counted.
#   scripts/instructions.sh BUILD_DIR [TRACES_DIR]
set -e
build=${1:?usage: $0 BUILD_DIR [TRACES_DIR]}
dir=$2
bin=$build/bench/tb_bench
[ -x "$bin" ] || { echo "instructions.sh: $bin is not built (run make bench)" >&2; exit 1; }
if perf stat -x, -e instructions:u true 2>&1 | grep -q '^[0-9]'; then
	tool=perf
elif command -v valgrind >/dev/null 2>&1; then
	tool=callgrind
else
	echo "instructions.sh: neither perf with hardware counters nor valgrind: skipped"
	exit 0
fi

count() { # trace passes -> instructions
	if [ $tool = perf ]; then
		perf stat -x, -e instructions:u "$bin" --profile "$1" --count "$2" $dir 2>&1 >/dev/null |
			awk -F, '/instructions/ {print $1}'
	else
		valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" --profile "$1" \
			--count "$2" $dir 2>&1 | awk '/refs:/ {gsub(",", "", $4); print $4}'
	fi
}

echo "Instructions per packet ($tool; reserve + commit + flush, bursts of 64)"
printf '%-16s %-34s %8s\n' trace class "instr/pkt"
for spec in "tcp4_bulk:bulk merge, one flow" "syn_tcp4_1flow:bulk merge, one flow" \
	"tcp4_4flows:bulk merge, four flows" "syn_tcp4_8x8:runs of 8 from 8 flows" \
	"syn_tcp4_64rr:new flow every packet" "tcp4_bidir:data + pure ACKs" \
	"syn_tcp4_acks80:80% pure ACKs" "syn_tcp4_mix4:data + ACKs of 4 flows" \
	"udp4_fixed:USO merge" "syn_udp4_dns:small UDP, 64 flows" "mixed:mixed capture"; do
	name=${spec%%:*}
	what=${spec#*:}
	n=$("$bin" --profile "$name" --count 1 $dir 2>/dev/null | sed -n 's/^.*: \([0-9]*\) packets.*/\1/p')
	[ -n "$n" ] || continue
	a=$(count "$name" 1)
	b=$(count "$name" 3)
	[ -n "$a" ] && [ -n "$b" ] || continue
	printf '%-16s %-34s %8d\n' "$name" "$what" $(((b - a) / (2 * n)))
done
