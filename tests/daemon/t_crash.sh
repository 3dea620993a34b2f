#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The crash test of issue 6: a file source of CRASH_EVENTS events (200000;
# 40000 under ASan) with pattern, aggregate and absence rules, delivery
# exactly_once, checkpoints every 200 ms.  The file is appended to in
# chunks while the daemon is killed with SIGKILL at pseudo-random moments
# (fixed seed, at least CRASH_KILLS = 20 kills) and restarted each time,
# until the whole file is consumed and delivered; then SIGTERM.  Into a
# real redis-server (tests/daemon/lib_redis.sh): the stream holds exactly
# the alerts of a run without kills (same alert ids, same JSON but
# detected_at), none missing, none twice.  Into a webhook receiver
# (tests/tools/http_receiver): after dedup by Idempotency-Key the alerts of
# the run without kills, every key's body the alert with that id.  Only
# 127.0.0.1; every wait bounded.
# Tested by: tests/daemon/run.sh (make check)
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/lib_redis.sh"
. "$here/lib_ckpt.sh"

CRASH_EVENTS=${CRASH_EVENTS:-$(ckpt_asan && echo 40000 || echo 200000)}
CRASH_KILLS=${CRASH_KILLS:-20}
CHUNKS=$CRASH_KILLS
RANDOM=20261124 # fixed seed: the same kill moments every run

redis_start || { bad "redis-server answers PING"; finish; }
rcv=${TOP_BUILDDIR:-$(dirname "$CEPD")}/tests/tools/http_receiver
ckpt_rules "$T_DIR/rules.yaml"

# The input in CHUNKS chunks, each ending with a marker; the last marker
# is "end".
ckpt_gen_chunks "$CHUNKS" "$CRASH_EVENTS"

# config NAME SINK_YAML: a config in NAME/ reading NAME/in.jsonl, with
# that sink as "out".
config() {
    ckpt_config "$1" "{name: in, type: file, path: $T_DIR/$1/in.jsonl, stream: ev}" "$2"
}

# reference NAME: the whole file, no kills, stopped with SIGTERM.
reference() {
    for c in $(seq 1 "$CHUNKS"); do cat "$T_DIR/chunk.$c"; done > "$T_DIR/$1/in.jsonl"
    DAEMON_LOG=$T_DIR/$1/daemon.log
    daemon_start "$T_DIR/$1/cepd.yaml" || { bad "$1: starts"; return 1; }
    wait_for ckpt_has_mark "$1" end || bad "$1: reaches the end"
    daemon_stop TERM && ok "$1: SIGTERM, exit 0" || bad "$1: SIGTERM, exit 0"
}

# crash NAME: chunk c appended before start c; each run killed with
# SIGKILL 20..400 ms after it was started (before, during or after its
# restore and its chunk), then a last run to the end marker and SIGTERM.
crash() {
    local c
    : > "$T_DIR/$1/in.jsonl"
    for c in $(seq 1 "$CHUNKS"); do
        cat "$T_DIR/chunk.$c" >> "$T_DIR/$1/in.jsonl"
        ckpt_kill "$1"
    done
    ok "$1: $CHUNKS kills with SIGKILL"
    DAEMON_LOG=$T_DIR/$1/daemon.log
    daemon_start "$T_DIR/$1/cepd.yaml" || { bad "$1: starts after the kills"; return 1; }
    wait_for ckpt_has_mark "$1" end || bad "$1: reaches the end after the kills"
    daemon_stop TERM && ok "$1: SIGTERM, exit 0" || bad "$1: SIGTERM, exit 0"
    n=$(ckpt_restores "$1")
    [ "$n" -ge $((CHUNKS / 2)) ] && ok "$1: restored from a checkpoint $n times" \
        || bad "$1: restored from a checkpoint $n times"
    [ ! -s "$T_DIR/$1/dead.jsonl" ] && ok "$1: nothing dead-lettered" \
        || bad "$1: nothing dead-lettered"
}

# compare WHAT REF GOT [dups]
compare() { ckpt_compare_ok "$1: the alerts of the run without kills" "$2" "$3" ${4:-}; }

# ---- redis ----
for run in rref rcrash; do
    config "$run" "{name: out, type: redis, url: \"redis://127.0.0.1:$REDIS_PORT\", mode: xadd, key: \"cepd:$run\", ttl: 1h}"
done
reference rref
crash rcrash
redis_alerts cepd:rref > "$T_DIR/rref.alerts"
redis_alerts cepd:rcrash > "$T_DIR/rcrash.alerts"
[ "$(wc -l < "$T_DIR/rref.alerts")" -gt 1000 ] && ok "redis: the reference has alerts ($(wc -l < "$T_DIR/rref.alerts"))" \
    || bad "redis: the reference has alerts"
compare "redis, $CRASH_EVENTS events" "$T_DIR/rref.alerts" "$T_DIR/rcrash.alerts"

# ---- webhook ----
if [ ! -x "$rcv" ]; then
    echo "skip: webhook part (http_receiver not built: $rcv)"
else
    bg_start "$rcv" --port 0 --port-file "$T_DIR/rcv.port" --mode accept --log "$T_DIR/rcv.log"
    wait_for test -s "$T_DIR/rcv.port" || { bad "http_receiver starts"; finish; }
    RPORT=$(cat "$T_DIR/rcv.port")
    # Reference from the redis run (the same input, rules and ids).
    config wcrash "{name: out, type: webhook, url: \"http://127.0.0.1:$RPORT/hook\", timeout: 2s, max_retries: 1000, backoff_max: 300ms}"
    crash wcrash
    # Deduplicated by Idempotency-Key, as a receiver must: every key's
    # deliveries carry the same alert (but detected_at, when it was made
    # again after a kill); the bodies of first deliveries are compared.
    python3 - "$T_DIR/rcv.log" > "$T_DIR/wcrash.alerts" <<'PY'
import json, sys
seen = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    body = json.loads(r["body"])
    if body["alert_id"] != r["key"]:
        sys.exit("Idempotency-Key %s != alert_id %s" % (r["key"], body["alert_id"]))
    body.pop("detected_at", None)
    if r["key"] in seen and seen[r["key"]] != body:
        sys.exit("two deliveries of %s differ" % r["key"])
    seen[r["key"]] = body
for b in seen.values():
    print(json.dumps(b))
PY
    [ $? -eq 0 ] && ok "webhook: each Idempotency-Key is the body's alert_id, its copies equal" \
        || bad "webhook: each Idempotency-Key is the body's alert_id, its copies equal"
    d=$(($(wc -l < "$T_DIR/rcv.log") - $(wc -l < "$T_DIR/wcrash.alerts")))
    ok "webhook: $(wc -l < "$T_DIR/rcv.log") deliveries, $d repeated (dropped by Idempotency-Key)"
    compare "webhook, $CRASH_EVENTS events" "$T_DIR/rref.alerts" "$T_DIR/wcrash.alerts"
fi
finish
