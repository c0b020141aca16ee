/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cleat plugin SDK: the snapshotter concern.
 *
 * A snapshotter keeps layered filesystem snapshots, the way containerd's
 * snapshots.Snapshotter does: an *active* snapshot is prepared on a parent
 * (or on nothing) and is writable; committing it turns it into a read-only
 * *committed* snapshot under a new name that later snapshots can use as a
 * parent; a *view* is a read-only active snapshot.  Image layers become a
 * chain of committed snapshots (named by chain ID); a container's writable
 * layer is an active snapshot on the image's top layer.
 *
 * The snapshotter only answers with mounts (cleat_host.mount_add); whoever
 * needs the filesystem mounts them.  Keys are chosen by the core and are
 * unique within one instance.  Ops may be called concurrently; NULL ops
 * answer UNIMPLEMENTED.
 *
 * How the core writes a pulled layer into the active snapshot it prepared
 * for it ("extract-..." on the parent layer) depends only on the mounts
 * prepare() answered, so that a snapshotter need not say what it is:
 *   - one overlay mount with an upperdir= option: the layer goes into the
 *     upper directory alone, with whiteouts as overlayfs reads them (a 0/0
 *     character device; trusted.overlay.opaque=y on an opaque directory);
 *   - one bind mount (type "bind", or a bind/rbind option): its source is
 *     taken as the snapshot's whole tree, the parent's files included, and
 *     the layer is applied onto it (whiteouts delete);
 *   - one mount of anything else (a block device with a filesystem on it:
 *     {type "ext4", source "/dev/mapper/...", options [...]}): the core
 *     mounts it, detached and nosuid/nodev/noexec, applies the layer onto
 *     the whole filesystem, unmounts it, then calls commit().  Between
 *     prepare and commit nothing else uses the snapshot, and nothing stays
 *     mounted after commit is called.
 * Any other number of mounts is refused (FAILED_PRECONDITION).
 *
 * An overlay mount's options may take more than one page (a lowerdir= with
 * one entry per parent layer, up to overlayfs's 500), which is more than
 * mount(2) accepts.  The host mounts such options with the new mount API
 * (fsopen, then one fsconfig "lowerdir+" per layer; Linux 6.8), so a
 * snapshotter need not limit chains to what fits in a page, and whoever
 * mounts snapshot mounts outside the host must do the same.
 */
#ifndef CLEAT_SNAPSHOTTER_H
#define CLEAT_SNAPSHOTTER_H

#include <stdint.h>

#include <cleat/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLEAT_SNAPSHOT_VIEW 1
#define CLEAT_SNAPSHOT_ACTIVE 2
#define CLEAT_SNAPSHOT_COMMITTED 3

/* What stat() and walk() report about one snapshot; borrowed for the callback. */
struct cleat_snapshot_info {
    uint64_t struct_size;
    const char *key;
    const char *parent; /* NULL for a base snapshot */
    uint32_t kind;      /* CLEAT_SNAPSHOT_* */
    uint32_t reserved;
    int64_t created_ns;
    int64_t updated_ns;
    const char *const *labels; /* key, value, ..., NULL */
};

/* Disk use: bytes and inodes. */
struct cleat_usage {
    int64_t bytes;
    int64_t inodes;
};

/* Called once per snapshot; return non-zero to stop the walk. */
typedef int (*cleat_snapshot_fn)(void *ctx, const struct cleat_snapshot_info *info);

/*
 * Keys the core uses: "sha256:<chain id>" for a committed image layer,
 * "extract-<16 hex>" for the active snapshot a layer is unpacked into before
 * its commit, the container's 64-hex id for its writable layer, and
 * "volume-<container id>-<n>" for the views of its image volumes.
 *
 * Restart: snapshots are persistent (keep them under cleat_host.root_dir()
 * or the instance's own root) and must all be there, unchanged, after cleatd
 * is killed and started again.  An operation cut short by a crash must leave
 * either its result or nothing visible; its leftovers are removed at init()
 * or by cleanup().  After a restart the core removes the writable layers of
 * containers it has no record of, and, when it collects garbage, "extract-"
 * snapshots and layers no image uses.
 */
