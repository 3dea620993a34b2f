#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Deterministic input for bench/checkpoint.sh: N_KEYS "a" events, one per
# key (host h0000000..), 1 ms apart from an hour boundary, so that a 1h
# tumbling window per key stays open and an "a then b" pattern holds one
# partial match per key when the input ends (1M keys span 1000 s).
#   gen_ckpt.py N_KEYS
import sys

n = int(sys.argv[1])
ts = 1732298400000  # 2024-11-22T18:00:00Z, a multiple of one hour
out = sys.stdout
chunk = []
for k in range(n):
    chunk.append('{"ts":%d,"host":"h%07d","event":"a","bytes":%d}\n' % (ts + k, k, k % 1000))
    if len(chunk) == 65536:
        out.write("".join(chunk))
        chunk = []
out.write("".join(chunk))
