#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# examples/chat end to end: two members (python3-websockets) join, talk and leave; each gets
# every line in order, their own included; a member sending more than 4096 bytes is closed
# with 1009 and leaves; a bad name gets 400; two viewers (curl, HTTP/1.1 and HTTP/2) read the
# same lines from /events with ids, and a viewer coming back with Last-Event-ID gets only what
# came after; a member over HTTP/2 (RFC 8441, python3-h2 through h2_websocket.py) talks too;
# the page watches with an EventSource and joins with a WebSocket.
#   chat_example_test.sh <path-to-chat>
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
[ -n "$port" ] || fail "chat did not report its port"
base="http://127.0.0.1:$port"

page=$(curl -sS --max-time 5 "$base/")
grep -q "new EventSource('/events')" <<<"$page" || fail "the page has no EventSource"
grep -q "new WebSocket(" <<<"$page" || fail "the page has no WebSocket"

curl -sS -N --max-time 4 --http1.1 "$base/events" >"$dir/h1" 2>/dev/null &
subs+=($!)
curl -sS -N --max-time 4 --http2-prior-knowledge "$base/events" >"$dir/h2" 2>/dev/null &
subs+=($!)
sleep 0.5

cat >"$dir/members.py" <<'PY'
import asyncio
import sys

import websockets

URL = sys.argv[1]


async def expect(ws, want):
    got = await asyncio.wait_for(ws.recv(), 5)
    if got != want:
        raise SystemExit("%r instead of %r" % (got, want))


async def main():
    try:
        await websockets.connect(URL + "?name=no%20spaces")
        raise SystemExit("a bad name was accepted")
    except websockets.exceptions.InvalidStatusCode as e:
        if e.status_code != 400:
            raise SystemExit("a bad name: %d" % e.status_code)
    ann = await websockets.connect(URL + "?name=ann")
    await expect(ann, "* ann joined")
    bob = await websockets.connect(URL + "?name=bob", max_size=None)
    await expect(ann, "* bob joined")
    await expect(bob, "* bob joined")
    await ann.send("hello")
    for ws in (ann, bob):
        await expect(ws, "ann: hello")
    await bob.send("hi ann")
    for ws in (ann, bob):
        await expect(ws, "bob: hi ann")
    await bob.send("x" * 5000)  # over the 4096-byte limit
    try:
        await asyncio.wait_for(bob.recv(), 5)
        raise SystemExit("bob got a line after a too-big message")
    except websockets.exceptions.ConnectionClosed as e:
        if e.rcvd is None or e.rcvd.code != 1009:
            raise SystemExit("too big: closed with %r" % e.rcvd)
    await expect(ann, "* bob left")
    await ann.close(1000, "bye")
    print("ok")


asyncio.run(main())
PY
out=$(/usr/bin/python3 "$dir/members.py" "ws://127.0.0.1:$port/chat" 2>&1) || fail "members: $out"
[ "$out" = ok ] || fail "members: $out"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(/usr/bin/python3 - "$here" "$port" <<'PY' 2>&1
import struct
import sys

sys.path.insert(0, sys.argv[1])
import h2_tunnel
import h2_websocket

h2_tunnel.PORT = int(sys.argv[2])
c = h2_tunnel.Client()
s = h2_websocket.Socket(c, path="/chat?name=cat")
assert s.head.get(":status") == "200", s.head
assert s.message() == (1, b"* cat joined")
s.send(1, b"over h2")
assert s.message() == (1, b"cat: over h2")
s.send(8, struct.pack("!H", 1000))
assert s.frame()[2] == 8
print("ok")
PY
) || fail "the HTTP/2 member: $out"
[ "$out" = ok ] || fail "the HTTP/2 member: $out"
wait "${subs[@]}" 2>/dev/null || true
subs=()

want=$'retry: 1000\n\nid: 1\ndata: * ann joined\n\nid: 2\ndata: * bob joined\n\nid: 3\ndata: ann: hello\n\nid: 4\ndata: bob: hi ann\n\nid: 5\ndata: * bob left\n\nid: 6\ndata: * ann left\n\nid: 7\ndata: * cat joined\n\nid: 8\ndata: cat: over h2\n\nid: 9\ndata: * cat left\n\n'
for f in h1 h2; do
  [ "$(cat "$dir/$f"; echo x)" = "${want}x" ] || fail "$f viewer got: $(cat "$dir/$f")"
done

got=$(curl -sS -N --max-time 1 -H 'Last-Event-ID: 7' "$base/events" 2>/dev/null || true)
[ "$got" = $'retry: 1000\n\nid: 8\ndata: cat: over h2\n\nid: 9\ndata: * cat left' ] || fail "resume after 7: $got"
echo "chat_example_test: ok"
