#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Checkpoints with `parallelism: N` (issue 6, rescale; the barrier through
# the workers' rings).  The rules and generator of lib_ckpt.sh (pattern,
# aggregate and absence rules keyed by host), a file source, delivery
# exactly_once, checkpoints every 200 ms:
# - rescale: the input in three parts, each read by a run stopped with
#   SIGTERM (final checkpoint) and restarted on the next part with
#   parallelism 2, then 1, then 3: the alerts of the three runs together
#   are those of one uninterrupted single-worker run (same ids, same JSON
#   but detected_at), none twice;
# - crash: parallelism 2 into a real redis-server, killed with SIGKILL at
#   pseudo-random moments (fixed seed, PAR_CRASH_KILLS = 20 kills) while
#   the file grows, restarted each time: the redis stream holds exactly
#   the reference alerts.
# Only 127.0.0.1; every wait bounded.
# Tested by: tests/daemon/run.sh (make check)
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/lib_redis.sh"
. "$here/lib_ckpt.sh"

asan=0
ldd "$CEPD" 2>/dev/null | grep -q libasan && asan=1
EVENTS=${PAR_CRASH_EVENTS:-$([ "$asan" = 1 ] && echo 24000 || echo 80000)}
KILLS=${PAR_CRASH_KILLS:-20}
RANDOM=20261125 # fixed seed: the same kill moments every run
ckpt_rules "$T_DIR/rules.yaml"

# gen_chunks N EVENTS: chunk.1..N, each ending with a marker ("c1".., the
# last "end").
gen_chunks() {
    local per=$(($2 / $1)) ts=1700000000 c m
    for c in $(seq 1 "$1"); do
        ckpt_gen "$c" "$ts" "$per" > "$T_DIR/chunk.$c"
        ts=$(($(ckpt_last_ts "$T_DIR/chunk.$c") + 1))
        if [ "$c" = "$1" ]; then m=end; else m="c$c"; fi
        ckpt_mark "$m" "$ts" >> "$T_DIR/chunk.$c"
    done
}

# config NAME PARALLELISM SINK_YAML: NAME/cepd.yaml with that sink as
# "out" and a file sink "marks" (all alerts: the test waits on markers).
config() {
    mkdir -p "$T_DIR/$1"
    cat > "$T_DIR/$1/cepd.yaml" <<YAML
rules: [$T_DIR/rules.yaml]
parallelism: $2
sources:
  - {name: in, type: file, path: $T_DIR/$1/in.jsonl, stream: ev}
sinks:
  - $3
  - {name: marks, type: file, path: $T_DIR/$1/marks.jsonl}
default_sinks: [out, marks]
checkpoint: {dir: $T_DIR/$1/ckpt, interval: 200ms, retain: 3, delivery: exactly_once}
dead_letter: $T_DIR/$1/dead.jsonl
log: {level: notice}
YAML
}
has_mark() { grep -qs "\"message\":\"mark $2\"" "$T_DIR/$1/marks.jsonl"; }

# run NAME MARK: start NAME's config, wait for MARK, stop with SIGTERM.
run() {
    DAEMON_LOG=$T_DIR/$1/daemon.log
    daemon_start "$T_DIR/$1/cepd.yaml" || { bad "$1: starts"; return 1; }
    wait_for has_mark "$1" "$2" || bad "$1: reaches mark $2"
    daemon_stop TERM && ok "$1: reached mark $2, SIGTERM, exit 0" || bad "$1: SIGTERM, exit 0"
}

compare() { # WHAT REF GOT
    local out
    if out=$(ckpt_compare "$2" "$3"); then
        ok "$1: the alerts of one uninterrupted worker ($(tail -1 <<< "$out"))"
    else
        bad "$1: the alerts of one uninterrupted worker"
        echo "$out"
    fi
}

