#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Deterministic generator of sshd auth.log traffic for the auth-log workload
# (bench/authlog.sh, issue 7): brute-force bursts from many addresses (some
# end in a success), users who mistype then log in, root logins, and the
# usual noise (preauth disconnects, invalid users, PAM session lines).
# Event times rise at about 4.7 lines a second, so 1M lines span 2.5 days
# of March 2026 (no leap day, no year boundary: RFC 3164 lines carry no
# year; cepd reads them in the current year, so only differences count).
# Usage: gen.py N_LINES RAW_OUT JSON_OUT
#   RAW_OUT: RFC 3164 lines as in /var/log/auth.log;
#   JSON_OUT: the same events as JSON lines (ts in epoch seconds, UTC, plus
#   the fields cepd's syslog decoder and pattern give the raw line).
# events(n) is imported by ref.py, which counts the expected alerts.
import calendar
import heapq
import json
import random
import sys

SEED = 20261124
START = calendar.timegm((2026, 3, 3, 0, 0, 0))
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
HOSTS = ["bastion-1", "bastion-2", "web-1", "db-1"]
USERS = ["alice", "bob", "carol", "deploy", "git", "backup", "ubuntu", "postgres"]
BAD_USERS = ["admin", "test", "oracle", "user", "guest", "pi", "ftpuser", "support"]


def _ip(rng, internal):
    if internal:
        return "10.%d.%d.%d" % (rng.randint(0, 3), rng.randint(0, 255), rng.randint(1, 254))
    return "%d.%d.%d.%d" % (rng.choice([45, 61, 103, 185, 193, 218, 222]), rng.randint(0, 255),
                            rng.randint(0, 255), rng.randint(1, 254))


def _sessions(rng):
    """Yield lists of (time, host, pid, kind, user, ip, port, msg), one
    list per ssh session or attack, at start times rising as a Poisson
    process (one every ~0.9 s); kind is fail, ok or noise."""
    t = float(START)
    attackers = [_ip(rng, False) for _ in range(4000)]
    clients = [_ip(rng, True) for _ in range(3000)]
    while True:
        t += rng.expovariate(1 / 0.9)
        host = rng.choice(HOSTS)
        pid = rng.randint(1000, 65000)
        r = rng.random()
        ev = []
        if r < 0.30:
            # A brute-force burst: 1-40 failures, 0.5-15 s apart; 3% succeed.
            ip = rng.choice(attackers)
            s = t
            for _ in range(int(rng.paretovariate(1.2)) % 40 + 1):
                user = rng.choice(BAD_USERS + ["root"])
                p = rng.randint(30000, 65000)
                inv = user != "root" and rng.random() < 0.7
                if inv:
                    ev.append((s, host, pid, "noise", None, ip, p,
                               "Invalid user %s from %s port %d" % (user, ip, p)))
                ev.append((s, host, pid, "fail", user, ip, p,
                           "Failed password for %s%s from %s port %d ssh2"
                           % ("invalid user " if inv else "", user, ip, p)))
                pid += 1
                s += rng.uniform(0.5, 15)
            if rng.random() < 0.03:
                user = rng.choice(["root", "ubuntu", "git"])
                p = rng.randint(30000, 65000)
                ev.append((s, host, pid, "ok", user, ip, p,
                           "Accepted password for %s from %s port %d ssh2" % (user, ip, p)))
            ev.append((s + 1, host, pid, "noise", None, ip, 0,
                       "Connection closed by %s port %d [preauth]" % (ip, rng.randint(30000, 65000))))
        elif r < 0.70:
            # An ordinary login; 15% mistype the password first; 4% are root.
            user = "root" if rng.random() < 0.04 else rng.choice(USERS)
            ip = rng.choice(clients)
            s = t
            for _ in range(rng.choice([1, 1, 2]) if rng.random() < 0.15 else 0):
                p = rng.randint(30000, 65000)
                ev.append((s, host, pid, "fail", user, ip, p,
                           "Failed password for %s from %s port %d ssh2" % (user, ip, p)))
                s += rng.uniform(2, 20)
            p = rng.randint(30000, 65000)
            method = "publickey" if rng.random() < 0.6 else "password"
            ev.append((s, host, pid, "ok", user, ip, p,
                       "Accepted %s for %s from %s port %d ssh2" % (method, user, ip, p)))
            ev.append((s, host, pid, "noise", None, None, 0,
                       "pam_unix(sshd:session): session opened for user %s(uid=1000) by (uid=0)"
                       % user))
            s += rng.expovariate(1 / 600)
            ev.append((s, host, pid, "noise", None, ip, 0,
                       "Received disconnect from %s port %d:11: disconnected by user" % (ip, p)))
            ev.append((s, host, pid, "noise", None, None, 0,
                       "pam_unix(sshd:session): session closed for user %s" % user))
        else:
            # Scanners and keep-alive noise.
            ip = rng.choice(attackers)
            p = rng.randint(30000, 65000)
            msg = rng.choice([
                "Connection closed by %s port %d [preauth]",
                "Received disconnect from %s port %d:11: Bye Bye [preauth]",
                "Disconnected from authenticating user root %s port %d [preauth]",
                "Connection reset by %s port %d [preauth]",
                "Timeout before authentication for %s port %d"]) % (ip, p)
            ev.append((t, host, pid, "noise", None, ip, p, msg))
        yield ev


def events(n):
    """The first n events of the log in time order, as (ts, host, pid, kind,
    user, ip, port, msg) with ts in whole seconds, as the log shows them."""
    rng = random.Random(SEED)
    heap = []
    out = []
    seq = 0
    gen = _sessions(rng)
    while len(out) < n:
        ses = next(gen)
        for e in ses:
            heapq.heappush(heap, (e[0], seq, e))
            seq += 1
        # Sessions last at most a few hours; release what no later session
        # can precede (every later session starts after ses[0][0]).
        while heap and heap[0][0] <= ses[0][0] and len(out) < n:
            e = heapq.heappop(heap)[2]
            out.append((int(e[0]),) + e[1:])
    return out


def raw_line(e):
    tm = __import__("time").gmtime(e[0])
    return "%s %2d %02d:%02d:%02d %s sshd[%d]: %s\n" % (
        MONTHS[tm.tm_mon - 1], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, e[1], e[2], e[7])


def json_line(e):
    d = {"ts": e[0], "host": e[1], "app": "sshd", "pid": e[2], "msg": e[7]}
    if e[3] in ("fail", "ok"):
        d["outcome"] = "Failed" if e[3] == "fail" else "Accepted"
        d["method"] = e[7].split()[1]
        d["user"] = e[4]
        d["src_ip"] = e[5]
        d["port"] = str(e[6])
    return json.dumps(d, separators=(",", ":")) + "\n"


def main():
    n = int(sys.argv[1])
    ev = events(n)
    with open(sys.argv[2], "w") as raw, open(sys.argv[3], "w") as js:
        raw.writelines(raw_line(e) for e in ev)
        js.writelines(json_line(e) for e in ev)


if __name__ == "__main__":
    main()
