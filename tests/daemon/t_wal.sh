#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The write-ahead log of the push sources end to end: `cepd run` with
# checkpoint.dir, a tcp source with `ack: true` and an http source, into a
# file sink with delivery exactly_once.  Asserts the ack protocol (one
# cumulative "ok N" per group commit, the last one "ok <lines sent>", a
# partial last line never acknowledged, the server closing after the last
# ack), HTTP 202 only after the append; then SIGKILL before any checkpoint
# (no alert released yet) and a restart that replays the WAL: every
# acknowledged line's alert comes out exactly once.  A torn record appended
# to the WAL is cut at open with a log line.  After a checkpoint and a
# clean stop, a restart resumes at the saved position (nothing replayed
# twice).  A reload that changes the tcp and file sources (max_line_bytes)
# restarts them from the old ones' positions: the WAL is not replayed into
# the running engine, the file not read again (no line processed twice),
# and new lines flow.  Only 127.0.0.1;
# every wait bounded (CEPD_TEST_TIMEOUT scales).
# Tested by: tests/daemon/run.sh (make check)
set -u
. "$(dirname "$0")/lib.sh"

cat > "$T_DIR/rules.yaml" <<'YAML'
rules:
  - id: root-login
    when: user == "root"
    message: "root ${tag}"
YAML

# config INTERVAL [TCP_EXTRA]: write the config for ports $tp (tcp) and $hp
# (http), TCP_EXTRA added to the settings of the tcp and the file source
config() {
    cat > "$T_DIR/cepd.yaml" <<YAML
rules: [$T_DIR/rules.yaml]
sources:
  - {name: ingest, type: tcp, listen: "127.0.0.1:$tp", ack: true${2:+, $2}}
  - {name: web, type: http, listen: "127.0.0.1:$hp"}
  - {name: log, type: file, path: $T_DIR/in.log${2:+, $2}}
sinks:
  - {name: out, type: file, path: $T_DIR/alerts.jsonl}
default_sinks: [out]
checkpoint: {dir: $T_DIR/ckpt, interval: $1, delivery: exactly_once}
YAML
}

# start INTERVAL: on free ports (retried when one was taken meanwhile)
start() {
    local tries=0
    while [ "$tries" -lt 5 ]; do
        : "${tp:=$(free_port)}" "${hp:=$(free_port)}"
        config "$1"
        if daemon_start "$T_DIR/cepd.yaml" && wait_for port_open "$tp" && port_open "$hp"; then
            return 0
        fi
        daemon_stop KILL
        log_has 'cannot listen' || break
        tp="" hp=""
        tries=$((tries + 1))
    done
    cat "$DAEMON_LOG"
    echo "FAIL - cepd run did not start"
    exit 1
}

# tcp_send PAYLOAD: send (printf %b), shut down the sending side, print
# what the server wrote back until it closed (bounded).
tcp_send() {
    python3 - "$tp" "$1" <<'PY'
import socket, sys
payload = sys.argv[2].encode().decode("unicode_escape").encode()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(payload)
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    data += d
sys.stdout.write(data.decode())
PY
}

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

printf '{"user":"root","tag":"f1"}\n{"user":"root","tag":"f2"}\n' > "$T_DIR/in.log"
start 1h
check "the tcp and http sources open their write-ahead logs" \
    log_has "source ingest: write-ahead log .*/ckpt/wal/ingest: 1 segments, replaying 0 bytes"
lines=""
for i in 1 2 3 4 5; do lines="$lines{\"user\":\"root\",\"tag\":\"t$i\"}\\n"; done
acks=$(tcp_send "$lines{\"user\":\"root\",\"tag\":\"partial\"}")
last=$(printf '%s\n' "$acks" | tail -n 1)
inc=$(printf '%s\n' "$acks" | awk '$1 != "ok" || $2 <= prev { bad = 1 } { prev = $2 } END { print bad ? "no" : "yes" }')
[ "$last" = "ok 5" ] && [ "$inc" = yes ] \
    && ok "tcp acks are cumulative 'ok N' lines ending at ok 5, the partial line unacknowledged" \
    || bad "tcp acks are cumulative 'ok N' lines ending at ok 5 (got: $acks)"
