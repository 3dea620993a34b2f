#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The daemon as a process: `cepd run --daemonize --pidfile` returns once
# the daemon is ready (relative config and pidfile paths still work from
# "/"), a second instance on the same pidfile is refused, start-up errors
# after detaching reach the terminal with exit 2, SIGTERM removes the
# pidfile; sd_notify datagrams (READY=1, RELOADING=1 with MONOTONIC_USEC,
# STOPPING=1) on a test NOTIFY_SOCKET; the log file target, reopened on
# SIGUSR1 after a rename and by the shipped logrotate file (with the file
# sink); an unopenable log file refuses to start; user:/group: drop root
# (when run as root) and a failed reopen keeps the old log file; every
# metric the Grafana dashboard uses is served by /metrics.
# Tested by: tests/daemon/run.sh (make check)
set -u
. "$(dirname "$0")/lib.sh"
d=$T_DIR
top=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
mkdir -p "$d/log"

cat > "$d/rules.yaml" <<'YAML'
rules:
  - id: root-login
    stream: auth
    when: event == "login" and user == "root"
    message: "root from ${src_ip}"
YAML
admin=$(free_port)
# Relative paths: resolved against the config's directory, even though the
# daemon runs in "/".
cat > "$d/cepd.yaml" <<YAML
rules: [rules.yaml]
sources:
  - {name: auth-log, type: file, path: auth.jsonl, stream: auth}
sinks:
  - {name: alerts, type: file, path: log/alerts.jsonl}
log: {level: info, target: log/cepd.log}
admin: {listen: "127.0.0.1:$admin"}
YAML
url="http://127.0.0.1:$admin"
touch "$d/auth.jsonl"

