#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turns the raw figures benchmark/run.sh collected in one run into the Markdown report.

  report.py OUT_DIR     (reads meta.txt, load.tsv, idle.tsv, unavailable.txt, client-h2.tsv;
                        prints Markdown)

load.tsv, one line per server, scenario and round (BENCH_ROUNDS):
  server, scenario, ok|n/a, requests, wall seconds, req/s, p50 ms, p99 ms, server CPU seconds, notes
Each server and scenario is reported by its median round (by requests per server CPU-second),
with the spread of that figure over the rounds.
idle.tsv, one line per server:
  server, ok|n/a, connections, RSS before KiB, RSS after KiB, notes
client-h2.tsv, one line per load generator (h2load, khz-load) over h2c -c50 -m16:
  tool, req/s, client CPU seconds, wall seconds, errors
ws.tsv, one line per server, WebSocket scenario and round (khz-wsload's closed-loop echo):
  server, scenario, ok|n/a, messages, wall seconds, messages/s, p50 ms, p99 ms,
  server CPU seconds, khz-wsload CPU seconds, notes
"""
import os
import sys

BASELINE = "nginx"
SATURATED = 0.8  # below this server CPU share, wrk or the machine was the limit, not the server


def read_tsv(path, width):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                fields = line.rstrip("\n").split("\t")
                if len(fields) == width:
                    rows.append(fields)
    return rows


def per_cpu_second(row):
    requests, cpu = int(row[3]), float(row[8])
    return requests / cpu if row[2] == "ok" and cpu > 0 and requests > 0 else None


def median_rounds(load):
    """(server, scenario) -> (the median round's row, [rate of each measured round])."""
    grouped = {}
    for row in load:
        grouped.setdefault((row[0], row[1]), []).append(row)
    result = {}
    for key, rows in grouped.items():
        measured = sorted((r for r in rows if per_cpu_second(r)), key=per_cpu_second)
        if not measured:
            result[key] = (rows[0], [])
            continue
        # The lower median for an even count: never a figure no round reached.
        result[key] = (measured[(len(measured) - 1) // 2], [per_cpu_second(r) for r in measured])
    return result


def round_rates(load):
    """(server, scenario) -> the rate of each round, in round order (None where it failed)."""
    rates = {}
    for row in load:  # rounds are written one after the other
        rates.setdefault((row[0], row[1]), []).append(per_cpu_second(row))
    return rates


def paired(rates, server, baseline, scenario):
    """Round by round ratio to the baseline (both ran in the same round, seconds apart):
    its median and range, which slow drift of the machine's speed between rounds leaves alone."""
    ours, theirs = rates.get((server, scenario), []), rates.get((baseline, scenario), [])
    ratios = sorted(a / b for a, b in zip(ours, theirs) if a and b)
    if len(ratios) < 2:
        return ""
    median = ratios[(len(ratios) - 1) // 2]
    return f"per round vs {baseline}: median {median:.2f} ({ratios[0]:.2f} to {ratios[-1]:.2f})"


def spread(rates):
    if len(rates) < 2:
        return ""
    low, high = min(rates), max(rates)
    return f"{len(rates)} rounds: {low:,.0f} to {high:,.0f} (±{(high - low) / (high + low) * 100:.0f}%)"


def notes(text):
    if text in ("", "-"):
        return ""
    text = text.replace("socket:", "socket errors ").replace("non-2xx:", "non-2xx responses ")
    return text.rstrip(";").replace(";", "; ").replace(",", ", ")


def main():
    out = sys.argv[1]
    meta = {}
    with open(os.path.join(out, "meta.txt")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            meta[key] = value
    load = read_tsv(os.path.join(out, "load.tsv"), 10)
    idle = read_tsv(os.path.join(out, "idle.tsv"), 6)
    unavailable_path = os.path.join(out, "unavailable.txt")
    unavailable = open(unavailable_path).read().splitlines() if os.path.exists(unavailable_path) else []
    unavailable = list(dict.fromkeys(unavailable))  # once, whatever the rounds

    print("# khz benchmark results\n")
    print(f"- Date: {meta['started']} to {meta['finished']}")
    print(f"- Machine: {meta['nproc']} CPUs, {meta['cpu']}, {meta['memory']}, {meta['kernel']}")
    print(f"- Load average (1/5/15 min) before: {meta['load_before']}; after: {meta['load_after']}")
    print(f"- Command: `{meta['command']}`")
    rounds = meta.get("rounds", "1")
    print(f"- Each scenario: {meta['warmup']} s warm-up, then {meta['seconds']} s measured; "
          f"server on CPU {meta['server_cpu']}, `wrk -t1` on CPU {meta['client_cpu']}; "
          f"{rounds} round(s), each row the median round")
    print(f"- Versions: khz {meta['khz']}; {meta['compiler']}; {meta['wrk']}; nginx {meta['nginx']}; "
          f"{meta['go']}; Boost {meta['boost']}")
    for line in unavailable:
        print(f"- {line}")
    print()

    # One table, grouped by scenario so each block compares servers under the same load.
    scenarios = list(dict.fromkeys(row[1] for row in load))
    servers = list(dict.fromkeys(row[0] for row in load))
    medians = median_rounds(load)
    by_key = {key: row for key, (row, _) in medians.items()}
    per_round = round_rates(load)
    print("| server | scenario | req/s | p50 ms | p99 ms | server CPU | req per CPU-s | vs nginx (h2: nghttpd) | notes |")
    print("|---|---|--:|--:|--:|--:|--:|--:|---|")
    for scenario in scenarios:
        # HTTP/2 rows compare with nghttpd (their "vs" column), and with h2o in the notes.
        h2 = scenario.startswith("h2 ")
        prefix = "h2tls-" if "TLS" in scenario else "h2-"
        baseline_row = by_key.get(((prefix + "nghttpd") if h2 else BASELINE, scenario))
        baseline = per_cpu_second(baseline_row) if baseline_row else None
        h2o_row = by_key.get((prefix + "h2o", scenario)) if h2 else None
        h2o_rate = per_cpu_second(h2o_row) if h2o_row and h2o_row[2] == "ok" else None
        for server in servers:
            row = by_key.get((server, scenario))
            if row is None:
                continue
            if row[2] != "ok":
                print(f"| {server} | {scenario} | n/a | n/a | n/a | n/a | n/a | n/a | {notes(row[9])} |")
                continue
            rate = per_cpu_second(row)
            wall, cpu = float(row[4]), float(row[8])
            share = f"{cpu / wall:.2f}" if wall > 0 else "n/a"
            note = "; ".join(filter(None, [spread(medians[(server, scenario)][1]), notes(row[9])]))
            if wall > 0 and cpu / wall < SATURATED:
                note = "; ".join(filter(None, ["server not saturated", note]))
            rate_text = f"{rate:,.0f}" if rate else "n/a"
            ratio = f"{rate / baseline:.2f}" if rate and baseline else "n/a"
            baseline_name = (prefix + "nghttpd") if h2 else BASELINE
            if server.startswith(("khz-", "h2-khz-", "h2tls-khz-")) and server != baseline_name:
                beast = paired(per_round, server, "beast", scenario) if not h2 else ""
                # The netpoll backend's own target is a ratio to the asio one, round by round too.
                asio = server.replace("netpoll", "asio")
                vs_asio = paired(per_round, server, asio, scenario) if asio != server else ""
                note = "; ".join(filter(None, [paired(per_round, server, baseline_name, scenario), beast, vs_asio, note]))
            if server.startswith(("khz-mw-", "khz-metrics-", "khz-tracing-")):
                # The middleware stack's (or the metrics') price: this figure over the bare
                # route's (same transport).
                bare = "khz-" + server.split("-", 2)[2]
                bare_row = by_key.get((bare, scenario))
                bare_rate = per_cpu_second(bare_row) if bare_row and bare_row[2] == "ok" else None
                vs_bare = f"{rate / bare_rate:.2f}x bare {bare}" if rate and bare_rate else ""
                note = "; ".join(filter(None, [vs_bare, paired(per_round, server, bare, scenario), note]))
            if h2 and rate and h2o_rate and "-khz-" in server:
                # The h2c target is a ratio to h2o: round by round as well.
                vs_h2o = paired(per_round, server, prefix + "h2o", scenario)
                note = "; ".join(filter(None, [f"{rate / h2o_rate:.2f}x h2o", vs_h2o, note]))
            p50, p99 = float(row[6]), float(row[7])
            p50_text = f"{p50:.2f}" if p50 >= 0 else "n/a"
            p99_text = f"{p99:.2f}" if p99 >= 0 else "n/a"
            print(f"| {server} | {scenario} | {float(row[5]):,.0f} | {p50_text} | {p99_text} | "
                  f"{share} | {rate_text} | {ratio} | {note} |")
    print()
    print("server CPU: server CPU-seconds (utime+stime) / wall seconds of the run; "
          "1.00 = the server's core was busy the whole time; below "
          f"{SATURATED} the row says \"server not saturated\" (wrk or the machine was the limit).  ")
    print("Rounds: every server ran every scenario in each round; a row is the round with the median "
          "req per CPU-s, and its notes give the lowest and highest of the rounds.  ")
    print("Per round: khz's figure divided by the peer's from the same round, the median and range of "
          "those ratios (a second view of the comparison, less moved by the machine's drift).  ")
    print("req per CPU-s: requests completed / server CPU-seconds.  "
          "vs nginx: that figure divided by nginx's in the same scenario (HTTP/2 rows: nghttpd's; "
          "the notes give khz's ratio to h2o, and round by round).  ")
    print("Pipelined rows have no latency: wrk times a batch of 16 and its coordinated-omission "
          "correction breaks its histogram for pipelined requests.")
    print()

    if idle:
        print("## Idle keep-alive connections\n")
        print("| server | connections | RSS before KiB | RSS after KiB | KiB per connection | notes |")
        print("|---|--:|--:|--:|--:|---|")
        for server, status, count, before, after, note in idle:
            if status != "ok":
                print(f"| {server} | {count} | {before} | n/a | n/a | {notes(note)} |")
                continue
            per = (int(after) - int(before)) / int(count)
            print(f"| {server} | {count} | {before} | {after} | {per:.2f} | |")
        print()
        print("Each connection sent one GET /plaintext and read the response, then stayed open; "
              "RSS is VmRSS of the server's processes (nginx: master + worker).")

    ws = read_tsv(os.path.join(out, "ws.tsv"), 11)
    if ws:
        print_ws(ws, meta)

    client_h2 = {row[0]: row for row in read_tsv(os.path.join(out, "client-h2.tsv"), 5)}
    if client_h2:
        print_client_h2(client_h2, meta)


WS_PEERS = ("beast-ws", "node-ws")
WS_TARGETS = {"beast-ws": 1.3, "node-ws": 1.5}  # khz's figure over the peer's, per server CPU-second


def print_ws(rows, meta):
    """The WebSocket echo table: messages per server CPU-second, khz over each peer, and how much
    CPU khz-wsload itself used (the load generator must not be the limit)."""
    print()
    threads = meta.get("ws_client_threads", "1")
    print(f"## WebSocket echo (khz-wsload, 50 connections, one message in flight each, {threads} "
          f"thread(s) on CPU {meta['client_cpu']}; servers on CPU {meta['server_cpu']})\n")
    medians = median_rounds(rows)
    by_key = {key: row for key, (row, _) in medians.items()}
    per_round = round_rates(rows)
    print("| server | scenario | msg/s | p50 ms | p99 ms | server CPU | msg per CPU-s | vs beast-ws | vs node-ws "
          "| khz-wsload CPU | khz-wsload / server CPU | notes |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
    scenarios = list(dict.fromkeys(row[1] for row in rows))
    servers = list(dict.fromkeys(row[0] for row in rows))
    for scenario in scenarios:
        peer_rate = {}
        for peer in WS_PEERS:
            row = by_key.get((peer, scenario))
            peer_rate[peer] = per_cpu_second(row) if row else None
        for server in servers:
            row = by_key.get((server, scenario))
            if row is None:
                continue
            if row[2] != "ok":
                print(f"| {server} | {scenario} | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | {row[10]} |")
                continue
            rate = per_cpu_second(row)
            wall, cpu, client_cpu = float(row[4]), float(row[8]), float(row[9])
            share = f"{cpu / wall:.2f}" if wall > 0 else "n/a"
            client_share = f"{client_cpu / wall:.2f}" if wall > 0 else "n/a"
            client_ratio = f"{client_cpu / cpu:.2f}" if cpu > 0 else "n/a"
            ratios = [f"{rate / peer_rate[p]:.2f}" if rate and peer_rate[p] else "n/a" for p in WS_PEERS]
            note = "; ".join(filter(None, [spread(medians[(server, scenario)][1]), notes(row[10])]))
            if wall > 0 and cpu / wall < SATURATED:
                note = "; ".join(filter(None, ["server not saturated", note]))
            if wall > 0 and client_cpu / wall >= SATURATED * float(threads):
                note = "; ".join(filter(None, ["khz-wsload near its core's limit", note]))
            if server.startswith("khz-"):
                pairs = [paired(per_round, server, p, scenario) for p in WS_PEERS]
                note = "; ".join(filter(None, pairs + [note]))
            rate_text = f"{rate:,.0f}" if rate else "n/a"
            p50, p99 = float(row[6]), float(row[7])
            p50_text = f"{p50:.2f}" if p50 >= 0 else "n/a"
            p99_text = f"{p99:.2f}" if p99 >= 0 else "n/a"
            print(f"| {server} | {scenario} | {float(row[5]):,.0f} | {p50_text} | {p99_text} | {share} | {rate_text} | "
                  f"{ratios[0]} | {ratios[1]} | {client_share} | {client_ratio} | {note} |")
    print()
    print(f"Versions: node {meta.get('node', '?')}, node-ws {meta.get('node_ws', '?')}, Boost {meta['boost']}.  ")
    print("msg per CPU-s: messages echoed / server CPU-seconds (utime+stime from /proc over the run).  "
          "vs beast-ws, vs node-ws: that figure over the peer's in the same scenario; the targets for khz are "
          + " and ".join(f">= {t}x {p}" for p, t in WS_TARGETS.items()) + ".  ")
    print("khz-wsload CPU: the load generator's own CPU-seconds (getrusage, all its threads) / wall seconds; "
          "khz-wsload / server CPU: its CPU-seconds over the server's. Near 1.00 per thread the "
          "generator, not the server, would be the limit, and the row says so.  ")
    print("Echoes are checked byte for byte and by type; any error makes khz-wsload exit 1 and shows in the notes.")


def print_client_h2(rows, meta):
    print()
    print(f"## Client: khz-load over h2c against h2load (both -c50 -m16, one thread/loop on CPU "
          f"{meta['client_cpu']}; server khz-netpoll --h2c on CPU {meta['server_cpu']})\n")
    print("| load generator | req/s | client CPU s | req per client CPU-s | errors |")
    print("|---|--:|--:|--:|---|")
    per = {}
    for tool in ("h2load", "khz-load"):
        if tool not in rows:
            continue
        _, rps, cpu, wall, errors = rows[tool]
        rate, cpu_s, wall_s = float(rps or 0), float(cpu or 0), float(wall or 0)
        per[tool] = rate * wall_s / cpu_s if cpu_s > 0 else None
        per_text = f"{per[tool]:,.0f}" if per[tool] else "n/a"
        print(f"| {tool} | {rate:,.0f} | {cpu_s:.2f} | {per_text} | {notes(errors)} |")
    if "h2load" in rows and "khz-load" in rows:
        h, k = float(rows["h2load"][1] or 0), float(rows["khz-load"][1] or 0)
        ratio = f"{k / h:.2f}" if h > 0 else "n/a"
        cpu_ratio = (f"{per['khz-load'] / per['h2load']:.2f}"
                     if per.get("h2load") and per.get("khz-load") else "n/a")
        print()
        print(f"khz-load / h2load: {ratio} (req/s), {cpu_ratio} (req per client CPU-second; "
              "the target is >= 1.0).")


if __name__ == "__main__":
    main()
