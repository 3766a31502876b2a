#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The hello demo under spin(): serves /ping with one thread per loop (the first loop on the
# spinning thread), then SIGTERM (and, in a second run, SIGINT) stops it gracefully with exit
# status 0.
#   spin_test.sh <path-to-hello>
# Each run has a log of its own (a shared one could still show the previous run's port to a
# reader faster than the new process truncates it), and a server left behind by a failure is
# killed on exit (it would hold ctest's output pipe open until the test timeout).
set -euo pipefail
hello=$1
dir=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

for sig in TERM INT; do
  log="$dir/$sig.log"
  KHZ_TRANSPORT=netpoll "$hello" 127.0.0.1:0 2> "$log" &
  pid=$!
  port=""
  for _ in $(seq 1 100); do
    port=$(sed -n 's/.*(port \([0-9]*\),.*/\1/p' "$log" 2>/dev/null || true)
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "hello did not report its port"; cat "$log"; exit 1; }
  body=$(curl -s --max-time 5 "http://127.0.0.1:$port/ping" || true)
  [ "$body" = '{"message":"pong"}' ] || { echo "unexpected body: $body"; exit 1; }
  # One loop per core, the first on the spinning thread itself: no extra thread just to wait.
  threads=$(awk '/^Threads:/{print $2}' /proc/$pid/status)
  [ "$threads" = "$(getconf _NPROCESSORS_ONLN)" ] || { echo "hello runs $threads threads, want one per core"; exit 1; }
  kill -$sig $pid
  status=0
  timeout 10 tail --pid=$pid -f /dev/null || { echo "hello did not stop on SIG$sig"; exit 1; }
  wait $pid || status=$?
  pid=""
  [ $status -eq 0 ] || { echo "hello exited with $status after SIG$sig"; cat "$log"; exit 1; }
  grep -q "got SIG$sig" "$log" || { echo "no log line for SIG$sig"; cat "$log"; exit 1; }
  grep -q "khz: stopped" "$log" || { echo "no clean stop for SIG$sig"; cat "$log"; exit 1; }
  echo "SIG$sig: ok"
done
