#!/usr/bin/env bash
# make fuzz-fixture REPRO=out/fuzz/<finding>.o [NAME=short-name] [REGRESSIONS=dir]
# Copies a campaign's reproducer (and its CO-RE target .btf, when there is one) into the
# regression fixtures; test/fuzz/regressions.test.ts runs every file there and requires a parse
# or a typed error.
set -euo pipefail
repro="${1:-}"
name="${2:-}"
dir="${3:-test/regressions}"
if [ -z "$repro" ]; then
  echo "usage: make fuzz-fixture REPRO=out/fuzz/<finding>.o [NAME=short-name]" >&2
  exit 2
fi
if [ ! -f "$repro" ]; then
  echo "fuzz-fixture: $repro: no such file" >&2
  exit 2
fi
name="${name:-$(basename "$repro" .o)}"
if ! [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]]; then
  echo "fuzz-fixture: NAME=$name: use letters, digits, '.', '_' and '-'" >&2
  exit 2
fi
mkdir -p "$dir"
cp "$repro" "$dir/$name.o"
btf="${repro%.o}.btf"
if [ -f "$btf" ]; then cp "$btf" "$dir/$name.btf"; fi
echo "fuzz-fixture: $dir/$name.o$([ -f "$btf" ] && echo " (+ $name.btf)") — run: npx vitest run test/fuzz/regressions.test.ts"
