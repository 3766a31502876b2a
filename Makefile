# SPDX-License-Identifier: Apache-2.0
# make demo   install what is missing, build, run the hello service on 127.0.0.1:8888
# make test   install what is missing; fuzz the codecs; build Release and ASan+UBSan and run
#             every test in both
# make build  Release build into build/ (executables in build/bin/)
# make bench  Release build, then the load benchmark against the peers (benchmark/README.md)
# make fuzz-long  every fuzz target for 10 minutes (make test fuzzes a few minutes in all)
# make clean

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_BUDGET ?= 150
FUZZ_SECONDS ?=
FUZZ_LONG_SECONDS ?= 600
JOBS       ?= $(shell nproc)
# Tests spend most of their time waiting on sockets, timers and child processes: on two cores
# the Release suite keeps them 64% busy at -j 6 (175 s; 250 s at -j 4), the sanitizer suite 43%
# at -j 4 (200 s; 385 s and 20% busy at -j 2). Both also passed so with a busy loop on one core.
CTEST_JOBS ?= 6
CTEST_ASAN_JOBS ?= 4
CMAKE_GEN  := -G Ninja

.PHONY: deps build build-asan build-fuzz demo test test-release test-asan test-fuzz fuzz-long bench clean bookinfo

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKHZ_SANITIZE=ON \
	  -DKHZ_BUILD_BENCHMARKS=OFF

$(FUZZ_BUILD)/build.ninja:
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DKHZ_SANITIZE=ON -DKHZ_FUZZ=ON -DKHZ_BUILD_EXAMPLES=OFF -DKHZ_BUILD_BENCHMARKS=OFF

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS)

build-fuzz: deps $(FUZZ_BUILD)/build.ninja
	cmake -S . -B $(FUZZ_BUILD) -DKHZ_FUZZ_BUDGET=$(FUZZ_BUDGET) -DKHZ_FUZZ_SECONDS=$(FUZZ_SECONDS) > /dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/bin/hello

# Bookinfo on etcd: every service and the gateway on 127.0.0.1:9080/productpage (Ctrl-C stops all).
bookinfo: build
	examples/bookinfo/run.sh ./$(BUILD)/bin/bookinfo

test-release: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(CTEST_JOBS)

test-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(CTEST_ASAN_JOBS)

# libFuzzer targets (request and response parsers, chunked decoder, multipart and urlencoded
# form codecs, the event-stream parser and encoder, WebSocket frames and permessage-deflate,
# the Range parser and static-file paths, JSON binding, the gzip/deflate/br/zstd decoders, JWT
# verification and JWKS documents, the CORS origin matcher, the Basic Authorization parser,
# rate_limit's client address behind proxies, the session cookie's decoder, W3C traceparent,
# tracestate and baggage, the log line formats, the HTTP/2 server session and client connection
# driven by frame programs) under ASan+UBSan, two at a time, sharing a fixed budget of FUZZ_BUDGET
# seconds (test/fuzz/CMakeLists.txt);
# FUZZ_SECONDS=N gives each target N seconds instead.
test-fuzz: build-fuzz
	ASAN_OPTIONS=detect_leaks=1 ctest --test-dir $(FUZZ_BUILD) --output-on-failure -j 2

# Every fuzz target for FUZZ_LONG_SECONDS (default 10 minutes) each: not part of make test.
fuzz-long:
	$(MAKE) test-fuzz FUZZ_SECONDS=$(FUZZ_LONG_SECONDS)

test: test-fuzz test-release test-asan

# Builds only what the benchmark runs; run.sh builds the Go peer and configures nginx itself.
bench: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target khz-bench-server beast-bench-server \
	  beast-ws-bench-server khz-wsload floor-bench-server
	BUILD=$(BUILD) BENCH_INVOKED_AS="make bench" bash benchmark/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
