/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Performing the mounts that snapshotters describe (cleat/mount.h).
 *
 * Options are in mount(8) form, one per element.  The generic ones become
 * mount flags: ro/rw, nosuid/suid, nodev/dev, noexec/exec, sync/async,
 * dirsync, mand/nomand, [no]atime, [no]diratime, [no]relatime,
 * [no]strictatime, [no]lazytime, [no]symfollow, silent/loud, defaults, the
 * propagation modes ([r]private, [r]shared, [r]slave, [r]unbindable), and
 * bind/rbind.  Everything else is the filesystem's own data ("size=64m",
 * "lowerdir=...") and may not contain a ','.
 *
 *   bind (type "bind", or any type with a bind/rbind option): MS_BIND, MS_REC
 *     for rbind; ro, nosuid, nodev, noexec and the atime options are applied
 *     by a second, remounting bind (to the bind itself, not to the submounts
 *     an rbind brings along), which keeps the nosuid, nodev and noexec the
 *     source mount already had.  A bind takes no data options.
 *   overlay: mount(2) when the data fits in one page (the most mount(2)
 *     copies); otherwise the new mount API (fsopen, fsconfig, fsmount,
 *     move_mount, Linux 6.8 for "lowerdir+"), which has no such limit: each
 *     layer of lowerdir= is passed on its own as "lowerdir+" (top-most first;
 *     after a "::", as "datadir+"), with the classic '\' escapes undone.  A
 *     single value there must be shorter than 256 bytes (fsconfig's limit).
 *   anything else: mount(2); data longer than a page is refused.
 *
 * Propagation options are applied after the mount.  A mount that fails half
 * way (mounted, then its remount or propagation change failed) is detached
 * again before the error is returned: on failure nothing stays mounted.
 * Errors name the target and the failing option; a kernel without fsopen
 * gives FAILED_PRECONDITION.
 */
#ifndef CLEAT_CORE_MOUNT_UTIL_H
#define CLEAT_CORE_MOUNT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <cleat/mount.h>

#include "error.h"

/* Mount m at `target` (absolute; m->target is ignored).  Needs CAP_SYS_ADMIN. */
int mount_apply(const struct cleat_mount *m, const char *target, struct cleat_error **reterr);

/*
 * How a mount is idmapped for a pod with its own user namespace: the ids
 * of the files are seen through that namespace's maps (a file the host's
 * root owns is owned by the pod's root), so that the pod needs no chown of
 * its image.  `userns_fd` is an open user namespace (borrowed); root_uid
 * and root_gid are the host ids of its root.
 */
struct mount_idmap {
    int userns_fd;
    uint32_t root_uid, root_gid;
};

/*
 * mount_apply, idmapped (Linux >= 6.13 for an overlay):
 *   bind: a copy of the source (with rbind, of every mount below it too:
 *     open_tree), idmapped (mount_setattr MOUNT_ATTR_IDMAP), then ro and the
 *     like on the copy itself, attached at `target`;
 *   overlay: the kernel cannot idmap an overlay itself, so each lower layer
 *     is an idmapped copy of its directory handed to the new mount API by
 *     descriptor; the upper layer is not idmapped (what the pod writes lands
 *     with its host ids) and its top directory, the pod's "/", is given to
 *     root_uid:root_gid (one chown, nothing below it);
 *   anything else: made with the new mount API, idmapped before it is
 *     attached.
 * A file system that cannot be idmapped (or a mount below an rbind's source
 * that cannot) is FAILED_PRECONDITION naming the path; nothing stays
 * mounted on failure.  The idmapped mount is an ordinary mount to remove:
 * unmount_tree.
 */
int mount_apply_idmapped(const struct cleat_mount *m, const char *target, const struct mount_idmap *idmap,
                         struct cleat_error **reterr);

/*
 * Mount m nowhere: a detached mount (open_tree for a bind, fsopen and
 * fsmount for anything else), reached only through the descriptor put in
 * *ret_fd (O_CLOEXEC; use it as a directory fd: openat(*ret_fd, ...) works
 * below the mount's root).  Nothing is attached to any mount point, so
 * nothing propagates to a peer mount namespace, nothing shows in
 * /proc/self/mountinfo, and a crashed process leaves no mount behind.
 * Closing the descriptor unmounts it once nothing else (an fd opened below
 * it, a child that inherited one) holds it; with nothing else holding it,
 * the filesystem is shut down (written back) before close() returns.
 * Options as for mount_apply; propagation options mean nothing here and are
 * ignored; m->target is ignored.  On failure nothing is mounted.
 */
int mount_detached(const struct cleat_mount *m, int *ret_fd, struct cleat_error **reterr);

/*
 * Mount m[0..n) in order below `target`: each at target/m[i].target, or at
 * target itself when m[i].target is NULL, "" or "/".  Targets may not hold
 * ".." components and must exist.  On failure, the mounts made so far are
 * detached again.
 */
int mount_all(const struct cleat_mount *m, size_t n, const char *target, struct cleat_error **reterr);
/* The same with every mount idmapped (mount_apply_idmapped). */
int mount_all_idmapped(const struct cleat_mount *m, size_t n, const char *target, const struct mount_idmap *idmap,
                       struct cleat_error **reterr);

/*
 * Detach (umount2 MNT_DETACH) everything mounted at `target`, including mounts
 * stacked on it and mounts below it.  A target that is not a mount point, or
 * does not exist, is success.  Symlinks at `target` are not followed.
 */
int unmount_tree(const char *target, struct cleat_error **reterr);

/*
 * Whether this kernel makes a mount and every mount below it read-only in
 * one step (mount_setattr with AT_RECURSIVE and MOUNT_ATTR_RDONLY, Linux
 * 5.12), which is what a runtime does for a recursive read-only bind
 * ("rro").  Tried on a detached copy of the mount at `dir` (an existing
 * directory): nothing is mounted or changed, and calling it again gives the
 * same answer.  0 when it works; FAILED_PRECONDITION saying why not.
 */
int mount_recursive_ro_probe(const char *dir, struct cleat_error **reterr);

#endif
