#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# khz load benchmark: khz (each transport), Boost.Beast, Go net/http, nginx and a canned epoll C
# "floor" (plaintext rows only), one core each.
#
#   bash benchmark/run.sh                  (or `make bench`, which builds Release first)
#   BENCH_SECONDS=2 bash benchmark/run.sh  (quick try)
#
# Each server runs pinned to CPU 0, wrk (one thread) pinned to CPU 1. For every scenario the
# script records wrk's req/s and latency percentiles and the server's CPU time over the run
# (utime+stime of the server's processes, from /proc), then prints one table and writes it to
# build/bench/results.md. WebSocket echo rows (khz-wsload against khz's /ws, Beast and node ws)
# get a table of their own, in messages per server CPU-second. Then an idle check: N keep-alive
# connections per server, RSS before and after. Every figure in the report comes from this one
# run. See benchmark/README.md.
#
# Settings (environment):
#   BENCH_SECONDS=10          measured seconds per scenario
#   BENCH_ROUNDS=3            rounds of the load scenarios: each round starts every server afresh
#                             and runs each scenario against all of them back to back; the
#                             report gives each figure's median round
#   BENCH_WARMUP=1            unmeasured warm-up seconds before each scenario (0: none)
#   BENCH_SCENARIOS=""        only the HTTP/1.1 load scenarios whose name contains this text
#                             ("static": the two static file rows); "": all of them
#   BENCH_SERVERS="khz khz-mw khz-metrics khz-tracing beast go nginx floor"  HTTP/1.1 servers ("": none,
#                                     e.g. to run only HTTP/2); khz-mw is khz-bench-server --middleware
#                                     (every route behind the middleware stack), khz-metrics is it with
#                                     --metrics (every built-in instrument on), khz-tracing with
#                                     --tracing (the tracing middleware, sampling 0); each reported
#                                     against bare khz; khz-<transport> names one transport
#                                     (khz-uring); floor is benchmark/peers/floor/floor.c, canned
#                                     bytes for every request (its non-plaintext rows are n/a)
#   BENCH_TRANSPORTS="asio netpoll uring"  khz transports; one that is not built in is reported
#                                     "not available" and skipped
#   BENCH_H2_SERVERS="khz nghttpd h2o"  HTTP/2 scenarios, h2c (prior knowledge) and h2 over TLS:
#                                     h2load -c50 -m16
#                                     against each ("": skip it); khz once per transport
#   BENCH_WS_SERVERS="khz beast-ws node-ws"  WebSocket echo (64 B and 16 KiB messages, 50
#                                     connections, khz-wsload) against each ("": skip it); khz
#                                     once per transport, at its /ws route
#   BENCH_WS_CLIENT_THREADS=1         khz-wsload's threads (-t); more only with as many CPUs in
#                                     BENCH_CLIENT_CPU (e.g. BENCH_CLIENT_CPU=1-2)
#   BENCH_IDLE_CONNECTIONS=10000      connections for the idle check (0: skip it)
#   BENCH_IDLE_SOURCES=1              spread idle connections over 127.0.0.1..127.0.0.K
#   BENCH_PORT=28080                  first TCP port; each server gets its own
#   BENCH_CLIENT=1                    client scenarios (0: skip them):
#   BENCH_CLIENT_SCENARIOS="h1 h2 discovery"  h1: khz-load against wrk (-c50); h2: khz-load over h2c
#                                     discovery: khz-load by address and by service name
#                                     (--discover), alternating, BENCH_ROUNDS each: what
#                                     discovery and balancing add to a call (req per client CPU-s)
#                                     against h2load (-c50 -m16), same server, same CPUs
#   BENCH_GATEWAY=1                   gateway rows (0: skip them): khz-gateway (one loop, each
#                                     transport in BENCH_TRANSPORTS) and nginx proxy_pass (one
#                                     worker, upstream keep-alive) on the server CPU, in front of
#                                     khz-bench-server (netpoll) sharing the client CPU with wrk:
#                                     GET /plaintext and POST /echo 16 KiB, -c50, requests per
#                                     gateway CPU-second and p99
#   BENCH_SERVER_CPU=0 BENCH_CLIENT_CPU=1
#   BUILD=build                       CMake build directory (Release)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_WARMUP=${BENCH_WARMUP:-1}
BENCH_SCENARIOS=${BENCH_SCENARIOS:-}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_SERVERS=${BENCH_SERVERS-"khz khz-mw khz-metrics khz-tracing beast go nginx floor"}
BENCH_TRANSPORTS=${BENCH_TRANSPORTS:-"asio netpoll uring"}
BENCH_H2_SERVERS=${BENCH_H2_SERVERS-"khz nghttpd h2o"}
BENCH_WS_SERVERS=${BENCH_WS_SERVERS-"khz beast-ws node-ws"}
BENCH_WS_CLIENT_THREADS=${BENCH_WS_CLIENT_THREADS:-1}
BENCH_IDLE_CONNECTIONS=${BENCH_IDLE_CONNECTIONS:-10000}
BENCH_IDLE_SOURCES=${BENCH_IDLE_SOURCES:-1}
BENCH_PORT=${BENCH_PORT:-28080}
BENCH_CLIENT=${BENCH_CLIENT:-1}
BENCH_CLIENT_SCENARIOS=${BENCH_CLIENT_SCENARIOS:-"h1 h2 discovery"}
BENCH_GATEWAY=${BENCH_GATEWAY:-1}
BENCH_SERVER_CPU=${BENCH_SERVER_CPU:-0}
BENCH_CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
OUT="$BUILD/bench"
BENCH_DIR="$ROOT/benchmark"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- processes: everything started here is tracked and stopped on exit, even on failure ---
TRACKED=()

descendants() {  # prints the pid and all its descendants, deepest last
  local pid=$1 child
  echo "$pid"
  for child in $(pgrep -P "$pid" 2>/dev/null || true); do descendants "$child"; done
}

