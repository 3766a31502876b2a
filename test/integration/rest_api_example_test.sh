#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# examples/rest_api end to end with curl: create users (201, then a 400 problem+json naming
# every failing field), read one by path and a list by query, log in with a form (a Set-Cookie
# curl keeps in its jar), read /me with the cookie (401 without), upload an avatar (multipart,
# spooled above the example's 64 KiB threshold), and the HTML page (escaped).
#   rest_api_example_test.sh <path-to-rest_api>
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

KHZ_TRANSPORT=netpoll "$app" --port 0 >"$dir/out" 2>"$dir/log" &
pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*(port \([0-9]*\),.*/\1/p' "$dir/log" 2>/dev/null || true)
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || fail "rest_api did not report its port"
base="http://127.0.0.1:$port"
req() { curl -s --max-time 5 -w '\n%{http_code}' "$@"; }
status() { tail -n1 <<<"$1"; }
body() { sed '$d' <<<"$1"; }
json() { python3 -c "import json,sys; d=json.loads(sys.stdin.read()); print(eval(sys.argv[1]))" "$1"; }

r=$(req "$base/api/users" -H 'Content-Type: application/json' \
  -d '{"name":"Ada <Lovelace>","email":"ada@example.org","age":36,"tags":["math","engines"]}')
[ "$(status "$r")" = 201 ] || fail "create: $r"
[ "$(body "$r" | json 'd["id"]')" = 1 ] || fail "create id: $r"

r=$(req "$base/api/users" -H 'Content-Type: application/json' -d '{"age":400,"email":"x","tags":["Bad Tag"]}')
[ "$(status "$r")" = 400 ] || fail "invalid create: $r"
fields=$(body "$r" | json '",".join(e["field"] for e in d["errors"])')
[ "$fields" = "name,email,age,tags[0]" ] || fail "failing fields: $fields"

r=$(req "$base/api/users/1")
[ "$(body "$r" | json 'd["name"]')" = "Ada <Lovelace>" ] || fail "get by id: $r"
r=$(req "$base/api/users/0")
[ "$(status "$r")" = 400 ] || fail "id 0: $r"
r=$(req "$base/api/users/9")
[ "$(status "$r")" = 404 ] || fail "missing id: $r"

r=$(req "$base/api/users?tag=math&limit=5")
[ "$(body "$r" | json 'len(d)')" = 1 ] || fail "list by tag: $r"
r=$(req "$base/api/users?tag=poetry")
[ "$(body "$r" | json 'len(d)')" = 0 ] || fail "list by other tag: $r"
r=$(req "$base/api/users?limit=1000")
[ "$(status "$r")" = 400 ] || fail "limit over 100: $r"

r=$(req "$base/me")
[ "$(status "$r")" = 401 ] || fail "/me without a cookie: $r"
r=$(req -c "$dir/jar" "$base/login" --data-urlencode 'name=Ada <Lovelace>' --data-urlencode password=wrong!)
[ "$(status "$r")" = 401 ] || fail "wrong password: $r"
r=$(req -c "$dir/jar" "$base/login" --data-urlencode 'name=Ada <Lovelace>' --data-urlencode password=secret)
[ "$(status "$r")" = 200 ] || fail "login: $r"
grep -q '#HttpOnly_127.0.0.1.*sid' "$dir/jar" || fail "no HttpOnly sid cookie in curl's jar: $(cat "$dir/jar")"
r=$(req -b "$dir/jar" "$base/me")
[ "$(body "$r" | json 'd["email"]')" = "ada@example.org" ] || fail "/me: $r"

head -c 200000 /dev/urandom >"$dir/photo.png"
r=$(req -b "$dir/jar" -F "avatar=@$dir/photo.png;type=image/png" "$base/me/avatar")
[ "$(body "$r" | json 'd["bytes"], d["type"], d["spooled"]')" = "(200000, 'image/png', True)" ] || fail "upload: $r"
r=$(req -b "$dir/jar" "$base/me")
[ "$(body "$r" | json 'd["avatar_bytes"]')" = 200000 ] || fail "avatar size: $r"

r=$(req "$base/")
[ "$(status "$r")" = 200 ] || fail "page: $r"
grep -q 'Ada &lt;Lovelace&gt;' <<<"$r" || fail "page does not escape the name: $r"
grep -q '<span class="tag">engines</span>' <<<"$r" || fail "page lacks the tags: $r"
echo "rest_api example: every check passed"
