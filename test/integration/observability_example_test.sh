#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The observability example: its routes answer, /metrics on its own port counts them (the
# service's counter and the built-in ones) and /debug/khz lists the routes; neither page is on
# the public port. Then with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set: a request with a W3C
# traceparent is exported as a SERVER span of that trace to an OTLP/JSON receiver, and the
# handler's log line carries the same trace_id and span_id.
#   observability_example_test.sh <path-to-observability>
set -euo pipefail
bin=$1
dir=$(mktemp -d)
pid=""
receiver=""
cleanup() {
  for p in $pid $receiver; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -20 "$dir/log"; exit 1; }

free_port() { python3 "$(dirname "${BASH_SOURCE[0]}")/../support/free_port.py" "$@"; }
# Starts the example (environment from the caller) and sets port and base.
start() {
  : >"$dir/log"
  "$bin" 127.0.0.1:0 "127.0.0.1:$mport" 2>"$dir/log" &
  pid=$!
  port=""
  for _ in $(seq 1 100); do
    port=$(sed -n 's/.*(port \([0-9]*\),.*/\1/p' "$dir/log" 2>/dev/null || true)
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || fail "observability did not report its port"
  base="http://127.0.0.1:$port"
}
mport=$(free_port)
start

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
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""

# Tracing: an OTLP/JSON receiver that keeps every POSTed body.
rport=$(free_port)
python3 - "$rport" "$dir/spans" <<'PY' &
import http.server, sys
port, out = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(out, "ab") as f:
            f.write(body + b"\n")
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
receiver=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$rport/" && break; sleep 0.05; done
mport=$(free_port)
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://127.0.0.1:$rport/v1/traces" OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json start
trace=4bf92f3577b34da6a3ce929d0e0e4736
[ "$(curl -s -H "traceparent: 00-$trace-00f067aa0ba902b7-01" "$base/orders/7")" = '{"id":"7","status":"shipped"}' ] ||
  fail "GET /orders/7 traced"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""   # the exporter sends what it holds on the way out
[ -s "$dir/spans" ] || fail "no OTLP export reached the receiver"
cat >"$dir/spans.py" <<'PY'
import json, sys
spans = []
for line in open(sys.argv[1]):
    if line.strip():
        for rs in json.loads(line)["resourceSpans"]:
            attrs = {a["key"]: a["value"].get("stringValue") for a in rs["resource"]["attributes"]}
            assert attrs["service.name"] == "orders", attrs
            for ss in rs["scopeSpans"]:
                spans += ss["spans"]
server = [s for s in spans if s["name"] == "GET /orders/:id"]
assert len(server) == 1, spans
s = server[0]
assert s["traceId"] == sys.argv[2], s
assert s["parentSpanId"] == "00f067aa0ba902b7", s
print(s["spanId"])
PY
span_id=$(python3 "$dir/spans.py" "$dir/spans" "$trace") || fail "exported spans: $(cat "$dir/spans")"
grep "order looked up" "$dir/log" | grep -q "trace_id=$trace span_id=$span_id" ||
  fail "the handler's log line without the trace ids: $(grep 'order looked up' "$dir/log")"
echo "observability_example_test: ok"
