#!/bin/sh
# The packages a make target needs, by their Debian names.
# Usage: scripts/deps.sh [--check] [--for "make TARGET"] PKG...
#
# A package counts as present when dpkg says it is installed, or when what it
# provides is found here (a command, a pkg-config module), so that a machine
# without dpkg-query (Fedora, Arch, Alpine) or with things built from source
# gets through when it has them. Missing ones are then:
#   - installed with apt-get (Debian, as root), each named first;
#   - with --check, or without apt-get, or not as root: named, and the
#     script fails, so the target stops before it builds anything.
check_only=0
what="this target"
while [ $# -gt 0 ]; do
	case $1 in
	--check) check_only=1 ;;
	--for)
		what=$2
		shift
		;;
	*) break ;;
	esac
	shift
done

has() {
	command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}
pc() {
	pkg-config --exists "$1" 2>/dev/null
}

# probe PKG: 0 when what PKG provides is here, 1 when it is not, 2 when this
# script has no way to tell.
probe() {
	case $1 in
	gcc) has cc || has gcc ;;
	pkg-config) has pkg-config || has pkgconf ;;
	cmake | make | clang | clang-format | valgrind | tcpdump | python3 | ethtool | iperf3) has "$1" ;;
	iproute2) has ip ;;
	nftables) has nft ;;
	gnuplot-nox) has gnuplot ;;
	llvm-14) has llvm-cov-14 || has llvm-cov ;;
	libcmocka-dev) pc cmocka ;;
	libpcap-dev) pc libpcap ;;
	libssl-dev) pc libcrypto ;;
	dpdk-dev) pc libdpdk ;;
	libclang-rt-*-dev)
		# The fuzzers' runtime: clang must link a libFuzzer target.
		has clang || return 1
		t=$(mktemp -d) || return 2
		printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' >"$t/f.c"
		clang -fsanitize=fuzzer,address "$t/f.c" -o "$t/f" >/dev/null 2>&1
		r=$?
		rm -rf "$t"
		[ $r = 0 ]
		;;
	*) return 2 ;;
	esac
}

# How to look for PKG by hand, for the message on other distributions.
looks_for() {
	case $1 in
	gcc) echo "a C compiler, cc" ;;
	iproute2) echo "the ip command" ;;
	nftables) echo "the nft command" ;;
	gnuplot-nox) echo "gnuplot" ;;
	llvm-14) echo "llvm-cov" ;;
	libcmocka-dev) echo "pkg-config module cmocka" ;;
	libpcap-dev) echo "pkg-config module libpcap" ;;
	libssl-dev) echo "pkg-config module libcrypto" ;;
	dpdk-dev) echo "pkg-config module libdpdk" ;;
	libclang-rt-*-dev) echo "clang's libFuzzer and sanitizer runtimes" ;;
	*) echo "the $1 command" ;;
	esac
}

dpkg=0
command -v dpkg-query >/dev/null 2>&1 && dpkg=1
missing=""
unknown=""
for p in "$@"; do
	case " $missing $unknown " in *" $p "*) continue ;; esac
	if [ $dpkg = 1 ] && dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		continue
	fi
	probe "$p"
	case $? in
	0) ;;
	2) if [ $dpkg = 1 ]; then missing="$missing $p"; else unknown="$unknown $p"; fi ;;
	*) missing="$missing $p" ;;
	esac
done
[ -n "$unknown" ] && echo "tunbatch: $what also needs what the Debian packages$unknown provide; this script cannot check for them here" >&2
[ -z "$missing" ] && exit 0

if [ $dpkg = 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "tunbatch: $what needs what these Debian packages provide, and this system lacks it:" >&2
	for p in $missing; do
		echo "  $p ($(looks_for "$p"))" >&2
	done
	echo "tunbatch: install them with your package manager, then run $what again" >&2
	exit 1
fi
if [ $check_only = 1 ]; then
	echo "tunbatch: $what needs these packages, not installed:$missing" >&2
	echo "tunbatch: install them (apt-get install$missing), or run make test, which does" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "tunbatch: $what needs these packages, not installed:$missing" >&2
	echo "tunbatch: install them as root (apt-get install$missing), or run $what as root" >&2
	exit 1
fi
echo "tunbatch: $what installs the packages it lacks:$missing"
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # one word per package
if ! apt-get update -qq >/dev/null || ! apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
	echo "tunbatch: apt-get could not install$missing" >&2
	exit 1
fi
