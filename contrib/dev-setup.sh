#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Set up a fresh Debian/Ubuntu machine for cepd and build it, then either
#   run   - run cepd on the bundled rules and sample events, printing alerts
#   test  - pass the whole test suite, plain and under ASan+UBSan (the
#           sanitized build also has checkpoint fault injection compiled in)
# Installs only what is missing (with sudo when not root).  Builds out of
# tree in build/plain and build/asan.
set -euo pipefail
mode=${1:-run}
case "$mode" in run|test) ;; *) echo "usage: $0 run|test" >&2; exit 2 ;; esac
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)

pkgs="build-essential autoconf automake autoconf-archive libtool pkg-config
      libpcre2-dev libyaml-dev libevent-dev libhiredis-dev libssl-dev check"
[ "$mode" = test ] && pkgs="$pkgs redis-server python3 openssl"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    echo "installing:$missing"
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi

[ -x configure ] || autoreconf -fi

build() { # build DIR CONFIGURE-ARGS...
    local dir=$1; shift
    mkdir -p "$dir"
    if [ ! -f "$dir/Makefile" ]; then
        (cd "$dir" && "$top/configure" -q --enable-werror "$@")
    fi
    make -s -C "$dir" -j"$jobs"
}

build build/plain
if [ "$mode" = run ]; then
    exec build/plain/cepd replay --rules rules \
        --stream auth rules/samples/auth.jsonl --stream web rules/samples/web.jsonl
fi

status=0
make -s -C build/plain -j"$jobs" check || status=1
build build/asan --enable-asan --enable-fault-injection
make -s -C build/asan -j"$jobs" check || status=1
echo "plain:"; tests/summary.sh build/plain
echo "asan+ubsan:"; tests/summary.sh build/asan
tests/summary.sh build/plain build/asan | tail -n 1
exit $status
