#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Workload 7 of issue 7: sshd auth-log correlation, cepd against SEC and
# Sagan on the same generated raw syslog lines (RFC 3164, as in
# /var/log/auth.log), and cepd also on the same events as JSON lines.
# Three correlations (bench/authlog/rules.yaml, *.sec, *.rules): one alert
# per root login; 5 failed passwords from one address within 60 s; a
# failure followed by a success from the same address within 120 s.  Each
# engine runs each correlation alone (cepd also all three at once); each
# row is the median of RUNS runs (min, max) in lines/s, the peak RSS, the
# alert count (min-max over the runs when it varies), the reference count
# (bench/authlog/ref.py, on the log's timestamps) and, for Sagan, the lines
# it dropped.  cepd reads both inputs with `cepd replay -c`: raw lines
# with `--format syslog` and a `--pattern` on msg (the decoding of a
# `format: syslog` source), JSON lines as they are.  SEC and Sagan window on the
# wall clock, cepd and the reference on event time (see docs/performance.md).
# Usage: bench/authlog.sh CEPD_BINARY [N_LINES [RUNS [PEER_RUNS]]]
#   N_LINES default 1000000; RUNS default 5 (cepd); PEER_RUNS default RUNS.
#   Installs sec and sagan with apt-get when missing and run as root;
#   otherwise says how and skips them.  Exits 1 if a cepd count differs
#   from the reference.
# Tested by: running it (make bench).
set -euo pipefail
cepd=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
n=${2:-1000000}
runs=${3:-5}
peer_runs=${4:-$runs}
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$top/bench/authlog
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cepd-authlog.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
corrs=(root brute failok)
declare -A rule_id=([root]=root-login [brute]=ssh-brute-force [failok]=ssh-fail-then-success)