alive() {  # running and not a zombie
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

stop_tree() {  # TERM the process and its descendants, wait up to 5 s, then KILL what is left
  local pid=$1 pids i
  pids=$(descendants "$pid")
  kill -TERM $pids 2>/dev/null || true
  for i in $(seq 50); do
    local left=0 p
    for p in $pids; do alive "$p" && left=1; done
    [ $left = 0 ] && break
    sleep 0.1
  done
  kill -KILL $pids 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

untrack() {
  local pid=$1 kept=() p
  for p in "${TRACKED[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
  TRACKED=("${kept[@]}")
}

cleanup() {
  local p
  for p in "${TRACKED[@]}"; do stop_tree "$p"; done
  TRACKED=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# --- dependencies (idempotent: nothing runs when everything is installed) ---
install_deps() {
  bash "$ROOT/scripts/install-deps.sh"
  local packages=(wrk nginx golang-go util-linux curl python3 procps nghttp2-client nghttp2-server h2o time
    nodejs node-ws)
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  local sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  # Keep the nginx package from starting the system service on port 80: only our own nginx
  # instance should run. policy-rc.d is Debian's switch for that; removed again afterwards.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee $policy >/dev/null
    "${sudo_cmd[@]}" chmod +x $policy
    made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    { [ $made_policy = 1 ] && "${sudo_cmd[@]}" rm -f $policy; die "apt-get install failed"; }
  [ $made_policy = 1 ] && "${sudo_cmd[@]}" rm -f $policy
  return 0
}

# --- build: khz-bench-server and beast-bench-server through CMake, the Go peer with go build ---
build_servers() {
  if [ ! -f "$BUILD/build.ninja" ]; then
    cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKHZ_BUILD_TESTS=OFF
  fi
  local type
  type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
  [ "$type" = Release ] || die "$BUILD is a '$type' build; benchmarks need Release"
  cmake --build "$BUILD" -j "$(nproc)" --target khz-bench-server beast-bench-server khz-load \
    beast-ws-bench-server khz-wsload floor-bench-server
  mkdir -p "$BUILD/go/cache" "$BUILD/go/path"
  (cd "$BENCH_DIR/peers/go" &&
    GOCACHE="$BUILD/go/cache" GOPATH="$BUILD/go/path" GOFLAGS= GO111MODULE=on GOPROXY=off \
      GOTOOLCHAIN=local go build -o "$BUILD/bin/go-bench-server" .)
}

# --- servers ---
# Server names: khz-<transport>, khz-mw-<transport>, khz-metrics-<transport>, khz-tracing-<transport>, beast, go, nginx, floor. server_command NAME PORT prints nothing; it
# sets CMD (an array) for that server on that port.
server_command() {
  local name=$1 port=$2
  case "$name" in
    khz-mw-*)  # the same routes behind the middleware stack
      CMD=("$BUILD/bin/khz-bench-server" --port "$port" --loops 1 --transport "${name#khz-mw-}" --static "$STATIC_DIR"
        --middleware)
      ;;
    khz-metrics-*)  # the same routes with every built-in instrument on
      CMD=("$BUILD/bin/khz-bench-server" --port "$port" --loops 1 --transport "${name#khz-metrics-}" --static "$STATIC_DIR"
        --metrics)
      ;;
    khz-tracing-*)  # the same routes with the tracing middleware at sampling ratio 0
      CMD=("$BUILD/bin/khz-bench-server" --port "$port" --loops 1 --transport "${name#khz-tracing-}" --static "$STATIC_DIR"
        --tracing)
      ;;
    khz-*) CMD=("$BUILD/bin/khz-bench-server" --port "$port" --loops 1 --transport "${name#khz-}" --static "$STATIC_DIR") ;;
    h2-khz-*) CMD=("$BUILD/bin/khz-bench-server" --port "$port" --loops 1 --transport "${name#h2-khz-}" --h2c) ;;
    h2tls-khz-*)  # h2 and http/1.1 by ALPN
      CMD=("$BUILD/bin/khz-bench-server" --port "$port" --loops 1 --transport "${name#h2tls-khz-}"
        --tls-cert "$OUT/tls/cert.pem" --tls-key "$OUT/tls/key.pem")
      ;;
    h2tls-nghttpd) CMD=(nghttpd -n 1 -d "$OUT/h2-doc" "$port" "$OUT/tls/key.pem" "$OUT/tls/cert.pem") ;;
    h2tls-h2o)
      local conf="$OUT/h2o-$port.conf"
      printf 'listen:\n  host: 127.0.0.1\n  port: %s\n  ssl:\n    certificate-file: %s\n    key-file: %s\nnum-threads: 1\nhosts:\n  default:\n    paths:\n      /:\n        file.dir: %s\n' \
        "$port" "$OUT/tls/cert.pem" "$OUT/tls/key.pem" "$OUT/h2-doc" >"$conf"
      CMD=(h2o -c "$conf")
      ;;
    h2-nghttpd)  # static files: $OUT/h2-doc/plaintext
      CMD=(nghttpd --no-tls -n 1 -d "$OUT/h2-doc" "$port")
      ;;
    h2-h2o)
      local conf="$OUT/h2o-$port.conf"
      printf 'listen:\n  host: 127.0.0.1\n  port: %s\nnum-threads: 1\nhosts:\n  default:\n    paths:\n      /:\n        file.dir: %s\n' \
        "$port" "$OUT/h2-doc" >"$conf"
      CMD=(h2o -c "$conf")
      ;;
    beast) CMD=("$BUILD/bin/beast-bench-server" --port "$port") ;;
    beast-ws) CMD=("$BUILD/bin/beast-ws-bench-server" --port "$port") ;;  # WebSocket echo at /ws
    node-ws) CMD=(env NODE_PATH=/usr/share/nodejs node "$BENCH_DIR/peers/node-ws/echo.js" --port "$port") ;;
    go) CMD=(env GOMAXPROCS=1 "$BUILD/bin/go-bench-server" -port "$port") ;;
    floor) CMD=("$BUILD/bin/floor-bench-server" --port "$port") ;;  # canned bytes, epoll, one thread
    nginx)
      local prefix="$OUT/nginx-$port"
      rm -rf "$prefix" && mkdir -p "$prefix/empty"
      sed -e "s|@PORT@|$port|g" -e "s|@PREFIX@|$prefix|g" -e "s|@STATIC@|$STATIC_DIR|g" \
        "$BENCH_DIR/peers/nginx/nginx.conf.in" >"$prefix/nginx.conf"
      CMD=(nginx -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf" -g 'daemon off;')
      ;;
    *) die "unknown server $name" ;;
  esac
}

# start_server NAME PORT: starts it pinned to the server CPU and waits until GET /plaintext
# answers. Sets SERVER_PID. Returns 1 if the server exited or never answered (its log stays in
# $OUT/NAME.log).
start_server() {
  local name=$1 port=$2 i ready_opts=() scheme=http
  [[ "$name" == h2-* ]] && ready_opts=(--http2-prior-knowledge)  # HTTP/2 peers may not speak HTTP/1.1
  [[ "$name" == h2tls-* ]] && ready_opts=(--http2 -k) && scheme=https
  server_command "$name" "$port"
  taskset -c "$BENCH_SERVER_CPU" "${CMD[@]}" >"$OUT/$name.log" 2>&1 &
  SERVER_PID=$!
  TRACKED+=("$SERVER_PID")
  for i in $(seq 100); do
    if ! alive "$SERVER_PID"; then
      wait "$SERVER_PID" 2>/dev/null || true
      untrack "$SERVER_PID"
      return 1
    fi
    if curl -sf -o /dev/null --max-time 1 "${ready_opts[@]}" "$scheme://127.0.0.1:$port/plaintext"; then return 0; fi
    sleep 0.1
  done
  stop_server
  return 1
}

stop_server() {
  stop_tree "$SERVER_PID"
  untrack "$SERVER_PID"
}

cpu_ticks() {  # utime+stime of the server and its child processes (all threads), clock ticks
  local total=0 p fields
  for p in $(descendants "$1"); do
    fields=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    set -- $fields
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}

