#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Deterministic generator for the many-rules workload (issue 7, workload 5).
#   gen_rules.py events N  > events.jsonl   N JSON lines, 50 event types
#   gen_rules.py rules N   > rules.yaml     N simple rules on stream "app"
# The rule mix is what rule sets look like in practice: most rules test the
# event type first (`event == "T" and ...`, some `event in [...]`), the
# rest are regexes or numeric ranges over other fields.  Rule i is the same
# whatever N is, so 1, 10, 100, 1000 rules are prefixes of one set.
import random
import sys

N_TYPES = 50
TYPES = ["type%02d" % i for i in range(N_TYPES)]
USERS = ["u%03d" % i for i in range(980)] + ["admin%d" % i for i in range(10)] + \
        ["svc-%d" % i for i in range(10)]
HOSTS = ["h%02d" % i for i in range(100)]
STATUS = [200, 200, 200, 200, 301, 404, 500, 503]
PATTERNS = ["^admin[0-4]$", "^svc-[0-9]$", "^u00[0-4]$", "^h1[0-4]$", "^h4[5-9]$",
            "^u17[0-9]$", "^(admin|svc)", "^u1[0-2][0-9]$"]


def events(n):
    r = random.Random(7)
    out = sys.stdout
    for i in range(n):
        out.write('{"ts":%d,"event":"%s","user":"%s","host":"%s","bytes":%d,"status":%d}\n'
                  % (1700000000000 + i, r.choice(TYPES), r.choice(USERS), r.choice(HOSTS),
                     r.randrange(1000000), r.choice(STATUS)))


def rule(i, r):
    t = TYPES[i % N_TYPES]
    k = r.randrange(100)
    if i == 0 or k < 60:
        return 'event == "%s" and user == "%s"' % (t, r.choice(USERS))
    if k < 75:
        return 'event == "%s" and bytes > %d and status >= 500' % (t, r.randrange(990000, 1000000))
    if k < 85:
        return 'event in ["%s", "%s"] and host =~ "%s" and status == 500' % (
            t, r.choice(TYPES), r.choice(PATTERNS[3:5]))
    if k < 90:
        return 'event == "%s" and user =~ "%s"' % (t, r.choice(PATTERNS[:3]))
    if k < 95:
        return 'user =~ "%s" and bytes > %d' % (r.choice(PATTERNS), r.randrange(990000, 1000000))
    lo = r.randrange(1000000)
    return 'bytes >= %d and bytes < %d and status == 503' % (lo, lo + 500)


def rules(n):
    r = random.Random(11)
    print("streams:\n  app: {time: {field: ts, unit: ms}}\nrules:")
    for i in range(n):
        print("  - id: r%04d\n    stream: app\n    when: '%s'\n    message: \"r%04d ${user}\""
              % (i, rule(i, r), i))


if __name__ == "__main__":
    {"events": events, "rules": rules}[sys.argv[1]](int(sys.argv[2]))
