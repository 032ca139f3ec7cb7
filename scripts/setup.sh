#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks for building and testing tsebpf:
# clang-19, llvm-19, libbpf-dev (headers), bpftool, iproute2 and util-linux through apt (as root,
# only the missing ones), then the npm dependencies. Safe to run again: it does nothing twice.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
have clang-19 || missing+=(clang-19)
have llvm-objdump-19 && have llvm-mc-19 || missing+=(llvm-19)
[ -f /usr/include/bpf/bpf_helper_defs.h ] || missing+=(libbpf-dev)
have bpftool || missing+=(bpftool)
have ip || missing+=(iproute2)
have nsenter || missing+=(util-linux)
have make || missing+=(make)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && have apt-get; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing ${missing[*]}; install them (as root: apt-get install --no-install-recommends ${missing[*]})" >&2
    echo "setup: continuing; tests that need them will say so" >&2
  fi
fi

# npm dependencies: install when node_modules is missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
