#!/bin/sh
# make install on a machine without libpcap and cmocka, then the README's
# example built against the installed copy, as a user would: with pkg-config
# (shared, and fully static with --static) and with CMake's
# find_package(tunbatch); each program must run and coalesce ten segments into
# one superpacket. make uninstall then leaves no file behind.
#
# The library is built again here, through the Makefile, in a plain Release
# build of its own: the test build's library is compiled with ASan and UBSan,
# so a program linked against an install of it would need the sanitizer
# runtimes, and the static one could not be linked at all.
# Usage: sh tests/cli_install.sh CLI SRC_DIR
. "$(dirname "$0")/cli-lib.sh"
for c in make cmake pkg-config cc readelf; do
	command -v $c >/dev/null || { echo "SKIP: $c not found"; exit 77; }
done
make_tmp install
prefix=$tmp/prefix
# Not the make that runs this test: its jobserver and flags stay out.
unset MAKEFLAGS MFLAGS MAKELEVEL

# A package manager that must not be called, nor even asked what is installed.
mkdir "$tmp/bin" "$tmp/nopc"
for pm in apt-get apt dpkg dpkg-query sudo dnf yum pacman apk; do
	printf '#!/bin/sh\necho "%s called: $*" >&2\necho %s >>"%s/pm_called"\nexit 1\n' \
		"$pm" "$pm" "$tmp" >"$tmp/bin/$pm"
	chmod +x "$tmp/bin/$pm"
done

# pkg-config finds nothing (no libpcap, no cmocka) while make install runs.
if ! env -u PKG_CONFIG_PATH PATH="$tmp/bin:$PATH" PKG_CONFIG_LIBDIR="$tmp/nopc" \
	make -C "$src" install PREFIX="$prefix" BUILD_DIR="$tmp/build" JOBS=2 >"$tmp/make.log" 2>&1; then
	tail -n 30 "$tmp/make.log"
	fail "make install without libpcap and cmocka"
	finish
fi
[ -e "$tmp/pm_called" ] && fail "make install called a package manager: $(cat "$tmp/pm_called")"
grep -q '^tunbatch: library: built' "$tmp/make.log" || fail "make did not say the library was built"
grep -q '^tunbatch: the CLI (tools/) not built: libpcap not found (install libpcap-dev)' "$tmp/make.log" ||
	fail "make did not say why the CLI was left out"
grep -q '^tunbatch: the tests not built: cmocka not found (install libcmocka-dev)' "$tmp/make.log" ||
	fail "make did not say why the tests were left out"
[ -e "$prefix/bin/tunbatch" ] && fail "a CLI was installed without libpcap"

pc=$(find "$prefix" -name tunbatch.pc)
so=$(find "$prefix" -name 'libtunbatch.so.0')
[ -f "$pc" ] && [ -f "$prefix/include/tunbatch.h" ] && [ -n "$so" ] ||
	{ fail "installed: $(find "$prefix" -type f)"; finish; }
# Stripped, with the versioned API still exported and nothing internal.
readelf -S "$so" | grep -q '\.symtab' && fail "the installed shared library is not stripped"
readelf --dyn-syms -W "$so" | grep -q ' tb_coalescer_create@@TUNBATCH_' ||
	fail "tb_coalescer_create is not exported with its version"
readelf --dyn-syms -W "$so" | grep -q ' tbi_' && fail "internal tbi_ symbols are exported"

# One version: the header's, the .pc's, the soname's and the library's own.
v=$(sed -n 's/^#define TB_VERSION_STRING "\(.*\)"$/\1/p' "$prefix/include/tunbatch_version.h")
[ -n "$v" ] && [ "$(PKG_CONFIG_PATH=${pc%/*} pkg-config --modversion tunbatch)" = "$v" ] ||
	fail "tunbatch.pc's version is not the header's ($v)"
[ -f "${so%/*}/libtunbatch.so.$v" ] || fail "no libtunbatch.so.$v beside the soname"
readelf -d "$so" | grep -q 'SONAME.*\[libtunbatch\.so\.'"${v%%.*}"'\]' || fail "the soname is not libtunbatch.so.${v%%.*}"

# The manual: a page per family, a link per name, the overview; no tunbatch(1) without the CLI.
if command -v man >/dev/null; then
	for p in "3 tb_coalescer_commit" "3 tb_coalescer_flush" "3 tb_carrier_recv" "7 tunbatch"; do
		# shellcheck disable=SC2086 # section and name are two words
		out=$(MANWIDTH=80 man -M "$prefix/share/man" -P cat $p 2>"$tmp/man.err")
		printf '%s\n' "$out" | grep -q "^NAME" && printf '%s\n' "$out" | grep -q "${p#* }" ||
			fail "man $p after make install: $(head -c 300 "$tmp/man.err")"
	done
	man -M "$prefix/share/man" -w 1 tunbatch >/dev/null 2>&1 && fail "tunbatch(1) installed without the CLI"
