#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Lookup tables in `cepd run`: a CSV table and a CIDR set from `lookups:`
# are loaded at start and used by a rule (lookup() in the message, `in` in
# `when`); a SIGHUP after the files change uses the new tables; a reload
# while a table is broken changes nothing and the old tables stay in use.
# Tested by: tests/daemon/run.sh (make check)
set -u
. "$(dirname "$0")/lib.sh"
d=$T_DIR
printf 'host,owner\nweb1,alice\n' > "$d/assets.csv"
printf '# blocked networks\n10.9.0.0/16\n' > "$d/block.txt"
cat > "$d/rules.yaml" <<'YAML'
rules:
  - id: blocked-login
    stream: auth
    when: src_ip in blocklist
    message: "blocked ${src_ip} on ${host} owned by ${lookup('assets', host)}"
YAML
cat > "$d/cepd.yaml" <<YAML
rules: [$d/rules.yaml]
lookups:
  assets: {type: csv, path: $d/assets.csv, key: host, value: owner}
  blocklist: {type: cidr, path: $d/block.txt}
sources: [{name: in, type: file, path: $d/in.jsonl, stream: auth}]
sinks: [{name: out, type: file, path: $d/alerts.jsonl}]
default_sinks: [out]
YAML
: > "$d/in.jsonl"
emit() { echo "$1" >> "$d/in.jsonl"; }
check "cepd run starts with lookup tables" daemon_start "$d/cepd.yaml"
emit '{"host":"web1","src_ip":"10.9.1.1","seq":1}'
emit '{"host":"web1","src_ip":"10.8.1.1","seq":2}'
check "an address in the CIDR set alerts, with the table's value" \
    wait_for count_ge '"blocked 10.9.1.1 on web1 owned by alice"' "$d/alerts.jsonl" 1
check "an address outside the set does not" bash -c "! grep -q '10.8.1.1' '$d/alerts.jsonl'"

printf 'host,owner\nweb1,bob\n' > "$d/assets.csv"
printf '10.9.0.0/16\n10.8.0.0/16\n' > "$d/block.txt"
daemon_signal() { kill "-$1" "$DAEMON_PID"; }
daemon_signal HUP
check "the reload is logged" wait_for log_has 'reloaded: 1 rules'
emit '{"host":"web1","src_ip":"10.8.1.1","seq":3}'
check "after SIGHUP the new tables are used" \
    wait_for count_ge '"blocked 10.8.1.1 on web1 owned by bob"' "$d/alerts.jsonl" 1

printf 'host,owner\nweb1,carol,extra\n' > "$d/assets.csv"
daemon_signal HUP
check "a broken table fails the reload with its file and line" \
    wait_for log_has 'assets.csv:2:.*error'
emit '{"host":"web1","src_ip":"10.8.2.2","seq":4}'
check "... and the old tables stay in use" \
    wait_for count_ge '"blocked 10.8.2.2 on web1 owned by bob"' "$d/alerts.jsonl" 1
daemon_stop TERM
check "SIGTERM exits 0" test $? -eq 0
finish