resp=$(http POST "http://127.0.0.1:$hp/events" "" $'{"user":"root","tag":"h1"}\n{"user":"root","tag":"h2"}\n')
[ "$(printf '%s\n' "$resp" | head -n 1)" = 202 ] \
    && printf '%s\n' "$resp" | grep -q '"accepted":2,"rejected":0' \
    && ok "http answers 202 after the append" || bad "http answers 202 after the append ($resp)"
[ "$(tag_count t1)" -eq 0 ] && ok "exactly_once: nothing released before a checkpoint" \
    || bad "exactly_once: nothing released before a checkpoint"
daemon_stop KILL

# A crash mid-append: a torn record at the end of the tcp source's WAL.
seg=$(ls "$T_DIR"/ckpt/wal/ingest/*.wal | tail -n 1)
size=$(stat -c %s "$seg")
printf '\x40\x00\x00\x00garbage' >> "$seg"
start 1s
check "a torn record is cut at open with a log line" \
    log_has "write-ahead log .*/wal/ingest: .*dropped the last 11 bytes"
[ "$(stat -c %s "$seg")" -eq "$size" ] && ok "the segment is cut back to its last whole record" \
    || bad "the segment is cut back to its last whole record"
check "the restart replays both WALs" \
    log_has "source web: write-ahead log .*: 1 segments, replaying [1-9][0-9]* bytes from offset 0"
wait_for all_once t1 t2 t3 t4 t5 h1 h2 \
    && ok "every acknowledged line alerts after the crash, once" \
    || bad "every acknowledged line alerts after the crash, once ($(cat "$T_DIR/alerts.jsonl" 2>/dev/null))"
[ "$(tag_count partial)" -eq 0 ] && ok "the partial line never alerts" \
    || bad "the partial line never alerts"
daemon_stop TERM
check "SIGTERM exits 0" test "$?" -eq 0

# After a checkpoint, a restart resumes at its saved position.
: > "$DAEMON_LOG"
start 1s
check "a restart after a checkpoint replays nothing twice" \
    log_has "source ingest: write-ahead log .* replaying 0 bytes from offset [1-9]"
acks=$(tcp_send '{"user":"root","tag":"t6"}\n')
[ "$acks" = "ok 1" ] && ok "a new connection counts its own lines" || bad "a new connection ($acks)"
wait_for all_once t6 && ok "new lines alert after the restart" || bad "new lines alert after the restart"
all_once t1 t2 t3 t4 t5 h1 h2 && ok "old alerts are not released again" \
    || bad "old alerts are not released again"

# A reload that changes the tcp and the file source: both restart from
# where they were.
replays() { grep -c "source ingest: write-ahead log .* replaying $1 bytes" "$DAEMON_LOG"; }
zero0=$(replays 0)
config 1s "max_line_bytes: 4096"
kill -HUP "$DAEMON_PID"
check "the reload restarts the changed sources and keeps the http one" \
    wait_for log_has 'reloaded: .*3 sources running \(1 unchanged\)'
check "the old tcp source's position is handed to the new one" \
    log_has "reload: source ingest continues from the position of the one it replaces"
check "the old file source's position is handed to the new one" \
    log_has "reload: source log continues from the position of the one it replaces"
printf '{"user":"root","tag":"f3"}\n' >> "$T_DIR/in.log"
check "the new tcp source replays nothing of its write-ahead log" \
    test "$(replays 0)" -eq $((zero0 + 1)) -a "$(replays '[1-9][0-9]*')" -eq 0
wait_for port_open "$tp" && acks=$(tcp_send '{"user":"root","tag":"t7"}\n')
[ "${acks:-}" = "ok 1" ] && ok "the new tcp source acknowledges" || bad "the new tcp source acknowledges (${acks:-})"
wait_for all_once t7 f3 && ok "new lines alert after the reload" || bad "new lines alert after the reload"
all_once t1 t2 t3 t4 t5 t6 h1 h2 f1 f2 && ok "no line is processed twice across the reload" \
    || bad "no line is processed twice across the reload ($(cat "$T_DIR/alerts.jsonl"))"
daemon_stop TERM
check "SIGTERM exits 0 after the reload" test "$?" -eq 0
finish
