#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# khz-bench-server --metrics scraped by a real Prometheus (Debian's prometheus; one instance
# for the whole script, its data in a temporary directory), on each transport: known traffic
# (200s, 404s, a POST with a body, an h2c request), then Prometheus's HTTP API must report the
# exact counts, route patterns as labels, and a histogram count that matches the requests.
#   prometheus_test.sh <path-to-khz-bench-server> [transport...]
set -euo pipefail
server=$1
shift
transports=("$@")
[ ${#transports[@]} -gt 0 ] || transports=(netpoll asio)
prometheus=${PROMETHEUS:-/usr/bin/prometheus}
[ -x "$prometheus" ] || { echo "FAIL: $prometheus not found (scripts/install-deps.sh installs it)"; exit 1; }

dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$dir"/*.log; do echo "--- $f"; tail -20 "$f"; done
  exit 1
}

free_port() { python3 "$(dirname "${BASH_SOURCE[0]}")/../support/free_port.py" "$@"; }

# The servers first: Prometheus's configuration names their ports.
declare -A ports
for t in "${transports[@]}"; do
  "$server" --port 0 --h2c --metrics --transport "$t" >"$dir/$t.out" 2>"$dir/$t.log" &
  pids+=($!)
  port=""
  for _ in $(seq 1 100); do
    port=$(sed -n 's/.*(port \([0-9]*\),.*/\1/p' "$dir/$t.log" 2>/dev/null || true)
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || fail "khz-bench-server ($t) did not report its port"
  ports[$t]=$port
done

# Known traffic, before the first scrape: 3 x 200 and 2 x 404 over HTTP/1.1, a POST with a
# 11-byte body, one h2c GET.
for t in "${transports[@]}"; do
  base="http://127.0.0.1:${ports[$t]}"
  for _ in 1 2 3; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --http1.1 "$base/plaintext")" = 200 ] || fail "$t: /plaintext"
  done
  for path in /no/such/1 /no/such/2; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --http1.1 "$base$path")" = 404 ] || fail "$t: $path"
  done
  [ "$(curl -s --http1.1 -d 'hello world' "$base/echo")" = "hello world" ] || fail "$t: POST /echo"
  [ "$(curl -s -o /dev/null -w '%{http_code} %{http_version}' --http2-prior-knowledge "$base/json")" = "200 2" ] ||
    fail "$t: h2c /json"
done

prom_port=$(free_port)
{
  echo "global:"
  echo "  scrape_interval: 1s"
  echo "  scrape_timeout: 1s"
  echo "scrape_configs:"
  for t in "${transports[@]}"; do
    echo "  - job_name: khz-$t"
    echo "    static_configs:"
    echo "      - targets: ['127.0.0.1:${ports[$t]}']"
  done
} >"$dir/prometheus.yml"
"$prometheus" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$dir/prometheus.log" 2>&1 &
pids+=($!)

# query EXPR: the single value Prometheus has for EXPR ("" when no series).
query() {
  curl -s --max-time 2 -G "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" |
    python3 -c 'import json,sys
d = json.load(sys.stdin)
assert d["status"] == "success", d
r = d["data"]["result"]
if len(r) > 1: sys.exit("more than one series: %r" % r)
print(r[0]["value"][1] if r else "")'
}
# expect EXPR VALUE: waits (a few scrapes at most) for EXPR to read VALUE.
expect() {
  local got=""
  for _ in $(seq 1 50); do
    got=$(query "$1" 2>/dev/null || true)
    [ "$got" = "$2" ] && return 0
    sleep 0.2
  done
  fail "$1: want $2, got '${got}'"
}

for t in "${transports[@]}"; do
  job="job=\"khz-$t\""
  expect "up{$job}" 1
  r='http_server_requests_total{'"$job"
  expect "$r,http_route=\"/plaintext\",http_request_method=\"GET\",http_response_status_class=\"2xx\",network_protocol_version=\"1.1\"}" 3
  expect "$r,http_route=\"unmatched\",http_response_status_class=\"4xx\"}" 2
  expect "$r,http_route=\"/echo\",http_request_method=\"POST\",http_response_status_class=\"2xx\"}" 1
  expect "$r,http_route=\"/json\",network_protocol_version=\"2\"}" 1
  # Route labels are patterns: no raw path ever becomes a series.
  expect "count(http_server_requests_total{$job,http_route=~\"/no/.*\"}) or vector(0)" 0
  expect "http_server_request_duration_seconds_count{$job,http_route=\"/plaintext\",network_protocol_version=\"1.1\"}" 3
  expect "http_server_request_duration_seconds_bucket{$job,http_route=\"/plaintext\",network_protocol_version=\"1.1\",le=\"+Inf\"}" 3
  expect "sum(http_server_request_duration_seconds_count{$job,http_route!=\"/metrics\"})" 7
  expect "http_server_request_body_bytes_total{$job}" 11
  # 7 connections from curl, plus those Prometheus scrapes on (at least one).
  got=$(query "khz_server_connections_accepted_total{$job,transport=\"$t\"}")
  [ -n "$got" ] && [ "$got" -ge 8 ] || fail "$t: connections accepted: $got"
  got=$(query "http_server_requests_total{$job,http_route=\"/metrics\",http_response_status_class=\"2xx\"}")
  [ -n "$got" ] && [ "$got" -ge 1 ] || fail "$t: scrapes counted: $got"
  echo "ok: $t"
done
echo "prometheus_test: ok"
