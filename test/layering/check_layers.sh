#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fails when a lower layer includes a higher one, or a public header names a third-party type.
#   check_layers.sh <source-root>     check the tree
#   check_layers.sh --selftest        prove the check catches violations (on a scratch tree)
set -euo pipefail

rank() {
  case "$1" in
    common) echo 0 ;; transport) echo 1 ;; protocol|route) echo 2 ;; app) echo 3 ;; middleware|proxy|governance) echo 4 ;;
    *) echo 9 ;;
  esac
}

check() {
  local root=$1 bad=0
  for layer in common transport protocol route app middleware proxy governance; do
    [ -d "$root/$layer" ] || continue
    local r; r=$(rank "$layer")
    while IFS= read -r hit; do
      local inc; inc=$(printf '%s' "$hit" | sed -n 's/.*#include[[:space:]]*[<"]khz\/\([a-z_]*\)\/.*/\1/p')
      [ -n "$inc" ] || continue
      local ir; ir=$(rank "$inc")
      if { [ "$ir" != 9 ] && [ "$ir" -gt "$r" ]; } ||
         { [ "$layer" = route ] && [ "$inc" != route ] && [ "$inc" != common ]; } ||
         { [ "$layer" = protocol ] && [ "$inc" = route ]; }; then
        echo "layer violation: $hit"
        bad=1
      fi
    done < <(grep -rn --include='*.h' --include='*.cc' '#include' "$root/$layer" 2>/dev/null || true)
    # Third-party types stay out of public headers.
    if [ -d "$root/$layer/include" ]; then
      while IFS= read -r hit; do
        echo "third-party include in a public header: $hit"
        bad=1
      done < <(grep -rnE '#include[[:space:]]*[<"](boost/|llhttp|nghttp2/|openssl/|rapidjson/|kainjow/)' "$root/$layer/include" || true)
    fi
  done
  # Sibling rooms never include each other: protocol versions (what both need lives in
  # protocol/common/, and the front door, protocol/serve.cc, joins them) and transport backends.
  local pair room other
  for pair in protocol:http1:http2 protocol:http2:http1 transport:asio:netpoll transport:netpoll:asio \
              transport:asio:tls transport:tls:asio transport:netpoll:tls transport:tls:netpoll; do
    IFS=: read -r layer room other <<< "$pair"
    [ -d "$root/$layer/$room" ] || continue
    while IFS= read -r hit; do
      echo "sibling include ($layer/$room -> $other): $hit"
      bad=1
    done < <(grep -rnE "#include[[:space:]]*[<\"](\.\./$other/|$other/|khz/$layer/$other[._])" "$root/$layer/$room" 2>/dev/null || true)
  done
  # The middleware catalogue (middleware/<name>/) sits on top: a middleware includes public
  # headers (<khz/...>) and its own files only: no other middleware, no layer's private header
  # (a quoted path that leaves its folder). Nothing includes a middleware but the programs on
  # top of everything (tools/: khz-gateway builds a file's middleware), the tests, the examples
  # and the benchmarks.
  if [ -d "$root/middleware" ]; then
    local dir name
    for dir in "$root"/middleware/*/; do
      [ -d "$dir" ] || continue
      name=$(basename "$dir")
      while IFS= read -r hit; do
        local used; used=$(printf '%s' "$hit" | sed -n 's/.*#include[[:space:]]*<khz\/middleware\/\([a-z_0-9]*\)\..*/\1/p')
        if [ -n "$used" ] && [ "$used" != "$name" ]; then
          echo "middleware including another middleware ($name -> $used): $hit"
          bad=1
        fi
      done < <(grep -rn --include='*.h' --include='*.cc' '#include[[:space:]]*<khz/middleware/' "$dir" 2>/dev/null || true)
      while IFS= read -r hit; do
        echo "middleware reaching outside its folder ($name): $hit"
        bad=1
      done < <(grep -rnE --include='*.h' --include='*.cc' '#include[[:space:]]*"[^"]*\.\./' "$dir" 2>/dev/null || true)
    done
  fi
  local top
  for top in "$root"/*/; do
    case "$(basename "$top")" in
      middleware|tools|test|examples|benchmark|third_party) continue ;;
    esac
    while IFS= read -r hit; do
      echo "middleware included outside the programs, tests, examples and benchmarks: $hit"
      bad=1
    done < <(grep -rnE --include='*.h' --include='*.cc' '#include[[:space:]]*[<"](khz/middleware/|middleware/)' "$top" 2>/dev/null || true)
  done
  return $bad
}

if [ "${1:-}" = "--selftest" ]; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  mkdir -p "$scratch/common/include/khz/common" "$scratch/app"
  echo '#include <khz/common/task.h>' > "$scratch/app/ok.cc"
  check "$scratch" >/dev/null || { echo "selftest: a clean tree was flagged"; exit 1; }
  echo '#include <khz/app/engine.h>' > "$scratch/common/bad.cc"
  if check "$scratch" >/dev/null; then echo "selftest: an upward include was not caught"; exit 1; fi
  rm "$scratch/common/bad.cc"
  echo '#include <boost/asio.hpp>' > "$scratch/common/include/khz/common/leak.h"
  if check "$scratch" >/dev/null; then echo "selftest: a third-party public include was not caught"; exit 1; fi
  rm "$scratch/common/include/khz/common/leak.h"
  mkdir -p "$scratch/protocol/http1" "$scratch/protocol/http2"
  echo '#include "../common/http_date.h"' > "$scratch/protocol/http1/ok.cc"
  check "$scratch" >/dev/null || { echo "selftest: a shared-piece include was flagged"; exit 1; }
  for inc in '"../http2/h2c_upgrade.h"' '<khz/protocol/http2.h>' '<khz/protocol/http2_client.h>'; do
    echo "#include $inc" > "$scratch/protocol/http1/bad.cc"
    if check "$scratch" >/dev/null; then echo "selftest: http1 including $inc was not caught"; exit 1; fi
  done
  rm "$scratch/protocol/http1/bad.cc"
  mkdir -p "$scratch/middleware/cors/include/khz/middleware" "$scratch/middleware/recovery" "$scratch/tools" "$scratch/examples" "$scratch/proxy"
  printf '#include <khz/app/engine.h>\n#include <khz/middleware/cors.h>\n#include "local.h"\n' > "$scratch/middleware/cors/cors.cc"
  echo '#include <khz/middleware/cors.h>' > "$scratch/examples/ok.cc"
  echo '#include <khz/middleware/cors.h>' > "$scratch/tools/ok.cc"
  check "$scratch" >/dev/null || { echo "selftest: a clean middleware was flagged"; exit 1; }
  for pair in 'middleware/recovery/bad.cc:<khz/middleware/cors.h>' 'middleware/cors/bad.cc:"../../app/form_state.h"' \
              'app/bad.cc:<khz/middleware/cors.h>' 'proxy/bad.cc:<khz/middleware/cors.h>' \
              'app/bad.cc:<khz/proxy/reverse_proxy.h>'; do
    file=${pair%%:*} inc=${pair#*:}
    echo "#include $inc" > "$scratch/$file"
    if check "$scratch" >/dev/null; then echo "selftest: $file including $inc was not caught"; exit 1; fi
    rm "$scratch/$file"
  done
  echo "selftest: ok"
  exit 0
fi

check "${1:?usage: check_layers.sh <source-root> | --selftest}"
echo "layers: ok"
