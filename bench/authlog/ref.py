#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Reference alert counts for the auth-log workload, computed straight from
# gen.py's event list on event time (the log's timestamps), independently
# of any engine:
#   root:   one alert per accepted login (any method) of root;
#   brute:  per source address, 5 consecutive failed passwords whose first
#           and last are less than 60 s apart; the next alert needs 5 new
#           failures (FlinkCEP's times(5).within(60 s) with
#           skipPastLastEvent, as bench/authlog/rules.yaml says);
#   failok: per source address, an accepted login less than 120 s after a
#           failed password that came after the address's previous alert
#           (a failure followed by a success, each failure used once).
# Also printed, for comparison only: brute_sec, SEC's SingleWithThreshold
# (window=60 thresh=5) semantics applied to the same timestamps (after an
# alert, failures are ignored until 60 s after the window's first one).
# Usage: ref.py N_LINES   -> "root N\nbrute N\nfailok N\nbrute_sec N"
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402


def main():
    n = int(sys.argv[1])
    root = brute = failok = brute_sec = 0
    fails = {}      # ip -> failure times since the last brute alert
    last_fail = {}  # ip -> time of the last failure not yet used by failok
    sec = {}        # ip -> [window start, times, fired]
    for e in gen.events(n):
        ts, kind, user, ip = e[0], e[3], e[4], e[5]
        if kind == "ok":
            if user == "root":
                root += 1
            f = last_fail.pop(ip, None)
            if f is not None and ts - f < 120:
                failok += 1
        elif kind == "fail":
            last_fail[ip] = ts
            w = fails.setdefault(ip, [])
            w.append(ts)
            if len(w) >= 5 and ts - w[-5] < 60:
                brute += 1
                w.clear()
            elif len(w) > 5:
                del w[0]
            # SEC: an operation lives 60 s from its first event; if it
            # has not fired it slides to its oldest remaining event.
            op = sec.get(ip)
            if op is not None:
                while op is not None and ts - op[0] >= 60:
                    if op[2]:
                        op = None
                    else:
                        op[1] = [t for t in op[1] if ts - t < 60]
                        op = [op[1][0], op[1], False] if op[1] else None
            if op is None:
                op = [ts, [], False]
            sec[ip] = op
            if not op[2]:
                op[1].append(ts)
                if len(op[1]) >= 5:
                    brute_sec += 1
                    op[2] = True
    print("root %d\nbrute %d\nfailok %d\nbrute_sec %d" % (root, brute, failok, brute_sec))


if __name__ == "__main__":
    main()
