#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the build into a scratch prefix and builds a project that uses find_package(khz).
#   install_test.sh <build-dir> <source-dir>
set -euo pipefail
build=$1 source=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build" --prefix "$scratch/prefix" > "$scratch/install.log"
test -f "$scratch/prefix/include/khz/app/server.h"
test -f "$scratch/prefix/include/khz/middleware/recovery.h"
test -f "$scratch/prefix/include/khz/proxy/reverse_proxy.h"
test -f "$scratch/prefix/include/khz/governance/discovery.h"
test -f "$scratch/prefix/lib/cmake/khz/khzConfig.cmake" || test -f "$scratch/prefix/lib/x86_64-linux-gnu/cmake/khz/khzConfig.cmake"
cmake -S "$source/test/install" -B "$scratch/consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$scratch/prefix" > "$scratch/configure.log"
cmake --build "$scratch/consumer" > "$scratch/build.log" || { cat "$scratch/build.log"; exit 1; }
"$scratch/consumer/consumer"
# The tools are installed and run from the prefix.
for tool in khz-fetch khz-load khz-gateway; do
  "$scratch/prefix/bin/$tool" --version | grep -q "$tool"
done
