#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# benchmark/ab.py: the load outputs it reads (wrk, h2load, khz-load: counts and the errors that
# make a run fail), then a real A/B of khz-bench-server against itself under wrk and under
# h2load, a server that never listens, and a load answered 404.
#   bench_ab_test.sh BUILD/bin/khz-bench-server SOURCE_DIR
set -u
server=$1
ab="$2/benchmark/ab.py"
fail=0
check() {  # check NAME CONDITION-EXIT-STATUS
  if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}

# ---- parsing, with the tools' own output shapes
python3 - "$ab" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("ab", sys.argv[1])
ab = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ab)
cases = [
    ("wrk", "Running 1s test @ http://127.0.0.1:1/plaintext\n  1 threads and 10 connections\n"
            "  52311 requests in 1.00s, 6.39MB read\nRequests/sec:  52256.27\n", (52311, "")),
    ("wrk non-2xx", "  100 requests in 1.00s, 1MB read\n  Non-2xx or 3xx responses: 100\n", (100, "100 non-2xx")),
    ("wrk socket errors", "  90 requests in 1.00s, 1MB read\n  Socket errors: connect 0, read 3, write 0, timeout 0\n",
     (90, "Socket errors: connect 0, read 3, write 0, timeout 0")),
    ("h2load", "finished in 1.00s, 800000.00 req/s, 30.52MB/s\n"
               "requests: 800000 total, 800800 started, 800000 done, 800000 succeeded, 0 failed, 0 errored, 0 timeout\n"
               "status codes: 800000 2xx, 0 3xx, 0 4xx, 0 5xx\n", (800000, "")),
    ("h2load failed", "requests: 10 total, 10 started, 10 done, 8 succeeded, 2 failed, 0 errored, 0 timeout\n"
                      "status codes: 8 2xx, 0 3xx, 0 4xx, 0 5xx\n", (8, "2 failed or errored")),
    ("h2load 404", "requests: 10 total, 10 started, 10 done, 10 succeeded, 0 failed, 0 errored, 0 timeout\n"
                   "status codes: 0 2xx, 0 3xx, 10 4xx, 0 5xx\n", (0, "10 not 2xx")),
    ("khz-load", "requests: 5000, errors: 0, status >= 400: 0\nrequests/s: 5000\n", (5000, "")),
    ("khz-load errors", "requests: 5000, errors: 3, status >= 400: 2\n", (4995, "3 errors, 2 with status >= 400")),
    ("nothing", "error: connection refused\n", (0, "no request count in the load's output")),
]
bad = 0
for name, text, want in cases:
    got = ab.requests_done(text)
    print(("ok  " if got == want else "FAIL") + f" parse {name}: {got}")
    bad += got != want
sys.exit(1 if bad else 0)
PY
check "load outputs parsed" $?

# ---- a real A/B: the same server twice, so the ratio is near 1
out=$(python3 "$ab" --rounds 2 --seconds 1 --warmup 0 \
  --load 'wrk -t1 -c10 -d{seconds}s http://127.0.0.1:{port}/plaintext' \
  --server "a=$server --port {port} --loops 1" --server "b=$server --port {port} --loops 1" 2>&1)
status=$?
echo "$out"
check "wrk A/B exits 0" $status
[ "$(grep -c 'req per CPU-s' <<<"$out")" -eq 4 ]; check "wrk A/B: two servers in each of two rounds" $?
ratio=$(sed -n 's/^b \/ a: median \([0-9.]*\) over 2 rounds.*/\1/p' <<<"$out")
python3 -c "import sys; r = float(sys.argv[1]); sys.exit(0 if 0.3 < r < 3 else 1)" "${ratio:-0}"
check "wrk A/B: the median ratio of a server to itself is near 1 (got ${ratio:-none})" $?

out=$(python3 "$ab" --rounds 2 --seconds 1 --warmup 0 \
  --load 'h2load -c10 -m4 -t1 -D {seconds} http://127.0.0.1:{port}/plaintext' \
  --server "a=$server --port {port} --loops 1 --h2c" --server "b=$server --port {port} --loops 1 --h2c" 2>&1)
status=$?
check "h2load A/B exits 0" $status
grep -q '^b / a: median [0-9.]* over 2 rounds' <<<"$out"; check "h2load A/B: a median over both rounds" $?

# ---- failures are reported and fail the run
out=$(python3 "$ab" --rounds 2 --seconds 1 --warmup 0 \
  --load 'wrk -t1 -c10 -d{seconds}s http://127.0.0.1:{port}/plaintext' \
  --server "a=$server --port {port} --loops 1" --server "b=/bin/false {port}" 2>&1)
status=$?
[ $status -eq 1 ] && grep -q 'b: did not listen' <<<"$out"; check "a server that never listens: exit 1, named" $?

out=$(python3 "$ab" --rounds 2 --seconds 1 --warmup 0 \
  --load 'wrk -t1 -c10 -d{seconds}s http://127.0.0.1:{port}/no-such-route' \
  --server "a=$server --port {port} --loops 1" --server "b=$server --port {port} --loops 1" 2>&1)
status=$?
[ $status -eq 1 ] && grep -q 'non-2xx' <<<"$out"; check "a load answered 404: exit 1, non-2xx named" $?

exit $fail
