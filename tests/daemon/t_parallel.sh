#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `parallelism: N` end to end: the same generated input (keyed pattern,
# aggregate, absence and throttled rules on one key field, a simple rule,
# out-of-order and late events, malformed lines, a stream whose rules use
# different keys) through `cepd run` with parallelism 1, 2 and 3 gives the
# same alerts (ids and JSON, detected_at aside; sorted, since workers
# interleave) and the same totals; the stream with mixed keys is logged as
# running on one worker; a reload with workers is refused; a worker thread
# that cannot start (fault injection) makes cepd exit 2.  Checkpoints
# with workers: tests/daemon/t_parallel_ckpt.sh.
# Tested by: tests/daemon/run.sh (make check)
set -u
. "$(dirname "$0")/lib.sh"
d=$T_DIR
cat > "$d/rules.yaml" <<'YAML'
streams:
  ev: {time: {field: ts, unit: s, max_out_of_orderness: 5s, allowed_lateness: 20s}}
  mix: {time: {field: ts, unit: s}}
rules:
  - id: seq3
    kind: pattern
    stream: ev
    key: [host]
    pattern:
      - {step: a, when: op == "a"}
      - {step: b, when: op == "b"}
      - {step: c, when: op == "c"}
    within: 30s
    on_timeout: {message: "timeout ${host}"}
    message: "abc on ${host}"
  - id: per-min
    kind: aggregate
    stream: ev
    key: [host]
    window: {type: tumbling, size: 60s}
    aggregate: {n: count(), s: sum(v)}
    having: n >= 3
    message: "${host}: ${n} (${s})"
  - id: quiet
    kind: absence
    stream: ev
    key: [host]
    for: 45s
    message: "${host} quiet"
  - id: big
    stream: ev
    when: v > 90
    key: [host]
    throttle: {period: 2m}
    message: "big ${v} on ${host}"
  - id: mix-host
    kind: aggregate
    stream: mix
    key: [host]
    window: {type: tumbling, size: 60s}
    aggregate: {n: count()}
  - id: mix-user
    kind: aggregate
    stream: mix
    key: [user]
    window: {type: tumbling, size: 60s}
    aggregate: {n: count()}
YAML
python3 - "$d/ev.jsonl" "$d/mix.jsonl" <<'PY'
import random, sys
r = random.Random(7)
with open(sys.argv[1], "w") as f:
    for i in range(20000):
        ts = 1700000000 + i // 4 - (r.randrange(60) if r.random() < 0.02 else r.randrange(6))
        if r.random() < 0.003:
            f.write('{"ts":"soon"}\n' if r.random() < 0.5 else '{not json\n')
            continue
        f.write('{"ts":%d,"host":"h%d","op":"%s","v":%d}\n'
                % (ts, r.randrange(97), r.choice("abcx"), r.randrange(100)))
