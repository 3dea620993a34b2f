#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Write failures and a full disk, with a fault-injection build
# (--enable-fault-injection; the daemon logs "fault injection armed",
# otherwise this test is skipped).  CEPD_FAULT=write:2 makes the second
# checkpoint's write fail with ENOSPC: the daemon keeps running on the last
# good checkpoint, logs it, counts it in /metrics
# (cepd_checkpoints_total{result="failed"}) and later checkpoints succeed.
# child:3 kills the third checkpoint process (the one writing the file in
# the background) before it writes: a failed checkpoint too, logged with
# the signal.
# wal_write:2 and wal_sync:4 fail the second and fifth group commits of the
# push sources' write-ahead logs (each send below is one group commit): the
# tcp connection whose line was not made durable is closed without an ack,
# the http request gets 503, and after resending, every line alerts once.
# Then SIGKILL and a restart without faults: restored from a checkpoint,
# nothing acknowledged lost, nothing alerts twice, new lines flow.  Only
# 127.0.0.1; every wait bounded.
# Tested by: tests/daemon/run.sh (make check)
set -u
. "$(dirname "$0")/lib.sh"

cat > "$T_DIR/rules.yaml" <<'YAML'
rules:
  - id: root-login
    when: user == "root"
    message: "root ${tag}"
YAML
tp=$(free_port) hp=$(free_port) ap=$(free_port)
cat > "$T_DIR/cepd.yaml" <<YAML
rules: [$T_DIR/rules.yaml]
sources:
  - {name: ingest, type: tcp, listen: "127.0.0.1:$tp", ack: true}
  - {name: web, type: http, listen: "127.0.0.1:$hp"}
sinks:
  - {name: out, type: file, path: $T_DIR/alerts.jsonl}
default_sinks: [out]
checkpoint: {dir: $T_DIR/ckpt, interval: 200ms, retain: 3, delivery: exactly_once}
admin: {listen: "127.0.0.1:$ap"}
log: {level: info}
YAML
url="http://127.0.0.1:$ap"

# tcp_send LINE: one line on a new connection, then read until the server
# closes; prints what it wrote back ("" when it closed without an ack).
tcp_send() {
    python3 - "$tp" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.argv[2].encode() + b"\n")
s.shutdown(socket.SHUT_WR)
data = b""
try:
    while True:
        d = s.recv(4096)
        if not d:
            break
        data += d
except ConnectionResetError:
    pass
sys.stdout.write(data.decode().strip())
PY
}
post() { http POST "http://127.0.0.1:$hp/events" "" "{\"user\":\"root\",\"tag\":\"$1\"}"$'\n' | sed -n 1p; }
tag_count() {
    local n
    n=$(grep -c "\"root $1\"" "$T_DIR/alerts.jsonl" 2>/dev/null)
    echo "${n:-0}"
}
all_once() {
    local t
    for t in "$@"; do
        [ "$(tag_count "$t")" -eq 1 ] || return 1
    done
}
line() { printf '{"user":"root","tag":"%s"}' "$1"; }

CEPD_FAULT=write:2,wal_write:2,wal_sync:4,child:3 daemon_start "$T_DIR/cepd.yaml" \
    || { cat "$DAEMON_LOG"; bad "cepd run starts"; finish; }
log_has 'fault injection armed' || skip "fault injection (not built with --enable-fault-injection)"
wait_for port_open "$tp" && wait_for port_open "$hp" || bad "the sources listen"

# The checkpoint that cannot be written.
check "a checkpoint that hits a full disk and one whose process died are counted in /metrics" \
    wait_for metric_is 'cepd_checkpoints_total{result="failed"}' "$url" 2
check "the full disk is logged, with the reason, and the daemon carries on" \
    log_has 'checkpoint [0-9]+ failed: .*No space left on device; carrying on from the last good one'
check "the dead checkpoint process is logged" \
    log_has 'checkpoint [0-9]+ failed: the checkpoint process was killed by signal 9; carrying on'
check "later checkpoints succeed" \
    wait_for eval '[ "$(metric "cepd_checkpoints_total{result=\"ok\"}" "$url")" -ge 3 ]'
check "the daemon keeps running" daemon_alive

# The write-ahead log: group commits 1..6.
a=$(tcp_send "$(line a1)")
[ "$a" = "ok 1" ] && ok "tcp: a durable line is acknowledged" || bad "tcp: a durable line is acknowledged ($a)"
a=$(tcp_send "$(line a2)")
[ -z "$a" ] && ok "tcp: a failed WAL write closes the connection without an ack" \
    || bad "tcp: a failed WAL write closes the connection without an ack ($a)"
check "the failed WAL write is logged" \
    log_has 'source ingest: write-ahead log .*write at offset .*No space left on device; input not yet acknowledged is dropped'
a=$(tcp_send "$(line a2)")
[ "$a" = "ok 1" ] && ok "tcp: the resent line is acknowledged" || bad "tcp: the resent line is acknowledged ($a)"
r=$(post h1)
[ "$r" = 202 ] && ok "http: 202 after a durable append" || bad "http: 202 after a durable append ($r)"
r=$(post h2)
[ "$r" = 503 ] && ok "http: a failed WAL fdatasync answers 503" || bad "http: a failed WAL fdatasync answers 503 ($r)"
check "the failed WAL fdatasync is logged" \
    log_has 'source web: write-ahead log .*fdatasync at offset .*Input/output error'
r=$(post h2)
[ "$r" = 202 ] && ok "http: the resent request is taken" || bad "http: the resent request is taken ($r)"
wait_for all_once a1 a2 h1 h2 && ok "every acknowledged line alerts once" \
    || bad "every acknowledged line alerts once ($(cat "$T_DIR/alerts.jsonl" 2>/dev/null))"
n=$(metric 'cepd_checkpoints_total{result="ok"}' "$url")
check "checkpoints still succeed after the WAL failures" \
    wait_for eval '[ "$(metric "cepd_checkpoints_total{result=\"ok\"}" "$url")" -gt '"$n"' ]'

# A crash, and a restart without faults.
daemon_stop KILL
: > "$DAEMON_LOG"
daemon_start "$T_DIR/cepd.yaml" || { cat "$DAEMON_LOG"; bad "restarts"; finish; }
check "the restart restores the last good checkpoint" log_has 'restored checkpoint [0-9]+'
check "no fault injection without CEPD_FAULT" eval '! log_has "fault injection armed"'
wait_for port_open "$tp" || bad "the tcp source listens again"
a=$(tcp_send "$(line a3)")
[ "$a" = "ok 1" ] && ok "tcp after the restart" || bad "tcp after the restart ($a)"
wait_for all_once a3 && ok "a new line alerts after the restart" || bad "a new line alerts after the restart"
all_once a1 a2 h1 h2 && ok "nothing was lost or repeated" \
    || bad "nothing was lost or repeated ($(cat "$T_DIR/alerts.jsonl"))"
daemon_stop TERM
check "SIGTERM exits 0" test "$?" -eq 0
finish