rss_kib() {  # VmRSS of the server and its child processes, KiB
  local total=0 p v
  for p in $(descendants "$1"); do
    v=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$p/status" 2>/dev/null) || continue
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# check_routes PORT: what this server gets wrong, one word per failed check (plaintext, json,
# echo1k, echo16k, bind, static4k, static1m); empty when every route answers exactly as
# specified. Only khz serves POST /bind (binding and validation; benchmark/bind/bind_contract.h):
# the peers' bind rows are n/a. khz (--static) and nginx serve $STATIC_DIR under /static/;
# beast and go do not, so their static rows are n/a.
ECHO_1K="$OUT/body-1k" ECHO_16K="$OUT/body-16k" STATIC_DIR="$OUT/static"
check_routes() {
  local port=$1 bad="" got
  curl -sf --max-time 5 "http://127.0.0.1:$port/static/4k.bin" -o "$OUT/static-got" &&
    cmp -s "$OUT/static-got" "$STATIC_DIR/4k.bin" || bad+=" static4k"
  curl -sf --max-time 5 "http://127.0.0.1:$port/static/1m.bin" -o "$OUT/static-got" &&
    cmp -s "$OUT/static-got" "$STATIC_DIR/1m.bin" || bad+=" static1m"
  got=$(curl -sf --max-time 5 "http://127.0.0.1:$port/plaintext" || true)
  [ "$got" = "Hello, World!" ] || bad+=" plaintext"
  got=$(curl -sf --max-time 5 "http://127.0.0.1:$port/json" || true)
  python3 -c 'import json,sys; sys.exit(json.loads(sys.argv[1]) != {"message": "Hello, World!"})' \
    "$got" 2>/dev/null || bad+=" json"
  curl -sf --max-time 5 --data-binary "@$ECHO_1K" -H 'Content-Type: application/octet-stream' \
    "http://127.0.0.1:$port/echo" -o "$OUT/echo-got" && cmp -s "$OUT/echo-got" "$ECHO_1K" ||
    bad+=" echo1k"
  curl -sf --max-time 5 --data-binary "@$ECHO_16K" -H 'Content-Type: application/octet-stream' \
    "http://127.0.0.1:$port/echo" -o "$OUT/echo-got" && cmp -s "$OUT/echo-got" "$ECHO_16K" ||
    bad+=" echo16k"
  local bind_body='{"name":"Ada Lovelace","age":36,"email":"ada@example.org","tags":["math","engines","poetry"],"address":{"city":"London","zip":"12345"}}'
  got=$(curl -sf --max-time 5 -H 'Content-Type: application/json' -H 'X-Request-Id: wrk-1' --data "$bind_body" \
    "http://127.0.0.1:$port/bind?verbose=true" || true)
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(not (d["name"] == "Ada Lovelace" and d["address"]["zip"] == "12345" and d["verbose"] is True and d["request_id"] == "wrk-1"))' \
    "$got" 2>/dev/null || bad+=" bind"
  got=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data '{"age":151,"address":{}}' "http://127.0.0.1:$port/bind" || true)
  [ "$got" = 400 ] || [[ "$bad" == *bind* ]] || bad+=" bind"
  echo "$bad"
}

# --- load scenarios ---
# name | connections | path | wrk script and its arguments | route check | latency
# latency "no": wrk's percentiles are not reported. With pipelining wrk times a whole batch of
# 16, and its coordinated-omission correction (which assumes one request per round trip) adds
# samples that break its histogram: it prints 99% as 0.00us. Throughput and CPU stay valid.
SCENARIOS=(
  "plaintext c50|50|/plaintext||plaintext|yes"
  "plaintext c256|256|/plaintext||plaintext|yes"
  "plaintext pipelined x16 c50|50||pipeline.lua -- /plaintext 16|plaintext|no"
  "json c50|50|/json||json|yes"
  "echo 1 KiB c50|50|/echo|echo_1k.lua|echo1k|yes"
  "echo 16 KiB c50|50|/echo|echo_16k.lua|echo16k|yes"
  "bind c50|50|/bind?verbose=true|bind.lua|bind|yes"
  "static 4 KiB c50|50|/static/4k.bin||static4k|yes"
  "static 1 MiB c50|50|/static/1m.bin||static1m|yes"
)

