# SPDX-License-Identifier: Apache-2.0
# What the checkpoint tests share, sourced after lib.sh: the rules (a
# pattern, an aggregate and an absence rule over one event-time stream,
# plus a `marker` filter whose alerts tell a test how far the daemon got),
# a deterministic event generator (fixed seed) and the comparison of two
# alert sets.
#   ckpt_rules FILE                 write the rules
#   ckpt_gen SEED FIRST_TS N        N events on stdout (ts from FIRST_TS, step 0..2 s,
#                                   some 1 s out of order, within the stream's bound)
#   ckpt_mark N TS                  one marker line (alert "mark N")
#   ckpt_compare REF GOT [dups]     alert JSON lines of REF and GOT are the same alerts:
#                                   the same alert ids, each alert equal but for
#                                   detected_at; GOT may repeat an id only with "dups"
#   ckpt_last_ts FILE               the largest ts of an events file
# and the scaffolding of the crash tests (T_DIR/NAME is one daemon's
# directory):
#   ckpt_asan                       true when $CEPD is built with ASan
#   ckpt_gen_chunks N EVENTS        T_DIR/chunk.1..N, EVENTS/N events each, each
#                                   ending with a marker ("c1"..; the last "end")
#   ckpt_config NAME SOURCE SINK [PARALLELISM]
#                                   NAME/cepd.yaml: source SOURCE, sink SINK as
#                                   "out" and a file sink "marks" (all alerts),
#                                   delivery exactly_once, checkpoints every 200 ms
#   ckpt_has_mark NAME MARK         NAME's marks hold the alert "mark MARK"
#   ckpt_kill NAME                  start NAME's config (output to NAME/daemon.out,
#                                   NAME/crash.log) and kill it with SIGKILL
#                                   20..400 ms later (RANDOM: seed it)
#   ckpt_restores NAME              how many times NAME restored a checkpoint
#                                   (NAME/crash.log and NAME/daemon.log)
#   ckpt_compare_ok WHAT REF GOT [dups]  ok/bad WHAT by ckpt_compare
# Tested by: tests/daemon/t_ckpt.sh, tests/daemon/t_crash.sh,
# tests/daemon/t_crash_tcp.sh, tests/daemon/t_parallel_ckpt.sh

ckpt_rules() {
    cat > "$1" <<'YAML'
streams:
  ev: {time: {field: ts, unit: s, max_out_of_orderness: 2s}}
rules:
  - id: brute
    kind: pattern
    stream: ev
    key: [host]
    pattern:
      - {step: fail, when: 'type == "fail"', times: 3}
      - {step: ok, when: 'type == "ok"'}
    within: 120s
    message: "${host}: 3 failures then a success"
  - id: busy
    kind: aggregate
    stream: ev
    when: type == "fail"
    key: [host]
    window: {type: tumbling, size: 600s}
    aggregate: {n: count()}
    having: n >= 5
    message: "${host}: ${n} failures"
  - id: silent
    kind: absence
    stream: ev
    when: type == "beat"
    key: [host]
    for: 200s
    message: "${host} silent"
  - id: marker
    stream: ev
    when: type == "mark"
    message: "mark ${n}"
YAML
}

ckpt_gen() {
    python3 - "$1" "$2" "$3" <<'PY'
import random, sys
rng = random.Random(int(sys.argv[1]))
ts, n = int(sys.argv[2]), int(sys.argv[3])
hosts = ["h%d" % i for i in range(40)]
kinds = ["fail"] * 3 + ["ok"] * 2 + ["beat"] * 4 + ["other"]
out = []
for i in range(n):
    ts += rng.randint(0, 2)
    t = ts - 1 if rng.random() < 0.05 else ts
    out.append('{"ts":%d,"host":"%s","type":"%s","i":%d}\n'
               % (t, rng.choice(hosts), rng.choice(kinds), i))
sys.stdout.write("".join(out))
PY
}

ckpt_mark() { printf '{"ts":%s,"host":"-","type":"mark","n":"%s"}\n' "$2" "$1"; }

ckpt_last_ts() { tail -n 1 "$1" | sed 's/.*"ts":\([0-9]*\).*/\1/'; }

ckpt_compare() {
    python3 - "$1" "$2" "${3:-}" <<'PY'
import json, sys
def load(path):
    out = {}
    dups = 0
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        a = json.loads(line)
        a.pop("detected_at", None)
        if a["alert_id"] in out:
            dups += 1
            if out[a["alert_id"]] != a:
                print("alert %s differs between its copies" % a["alert_id"])
                sys.exit(1)
        out[a["alert_id"]] = a
    return out, dups
ref, _ = load(sys.argv[1])
got, dups = load(sys.argv[2])
bad = 0
for k in sorted(set(ref) - set(got))[:5]:
    print("missing:", json.dumps(ref[k])); bad = 1
for k in sorted(set(got) - set(ref))[:5]:
    print("extra:", json.dumps(got[k])); bad = 1
for k in sorted(set(ref) & set(got)):
    if ref[k] != got[k]:
        print("differs:", json.dumps(ref[k]), "vs", json.dumps(got[k])); bad = 1; break
if dups and sys.argv[3] != "dups":
    print("%d alerts delivered twice" % dups); bad = 1
print("%d alerts, %d missing, %d extra, %d repeated"
      % (len(ref), len(set(ref) - set(got)), len(set(got) - set(ref)), dups))
sys.exit(bad)
PY
}

ckpt_asan() { ldd "$CEPD" 2>/dev/null | grep -q libasan; }

ckpt_gen_chunks() {
    local per=$(($2 / $1)) ts=1700000000 c m
    for c in $(seq 1 "$1"); do
        ckpt_gen "$c" "$ts" "$per" > "$T_DIR/chunk.$c"
        ts=$(($(ckpt_last_ts "$T_DIR/chunk.$c") + 1))
        if [ "$c" = "$1" ]; then m=end; else m="c$c"; fi
        ckpt_mark "$m" "$ts" >> "$T_DIR/chunk.$c"
    done
}

ckpt_config() {
    local par=""
    [ -n "${4:-}" ] && par="parallelism: $4"$'\n'
    mkdir -p "$T_DIR/$1"
    cat > "$T_DIR/$1/cepd.yaml" <<YAML
rules: [$T_DIR/rules.yaml]
${par}sources:
  - $2
sinks:
  - $3
  - {name: marks, type: file, path: $T_DIR/$1/marks.jsonl}
default_sinks: [out, marks]
checkpoint: {dir: $T_DIR/$1/ckpt, interval: 200ms, retain: 3, delivery: exactly_once}
dead_letter: $T_DIR/$1/dead.jsonl
log: {level: notice}
YAML
}

ckpt_has_mark() { grep -qs "\"message\":\"mark $2\"" "$T_DIR/$1/marks.jsonl"; }

ckpt_kill() {
    local pid
    "$CEPD" run -c "$T_DIR/$1/cepd.yaml" < /dev/null >> "$T_DIR/$1/daemon.out" \
        2>> "$T_DIR/$1/crash.log" &
    pid=$!
    T_PIDS="$T_PIDS $pid"
    sleep "0.$(printf '%03d' $((20 + RANDOM % 380)))"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
}

ckpt_restores() {
    grep -c 'restored checkpoint' "$T_DIR/$1/crash.log" "$T_DIR/$1/daemon.log" \
        | awk -F: '{ s += $2 } END { print s }'
}

ckpt_compare_ok() {
    local out
    if out=$(ckpt_compare "$2" "$3" ${4:-}); then
        ok "$1 ($(tail -1 <<< "$out"))"
    else
        bad "$1"
        echo "$out"
    fi
}