fi

# expect NAME OUTPUT: the example's two lines for one TSO superpacket.
expect() {
	printf '%s\n' "$2" | grep -q '^write 0: 14040 bytes, gso_type 1, gso_size 1400, hdr_len 40' &&
		printf '%s\n' "$2" | grep -q '^10 packets in, 1 writes, 1 superpackets holding 10 segments' ||
		fail "$1: not one TCPv4 superpacket of ten segments: $2"
}
# needs_so NAME BINARY yes|no: whether BINARY loads libtunbatch.so.
needs_so() {
	if readelf -d "$2" | grep -q 'NEEDED.*libtunbatch\.so'; then
		[ "$3" = yes ] || fail "$1 is linked against libtunbatch.so"
	else
		[ "$3" = no ] || fail "$1 is not linked against libtunbatch.so"
	fi
}
ex=$src/examples/api_example.c
export PKG_CONFIG_PATH="${pc%/*}"

# Shared, loaded from the prefix.
# shellcheck disable=SC2046 # pkg-config's flags are words
cc -o "$tmp/ex_shared" "$ex" $(pkg-config --cflags --libs tunbatch) || fail "pkg-config, shared: does not build"
if [ -x "$tmp/ex_shared" ]; then
	needs_so "pkg-config, shared" "$tmp/ex_shared" yes
	LD_LIBRARY_PATH=${so%/*} ldd "$tmp/ex_shared" | grep -q "libtunbatch.so.0 => ${so%/*}/" ||
		fail "pkg-config, shared: does not load the installed library"
	expect "pkg-config, shared" "$(LD_LIBRARY_PATH=${so%/*} "$tmp/ex_shared")"
fi

# Static: everything in the program, so that it runs with no library path.
# Where libc has no static archive, only libtunbatch is linked statically.
printf 'int main(void) { return 0; }\n' >"$tmp/empty.c"
# shellcheck disable=SC2046 # pkg-config's flags are words
if cc -static -o "$tmp/empty" "$tmp/empty.c" 2>/dev/null; then
	cc -static -o "$tmp/ex_static" "$ex" $(pkg-config --cflags tunbatch) $(pkg-config --static --libs tunbatch)
else
	cc -o "$tmp/ex_static" "$ex" $(pkg-config --cflags tunbatch) \
		-Wl,-Bstatic $(pkg-config --static --libs tunbatch) -Wl,-Bdynamic
fi || fail "pkg-config --static: does not build"
if [ -x "$tmp/ex_static" ]; then
	needs_so "pkg-config --static" "$tmp/ex_static" no
	expect "pkg-config --static" "$("$tmp/ex_static")"
fi

# CMake: find_package(tunbatch) and its two targets.
mkdir "$tmp/consumer"
cat >"$tmp/consumer/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(tunbatch 0.1 REQUIRED)
add_executable(ex_shared "$ex")
target_link_libraries(ex_shared tunbatch::tunbatch)
add_executable(ex_static "$ex")
target_link_libraries(ex_static tunbatch::tunbatch_static)
EOF
if cmake -S "$tmp/consumer" -B "$tmp/consumer/build" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/consumer.log" 2>&1 &&
	cmake --build "$tmp/consumer/build" >>"$tmp/consumer.log" 2>&1; then
	b=$tmp/consumer/build
	needs_so "find_package, tunbatch::tunbatch" "$b/ex_shared" yes
	needs_so "find_package, tunbatch::tunbatch_static" "$b/ex_static" no
	# CMake's build RPATH points at the prefix.
	expect "find_package, tunbatch::tunbatch" "$("$b/ex_shared")"
	expect "find_package, tunbatch::tunbatch_static" "$("$b/ex_static")"
else
	tail -n 20 "$tmp/consumer.log"
	fail "find_package(tunbatch): the consumer project does not build"
fi

# make uninstall removes every file make install put, and nothing else.
n=$(grep -c . "$tmp/build/install_manifest.txt")
touch "$prefix/include/other.h"
make -C "$src" uninstall BUILD_DIR="$tmp/build" >"$tmp/uninstall.log" 2>&1 || fail "make uninstall"
left=$(find "$prefix" -type f ! -name other.h)
[ -z "$left" ] || fail "make uninstall left: $left"
[ -f "$prefix/include/other.h" ] || fail "make uninstall removed a file it did not install"
removed=$(grep -c '^removed ' "$tmp/uninstall.log")
[ "$removed" -eq "$n" ] || fail "make uninstall removed $removed files of the manifest's $n"

finish "installed without libpcap and cmocka ($n files), the example built and run 4 ways, uninstalled"
