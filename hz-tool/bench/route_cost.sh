#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A generated JSON route against the handwritten equivalent, in instructions per request
# (valgrind --tool=callgrind: stable on a busy machine, unlike wall-clock load tests). Installs
# the build into a scratch prefix, generates the store project of test/hz/idl/thrift, fills in
# GetItem as route_cost.cc's handwritten handler, builds route_cost and runs both variants.
#   hz-tool/bench/route_cost.sh <build-dir> <source-dir> [requests]
#   hz-tool/bench/route_cost.sh <build-dir> <source-dir> --load [seconds] [rounds]
# --load: both variants served on one loop pinned to CPU 0, wrk -t1 -c50 on CPU 1, rounds
# interleaved; prints requests per server CPU-second of each and the median ratio (a quiet
# machine, please).
set -euo pipefail
build=$1 source=$2 n=${3:-2000}
load_seconds=${4:-5} rounds=${5:-3}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build" --prefix "$scratch/prefix" > /dev/null
project=$scratch/store
"$scratch/prefix/bin/hz" new --idl "$source/test/hz/idl/thrift/store.thrift" -I "$source/test/hz/idl/thrift" \
  --service store --out-dir "$project" > /dev/null 2>&1
python3 "$source/test/hz/e2e/fill_handlers.py" "$project/biz/handler/demo/store/item_service.cc" \
  GetItem 'resp.id = req->id; @@ resp.name = req->fields.value_or(""); @@ resp.tags = {req->session};'
cp "$source/hz-tool/bench/route_cost.cc" "$project/"
echo 'add_executable(route_cost route_cost.cc ${hz_sources})
target_include_directories(route_cost PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(route_cost PRIVATE khz::khz)' >> "$project/CMakeLists.txt"
cmake -S "$project" -B "$project/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$scratch/prefix" > /dev/null
cmake --build "$project/build" --target route_cost > /dev/null
count() {  # count <variant> <requests>: total instructions (Ir)
  valgrind --tool=callgrind --callgrind-out-file="$scratch/cg.$1.$2" "$project/build/route_cost" "$1" "$2" > /dev/null 2>&1
  callgrind_annotate "$scratch/cg.$1.$2" 2> /dev/null | sed -n 's/^\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,
}
if [ "$n" = "--load" ]; then
  hz_per_cpu_second() {  # <variant>: requests per server CPU-second over one wrk run
    local port pid t0 t1 reqs
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    taskset -c 0 "$project/build/route_cost" "$1" serve "$port" 2> /dev/null &
    pid=$!
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/items/5" && break; sleep 0.05; done
    t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    reqs=$(taskset -c 1 wrk -t1 -c50 -d"${load_seconds}s" -H 'Cookie: session=s1' \
      "http://127.0.0.1:$port/items/5?fields=name" | awk '/requests in/ {print $1}')
    t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    kill "$pid"; wait "$pid" 2> /dev/null || true
    python3 -c "print(round($reqs / (($t1 - $t0) / $(getconf CLK_TCK))))"
  }
  ratios=()
  for round in $(seq "$rounds"); do
    h=$(hz_per_cpu_second handwritten)
    g=$(hz_per_cpu_second generated)
    r=$(python3 -c "print(f'{$g / $h:.3f}')")
    echo "round $round: handwritten $h, generated $g requests per server CPU-second: $r"
    ratios+=("$r")
  done
  python3 -c "import statistics; print('generated/handwritten, median of rounds:', statistics.median([$(IFS=,; echo "${ratios[*]}")]))"
  exit 0
fi
# Per request: the difference between n and 2n requests (start-up and first-call costs cancel).
for v in handwritten generated; do
  a=$(count $v "$n")
  b=$(count $v $((2 * n)))
  per=$(( (b - a) / n ))
  echo "$v: $per instructions per request"
  eval "per_$v=$per"
done
python3 -c "import sys; h, g = $per_handwritten, $per_generated; print(f'generated/handwritten throughput (inverse instruction ratio): {h / g:.4f}')"