with open(sys.argv[2], "w") as f:
    for i in range(3000):
        f.write('{"ts":%d,"host":"h%d","user":"u%d"}\n'
                % (1700000000 + i // 3, r.randrange(20), r.randrange(7)))
PY

# run N: both inputs through parallelism N; sorted alerts in out-N.txt.
run() {
    local n=$1 rc admin
    admin=$(free_port)
    cat > "$d/cepd-$n.yaml" <<YAML
rules: [$d/rules.yaml]
parallelism: $n
sources:
  - {name: ev-in, type: stdin, stream: ev}
  - {name: mix-in, type: file, path: $d/mix.jsonl, stream: mix}
sinks:
  - {name: alerts, type: file, path: $d/alerts-$n.jsonl}
default_sinks: [alerts]
dead_letter: $d/dead-$n.jsonl
admin: {listen: "127.0.0.1:$admin"}
YAML
    : > "$DAEMON_LOG"
    DAEMON_STDIN=$d/ev.jsonl daemon_start "$d/cepd-$n.yaml" || return 1
    # The file source follows its file, so the daemon runs on until told:
    # SIGTERM once both inputs are read stops time at the last event (drain).
    wait_for metric_is 'cepd_source_lines_total{source="mix-in"}' "http://127.0.0.1:$admin" 3000 &&
        wait_for metric_is 'cepd_source_lines_total{source="ev-in"}' "http://127.0.0.1:$admin" \
            20000 || return 1
    # The engine totals and per-rule series in /metrics (with workers,
    # theirs summed).
    {
        for m in cepd_lines_total cepd_events_total cepd_rejected_total; do
            echo "$m $(metric "$m" "http://127.0.0.1:$admin")"
        done
        for r in seq3 per-min quiet big mix-host mix-user; do
            for m in cepd_rule_events_evaluated_total cepd_rule_matches_total cepd_rule_keys; do
                echo "$m{rule=\"$r\"} $(metric "$m{rule=\"$r\"}" "http://127.0.0.1:$admin")"
            done
        done
    } > "$d/metrics-$n.txt"
    daemon_stop TERM
    rc=$?
    cp "$DAEMON_LOG" "$d/log-$n"
    sed -E 's/"detected_at":[0-9.]+,//' "$d/alerts-$n.jsonl" | sort > "$d/out-$n.txt"
    return "$rc"
}

check "parallelism 1 runs and exits 0" run 1
check "parallelism 1 makes alerts of every rule" bash -c "
    for r in seq3 per-min quiet big mix-host mix-user; do
        grep -q \"\\\"rule\\\":\\\"\$r\\\"\" '$d/out-1.txt' || exit 1
    done"
check "... pattern timeouts among them" grep -q '"timed_out":true' "$d/out-1.txt"
check "... and dead-letters the malformed lines" lines_ge "$d/dead-1.jsonl" 10
check "... and /metrics counts its events" grep -Eq '^cepd_events_total [1-9][0-9]{3,}$' "$d/metrics-1.txt"
check "... and each rule's evaluated events and keys" bash -c "
    grep -Eq '^cepd_rule_events_evaluated_total\{rule=\"seq3\"\} [1-9][0-9]{3,}$' '$d/metrics-1.txt' &&
    grep -Eq '^cepd_rule_keys\{rule=\"per-min\"\} [1-9][0-9]*$' '$d/metrics-1.txt'"
for n in 2 3; do
    check "parallelism $n runs and exits 0" run "$n"
    check "parallelism $n: the same alerts as one worker" cmp -s "$d/out-1.txt" "$d/out-$n.txt"
    check "parallelism $n: the same engine totals and per-rule series in /metrics" \
        cmp -s "$d/metrics-1.txt" "$d/metrics-$n.txt"
    check "parallelism $n: the same dead letters" \
        bash -c "[ \$(wc -l < '$d/dead-1.jsonl') -eq \$(wc -l < '$d/dead-$n.jsonl') ]"
    check "parallelism $n: the same totals" bash -c "
        [ \"\$(grep -o 'stopping: .*' '$d/log-1')\" = \"\$(grep -o 'stopping: .*' '$d/log-$n')\" ]"
    check "parallelism $n: the mixed-key stream runs on one worker" \
        grep -q "stream mix runs on one worker: its rules are keyed by different" "$d/log-$n"
done

# A reload with workers is refused (their engines keep the running rules).
cat > "$d/cepd-hup.yaml" <<YAML
rules: [$d/rules.yaml]
parallelism: 2
sources: [{name: mix-in, type: file, path: $d/mix.jsonl, stream: mix}]
sinks: [{name: alerts, type: file, path: $d/alerts-hup.jsonl}]
default_sinks: [alerts]
YAML
: > "$DAEMON_LOG"
check "parallelism 2 starts for the reload check" daemon_start "$d/cepd-hup.yaml"
kill -HUP "$DAEMON_PID"
check "SIGHUP with parallelism 2 is refused, saying why" \
    wait_for log_has "reload failed: reload with parallelism > 1 is not supported yet"
check "... and the daemon carries on" daemon_alive
daemon_stop TERM
check "... then exits 0 on SIGTERM" test $? -eq 0

# A worker thread that cannot start (the fault-injection build fails the
# second start with EAGAIN; other builds start it and run to the end of
# their input): exit 2, naming the system error.
cat > "$d/cepd-fault.yaml" <<YAML
rules: [$d/rules.yaml]
parallelism: 2
sources: [{name: ev-in, type: stdin, stream: ev}]
sinks: [{name: alerts, type: file, path: $d/alerts-fault.jsonl}]
default_sinks: [alerts]
YAML
CEPD_FAULT=thread:2 "$CEPD" run -c "$d/cepd-fault.yaml" < /dev/null > "$d/fault.out" 2>&1
rc=$?
if [ $rc -ne 0 ] || ! grep -q "every source has ended" "$d/fault.out"; then
    check "a worker thread that cannot start: exit 2" test $rc -eq 2
    check "... naming the system error" grep -q \
        "parallelism 2: cannot start worker thread 1: Resource temporarily unavailable" \
        "$d/fault.out"
else
    echo "skip: not a fault-injection build (worker start failure)"
fi
finish
