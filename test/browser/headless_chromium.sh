#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Loads a page in headless Chromium and prints its DOM once the page's script is done.
#   headless_chromium.sh URL [BUDGET_MS] [TIMEOUT_S]
# BUDGET_MS (default 10000) is Chromium's virtual-time budget: the page's timers run fast, and
# virtual time stands still while a fetch is pending, so a page must end its long-lived
# connections (EventSource.close(), WebSocket.close()) once it has written its result into
# the DOM; the DOM is printed when the budget is spent. TIMEOUT_S (default 60) bounds the
# whole run in wall-clock time: a page that never finishes is killed (exit 124).
# Exit 3 when no Chromium is installed (scripts/install-deps.sh installs Debian's chromium);
# $KHZ_CHROMIUM names another binary. Each run gets a new, empty profile, removed afterwards.
# Certificate errors are ignored (test servers use a throwaway CA).
set -euo pipefail
url=${1:?usage: headless_chromium.sh URL [BUDGET_MS] [TIMEOUT_S]}
budget=${2:-10000}
limit=${3:-60}

browser=${KHZ_CHROMIUM:-}
if [ -z "$browser" ]; then
  for candidate in chromium chromium-browser google-chrome; do
    if command -v "$candidate" >/dev/null 2>&1; then browser=$candidate; break; fi
  done
fi
if [ -z "$browser" ] || ! command -v "$browser" >/dev/null 2>&1; then
  echo "headless_chromium.sh: no Chromium found (install Debian's chromium: scripts/install-deps.sh, or set KHZ_CHROMIUM)" >&2
  exit 3
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# Running as root needs --no-sandbox. The rest keeps the browser from talking to anything but
# the page's server and from reusing state: no QUIC, no first-run, no background fetches.
exec_status=0
timeout --kill-after=5 "$limit" "$browser" \
  --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --disable-dev-shm-usage --ignore-certificate-errors \
  --user-data-dir="$profile" \
  --virtual-time-budget="$budget" --dump-dom "$url" 2>"$profile/stderr" || exec_status=$?
if [ "$exec_status" -ne 0 ]; then
  echo "headless_chromium.sh: $browser exited with status $exec_status; its stderr:" >&2
  tail -20 "$profile/stderr" >&2
  exit "$exec_status"
fi
