#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The redis_stream source end to end: `cepd run` reading a stream of a real
# redis-server through a consumer group into a file sink.  Asserts the
# group is created at the end of the stream (older entries not read),
# entries with an `event` field and entries of plain fields both become
# events, a malformed entry is dead-lettered and acknowledged while the
# daemon carries on, everything processed is acknowledged (XPENDING 0),
# entries left pending by a crash are re-read after a restart before new
# ones, and Redis killed and restarted: the source reconnects.  Only
# 127.0.0.1; every wait bounded.
# Tested by: tests/daemon/run.sh (make check)
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/lib_redis.sh"

redis_start || { bad "redis-server answers PING"; finish; }

cat > "$T_DIR/rules.yaml" <<'YAML'
rules:
  - id: login
    when: user == "root"
    message: "root ${tag}"
YAML
cat > "$T_DIR/cepd.yaml" <<YAML
rules: [$T_DIR/rules.yaml]
sources:
  - {name: bus, type: redis_stream, url: "redis://127.0.0.1:$REDIS_PORT", key: events,
     group: cepd, consumer: c1}
sinks:
  - {name: out, type: file, path: $T_DIR/alerts.jsonl}
default_sinks: [out]
dead_letter: $T_DIR/dead.jsonl
log: {level: info}
YAML

add() { redis_cli XADD events '*' "$@" > /dev/null; }
pending_is() { [ "$(redis_cli XPENDING events cepd | head -1)" = "$1" ]; }
group_exists() { redis_cli XINFO GROUPS events 2>/dev/null | grep -qx cepd; }

add event '{"user":"root","tag":"before-the-group"}'
daemon_start "$T_DIR/cepd.yaml" || { bad "cepd run starts with a redis_stream source"; finish; }
ok "cepd run starts with a redis_stream source"
wait_for group_exists && ok "the consumer group is created" || bad "the consumer group is created"

add event '{"user":"root","tag":"one"}'
add user root tag two
add event 'not json'
add event '{"user":"root","tag":"three"}'
wait_for count_ge '"root three"' "$T_DIR/alerts.jsonl" 1 \
    && count_ge '"root one"' "$T_DIR/alerts.jsonl" 1 && count_ge '"root two"' "$T_DIR/alerts.jsonl" 1 \
    && ok "entries become events (event field, or the entry's fields)" \
    || bad "entries become events (event field, or the entry's fields)"
! grep -q before-the-group "$T_DIR/alerts.jsonl" && ok "a new group starts at the end of the stream" \
    || bad "a new group starts at the end of the stream"
wait_for count_ge '"source":"bus"' "$T_DIR/dead.jsonl" 1 && ok "a malformed entry is dead-lettered" \
    || bad "a malformed entry is dead-lettered"
wait_for pending_is 0 && ok "processed entries are acknowledged" \
    || bad "processed entries are acknowledged ($(redis_cli XPENDING events cepd | head -1))"

# A crash leaves entries delivered but unacknowledged: they are re-read
# first after the restart.
daemon_stop TERM && ok "SIGTERM: exit 0" || bad "SIGTERM: exit 0"
add event '{"user":"root","tag":"pending"}'
redis_cli XREADGROUP GROUP cepd c1 COUNT 1 STREAMS events '>' > /dev/null
add event '{"user":"root","tag":"new"}'
pending_is 1 && ok "one entry left pending" || bad "one entry left pending"
daemon_start "$T_DIR/cepd.yaml" || bad "cepd run restarts"
wait_for count_ge '"root new"' "$T_DIR/alerts.jsonl" 1 \
    && [ "$(grep -c '"root pending"' "$T_DIR/alerts.jsonl")" -eq 1 ] \
    && [ "$(grep -n -e '"root pending"' -e '"root new"' "$T_DIR/alerts.jsonl" | head -1 | grep -c pending)" -eq 1 ] \
    && ok "pending entries are re-read after a restart, before new ones" \
    || bad "pending entries are re-read after a restart, before new ones"
wait_for pending_is 0 && ok "and acknowledged" || bad "and acknowledged"

# Redis dies and comes back (empty: no persistence): the source reconnects.
redis_kill
sleep 0.5
redis_start "$REDIS_PORT" || bad "redis-server restarts on its port"
wait_for group_exists && ok "the source reconnects and recreates its group" \
    || bad "the source reconnects and recreates its group"
add event '{"user":"root","tag":"after-restart"}'
wait_for count_ge '"root after-restart"' "$T_DIR/alerts.jsonl" 1 \
    && ok "entries flow again after the restart" || bad "entries flow again after the restart"
daemon_alive && ok "the daemon carried on" || bad "the daemon carried on"
daemon_stop TERM && ok "SIGTERM: exit 0 again" || bad "SIGTERM: exit 0 again"
finish
