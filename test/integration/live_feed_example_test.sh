#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# examples/live_feed end to end with curl: two subscribers (HTTP/1.1 and HTTP/2) get what is
# published while they listen, in order, with ids; a subscriber coming back with Last-Event-ID
# gets only what came after; bad messages get 400; the page opens an EventSource on /events.
#   live_feed_example_test.sh <path-to-live_feed>
set -euo pipefail
app=$1
dir=$(mktemp -d)
pid=""
subs=()
cleanup() {
  for p in "${subs[@]}"; do kill "$p" 2>/dev/null || true; done
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

"$app" --port 0 >"$dir/out" 2>"$dir/log" &
pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*(port \([0-9]*\),.*/\1/p' "$dir/log" 2>/dev/null || true)
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || fail "live_feed did not report its port"
base="http://127.0.0.1:$port"

page=$(curl -sS --max-time 5 "$base/")
grep -q "new EventSource('/events')" <<<"$page" || fail "the page has no EventSource"

curl -sS -N --max-time 3 --http1.1 "$base/events" >"$dir/h1" 2>/dev/null &
subs+=($!)
curl -sS -N --max-time 3 --http2-prior-knowledge "$base/events" >"$dir/h2" 2>/dev/null &
subs+=($!)
sleep 0.5
[ "$(curl -sS --max-time 5 -d 'first' "$base/publish")" = '{"id":1}' ] || fail "publish 1"
[ "$(curl -sS --max-time 5 -d $'two\nlines' "$base/publish")" = '{"id":2}' ] || fail "publish 2"
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -X POST "$base/publish")
[ "$code" = 400 ] || fail "an empty message: $code"
wait "${subs[@]}" 2>/dev/null || true
subs=()

want=$'retry: 1000\n\nid: 1\ndata: first\n\nid: 2\ndata: two\ndata: lines\n\n'
for f in h1 h2; do
  [ "$(cat "$dir/$f"; echo x)" = "${want}x" ] || fail "$f subscriber got: $(cat "$dir/$f")"
done

got=$(curl -sS -N --max-time 1 -H 'Last-Event-ID: 1' "$base/events" 2>/dev/null || true)
[ "$got" = $'retry: 1000\n\nid: 2\ndata: two\ndata: lines' ] || fail "resume after 1: $got"
echo "live_feed_example_test: ok"
