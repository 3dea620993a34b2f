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

EVENTS=${PAR_CRASH_EVENTS:-$(ckpt_asan && echo 24000 || echo 80000)}
KILLS=${PAR_CRASH_KILLS:-20}
RANDOM=20261125 # fixed seed: the same kill moments every run
ckpt_rules "$T_DIR/rules.yaml"

# config NAME PARALLELISM SINK_YAML: NAME/cepd.yaml reading NAME/in.jsonl,
# with that sink as "out".
config() {
    ckpt_config "$1" "{name: in, type: file, path: $T_DIR/$1/in.jsonl, stream: ev}" "$3" "$2"
}

# run NAME MARK: start NAME's config, wait for MARK, stop with SIGTERM.
run() {
    DAEMON_LOG=$T_DIR/$1/daemon.log
    daemon_start "$T_DIR/$1/cepd.yaml" || { bad "$1: starts"; return 1; }
    wait_for ckpt_has_mark "$1" "$2" || bad "$1: reaches mark $2"
    daemon_stop TERM && ok "$1: reached mark $2, SIGTERM, exit 0" || bad "$1: SIGTERM, exit 0"
}

compare() { ckpt_compare_ok "$1: the alerts of one uninterrupted worker" "$2" "$3"; } # WHAT REF GOT

# ---- rescale: 2 -> 1 -> 3 workers across SIGTERM ----
ckpt_gen_chunks 3 "$EVENTS"
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
ckpt_gen_chunks "$KILLS" "$EVENTS"
config rref 1 "{name: out, type: redis, url: \"redis://127.0.0.1:$REDIS_PORT\", mode: xadd, key: \"cepd:rref\", ttl: 1h}"
config rcrash 2 "{name: out, type: redis, url: \"redis://127.0.0.1:$REDIS_PORT\", mode: xadd, key: \"cepd:rcrash\", ttl: 1h}"
for c in $(seq 1 "$KILLS"); do cat "$T_DIR/chunk.$c"; done > "$T_DIR/rref/in.jsonl"
run rref end
: > "$T_DIR/rcrash/in.jsonl"
for c in $(seq 1 "$KILLS"); do
    cat "$T_DIR/chunk.$c" >> "$T_DIR/rcrash/in.jsonl"
    ckpt_kill rcrash
done
ok "crash: $KILLS kills with SIGKILL, parallelism 2"
run rcrash end
n=$(ckpt_restores rcrash)
check "crash: restored from a checkpoint $n times" [ "$n" -ge $((KILLS / 2)) ]
check "crash: nothing dead-lettered" test ! -s "$T_DIR/rcrash/dead.jsonl"
redis_alerts cepd:rref > "$T_DIR/rref.alerts"
redis_alerts cepd:rcrash > "$T_DIR/rcrash.alerts"
[ "$(wc -l < "$T_DIR/rref.alerts")" -gt 500 ] \
    && ok "crash: the reference has alerts ($(wc -l < "$T_DIR/rref.alerts"))" \
    || bad "crash: the reference has alerts"
compare "crash, redis, $EVENTS events" "$T_DIR/rref.alerts" "$T_DIR/rcrash.alerts"
finish
