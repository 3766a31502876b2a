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
failed=0
for header in "$@"; do
  if ! out=$(printf '#include <%s>\n' "$header" | "$compiler" "${flags[@]}" -fsyntax-only -x c++ - 2>&1); then
    printf 'FAIL %s\n%s\n' "$header" "$out"
    failed=$((failed + 1))
  fi
done
echo "$# public headers compiled alone, $failed failed"
[ "$failed" -eq 0 ]
