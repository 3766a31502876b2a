#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# examples/secure_api end to end with curl: the key-protected API (401 without the key, 200 with
# it, the request id echoed by the inner call the handler makes), a CORS preflight and a refused
# origin, basic auth, the 500 of a thrown exception that keeps the stack's headers, compression
# with curl decoding it, ETag and 304, the RateLimit fields, the deadline's 504, and the JSON
# access log with the route pattern and the request id.
#   secure_api_example_test.sh <path-to-secure_api>
set -euo pipefail
app=$1
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

# Flags: --help answers with the usage; an unknown flag is refused (no server starts on it).
timeout 5 "$app" --help >"$dir/help" || fail "--help exited with an error (or started a server)"
grep -q -- "--port" "$dir/help" || fail "--help does not name --port"
rc=0
timeout 5 "$app" --no-such-flag >/dev/null 2>&1 || rc=$?
{ [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; } || fail "an unknown flag was accepted (exit $rc)"

KHZ_TRANSPORT=netpoll "$app" --port 0 --key k-test --access-log "$dir/access.log" >"$dir/out" 2>"$dir/log" &
pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*(port \([0-9]*\),.*/\1/p' "$dir/log" 2>/dev/null || true)
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || fail "secure_api did not report its port"
base="http://127.0.0.1:$port"
head() { curl -s --max-time 5 -D - -o /dev/null "$@" | tr -d '\r'; }

h=$(head "$base/api/orders")
grep -q '^HTTP/1.1 401' <<<"$h" || fail "no key: $h"
grep -qi '^www-authenticate: Bearer realm="Restricted"' <<<"$h" || fail "challenge: $h"
grep -qi '^x-request-id: ' <<<"$h" || fail "request id on a 401: $h"

r=$(curl -s --max-time 5 "$base/api/orders" -H 'Authorization: Bearer k-test' -H 'X-Request-ID: example-42')
grep -q '"seen_request_id":"example-42"' <<<"$r" || fail "the inner call did not carry the id: $r"

h=$(head -X OPTIONS "$base/api/orders" -H 'Origin: https://app.example' -H 'Access-Control-Request-Method: GET' \
  -H 'Access-Control-Request-Headers: authorization')
grep -q '^HTTP/1.1 204' <<<"$h" || fail "preflight: $h"
grep -qi '^access-control-allow-origin: https://app.example' <<<"$h" || fail "preflight origin: $h"
h=$(head "$base/api/orders" -H 'Origin: https://app.example.evil' -H 'Authorization: Bearer k-test')
grep -q '^HTTP/1.1 403' <<<"$h" || fail "look-alike origin: $h"
grep -q 'cors: origin https://app.example.evil refused' "$dir/log" || fail "no log line for the refused origin"

h=$(head -u ann:correct-horse "$base/admin/stats")
grep -q '^HTTP/1.1 200' <<<"$h" || fail "basic auth: $h"
h=$(head -u ann:wrong "$base/admin/stats")
grep -q '^HTTP/1.1 401' <<<"$h" || fail "basic auth, wrong password: $h"

h=$(head "$base/boom" -H 'Origin: https://app.example')
grep -q '^HTTP/1.1 500' <<<"$h" || fail "boom: $h"
grep -qi '^access-control-allow-origin: https://app.example' <<<"$h" || fail "boom lost CORS: $h"
grep -qi '^x-content-type-options: nosniff' <<<"$h" || fail "boom lost secure headers: $h"
grep -q 'recovery: GET /boom (path /boom) threw: the disk is on fire' "$dir/log" || fail "no recovery log line"
auth=(-H 'Authorization: Bearer k-test')
h=$(head "${auth[@]}" -H 'Accept-Encoding: gzip' "$base/api/catalogue")
grep -qi '^content-encoding: gzip' <<<"$h" || fail "catalogue not compressed: $h"
grep -qi '^vary: .*accept-encoding' <<<"$h" || fail "no Vary: $h"
grep -qi '^ratelimit: ' <<<"$h" || fail "no RateLimit field: $h"
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: //p' <<<"$h")
[[ "$etag" == W/* ]] || fail "no weak ETag: $h"
body=$(curl -s --max-time 5 --compressed "${auth[@]}" "$base/api/catalogue")
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(len(d) != 64 or d[3]["sku"] != "apple-3")' "$body" ||
  fail "decoded catalogue: ${body:0:200}"
h=$(head "${auth[@]}" -H 'Accept-Encoding: gzip' -H "If-None-Match: $etag" "$base/api/catalogue")
grep -q '^HTTP/1.1 304' <<<"$h" || fail "If-None-Match: $h"

h=$(head "${auth[@]}" -H 'X-Request-ID: slow-7' "$base/api/slow")
grep -q '^HTTP/1.1 504' <<<"$h" || fail "deadline: $h"
grep -qi '^x-request-id: slow-7' <<<"$h" || fail "the 504 lost the request id: $h"

# The access log is written by a background thread, flushed every second.
for _ in $(seq 1 40); do
  grep -q '"request_id":"slow-7"' "$dir/access.log" 2>/dev/null && break
  sleep 0.1
done
line=$(grep '"request_id":"slow-7"' "$dir/access.log" || true)
[ -n "$line" ] || fail "no access log line for the 504: $(tail -3 "$dir/access.log" 2>/dev/null)"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(not (d["status"] == 504 and d["route"] == "/api/slow" and d["method"] == "GET"))' "$line" ||
  fail "access log line: $line"
grep -q '"route":"/api/catalogue"' "$dir/access.log" || fail "no catalogue line in the access log"
echo "secure_api example: ok"
