#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Deterministic generator of sshd-like JSON events (~150 bytes a line) for
# the benchmarks: a fixed seed, so every run and machine sees the same input.
# Usage: gen_auth.py N_LINES > FILE
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
rng = random.Random(20261124)
users = ["root", "admin", "alice", "bob", "carol", "deploy", "postgres", "www-data"]
hosts = ["bastion-1", "web-1", "web-2", "db-1", "db-2"]
out = sys.stdout
ts = 1732300000000
buf = []
for i in range(n):
    ts += rng.randint(0, 20)
    ok = rng.random() < 0.3
    ip = "10.%d.%d.%d" % (rng.randint(0, 3), rng.randint(0, 255), rng.randint(1, 254))
    buf.append('{"ts":%d,"event":"ssh_login","outcome":"%s","user":"%s","src_ip":"%s",'
               '"port":22,"host":"%s","pid":%d}\n'
               % (ts, "success" if ok else "failure", rng.choice(users), ip,
                  rng.choice(hosts), rng.randint(1000, 65000)))
    if len(buf) == 10000:
        out.write("".join(buf))
        buf = []
out.write("".join(buf))
