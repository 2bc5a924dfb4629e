# Front door: make, make install, make uninstall, make check, make test, make demo,
# make bench, make e2e, make fuzz.
#
# make and make install build with what is there and install no package: the library
# always, the CLI and the tests when pkg-config finds what they need; they print what
# they left out and why. make test, make demo, make bench and make e2e install the Debian
# packages they lack (printing which first); elsewhere they name what is missing and stop.
PREFIX ?= /usr/local
BUILD_DIR ?= build
MAKEFLAGS += --no-print-directory
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
# AUTO: built when found; ON: required; OFF: left out.
CLI ?= AUTO
TESTS ?= AUTO

# Debian package names: BUILD_DEPS for the library, CLI and tests; DEMO_DEPS for the CLI.
BUILD_DEPS = cmake make gcc pkg-config libcmocka-dev libpcap-dev libssl-dev
DEMO_DEPS = cmake make gcc pkg-config libpcap-dev libssl-dev
TEST_DEPS = $(BUILD_DEPS) iproute2 ethtool nftables clang libclang-rt-14-dev tcpdump python3 \
	clang-format valgrind abigail-tools mandoc man-db

.PHONY: abi-baseline all deps check test demo bench e2e fuzz fuzz-build fuzz-regress fuzz-coverage memcheck \
	install uninstall clean format

all:
	@command -v cmake >/dev/null || { echo "tunbatch: make needs cmake (3.18 or later) and a C compiler" >&2; exit 1; }
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) \
		-DTB_CLI=$(CLI) -DTB_TESTS=$(TESTS) $(CMAKE_FLAGS)
	cmake --build $(BUILD_DIR) -j$(JOBS)
	@cat $(BUILD_DIR)/tunbatch-parts.txt

# Installs the packages of a full build (library, CLI, tests), on request only.
deps:
	@scripts/deps.sh --for "make deps" $(BUILD_DEPS)

# The edit-and-test loop: the unit and CLI tests on the sanitized build of make test,
# without the kernel tests and the installed-example test (make test runs those).
check:
	@[ -f build-test/CMakeCache.txt ] || cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DTB_SANITIZE=ON \
		-DTB_CLI=ON -DTB_TESTS=ON $(CMAKE_FLAGS)
	cmake --build build-test -j$(JOBS)
	cd build-test && ctest --output-on-failure -j$(JOBS) -LE 'kernel|install'

# Sanitized build, every test. Root-only tests skip (exit 77) elsewhere.
# The fuzz corpora and valgrind run first, so that ctest's summary closes the output.
test:
	@scripts/deps.sh --for "make test" $(TEST_DEPS)
	@$(MAKE) --no-print-directory fuzz-regress memcheck
	cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DTB_SANITIZE=ON -DTB_CLI=ON -DTB_TESTS=ON $(CMAKE_FLAGS)
	cmake --build build-test -j$(JOBS)
	cd build-test && ctest --output-on-failure --timeout 900

# Rewrites abi/tunbatch.abi from the test build, after a reviewed, intended ABI
# change (docs/abi.md).
abi-baseline:
	@[ -f build-test/CMakeCache.txt ] || { echo "tunbatch: run make test (or make check) first" >&2; exit 1; }
	cmake --build build-test -j$(JOBS) --target tunbatch_shared
	sh tests/abi_check.sh --update build-test/src/libtunbatch.so . build-test/include

demo:
	@scripts/deps.sh --for "make demo" $(DEMO_DEPS)
	@$(MAKE) all CLI=ON
	@scripts/demo.sh $(BUILD_DIR)/tools/tunbatch

# BENCH_ARGS go to tb_bench, e.g. make bench BENCH_ARGS=--json. Without dpdk-dev the
# rte_gro comparison says "not available"; without iproute2 or root the TUN part is skipped.
BENCH_DEPS = cmake make gcc pkg-config libpcap-dev
bench:
	@scripts/deps.sh --for "make bench" $(BENCH_DEPS)
	@scripts/deps.sh --for "make bench" iproute2 || echo "tunbatch: no iproute2: the TUN part will be skipped" >&2
	@scripts/deps.sh --for "make bench" dpdk-dev || echo "tunbatch: no dpdk-dev: rte_gro will say not available" >&2
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTB_CLI=OFF -DTB_TESTS=OFF -DTB_BENCH=ON $(CMAKE_FLAGS)
	cmake --build build-bench -j$(JOBS)
	@scripts/bench.sh build-bench $(BENCH_ARGS)

