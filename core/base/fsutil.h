/* SPDX-License-Identifier: Apache-2.0 */
/* Small file-system helpers shared by the core. */
#ifndef CLEAT_CORE_FSUTIL_H
#define CLEAT_CORE_FSUTIL_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "error.h"

/* mkdir -p: create `path` and missing parents with `mode`; an existing directory is fine. */
int mkdir_p(const char *path, mode_t mode, struct cleat_error **reterr);

/*
 * A directory only cleatd may reach into (its root, state, pod and container
 * dirs): created with exactly `mode` when missing (missing parents 0755 less
 * the umask, as `mkdir -p -m` does), and when it exists, owned by cleatd's user and
 * tightened to at most `mode` (bits outside `mode` are cleared, none is
 * added): a tree left by an older cleat, with 0711 or 0755 where 0700 is
 * wanted now, is closed at start-up without walking it.  A symlink at `path`
 * is followed (an admin may move /var/lib/cleat elsewhere).  Returns 1 when
 * it tightened an existing directory (*ret_old_mode, if given, says from
 * what), 0 when nothing had to change, negative on failure (not a
 * directory, another owner).
 */
int fsutil_private_dir(const char *path, mode_t mode, mode_t *ret_old_mode, struct cleat_error **reterr);

/*
 * The same for the existing entry `name` of directory `dirfd` (a pod's or a
 * container's dir), without following a symlink and without creating it.
 * Returns 1 when tightened, 0 when already tight or not a directory
 * (nothing cleat made), -errno when it cannot be opened or changed.
 */
int fsutil_tighten_dir_at(int dirfd, const char *name, mode_t mode, mode_t *ret_old_mode);

/*
 * Open `rel` under the directory `rootfd` for reading, the way cleatd must
 * open anything an image supplies (its /etc/passwd, /etc/group, ...):
 *  - resolved as if rootfd were "/" (openat2 RESOLVE_IN_ROOT: an image's
 *    absolute and ".." symlinks stay inside), without magic links and
 *    without crossing a mount point;
 *  - first reached with O_PATH, which runs no driver's open() and does not
 *    block on a FIFO, and checked with fstat: anything but a regular file is
 *    refused there, never opened (a character device in an image would
 *    otherwise have cleatd, as root, open that host device);
 *  - then reopened through /proc/self/fd with O_RDONLY | O_NOCTTY |
 *    O_NONBLOCK | O_CLOEXEC, and checked to be the same inode.
 * Returns the fd, or -errno: -ENOENT, -ENOTDIR, -ELOOP or -EXDEV when `rel`
 * cannot be reached inside the root, -EINVAL when it is not a regular file
 * (*ret_st then says what it is).  *ret_st is the file's stat on success.
 */
int fsutil_open_regular_in_root(int rootfd, const char *rel, struct stat *ret_st);

/*
 * The path of `rel` inside the directory `root`, resolved the way an image
 * path must be: as if `root` were "/" (openat2 RESOLVE_IN_ROOT | NO_MAGICLINKS
 * | NO_XDEV: absolute and ".." symlinks stay inside, no other mount is
 * entered), then named by the kernel (/proc/self/fd) and checked to lie at or
 * below `root`.  Only sound when nothing can change the tree meanwhile (a
 * read-only view of an image): the path is resolved once, not held.
 * `rel` "" or "." is `root` itself.  *ret_path is malloc'd; *ret_st (may be
 * NULL) gets its stat.  Returns 0 or -errno: -ENOENT, -ENOTDIR, -ELOOP,
 * -EXDEV when `rel` cannot be reached inside the root.
 */
int fsutil_resolve_in_root(const char *root, const char *rel, char **ret_path, struct stat *ret_st);

/* "a directory", "a character device", "a FIFO", ... for messages about a file of type `mode`. */
const char *fsutil_type_name(mode_t mode);

/*
 * rm -rf that never leaves its file system: a mount point met on the way
 * (a container rootfs still mounted by mistake) is not descended into, so
 * its contents are never deleted; the removal of that branch then fails
 * with EBUSY.  An absent `path` is success.
 */
int rm_tree(const char *path, struct cleat_error **reterr);

/*
 * Write `len` bytes to `path` through a temporary file, fsync and rename:
 * the file is old or new, never half, even after a power cut.  Called twice,
 * the second content wins.  A leftover "<path>.tmp" is replaced.
 */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct cleat_error **reterr);

/*
 * write_file_atomic() without the fsync, for files under the state dir
 * (config.json, a pod's hosts, hostname and resolv.conf): readers and a
 * cleatd killed at any point still see the old file or the new one, never
 * half, since the page cache outlives the process.  Only a power cut or a
 * kernel crash can lose the content, and that also ends every container
 * the file was written for; the state dir is meant to be cleared by a boot
 * (/run).  The fsync cost 0.3-0.8 ms per file on a disk-backed /run.
 */
int write_state_file(const char *path, const void *data, size_t len, mode_t mode, struct cleat_error **reterr);

/*
 * Read a whole regular file of at most max_len bytes into a NUL-terminated
 * malloc'd buffer.  Reads to EOF: /proc and cgroup files report size 0.
 */
int read_file(const char *path, size_t max_len, char **ret, size_t *ret_len, struct cleat_error **reterr);

/*
 * Read at most `size` bytes of an open regular file (its size, as fstat
 * said: the caller checked it against its own limit) into a NUL-terminated
 * malloc'd buffer; stops early at EOF or on a read error, so a file that
 * shrank meanwhile gives what is left.  The length in *ret_len (may be
 * NULL).  NULL only when out of memory.  Leaves fd open.
 */
char *read_fd_sized(int fd, size_t size, size_t *ret_len);

#endif
