#!/bin/busybox sh
# shellcheck shell=dash
# /init of the initramfs that tests/guest/run-in-guest.sh builds and boots.
#
# It runs under the static busybox only (nothing else is in the initramfs but
# the kernel modules), loads the modules, mounts the host's root (virtio-9p,
# read-only) at /newroot with guest-private proc/sys/dev/tmpfs/cgroup2 mounts
# inside it, runs the command in a chroot there and powers off.
#
# What the host side hands over:
#   /lib/modules/order   module files to insmod, dependencies first, each
#                        after "boot", "rest" or "&" (see below)
#   9p tag "cleatctl"    private control directory, mounted at /ctl:
#       config     sh assignments: out=<absolute host path of the out dir>
#       shares     host directories (one per line) under the tmpfs-masked
#                  places that must stay visible (e.g. a workdir in /tmp)
#       cmd.sh     the command (cd, environment, exec), run by sh -c
#       shell.sh   the same environment, then an interactive shell
#     and what it gets back: started (uptime when the command starts),
#     status (its exit status), failed (why it could not run).
#   9p tag "cleatout"    the out dir, mounted read-write at its host path
#   9p tag "hostroot"    the host's /, read-only
#   kernel command line  cleat.verbose=1 (trace, keep kernel messages),
#                        cleat.shell=1 (interactive shell after the command)
# Console: ttyS0 is the command's stdout (host stdout), ttyS1 its stderr and
# the kernel console (host stderr).

# /sbin, /usr/bin, /usr/sbin: for the links busybox --install makes.
/bin/busybox mkdir -p /dev /proc /sys /newroot /ctl /saved /sbin /usr/bin /usr/sbin
/bin/busybox mount -t devtmpfs devtmpfs /dev
# Our own messages go where the kernel's do: ttyS1, the host's stderr.
exec </dev/null >/dev/ttyS1 2>&1
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys

verbose=0
shell=0
read -r cmdline </proc/cmdline
for arg in $cmdline; do
    case "$arg" in
    cleat.verbose=1) verbose=1 ;;
    cleat.shell=1) shell=1 ;;
    esac
done
[ "$verbose" = 1 ] && set -x

# With the console in raw-output mode the host sees plain \n line ends, as
# from a local command; an interactive shell (host terminal in raw mode)
# needs the usual \r\n.
if [ "$shell" != 1 ]; then
    stty -F /dev/ttyS0 -onlcr 2>/dev/null
    stty -F /dev/ttyS1 -onlcr 2>/dev/null
fi

off() {
    sync
    # Closing our last handle on the serial ports waits until what is still
    # queued in them has gone out to the host; power off only after that.
    exec >/dev/null 2>&1 </dev/null
    # Not even "reboot: Power down" on the host's stderr, unless verbose.
    [ "$verbose" = 1 ] || echo 0 >/proc/sys/kernel/printk
    poweroff -f
    # Not reached unless ACPI power-off failed.
    echo o >/proc/sysrq-trigger
    sleep 10
}

fail() {
    echo "guest-init: $*"
    [ -d /ctl ] && echo "$*" >/ctl/failed 2>/dev/null
    echo "guest-init: kernel log tail:"
    dmesg | tail -n 40
    off
}

# "boot" modules (virtio, 9p) are needed right away and "rest" ones by the
# ones after them; nothing needs the "&" ones, so they load in parallel, in
# the background, while we mount things (insmod of xfs alone takes a second
# under TCG).  The command waits for them.
bg=
while read -r how ko; do
    if [ "$how" = "&" ]; then
        { insmod "/lib/modules/$ko" || echo "$ko" >>/modfail; } &
        bg="$bg $!"
    else
        insmod "/lib/modules/$ko" || fail "insmod $ko failed"
    fi
done </lib/modules/order

# 9p options: the largest message size the virtio transport takes (fewer
# round trips through the slow TCG-emulated device); 9p2000.L for POSIX
# semantics.  The read-only root may cache freely (nobody writes through this
# view); the read-write shares must not, so the host sees writes at once.
p9='trans=virtio,version=9p2000.L,msize=512000'
mount9p() {
    # The virtio devices were probed when the modules loaded; a few retries
    # only paper over a slow probe.
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        mount -t 9p -o "$p9,$3" "$1" "$2" 2>/dev/null && return 0
        sleep 0.2
    done
    mount -t 9p -o "$p9,$3" "$1" "$2" || fail "mount of 9p share $1 at $2 failed"
}
mount9p cleatctl /ctl cache=none
out=
# shellcheck source=/dev/null # written by run-in-guest.sh
. /ctl/config
[ -n "$out" ] || fail "no out dir in /ctl/config"
mount9p hostroot /newroot ro,cache=loose

