#!/bin/sh
# examples/api_example.c must not only compile but do what it says: ten
# segments of one flow in, one TSO superpacket out.
# Usage: sh tests/cli_api_example.sh CLI SRC_DIR
set -u
cli=${1:?CLI}
ex="$(dirname "$cli")/../examples/example_api_example"
[ -x "$ex" ] || { echo "SKIP: $ex not built"; exit 77; }
out=$("$ex") || { echo "FAIL: exit status $?"; printf '%s\n' "$out"; exit 1; }
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -q '^write 0: 14040 bytes, gso_type 1, gso_size 1400, hdr_len 40' ||
	{ echo "FAIL: not one TCPv4 superpacket of ten 1400-byte segments"; exit 1; }
printf '%s\n' "$out" | grep -q '^10 packets in, 1 writes, 1 superpackets holding 10 segments' ||
	{ echo "FAIL: stats"; exit 1; }
echo "ok"
