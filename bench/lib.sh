# SPDX-License-Identifier: Apache-2.0
# Shared by the benchmark scripts (sourced, not run).
# bench_rate LABEL N_LINES OUT_FILE CMD...: runs CMD 5 times with stdout to
# OUT_FILE and prints events/s as the median of the 5 runs, with min, max
# and the peak RSS of the last run.
bench_rate() {
    local label=$1 n=$2 out=$3 start end rss
    shift 3
    local rates=()
    rss=$(mktemp)
    for _ in 1 2 3 4 5; do
        start=$(date +%s.%N)
        /usr/bin/time -f '%M' -o "$rss" "$@" > "$out"
        end=$(date +%s.%N)
        rates+=("$(echo "$n / ($end - $start)" | bc -l)")
    done
    local sorted
    sorted=$(printf '%s\n' "${rates[@]}" | sort -g)
    printf '%s: %d lines, %d output lines\n' "$label" "$n" "$(wc -l < "$out")"
    printf '  events/s: median %.0f  (min %.0f, max %.0f)  peak RSS %s KiB\n' \
        "$(echo "$sorted" | sed -n 3p)" "$(echo "$sorted" | head -1)" \
        "$(echo "$sorted" | tail -1)" "$(cat "$rss")"
    rm -f "$rss"
}
