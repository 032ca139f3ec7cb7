# tsebpf — the two commands a newcomer needs:  make demo  and  make test
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help setup build typecheck test test-unit test-kernel test-property fuzz fuzz-fixture demo bench vmlinux abi check-abi fixtures programs clean

CLANG ?= clang-19
LLVM_STRIP ?= llvm-strip-19
# Debian keeps asm/types.h under the multiarch directory, which -target bpf does not search.
MULTIARCH_INCLUDE := /usr/include/$(shell uname -m)-linux-gnu
# Reproducible objects: relative paths in BTF line info, no DWARF (BTF carries what tsebpf needs).
BPF_CFLAGS := -O2 -g -mcpu=v3 -Wall -Wno-unused-function -I$(MULTIARCH_INCLUDE) -fdebug-prefix-map=$(CURDIR)=.
FIXTURE_SRC := $(wildcard test/fixtures/*.bpf.c)
FIXTURES := $(FIXTURE_SRC:.bpf.c=.bpfel.o) $(FIXTURE_SRC:.bpf.c=.bpfeb.o)
# The programs' BPF objects (committed): built against the vmlinux.h tsebpf writes itself.
PROGRAM_SRC := $(wildcard src/programs/*/*.bpf.c)
PROGRAM_OBJECTS := $(PROGRAM_SRC:.bpf.c=.bpf.o)

help:
	@echo "make setup        install what this machine lacks (apt as root: clang-19, llvm-19, libbpf-dev, bpftool, iproute2; npm ci)"
	@echo "make build        compile TypeScript to dist/ (the tsebpf command: node dist/cli/main.js)"
	@echo "make test         setup, typecheck, then every test (unit, property, kernel)"
	@echo "make test-unit    unit and property tests only (no root needed)"
	@echo "make test-kernel  kernel tests only (root)"
	@echo "make test-property  property tests only; TSEBPF_PROPERTY_RUNS=x10 (or =100000) scales every property"
	@echo "make fuzz         fuzz campaign over the ELF/BTF/CO-RE parsers [MINUTES=10] [OBJECTS=dir] (reproducers in out/fuzz)"
	@echo "make fuzz-fixture REPRO=out/fuzz/<finding>.o [NAME=x]  a campaign's reproducer becomes a regression fixture"
	@echo "make demo         packetfilter on a throwaway two-namespace topology (veth pair), with traffic"
	@echo "make bench        benchmarks: ratios against peers (libbpf, llvm) measured in the same run"
	@echo "make gen          regenerate the programs' committed TypeScript bindings (tsebpf gen)"
	@echo "make abi          regenerate the helper table and kernel enums from this kernel's BTF"
	@echo "make fixtures     rebuild the test fixture objects with clang-19 (committed)"
	@echo "make programs     rebuild the programs' BPF objects (src/programs/*/*.bpf.o, committed) with clang-19"
	@echo "make vmlinux      write out/vmlinux.h from this kernel's BTF with tsebpf btf dump"

setup:
	@scripts/setup.sh

build: setup
	npx tsc -p tsconfig.build.json
	chmod +x dist/cli/main.js

typecheck: setup
	npx tsc -p tsconfig.json --noEmit

test: setup typecheck build
	npx vitest run

test-unit: setup
	npx vitest run --project unit --project property

test-kernel: setup
	npx vitest run --project kernel

bench: setup
	npm run bench

# Property tests and fuzzing (README: "Property tests and fuzzing"). TSEBPF_PROPERTY_RUNS scales
# every property's run count: x10 multiplies CI's counts, 100000 runs each property that often.
test-property: setup
	npx vitest run --project property

