# Front door: make, make test, make demo, make bench, make e2e, make fuzz, make install.
PREFIX ?= /usr/local
MAKEFLAGS += --no-print-directory
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

BUILD_DEPS = cmake make gcc pkg-config libcmocka-dev libpcap-dev libssl-dev
TEST_DEPS = $(BUILD_DEPS) iproute2 ethtool nftables clang libclang-rt-14-dev iperf3 tcpdump python3 clang-format

.PHONY: all deps test demo bench e2e fuzz fuzz-build fuzz-regress memcheck install clean format

all: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)
	cmake --build build -j$(JOBS)

deps:
	@scripts/deps.sh $(BUILD_DEPS)

# Sanitized build, every test. Root-only tests skip (exit 77) elsewhere.
# The fuzz corpora and valgrind run first, so that ctest's summary closes the output.
test:
	@scripts/deps.sh $(TEST_DEPS)
	@$(MAKE) --no-print-directory fuzz-regress memcheck
	cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DTB_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build build-test -j$(JOBS)
	cd build-test && ctest --output-on-failure --timeout 900

demo: all
	@scripts/demo.sh build/tools/tunbatch

# BENCH_ARGS go to tb_bench, e.g. make bench BENCH_ARGS=--json. Without dpdk-dev the
# rte_gro comparison says "not available"; without iproute2 or root the TUN part is skipped.
bench:
	@scripts/deps.sh $(BUILD_DEPS)
	@scripts/deps.sh iproute2 || echo "tunbatch: no iproute2: the TUN part will be skipped" >&2
	@scripts/deps.sh dpdk-dev || echo "tunbatch: no dpdk-dev: rte_gro will say not available" >&2
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTB_TESTS=OFF -DTB_BENCH=ON $(CMAKE_FLAGS)
	cmake --build build-bench -j$(JOBS)
	@scripts/bench.sh build-bench $(BENCH_ARGS)

# End to end (root): tunbatch tunnel against the kernel over a bare veth, per cipher and
# offload, through a reordering relay; E2E_ARGS=--peers adds tinc, OpenVPN, fastd, Nebula
# and wireguard-go, --quick makes it a short smoke run. Table, JSON and chart in build-e2e/e2e/.
E2E_DEPS = $(BUILD_DEPS) libcmocka-dev iproute2 iperf3 python3 gnuplot-nox
E2E_ARGS ?=
e2e:
	@scripts/deps.sh $(E2E_DEPS)
	cmake -S . -B build-e2e -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build build-e2e -j$(JOBS) --target tunbatch tb_impair
	scripts/e2e.sh build-e2e $(E2E_ARGS)

# libFuzzer targets (clang): fuzz/fuzz_*.c, corpora in fuzz/corpus/<target>/.
FUZZ_TIME ?= 60
FUZZ_DEPS = cmake make pkg-config libpcap-dev libssl-dev clang libclang-rt-14-dev

fuzz-build:
	@scripts/deps.sh $(FUZZ_DEPS)
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTB_FUZZ=ON -DTB_TESTS=OFF $(CMAKE_FLAGS)
	cmake --build build-fuzz -j$(JOBS) --target fuzz_targets

# Every target (or those in FUZZ_TARGETS) for FUZZ_TIME seconds, one after the other.
fuzz: fuzz-build
	fuzz/run.sh build-fuzz $(FUZZ_TIME) $(FUZZ_TARGETS)

# Every target over its corpus (part of make test); in CI (CI=true) each also fuzzes 30 s.
fuzz-regress: fuzz-build
	fuzz/run.sh build-fuzz regress
	@if [ "$(CI)" = true ]; then fuzz/run.sh build-fuzz 30; fi

# valgrind memcheck of the unit tests and the CLI (no sanitizers): zero errors, zero leaks.
memcheck:
	@scripts/deps.sh $(BUILD_DEPS) valgrind
	cmake -S . -B build-memcheck -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)
	cmake --build build-memcheck -j$(JOBS)
	scripts/memcheck.sh build-memcheck

install: all
	cmake --install build

format:
	clang-format -i include/*.h src/*.c src/*.h tools/*.c tools/*.h tests/*.c tests/*.h bench/*.c bench/*.h fuzz/*.c fuzz/*.h examples/*.c 2>/dev/null || true

clean:
	rm -rf build build-test build-bench build-fuzz build-memcheck build-e2e
