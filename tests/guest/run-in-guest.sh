#!/usr/bin/env bash
# Run a command as root inside a throw-away qemu guest that boots Debian's own
# kernel (tests/guest/fetch-kernel.sh), for tests that need kernel features
# the host lacks (device-mapper thin pools: the CI host's kernel has no
# device-mapper) or that must not touch the host's kernel state.
#
#   tests/guest/run-in-guest.sh [--timeout SEC] [--mem MIB] [--cpus N]
#       [--workdir DIR] [--env NAME=VALUE]... [--out DIR] [--share DIR]...
#       -- CMD [ARGS...]
#
# The guest sees the host's / read-only over virtio-9p, so it runs the build
# tree's binaries and the host's tools and libraries as they are; /tmp,
# /var/tmp, /run, /var/lib and /root are guest-private tmpfs.  An out dir
# (--out DIR, else a fresh temporary one; CMD finds it in $CLEAT_GUEST_OUT) is
# shared read-write at the same path, for files the caller reads afterwards.
# CMD's stdout/stderr arrive on ours.
#
# Exit status: CMD's; 124 on timeout; 77 ("SKIPPED: ...") when qemu or the
# guest kernel is missing; 125 when the guest could not run CMD; 2 on usage
# errors.  See tests/guest/README.md (debugging: CLEAT_GUEST_SHELL=1,
# CLEAT_GUEST_KEEP=1, CLEAT_GUEST_VERBOSE=1).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog=run-in-guest

usage() {
    cat >&2 <<'EOF'
usage: tests/guest/run-in-guest.sh [--timeout SEC] [--mem MIB] [--cpus N]
           [--workdir DIR] [--env NAME=VALUE]... [--out DIR] [--share DIR]...
           -- CMD [ARGS...]
EOF
    exit 2
}
log() { echo "$prog: $*" >&2; }
die() {
    log "$*"
    exit 125
}
skip() {
    echo "SKIPPED: $*" >&2
    exit 77
}

timeout=${CLEAT_GUEST_TIMEOUT:-600}
timeout_set=${CLEAT_GUEST_TIMEOUT:+1}
# One vCPU by default: each is a host thread under TCG, cross-vCPU work
# (IPIs, TLB shootdowns, module text patching) is slow there, and parallel
# test runs (ctest -j2 on a 2-core host) would otherwise oversubscribe.
cpus=${CLEAT_GUEST_CPUS:-1}
mem=${CLEAT_GUEST_MEM:-2048}
workdir=$(pwd -P)
out=
envs=()
shares=()
while (($#)); do
    case "$1" in
    --timeout) timeout=${2?} timeout_set=1; shift 2 ;;
    --timeout=*) timeout=${1#*=} timeout_set=1; shift ;;
    --mem) mem=${2?}; shift 2 ;;
    --mem=*) mem=${1#*=}; shift ;;
    --cpus) cpus=${2?}; shift 2 ;;
    --cpus=*) cpus=${1#*=}; shift ;;
    --workdir) workdir=${2?}; shift 2 ;;
    --workdir=*) workdir=${1#*=}; shift ;;
    --env) envs+=("${2?}"); shift 2 ;;
    --env=*) envs+=("${1#*=}"); shift ;;
    --out) out=${2?}; shift 2 ;;
    --out=*) out=${1#*=}; shift ;;
    --share) shares+=("${2?}"); shift 2 ;;
    --share=*) shares+=("${1#*=}"); shift ;;
    --) shift; break ;;
    -h | --help) usage ;;
    *) usage ;;
    esac