# A fuzz campaign for a wall-clock budget (MINUTES, or FUZZ_SECONDS) over the repository's objects
# and every ELF file under OBJECTS (a directory list); exits 1 when an input escaped the typed
# errors, hung or ran out of memory (reproducers and replay commands in FUZZ_OUT).
MINUTES ?= 10
FUZZ_OUT ?= out/fuzz
fuzz:
	npx tsc -p tsconfig.tools.json || echo "fuzz: tsc reported type errors (above); running what it emitted" >&2
	node dist-tools/scripts/fuzz/main.js $(if $(FUZZ_SECONDS),--seconds $(FUZZ_SECONDS),--minutes $(MINUTES)) $(foreach d,$(OBJECTS),--objects $(d)) --out $(FUZZ_OUT) $(FUZZ_FLAGS)

fuzz-fixture:
	@scripts/fuzz/fixture.sh "$(REPRO)" "$(NAME)" "$(or $(REGRESSIONS),test/regressions)"

demo: build
	@scripts/demo.sh

abi: setup
	npm run -s gen:abi

check-abi: setup
	npm run -s gen:abi -- --check

# The running kernel's types as a C header, written by tsebpf itself (no bpftool needed); the
# BPF programs under src/programs/ include it.
VMLINUX_H := out/vmlinux.h
vmlinux: $(VMLINUX_H)
$(VMLINUX_H): build
	mkdir -p out
	node dist/cli/main.js btf dump --format c > $@.tmp && mv $@.tmp $@

programs: $(PROGRAM_OBJECTS)

src/programs/%.bpf.o: src/programs/%.bpf.c $(VMLINUX_H)
	$(CLANG) -target bpfel $(BPF_CFLAGS) -I$(CURDIR)/out -c $< -o $@
	$(LLVM_STRIP) -g $@

fixtures: $(FIXTURES)
	cd test/fixtures/objdump && ./build.sh
	cd test/fixtures/elf && ./build.sh

test/fixtures/%.bpfel.o: test/fixtures/%.bpf.c test/fixtures/common.h
	cd test/fixtures && $(CLANG) -target bpfel $(BPF_CFLAGS) -c $*.bpf.c -o $*.bpfel.o
	$(LLVM_STRIP) -g $@

test/fixtures/%.bpfeb.o: test/fixtures/%.bpf.c test/fixtures/common.h
	cd test/fixtures && $(CLANG) -target bpfeb $(BPF_CFLAGS) -c $*.bpf.c -o $*.bpfeb.o
	$(LLVM_STRIP) -g $@

# The programs' generated bindings (committed; test/gen/programs.test.ts fails when they are stale).
.PHONY: gen
gen: build
	node dist/cli/main.js gen src/programs/loadbalancer/loadbalancer.bpf.o -o src/programs/loadbalancer/loadbalancer.gen.ts --type flow_event --import-from ../../index.js --path
	node dist/cli/main.js gen src/programs/comtrace/comtrace.bpf.o -o src/programs/comtrace/comtrace.gen.ts --type conn_event --type "enum owner_source" --type "enum close_reason" --type "enum conn_flags" --type "enum stat_index" --import-from ../../index.js --path
	node dist/cli/main.js gen src/programs/packetfilter/packetfilter.bpf.o -o src/programs/packetfilter/packetfilter.gen.ts --type drop_event --type rule --type hit --type v4_host --type v6_host --type v4_prefix --type v6_prefix --import-from ../../index.js --path
	node dist/cli/main.js gen src/programs/jittergen/jittergen.bpf.o -o src/programs/jittergen/jittergen.gen.ts --type rule --type rule_set --type rule_counters --type jg_stats --type rule_state --import-from ../../index.js --path
	node dist/cli/main.js gen src/programs/lsmbpf/lsmbpf.bpf.o -o src/programs/lsmbpf/lsmbpf.gen.ts --type chroot_event --type "enum guard_engine" --type "enum guard_action" --type "enum stat_index" --import-from ../../index.js --path
	node dist/cli/main.js gen test/fixtures/bootstrap.bpfel.o -o test/gen/bindings/bootstrap.gen.ts --type event --import-from ../../../src/index.js --path
	node dist/cli/main.js gen test/fixtures/tcplife.bpfel.o -o test/gen/bindings/tcplife.gen.ts --type event --import-from ../../../src/index.js --path

clean:
	rm -rf dist dist-check