n=/newroot
# Directories that become guest-private tmpfs; host directories that the
# caller needs under them are bind-mounted aside first and put back after.
i=0
if [ -s /ctl/shares ]; then
    while IFS= read -r p; do
        i=$((i + 1))
        mkdir -p "/saved/$i"
        mount -o bind "$n$p" "/saved/$i" || fail "cannot keep $p visible"
    done </ctl/shares
fi

mount -t proc proc $n/proc || fail "mount proc"
mount -t sysfs sysfs $n/sys || fail "mount sysfs"
mount -t cgroup2 cgroup2 $n/sys/fs/cgroup || fail "mount cgroup2"
mount -t devtmpfs devtmpfs $n/dev || fail "mount devtmpfs"
mkdir -p $n/dev/pts $n/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $n/dev/pts || fail "mount devpts"
mount -t tmpfs -o mode=1777 tmpfs $n/dev/shm || fail "mount /dev/shm"
# devtmpfs has none of these; bash's <(...) and many scripts need /dev/fd.
ln -sf /proc/self/fd $n/dev/fd
ln -sf /proc/self/fd/0 $n/dev/stdin
ln -sf /proc/self/fd/1 $n/dev/stdout
ln -sf /proc/self/fd/2 $n/dev/stderr
for d in /tmp:1777 /var/tmp:1777 /run:755 /var/lib:755 /root:700; do
    mount -t tmpfs -o "mode=${d#*:}" tmpfs "$n${d%:*}" || fail "mount tmpfs at ${d%:*}"
done
mkdir -p $n/run/lock && chmod 1777 $n/run/lock

i=0
if [ -s /ctl/shares ]; then
    while IFS= read -r p; do
        i=$((i + 1))
        mkdir -p "$n$p"
        mount -o move "/saved/$i" "$n$p" || fail "cannot put $p back"
    done </ctl/shares
fi

mkdir -p "$n$out"
mount9p cleatout "$n$out" cache=none

# shellcheck disable=SC2086 # a list of pids
[ -n "$bg" ] && wait $bg
[ -s /modfail ] && fail "insmod failed: $(cat /modfail)"

hostname cleat-guest
ip link set lo up 2>/dev/null

# Run "$@" as root of the host's tree: in a mount namespace of its own where
# /newroot (with everything mounted in it) is moved onto / and then chrooted
# into, as switch_root does.  A bare chroot into /newroot would leave the
# initramfs at the namespace's root, and a process that joins a mount
# namespace lands at its root: `runc exec` into a container (whose rootfs
# runc pivots in at the place of the current root) would find the initramfs
# instead of the container's files.
printf '#!/bin/sh\ncd /newroot && mount --move . / && exec chroot . "$@"\n' >/in-root
chmod 755 /in-root
in_root() { unshare -m --propagation private /in-root "$@"; }

cmd=$(cat /ctl/cmd.sh) || fail "no /ctl/cmd.sh"
if [ "$shell" = 1 ]; then cmdin=/dev/ttyS0; else cmdin=/dev/null; fi
cut -d' ' -f1 /proc/uptime >/ctl/started
set +x
# env -i: the command sees only what cmd.sh exports, not the kernel's
# leftovers (TERM=linux, BOOT_IMAGE, ...) nor ours.
in_root /usr/bin/env -i /bin/sh -c "$cmd" <"$cmdin" >/dev/ttyS0 2>/dev/ttyS1
rc=$?
[ "$verbose" = 1 ] && set -x
echo "$rc" >/ctl/status
sync

if [ "$shell" = 1 ]; then
    echo "guest-init: command exited with $rc; shell on the console (exit it to power off)"
    # setsid, then opening the port: the shell gets it as its controlling
    # terminal, so job control and ^C work.
    # shellcheck disable=SC2016 # $1 is for the inner sh
    setsid sh -c 'exec unshare -m --propagation private /in-root /usr/bin/env -i /bin/sh -c "$1" <>/dev/ttyS0 >&0 2>&0' \
        sh "$(cat /ctl/shell.sh)"
fi
off
