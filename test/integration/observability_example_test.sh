#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The observability example: its routes answer, /metrics on its own port counts them (the
# service's counter and the built-in ones) and /debug/khz lists the routes; neither page is on
# the public port.
#   observability_example_test.sh <path-to-observability>
set -euo pipefail
bin=$1
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
fail() { echo "FAIL: $*"; tail -20 "$dir/log"; exit 1; }

mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" 127.0.0.1:0 "127.0.0.1:$mport" 2>"$dir/log" &
pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*(port \([0-9]*\),.*/\1/p' "$dir/log")
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || fail "observability did not report its port"
base="http://127.0.0.1:$port"

[ "$(curl -s "$base/orders/42")" = '{"id":"42","status":"shipped"}' ] || fail "GET /orders/42"
[ "$(curl -s -d '{"item":"tea"}' "$base/orders")" = '{"accepted":14}' ] || fail "POST /orders"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/metrics")" = 404 ] || fail "/metrics on the public port"

metrics=$(curl -s "http://127.0.0.1:$mport/metrics")
grep -qx 'orders_placed_total{channel="api"} 1' <<<"$metrics" || fail "orders_placed_total: $metrics"
grep -qx 'http_server_requests_total{http_request_method="GET",http_route="/orders/:id",http_response_status_class="2xx",network_protocol_version="1.1"} 1' <<<"$metrics" ||
  fail "GET /orders/:id not counted: $metrics"
grep -qx 'http_server_requests_total{http_request_method="GET",http_route="unmatched",http_response_status_class="4xx",network_protocol_version="1.1"} 1' <<<"$metrics" ||
  fail "the 404 not counted: $metrics"

debug=$(curl -s "http://127.0.0.1:$mport/debug/khz")
python3 - "$debug" <<'PY' || fail "debug page: $debug"
import json, sys
page = json.loads(sys.argv[1])
routes = {(r["method"], r["path"]): r.get("requests") for r in page["routes"]}
assert routes[("GET", "/orders/:id")] == 1, routes
assert routes[("POST", "/orders")] == 1, routes
assert page["unmatched_requests"] == 1, page
PY
echo "observability_example_test: ok"
