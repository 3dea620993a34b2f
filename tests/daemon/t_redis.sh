#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The redis sink end to end: a file source into `cepd run` with a redis
# sink (xadd) against a real redis-server (append-only file, fsync always,
# so a killed server keeps what it acknowledged).  Asserts every alert
# arrives with a unique alert_id; Redis killed mid-run and restarted on the
# same port: the daemon carries on and every alert arrives exactly once
# (none lost, none written twice), nothing dead-lettered; lpush mode; a
# clean exit on SIGTERM.  Only 127.0.0.1; every wait bounded.
# Tested by: tests/daemon/run.sh (make check)
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/lib_redis.sh"

# Persistence for this test: the restart below must keep the stream.
REDIS_ARGS="--appendonly yes --appendfsync always"
redis_start || { bad "redis-server answers PING"; finish; }

cat > "$T_DIR/rules.yaml" <<'YAML'
rules:
  - id: every
    when: n >= 0
    message: "event ${n}"
YAML
cat > "$T_DIR/cepd.yaml" <<YAML
rules: [$T_DIR/rules.yaml]
sources:
  - {name: in, type: file, path: $T_DIR/in.jsonl}
sinks:
  - {name: rd, type: redis, url: "redis://127.0.0.1:$REDIS_PORT", mode: xadd, key: "cepd:alerts",
     ttl: 1h, backoff_max: 500ms, timeout: 2s, queue_size: 100000}
  - {name: ls, type: redis, url: "redis://127.0.0.1:$REDIS_PORT", mode: lpush, key: "cepd:list"}
default_sinks: [rd, ls]
dead_letter: $T_DIR/dead.jsonl
log: {level: info}
YAML

events() { # events FROM TO: lines {"n": FROM} .. {"n": TO} appended to in.jsonl
    local i
    for i in $(seq "$1" "$2"); do echo "{\"n\":$i}"; done >> "$T_DIR/in.jsonl"
}
xlen_is() { [ "$(redis_cli XLEN cepd:alerts)" = "$1" ]; }
ids() { redis_cli --raw XRANGE cepd:alerts - + | awk 'prev == "alert_id" { print } { prev = $0 }'; }

: > "$T_DIR/in.jsonl"
daemon_start "$T_DIR/cepd.yaml" || { bad "cepd run starts with a redis sink"; finish; }
ok "cepd run starts with a redis sink"

events 1 200
wait_for xlen_is 200 && ok "200 events give 200 stream entries" \
    || bad "200 events give 200 stream entries ($(redis_cli XLEN cepd:alerts))"
[ "$(ids | sort -u | wc -l)" -eq 200 ] && ok "alert ids are unique" || bad "alert ids are unique"
wait_for eval '[ "$(redis_cli LLEN cepd:list)" = 200 ]' && ok "lpush mode writes each alert" \
    || bad "lpush mode writes each alert ($(redis_cli LLEN cepd:list))"
first=$(redis_cli --raw XRANGE cepd:alerts - + COUNT 1 | sed -n 5p)
case $first in
    *'"message":"event 1"'*) ok "the entry's alert field is the alert JSON" ;;
    *) bad "the entry's alert field is the alert JSON: $first" ;;
esac

# Redis dies while alerts flow, and comes back on the same port.
events 201 400
sleep 0.05
redis_kill
events 401 600
sleep 1
daemon_alive && ok "the daemon carries on while redis is down" \
    || bad "the daemon carries on while redis is down"
wait_for log_has 'sink rd: redis 127.0.0.1:[0-9]+: .*reconnecting' \
    && ok "the lost connection is logged" || bad "the lost connection is logged"
redis_start "$REDIS_PORT" || bad "redis-server restarts on its port"
wait_for xlen_is 600 && ok "after the restart every alert arrived" \
    || bad "after the restart every alert arrived ($(redis_cli XLEN cepd:alerts))"
sleep 0.5
xlen_is 600 && [ "$(ids | sort -u | wc -l)" -eq 600 ] \
    && ok "no alert was written twice" || bad "no alert was written twice ($(redis_cli XLEN cepd:alerts))"
[ ! -s "$T_DIR/dead.jsonl" ] && ok "nothing dead-lettered" || bad "nothing dead-lettered"

daemon_stop TERM && ok "SIGTERM: exit 0" || bad "SIGTERM: exit 0"
finish
