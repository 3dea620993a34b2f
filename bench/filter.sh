#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end stateless filter: `cepd replay` of generated JSON lines through
# one simple rule (~1% of events match), alerts to /dev/null.  Reports
# events/s per core as the median of 5 runs, with min and max, and peak RSS.
# Usage: bench/filter.sh CEPD_BINARY [N_LINES]
set -euo pipefail
cepd=$1
n=${2:-2000000}
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$top/bench/gen_auth.py" "$n" > "$tmp/events.jsonl"
cat > "$tmp/rules.yaml" <<'YAML'
streams:
  auth: {time: {field: ts, unit: ms}}
rules:
  - id: root-success
    stream: auth
    when: event == "ssh_login" and outcome == "success" and user == "root" and host == "db-1"
    key: [src_ip]
    message: "root on ${host} from ${src_ip}"
YAML
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
bench_rate "stateless filter" "$n" "$tmp/alerts" \
    "$cepd" replay --rules "$tmp/rules.yaml" --stream auth "$tmp/events.jsonl"
