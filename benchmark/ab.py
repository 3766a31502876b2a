#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""ab.py: an interleaved A/B of server commands under one load, in requests per server CPU-second.

The question it answers: did this change make the server cheaper? `make bench` compares khz
with its peers; this compares two (or more) builds or flag sets of one server, round by round,
so the machine's drift between rounds cancels out of the ratio.

  python3 benchmark/ab.py --rounds 5 --seconds 4 \\
      --load 'h2load -c50 -m16 -t1 -D {seconds} http://127.0.0.1:{port}/plaintext' \\
      --server 'old=/tmp/old/khz-bench-server --port {port} --loops 1 --h2c' \\
      --server 'new=build/bin/khz-bench-server --port {port} --loops 1 --h2c'

Each round starts every server afresh on --server-cpu (taskset), waits for its port, runs the
load once unmeasured for --warmup seconds, then once measured on --client-cpu, and reads the
server's CPU time (utime + stime of the process, all threads) from /proc around the measured
run. The order of the servers alternates from round to round. Loads whose output it reads: wrk
("N requests in"), h2load ("requests: ... N succeeded") and khz-load ("requests: N, errors: ...").
Placeholders: {port} (a free port per server), {seconds}.

Output: per round, each server's requests, server CPU-seconds and requests per CPU-second, and
its ratio to the first server; then the median and range of those per-round ratios. Exit
status 1 when a server did not start or a load reported errors (non-2xx answers, failed
requests) or no requests.
"""
import argparse
import os
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """utime + stime of the process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_port(port, proc, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def requests_done(output):
    """(requests completed, error text or '') from a load generator's output."""
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored", output)
    if m:  # h2load
        succeeded, bad = int(m.group(1)), int(m.group(2)) + int(m.group(3))
        codes = re.search(r"status codes: (\d+) 2xx", output)
        ok = int(codes.group(1)) if codes else succeeded
        why = ", ".join(filter(None, [f"{bad} failed or errored" if bad else "",
                                      f"{succeeded - ok} not 2xx" if ok != succeeded else ""]))
        return ok, why
    m = re.search(r"requests: (\d+), errors: (\d+), status >= 400: (\d+)", output)
    if m:  # khz-load
        errors, bad_status = int(m.group(2)), int(m.group(3))
        why = ", ".join(filter(None, [f"{errors} errors" if errors else "", f"{bad_status} with status >= 400" if bad_status else ""]))
        return int(m.group(1)) - errors - bad_status, why
    m = re.search(r"(\d+) requests in", output)
    if m:  # wrk
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
        errors = re.search(r"Socket errors: .*", output)
        why = ", ".join(filter(None, [f"{non2xx.group(1)} non-2xx" if non2xx else "", errors.group(0) if errors else ""]))
        return int(m.group(1)), why
    return 0, "no request count in the load's output"


def run_one(name, command, load, args):
    port = free_port()
    argv = ["taskset", "-c", args.server_cpu] + shlex.split(command.format(port=port, seconds=args.seconds))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_for_port(port, proc):
            return None, f"{name}: did not listen on port {port}"
        client = ["taskset", "-c", args.client_cpu]
        if args.warmup > 0:
            warm = load.format(port=port, seconds=args.warmup)
            subprocess.run(client + shlex.split(warm), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        before = cpu_seconds(proc.pid)
        out = subprocess.run(client + shlex.split(load.format(port=port, seconds=args.seconds)),
                             capture_output=True, text=True)
        cpu = cpu_seconds(proc.pid) - before
        done, why = requests_done(out.stdout + out.stderr)
        if done == 0 or why:
            return None, f"{name}: {why or 'no requests'}"
        return (done, cpu), ""
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", action="append", required=True, metavar="NAME=COMMAND",
                   help="a server to measure; the first is the one the others are divided by")
    p.add_argument("--load", required=True, help="the load command ({port}, {seconds})")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=int, default=4)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--server-cpu", default="0")
    p.add_argument("--client-cpu", default="1")
    args = p.parse_args()
    servers = []
    for s in args.server:
        name, sep, command = s.partition("=")
        if not sep or not command:
            p.error(f"--server {s!r}: expected NAME=COMMAND")
        servers.append((name, command))
    if len(servers) < 2:
        p.error("two servers at least")

    ratios = {name: [] for name, _ in servers[1:]}
    failed = False
    for r in range(1, args.rounds + 1):
        order = servers if r % 2 else list(reversed(servers))
        rates = {}
        for name, command in order:
            result, why = run_one(name, command, args.load, args)
            if result is None:
                print(f"round {r}: {why}", flush=True)
                failed = True
                continue
            done, cpu = result
            rates[name] = done / cpu if cpu > 0 else 0.0
            print(f"round {r}: {name}: {done} requests, {cpu:.2f} server CPU-s, {rates[name]:,.0f} req per CPU-s",
                  flush=True)
        base = rates.get(servers[0][0])
        for name, _ in servers[1:]:
            if base and rates.get(name):
                ratios[name].append(rates[name] / base)
    print()
    for name, values in ratios.items():
        if values:
            print(f"{name} / {servers[0][0]}: median {statistics.median(values):.3f} over {len(values)} rounds "
                  f"({min(values):.3f} to {max(values):.3f})")
        else:
            print(f"{name} / {servers[0][0]}: no round measured both")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