# End to end (root): tunbatch tunnel against the kernel over a bare veth, per cipher and
# offload, through a reordering relay; E2E_ARGS=--peers adds tinc, OpenVPN, fastd, Nebula
# and wireguard-go, --quick makes it a short smoke run. Table, JSON and chart in build-e2e/e2e/.
E2E_DEPS = $(BUILD_DEPS) libcmocka-dev iproute2 iperf3 python3 gnuplot-nox
E2E_ARGS ?=
e2e:
	@scripts/deps.sh --for "make e2e" $(E2E_DEPS)
	cmake -S . -B build-e2e -DCMAKE_BUILD_TYPE=Release -DTB_CLI=ON -DTB_TESTS=ON $(CMAKE_FLAGS)
	cmake --build build-e2e -j$(JOBS) --target tunbatch tb_impair
	scripts/e2e.sh build-e2e $(E2E_ARGS)

# libFuzzer targets (clang): fuzz/fuzz_*.c, corpora in fuzz/corpus/<target>/.
FUZZ_TIME ?= 60
FUZZ_DEPS = cmake make pkg-config libpcap-dev libssl-dev clang libclang-rt-14-dev

# make fuzz and make memcheck install nothing (make test installs what they need).
fuzz-build:
	@scripts/deps.sh --check --for "make fuzz" $(FUZZ_DEPS)
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTB_FUZZ=ON -DTB_TESTS=OFF $(CMAKE_FLAGS)
	cmake --build build-fuzz -j$(JOBS) --target fuzz_targets

# Every target (or those in FUZZ_TARGETS) for FUZZ_TIME seconds, one after the other.
fuzz: fuzz-build
	fuzz/run.sh build-fuzz $(FUZZ_TIME) $(FUZZ_TARGETS)

# Line and branch coverage of src/ by every corpus: clang source-based coverage,
# reported by llvm-cov (Debian's llvm-14).
COV_DEPS = $(FUZZ_DEPS) llvm-14

fuzz-coverage:
	@scripts/deps.sh --check --for "make fuzz-coverage" $(COV_DEPS)
	cmake -S . -B build-cov -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DTB_FUZZ=ON -DTB_FUZZ_COVERAGE=ON -DTB_TESTS=OFF $(CMAKE_FLAGS)
	cmake --build build-cov -j$(JOBS) --target fuzz_targets
	fuzz/coverage.sh build-cov

# Every target over its corpus (part of make test); in CI (CI=true) each also fuzzes 30 s.
fuzz-regress: fuzz-build
	fuzz/run.sh build-fuzz regress
	@if [ "$(CI)" = true ]; then fuzz/run.sh build-fuzz 30; fi

# valgrind memcheck of the unit tests and the CLI (no sanitizers): zero errors, zero leaks.
memcheck:
	@scripts/deps.sh --check --for "make memcheck" $(BUILD_DEPS) valgrind
	cmake -S . -B build-memcheck -DCMAKE_BUILD_TYPE=Debug -DTB_CLI=ON -DTB_TESTS=ON $(CMAKE_FLAGS)
	cmake --build build-memcheck -j$(JOBS)
	scripts/memcheck.sh build-memcheck

# Stripped: the shared library keeps its exported, versioned symbols (src/tunbatch.map).
install: all
	cmake --install $(BUILD_DIR) --strip
	@cat $(BUILD_DIR)/tunbatch-parts.txt
	@echo "tunbatch: installed into $(PREFIX) (listed in $(BUILD_DIR)/install_manifest.txt; make uninstall removes them)"

# Removes exactly the files make install put, as its manifest lists them.
uninstall:
	@[ -f $(BUILD_DIR)/install_manifest.txt ] || { echo "tunbatch: no $(BUILD_DIR)/install_manifest.txt: nothing installed from $(BUILD_DIR)" >&2; exit 1; }
	@while IFS= read -r f || [ -n "$$f" ]; do \
		if [ -e "$$f" ] || [ -L "$$f" ]; then rm -f "$$f" && echo "removed $$f"; fi; \
	done < $(BUILD_DIR)/install_manifest.txt
	@rmdir "$$(sed -n 's,/tunbatchConfig.cmake$$,,p' $(BUILD_DIR)/install_manifest.txt)" 2>/dev/null || true
	@rm -f $(BUILD_DIR)/install_manifest.txt

format:
	clang-format -i include/*.h src/*.c src/*.h tools/*.c tools/*.h tests/*.c tests/*.h bench/*.c bench/*.h fuzz/*.c fuzz/*.h examples/*.c 2>/dev/null || true

clean:
	rm -rf build build-test build-bench build-fuzz build-memcheck build-cov build-e2e
