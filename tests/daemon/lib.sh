# SPDX-License-Identifier: Apache-2.0
# Helpers for the daemon tests (tests/daemon/t_*.sh), sourced after `set -u`:
# a private temp dir removed on exit, every process started through
# daemon_start/bg_start killed on exit (trap cleanup EXIT), free loopback
# ports, bounded waits (10 s each, scaled by CEPD_TEST_TIMEOUT), ok/bad
# reporting and an HTTP client (python3 urllib) for the admin API.  Only
# 127.0.0.1 is ever used.
# Tested by: tests/daemon/run.sh (make check)

: "${CEPD:?CEPD must name the cepd binary}"
T_SCALE=${CEPD_TEST_TIMEOUT:-1}
T_LIMIT=$((100 * T_SCALE)) # tenths of a second per wait
T_NAME=$(basename "$0" .sh)
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cepd-$T_NAME.XXXXXX")
T_FAIL=0
T_PIDS=""
DAEMON_PID=""
DAEMON_LOG="$T_DIR/daemon.log"

# Kill what we started (TERM, then KILL after a bounded wait); remove T_DIR.
cleanup() {
    local p i
    for p in $T_PIDS; do
        kill -TERM "$p" 2>/dev/null || continue
        i=0
        while kill -0 "$p" 2>/dev/null && [ "$i" -lt 30 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$T_DIR"
}
trap cleanup EXIT

ok() { echo "ok - $1"; }
bad() { echo "FAIL - $1"; T_FAIL=1; }
# check NAME CMD...: ok when CMD succeeds
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}
# finish: print the daemon log on failure; exit with the result.
finish() {
    if [ "$T_FAIL" -ne 0 ] && [ -f "$DAEMON_LOG" ]; then
        echo "--- daemon log"
        tail -n 60 "$DAEMON_LOG"
    fi
    exit "$T_FAIL"
}
skip() { echo "skip: $1"; exit 77; }

# wait_for CMD...: retry CMD every 0.1 s until it succeeds, at most 10 s
# (scaled).  Returns CMD's last status.
wait_for() {
    local i=0
    while [ "$i" -lt "$T_LIMIT" ]; do
        "$@" 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
# lines_ge FILE N: FILE has at least N lines
lines_ge() { [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ]; }
# count_ge PATTERN FILE N: at least N lines of FILE match PATTERN (grep -E)
count_ge() { [ -f "$2" ] && [ "$(grep -Ec -- "$1" "$2")" -ge "$3" ]; }
log_has() { grep -Eqs -- "$1" "$DAEMON_LOG"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# free_port: a TCP port on 127.0.0.1 that nothing listens on now (the
# kernel's pick; a race with other processes is possible, so callers that
# bind retry with another port when the daemon cannot listen).
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# bg_start CMD...: run CMD in the background, killed by cleanup; sets BG_PID.
bg_start() {
    "$@" &
    BG_PID=$!
    T_PIDS="$T_PIDS $BG_PID"
}

# daemon_start CONFIG [ARGS...]: `cepd run -c CONFIG` in the background,
# stderr appended to DAEMON_LOG, stdout to $T_DIR/daemon.out; stdin from
# /dev/null unless DAEMON_STDIN names a file or fifo.  Waits until it logs
# "running:" (or exits).  Returns 0 when it runs.
daemon_start() {
    local cfg=$1
    shift
    # fds 3-5 (a test's own pipe ends) are not the daemon's to hold open
    "$CEPD" run -c "$cfg" "$@" < "${DAEMON_STDIN:-/dev/null}" >> "$T_DIR/daemon.out" \
        2>> "$DAEMON_LOG" 3>&- 4>&- 5>&- &
    DAEMON_PID=$!
    T_PIDS="$T_PIDS $DAEMON_PID"
    local i=0
    while [ "$i" -lt "$T_LIMIT" ]; do
        log_has 'running:' && return 0
        kill -0 "$DAEMON_PID" 2>/dev/null || return 1
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
# daemon_alive: the daemon started last is still running
daemon_alive() { [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; }
# daemon_stop [SIGNAL]: signal the daemon (TERM by default), wait for it
# (bounded; KILL after the limit) and return its exit status.
daemon_stop() {
    local sig=${1:-TERM} i=0 rc
    [ -n "$DAEMON_PID" ] || return 1
    kill "-$sig" "$DAEMON_PID" 2>/dev/null
    while kill -0 "$DAEMON_PID" 2>/dev/null && [ "$i" -lt "$T_LIMIT" ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$DAEMON_PID" 2>/dev/null
    wait "$DAEMON_PID"
    rc=$?
    DAEMON_PID=""
    return "$rc"
}

# http METHOD URL [TOKEN [BODY]]: one request (python3 urllib, bounded);
# prints the status code on the first line, then the body.
http() {
    python3 - "$@" <<'PY'
import sys, urllib.request, urllib.error
method, url = sys.argv[1], sys.argv[2]
token = sys.argv[3] if len(sys.argv) > 3 else ""
body = sys.argv[4].encode() if len(sys.argv) > 4 else (b"" if method == "POST" else None)
req = urllib.request.Request(url, data=body, method=method)
if token:
    req.add_header("Authorization", "Bearer " + token)
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        code, data = r.status, r.read()
except urllib.error.HTTPError as e:
    code, data = e.code, e.read()
except Exception as e:
    code, data = 0, str(e).encode()
sys.stdout.write("%d\n" % code)
sys.stdout.write(data.decode("utf-8", "replace"))
PY
}
# metric NAME_AND_LABELS URL: the value of one metric line of /metrics
# (exact name and label text, e.g. 'cepd_rule_alerts_total{rule="x"}').
metric() {
    http GET "$2/metrics" "${3:-}" | awk -v k="$1" '$1 == k { print $2 }'
}
# metric_is NAME_AND_LABELS URL VALUE [TOKEN]: the metric has VALUE now
# (for wait_for, which retries it).
metric_is() { [ "$(metric "$1" "$2" "${4:-}")" = "$3" ]; }
