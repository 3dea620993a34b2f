#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make install` and `make uninstall` (Makefile.am, install-data-local):
# with Debian's directories under DESTDIR, exactly the expected files (the
# binary, both man pages, /etc/cepd/cepd.yaml, the rule packs in
# /etc/cepd/rules.d, the logrotate file, the systemd unit, the sysusers
# file, /var/lib/cepd); a changed cepd.yaml is kept on reinstall (the new
# one beside it as .dist) and on uninstall, which removes everything else;
# installed under another prefix, the config, unit and logrotate file name
# that prefix's paths, `cepd check -c` accepts the installed config and
# `systemd-analyze verify` the installed unit (when available).
# Tested by: make check
set -u
: "${TOP_BUILDDIR:?TOP_BUILDDIR must name the build directory}"
: "${TOP_SRCDIR:?TOP_SRCDIR must name the source directory}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cepd-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok - $1"; }
bad() { echo "FAIL - $1"; fail=1; }
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}
# mk TARGET VAR=VALUE...: make in the build tree, quietly, alone (not as
# part of the make check that runs us), bounded in time.
mk() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL timeout 120 \
        make -s -C "$TOP_BUILDDIR" "$@" > "$tmp/make.out" 2>&1 || { cat "$tmp/make.out"; return 1; }
}
debian="prefix=/usr sysconfdir=/etc localstatedir=/var runstatedir=/run \
    systemdsystemunitdir=/lib/systemd/system sysusersdir=/usr/lib/sysusers.d"
dest=$tmp/dest

# shellcheck disable=SC2086
check "make install DESTDIR=... succeeds" mk install DESTDIR="$dest" $debian
{
    echo ./etc/cepd/cepd.yaml
    for f in "$TOP_SRCDIR"/rules/*.yaml; do
        case $f in *.test.yaml) continue ;; esac
        echo "./etc/cepd/rules.d/$(basename "$f")"
    done
    echo ./etc/logrotate.d/cepd
    echo ./lib/systemd/system/cepd.service
    echo ./usr/bin/cepd
    echo ./usr/lib/sysusers.d/cepd.conf
    echo ./usr/share/man/man5/cepd.yaml.5
    echo ./usr/share/man/man8/cepd.8
} | sort > "$tmp/want"
(cd "$dest" && find . -type f | sort) > "$tmp/got"
check "exactly the expected files are installed" diff -u "$tmp/want" "$tmp/got"
check "the state directory exists" test -d "$dest/var/lib/cepd"
check "the binary runs" "$dest/usr/bin/cepd" --version
check "cepd.yaml is the shipped one (paths already Debian's)" \
    cmp "$TOP_SRCDIR/etc/cepd.yaml" "$dest/etc/cepd/cepd.yaml"
check "the unit is the shipped one" \
    cmp "$TOP_SRCDIR/contrib/systemd/cepd.service" "$dest/lib/systemd/system/cepd.service"
check "the logrotate file is the shipped one" \
    cmp "$TOP_SRCDIR/contrib/cepd.logrotate" "$dest/etc/logrotate.d/cepd"
check "installed files are not world-writable or executable (but the binary)" \
    test -z "$(find "$dest" -type f \( -perm -o+w -o \( -perm -u+x ! -name cepd \) \))"

# An operator's cepd.yaml survives reinstall and uninstall.
echo "# changed by the operator" >> "$dest/etc/cepd/cepd.yaml"
# shellcheck disable=SC2086
check "reinstalling succeeds" mk install DESTDIR="$dest" $debian
check "... keeping the changed cepd.yaml" grep -q "changed by the operator" "$dest/etc/cepd/cepd.yaml"
check "... with the new one beside it" cmp "$TOP_SRCDIR/etc/cepd.yaml" "$dest/etc/cepd/cepd.yaml.dist"
# shellcheck disable=SC2086
check "make uninstall succeeds" mk uninstall DESTDIR="$dest" $debian
(cd "$dest" && find . -type f | sort) > "$tmp/got"
check "uninstall leaves only the changed cepd.yaml" \
    diff -u <(echo ./etc/cepd/cepd.yaml) "$tmp/got"
check "... and removes the empty directories it made" test ! -e "$dest/etc/cepd/rules.d"

# Another prefix: the paths inside follow it, and the result works.
root=$tmp/root
check "make install prefix=... succeeds" mk install prefix="$root" \
    systemdsystemunitdir="$root/lib/systemd/system" sysusersdir="$root/lib/sysusers.d"
check "the config names the installed rules" \
    grep -q "^rules: \[$root/etc/cepd/rules.d/\*.yaml\]" "$root/etc/cepd/cepd.yaml"
check "cepd check -c accepts the installed config" \
    "$root/bin/cepd" check -c "$root/etc/cepd/cepd.yaml"
check "the unit starts the installed binary with the installed config" \
    grep -qx "ExecStart=$root/bin/cepd run -c $root/etc/cepd/cepd.yaml" \
    "$root/lib/systemd/system/cepd.service"
check "the logrotate file names the prefix's log directory" \
    grep -q "^$root/var/log/cepd/cepd.log $root/var/log/cepd/alerts.jsonl {" "$root/etc/logrotate.d/cepd"
if command -v systemd-analyze > /dev/null; then
    check "systemd-analyze verify accepts the installed unit" \
        systemd-analyze verify --man=no "$root/lib/systemd/system/cepd.service"
else
    echo "ok - systemd-analyze not installed: unit not verified"
fi
check "make uninstall prefix=... succeeds" mk uninstall prefix="$root" \
    systemdsystemunitdir="$root/lib/systemd/system" sysusersdir="$root/lib/sysusers.d"
check "... leaving no file behind" test -z "$(find "$root" -type f)"
exit "$fail"
