# Quick start: `make run` (build and start the server on 127.0.0.1:11211), `make test`.
# Both install any missing Debian packages first (as root, or through sudo).
# WERROR=ON turns warnings into errors on connkit's own targets (CI does; the presets don't).

PRESET   ?= release
BUILD    := build/$(PRESET)
JOBS     ?= 2
WERROR   ?= OFF
PACKAGES := g++ cmake make libboost-dev libboost-system-dev catch2 \
            memcached libmemcached-tools python3-pymemcache libbenchmark-dev \
            liburing-dev pkgconf
# Packages only a preset needs: tsan and fuzz build with clang 14 (its TSan runtime,
# libFuzzer and the symbolizer).
PACKAGES_tsan := clang-14 libclang-rt-14-dev llvm-14
PACKAGES_fuzz := clang-14 libclang-rt-14-dev llvm-14
# Like memcached, cache_server refuses to run as root without -u: as root, name root itself.
RUN_USER := $(if $(filter 0,$(shell id -u)),-u root)
RUN_ARGS ?= $(strip -l 127.0.0.1 -p 11211 $(RUN_USER) -v)
# make fuzz: how long each fuzz target runs.
FUZZ_SECONDS ?= 60

.PHONY: all deps configure build run test asan-test tsan-test fuzz clean

all: build

deps:
	@./cmake/install-deps.sh $(PACKAGES) $(PACKAGES_$(PRESET))

configure: deps
	cmake --preset $(PRESET) -DCONNKIT_WERROR=$(WERROR)

build: configure
	cmake --build --preset $(PRESET) -j $(JOBS)

run: build
	$(BUILD)/examples/cache_server/cache_server $(RUN_ARGS)

test: build
	ctest --preset $(PRESET) -j $(JOBS)

asan-test:
	$(MAKE) test PRESET=asan

# ThreadSanitizer over the multi-threaded tests (ctest label multithreaded).
tsan-test:
	$(MAKE) test PRESET=tsan

# The libFuzzer targets of tests/fuzz/ (the fuzz preset: clang 14, ASan + UBSan), each run
# for FUZZ_SECONDS from its seed corpus; fails if any finds a crash (docs/fuzzing.md).
fuzz:
	$(MAKE) build PRESET=fuzz
	tests/fuzz/run.sh build/fuzz $(FUZZ_SECONDS)

clean:
	rm -rf build
