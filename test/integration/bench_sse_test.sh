#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# khz-bench-server's GET /sse?n=N&interval_ms=M with curl, over HTTP/1.1 and h2c: ids 1..N in
# order, resuming after Last-Event-ID, the interval kept, and 400 for bad parameters.
#   bench_sse_test.sh <path-to-khz-bench-server>
set -euo pipefail
server=$1
dir=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$dir/log" ] && tail -20 "$dir/log"; exit 1; }

"$server" --port 0 --h2c >"$dir/out" 2>"$dir/log" &
pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*(port \([0-9]*\),.*/\1/p' "$dir/log" 2>/dev/null || true)
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || fail "khz-bench-server did not report its port"
base="http://127.0.0.1:$port"

for proto in --http1.1 --http2-prior-knowledge; do
  got=$(curl -sS -N --max-time 5 "$proto" "$base/sse?n=3")
  want=$'id: 1\ndata: 1\n\nid: 2\ndata: 2\n\nid: 3\ndata: 3'
  [ "$got" = "$want" ] || fail "$proto n=3: $got"

  got=$(curl -sS -N --max-time 5 "$proto" -H 'Last-Event-ID: 3' "$base/sse?n=5")
  want=$'id: 4\ndata: 4\n\nid: 5\ndata: 5'
  [ "$got" = "$want" ] || fail "$proto resume after 3: $got"

  got=$(curl -sS -N --max-time 5 "$proto" -H 'Last-Event-ID: 5' "$base/sse?n=5")
  [ -z "$got" ] || fail "$proto resume after the last: $got"

  ct=$(curl -sS -o /dev/null --max-time 5 "$proto" -w '%{content_type}' "$base/sse?n=1")
  [ "$ct" = "text/event-stream" ] || fail "$proto content type: $ct"

  # 4 events 100 ms apart: at least 300 ms.
  t=$(curl -sS -N -o /dev/null --max-time 5 "$proto" -w '%{time_total}' "$base/sse?n=4&interval_ms=100")
  python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= 0.3 else 1)" "$t" || fail "$proto interval: $t s"

  for bad in 'n=x' 'n=-1' 'interval_ms=60001' 'n=1&interval_ms=1.5'; do
    code=$(curl -sS -o /dev/null --max-time 5 "$proto" -w '%{http_code}' "$base/sse?$bad")
    [ "$code" = 400 ] || fail "$proto $bad: $code"
  done
  code=$(curl -sS -o /dev/null --max-time 5 "$proto" -H 'Last-Event-ID: abc' -w '%{http_code}' "$base/sse?n=2")
  [ "$code" = 400 ] || fail "$proto Last-Event-ID abc: $code"
done
echo "bench_sse_test: ok"
