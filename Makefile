# tsebpf — the two commands a newcomer needs:  make demo  and  make test
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help setup build typecheck test test-unit test-kernel demo helpers check-helpers clean

help:
	@echo "make setup        install what this machine lacks (apt as root: clang-19, llvm-19, libbpf-dev, bpftool, iproute2; npm ci)"
	@echo "make build        compile TypeScript to dist/ (the tsebpf command: node dist/cli/main.js)"
	@echo "make test         setup, typecheck, then every test (unit, property, kernel)"
	@echo "make test-unit    unit and property tests only (no root needed)"
	@echo "make test-kernel  kernel tests only (root)"
	@echo "make demo         a short tour of what tsebpf does on this machine"
	@echo "make helpers      regenerate the helper table from this kernel's BTF"

setup:
	@scripts/setup.sh

build: setup
	npx tsc -p tsconfig.build.json
	chmod +x dist/cli/main.js

typecheck: setup
	npx tsc -p tsconfig.json --noEmit

test: setup typecheck
	npx vitest run

test-unit: setup
	npx vitest run --project unit --project property

test-kernel: setup
	npx vitest run --project kernel

demo: build
	@scripts/demo.sh

helpers: setup
	node scripts/gen-helpers.mjs

check-helpers:
	node scripts/gen-helpers.mjs --check

clean:
	rm -rf dist dist-check