# --- peers -------------------------------------------------------------------
have_sec=1 have_sagan=1
command -v sec > /dev/null || have_sec=0
command -v sagan > /dev/null || [ -x /usr/sbin/sagan ] || have_sagan=0
if [ $have_sec = 0 ] || [ $have_sagan = 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
        echo "authlog: installing sec and sagan (apt-get install -y sec sagan)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q sec sagan > "$tmp/apt.log" 2>&1 ||
            { tail -5 "$tmp/apt.log" >&2; echo "authlog: apt-get failed" >&2; }
        have_sec=1 have_sagan=1
        command -v sec > /dev/null || have_sec=0
        [ -x /usr/sbin/sagan ] || command -v sagan > /dev/null || have_sagan=0
    else
        echo "authlog: SEC or Sagan missing; install them with" \
             "'sudo apt-get install -y sec sagan' (Debian/Ubuntu). Skipping the missing peers." >&2
    fi
fi
sagan_bin=$(command -v sagan || echo /usr/sbin/sagan)
[ $have_sec = 1 ] || echo "authlog: SEC not installed: skipped" >&2
[ $have_sagan = 1 ] || echo "authlog: Sagan not installed: skipped" >&2
# Debian's package starts a Sagan daemon on the FIFO; without -Q one of
# its threads spins on a core, which would skew every figure here.
if pgrep -x sagan > /dev/null 2>&1; then
    echo "authlog: warning: a sagan daemon is running and may take a core;" \
         "stop it first (systemctl stop sagan)" >&2
fi
if [ $have_sagan = 1 ] && ! command -v script > /dev/null; then
    echo "authlog: script(1) (util-linux) missing: Sagan skipped" >&2
    have_sagan=0
fi

# --- input and reference -----------------------------------------------------
python3 "$dir/gen.py" "$n" "$tmp/auth.log" "$tmp/auth.jsonl"
# Sagan reads only its pipe format: host|facility|priority|level|tag|date|
# time|program|message.  Converted here, outside the timed runs.
awk 'BEGIN { split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", m, " ");
             for (i = 1; i <= 12; i++) mon[m[i]] = i }
     { tag = $5; sub(/:$/, "", tag); prog = tag; sub(/\[.*/, "", prog);
       msg = $0; sub(/^[^:]*:[^:]*:[^:]*: /, "", msg);
       printf "10.255.0.1|auth|info|info|%s|2026-%02d-%02d|%s|%s|%s\n",
              tag, mon[$1], $2, $3, prog, msg }' "$tmp/auth.log" > "$tmp/auth.pipe"
python3 "$dir/ref.py" "$n" > "$tmp/ref"
declare -A ref
while read -r k v; do ref[$k]=$v; done < "$tmp/ref"

# cepd configs for `cepd replay -c`: raw lines (stream time = the syslog
# timestamp), JSON lines (stream time = ts); one per correlation (the
# others disabled) and one with all three.
pattern='^(?<outcome>Failed|Accepted) (?<method>\S+) for (?:invalid user )?(?<user>\S+) from (?<src_ip>\S+) port (?<port>\d+)'
for c in all "${corrs[@]}"; do
    dis=""
    if [ "$c" != all ]; then
        for o in "${corrs[@]}"; do [ "$o" = "$c" ] || dis="$dis${dis:+, }${rule_id[$o]}"; done
    fi
    cat > "$tmp/raw-$c.yaml" <<EOF
disable_rules: [$dis]
streams:
  auth: {time: {field: timestamp, max_out_of_orderness: 0s}}
EOF
    cat > "$tmp/json-$c.yaml" <<EOF
disable_rules: [$dis]
streams:
  auth: {time: {field: ts, unit: s, max_out_of_orderness: 0s}}
EOF
done

# --- one run of each engine: sets wall (s), rss (KiB), alerts, dropped ------
wall=0 rss=0 alerts=0 dropped=-
timed() { # OUT CMD...: run CMD with stdout to OUT, set wall and rss
    local out=$1 s e
    shift
    s=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$tmp/rss" "$@" > "$out"
    e=$(date +%s.%N)
    wall=$(echo "$e - $s" | bc -l)
    rss=$(tail -1 "$tmp/rss")
}
count_rule() { # FILE CORR: alerts of CORR's rule in cepd output
    if [ "$2" = all ]; then wc -l < "$1"; else grep -c "\"rule\":\"${rule_id[$2]}\"" "$1" || true; fi
}
run_cepd_raw() {
    TZ=UTC timed "$tmp/out" "$cepd" replay -c "$tmp/raw-$1.yaml" --rules "$dir/rules.yaml" \
        --stream auth --format syslog --pattern "$pattern" "$tmp/auth.log"
    alerts=$(count_rule "$tmp/out" "$1") dropped=-
}
run_cepd_json() {
    timed "$tmp/out" "$cepd" replay -c "$tmp/json-$1.yaml" --rules "$dir/rules.yaml" \
        --stream auth "$tmp/auth.jsonl"
    alerts=$(count_rule "$tmp/out" "$1") dropped=-
}
run_sec() {
    timed "$tmp/out" sec --conf="$dir/$1.sec" --input="$tmp/auth.log" --notail --log=/dev/null
    alerts=$(wc -l < "$tmp/out") dropped=-
}
run_sagan() {
    # A fresh state directory per run: Sagan keeps its counters, "after"
    # state and xbits in mmap files that survive restarts.  Its statistics
    # (lines processed, dropped) go to the terminal and to sagan.log.
    local st=$tmp/sagan-state
    rm -rf "$st"
    mkdir -p "$st/ipc"
    sed -e "s|@STATE@|$st|g" -e "s|@RULES@|$dir/$1.rules|" "$dir/sagan.yaml.in" > "$st/sagan.yaml"
    timed "$tmp/out" script -qec "$sagan_bin -Q -u $(id -un) -f $st/sagan.yaml -F $tmp/auth.pipe -l $st/sagan.log" /dev/null
    local processed
    processed=$(sed -n 's/.*Events processed *: *\([0-9]*\).*/\1/p' "$st/sagan.log" | head -1)
    alerts=$(sed -n 's/.*Alerts *: *\([0-9]*\).*/\1/p' "$st/sagan.log" | head -1)
    dropped=$(sed -n 's/.*Dropped *: *\([0-9]*\).*/\1/p' "$st/sagan.log" | head -1)
    if [ "${processed:-0}" != "$n" ]; then
        echo "authlog: Sagan processed ${processed:-?} of $n lines" >&2
    fi
    : "${alerts:=?}" "${dropped:=?}"
}

# --- measure -----------------------------------------------------------------
fail=0
results=$tmp/results
: > "$results"
measure() { # ENGINE CORR RUNS
    local eng=$1 c=$2 k=$3 rates=() al=() dr=() i sorted
    for ((i = 0; i < k; i++)); do
        "run_$eng" "$c"
        rates+=("$(echo "$n / $wall" | bc -l)")
        al+=("$alerts")
        dr+=("$dropped")
    done
    sorted=$(printf '%s\n' "${rates[@]}" | sort -g)
    local med lo hi amin amax dmin dmax want
    med=$(echo "$sorted" | sed -n "$(((k + 1) / 2))p")
    lo=$(echo "$sorted" | head -1)
    hi=$(echo "$sorted" | tail -1)
    amin=$(printf '%s\n' "${al[@]}" | sort -n | head -1)
    amax=$(printf '%s\n' "${al[@]}" | sort -n | tail -1)
    dmin=$(printf '%s\n' "${dr[@]}" | sort -n | head -1)
    dmax=$(printf '%s\n' "${dr[@]}" | sort -n | tail -1)
    if [ "$c" = all ]; then
        want=$((ref[root] + ref[brute] + ref[failok]))
    else
        want=${ref[$c]}
    fi
    local acol=$amin dcol=$dmin
    [ "$amin" = "$amax" ] || acol="$amin-$amax"
    [ "$dmin" = "$dmax" ] || dcol="$dmin-$dmax"
    case $eng in
        cepd_*) if [ "$amin" != "$want" ] || [ "$amax" != "$want" ]; then fail=1; fi ;;
    esac
    printf '%-10s %-7s %9.0f  (%.0f-%.0f)  %7s KiB  alerts %-11s ref %-6s dropped %s  [%d runs]\n' \
        "$eng" "$c" "$med" "$lo" "$hi" "$rss" "$acol" "$want" "$dcol" "$k"
    printf '%s %s %.0f\n' "$eng" "$c" "$med" >> "$results"
}

