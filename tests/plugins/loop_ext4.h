/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-loop-ext4: a snapshotter whose snapshots are filesystems on block
 * devices, for the tests of the core's unpack-into-mounts path on a host
 * without device-mapper.  Each snapshot is an ext4 image file, attached to
 * a loop device while it is active or a view; its mounts are
 * `{type: ext4, source: /dev/loopN}`, the shape storage-devmapper's are.
 * Built for the tests only, never installed.
 *
 * On disk, under the instance root (host->root_dir()):
 *
 *   base.img           an empty ext4 (mkfs.ext4, lost+found removed), made once
 *   snapshots/<id>/    one snapshot: `image` (its ext4) and `meta` (meta below)
 *   tmp/<id>/          a snapshot being made; renamed into snapshots/ when complete
 *   trash/<id>/        a snapshot being removed; renamed out of snapshots/ first
 *
 * prepare and view copy the parent's image (or base.img), sparse, into
 * tmp/, write meta, attach a loop device (read-only for a view) and rename
 * the directory into snapshots/: a crash leaves either nothing visible or
 * the whole snapshot.  commit detaches the device and rewrites meta in one
 * rename (new key, committed).  remove renames into trash/, detaches and
 * deletes.  init removes tmp/ and trash/ leftovers and detaches loop devices
 * of images that are not active snapshots or views; the device of an
 * active one is found again by the image's inode (LOOP_GET_STATUS64), or
 * attached anew after a reboot.  One mutex serialises every op: a test
 * snapshotter need not be fast, only right.
 */
#ifndef TEST_LOOP_EXT4_H
#define TEST_LOOP_EXT4_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Sparse copy of src to dst (created 0600, must not exist): only the data extents (SEEK_DATA/SEEK_HOLE). -errno. */
int lx_copy_sparse(int dirfd, const char *src, const char *dst);

/*
 * The loop device bound to the file at dirfd/path, or 0 when none is:
 * its number in *ret_n.  -errno on failure.
 */
int lx_loop_find(int dirfd, const char *path, int *ret_n);
/* Bind a free loop device to dirfd/path (read-only when ro): its number in *ret_n.  -errno. */
int lx_loop_attach(int dirfd, const char *path, int ro, int *ret_n);
/* Unbind loop device n (once nothing uses it: the kernel clears it on its last close).  -errno; -ENXIO: unbound. */
int lx_loop_detach(int n);
/* Detach every loop device bound to a file below directory `dir` (realpath'ed) whose path `keep` rejects. */
void lx_loop_detach_unkept(const char *dir, int (*keep)(void *ctx, const char *backing), void *ctx);

/*
 * Used bytes and inodes of the ext4 in the image dirfd/path, read from its
 * superblock (as of its last unmount or sync).  -errno; -EINVAL when it is
 * not ext4.
 */
int lx_ext4_used(int dirfd, const char *path, int64_t *ret_bytes, int64_t *ret_inodes);

#endif
