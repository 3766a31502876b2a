#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# hz's generated code against golden files, and its behaviour on bad input; no compiler runs
# on the output here (hz_e2e_test builds and runs generated projects).
#   golden_test.sh <hz> <source-dir>
# HZ_UPDATE_GOLDEN=1 rewrites the goldens (test/hz/golden/) from this hz's output instead.
set -euo pipefail
hz=$1 source=$2
here=$source/test/hz
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

generate() {  # generate <case> <out> : hz new for a golden case
  case $1 in
    thrift) "$hz" new --idl "$here/idl/thrift/store.thrift" -I "$here/idl/thrift" --service store --out-dir "$2" ;;
    proto) "$hz" new --idl "$here/idl/proto/catalog.proto" -I "$here/idl/proto" --service catalog --out-dir "$2" ;;
  esac
}

for case in thrift proto; do
  generate $case "$scratch/$case" > "$scratch/$case.log" 2> "$scratch/$case.err" || { cat "$scratch/$case.err"; fail "hz new ($case)"; }
  # Deterministic: the same input gives the same bytes.
  generate $case "$scratch/$case-again" > /dev/null 2>&1
  diff -r "$scratch/$case" "$scratch/$case-again" > /dev/null || fail "two runs of hz new ($case) differ"
  if [ "${HZ_UPDATE_GOLDEN:-}" = 1 ]; then
    rm -rf "$here/golden/$case"
    mkdir -p "$here/golden"
    cp -r "$scratch/$case" "$here/golden/$case"
    echo "updated $here/golden/$case"
  else
    diff -ru "$here/golden/$case" "$scratch/$case" || fail "hz new ($case) differs from test/hz/golden/$case (HZ_UPDATE_GOLDEN=1 refreshes it)"
  fi
done
# The rules are in the OpenAPI documents as JSON Schema constraints.
python3 - "$scratch/thrift/openapi.json" "$scratch/proto/openapi.json" <<'PY' || fail "openapi.json lacks a rule"
import json, sys
store, catalog = (json.load(open(f)) for f in sys.argv[1:])
s = store["components"]["schemas"]
assert s["store.CreateItemRequest"]["properties"]["name"] == {"type": "string", "minLength": 1, "maxLength": 32}
assert s["store.CreateItemRequest"]["properties"]["tags"]["maxItems"] == 4
assert s["store.CreateItemRequest"]["properties"]["email"]["format"] == "email"
assert s["store.CreateItemRequest"]["required"] == ["name", "token"]
assert s["common.Money"]["properties"]["currency"]["minLength"] == 3
assert s["store.Item"]["properties"]["related"]["uniqueItems"] is True
params = {p["name"]: p for p in store["paths"]["/items"]["get"]["parameters"]}
assert params["limit"]["schema"]["minimum"] == 1 and params["limit"]["schema"]["maximum"] == 100
assert params["order"]["schema"]["enum"] == ["name", "rating"]
get = {(p["in"], p["name"]): p for p in store["paths"]["/items/{id}"]["get"]["parameters"]}
assert get[("path", "id")]["required"] and get[("path", "id")]["schema"]["minimum"] == 1
assert ("cookie", "session") in get
assert store["paths"]["/items/{id}/name"]["put"]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["properties"]["name"]["pattern"] == "^(?:^[a-z]+$)$"
post = store["paths"]["/items"]["post"]
assert [p["name"] for p in post["parameters"]] == ["X-Token"] and post["parameters"][0]["in"] == "header"
c = catalog["components"]["schemas"]
assert c["demo.catalog.Product"]["properties"]["created"] == {"type": "string", "format": "date-time"}
assert c["demo.catalog.Product"]["properties"]["status"] == {"$ref": "#/components/schemas/demo.common.Status"}
assert c["demo.common.Status"]["enum"] == ["STATUS_UNKNOWN", "STATUS_ACTIVE", "STATUS_ARCHIVED"]
assert c["demo.catalog.Product"]["properties"]["size"] == {"$ref": "#/components/schemas/demo.catalog.Product.Dimensions"}
PY
# The warning for the Hertz annotation C++ has no use for.
grep -q "ItemService.Ping: annotation api.go_tag is not supported" "$scratch/thrift.err" || fail "no warning for api.go_tag"

