#!/bin/sh
# tunbatch coalesce on bad input and bad command lines: exit status 2, one
# line on standard error naming the file (or option), nothing on standard
# output. Malformed packets inside a valid pcap are not errors.
# Usage: sh tests/cli_errors.sh CLI SRC_DIR
. "$(dirname "$0")/cli-lib.sh"
make_tmp errors
trace="$src/examples/tcp4_bulk.pcap"
[ -f "$trace" ] || { echo "FAIL: $trace is missing"; exit 1; }

# expect STATUS WORD CASE-NAME -- ARGS...: the exit status, and a word the
# single stderr line must contain.
expect() {
	want=$1 word=$2 what=$3
	shift 4
	"$cli" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
	rc=$?
	lines=$(wc -l <"$tmp/stderr")
	msg=$(cat "$tmp/stderr")
	echo "$what: exit $rc: $msg"
	[ "$rc" -eq "$want" ] || fail "$what: exit status $rc, expected $want"
	[ "$lines" -eq 1 ] || fail "$what: $lines lines on stderr, expected 1"
	case $msg in
	*"$word"*) ;;
	*) fail "$what: the message does not name '$word'" ;;
	esac
	[ ! -s "$tmp/stdout" ] || fail "$what: output on stdout"
}

# A 24-byte pcap file header: magic, version 2.4, snaplen, link type.
pcap_header() {
	# printf with octal escapes: portable to dash.
	printf '\324\303\262\241\002\000\004\000\000\000\000\000\000\000\000\000'
	printf '\377\377\000\000'
	case $1 in
	101) printf '\145\000\000\000' ;;
	147) printf '\223\000\000\000' ;;
	esac
}

size=$(wc -c <"$trace")
# Records in the example are 1400-odd bytes: these cuts land in the middle
# of a packet, in a record header and in the file header.
head -c 100000 "$trace" >"$tmp/cut_data.pcap"
head -c 24 "$trace" >"$tmp/hdr_only.pcap"
head -c 30 "$trace" >"$tmp/cut_rechdr.pcap"
head -c 12 "$trace" >"$tmp/cut_filehdr.pcap"
head -c $((size - 1)) "$trace" >"$tmp/cut_last_byte.pcap"
pcap_header 147 >"$tmp/user0.pcap"
echo "not a capture" >"$tmp/text.pcap"
: >"$tmp/empty.pcap"

expect 2 missing.pcap "missing file" -- coalesce "$tmp/missing.pcap"
expect 2 cut_data.pcap "truncated inside a packet" -- coalesce "$tmp/cut_data.pcap"
expect 2 cut_rechdr.pcap "truncated inside a record header" -- coalesce "$tmp/cut_rechdr.pcap"
expect 2 cut_filehdr.pcap "truncated inside the file header" -- coalesce "$tmp/cut_filehdr.pcap"
expect 2 cut_last_byte.pcap "last byte missing" -- coalesce "$tmp/cut_last_byte.pcap"
expect 2 empty.pcap "empty file" -- coalesce "$tmp/empty.pcap"
expect 2 "empty file:" "empty file says so" -- coalesce "$tmp/empty.pcap"
expect 2 147 "link type 147" -- coalesce "$tmp/user0.pcap"
expect 2 user0.pcap "link type 147 names the file" -- coalesce "$tmp/user0.pcap"
expect 2 text.pcap "not a pcap" -- coalesce "$tmp/text.pcap"
expect 2 "$tmp" "a directory" -- coalesce "$tmp"
expect 2 --bogus "unknown long option" -- coalesce --bogus "$trace"
expect 2 -q "unknown short option" -- coalesce -q "$trace"
expect 2 --batch "option without its argument" -- coalesce "$trace" --batch
expect 2 --batch "batch 0" -- coalesce --batch 0 "$trace"
expect 2 --batch "batch not a number" -- coalesce --batch 12x "$trace"
expect 2 --batch "batch too big" -- coalesce --batch 99999999999 "$trace"
expect 2 IN.pcap "no input" -- coalesce
expect 2 extra "one argument too many" -- coalesce "$trace" "$tmp/o.pcap" extra
expect 2 nodir "OUT in a missing directory" -- coalesce "$trace" "$tmp/nodir/o.pcap"
expect 2 nodir "vnet log in a missing directory" -- coalesce --vnet-log "$tmp/nodir/v" "$trace"
cp "$trace" "$tmp/same.pcap"
expect 2 same.pcap "OUT is the input" -- coalesce "$tmp/same.pcap" "$tmp/same.pcap"
cmp -s "$trace" "$tmp/same.pcap" || fail "the input was overwritten"
expect 2 frobnicate "unknown command" -- frobnicate
if [ -w /dev/full ]; then
	expect 1 /dev/full "output device full" -- coalesce "$trace" /dev/full
