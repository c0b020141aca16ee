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

struct cleat_snapshotter_ops {
    /* New active snapshot `key` on `parent` (NULL for none); its mounts go to ret_mounts. */
    int (*prepare)(void *instance, const char *key, const char *parent, const char *const *labels,
                   struct cleat_mount_list *ret_mounts, struct cleat_error **reterr);
    /* Like prepare, read-only. */
    int (*view)(void *instance, const char *key, const char *parent, const char *const *labels,
                struct cleat_mount_list *ret_mounts, struct cleat_error **reterr);
    /* The mounts of an existing active snapshot or view. */
    int (*mounts)(void *instance, const char *key, struct cleat_mount_list *ret_mounts, struct cleat_error **reterr);
    /* Turn active snapshot `key` into committed snapshot `name`; ALREADY_EXISTS if `name` exists. */
    int (*commit)(void *instance, const char *name, const char *key, const char *const *labels,
                  struct cleat_error **reterr);
    /* Remove a snapshot; FAILED_PRECONDITION while it is a parent of another. */
    int (*remove)(void *instance, const char *key, struct cleat_error **reterr);
    /* Report one snapshot through fn; NOT_FOUND if there is none. */
    int (*stat)(void *instance, const char *key, cleat_snapshot_fn fn, void *ctx, struct cleat_error **reterr);
    /* Report every snapshot through fn. */
    int (*walk)(void *instance, cleat_snapshot_fn fn, void *ctx, struct cleat_error **reterr);
    /* Disk use of one snapshot's own layer (not its parents). */
    int (*usage)(void *instance, const char *key, struct cleat_usage *ret_usage, struct cleat_error **reterr);
    /* Disk use of everything this instance stores, for ImageFsInfo. */
    int (*fs_usage)(void *instance, struct cleat_usage *ret_usage, struct cleat_error **reterr);
    /* Remove leftovers of interrupted operations. */
    int (*cleanup)(void *instance, struct cleat_error **reterr);
};

#ifdef __cplusplus
}
#endif

#endif /* CLEAT_SNAPSHOTTER_H */