# update keeps the user's edits: a line in a handler, and a handler body rewritten.
project=$scratch/thrift
sed -i 's|^void GetItem(khz::RequestContext& ctx) {|&\n  // kept by hz update|' "$project/biz/handler/demo/store/item_service.cc"
grep -q "^void Ping(khz::RequestContext& ctx) {" "$project/biz/handler/demo/store/health.cc" || fail "api.handler_path: Ping is not in health.cc"
before=$(cat "$project/biz/handler/demo/store/item_service.cc")
sed 's|^service ItemService {|&\n  Ack Archive(1: GetItemRequest req) (api.delete = "/items/:id")|' "$here/idl/thrift/store.thrift" > "$scratch/store.thrift"
cp "$here/idl/thrift/common.thrift" "$scratch/"
"$hz" update --idl "$scratch/store.thrift" -I "$scratch" --out-dir "$project" > /dev/null 2>&1 || fail "hz update"
after=$(cat "$project/biz/handler/demo/store/item_service.cc")
case "$after" in "$before"*) ;; *) fail "hz update rewrote the handler file instead of appending" ;; esac
grep -q "kept by hz update" "$project/biz/handler/demo/store/item_service.cc" || fail "the user's line is gone"
[ "$(grep -c '^void Archive(khz::RequestContext& ctx) {' "$project/biz/handler/demo/store/item_service.cc")" = 1 ] || fail "Archive not appended once"
grep -q '^void Archive(khz::RequestContext& ctx);' "$project/biz/handler/demo/store/item_service.h" || fail "Archive not declared"
grep -q 'item_service_archive_mw()' "$project/biz/router/demo/store/store_middleware.cc" || fail "Archive's middleware not appended"
grep -q 'group.del("/items/:id"' "$project/biz/router/demo/store/store.cc" || fail "Archive's route not registered"
grep -q '"delete"' "$project/openapi.json" || fail "Archive not in openapi.json"
# A second update appends nothing.
cp "$project/biz/handler/demo/store/item_service.cc" "$scratch/handler.before"
"$hz" update --idl "$scratch/store.thrift" -I "$scratch" --out-dir "$project" > /dev/null 2>&1
cmp -s "$scratch/handler.before" "$project/biz/handler/demo/store/item_service.cc" || fail "a second update changed the handler"
# Another IDL into the same project: both are registered.
"$hz" update --idl "$here/cases/unknown.thrift" --out-dir "$project" > /dev/null 2>&1 || fail "hz update with a second IDL"
grep -q "demo::store::router::register_store(engine);" "$project/biz/router/register.cc" || fail "store's routes lost from register.cc"
grep -q "unknown::router::register_unknown(engine);" "$project/biz/router/register.cc" || fail "the second IDL is not registered"
"$hz" update --idl "$scratch/store.thrift" -I "$scratch" --out-dir "$project" > /dev/null 2>&1
grep -q "unknown::router::register_unknown(engine);" "$project/biz/router/register.cc" || fail "an update of one IDL dropped the other"
# new refuses an existing project; update refuses a folder without one.
if "$hz" new --idl "$scratch/store.thrift" -I "$scratch" --out-dir "$project" > /dev/null 2>&1; then fail "hz new over a project"; fi
if "$hz" update --idl "$scratch/store.thrift" -I "$scratch" --out-dir "$scratch/none" > /dev/null 2>&1; then fail "hz update without a project"; fi

# Bad IDL: the compiler's own message with file:line, and nothing written.
expect_error() {  # expect_error <pattern> <hz args...>
  local pattern=$1
  shift
  if "$hz" "$@" > "$scratch/out.log" 2> "$scratch/err.log"; then fail "hz $* succeeded"; fi
  grep -Eq "$pattern" "$scratch/err.log" || { cat "$scratch/err.log"; fail "hz $*: no \"$pattern\" in its message"; }
}
expect_error 'bad_syntax\.thrift:5' new --idl "$here/cases/bad_syntax.thrift" --out-dir "$scratch/bad1"
expect_error 'bad_syntax\.proto:6:1' new --idl "$here/cases/bad_syntax.proto" --out-dir "$scratch/bad2"
expect_error 'route conflict: GET .*Users\.Find .*/users/:name.*Users\.Get .*/users/:id' new --idl "$here/cases/conflict.thrift" --out-dir "$scratch/bad3"
expect_error 'Req\.name: api\.vd "len\(\$\) > 0 \|\| \$ == .x.": unexpected "\|\|' new --idl "$here/cases/bad_vd.thrift" --out-dir "$scratch/bad4"
for d in bad1 bad2 bad3 bad4; do [ ! -e "$scratch/$d" ] || fail "hz wrote $d for a bad IDL"; done

