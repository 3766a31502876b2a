#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# hz end to end: khz installed once into a scratch prefix (hz with it), then for a Thrift and a
# Protobuf IDL: hz new, the handlers filled in as a user would, the project built against the
# installed khz (find_package(khz), ccache), run, every route called with curl and with the
# generated client, binding and validation checked (a bad field: 400 naming it), the OpenAPI
# document validated (swagger-parser, OpenAPI 3.1); then a method added to the Thrift IDL,
# hz update, a rebuild: the new route works and the lines added to the handlers are still there.
#   e2e_test.sh <build-dir> <source-dir>
set -euo pipefail
build=$1 source=$2
here=$source/test/hz
scratch=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export CCACHE_BASEDIR=$scratch  # generated projects hit the cache across runs

cmake --install "$build" --prefix "$scratch/prefix" > "$scratch/install.log"
hz=$scratch/prefix/bin/hz  # the installed hz: its templates are compiled in
[ -x "$hz" ] || fail "hz is not installed"
[ -f "$scratch/prefix/share/khz/hz/api.proto" ] || fail "api.proto is not installed"

build_project() {  # build_project <dir>
  cmake -S "$1" -B "$1/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$scratch/prefix" \
    > "$1/configure.log" || { cat "$1/configure.log"; fail "configure $1"; }
  cmake --build "$1/build" -j 2 > "$1/build.log" 2>&1 || { cat "$1/build.log"; fail "build $1"; }
}

start() {  # start <binary> <name>: runs it on a free port; sets $base
  "$1" --address 127.0.0.1:0 > "$scratch/$2.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q "listening on" "$scratch/$2.log" 2> /dev/null && break
    sleep 0.05
  done
  local address
  address=$(sed -n 's/.* listening on \(.*\)$/\1/p' "$scratch/$2.log")
  [ -n "$address" ] || { cat "$scratch/$2.log"; fail "$2 did not start"; }
  base=http://$address
}

stop() {  # stop <pid>: SIGTERM, and it exits cleanly
  kill -TERM "$1"
  wait "$1" || fail "the server exited with $? on SIGTERM"
}