# ---- rescale: 2 -> 1 -> 3 workers across SIGTERM ----
gen_chunks 3 "$EVENTS"
config fref 1 "{name: out, type: file, path: $T_DIR/fref/out.jsonl}"
cat "$T_DIR"/chunk.1 "$T_DIR"/chunk.2 "$T_DIR"/chunk.3 > "$T_DIR/fref/in.jsonl"
run fref end
part=1
for n in 2 1 3; do
    config resc "$n" "{name: out, type: file, path: $T_DIR/resc/out.jsonl}"
    cat "$T_DIR/chunk.$part" >> "$T_DIR/resc/in.jsonl"
    if [ "$part" = 3 ]; then m=end; else m="c$part"; fi
    run resc "$m"
    if [ "$n" = 2 ]; then
        newest=$(ls "$T_DIR"/resc/ckpt/chk-*.ckpt | tail -n 1)
        check "inspect shows both workers' state of a 2-worker checkpoint" \
            bash -c "'$CEPD' checkpoint inspect '$newest' | grep -q 'engine (worker 1 of 2)'"
    fi
    part=$((part + 1))
done
check "rescale: restored twice (from 2 workers into 1, from 1 into 3)" \
    [ "$(grep -c 'restored checkpoint' "$T_DIR/resc/daemon.log")" -eq 2 ]
check "rescale: every rule's state kept" \
    [ "$(grep -c 'restore: 4 rules kept, 0 reset' "$T_DIR/resc/daemon.log")" -eq 2 ]
check "rescale: nothing dead-lettered" test ! -s "$T_DIR/resc/dead.jsonl"
[ "$(wc -l < "$T_DIR/fref/out.jsonl")" -gt 500 ] \
    && ok "rescale: the reference has alerts ($(wc -l < "$T_DIR/fref/out.jsonl"))" \
    || bad "rescale: the reference has alerts"
compare "rescale 2 -> 1 -> 3" "$T_DIR/fref/out.jsonl" "$T_DIR/resc/out.jsonl"

# ---- crash: parallelism 2, SIGKILL, redis ----
redis_start || { bad "redis-server answers PING"; finish; }
gen_chunks "$KILLS" "$EVENTS"
config rref 1 "{name: out, type: redis, url: \"redis://127.0.0.1:$REDIS_PORT\", mode: xadd, key: \"cepd:rref\", ttl: 1h}"
config rcrash 2 "{name: out, type: redis, url: \"redis://127.0.0.1:$REDIS_PORT\", mode: xadd, key: \"cepd:rcrash\", ttl: 1h}"
for c in $(seq 1 "$KILLS"); do cat "$T_DIR/chunk.$c"; done > "$T_DIR/rref/in.jsonl"
run rref end
: > "$T_DIR/rcrash/in.jsonl"
for c in $(seq 1 "$KILLS"); do
    cat "$T_DIR/chunk.$c" >> "$T_DIR/rcrash/in.jsonl"
    "$CEPD" run -c "$T_DIR/rcrash/cepd.yaml" < /dev/null >> "$T_DIR/rcrash/daemon.out" \
        2>> "$T_DIR/rcrash/crash.log" &
    pid=$!
    T_PIDS="$T_PIDS $pid"
    sleep "0.$(printf '%03d' $((20 + RANDOM % 380)))"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
done
ok "crash: $KILLS kills with SIGKILL, parallelism 2"
run rcrash end
n=$(grep -c 'restored checkpoint' "$T_DIR/rcrash/crash.log" "$T_DIR/rcrash/daemon.log" \
    | awk -F: '{ s += $2 } END { print s }')
check "crash: restored from a checkpoint $n times" [ "$n" -ge $((KILLS / 2)) ]
check "crash: nothing dead-lettered" test ! -s "$T_DIR/rcrash/dead.jsonl"
redis_alerts() { redis_cli --raw XRANGE "$1" - + | awk 'prev == "alert" { print } { prev = $0 }'; }
redis_alerts cepd:rref > "$T_DIR/rref.alerts"
redis_alerts cepd:rcrash > "$T_DIR/rcrash.alerts"
[ "$(wc -l < "$T_DIR/rref.alerts")" -gt 500 ] \
    && ok "crash: the reference has alerts ($(wc -l < "$T_DIR/rref.alerts"))" \
    || bad "crash: the reference has alerts"
compare "crash, redis, $EVENTS events" "$T_DIR/rref.alerts" "$T_DIR/rcrash.alerts"
finish