struct cleat_snapshotter_ops {
    /*
     * New active (writable) snapshot `key` on committed snapshot `parent`
     * (NULL for none); the mounts that show it go to ret_mounts.  A key in
     * use is ALREADY_EXISTS (so a second call fails and changes nothing); a
     * missing parent is NOT_FOUND; a parent that is not committed is
     * FAILED_PRECONDITION.  A failed prepare leaves nothing.
     */
    int (*prepare)(void *instance, const char *key, const char *parent, const char *const *labels,
                   struct cleat_mount_list *ret_mounts, struct cleat_error **reterr);
    /*
     * Like prepare, read-only: the mounts must not let anything be written.
     * Same answers for a key in use, a missing or uncommitted parent.  The
     * core makes one per image volume (a container's Mount.image), keyed
     * "volume-<container id>-<mount index>" on the image's top layer, and
     * removes it with the container (or, after a crash, when it finds no
     * container record for it).
     */
    int (*view)(void *instance, const char *key, const char *parent, const char *const *labels,
                struct cleat_mount_list *ret_mounts, struct cleat_error **reterr);
    /*
     * The mounts of an existing active snapshot or view, the same each time
     * (also after a restart); no side effects.  Missing: NOT_FOUND; a
     * committed snapshot has none: FAILED_PRECONDITION.  The core does not
     * call it yet.
     */
    int (*mounts)(void *instance, const char *key, struct cleat_mount_list *ret_mounts, struct cleat_error **reterr);
    /*
     * Turn active snapshot `key` into committed snapshot `name` (read-only
     * from now on, usable as a parent); `key` is then gone.  `labels`, when
     * not NULL, replace the snapshot's.  ALREADY_EXISTS if `name` exists,
     * and nothing changes: the core then takes the existing one (another
     * pull committed the same layer) and removes `key`.  Missing `key`:
     * NOT_FOUND, so a second call fails that way; a `key` that is not
     * active: FAILED_PRECONDITION.  A crash leaves `key` active or `name`
     * committed, never both or neither.
     */
    int (*commit)(void *instance, const char *name, const char *key, const char *const *labels,
                  struct cleat_error **reterr);
    /*
     * Remove a snapshot of any kind, with its files.  FAILED_PRECONDITION
     * while it is the parent of another (remove children first).  Missing,
     * or removed already: NOT_FOUND, which the core takes as done.  Once it
     * returns success the key is free again even if deleting the files has
     * to be finished later (by init() or cleanup() after a crash).
     */
    int (*remove)(void *instance, const char *key, struct cleat_error **reterr);
    /*
     * Report snapshot `key` through fn, once; NOT_FOUND if there is none
     * (a snapshot still being prepared does not count).  No side effects.
     */
    int (*stat)(void *instance, const char *key, cleat_snapshot_fn fn, void *ctx, struct cleat_error **reterr);
    /*
     * Report every snapshot through fn, once each, in no set order, until fn
     * returns non-zero.  Snapshots still being prepared are left out.  No
     * side effects; an empty instance reports nothing and succeeds.
     */
    int (*walk)(void *instance, cleat_snapshot_fn fn, void *ctx, struct cleat_error **reterr);
    /*
     * Disk use of one snapshot's own layer (not its parents), for container
     * stats; it may walk the tree, and the core caches the answer.  Missing
     * (or removed while measured): NOT_FOUND.
     */
    int (*usage)(void *instance, const char *key, struct cleat_usage *ret_usage, struct cleat_error **reterr);
    /* Disk use of everything this instance stores, for ImageFsInfo; no side effects. */
    int (*fs_usage)(void *instance, struct cleat_usage *ret_usage, struct cleat_error **reterr);
    /*
     * Remove leftovers of interrupted operations (half-prepared snapshots,
     * half-deleted files), never a snapshot that stat() would report.
     * Running it again finds nothing more to do.  The core does not call it
     * yet, so init() should clear what a crash left as well.
     */
    int (*cleanup)(void *instance, struct cleat_error **reterr);

    /* --- ABI 1.5 ----------------------------------------------------------- */

    /*
     * Optional: prepare() on a parent that is not committed yet, so that the
     * core can unpack a layer while the layer below it is still being
     * unpacked.  `parent` may be an active snapshot (prepared by either op
     * and not committed); a view is FAILED_PRECONDITION, a missing parent
     * NOT_FOUND, a key in use ALREADY_EXISTS (a second call changes nothing),
     * and a failed call leaves nothing, as for prepare().
     *
     * Offer it only if what it answers is one overlay mount with upperdir=:
     * the core writes the layer into that upper directory alone, which needs
     * nothing of the parent's files, and refuses any other answer (it
     * removes the snapshot and fails the pull with FAILED_PRECONDITION).
     * The core never mounts such a snapshot before its commit.
     *
     * The parent is the snapshot, not its key: when it is committed under a
     * new name, that name is this snapshot's parent.  commit() of this
     * snapshot answers FAILED_PRECONDITION, and changes nothing, while its
     * parent is not committed; remove() of the parent answers
     * FAILED_PRECONDITION while this snapshot exists, as for any parent.
     * After a restart, an active snapshot whose parent was never committed
     * may be gone: it held an unfinished unpack, which the core does again.
     */
    int (*prepare_ahead)(void *instance, const char *key, const char *parent, const char *const *labels,
                         struct cleat_mount_list *ret_mounts, struct cleat_error **reterr);
};

#ifdef __cplusplus
}
#endif

#endif /* CLEAT_SNAPSHOTTER_H */