# Unknown annotations are warned about.
"$hz" new --idl "$here/cases/unknown.thrift" --out-dir "$scratch/unknown" > /dev/null 2> "$scratch/err.log"
grep -q "Req.name: unknown annotation cpp.tag" "$scratch/err.log" || fail "no warning for cpp.tag"
grep -q "Names.Get: unknown annotation api.version" "$scratch/err.log" || fail "no warning for api.version"
"$hz" new --idl "$here/cases/unknown.proto" --out-dir "$scratch/unknown-proto" > /dev/null 2> "$scratch/err.log"
grep -q "Req.name: unknown annotation unknown.mine" "$scratch/err.log" || fail "no warning for the option (mine)"
grep -q "Req: annotation api.reserve is not supported" "$scratch/err.log" || fail "no warning for (api.reserve)"
grep -q "Names.Get: annotation api.api_version is not supported" "$scratch/err.log" || fail "no warning for (api.api_version)"

# The user's templates: a package template replaces the built-in one; a layout template of a
# name hz does not have becomes a file of the project; --exclude-file is never written.
"$hz" new --idl "$here/idl/thrift/store.thrift" -I "$here/idl/thrift" --service store --out-dir "$scratch/custom" \
  --customize-package "$here/cases/package_templates" --customize-layout "$here/cases/layout_templates" \
  --exclude-file router.cc > /dev/null 2>&1 || fail "hz new with templates"
grep -q "custom: GET /items/:id" "$scratch/custom/biz/handler/demo/store/item_service.cc" || fail "package template not used"
grep -q "COPY build/store /usr/local/bin/store" "$scratch/custom/Dockerfile" || fail "layout template not rendered"
[ ! -e "$scratch/custom/router.cc" ] || fail "--exclude-file router.cc was written"

# The folders of the layout: chosen by new, kept by update (.hz).
"$hz" new --idl "$here/idl/thrift/store.thrift" -I "$here/idl/thrift" --out-dir "$scratch/dirs" --handler-dir src/handlers \
  --model-dir src/model --router-dir src/routes --client-dir src/clients > /dev/null 2>&1 || fail "hz new with folders"
for f in src/handlers/demo/store/item_service.cc src/model/demo/store/store.h src/routes/register.cc \
  src/clients/demo/store/item_service_client.h; do
  [ -f "$scratch/dirs/$f" ] || fail "no $f"
done
grep -q 'src/handlers/\*.cc' "$scratch/dirs/CMakeLists.txt" || fail "CMakeLists.txt does not build src/handlers"
grep -q '"src/routes/register.h"' "$scratch/dirs/main.cc" || fail "main.cc does not include src/routes/register.h"
"$hz" update --idl "$here/idl/thrift/store.thrift" -I "$here/idl/thrift" --out-dir "$scratch/dirs" > /dev/null 2>&1
[ ! -e "$scratch/dirs/biz" ] || fail "hz update ignored the folders in .hz"

# hz model and hz client alone.
"$hz" model --idl "$here/idl/proto/catalog.proto" -I "$here/idl/proto" --out-dir "$scratch/model" > /dev/null 2>&1
[ -f "$scratch/model/biz/model/demo/catalog/catalog.h" ] && [ ! -e "$scratch/model/main.cc" ] || fail "hz model"
"$hz" client --idl "$here/idl/proto/catalog.proto" -I "$here/idl/proto" --out-dir "$scratch/client" --client-dir api > /dev/null 2>&1
[ -f "$scratch/client/api/demo/catalog/catalog_client.h" ] && [ ! -e "$scratch/client/biz/handler" ] || fail "hz client"
"$hz" --help | grep -q "update" || fail "hz --help"
for cmd in new update model client; do "$hz" $cmd --help | grep -q -- "--idl" || fail "hz $cmd --help"; done
echo "golden_test: ok"
