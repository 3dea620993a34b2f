#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The redis_stream source under checkpoints (a real redis-server, a file
# sink, delivery exactly_once).  Entries are acknowledged (XACK) only once
# a durable checkpoint covers them: processed entries stay in the group's
# pending list (XPENDING) until then, and their alerts are held.  After a
# SIGKILL the source resumes at the restored checkpoint's position: entries
# before it are acknowledged, not processed again; entries after it are
# re-read from the pending list and processed once.  A lost connection
# re-reads the pending list too: what this run processed is skipped.
# The file sink is not idempotent, so "each alert once in the file" holds
# for alerts released after a durable checkpoint.  The kill below happens
# while the only alerts not yet covered are held in the outbox (released
# alerts were all written before the checkpoint of the SIGTERM that
# preceded), so the assertion is exact: a re-processed entry or a lost one
# shows as a duplicate or missing line.  Only 127.0.0.1; waits bounded.
# Tested by: tests/daemon/run.sh (make check)
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/lib_redis.sh"

redis_start || { bad "redis-server answers PING"; finish; }
d=$T_DIR
port=$(free_port)
url="http://127.0.0.1:$port"
cat > "$d/rules.yaml" <<'YAML'
rules:
  - id: login
    when: user == "root"
    message: "root ${tag}"
YAML
config() { # config INTERVAL
    cat > "$d/cepd.yaml" <<YAML
rules: [$d/rules.yaml]
sources:
  - {name: bus, type: redis_stream, url: "redis://127.0.0.1:$REDIS_PORT", key: events,
     group: cepd, consumer: c1}
sinks:
  - {name: out, type: file, path: $d/alerts.jsonl}
default_sinks: [out]
admin: {listen: "127.0.0.1:$port"}
checkpoint: {dir: $d/ckpt, interval: $1, delivery: exactly_once}
log: {level: info}
YAML
}
add() { redis_cli XADD events '*' event "{\"user\":\"root\",\"tag\":\"t$1\"}" > /dev/null; }
pending() { redis_cli XPENDING events cepd | head -1; }
pending_is() { [ "$(pending)" = "$1" ]; }
lines_is() { metric_is 'cepd_source_lines_total{source="bus"}' "$url" "$1"; }
# once N: alerts t1..tN each exactly once in the file, and nothing else
once() {
    local i
    [ "$(wc -l < "$d/alerts.jsonl")" -eq "$1" ] || return 1
    for i in $(seq 1 "$1"); do
        [ "$(grep -c "\"root t$i\"" "$d/alerts.jsonl")" -eq 1 ] || return 1
    done
}
: > "$d/alerts.jsonl"
config 1h
redis_cli XGROUP CREATE events cepd '$' MKSTREAM > /dev/null

# 1. Processed entries stay pending and their alerts held until a
# checkpoint: with a 1 h interval only the one taken at SIGTERM.
check "cepd run starts" daemon_start "$d/cepd.yaml"
for i in 1 2 3; do add $i; done
check "three entries processed" wait_for lines_is 3
pending_is 3 && ok "processed entries are not acknowledged before a checkpoint" \
    || bad "processed entries are not acknowledged before a checkpoint ($(pending))"
[ ! -s "$d/alerts.jsonl" ] && ok "their alerts are held (exactly_once)" \
    || bad "their alerts are held (exactly_once)"
# A lost connection: the pending list re-read after reconnecting holds
# entries this run processed already; they are not processed again.
redis_cli CLIENT KILL TYPE normal > /dev/null
check "the source reconnects" \
    wait_for metric_is 'cepd_source_connections_total{source="bus"}' "$url" 2
add 4
check "only the new entry is processed after reconnecting" wait_for lines_is 4
pending_is 4 && ok "and nothing is acknowledged yet" || bad "and nothing is acknowledged yet ($(pending))"
daemon_stop TERM && ok "SIGTERM: exit 0" || bad "SIGTERM: exit 0"
once 4 && ok "the checkpoint at SIGTERM releases the four alerts, once each" \
    || bad "the checkpoint at SIGTERM releases the four alerts, once each"

# 2. Restart: entries covered by the restored checkpoint are acknowledged,
# not processed again; new ones are processed and stay pending.  Then a
# SIGKILL before any further checkpoint.
add 5
add 6
check "cepd run restarts" daemon_start "$d/cepd.yaml"
check "two new entries processed" wait_for lines_is 2
check "only the entries after the checkpoint stay pending" wait_for pending_is 2
once 4 && ok "nothing processed twice, new alerts held" || bad "nothing processed twice, new alerts held"
daemon_stop KILL 2> /dev/null

# 3. After the crash: entries 5 and 6 are re-read from the pending list and
# processed once, with a new one.
add 7
check "cepd run restarts after SIGKILL" daemon_start "$d/cepd.yaml"
check "the pending and the new entries are processed" wait_for lines_is 3
daemon_stop TERM && ok "SIGTERM: exit 0" || bad "SIGTERM: exit 0"
once 7 && ok "each alert once in the file across the crash" \
    || bad "each alert once in the file across the crash: $(sort "$d/alerts.jsonl" | uniq -c | tr '\n' ' ')"

# 4. Periodic checkpoints acknowledge while running.
config 200ms
add 8
check "cepd run restarts with a short interval" daemon_start "$d/cepd.yaml"
check "a checkpoint acknowledges every entry" wait_for pending_is 0
check "and releases the alert" wait_for once 8
daemon_stop TERM && ok "SIGTERM: exit 0" || bad "SIGTERM: exit 0"
once 8 && ok "each alert once in the end" || bad "each alert once in the end"
finish
