#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Compiles each public header alone: a translation unit that includes nothing else, so a header
# that leans on what its includer happened to include first fails here.
#   compile_headers.sh <c++ compiler> <flags...> -- <header as included: khz/common/task.h>...
# test/CMakeLists.txt passes every */include/khz/**/*.h it globbed at configure time.
set -uo pipefail
compiler=$1
shift
flags=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  flags+=("$1")
  shift
done
shift
[ $# -gt 0 ] || { echo "no headers to compile"; exit 1; }
# One compiler per CPU: the headers are independent, and this test would otherwise be the last
# one ctest waits for.
export KHZ_HEADER_COMPILER=$compiler
export KHZ_HEADER_FLAGS="${flags[*]}"
compile_one() {
  local header=$1 out
  # shellcheck disable=SC2086  # the flags are plain words (-I paths without spaces, options)
  if ! out=$(printf '#include <%s>\n' "$header" | "$KHZ_HEADER_COMPILER" $KHZ_HEADER_FLAGS -fsyntax-only -x c++ - 2>&1); then
    printf 'FAIL %s\n%s\n' "$header" "$out"
  fi
}
export -f compile_one
report=$(printf '%s\n' "$@" | xargs -P "$(nproc)" -I{} bash -c 'compile_one "$1"' _ {})
failed=$(grep -c '^FAIL ' <<<"$report")
[ -z "$report" ] || printf '%s\n' "$report"
echo "$# public headers compiled alone, $failed failed"
[ "$failed" -eq 0 ]
