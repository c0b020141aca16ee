#!/usr/bin/env bash
# Make Debian's own amd64 kernel (vmlinuz + modules) available to
# tests/guest/run-in-guest.sh, without installing it on the host: installing
# linux-image-* would run its postinst (initramfs-tools, bootloader hooks) and
# pretend the host boots it.  We only `apt-get download` the package that
# linux-image-amd64 currently depends on and unpack it with `dpkg-deb -x`.
#
#   tests/guest/fetch-kernel.sh [DIR]
#
# DIR (default $CLEAT_GUEST_KERNEL_DIR, else /var/cache/cleat-tests/guest-kernel)
# gets one subdirectory per kernel version:
#   DIR/6.1.0-57-amd64/boot/vmlinuz-6.1.0-57-amd64
#   DIR/6.1.0-57-amd64/boot/config-6.1.0-57-amd64   (small; says what is built in)
#   DIR/6.1.0-57-amd64/lib/modules/6.1.0-57-amd64/...
# Idempotent: does nothing when that version is already there.  Prints the
# version directory on stdout (everything else goes to stderr).  Several
# callers at once are fine: a lock serialises them and the version directory
# appears atomically (unpacked beside it, then renamed).
set -euo pipefail

dir=${1:-${CLEAT_GUEST_KERNEL_DIR:-/var/cache/cleat-tests/guest-kernel}}
meta=linux-image-amd64

log() { echo "fetch-kernel: $*" >&2; }

# A version directory is complete when both the kernel and the module tree
# are in it (the rename below makes partial ones impossible, but a hand-made
# directory might be).
complete() {
    [[ -f $1/boot/vmlinuz-${1##*/} && -f $1/lib/modules/${1##*/}/modules.order ]]
}

# The versioned package the meta package points at, e.g. linux-image-6.1.0-57-amd64.
resolve() {
    apt-cache depends "$meta" 2>/dev/null |
        sed -n 's/^ *|\{0,1\}Depends: \(linux-image-[0-9][^ <>]*\)$/\1/p' | head -n 1
}

if [[ $(dpkg --print-architecture 2>/dev/null || true) != amd64 ]]; then
    log "needs an amd64 Debian host (the guest runs in qemu-system-x86_64)"
    exit 1
fi

pkg=$(resolve)
if [[ -z $pkg && $EUID -eq 0 ]]; then
    # A fresh or minimal system may have no package lists yet.
    log "no package lists know $meta; running apt-get update"
    apt-get update -qq >&2 || true
    pkg=$(resolve)
fi
if [[ -z $pkg ]]; then
    # Offline: any complete version already here is still good for tests.
    newest=$(find "$dir" -mindepth 1 -maxdepth 1 -type d ! -name '.*' 2>/dev/null | sort -V | tail -n 1)
    if [[ -n $newest ]] && complete "$newest"; then
        log "cannot resolve $meta; using the kernel already in $newest"
        echo "$newest"
        exit 0
    fi
    log "cannot resolve $meta (apt-cache depends $meta found no linux-image-* package)"
    exit 1
fi
ver=${pkg#linux-image-}
dest=$dir/$ver

if complete "$dest"; then
    echo "$dest"
    exit 0
fi

mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
# Someone else may have finished the same download while we waited.
if complete "$dest"; then
    echo "$dest"
    exit 0
fi

work=$(mktemp -d "$dir/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
# apt-get download drops privileges to _apt; let it write here, or it falls
# back to downloading unsandboxed as root with a warning.
if id _apt >/dev/null 2>&1; then
    chown _apt "$work"
fi
log "downloading $pkg"
(cd "$work" && apt-get download -q "$pkg" >&2)
debs=("$work"/*.deb)
[[ -f ${debs[0]} ]] || {
    log "apt-get download $pkg produced no .deb"
    exit 1
}
log "unpacking ${debs[0]##*/}"
dpkg-deb -x "${debs[0]}" "$work/root"
rm -f "${debs[@]}"

# Debian 12 puts modules in /lib/modules, later releases in /usr/lib/modules.
moddir=$work/root/lib/modules/$ver
[[ -d $moddir ]] || moddir=$work/root/usr/lib/modules/$ver
if [[ ! -f $work/root/boot/vmlinuz-$ver || ! -d $moddir ]]; then
    log "$pkg has no boot/vmlinuz-$ver or lib/modules/$ver"
    exit 1
fi
mkdir -p "$work/$ver/boot" "$work/$ver/lib/modules"
mv "$work/root/boot/vmlinuz-$ver" "$work/$ver/boot/"
if [[ -f $work/root/boot/config-$ver ]]; then
    mv "$work/root/boot/config-$ver" "$work/$ver/boot/"
fi
mv "$moddir" "$work/$ver/lib/modules/"
rm -rf "$dest"
mv -T "$work/$ver" "$dest"
log "kernel $ver in $dest"
echo "$dest"