done
(($#)) || usage
[[ $timeout =~ ^[0-9]+$ && $mem =~ ^[0-9]+$ && $cpus =~ ^[1-9][0-9]*$ ]] ||
    { log "--timeout, --mem and --cpus take numbers"; exit 2; }
for e in "${envs[@]}"; do
    [[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || { log "--env wants NAME=VALUE, not '$e'"; exit 2; }
done

shell=${CLEAT_GUEST_SHELL:-0}
verbose=${CLEAT_GUEST_VERBOSE:-0}
keep=${CLEAT_GUEST_KEEP:-0}

t_start=$EPOCHREALTIME

# ---- what we need from the host ------------------------------------------

qemu=${CLEAT_GUEST_QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null ||
    skip "$qemu not found (apt-get install --no-install-recommends qemu-system-x86)"

# A kernel version directory as fetch-kernel.sh makes them: the newest
# complete one, fetched on first use unless CLEAT_GUEST_NO_FETCH=1.
kroot=${CLEAT_GUEST_KERNEL_DIR:-/var/cache/cleat-tests/guest-kernel}
kernel_ok() { [[ -f $1/boot/vmlinuz-${1##*/} && -f $1/lib/modules/${1##*/}/modules.order ]]; }
find_kernel() {
    local d
    printf '%s\n' "$kroot"/*/ | sed 's,/$,,' | sort -V | while read -r d; do
        if kernel_ok "$d"; then echo "$d"; fi
    done | tail -n 1
}
kdir=${CLEAT_GUEST_KERNEL:-$(find_kernel)}
if [[ -z $kdir && ${CLEAT_GUEST_NO_FETCH:-0} != 1 && $EUID -eq 0 ]]; then
    log "no guest kernel in $kroot yet; fetching it"
    kdir=$("$here/fetch-kernel.sh" "$kroot") || kdir=
fi
if [[ -z $kdir ]] || ! kernel_ok "$kdir"; then
    skip "no guest kernel in ${kdir:-$kroot} (run tests/guest/fetch-kernel.sh or scripts/deps.sh --test)"
fi
kver=${kdir##*/}
vmlinuz=$kdir/boot/vmlinuz-$kver
moddir=$kdir/lib/modules/$kver

command -v readelf >/dev/null || die "readelf not found (apt-get install binutils)"
busybox=${CLEAT_GUEST_BUSYBOX:-/bin/busybox}
[[ -x $busybox ]] || die "$busybox not found (apt-get install busybox-static)"
# The initramfs has no libc: a dynamically linked busybox would not start.
if [[ $(readelf -l "$busybox" 2>/dev/null) == *"program interpreter"* ]]; then
    die "$busybox is dynamically linked; the guest needs busybox-static"
fi

# ---- private state ----------------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cleat-guest.XXXXXX")
qpid=
catpid=
# Ends our qemu, by its pid: politely, then not.
stop_qemu() {
    local i
    kill -TERM "$qpid" 2>/dev/null || return 0
    for i in 1 2 3 4 5 6 7 8 9 10; do
        kill -0 "$qpid" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -KILL "$qpid" 2>/dev/null || true
}
# shellcheck disable=SC2317 # reached through the traps
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP PIPE
    if [[ -n $qpid ]]; then stop_qemu; fi
    if [[ -n $catpid ]]; then kill "$catpid" 2>/dev/null || true; fi
    if [[ $keep == 1 ]]; then
        log "kept $tmp"
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

# ---- the initramfs: busybox, /init and the modules, cached ----------------

cache=${CLEAT_GUEST_CACHE:-$kdir/cache}
if ! mkdir -p "$cache" 2>/dev/null || [[ ! -w $cache ]]; then
    cache=$tmp # read-only kernel cache: build privately, every time
fi
# Cache files appear whole: written beside their final name, then renamed,
# so concurrent runs see either nothing or a complete file.
publish() { # tmp file, final name
    chmod 644 "$1"
    mv -f "$1" "$2"
}

# Booting the bzImage spends ~3 s of TCG time in its xz decompressor, before
# the kernel even starts.  qemu can instead load the uncompressed ELF kernel
# and enter it through its PVH entry point (Debian's has CONFIG_PVH), so
# unpack that once per kernel (needs xz-utils: busybox's unxz lacks the x86
# BCJ filter).  Any failure (not xz-compressed, no PVH note) just leaves the
# bzImage in use; a marker avoids retrying.
# CLEAT_GUEST_PVH=0 boots the bzImage anyway.
kernel=$vmlinuz
pvh=$cache/vmlinux-$kver
if [[ ! -f $pvh && ! -f $pvh.none && $cache != "$tmp" ]] && command -v xz >/dev/null; then
    part=$(mktemp "$cache/.vmlinux.XXXXXX")
    # The offset of the xz magic: the stream starts there.
    off=$(LC_ALL=C grep -obUaP -m1 '\xfd7zXZ\x00' "$vmlinuz" 2>/dev/null | cut -d: -f1) || off=
    off=${off%%$'\n'*}
    if [[ -n $off ]] &&
        xz -dc --single-stream < <(tail -c +$((off + 1)) "$vmlinuz") >"$part" 2>/dev/null &&
        [[ $(readelf -n "$part" 2>/dev/null) =~ Xen[^$'\n']*(\(0x00000012\)|PHYS32) ]]; then
        publish "$part" "$pvh"
    else
        rm -f "$part"
        : >"$pvh.none"
    fi
fi
[[ -f $pvh && ${CLEAT_GUEST_PVH:-1} != 0 ]] && kernel=$pvh

# What the guest must have, by module name; their dependencies come along.
# First what it needs to mount the host's root (virtio-pci, 9p)...
want_boot=(virtio_pci 9pnet_virtio 9p)
# ...then the rest, which can load while it does that.  crc32c_generic stands
# for the "crypto-crc32c" soft dependency of ext4 and libcrc32c (xfs,
# dm-persistent-data): without a loaded crc32c they fail to load, and the
# guest has no modprobe to fetch one on demand.
want=(crc32c_generic dm_mod dm_thin_pool loop ext4 xfs overlay)
# shellcheck disable=SC2206 # a space-separated list of module names
want+=(${CLEAT_GUEST_MODULES:-})

mkdir -p "$tmp/ko"
# The module's file as insmod can take it: distributions after Debian 12
# compress them, and busybox insmod in the guest should not have to care.
plain_ko() { # name, path under $moddir
    local f=$moddir/$2 o=$tmp/ko/$1.ko
    case "$f" in
    *.ko) echo "$f" ;;
    *.xz) xz -dc "$f" >"$o" && echo "$o" ;;
    *.zst) zstd -qdc "$f" >"$o" && echo "$o" ;;
    *.gz) gzip -dc "$f" >"$o" && echo "$o" ;;
    *) return 1 ;;
    esac
}

# The load order ("name path-under-moddir boot|rest|&" lines, dependencies
# first) only depends on the wanted sets: a kernel's module tree never
# changes.  Working it out reads ~4000 file names and a few dozen .modinfo
# sections, so it is cached as well (the "3" is this file's format).
modlist=$cache/modules-$(printf '%s\n' 3 "$kver" "${want_boot[@]}" / "${want[@]}" | sha256sum | cut -c1-16).list
if [[ ! -f $modlist ]]; then
    declare -A modpath=() builtin=() state=()
    while IFS= read -r f; do
        m=${f##*/}
        m=${m%%.ko*}
        modpath[${m//-/_}]=$f
    done < <(cd "$moddir" && find kernel -name '*.ko' -o -name '*.ko.*')
    if [[ -f $moddir/modules.builtin ]]; then
        while IFS= read -r f; do
            m=${f##*/}
            m=${m%.ko}
            builtin[${m//-/_}]=1
        done <"$moddir/modules.builtin"
    fi
    resolved=()
    declare -A needed=()
    # Depth first, dependencies before dependents: that is insmod order.
    visit() {
        local m=${1//-/_} f d deps
        [[ -n ${builtin[$m]:-} || ${state[$m]:-} == loaded ]] && return 0
        [[ ${state[$m]:-} == busy ]] && die "module dependency cycle at $m"
        [[ -n ${modpath[$m]:-} ]] || die "module $m not in $moddir"
        state[$m]=busy
        f=$(plain_ko "$m" "${modpath[$m]}") || die "cannot read module ${modpath[$m]}"
        deps=$(readelf -p .modinfo "$f" | sed -n 's/^ *\[ *[0-9a-f]*\]  depends=//p')
        for d in ${deps//,/ }; do
            needed[${d//-/_}]=1
            visit "$d"
        done
        state[$m]=loaded
        resolved+=("$m ${modpath[$m]} $phase")
    }
    phase=boot
    for m in "${want_boot[@]}"; do
        visit "$m"
    done
    phase=rest
    for m in "${want[@]}"; do
        visit "$m"
    done
    # Modules that no other one needs load in parallel in the guest (xfs
    # alone takes a second under TCG): mark them "&".  Not crc32c_generic,
    # which others need through their soft dependency.
    for i in "${!resolved[@]}"; do
        read -r m f phase <<<"${resolved[$i]}"
        if [[ $phase == rest && -z ${needed[$m]:-} && $m != crc32c_generic ]]; then
            resolved[i]="$m $f &"
        fi
    done
    part=$(mktemp "$cache/.modules.XXXXXX")
    printf '%s\n' "${resolved[@]}" >"$part"
    publish "$part" "$modlist"
fi

# Rebuilt whenever /init, busybox, the kernel or the module set changes.
key=$(
    {
        echo "$kver"
        cat "$modlist"
        sha256sum <"$here/guest-init.sh"
        sha256sum <"$busybox"
    } | sha256sum | cut -c1-16
)
initrd=$cache/initramfs-$key.cpio
if [[ ! -f $initrd ]]; then
    stage=$tmp/initramfs
    mkdir -p "$stage/bin" "$stage/lib/modules"
    cp "$busybox" "$stage/bin/busybox"
    install -m 755 "$here/guest-init.sh" "$stage/init"
    while read -r m f how; do
        f=$(plain_ko "$m" "$f") || die "cannot read module $f"
        cp "$f" "$stage/lib/modules/$m.ko"
        echo "$how $m.ko" >>"$stage/lib/modules/order"
    done <"$modlist"
    part=$(mktemp "$cache/.initramfs.XXXXXX")
    (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) >"$part" ||
        die "cannot write the initramfs $part"
    publish "$part" "$initrd"
    rm -rf "$stage"
    # Drop archives of older module sets or init versions (not ones that a
    # run which started a minute ago may be about to hand to qemu).
    find "$cache" -maxdepth 1 -name 'initramfs-*.cpio' ! -name "${initrd##*/}" -mmin +60 -delete 2>/dev/null || true
fi
rm -rf "$tmp/ko"

# ---- what the guest runs ----------------------------------------------------

ctl=$tmp/ctl
mkdir -p "$ctl"
out=${out:-$tmp/out}
mkdir -p "$out" 2>/dev/null || [[ -d $out ]] || die "--out $out is not a directory"
out=$(cd "$out" && pwd -P)
workdir=$(cd "$workdir" 2>/dev/null && pwd -P) || die "--workdir $workdir does not exist"

# POSIX sh single quoting: the command line reaches the guest in a file, so
# any bytes but NUL pass unchanged.
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
under() { [[ $1 == "$2" || $1 == "$2"/* ]]; }

# Host directories that the guest's tmpfs mounts would hide but the caller
# needs: --share DIRs, and the workdir unless it is in the out dir (which is
# mounted last, read-write, at its own path).
masked=(/tmp /var/tmp /run /var/lib /root)
keep_visible() {
    local p=$1 m
    [[ $p != *$'\n'* ]] || die "cannot share a path with a newline: $p"
    for m in "${masked[@]}"; do
        if [[ $p != "$m" ]] && under "$p" "$m"; then
            printf '%s\n' "$p" >>"$ctl/shares"
            return
        fi
    done
}
: >"$ctl/shares"
for s in "${shares[@]}"; do
    s=$(cd "$s" 2>/dev/null && pwd -P) || die "--share $s is not a directory"
    keep_visible "$s"
done
under "$workdir" "$out" || keep_visible "$workdir"
[[ $out != *$'\n'* ]] || die "the out dir's path has a newline"
echo "out=$(q "$out")" >"$ctl/config"

{
    echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    echo "export HOME=/root TMPDIR=/tmp LANG=C.UTF-8 TERM=${TERM:-dumb}"
    echo "export CLEAT_GUEST=1 CLEAT_GUEST_OUT=$(q "$out")"
    # No udev in the guest: libdevmapper (dmsetup, lvm) must make its
    # /dev/mapper nodes itself instead of waiting for udev rules to.
    echo "export DM_DISABLE_UDEV=1"
    # The sanitizers' settings of the suite that runs us (scripts/test.sh
    # exports them for its ASan+UBSan build) hold for the guest's
    # programs too; their suppression files are host paths the guest sees.
    for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
        [[ -n ${!v:-} ]] && echo "export $v=$(q "${!v}")"
    done
    for e in "${envs[@]}"; do
        echo "export $(q "$e")"
    done
    echo "cd $(q "$workdir") || exit 125"
} >"$ctl/env.sh"
{
    cat "$ctl/env.sh"
    printf 'exec'
    for a in "$@"; do
        printf ' %s' "$(q "$a")"
    done
    echo
} >"$ctl/cmd.sh"
{
    cat "$ctl/env.sh"
    echo 'if [ -x /bin/bash ]; then exec /bin/bash -i; else exec /bin/sh -i; fi'
} >"$ctl/shell.sh"

# ---- boot ---------------------------------------------------------------------

append="console=ttyS1 panic=-1 rdinit=/init mitigations=off"
if [[ $verbose == 1 ]]; then
    append+=" loglevel=7 cleat.verbose=1"
else
    append+=" quiet loglevel=3"
fi
[[ $shell == 1 ]] && append+=" cleat.shell=1"
# Extra kernel parameters, for debugging (e.g. initcall_debug).
append+=${CLEAT_GUEST_APPEND:+ $CLEAT_GUEST_APPEND}

# ttyS1 (the command's stderr, the kernel console) comes through a fifo so it
# lands on our stderr, apart from ttyS0 on our stdout.  A write-only "file"
# chardev: a "pipe" one would open the fifo read-write and read back (and
# so lose) part of what it wrote.
mkfifo "$tmp/ttyS1"
cat "$tmp/ttyS1" >&2 &
catpid=$!

# A value inside a qemu option list: a comma in it is written twice.
optval() { printf '%s' "${1//,/,,}"; }
fs9p() { # tag, host path, extra -fsdev options
    qargs+=(-fsdev "local,id=$1,path=$(optval "$2"),security_model=passthrough$3")
    qargs+=(-device "virtio-9p-pci,fsdev=$1,mount_tag=$1")
}
# shellcheck disable=SC2054 # the commas are qemu's
qargs=(
    -nodefaults -no-user-config -display none -no-reboot
    -machine q35 -accel tcg,thread=multi -cpu max -smp "$cpus" -m "$mem"
    -kernel "$kernel" -initrd "$initrd" -append "$append"
    -chardev stdio,id=s0,signal=off -serial chardev:s0
    -chardev "file,id=s1,path=$(optval "$tmp/ttyS1")" -serial chardev:s1
)
# The host root may span several filesystems (and stray mounts): remap
# their inode numbers so the guest never sees two files with one inode.
fs9p hostroot / ,readonly=on,multidevs=remap
fs9p cleatctl "$ctl" ""
fs9p cleatout "$out" ,multidevs=remap
[[ $verbose == 1 ]] && log "$qemu ${qargs[*]}"

# Should we die without a chance to clean up (SIGKILL from a test driver's
# own timeout), qemu must not run on: the kernel kills it for us.
pdeath=()
if [[ $(setpriv --help 2>/dev/null) == *--pdeathsig* ]]; then
    pdeath=(setpriv --pdeathsig KILL --)
fi
t_qemu=$EPOCHREALTIME
if [[ $shell == 1 ]]; then
    "${pdeath[@]}" "$qemu" "${qargs[@]}" <&0 &
else
    "${pdeath[@]}" "$qemu" "${qargs[@]}" </dev/null &
fi
qpid=$!

# Wait for qemu to end, or the deadline; note when the command started.
t_cmd=
deadline=
# An interactive shell waits for a person: no deadline unless one was given.
if ((timeout > 0)) && [[ $shell != 1 || -n $timeout_set ]]; then
    deadline=$((${t_start%.*} + timeout))
fi
timed_out=0
while kill -0 "$qpid" 2>/dev/null; do
    if [[ -z $t_cmd && -e $ctl/started ]]; then
        t_cmd=$EPOCHREALTIME
    fi
    if [[ -n $deadline ]] && ((${EPOCHREALTIME%.*} >= deadline)); then
        timed_out=1
        stop_qemu
        break
    fi
    sleep 0.1
done
qrc=0
wait "$qpid" || qrc=$?
qpid=
[[ -z $t_cmd && -e $ctl/started ]] && t_cmd=$EPOCHREALTIME
t_end=$EPOCHREALTIME

# Let cat drain ttyS1: a momentary writer of our own ends its wait for one
# if qemu never opened the fifo, and EOF follows when we close it.
exec {nudge}<>"$tmp/ttyS1"
exec {nudge}>&-
wait "$catpid" 2>/dev/null || true
catpid=

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fs", b - a }'; }
times="total $(secs "$t_start" "$t_end")"
if [[ -n $t_cmd ]]; then
    times="boot $(secs "$t_qemu" "$t_cmd") (guest uptime $(cat "$ctl/started")s), command $(secs "$t_cmd" "$t_end"), $times"
fi

if [[ -f $ctl/status ]]; then
    rc=$(<"$ctl/status")
    ((timed_out)) && log "the command ended but the guest did not power off within ${timeout}s"
    log "$times; exit status $rc"
    exit "$rc"
fi
if ((timed_out)); then
    log "TIMEOUT: the guest ran longer than ${timeout}s ($times)"
    exit 124
fi
if [[ -f $ctl/failed ]]; then
    log "the guest could not run the command: $(<"$ctl/failed") ($times)"
else
    log "the guest did not run the command (qemu exit status $qrc; $times)"
fi
exit 125
