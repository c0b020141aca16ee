#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build the Debian packages (debian/) and install them into a fresh minimal
# Debian 12 root, where apt resolves their dependencies from the archive;
# then check that cleatd runs there and that its files are in place.  Run as
# root on Debian 12 (CI runs it from scripts/test.sh).
#
#   scripts/package-test.sh [OUT-DIR]
#
# The .debs and the build log are left in OUT-DIR (default
# /tmp/cleat-package).  The debootstrapped base root is cached as a tarball
# in $CLEAT_PACKAGE_CACHE (default /var/cache/cleat-package-test) and
# refreshed when older than a week; every run unpacks a clean copy of it.
# The .debs apt downloads into the root are kept there too.
# The mirror is $DEBIAN_MIRROR (default http://deb.debian.org/debian).
# Compiler warnings in the package build fail the run: the package is built
# without -Werror, so this is where they would otherwise go unseen.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
out=$(realpath -m "${1:-/tmp/cleat-package}")
cache=${CLEAT_PACKAGE_CACHE:-/var/cache/cleat-package-test}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm

./scripts/deps.sh --package

# Each step says how long it took.
step=
step_start=$SECONDS
phase() {
    [[ -n "$step" ]] && echo "    ($step: $((SECONDS - step_start)) s)"
    step=$1 step_start=$SECONDS
    [[ -n "$step" ]] && echo "--- $step"
    return 0
}

# --- build, in a copy: dpkg-buildpackage writes into the tree and its parent.
rm -rf "$out"
mkdir -p "$out/src"
if git rev-parse --git-dir >/dev/null 2>&1; then
    # What git tracks and what it would (the uncommitted work included), not build dirs.
    git ls-files -z --cached --others --exclude-standard |
        tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C "$out/src" -xf -
else
    tar -C "$src" --exclude='./build*' --exclude='./obj-*' -cf - . | tar -C "$out/src" -xf -
fi
phase "building the packages"
if ! (cd "$out/src" && timeout 30m dpkg-buildpackage -b -us -uc) >"$out/build.log" 2>&1; then
    tail -40 "$out/build.log"
    echo "package-test: dpkg-buildpackage failed; the log is $out/build.log" >&2
    exit 1
fi
if grep -E '^[^ ]+:[0-9]+:[0-9]+: warning:' "$out/build.log"; then
    echo "package-test: the package build warns (above); the log is $out/build.log" >&2
    exit 1
fi
rm -rf "$out/src"
debs=("$out"/cleat_*.deb "$out"/cleat-plugin-dev_*.deb)
for d in "${debs[@]}"; do
    echo "$(basename "$d"):"
    dpkg-deb --field "$d" Depends | sed 's/^/  Depends: /'
    dpkg-deb --contents "$d" | awk '$1 !~ /^d/ {print "  " $6 ($7 ? " " $7 " " $8 : "")}'
done

# --- a clean root
base=$cache/$suite-minbase.tar
if [[ ! -f "$base" ]] || [[ -n "$(find "$base" -mtime +7)" ]]; then
    phase "debootstrap $suite (cached in $base)"
    tmp=$(mktemp -d /var/tmp/cleat-debootstrap.XXXXXX)
    if ! timeout 20m debootstrap --variant=minbase "$suite" "$tmp" "$mirror" >"$out/debootstrap.log" 2>&1; then
        tail -20 "$out/debootstrap.log"
        rm -rf "$tmp"
        echo "package-test: debootstrap failed; the log is $out/debootstrap.log" >&2
        exit 1
    fi
    # The packages were built against this machine's libraries, which may
    # come from the updates and security suites.
    cat >"$tmp/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian}/debian-security $suite-security main
EOF
    rm -f "$tmp"/var/cache/apt/archives/*.deb
    mkdir -p "$cache"
    tar -C "$tmp" -cf "$base.new" .
    mv "$base.new" "$base"
    rm -rf "$tmp"
fi

root=$(mktemp -d /var/tmp/cleat-root.XXXXXX)
cleanup() {
    umount "$root/var/cache/apt/archives" 2>/dev/null || true
    umount "$root/proc" 2>/dev/null || true
    rm -rf --one-file-system "$root"
}
trap cleanup EXIT
phase "unpacking a clean root"
tar -C "$root" -xf "$base"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
# Downloaded .debs are kept between runs.
mkdir -p "$cache/archives/partial"
mount --bind "$cache/archives" "$root/var/cache/apt/archives"
mkdir "$root/debs"
cp "${debs[@]}" "$root/debs/"

phase "installing the packages in it (apt-get, with their dependencies)"
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
if ! timeout 15m chroot "$root" sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends pkg-config /debs/*.deb' \
    >"$out/install.log" 2>&1; then
    tail -30 "$out/install.log"
    echo "package-test: installing the packages failed; the log is $out/install.log" >&2
    exit 1
fi

phase "checking the installed packages"
# With man/ in the tree, cleatd(8) must be there: the unit's Documentation= names it.
expect_man=0
[[ -d "$src/man" ]] && expect_man=1
chroot "$root" /usr/bin/env EXPECT_MAN=$expect_man /bin/bash -euo pipefail -s <<'EOF'
fail() { echo "package-test: $*" >&2; exit 1; }
v=$(cleatd --version)
echo "cleatd --version: $v"
[[ "$v" == *"$(dpkg-query -W -f='${Version}' cleat)"* ]] || fail "cleatd --version says '$v', the package is $(dpkg-query -W -f='${Version}' cleat)"
# The embedded configuration names the installed plugins, shim and seccomp
# profile: checking it loads every plugin (their libraries resolve).
cleatd --check-config || fail "cleatd --check-config failed"
for f in /usr/libexec/cleat/cleat-shim /usr/libexec/cleat/cleat-pause /usr/bin/runc /usr/sbin/iptables /usr/lib/cni/bridge; do
    [[ -x "$f" ]] || fail "$f is missing"
done
for f in /lib/systemd/system/cleatd.service /etc/cleat/cleat.yaml.example /usr/share/cleat/seccomp-default.json \
    /usr/share/cleat/cni/10-cleat-bridge.conflist /etc/ssl/certs/ca-certificates.crt /usr/include/cleat/plugin.h; do
    [[ -f "$f" ]] || fail "$f is missing"
done
[[ -L /etc/systemd/system/multi-user.target.wants/cleatd.service ]] || fail "cleatd.service was not enabled"
# Every man page the package ships, and the one the unit names.
man=$(dpkg -L cleat | grep '^/usr/share/man/.*\.gz$' || true)
echo "man pages: ${man:-none}"
for m in $man; do gzip -t "$m" || fail "$m is broken"; done
if ((EXPECT_MAN)); then
    [[ -f /usr/share/man/man8/cleatd.8.gz ]] || fail "cleatd(8) is missing (the unit's Documentation= names it)"
fi
dir=$(pkg-config --variable=plugindir cleat-plugin)
[[ -f "$dir/runtime-runc.so" ]] || fail "cleat-plugin.pc's plugindir ($dir) holds no plugins"
echo "pkg-config --cflags --libs cleat-plugin: $(pkg-config --cflags --libs cleat-plugin)"
EOF
phase ""
echo "package-test: the packages install and run in a fresh $suite root; .debs in $out"
