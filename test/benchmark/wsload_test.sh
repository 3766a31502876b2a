#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# khz-wsload against python3-websockets (test/benchmark/wsload_peer.py), a third-party peer:
# plain echoes and echoes fragmented with a ping before each must pass, 64 B and 16 KiB, binary
# and text, one and eight messages in flight, one and three threads; a changed byte, the wrong type, a short echo, a
# Close in the middle and an extension nobody offered must each fail (exit 1) with its own
# message. Also a refused connection and a server with no WebSocket route.
#
#   wsload_test.sh PATH/TO/khz-wsload
set -uo pipefail

WSLOAD=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=/usr/bin/python3  # Debian's, which has python3-websockets
WORK=$(mktemp -d)
PEER=""
failures=0

cleanup() {
  [ -n "$PEER" ] && kill "$PEER" 2>/dev/null && wait "$PEER" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

start_peer() {  # MODE: starts the peer, sets PORT
  # Emptied here, not only by the child's redirection: the loop below may read the file before
  # the child has opened it, and find the port of the peer stopped before.
  : >"$WORK/peer.out"
  "$PYTHON" "$HERE/wsload_peer.py" "$1" >"$WORK/peer.out" 2>"$WORK/peer.err" &
  PEER=$!
  local i
  for i in $(seq 100); do
    PORT=$(awk '$1 == "port" { print $2 }' "$WORK/peer.out")
    [ -n "$PORT" ] && return 0
    sleep 0.1
  done
  echo "FAIL: the $1 peer did not start: $(cat "$WORK/peer.err")"
  exit 1
}

stop_peer() { kill "$PEER" 2>/dev/null; wait "$PEER" 2>/dev/null; PEER=""; }

expect_pass() {  # DESCRIPTION ARGS...
  local what=$1
  shift
  if "$WSLOAD" "$@" >"$WORK/out" 2>&1 && grep -q '^errors: 0$' "$WORK/out" &&
    [ "$(sed -n 's/^total messages: //p' "$WORK/out")" -gt 0 ]; then
    echo "ok: $what"
  else
    echo "FAIL: $what"
    sed 's/^/  /' "$WORK/out"
    failures=$((failures + 1))
  fi
}

expect_fail() {  # DESCRIPTION MESSAGE ARGS...: exit 1 and MESSAGE in the output
  local what=$1 message=$2 rc=0
  shift 2
  "$WSLOAD" "$@" >"$WORK/out" 2>&1 || rc=$?
  if [ "$rc" = 1 ] && grep -qF "$message" "$WORK/out"; then
    echo "ok: $what"
  else
    echo "FAIL: $what (exit $rc, expected 1 and \"$message\")"
    sed 's/^/  /' "$WORK/out"
    failures=$((failures + 1))
  fi
}

for mode in echo fragment; do
  start_peer "$mode"
  url="ws://127.0.0.1:$PORT/ws"
  expect_pass "$mode: 64 B binary" -c 4 -n 50 -s 64 "$url"
  expect_pass "$mode: 16 KiB binary" -c 4 -n 20 -s 16384 "$url"
  expect_pass "$mode: 16 KiB text, 8 in flight" -c 2 -n 40 -m 8 -s 16384 --text "$url"
  expect_pass "$mode: 100 KiB (64-bit lengths), 3 in flight" -c 2 -n 5 -m 3 -s 102400 "$url"
  expect_pass "$mode: empty messages" -c 2 -n 10 -s 0 "$url"
  expect_pass "$mode: by time" -c 3 -d 0.3 -s 200 "$url"
  expect_pass "$mode: 7 connections on 3 threads" -c 7 -t 3 -n 20 -s 1000 "$url"
  stop_peer
done

start_peer corrupt
expect_fail "a changed byte is caught" "the echo of message 5 differs from it at byte 8192" -c 2 -n 10 -s 16384 "ws://127.0.0.1:$PORT/ws"
stop_peer
start_peer wrongtype
expect_fail "the wrong type is caught" "the echo is binary, the message was text" -c 2 -n 10 --text "ws://127.0.0.1:$PORT/ws"
stop_peer
start_peer short
expect_fail "a short echo is caught" "the echo has 63 bytes, the message 64" -c 2 -n 10 "ws://127.0.0.1:$PORT/ws"
stop_peer
start_peer close
expect_fail "a Close in the middle is caught" "the server sent Close (code 1011: going away on purpose)" -c 2 -n 10 "ws://127.0.0.1:$PORT/ws"
stop_peer
start_peer extension
expect_fail "an extension nobody offered is caught" "the server chose extensions none was offered" -c 2 -n 10 "ws://127.0.0.1:$PORT/ws"
stop_peer

# A port nobody listens on (the peer's, just closed), and an HTTP server with no WebSocket route.
expect_fail "a refused connection" "connect: Connection refused" -c 2 -n 10 "ws://127.0.0.1:$PORT/ws"
"$PYTHON" -m http.server --bind 127.0.0.1 0 >"$WORK/http.out" 2>&1 &
PEER=$!
for i in $(seq 100); do
  PORT=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$WORK/http.out")
  [ -n "$PORT" ] && break
  sleep 0.1
done
expect_fail "no WebSocket route" "instead of 101" -c 2 -n 10 "ws://127.0.0.1:$PORT/ws"
stop_peer

[ "$failures" = 0 ] || { echo "$failures failed"; exit 1; }
echo "all passed"