expect() {  # expect <status> <body-pattern> <curl args...>
  local status=$1 pattern=$2
  shift 2
  local out
  out=$(curl -sS -w '\n%{http_code}' "$@") || fail "curl $*"
  local got=${out##*$'\n'} body=${out%$'\n'*}
  [ "$got" = "$status" ] || fail "curl $*: status $got, want $status: $body"
  grep -Eq -- "$pattern" <<< "$body" || fail "curl $*: body $body does not match $pattern"
}

# ---- Thrift
thrift=$scratch/store
"$hz" new --idl "$here/idl/thrift/store.thrift" -I "$here/idl/thrift" --service store --out-dir "$thrift" > /dev/null 2>&1
handlers=$thrift/biz/handler/demo/store/item_service.cc
python3 "$here/e2e/fill_handlers.py" "$handlers" \
  GetItem 'resp.id = req->id; @@ resp.name = req->fields.value_or(""); @@ resp.tags = {req->session};' \
  CreateItem 'resp.name = req->name; @@ resp.tags = req->tags; @@ resp.price = req->price; @@ resp.featured = !req->token.empty();' \
  ListItems 'resp.total = req->limit; @@ for (const std::string& t : req->tag) resp.items.push_back({.name = t, .tags = {req->order}});' \
  Rename 'resp.ok = true; @@ resp.detail = std::to_string(req->id) + ":" + req->name;' \
  AddNote 'resp.ok = true; @@ resp.detail = req->text;'
python3 "$here/e2e/fill_handlers.py" "$thrift/biz/handler/demo/store/health.cc" Ping 'resp.ok = true;'  # api.handler_path
cp "$here/e2e/store_client.cc" "$thrift/"
echo 'add_executable(store_client store_client.cc)
target_include_directories(store_client PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(store_client PRIVATE khz::khz)' >> "$thrift/CMakeLists.txt"
build_project "$thrift"
start "$thrift/build/store" store
pid=${pids[-1]}
json='Content-Type: application/json'
expect 200 '"id":5,"name":"name"' "$base/items/5?fields=name"
expect 200 '"tags":\["s9"\]' -b session=s9 "$base/items/6"
expect 400 '"field":"id"' "$base/items/0"
expect 400 '"field":"id"' "$base/items/abc"
expect 200 '"name":"pen","tags":\["a"\],.*"price":\{"currency":"EUR","cents":5\}' -H "$json" -H 'X-Token: t' \
  -d '{"name":"pen","tags":["a"],"price":{"currency":"EUR","cents":5},"email":"a@b.co"}' "$base/items"
expect 400 '"field":"token"' -H "$json" -d '{"name":"pen"}' "$base/items"
expect 400 '"field":"email"' -H "$json" -H 'X-Token: t' -d '{"name":"pen","email":"nope"}' "$base/items"
expect 400 '"field":"tags"' -H "$json" -H 'X-Token: t' -d '{"name":"pen","tags":["1","2","3","4","5"]}' "$base/items"
expect 400 'currency' -H "$json" -H 'X-Token: t' -d '{"name":"pen","price":{"currency":"EURO"}}' "$base/items"
expect 200 '"total":10' "$base/items"
expect 200 '"items":\[\{"id":0,"name":"a",.*"tags":\["name"\].*"total":7' "$base/items?limit=7&tag=a&tag=b&order=name"
expect 400 'must be 1 to 100' "$base/items?limit=500"
expect 400 '"field":"order"' "$base/items?order=price"
expect 200 '"detail":"3:abc"' -X PUT -d name=abc "$base/items/3/name"
expect 400 '"field":"name"' -X PUT -d name=ABC "$base/items/3/name"
expect 200 '"detail":"raw text, as sent"' -H 'Content-Type: text/plain' --data-binary 'raw text, as sent' "$base/items/3/notes"
expect 200 '"ok":true' "$base/ping"
"$thrift/build/store_client" "$base" || fail "store_client"
stop "$pid"
grep -q "got SIGTERM" "$scratch/store.log" || fail "no clean shutdown on SIGTERM"

# KHZ_ADDRESS is the default address.
port=$(python3 "$(dirname "${BASH_SOURCE[0]}")/../support/free_port.py")
KHZ_ADDRESS=127.0.0.1:$port "$thrift/build/store" > "$scratch/env.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q "listening on" "$scratch/env.log" && break; sleep 0.05; done
expect 200 '"ok":true' "http://127.0.0.1:$port/ping"
stop "${pids[-1]}"

# ---- hz update: a new method; the filled-in lines stay.
sed 's|^service ItemService {|&\n  Ack Archive(1: GetItemRequest req) (api.delete = "/items/:id")|' "$here/idl/thrift/store.thrift" > "$scratch/store.thrift"
cp "$here/idl/thrift/common.thrift" "$scratch/"
"$hz" update --idl "$scratch/store.thrift" -I "$scratch" --out-dir "$thrift" > /dev/null 2>&1 || fail "hz update"
[ "$(grep -c '// filled in' "$handlers")" = 13 ] || fail "hz update lost lines of the handlers"
python3 "$here/e2e/fill_handlers.py" "$handlers" Archive 'resp.ok = true; @@ resp.detail = "archived " + std::to_string(req->id);'
build_project "$thrift"
start "$thrift/build/store" store-updated
expect 200 '"detail":"archived 9"' -X DELETE "$base/items/9"
expect 200 '"id":5,"name":"name"' "$base/items/5?fields=name"
stop "${pids[-1]}"

# ---- Protobuf
proto=$scratch/catalog
"$hz" new --idl "$here/idl/proto/catalog.proto" -I "$here/idl/proto" --service catalog --out-dir "$proto" > /dev/null 2>&1
python3 "$here/e2e/fill_handlers.py" "$proto/biz/handler/demo/catalog/catalog.cc" \
  CreateProduct 'resp.name = req->name; @@ resp.tags = req->tags; @@ resp.price = req->price; @@ resp.note = req->token; @@ resp.created = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));' \
  GetProduct 'resp.id = req->id; @@ resp.name = req->session;' \
  Search 'resp.total = req->limit; @@ resp.products.push_back({.tags = req->tag, .status = req->status});'
cp "$here/e2e/catalog_client.cc" "$proto/"
echo 'add_executable(catalog_client catalog_client.cc)
target_include_directories(catalog_client PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(catalog_client PRIVATE khz::khz)' >> "$proto/CMakeLists.txt"
build_project "$proto"
start "$proto/build/catalog" catalog
expect 200 '"name":"lamp".*"created":"2023-11-14T22:13:20Z".*"note":"t"' -H "$json" -H 'X-Token: t' \
  -d '{"name":"lamp","percent":5}' "$base/products"
expect 400 '"field":"discount"' -H "$json" -H 'X-Token: t' -d '{"name":"lamp","percent":5,"cents_off":1}' "$base/products"
expect 400 '"field":"name"' -H "$json" -H 'X-Token: t' -d '{"name":""}' "$base/products"
expect 200 '"id":8,"name":"s3"' -b session=s3 "$base/products/8"
expect 400 '"field":"id"' "$base/products/0"
expect 200 '"status":"STATUS_ACTIVE".*"total":4' "$base/products?limit=4&status=STATUS_ACTIVE&tag=x"
expect 400 '"field":"status"' "$base/products?limit=4&status=NOPE"
expect 400 '"field":"limit"' "$base/products?limit=0"
"$proto/build/catalog_client" "$base" || fail "catalog_client"
stop "${pids[-1]}"

# ---- The OpenAPI documents, by a real OpenAPI 3.1 validator.
node "$source/test/node/openapi_validate.js" "$thrift/openapi.json" "$proto/openapi.json" || fail "openapi.json"
echo "hz_e2e_test: ok"