fi

# A truncated file is reported even though its first packets were fine, and
# the packets read before the cut are still written to OUT.
"$cli" coalesce "$tmp/cut_data.pcap" "$tmp/partial.pcap" >/dev/null 2>&1
[ "$(wc -c <"$tmp/partial.pcap")" -gt 24 ] || fail "nothing written before the truncation"

# Not errors: a pcap without records, help and version.
out=$("$cli" coalesce --json "$tmp/hdr_only.pcap") || fail "header-only pcap: exit $?"
case $out in *'"packets_in":0,'*'"writes":0,'*) ;; *) fail "header-only pcap: $out" ;; esac
"$cli" coalesce --help | grep -q -- --vnet-log || fail "coalesce --help"
# Its exit-status line covers every status the command returns.
u=$("$cli" coalesce --help | tr '\n' ' ')
for w in "out of memory" "can't be created" "is the input"; do
	case $u in
	*"$w"*) ;;
	*) fail "coalesce --help does not say '$w'" ;;
	esac
done
"$cli" help coalesce | grep -q -- --batch || fail "help coalesce"
"$cli" --version | grep -q '^tunbatch [0-9]' || fail "--version"
"$cli" -V | grep -q '^tunbatch [0-9]' || fail "-V"
# The usage names every top-level form, -h and -V included.
for o in -h --help help; do
	u=$("$cli" "$o") || fail "tunbatch $o: exit status $?"
	for w in "help [COMMAND]" "-h | --help" "-V | --version" "standard error"; do
		case $u in
		*"$w"*) ;;
		*) fail "tunbatch $o does not say '$w'" ;;
		esac
	done
done
# No arguments: the usage on standard error, nothing on standard output, status 2.
"$cli" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
[ "$rc" -eq 2 ] || fail "no arguments: exit status $rc, expected 2"
[ ! -s "$tmp/stdout" ] || fail "no arguments: output on stdout"
grep -q '^usage: tunbatch' "$tmp/stderr" || fail "no arguments: no usage on stderr"

# Malformed packets inside a valid pcap pass through and are counted: a
# record of 3 bytes, an IPv4 header claiming more bytes than it has, a
# version-5 packet, an empty record.
{
	pcap_header 101
	printf '\000\000\000\000\000\000\000\000\003\000\000\000\003\000\000\000\105\000\000'
	printf '\000\000\000\000\000\000\000\000\024\000\000\000\024\000\000\000'
	printf '\105\000\005\334\000\000\100\000\100\006\000\000\012\000\000\001\012\000\000\002'
	printf '\000\000\000\000\000\000\000\000\024\000\000\000\024\000\000\000'
	printf '\125\000\000\024\000\000\100\000\100\006\000\000\012\000\000\001\012\000\000\002'
	printf '\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000'
} >"$tmp/malformed.pcap"
out=$("$cli" coalesce --json "$tmp/malformed.pcap" "$tmp/malformed.out.pcap") ||
	fail "malformed packets: exit $?"
case $out in
*'"packets_in":4,'*'"pass":3}'*'"writes":4,'*'"malformed":1,'*) ;;
*) fail "malformed packets: $out" ;;
esac
# Verbatim, though not in input order: lanes are written TCP, UDP, passthrough.
[ "$(wc -c <"$tmp/malformed.out.pcap")" -eq "$(wc -c <"$tmp/malformed.pcap")" ] ||
	fail "malformed packets: OUT size differs"
if command -v python3 >/dev/null; then
	python3 - "$tmp/malformed.pcap" "$tmp/malformed.out.pcap" <<'PY' || fail "malformed packets are not written verbatim"
import struct, sys
def recs(path):
    d = open(path, 'rb').read()
    off, out = 24, []
    while off < len(d):
        n = struct.unpack_from('<I', d, off + 8)[0]
        out.append(d[off + 16:off + 16 + n])
        off += 16 + n
    return sorted(out)
sys.exit(recs(sys.argv[1]) != recs(sys.argv[2]))
PY
fi

finish
