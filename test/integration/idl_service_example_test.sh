#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# examples/idl_service end to end with curl: notes created, read, listed by tag and deleted;
# a bad field gets 400 naming it; the service middleware's header is on every response; and
# the committed project is what hz makes of its IDL (hz update on a copy changes nothing).
#   idl_service_example_test.sh <path-to-idl_service> <path-to-hz> <source-dir>
set -euo pipefail
app=$1 hz=$2 source=$3
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

"$app" --address 127.0.0.1:0 >"$dir/log" 2>&1 &
pid=$!
address=""
for _ in $(seq 1 100); do
  address=$(sed -n 's/.* listening on \(.*\)$/\1/p' "$dir/log" 2>/dev/null || true)
  [ -n "$address" ] && break
  sleep 0.05
done
[ -n "$address" ] || fail "idl_service did not report its address"
base="http://$address"
json='Content-Type: application/json'

out=$(curl -sS -i -H "$json" -d '{"title":"groceries","body":"milk","tags":["home"]}' "$base/notes")
grep -q "^HTTP/1.1 201" <<<"$out" || fail "create: $out"
grep -qi "^X-Service: notes" <<<"$out" || fail "no X-Service header: $out"
grep -qi "^Location: /notes/1" <<<"$out" || fail "no Location: $out"
curl -sS -H "$json" -d '{"title":"work","tags":["office"]}' "$base/notes" >/dev/null
[ "$(curl -sS "$base/notes/1")" = '{"id":1,"title":"groceries","body":"milk","tags":["home"]}' ] || fail "get"
[ "$(curl -sS "$base/notes?tag=office")" = '{"notes":[{"id":2,"title":"work","body":"","tags":["office"]}]}' ] || fail "list by tag"
grep -q '"field":"title"' <<<"$(curl -sS -H "$json" -d '{"title":""}' "$base/notes")" || fail "an empty title"
grep -q '"field":"limit"' <<<"$(curl -sS "$base/notes?limit=1000")" || fail "a limit out of range"
grep -q '"field":"id"' <<<"$(curl -sS "$base/notes/0")" || fail "id 0"
[ "$(curl -sS -X DELETE "$base/notes/1")" = '{"id":1}' ] || fail "delete"
[ "$(curl -sS -o /dev/null -w '%{http_code}' "$base/notes/1")" = 404 ] || fail "a deleted note"
kill -TERM "$pid"
wait "$pid" || fail "idl_service exited with $? on SIGTERM"
pid=""

# The committed project is current: hz update on a copy rewrites nothing.
cp -r "$source/examples/idl_service" "$dir/copy"
rm -rf "$dir/copy/build"
"$hz" update --idl "$dir/copy/idl/notes.thrift" --out-dir "$dir/copy" >/dev/null 2>&1 || fail "hz update"
diff -r "$source/examples/idl_service" "$dir/copy" || fail "hz update changed the example: regenerate it (hz update --idl idl/notes.thrift)"
echo "idl_service_example_test: ok"