wrk_args() {  # CONNECTIONS PATH SCRIPT PORT SECONDS -> sets ARGS
  local connections=$1 path=$2 script=$3 port=$4 seconds=$5
  ARGS=(--latency -t1 -c "$connections" -d "${seconds}s" --timeout 5s)
  if [ -n "$script" ]; then
    # "pipeline.lua -- /plaintext 16": the script, then wrk's "--" and the script's arguments
    local file=${script%% *} rest=""
    if [ "$file" != "$script" ]; then rest=${script#* }; fi
    ARGS+=(-s "$BENCH_DIR/wrk/$file" "http://127.0.0.1:$port$path")
    # shellcheck disable=SC2206  # the arguments are plain words by construction
    if [ -n "$rest" ]; then ARGS+=($rest); fi
  else
    ARGS+=("http://127.0.0.1:$port$path")
  fi
}

run_on_client_cpu() {  # run_on_client_cpu OUT CMD...: CMD pinned to the client CPU, output to OUT; interruptible and tracked
  local out=$1
  shift
  taskset -c "$BENCH_CLIENT_CPU" "$@" >"$out" 2>&1 &
  local pid=$!
  TRACKED+=("$pid")
  local rc=0
  wait "$pid" || rc=$?
  untrack "$pid"
  return $rc
}

run_wrk() { local out=$1; shift; run_on_client_cpu "$out" wrk "$@"; }

# parse_wrk FILE -> "requests rps p50_ms p99_ms errors" (errors: "-" or a short description)
parse_wrk() {
  awk '
    function ms(v) {
      if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
      if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
      if (v ~ /m$/) return substr(v, 1, length(v) - 1) * 60000
      if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
      return v + 0
    }
    / requests in / { requests = $1 }
    /^Requests\/sec:/ { rps = $2 }
    /Latency Distribution/ { dist = 1; next }
    dist && $1 == "50%" { p50 = ms($2) }
    dist && $1 == "99%" { p99 = ms($2); dist = 0 }
    /Socket errors:/ { sub(/^ *Socket errors: */, ""); gsub(/ /, ""); errors = errors "socket:" $0 ";" }
    /Non-2xx or 3xx responses:/ { errors = errors "non-2xx:" $NF ";" }
    END {
      if (errors == "") errors = "-"
      printf "%s %s %s %s %s\n", requests == "" ? 0 : requests, rps == "" ? 0 : rps,
        p50 == "" ? 0 : p50, p99 == "" ? 0 : p99, errors
    }' "$1"
}

# --- HTTP/2: h2load against khz, nghttpd and h2o: h2c (prior knowledge), and h2 over TLS ---
H2_SCENARIO="h2 plaintext c50 m16"
H2TLS_SCENARIO="h2 TLS c50 m16"

# parse_h2load FILE -> "requests rps errors"
parse_h2load() {
  awk '
    /^finished in/ { rps = $4 }
    /^requests:/ { requests = $8; failed = $10; errored = $12 }
    /^status codes:/ { non2xx = $5 + $7 + $9 }
    END {
      errors = ""
      if (failed + errored > 0) errors = errors "failed:" failed ";errored:" errored ";"
      if (non2xx > 0) errors = errors "non-2xx:" non2xx ";"
      if (errors == "") errors = "-"
      printf "%s %s %s\n", requests == "" ? 0 : requests, rps == "" ? 0 : rps, errors
    }' "$1"
}

h2_scenarios() {
  [ -n "$BENCH_H2_SERVERS" ] || return 0
  mkdir -p "$OUT/h2-doc" "$OUT/tls"
  printf 'Hello, World!' >"$OUT/h2-doc/plaintext"
  # A throwaway P-256 certificate for the TLS runs (the same for every server).
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
    -keyout "$OUT/tls/key.pem" -out "$OUT/tls/cert.pem" >/dev/null 2>&1 || die "openssl could not make a certificate"
  local names=() s t index=0 name port prefix
  for prefix in h2 h2tls; do
    for s in $BENCH_H2_SERVERS; do
      if [ "$s" = khz ]; then
        for t in $BENCH_TRANSPORTS; do names+=("$prefix-khz-$t"); done
      else
        names+=("$prefix-$s")
      fi
    done
  done
  for name in "${names[@]}"; do
    port=$((BENCH_PORT + 100 + index))
    index=$((index + 1))
    local scenario=$H2_SCENARIO url="http://127.0.0.1:$port/plaintext" check=(--http2-prior-knowledge)
    if [[ "$name" == h2tls-* ]]; then
      scenario=$H2TLS_SCENARIO url="https://127.0.0.1:$port/plaintext" check=(--http2 -k)
    fi
    log "$name: starting on port $port (CPU $BENCH_SERVER_CPU)"
    if ! start_server "$name" "$port"; then
      local why
      why=$(head -c 300 "$OUT/$name.log" | tr '\n' ' ')
      log "$name: not available (${why:-no output})"
      printf '%s: not available (%s)\n' "$name" "${why:-exited at once, no output}" >>"$OUT/unavailable.txt"
      continue
    fi
    local got
    got=$(curl -s "${check[@]}" --max-time 5 "$url" || true)
    if [ "$got" != "Hello, World!" ]; then
      printf '%s\t%s\tn/a\t0\t0\t0\t0\t0\t0\t%s\n' "$name" "$scenario" "route check failed: $url" \
        >>"$OUT/load.tsv"
      stop_server
      continue
    fi
    if [ "$BENCH_WARMUP" != 0 ]; then
      run_h2load "$OUT/warmup.txt" -c 50 -m 16 -D "$BENCH_WARMUP" "$url" || true
    fi
    local file="$OUT/h2load-$name.txt" t0 t1 c0 c1
    c0=$(cpu_ticks "$SERVER_PID")
    t0=$(date +%s.%N)
    run_h2load "$file" -c 50 -m 16 -D "$BENCH_SECONDS" "$url" || log "$name: h2load exited with an error (see $file)"
    t1=$(date +%s.%N)
    c1=$(cpu_ticks "$SERVER_PID")
    local requests rps errors wall cpu
    read -r requests rps errors <<<"$(parse_h2load "$file")"
    alive "$SERVER_PID" || errors="server died during the run; $errors"
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    cpu=$(awk -v c=$((c1 - c0)) -v t="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", c / t }')
    # h2load reports no latency percentiles: p50/p99 are "not reported" (-1).
    printf '%s\t%s\tok\t%s\t%s\t%s\t-1\t-1\t%s\t%s\n' "$name" "$scenario" "$requests" "$wall" "$rps" \
      "$cpu" "$errors" >>"$OUT/load.tsv"
    log "$name / $scenario: $rps req/s, server CPU ${cpu} s over ${wall} s"
    stop_server
  done
}

run_h2load() { local out=$1; shift; run_on_client_cpu "$out" h2load -t 1 "$@"; }  # one thread

# --- WebSocket echo: khz-wsload against khz (GET /ws), Boost.Beast and node ws ---
# Closed-loop echo, 50 connections, one message in flight on each: messages per server
# CPU-second, as the HTTP rows count requests. khz-wsload (benchmark/wsload/) checks every echo
# byte for byte and reports its own CPU time, so each row also says how busy the load generator
# was next to the server. Rows go to ws.tsv (report.py prints them as a table of their own):
#   server, scenario, ok|n/a, messages, wall s, messages/s, p50 ms, p99 ms, server CPU s,
#   khz-wsload CPU s, notes
# name | connections | message bytes
WS_SCENARIOS=(
  "ws echo 64 B c50|50|64"
  "ws echo 16 KiB c50|50|16384"
)

# ws_check PORT BYTES: "" when a short exchange (one connection, 3 echoes of BYTES) with
# ws://127.0.0.1:PORT/ws passes every check, else khz-wsload's first error.
ws_check() {
  local port=$1 bytes=$2 out
  out=$("$BUILD/bin/khz-wsload" -c 1 -n 3 -s "$bytes" "ws://127.0.0.1:$port/ws" 2>&1) && return 0
  local first
  first=$(printf '%s\n' "$out" | sed -n 's/^error: connection [0-9]*: //p' | head -1)
  [ -n "$first" ] ||  # a usage or address error: khz-wsload's own line
    first=$(printf '%s\n' "$out" | grep -v 'connections to ws://' | sed -n 's/^khz-wsload: //p' | head -1)
  printf '%s' "${first:-khz-wsload failed with no message}"
}

# ws_parse FILE -> "messages messages/s p50_ms p99_ms client_cpu_s errors"
ws_parse() {
  awk '
    /^total messages: / { messages = $3 }
    /^messages\/s: / { rate = $2 }
    /^latency p50: / { p50 = $3 / 1000; p99 = $6 / 1000 }
    /^client CPU seconds: / { cpu = $4 }
    /^errors: / { errors = $2 }
    /^error: / && first == "" { first = substr($0, 8); gsub(/[ \t]+/, "_", first) }
    END {
      text = errors > 0 ? "errors:" errors ";" first : "-"
      printf "%s %s %s %s %s %s\n", messages == "" ? 0 : messages, rate == "" ? 0 : rate,
        p50 == "" ? -1 : p50, p99 == "" ? -1 : p99, cpu == "" ? 0 : cpu, text
    }' "$1"
}

ws_scenarios() {
  [ -n "$BENCH_WS_SERVERS" ] || return 0
  local names=() s t
  for s in $BENCH_WS_SERVERS; do
    if [ "$s" = khz ]; then
      for t in $BENCH_TRANSPORTS; do names+=("khz-$t"); done
    else
      names+=("$s")
    fi
  done
  local tick round index name port scenario sname connections bytes
  tick=$(getconf CLK_TCK)
  local -A pid_of=() port_of=() bad_of=()
  for round in $(seq "$BENCH_ROUNDS"); do
    # Every server afresh, each on its own port, all pinned to the server CPU; then each
    # scenario against all of them back to back (reverse order in even rounds), as the HTTP rows.
    index=0
    pid_of=()
    bad_of=()
    for name in "${names[@]}"; do
      port=$((BENCH_PORT + 150 + index))
      index=$((index + 1))
      log "ws $name: starting on port $port (CPU $BENCH_SERVER_CPU)"
      if ! start_server "$name" "$port"; then
        local why
        why=$(head -c 300 "$OUT/$name.log" | tr '\n' ' ')
        log "ws $name: not available (${why:-no output})"
        printf 'ws %s: not available (%s)\n' "$name" "${why:-exited at once, no output}" >>"$OUT/unavailable.txt"
        continue
      fi
      pid_of[$name]=$SERVER_PID
      port_of[$name]=$port
      for scenario in "${WS_SCENARIOS[@]}"; do
        IFS='|' read -r sname connections bytes <<<"$scenario"
        local problem
        problem=$(ws_check "$port" "$bytes")
        if [ -n "$problem" ]; then
          bad_of["$name|$sname"]=$problem
          log "ws $name: $sname: check failed: $problem (its row is n/a)"
        fi
      done
    done
    local order=("${names[@]}")
    if [ $((round % 2)) = 0 ]; then
      order=()
      for ((index = ${#names[@]} - 1; index >= 0; index--)); do order+=("${names[index]}"); done
    fi
    for scenario in "${WS_SCENARIOS[@]}"; do
      IFS='|' read -r sname connections bytes <<<"$scenario"
      for name in "${order[@]}"; do
        [ -n "${pid_of[$name]:-}" ] || continue
        SERVER_PID=${pid_of[$name]}
        port=${port_of[$name]}
        local url="ws://127.0.0.1:$port/ws"
        if [ -n "${bad_of["$name|$sname"]:-}" ]; then
          printf '%s\t%s\tn/a\t0\t0\t0\t0\t0\t0\t0\t%s\n' "$name" "$sname" \
            "no WebSocket echo at /ws: ${bad_of["$name|$sname"]}" >>"$OUT/ws.tsv"
          continue
        fi
        if [ "$BENCH_WARMUP" != 0 ]; then
          run_on_client_cpu "$OUT/warmup.txt" "$BUILD/bin/khz-wsload" -c "$connections" -s "$bytes" \
            -t "$BENCH_WS_CLIENT_THREADS" -d "$BENCH_WARMUP" "$url" || true
        fi
        local file="$OUT/wsload-$name-${sname// /_}.txt" t0 t1 c0 c1
        c0=$(cpu_ticks "$SERVER_PID")
        t0=$(date +%s.%N)
        run_on_client_cpu "$file" "$BUILD/bin/khz-wsload" -c "$connections" -s "$bytes" \
          -t "$BENCH_WS_CLIENT_THREADS" -d "$BENCH_SECONDS" "$url" ||
          log "ws $name / $sname: khz-wsload reported errors (see $file)"
        t1=$(date +%s.%N)
        c1=$(cpu_ticks "$SERVER_PID")
        local messages rate p50 p99 client_cpu errors wall cpu
        read -r messages rate p50 p99 client_cpu errors <<<"$(ws_parse "$file")"
        errors=${errors//_/ }
        alive "$SERVER_PID" || errors="server died during the run; $errors"
        wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
        cpu=$(awk -v c=$((c1 - c0)) -v t="$tick" 'BEGIN { printf "%.3f", c / t }')
        printf '%s\t%s\tok\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$sname" "$messages" "$wall" "$rate" \
          "$p50" "$p99" "$cpu" "$client_cpu" "$errors" >>"$OUT/ws.tsv"
        log "ws $name / $sname: $rate msg/s, server CPU ${cpu} s, khz-wsload CPU ${client_cpu} s over ${wall} s"
        if ! alive "$SERVER_PID"; then
          log "ws $name: server died; skipping its remaining scenarios"
          stop_server
          unset "pid_of[$name]"
        fi
      done
    done
    for name in "${names[@]}"; do
      [ -n "${pid_of[$name]:-}" ] || continue
      SERVER_PID=${pid_of[$name]}
      stop_server
    done
  done
}

# --- main ---
median_of() {  # median_of VALUE...: the middle value (the upper one of an even count), n/a values skipped
  printf '%s\n' "$@" | grep -v n/a | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "n/a" }'
}

# --- client scenarios ---
# khz's client as a load generator: khz-load (one loop, 50 keep-alive connections, pinned to the
# client CPU) against wrk with the same concurrency, both loading khz-netpoll on the server CPU.
# The figure of merit is khz-load's requests/s over wrk's (the target is >= 1.0).
client_scenarios() {
  [ "$BENCH_CLIENT" = 1 ] || return 0
  [[ " $BENCH_CLIENT_SCENARIOS " == *" h1 "* ]] && client_h1_scenarios
  [[ " $BENCH_CLIENT_SCENARIOS " == *" h2 "* ]] && client_h2_scenario
  [[ " $BENCH_CLIENT_SCENARIOS " == *" discovery "* ]] && client_discovery_scenario
  return 0
}

# khz-load -c50 against khz-netpoll's /plaintext by address (http://127.0.0.1:PORT) and by
# service name (--discover bench=127.0.0.1:PORT http://bench), alternating, BENCH_ROUNDS times
# each; the figure is requests per client CPU-second (GNU time), the ratio per round and its
# median. The goal (service governance): discovery within 2 % of the static address.
client_discovery_scenario() {
  local name=khz-netpoll port=$((BENCH_PORT + 92)) round
  if ! start_server "$name" "$port"; then
    log "client discovery scenario: $name did not start; skipped"
    return 0
  fi
  local ratios=() rows=()
  for round in $(seq "$BENCH_ROUNDS"); do
    local kind per_cpu=()
    for kind in static discovery; do
      local file="$OUT/client-$kind-$round.txt" cpu="$OUT/client-$kind-$round.cpu" args=()
      if [ "$kind" = static ]; then
        args=("http://127.0.0.1:$port/plaintext")
      else
        args=(--discover "bench=127.0.0.1:$port" "http://bench/plaintext")
      fi
      run_on_client_cpu "$file" /usr/bin/time -f '%U %S %e' -o "$cpu" "$BUILD/bin/khz-load" -c 50 \
        -d "$BENCH_SECONDS" --loops 1 "${args[@]}" || log "client discovery / $kind: exited with an error (see $file)"
      local rps errors seconds
      rps=$(sed -n 's/^requests\/s: //p' "$file")
      errors=$(sed -n 's/^requests: [0-9]*, errors: \([0-9]*\),.*/\1/p' "$file")
      seconds=$(awk '{ print $1 + $2 }' "$cpu" 2>/dev/null || echo 0)
      local requests
      requests=$(sed -n 's/^requests: \([0-9]*\),.*/\1/p' "$file")
      per_cpu+=("$(awk -v n="${requests:-0}" -v c="$seconds" 'BEGIN { if (c > 0) printf "%.0f", n / c; else print 0 }')")
      rows+=("| $round | $kind | ${rps:-n/a} | $seconds | ${per_cpu[-1]} | ${errors:-n/a} |")
    done
    ratios+=("$(awk -v d="${per_cpu[1]}" -v s="${per_cpu[0]}" 'BEGIN { if (s > 0) printf "%.3f", d / s; else print "n/a" }')")
  done
  stop_server
  local median
  median=$(median_of "${ratios[@]}")
  {
    echo
    echo "## Client: discovery vs a static address (khz-load -c50, one loop on CPU $BENCH_CLIENT_CPU; server $name on CPU $BENCH_SERVER_CPU)"
    echo
    echo "| round | target | req/s | client CPU s | req per client CPU-s | errors |"
    echo "|---:|---|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "discovery / static, req per client CPU-second: per round ${ratios[*]}; median $median (goal >= 0.98)"
  } >"$OUT/discovery.md"
  log "client discovery / static: median $median (rounds: ${ratios[*]})"
}

# khz-load over h2c against h2load, both -c50 -m16 (50 HTTP/2 connections, 16 streams each, one
# thread/loop pinned to the client CPU) against khz-netpoll --h2c on the server CPU. Records
# req/s and the load generator's own CPU seconds (GNU time) in client-h2.tsv:
#   tool, requests/s, client CPU seconds, wall seconds, errors
# report.py prints khz-load / h2load for both req/s and req per client CPU-second.
client_h2_scenario() {
  local name=h2-khz-netpoll port=$((BENCH_PORT + 91)) url
  if ! start_server "$name" "$port"; then
    log "client h2 scenario: $name did not start; skipped"
    return 0
  fi
  url="http://127.0.0.1:$port/plaintext"
  : >"$OUT/client-h2.tsv"
  local hfile="$OUT/client-h2-h2load.txt" kfile="$OUT/client-h2-khz-load.txt"
  local hcpu="$OUT/client-h2-h2load.cpu" kcpu="$OUT/client-h2-khz-load.cpu"
  if [ "$BENCH_WARMUP" != 0 ]; then
    run_h2load "$OUT/warmup.txt" -c 50 -m 16 -D "$BENCH_WARMUP" "$url" || true
  fi
  run_on_client_cpu "$hfile" /usr/bin/time -f '%U %S %e' -o "$hcpu" h2load -t 1 -c 50 -m 16 -D "$BENCH_SECONDS" "$url" ||
    log "client h2 / h2load: exited with an error (see $hfile)"
  local requests rps errors
  read -r requests rps errors <<<"$(parse_h2load "$hfile")"
  printf 'h2load\t%s\t%s\t%s\t%s\n' "${rps:-0}" "$(awk '{ print $1 + $2 }' "$hcpu" 2>/dev/null || echo 0)" \
    "$(awk '{ print $3 }' "$hcpu" 2>/dev/null || echo 0)" "$errors" >>"$OUT/client-h2.tsv"
  run_on_client_cpu "$kfile" /usr/bin/time -f '%U %S %e' -o "$kcpu" "$BUILD/bin/khz-load" -c 50 -m 16 \
    --http2-prior-knowledge -d "$BENCH_SECONDS" --loops 1 "$url" || log "client h2 / khz-load: exited with an error (see $kfile)"
  local krps kerrors
  krps=$(sed -n 's/^requests\/s: //p' "$kfile")
  kerrors=$(sed -n 's/^requests: [0-9]*, errors: \([0-9]*\),.*/\1/p' "$kfile")
  printf 'khz-load\t%s\t%s\t%s\t%s\n' "${krps:-0}" "$(awk '{ print $1 + $2 }' "$kcpu" 2>/dev/null || echo 0)" \
    "$(awk '{ print $3 }' "$kcpu" 2>/dev/null || echo 0)" "$([ "${kerrors:-0}" = 0 ] && echo - || echo "errors:$kerrors")" \
    >>"$OUT/client-h2.tsv"
  log "client h2c: h2load ${rps:-n/a} req/s, khz-load ${krps:-n/a} req/s"
  stop_server
}

client_h1_scenarios() {
  local name=khz-netpoll port=$((BENCH_PORT + 90)) path round
  if ! start_server "$name" "$port"; then
    log "client scenarios: $name did not start; skipped"
    return 0
  fi
  {
    echo
    echo "## Client: khz-load against wrk (both -c50, one thread/loop on CPU $BENCH_CLIENT_CPU; server $name on CPU $BENCH_SERVER_CPU)"
    echo
    echo "$BENCH_ROUNDS interleaved rounds (wrk, khz-load, khz-load on io_uring, in turn); each ratio is the median of the per-round ratios to wrk."
    echo
    echo "| path | wrk req/s (median) | khz-load req/s (median) | khz-load / wrk | per round | khz-load p50 / p99 (last round) | on uring req/s (median) | uring / wrk | per round |"
    echo "|---|---:|---:|---:|---|---|---:|---:|---|"
  } >"$OUT/client.md"
  for path in /plaintext /json; do
    local wrps=() krps=() urps=() kratios=() uratios=() klat=""
    for round in $(seq "$BENCH_ROUNDS"); do
      local tag="${path//\//-}-$round"
      local wfile="$OUT/client-wrk$tag.txt" kfile="$OUT/client-khz-load$tag.txt" ufile="$OUT/client-khz-load-uring$tag.txt"
      wrk_args 50 "$path" "" "$port" "$BENCH_SECONDS"
      run_wrk "$wfile" "${ARGS[@]}" || log "client / wrk $path: wrk exited with an error (see $wfile)"
      local requests rps p50 p99 errors
      read -r requests rps p50 p99 errors <<<"$(parse_wrk "$wfile")"
      run_on_client_cpu "$kfile" "$BUILD/bin/khz-load" -c 50 -d "$BENCH_SECONDS" --loops 1 \
        "http://127.0.0.1:$port$path" || log "client / khz-load $path: exited with an error (see $kfile)"
      # The same client on the io_uring transport (KHZ_TRANSPORT=uring; netpoll is the default).
      KHZ_TRANSPORT=uring run_on_client_cpu "$ufile" "$BUILD/bin/khz-load" -c 50 -d "$BENCH_SECONDS" --loops 1 \
        "http://127.0.0.1:$port$path" || log "client / khz-load on uring $path: exited with an error (see $ufile)"
      local k u
      k=$(sed -n 's/^requests\/s: //p' "$kfile")
      u=$(sed -n 's/^requests\/s: //p' "$ufile")
      klat=$(sed -n 's/^latency p50: \(.*\) us, p99: \(.*\) us$/\1 us \/ \2 us/p' "$kfile")
      wrps+=("${rps:-0}")
      krps+=("${k:-0}")
      urps+=("${u:-0}")
      kratios+=("$(awk -v k="${k:-0}" -v w="${rps:-0}" 'BEGIN { if (w > 0 && k > 0) printf "%.2f", k / w; else print "n/a" }')")
      uratios+=("$(awk -v k="${u:-0}" -v w="${rps:-0}" 'BEGIN { if (w > 0 && k > 0) printf "%.2f", k / w; else print "n/a" }')")
      log "client $path round $round: wrk ${rps:-n/a} req/s, khz-load ${k:-n/a} (${kratios[-1]}), on uring ${u:-n/a} (${uratios[-1]})"
    done
    echo "| $path | $(median_of "${wrps[@]}") | $(median_of "${krps[@]}") | $(median_of "${kratios[@]}") | ${kratios[*]} | ${klat:-n/a} | $(median_of "${urps[@]}") | $(median_of "${uratios[@]}") | ${uratios[*]} |" >>"$OUT/client.md"
  done
  stop_server
}

# Gateway rows: a proxy on the server CPU in front of khz-bench-server on the client CPU (with
# wrk). Appends a table to gateway.md.
gateway_scenarios() {
  [ "$BENCH_GATEWAY" = 1 ] || return 0
  local up_port=$((BENCH_PORT + 95)) tick
  tick=$(getconf CLK_TCK)
  taskset -c "$BENCH_CLIENT_CPU" "$BUILD/bin/khz-bench-server" --port "$up_port" --loops 1 --transport netpoll \
    >"$OUT/gateway-upstream.log" 2>&1 &
  local up_pid=$! i
  TRACKED+=("$up_pid")
  for i in $(seq 100); do
    curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$up_port/plaintext" && break
    sleep 0.1
  done
  {
    echo
    echo "## Gateway: a proxy on CPU $BENCH_SERVER_CPU, khz-bench-server and wrk (-c50) on CPU $BENCH_CLIENT_CPU"
    echo
    echo "| proxy | row | req/s | req per proxy CPU-second | p50 / p99 ms | vs nginx |"
    echo "|---|---|---:|---:|---|---:|"
  } >"$OUT/gateway.md"
  local proxies=() t
  for t in $BENCH_TRANSPORTS; do proxies+=("khz-gateway-$t"); done
  proxies+=(nginx-proxy)
  local -A per_cpu=()
  local round row path script rows=("plaintext|/plaintext|" "echo 16 KiB|/echo|echo_16k.lua")
  for round in $(seq "$BENCH_ROUNDS"); do
    local index=0 name
    for name in "${proxies[@]}"; do
      local port=$((BENCH_PORT + 96 + index))
      index=$((index + 1))
      if [ "$name" = nginx-proxy ]; then
        local prefix="$OUT/nginx-gateway-$port"
        rm -rf "$prefix" && mkdir -p "$prefix"
        sed -e "s|@PORT@|$port|g" -e "s|@PREFIX@|$prefix|g" -e "s|@UPSTREAM@|$up_port|g" \
          "$BENCH_DIR/peers/nginx/gateway.conf.in" >"$prefix/nginx.conf"
        CMD=(nginx -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf" -g 'daemon off;')
      else
        printf '{"listen": "127.0.0.1:%s", "loops": 1, "transport": "%s",\n "upstreams": {"u": {"targets": [{"url": "http://127.0.0.1:%s"}]}},\n "routes": [{"upstream": "u"}]}\n' \
          "$port" "${name#khz-gateway-}" "$up_port" >"$OUT/$name.json"
        CMD=("$BUILD/bin/khz-gateway" --config "$OUT/$name.json")
      fi
      taskset -c "$BENCH_SERVER_CPU" "${CMD[@]}" >"$OUT/$name.log" 2>&1 &
      SERVER_PID=$!
      TRACKED+=("$SERVER_PID")
      for i in $(seq 100); do
        curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/plaintext" && break
        sleep 0.1
      done
      for row in "${rows[@]}"; do
        local rname
        IFS='|' read -r rname path script <<<"$row"
        if [ "$BENCH_WARMUP" != 0 ]; then
          wrk_args 50 "$path" "$script" "$port" "$BENCH_WARMUP"
          run_wrk "$OUT/warmup.txt" "${ARGS[@]}" || true
        fi
        wrk_args 50 "$path" "$script" "$port" "$BENCH_SECONDS"
        local file="$OUT/gateway-$name-${rname// /_}-$round.txt" c0 c1
        c0=$(cpu_ticks "$SERVER_PID")
        run_wrk "$file" "${ARGS[@]}" || log "gateway $name / $rname: wrk exited with an error (see $file)"
        c1=$(cpu_ticks "$SERVER_PID")
        local requests rps p50 p99 errors
        read -r requests rps p50 p99 errors <<<"$(parse_wrk "$file")"
        local cpu_rate
        cpu_rate=$(awk -v r="${requests:-0}" -v c=$((c1 - c0)) -v t="$tick" 'BEGIN { if (c > 0) printf "%.0f", r / (c / t); else print 0 }')
        per_cpu["$name|$rname|$round"]="$cpu_rate|${rps:-0}|${p50:-?}|${p99:-?}|$errors"
        log "gateway $name / $rname: $rps req/s, $cpu_rate per proxy CPU-second, p99 $p99 ms ($errors)"
      done
      stop_server
    done
  done
  stop_tree "$up_pid"
  untrack "$up_pid"
  # Each figure's median round; "vs nginx": the median of the per-round ratios.
  local name rname
  for row in "${rows[@]}"; do
    IFS='|' read -r rname path script <<<"$row"
    for name in "${proxies[@]}"; do
      local cells=() ratios=()
      for round in $(seq "$BENCH_ROUNDS"); do
        cells+=("${per_cpu["$name|$rname|$round"]}")
        local mine=${per_cpu["$name|$rname|$round"]%%|*} theirs=${per_cpu["nginx-proxy|$rname|$round"]%%|*}
        ratios+=("$(awk -v a="$mine" -v b="$theirs" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print 0 }')")
      done
      python3 - "$name" "$rname" "${cells[@]}" -- "${ratios[@]}" >>"$OUT/gateway.md" <<'PY'
import statistics, sys
args = sys.argv[1:]
name, row = args[0], args[1]
split = args.index("--")
cells = [c.split("|") for c in args[2:split]]
ratios = [float(r) for r in args[split + 1:]]
mid = sorted(cells, key=lambda c: float(c[0]))[len(cells) // 2]
errors = "" if mid[4] in ("-", "") else " (" + mid[4] + ")"
print(f"| {name} | {row} | {float(mid[1]):.0f} | {mid[0]}{errors} | {mid[2]} / {mid[3]} | {statistics.median(ratios):.2f} |")
PY
    done
  done
}

main() {
  install_deps
  build_servers
  mkdir -p "$OUT"
  : >"$OUT/load.tsv"
  : >"$OUT/idle.tsv"
  : >"$OUT/unavailable.txt"
  : >"$OUT/ws.tsv"
  rm -f "$OUT/client-h2.tsv" "$OUT/client.md" "$OUT/discovery.md"  # a skipped client scenario reports nothing stale
  python3 -c 'import sys; sys.stdout.write("0123456789abcdef" * int(sys.argv[1]))' 64 >"$ECHO_1K"
  python3 -c 'import sys; sys.stdout.write("0123456789abcdef" * int(sys.argv[1]))' 1024 >"$ECHO_16K"
  # The static files: incompressible bytes, the same for khz and nginx.
  mkdir -p "$STATIC_DIR"
  head -c 4096 /dev/urandom >"$STATIC_DIR/4k.bin"
  head -c 1048576 /dev/urandom >"$STATIC_DIR/1m.bin"

  # Raise the descriptor limit for the servers and the idle client (inherited by both).
  local want=$((BENCH_IDLE_CONNECTIONS + 1024))
  [ "$want" -lt 4096 ] && want=4096
  ulimit -Hn "$want" 2>/dev/null || true
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
    log "warning: open-file limit $(ulimit -n) is below $want; the idle check may fail"
  fi

  local servers=() s t
  for s in $BENCH_SERVERS; do
    if [ "$s" = khz ] || [ "$s" = khz-mw ] || [ "$s" = khz-metrics ] || [ "$s" = khz-tracing ]; then
      for t in $BENCH_TRANSPORTS; do servers+=("$s-$t"); done
    else
      servers+=("$s")
    fi
  done

  local tick
  tick=$(getconf CLK_TCK)
  local started
  started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
  local load_before
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)

  # Load scenarios, in rounds (BENCH_ROUNDS). Each round starts every server afresh (each on a
  # port of its own, all pinned to the server CPU, idle while another is measured), then runs
  # each scenario against every server back to back: a server's figure and its peers' are
  # taken seconds apart, not minutes, so a drift of the machine's speed falls on all of them
  # alike. Even rounds take the servers in reverse order, which cancels a steady drift.
  local index name port round scenario
  local -A available=() pid_of=() port_of=() bad_of=()
  for round in $(seq "$BENCH_ROUNDS"); do
    index=0
    pid_of=()
    for name in "${servers[@]}"; do
      port=$((BENCH_PORT + index))
      index=$((index + 1))
      log "$name: starting on port $port (CPU $BENCH_SERVER_CPU)"
      if ! start_server "$name" "$port"; then
        local why
        why=$(head -c 300 "$OUT/$name.log" | tr '\n' ' ')
        log "$name: not available (exited or never answered: ${why:-no output})"
        printf '%s: not available (%s)\n' "$name" "${why:-exited at once, no output}" \
          >>"$OUT/unavailable.txt"
        continue
      fi
      available[$name]=1
      pid_of[$name]=$SERVER_PID
      port_of[$name]=$port
      bad_of[$name]=$(check_routes "$port")
      [ -n "${bad_of[$name]}" ] && log "$name: route checks failed:${bad_of[$name]} (those rows are n/a)"
    done
    local order=("${servers[@]}")
    if [ $((round % 2)) = 0 ]; then
      order=()
      for ((index = ${#servers[@]} - 1; index >= 0; index--)); do order+=("${servers[index]}"); done
    fi

    local sname connections path script check latency
    for scenario in "${SCENARIOS[@]}"; do
      IFS='|' read -r sname connections path script check latency <<<"$scenario"
      [[ "$sname" == *"$BENCH_SCENARIOS"* ]] || continue
      for name in "${order[@]}"; do
        [ -n "${pid_of[$name]:-}" ] || continue
        SERVER_PID=${pid_of[$name]}
        port=${port_of[$name]}
        if [[ " ${bad_of[$name]} " == *" $check "* ]]; then
          printf '%s\t%s\tn/a\t0\t0\t0\t0\t0\t0\t%s\n' "$name" "$sname" \
            "route check failed: /$check" >>"$OUT/load.tsv"
          continue
        fi
        if [ "$BENCH_WARMUP" != 0 ]; then
          wrk_args "$connections" "$path" "$script" "$port" "$BENCH_WARMUP"
          run_wrk "$OUT/warmup.txt" "${ARGS[@]}" || true
        fi
        wrk_args "$connections" "$path" "$script" "$port" "$BENCH_SECONDS"
        local file="$OUT/wrk-$name-${sname// /_}.txt" t0 t1 c0 c1
        c0=$(cpu_ticks "$SERVER_PID")
        t0=$(date +%s.%N)
        run_wrk "$file" "${ARGS[@]}" || log "$name / $sname: wrk exited with an error (see $file)"
        t1=$(date +%s.%N)
        c1=$(cpu_ticks "$SERVER_PID")
        local requests rps p50 p99 errors
        read -r requests rps p50 p99 errors <<<"$(parse_wrk "$file")"
        if [ "$latency" = no ]; then p50=-1 p99=-1; fi
        alive "$SERVER_PID" || errors="server died during the run; $errors"
        local wall cpu
        wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
        cpu=$(awk -v c=$((c1 - c0)) -v t="$tick" 'BEGIN { printf "%.3f", c / t }')
        printf '%s\t%s\tok\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$sname" "$requests" "$wall" \
          "$rps" "$p50" "$p99" "$cpu" "$errors" >>"$OUT/load.tsv"
        log "$name / $sname: $rps req/s, server CPU ${cpu} s over ${wall} s"
        if ! alive "$SERVER_PID"; then
          log "$name: server died; skipping its remaining scenarios"
          stop_server
          unset "pid_of[$name]"
        fi
      done
    done
    for name in "${servers[@]}"; do
      [ -n "${pid_of[$name]:-}" ] || continue
      SERVER_PID=${pid_of[$name]}
      stop_server
    done
  done

  local h2round
  for h2round in $(seq "$BENCH_ROUNDS"); do h2_scenarios; done

  ws_scenarios

  # Idle check: a fresh server process each, N keep-alive connections that each made one request.
  if [ "$BENCH_IDLE_CONNECTIONS" -gt 0 ]; then
    index=0
    for name in "${servers[@]}"; do
      port=$((BENCH_PORT + 50 + index))
      index=$((index + 1))
      [ -n "${available[$name]:-}" ] || continue
      if ! start_server "$name" "$port"; then
        printf '%s\tn/a\t%s\t0\t0\t%s\n' "$name" "$BENCH_IDLE_CONNECTIONS" "did not start" \
          >>"$OUT/idle.tsv"
        continue
      fi
      sleep 0.5
      local before after client_out="$OUT/idle-$name.txt"
      before=$(rss_kib "$SERVER_PID")
      python3 "$BENCH_DIR/idle/idle_clients.py" --port "$port" \
        --count "$BENCH_IDLE_CONNECTIONS" --sources "$BENCH_IDLE_SOURCES" >"$client_out" 2>&1 &
      local client=$! i status=""
      TRACKED+=("$client")
      for i in $(seq 1200); do
        if grep -q '^ready' "$client_out"; then status=ok; break; fi
        if ! alive "$client"; then status=failed; break; fi
        sleep 0.1
      done
      if [ "$status" = ok ]; then
        sleep 1  # let the server finish whatever it does after the last response
        after=$(rss_kib "$SERVER_PID")
        printf '%s\tok\t%s\t%s\t%s\t-\n' "$name" "$BENCH_IDLE_CONNECTIONS" "$before" "$after" \
          >>"$OUT/idle.tsv"
        log "$name: RSS $before KiB -> $after KiB with $BENCH_IDLE_CONNECTIONS idle connections"
      else
        local why
        why=$(tr '\n' ' ' <"$client_out" | head -c 200)
        printf '%s\tn/a\t%s\t%s\t0\t%s\n' "$name" "$BENCH_IDLE_CONNECTIONS" "$before" \
          "${why:-client timed out}" >>"$OUT/idle.tsv"
        log "$name: idle check failed: ${why:-client timed out}"
      fi
      stop_tree "$client"
      untrack "$client"
      stop_server
    done
  fi

  local command="${BENCH_INVOKED_AS:-bash benchmark/run.sh}" v
  for v in BENCH_SECONDS BENCH_ROUNDS BENCH_WARMUP BENCH_SCENARIOS BENCH_SERVERS BENCH_TRANSPORTS BENCH_IDLE_CONNECTIONS \
           BENCH_IDLE_SOURCES BENCH_PORT BENCH_WS_SERVERS BENCH_WS_CLIENT_THREADS BENCH_GATEWAY; do
    # Only the settings that were given on the command line, in the order above.
    if printenv "$v" >/dev/null; then command="$v=\"${!v}\" $command"; fi
  done
  {
    echo "started=$started"
    echo "finished=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command=$command"
    echo "nproc=$(nproc)"
    echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "memory=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "kernel=$(uname -sr)"
    echo "load_before=$load_before"
    echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "seconds=$BENCH_SECONDS"
    echo "rounds=$BENCH_ROUNDS"
    echo "warmup=$BENCH_WARMUP"
    echo "server_cpu=$BENCH_SERVER_CPU"
    echo "client_cpu=$BENCH_CLIENT_CPU"
    echo "khz=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
    echo "compiler=$(c++ --version | head -1)"
    echo "wrk=$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
    echo "nginx=$(nginx -v 2>&1 | sed 's/.*version: //')"
    echo "go=$(go version | cut -d' ' -f3)"
    echo "boost=$(dpkg-query -W -f='${Version}' libboost-dev 2>/dev/null)"
    echo "h2load=$(h2load --version 2>/dev/null | head -1)"
    echo "h2o=$(h2o --version 2>/dev/null | head -1)"
    echo "node=$(node --version 2>/dev/null)"
    echo "node_ws=$(dpkg-query -W -f='${Version}' node-ws 2>/dev/null)"
    echo "ws_client_threads=$BENCH_WS_CLIENT_THREADS"
  } >"$OUT/meta.txt"
  : >"$OUT/client.md"
  : >"$OUT/discovery.md"
  client_scenarios
  : >"$OUT/gateway.md"
  gateway_scenarios
  { python3 "$BENCH_DIR/report.py" "$OUT"; cat "$OUT/client.md" "$OUT/discovery.md" "$OUT/gateway.md"; } | tee "$OUT/results.md"
  log "written to $OUT/results.md"
}

main "$@"
