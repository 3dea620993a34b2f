#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Count test cases across the logs of one or more build dirs after
# `make check`: Check programs report "Checks: N, Failures: F, Errors: E";
# script runners print "N passed, N failed"; any other test counts as one.
# Prints one line per test program and a final "N passed, N failed".
set -euo pipefail
passed=0; failed=0
for dir in "$@"; do
    while IFS= read -r trs; do
        log=${trs%.trs}.log
        result=$(sed -n 's/^:test-result: //p' "$trs" | head -n 1)
        checks=$(grep -Eo 'Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$log" | tail -n 1 || true)
        counts=$(grep -Eo '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
        if [[ $checks =~ ^Checks:\ ([0-9]+),\ Failures:\ ([0-9]+),\ Errors:\ ([0-9]+) ]]; then
            n=${BASH_REMATCH[1]}; f=${BASH_REMATCH[2]}; e=${BASH_REMATCH[3]}
            p=$((n - f - e)); x=$((f + e))
        elif [[ $counts =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
            p=${BASH_REMATCH[1]}; x=${BASH_REMATCH[2]}
        elif [ "$result" = PASS ] || [ "$result" = SKIP ]; then
            p=1; x=0
        else
            p=0; x=1
        fi
        # A program that crashed after printing its counts still failed.
        if [ "$result" != PASS ] && [ "$result" != SKIP ] && [ "$x" -eq 0 ]; then x=1; fi
        printf '  %-40s %s passed, %s failed\n' "${trs#"$dir"/}" "$p" "$x"
        passed=$((passed + p)); failed=$((failed + x))
    done < <(find "$dir" -name '*.trs' | sort)
done
echo "$passed passed, $failed failed"
