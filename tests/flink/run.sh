#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# FlinkCEP conformance: translate every case of flinkcep-cases.json into a
# cepd rule file and events, run `cepd replay`, compare the alerts with
# FlinkCEP's expected matches (see translate.py).  Prints one line per case
# and "N passed, N failed"; ids listed in known-failures.txt are reported as
# "xfail ID" and counted as passed.  Exits 77 (skip) only without python3.
# Extra arguments go to translate.py (case ids, --keep, --check, --show).
set -uo pipefail
top=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cepd=${CEPD:-cepd}
if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP: python3 not found"
    exit 77
fi
exec python3 "$top/tests/flink/translate.py" --cepd "$cepd" \
    --cases "$top/tests/flink/flinkcep-cases.json" \
    --known-failures "$top/tests/flink/known-failures.txt" "$@"
