#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Prints a loopback TCP port that is free now, with the COUNT-1 ports after it (etcd's peer
# port is its client port + 1), chosen below the kernel's ephemeral range: a port taken from
# that range could be handed to some other test's outgoing connection before the service that
# is to listen on it binds it (what made etcd fail with "address already in use").
#   free_port.py [COUNT]
import random
import socket
import sys

count = int(sys.argv[1]) if len(sys.argv) > 1 else 1
with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
    ephemeral_low = int(f.read().split()[0])
low, high = 10000, max(10001, ephemeral_low - count)
rng = random.SystemRandom()
for _ in range(1000):
    base = rng.randrange(low, high)
    held = []
    try:
        for p in range(base, base + count):
            s = socket.socket()
            held.append(s)
            s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        for s in held:
            s.close()
    print(base)
    sys.exit(0)
sys.exit("free_port.py: no free port found")
