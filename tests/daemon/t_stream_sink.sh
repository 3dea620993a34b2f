#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The `stream` sink: a rule's alerts come back as events of another stream,
# where a second rule reads them.  A looped-back alert is identified by its
# own alert id, so the second rule's alert ids are the same in every run
# and across a restart from a checkpoint (a per-run counter would give the
# events of the second run the ids of the first run's).
# Tested by: tests/daemon/run.sh (make check)
set -u
. "$(dirname "$0")/lib.sh"
d=$T_DIR
cat > "$d/rules.yaml" <<'YAML'
rules:
  - id: root
    stream: auth
    when: user == "root"
    message: "root ${seq}"
    sinks: [loop]
  - id: root-again
    stream: alerts
    when: rule == "root"
    message: "looped ${message}"
YAML
# config NAME [checkpoint yaml]
config() {
    cat > "$d/$1.yaml" <<YAML
rules: [$d/rules.yaml]
sources: [{name: in, type: file, path: $d/$1.in, stream: auth}]
sinks:
  - {name: loop, type: stream, stream: alerts}
  - {name: out, type: file, path: $d/$1.out}
default_sinks: [out]
${2:-}
YAML
}
lines() { for i in $(seq "$1" "$2"); do echo "{\"user\":\"root\",\"seq\":$i}"; done; }
ids() { grep -o '"alert_id":"[0-9a-f]*"' "$1" | sort; }

# Reference: all 40 lines in one run.
config ref
lines 1 40 > "$d/ref.in"
check "the reference run starts" daemon_start "$d/ref.yaml"
check "every looped alert alerts again" wait_for count_ge '"looped root 40"' "$d/ref.out" 1
daemon_stop TERM
check "... 40 of them" test "$(grep -c '"looped root' "$d/ref.out")" -eq 40

# The same lines across a restart with checkpoints.
config two "checkpoint: {dir: $d/ckpt, interval: 100ms}"
lines 1 20 > "$d/two.in"
check "the first run starts" daemon_start "$d/two.yaml"
check "its looped alerts arrive" wait_for count_ge '"looped root 20"' "$d/two.out" 1
daemon_stop TERM
check "... and it stops with exit 0" test $? -eq 0
lines 21 40 >> "$d/two.in"
check "the second run starts from the checkpoint" daemon_start "$d/two.yaml"
check "... and restores it" wait_for log_has "restored checkpoint"
check "the second run's looped alerts arrive" wait_for count_ge '"looped root 40"' "$d/two.out" 1
daemon_stop TERM
check "no looped alert twice" test "$(grep -c '"looped root' "$d/two.out")" -eq 40
check "the alert ids equal the reference run's" cmp -s <(ids "$d/ref.out") <(ids "$d/two.out")
finish
