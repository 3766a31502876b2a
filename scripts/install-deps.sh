#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages khz needs to build and test, when they are missing.
# Idempotent: a machine that has everything runs no apt-get at all.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost-dev libnghttp2-dev node-llhttp libssl-dev rapidjson-dev libkainjow-mustache-dev
  libsimdjson-dev libre2-dev zlib1g-dev libxxhash-dev libbrotli-dev libzstd-dev libhiredis-dev liburing-dev
  catch2 libbenchmark-dev clang libclang-rt-14-dev
  curl openssl wrk python3 slowhttptest gzip brotli zstd python3-brotli redis-server
  nghttp2-client python3-h2 nghttp2-server h2o python3-websockets nginx
  chromium node-ws nodejs protobuf-compiler libprotobuf-dev libprotoc-dev libcli11-dev prometheus
  thrift-compiler etcd-server etcd-client python3-grpcio
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm for test/node below: Debian's nodejs leaves it to its own package (Node.js builds that
# bring npm with them need nothing more).
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -ne 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The OpenTelemetry JS SDK for the tracing interop test (test/node), from its lock file; only
# when the lock changed since the last install.
node_dir="$(cd "$(dirname "$0")/.." && pwd)/test/node"
if [ ! -f "$node_dir/node_modules/.package-lock.json" ] ||
   [ "$node_dir/package-lock.json" -nt "$node_dir/node_modules/.package-lock.json" ]; then
  echo "install-deps: npm ci in test/node"
  (cd "$node_dir" && npm ci --no-audit --no-fund --silent)
fi
