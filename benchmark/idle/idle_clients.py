#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Opens N keep-alive connections to a server, sends one GET on each, reads each response in
full, then holds every connection open until SIGTERM/SIGINT arrives or its parent exits (so it
never outlives the script that started it).

Prints "ready N" on stdout once all N have been answered (benchmark/run.sh measures the
server's memory then), or "failed: ..." and exits 1.

  idle_clients.py --port 8080 [--count 10000] [--path /plaintext] [--sources 1]

--sources K binds connection i to 127.0.0.(1 + i % K), for when one source address runs out
of ephemeral ports. The caller must raise RLIMIT_NOFILE above N (ulimit -n).
"""
import argparse
import os
import signal
import socket
import sys
import time


def read_response(sock):
    """Reads one HTTP/1.1 response with a Content-Length; returns (status, body_length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response headers")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        raise ConnectionError("response without Content-Length")
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the response body")
        rest += chunk
    return status, length


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--path", default="/plaintext")
    parser.add_argument("--sources", type=int, default=1)
    args = parser.parse_args()
    parent = os.getppid()

    request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n\r\n").encode()
    held = []
    try:
        for i in range(args.count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if args.sources > 1:
                sock.bind((f"127.0.0.{1 + i % args.sources}", 0))
            sock.settimeout(10)
            sock.connect((args.host, args.port))
            sock.sendall(request)
            status, _ = read_response(sock)
            if status != 200:
                raise ConnectionError(f"status {status}")
            held.append(sock)
    except (OSError, ValueError) as e:
        print(f"failed: connection {len(held) + 1} of {args.count}: {e}", flush=True)
        sys.exit(1)

    print(f"ready {len(held)}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while os.getppid() == parent:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
