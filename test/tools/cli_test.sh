#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every tool and example answers -h/--help (usage on stdout, exit 0) and --version (the khz
# version, exit 0); a bad argument is a usage error (exit 2) and a bad address a clean error
# (exit 1), never an abort or a hang.
#   cli_test.sh <bin-dir> <version> <program>...
set -uo pipefail
bin=$1 version=$2
shift 2
failures=0 checks=0
expect() {  # expect <exit-code> <stdout-pattern> <program> <args>...
  local want=$1 pattern=$2 prog=$3
  shift 3
  local out rc
  out=$(timeout 10 "$bin/$prog" "$@" 2>/dev/null < /dev/null)
  rc=$?
  checks=$((checks + 1))
  if [ "$rc" != "$want" ] || ! grep -q -- "$pattern" <<< "$out"; then
    echo "FAIL: $prog $* -> exit $rc (want $want), stdout: ${out:0:200}"
    failures=$((failures + 1))
  fi
}
for prog in "$@"; do
  expect 0 "usage: $prog" "$prog" --help
  expect 0 "usage: $prog" "$prog" -h
  expect 0 "$version" "$prog" --version
  expect 2 "" "$prog" --no-such-option
done
for prog in hello gateway; do
  [ -x "$bin/$prog" ] || continue
  expect 1 "" "$prog" "not an address"
  expect 2 "" "$prog" 127.0.0.1:0 127.0.0.1:1 extra
done
echo "$((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
