#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Deterministic generator for the pattern benchmarks (fixed seed).
#   gen_seq.py seq N_LINES N_KEYS   events of a 3-step sequence per key
#       (login, sudo, download in random interleavings, plus noise), ~120 bytes
#   gen_seq.py partial N_KEYS PER_KEY   PER_KEY "a" events per key and no "b":
#       every key ends with PER_KEY open partial matches
import random
import sys

rng = random.Random(20261124)
mode = sys.argv[1]
out = []
ts = 1732300000000
if mode == "seq":
    n, keys = int(sys.argv[2]), int(sys.argv[3])
    kinds = ["login", "sudo", "download", "noise", "noise"]
    for i in range(n):
        ts += rng.randint(0, 3)
        out.append('{"ts":%d,"host":"h%05d","event":"%s","user":"u%d","bytes":%d}\n'
                   % (ts, rng.randrange(keys), rng.choice(kinds), rng.randint(0, 9),
                      rng.randint(0, 100000)))
else:
    keys, per = int(sys.argv[2]), int(sys.argv[3])
    for r in range(per):
        for k in range(keys):
            ts += 1
            out.append('{"ts":%d,"host":"h%05d","event":"a","n":%d}\n' % (ts, k, r))
sys.stdout.write("".join(out))
