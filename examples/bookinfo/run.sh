#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Starts Bookinfo on loopback: etcd (a temporary data directory), the routing rules, details,
# ratings v1 and v2, reviews v1 (two instances), v2 and v3, productpage, and the gateway on 127.0.0.1:9080
# serving /productpage. Stops everything on Ctrl-C or SIGTERM.
#   run.sh <path-to-bookinfo>
# Environment: BOOKINFO_PORT (9080), BOOKINFO_ETCD_PORT (2379; its peer port is +1),
# BOOKINFO_STATE (a directory for logs and pids; default: a temporary one, removed at exit).
# The lanes (etcd /khz/rules/reviews and /khz/rules/ratings): requests carrying the baggage
# entry env=dev (the gateway sets it for `uid: 100`) go reviews v2 → ratings v2; the others go
# reviews v1 (80%) or v3 (20%), and ratings v1.
set -euo pipefail
app=${1:?usage: run.sh <path-to-bookinfo>}
port=${BOOKINFO_PORT:-9080}
etcd_port=${BOOKINFO_ETCD_PORT:-2379}
peer_port=$((etcd_port + 1))
state=${BOOKINFO_STATE:-}
own_state=0
if [ -z "$state" ]; then state=$(mktemp -d); own_state=1; fi
mkdir -p "$state/pids"
etcd_url="http://127.0.0.1:$etcd_port"
pids=()

stop() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$own_state" = 1 ]; then rm -rf "$state"; fi
}
trap stop EXIT
trap 'exit 0' INT TERM

start() {  # name, then the command
  local name=$1
  shift
  "$@" >"$state/$name.log" 2>&1 &
  pids+=("$!")
  echo "$!" >"$state/pids/$name"
}

start etcd etcd --name bookinfo --data-dir "$state/etcd-data" \
  --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "bookinfo=http://127.0.0.1:$peer_port" --log-level warn
for _ in $(seq 1 100); do
  curl -s -m 1 -X POST "$etcd_url/v3/kv/range" -d '{"key":"AA=="}' | grep -q header && break
  sleep 0.1
done
ctl() { ETCDCTL_API=3 etcdctl --endpoints="$etcd_url" "$@" >/dev/null; }
ctl put /khz/rules/reviews '{"subsets":{"v1":{"version":"v1"},"v2":{"version":"v2"},"v3":{"version":"v3"}},
  "routes":[{"match":{"baggage":{"env":"dev"}},"destinations":[{"subset":"v2"}]},
            {"destinations":[{"subset":"v1","weight":80},{"subset":"v3","weight":20}]}]}'
ctl put /khz/rules/ratings '{"subsets":{"v1":{"version":"v1"},"v2":{"version":"v2"}},
  "routes":[{"match":{"baggage":{"env":"dev"}},"destinations":[{"subset":"v2"}]},
            {"destinations":[{"subset":"v1"}]}]}'

start details "$app" details --etcd "$etcd_url"
start ratings-v1 "$app" ratings --version v1 --etcd "$etcd_url"
start ratings-v2 "$app" ratings --version v2 --etcd "$etcd_url"
start reviews-v1 "$app" reviews --version v1 --etcd "$etcd_url"
start reviews-v1b "$app" reviews --version v1 --etcd "$etcd_url"   # two of v1: one may die
start reviews-v2 "$app" reviews --version v2 --etcd "$etcd_url"
start reviews-v3 "$app" reviews --version v3 --etcd "$etcd_url"
start productpage "$app" productpage --etcd "$etcd_url"
start gateway "$app" gateway --etcd "$etcd_url" --port "$port"

# Ready when every lane reaches its versions: the base page through ratings v1, and the dev lane
# (uid 100) through reviews v2 and ratings v2 (until productpage has discovered reviews v2, a dyed
# request takes another reviews).
for _ in $(seq 1 250); do
  if curl -s -m 2 "http://127.0.0.1:$port/productpage" | grep -q 'data-ratings-version="v1"' &&
     curl -s -m 2 -H 'uid: 100' "http://127.0.0.1:$port/productpage" |
       grep -q 'data-reviews-version="v2" data-ratings-version="v2"'; then break; fi
  sleep 0.1
done
echo "Bookinfo: http://127.0.0.1:$port/productpage   (curl -H 'uid: 100' ... for the dev lane; logs in $state)"
echo "ready" >"$state/ready"
while :; do sleep 1; done
