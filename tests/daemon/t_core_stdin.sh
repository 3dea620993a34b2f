#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The stdin source and how the daemon stops.  A pipe on stdin is read as
# lines arrive (alerts before the pipe closes); at EOF every source has
# ended, so the daemon ends time as replay does (a trailing negation whose
# window is still open fires) and exits 0.  A regular file on stdin is read
# the same way.  SIGTERM instead drains without ending time: the same
# pending negation does not fire, buffered events are still processed, and
# the exit status is 0.
# Tested by: tests/daemon/run.sh (make check)
set -u
. "$(dirname "$0")/lib.sh"
d=$T_DIR
cat > "$d/rules.yaml" <<'YAML'
streams:
  s: {time: {field: ts, unit: s, max_out_of_orderness: 5s}}
rules:
  - id: root
    stream: s
    when: user == "root"
    message: "root ${ts}"
  - id: a-no-b
    kind: pattern
    stream: s
    pattern:
      - step: a
        when: kind == "a"
      - step: b
        not: true
        when: kind == "b"
    within: 1h
    message: "a without b at ${a.ts}"
  - id: pair
    kind: pattern
    stream: s
    pattern:
      - step: x
        when: kind == "x"
      - step: y
        when: kind == "y"
    message: "pair ${y.ts}"
YAML
cat > "$d/cepd.yaml" <<YAML
rules: [$d/rules.yaml]
sources: [{name: in, type: stdin, stream: s}]
sinks: [{name: out, type: file, path: $d/alerts.jsonl}]
default_sinks: [out]
YAML

# A pipe: lines are read as they come.
mkfifo "$d/fifo"
exec 3<>"$d/fifo"
DAEMON_STDIN=$d/fifo
check "cepd run starts with a pipe on stdin" daemon_start "$d/cepd.yaml"
printf '%s\n' '{"ts":100,"user":"root"}' '{"ts":101,"kind":"a"}' >&3
check "a line on the open pipe alerts" wait_for count_ge '"root 100"' "$d/alerts.jsonl" 1
check "the daemon waits for more input" daemon_alive
exec 3>&-
check "end of stdin is logged" wait_for log_has 'every source has ended'
daemon_stop TERM
rc=$?
check "the daemon exits 0 at the end of its input" test "$rc" -eq 0
check "at the end of input time ends: the open negation fires" \
    count_ge '"a without b at 101"' "$d/alerts.jsonl" 1

# A regular file on stdin.
printf '%s\n' '{"ts":1,"user":"root"}' '{"ts":2,"user":"root"}' > "$d/in.jsonl"
rm -f "$d/alerts.jsonl"
DAEMON_STDIN=$d/in.jsonl
daemon_start "$d/cepd.yaml"
check "a file on stdin is read to its end" wait_for lines_ge "$d/alerts.jsonl" 2
daemon_stop TERM
check "... and the daemon exits 0" test $? -eq 0

# SIGTERM: buffered events are processed, time does not end.
rm -f "$d/alerts.jsonl"
: > "$DAEMON_LOG"
exec 3<>"$d/fifo"
DAEMON_STDIN=$d/fifo
daemon_start "$d/cepd.yaml"
printf '%s\n' '{"ts":200,"kind":"a"}' '{"ts":201,"kind":"x"}' '{"ts":202,"kind":"y"}' \
    '{"ts":203,"user":"root"}' >&3
check "lines before SIGTERM alert" wait_for count_ge '"root 203"' "$d/alerts.jsonl" 1
check "events wait for the watermark" bash -c "! grep -q '\"pair 202\"' '$d/alerts.jsonl'"
daemon_stop TERM
rc=$?
exec 3>&-
check "SIGTERM exits 0" test "$rc" -eq 0
check "SIGTERM drains buffered events through the rules" count_ge '"pair 202"' "$d/alerts.jsonl" 1
check "SIGTERM does not end time: the open negation does not fire" \
    bash -c "! grep -q 'a without b at 200' '$d/alerts.jsonl'"
finish