echo "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) vCPU;" \
    "load:$(uptime | sed 's/.*load average://')"
echo "auth-log workload: $n lines ($(wc -c < "$tmp/auth.log") bytes raw," \
    "$(wc -c < "$tmp/auth.jsonl") bytes JSON); reference: $(tr '\n' ' ' < "$tmp/ref")"
echo "engine     corr     lines/s   (min-max)        peak RSS   alerts       reference  Sagan dropped"
for c in all "${corrs[@]}"; do measure cepd_raw "$c" "$runs"; done
for c in all "${corrs[@]}"; do measure cepd_json "$c" "$runs"; done
if [ $have_sec = 1 ]; then
    echo "sec: $(sec --version 2>&1 | head -1)"
    for c in "${corrs[@]}"; do measure sec "$c" "$peer_runs"; done
fi
if [ $have_sagan = 1 ]; then
    echo "sagan: $(dpkg-query -W -f '${Version}' sagan 2>/dev/null || echo '?')"
    for c in "${corrs[@]}"; do measure sagan "$c" "$peer_runs"; done
fi
echo "load after:$(uptime | sed 's/.*load average://')"
# cepd on raw lines against each peer, per correlation (target: >= 20x).
for c in "${corrs[@]}"; do
    line="ratio $c: cepd raw"
    for p in sec sagan; do
        v=$(awk -v p=$p -v c="$c" '$1 == p && $2 == c {print $3}' "$results")
        r=$(awk -v c="$c" '$1 == "cepd_raw" && $2 == c {print $3}' "$results")
        [ -z "$v" ] || line="$line = $(echo "$r / $v" | bc -l | xargs printf '%.1f')x $p,"
    done
    echo "${line%,}"
done
if [ $fail = 1 ]; then
    echo "authlog: a cepd alert count differs from the reference" >&2
    exit 1
fi