# pid_of FILE: the pid a pidfile names, if that process is alive.
pid_of() { local p; p=$(cat "$1" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"; }
gone() { ! kill -0 "$1" 2>/dev/null; }

# --- daemonize and pidfile -------------------------------------------------
(cd "$d" && "$CEPD" run -c cepd.yaml --daemonize --pidfile cepd.pid) > "$d/start.out" 2>&1
rc=$?
pid=$(pid_of "$d/cepd.pid")
[ -n "$pid" ] && T_PIDS="$T_PIDS $pid"
check "--daemonize exits 0 (got $rc)" [ "$rc" -eq 0 ]
check "the pidfile names a live process" [ -n "$pid" ]
check "nothing is printed once ready" [ ! -s "$d/start.out" ]
# Ready means started: no waiting here.
code=$(http GET "$url/healthz" | head -1)
check "the admin API answers as soon as --daemonize returned ($code)" [ "$code" = 200 ]
# /proc/PID/stat: field 6 is the session, 7 the terminal (0: none).
read -r sid tty <<< "$(awk '{ print $6, $7 }' "/proc/$pid/stat")"
check "the daemon has no terminal" [ "$tty" = 0 ]
check "... and leads no session (so cannot get one)" [ "$sid" != "$pid" ]
check "its log goes to the log file" wait_for grep -q 'cepd\[notice\] running:' "$d/log/cepd.log"
echo '{"event":"login","user":"root","src_ip":"10.0.0.1"}' >> "$d/auth.jsonl"
check "relative source and sink paths work from /" \
    wait_for count_ge '"root from 10.0.0.1"' "$d/log/alerts.jsonl" 1

# A second instance on the same pidfile is refused, in the foreground and
# detached; the refusal reaches the terminal, and the file is untouched.
cat > "$d/second.yaml" <<YAML
rules: [$d/rules.yaml]
sources:
  - {name: auth-log, type: file, path: $d/auth.jsonl, stream: auth}
sinks:
  - {name: out, type: file, path: $d/second.jsonl}
YAML
"$CEPD" run -c "$d/second.yaml" --pidfile "$d/cepd.pid" > "$d/second.out" 2>&1
rc=$?
check "a second instance exits 2 (got $rc)" [ "$rc" -eq 2 ]
check "... saying who holds the pidfile" \
    grep -q "pidfile: $d/cepd.pid is held by pid $pid: another cepd is running" "$d/second.out"
"$CEPD" run -c "$d/second.yaml" --daemonize --pidfile "$d/cepd.pid" > "$d/second.out" 2>&1
rc=$?
check "a second detached instance exits 2 (got $rc)" [ "$rc" -eq 2 ]
check "... and its refusal reaches the terminal" \
    grep -q "is held by pid $pid: another cepd is running" "$d/second.out"
check "... with the start-up failure named" grep -q "the daemon exited during start-up" "$d/second.out"
check "the pidfile still names the first daemon" [ "$(cat "$d/cepd.pid")" = "$pid" ]

# Every metric of the Grafana dashboard is one /metrics serves.
dash="$top/contrib/grafana/cepd-dashboard.json"
http GET "$url/metrics" > "$d/metrics.txt"
missing=""
for m in $(grep -o 'cepd_[a-z_]*' "$dash" | sort -u); do
    grep -q "^# TYPE $m " "$d/metrics.txt" || missing="$missing $m"
done
check "the dashboard's metrics are all served (missing:${missing:- none})" [ -z "$missing" ]

# SIGUSR1 after a rename: a new log file.
mv "$d/log/cepd.log" "$d/log/cepd.log.0"
kill -USR1 "$pid"
check "SIGUSR1 reopens the log file after a rename" \
    wait_for grep -q 'cepd\[info\] log: reopened' "$d/log/cepd.log"
check "... the old file kept what came before" grep -q 'running:' "$d/log/cepd.log.0"

# The shipped logrotate file, pointed at this directory and this pidfile.
if command -v logrotate > /dev/null; then
    sed -e "s|/var/log/cepd|$d/log|g" -e "s|/run/cepd.pid|$d/cepd.pid|g" \
        -e 's|create 0640 cepd cepd|create 0640|' -e 's|cepd\.service|cepd-t-proc-none.service|g' \
        "$top/contrib/cepd.logrotate" > "$d/logrotate.conf"
    logrotate -f -s "$d/logrotate.state" "$d/logrotate.conf" > "$d/logrotate.out" 2>&1
    rc=$?
    check "logrotate runs the shipped file (exit $rc)" test "$rc" -eq 0 -a ! -s "$d/logrotate.out"
    check "... the log is rotated" [ -s "$d/log/cepd.log.1" ]
    check "... and reopened by SIGUSR1" wait_for grep -q 'log: reopened' "$d/log/cepd.log"
    check "... the alerts file is rotated" grep -q '10.0.0.1' "$d/log/alerts.jsonl.1"
    echo '{"event":"login","user":"root","src_ip":"10.0.0.2"}' >> "$d/auth.jsonl"
    check "... and new alerts go to a new one" \
        wait_for count_ge '"root from 10.0.0.2"' "$d/log/alerts.jsonl" 1
else
    echo "ok - logrotate not installed: the shipped logrotate file is not run"
fi

kill -TERM "$pid"
check "SIGTERM stops the daemon" wait_for gone "$pid"
check "... and removes the pidfile" [ ! -e "$d/cepd.pid" ]
check "... after logging the stop" grep -q 'cepd\[notice\] stopped' "$d/log/cepd.log"

# --- start-up failures -------------------------------------------------------
printf 'rules: [%s]\nsinks:\n  - {name: s, type: nope}\n' "$d/rules.yaml" > "$d/bad.yaml"
"$CEPD" run -c "$d/bad.yaml" --daemonize > "$d/bad.out" 2>&1
rc=$?
check "a config error exits 1 before detaching (got $rc)" [ "$rc" -eq 1 ]
check "... printed on the terminal" grep -q 'bad.yaml:3:.*error' "$d/bad.out"
cat > "$d/nosink.yaml" <<YAML
rules: [$d/rules.yaml]
sources:
  - {name: auth-log, type: file, path: $d/auth.jsonl, stream: auth}
sinks:
  - {name: out, type: file, path: $d/no/such/dir/alerts.jsonl}
YAML
"$CEPD" run -c "$d/nosink.yaml" --daemonize --pidfile "$d/nosink.pid" > "$d/nosink.out" 2>&1
rc=$?
check "a failure after detaching exits 2 (got $rc)" [ "$rc" -eq 2 ]
check "... with the daemon's error on the terminal" grep -q 'no/such/dir/alerts.jsonl' "$d/nosink.out"
check "... and no pidfile left" [ ! -e "$d/nosink.pid" ]
sed "s|target: log/cepd.log|target: nodir/cepd.log|" "$d/cepd.yaml" > "$d/nolog.yaml"
"$CEPD" run -c "$d/nolog.yaml" > "$d/nolog.out" 2>&1
rc=$?
check "a log file that cannot be opened refuses to start (got $rc)" [ "$rc" -eq 2 ]
check "... saying why" grep -q "log: cannot open $d/nodir/cepd.log: No such file or directory" \
    "$d/nolog.out"

# --- sd_notify ---------------------------------------------------------------
bg_start python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", "|") + "\n")
        f.flush()
' "$d/notify.sock" "$d/notify.log"
check "the test notify socket is up" wait_for test -S "$d/notify.sock"
cat > "$d/notify.yaml" <<YAML
rules: [$d/rules.yaml]
sources:
  - {name: auth-log, type: file, path: $d/auth.jsonl, stream: auth}
sinks:
  - {name: out, type: file, path: $d/notify-alerts.jsonl}
YAML
NOTIFY_SOCKET="$d/notify.sock" daemon_start "$d/notify.yaml"
check "READY=1 is sent once running" wait_for grep -qx 'READY=1' "$d/notify.log"
kill -HUP "$DAEMON_PID"
check "SIGHUP sends RELOADING=1 with MONOTONIC_USEC" \
    wait_for grep -qE '^RELOADING=1\|MONOTONIC_USEC=[0-9]+$' "$d/notify.log"
check "... then READY=1 again" wait_for count_ge '^READY=1$' "$d/notify.log" 2
check "... in that order" bash -c "grep -n . '$d/notify.log' | sed -n '2,3p' | cut -d: -f2- \
    | tr '\n' ' ' | grep -qE '^RELOADING=1\|MONOTONIC_USEC=[0-9]+ READY=1 $'"
daemon_stop TERM
rc=$?
check "SIGTERM exits 0 (got $rc)" [ "$rc" -eq 0 ]
check "STOPPING=1 is sent" wait_for grep -qx 'STOPPING=1' "$d/notify.log"

# --- privileges (as root) ----------------------------------------------------
if [ "$(id -u)" -eq 0 ] && id nobody > /dev/null 2>&1; then
    ngroup=$(id -gn nobody)
    cat > "$d/drop.yaml" <<YAML
rules: [$d/rules.yaml]
sources:
  - {name: auth-log, type: file, path: $d/auth.jsonl, stream: auth}
sinks:
  - {name: out, type: file, path: $d/drop-alerts.jsonl}
log: {level: info, target: $d/drop.log}
user: nobody
group: $ngroup
YAML
    "$CEPD" run -c "$d/drop.yaml" --daemonize --pidfile "$d/drop.pid" > "$d/drop.out" 2>&1
    check "a daemon with user: nobody starts (exit $?)" [ -n "$(pid_of "$d/drop.pid")" ]
    dpid=$(pid_of "$d/drop.pid")
    T_PIDS="$T_PIDS $dpid"
    uid=$(id -u nobody)
    gid=$(id -g nobody)
    check "it runs as nobody" grep -qE "^Uid:\s+$uid\s+$uid\s+$uid\s+$uid$" "/proc/$dpid/status"
    check "... in nobody's group" grep -qE "^Gid:\s+$gid\s+$gid\s+$gid\s+$gid$" "/proc/$dpid/status"
    echo '{"event":"login","user":"root","src_ip":"10.0.0.3"}' >> "$d/auth.jsonl"
    check "... with its sink opened before the drop" \
        wait_for count_ge '"root from 10.0.0.3"' "$d/drop-alerts.jsonl" 1
    # $d is root's (0700): nobody cannot create a new log file there.
    mv "$d/drop.log" "$d/drop.log.0"
    kill -USR1 "$dpid"
    check "a failed reopen keeps the old log file" \
        wait_for grep -q "log: cannot reopen $d/drop.log: .*(still writing to the old file)" \
        "$d/drop.log.0"
    kill -TERM "$dpid"
    check "SIGTERM stops it" wait_for gone "$dpid"
    check "... and its pidfile, which it may not unlink, is emptied" \
        bash -c "[ -e '$d/drop.pid' ] && [ ! -s '$d/drop.pid' ]"
else
    echo "ok - not root: privilege dropping is covered by tests/unit/check_proc.c only"
fi
finish
