/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bookkeeping of a snapshotter whose snapshots are numbered directories
 * under its root, each with a small `meta` file (storage-devmapper, and the
 * tests' test-loop-ext4): an in-memory table, the meta file's format, the
 * checks on keys and labels and the answers stat() and walk() give.  What a
 * snapshot *is* (a thin device, an image file) stays in the plugin.
 *
 * The layout such a plugin keeps, relative to its root:
 *
 *   snapshots/<id>/   one snapshot: `meta` and whatever the plugin keeps
 *   tmp/<id>/         a snapshot being made; renamed into snapshots/ whole
 *   trash/<id>/       a snapshot being removed; renamed out of snapshots/ first
 *
 * `meta` is "field<TAB>value" lines (key, parent, kind, created, updated,
 * used_bytes, used_inodes, label): keys and labels may not hold a tab or a
 * newline, which plugin_snaps_check() refuses before anything is written.
 * The table takes no lock: the plugin holds its own around every call.
 */
#ifndef PLUGIN_SNAPS_H
#define PLUGIN_SNAPS_H

#include <stddef.h>
#include <stdint.h>

#include <cleat/snapshotter.h>

struct plugin_snap {
    uint64_t id; /* the directory's number: never given again while a trace of it is on disk */
    char *key;
    char *parent;  /* NULL for none */
    uint32_t kind; /* CLEAT_SNAPSHOT_* */
    int64_t created, updated;
    /* What the plugin measured when it was committed, in its own terms (0: not measured). */
    int64_t used_bytes, used_inodes;
    char **labels; /* key, value, ..., NULL; never NULL */
};

struct plugin_snaps {
    struct plugin_snap **v;
    size_t n, cap;
    uint64_t next_id; /* above every id in the table and in tmp/ and trash/ when loaded */
};

/*
 * A new snapshot record (not in any table): `next_id` of the table, kind,
 * key, parent (NULL: none), a copy of labels (NULL: none), created = updated
 * = now.  NULL when out of memory.
 */
struct plugin_snap *plugin_snap_new(const struct plugin_snaps *t, uint32_t kind, const char *key, const char *parent,
                                    const char *const *labels);
void plugin_snap_free(struct plugin_snap *s);

/* The largest id plugin_snaps_load() takes: a directory name past it is not one of ours. */
#define PLUGIN_SNAPS_MAX_ID (UINT64_C(1) << 53)

/*
 * The id a directory entry names: decimal digits without a sign, spaces or
 * a leading zero (one spelling per id), 1 to `max`; 0 for anything else.
 */
uint64_t plugin_snaps_id(const char *name, uint64_t max);

/* The snapshot with this key, or NULL. */
struct plugin_snap *plugin_snaps_find(const struct plugin_snaps *t, const char *key);
/* A snapshot whose parent is `key` (any one), or NULL. */
const struct plugin_snap *plugin_snaps_child(const struct plugin_snaps *t, const char *key);
/* Add s (the table owns it then); next_id moves past its id.  -ENOMEM. */
int plugin_snaps_add(struct plugin_snaps *t, struct plugin_snap *s);
/* Take s out of the table (the caller frees it). */
void plugin_snaps_del(struct plugin_snaps *t, struct plugin_snap *s);
/* Free every record; the table is empty and reusable. */
void plugin_snaps_clear(struct plugin_snaps *t);

/*
 * Write `dir`/meta (dir relative to rootfd) for s, atomically, and sync the
 * directory.  -errno.
 */
int plugin_snaps_store(int rootfd, const char *dir, const struct plugin_snap *s);
/*
 * Read "snapshots/<id>" of every number in snapshots/ into the table, and
 * move next_id past the numbers in tmp/ and trash/ too (so that an id a
 * crash left half-used is never given again before the sweep).  A meta file
 * that cannot be read fails the load (-errno, -EINVAL when malformed).
 */
int plugin_snaps_load(struct plugin_snaps *t, int rootfd);

/*
 * The shared checks of a prepare/view/commit: `what` names the text in the
 * error ("snapshot key"); every label likewise.  0, or the host's error
 * (INVALID_ARGUMENT) in *reterr.
 */
int plugin_snaps_check(const struct cleat_host *host, const char *what, const char *text, const char *const *labels,
                       struct cleat_error **reterr);
/*
 * The answers prepare and view give before making anything: ALREADY_EXISTS
 * for a key in use, NOT_FOUND for a missing parent, FAILED_PRECONDITION
 * for a parent not committed; the parent (or NULL for none) in *ret_parent.
 */
int plugin_snaps_check_new(const struct cleat_host *host, const struct plugin_snaps *t, const char *key,
                           const char *parent, const struct plugin_snap **ret_parent, struct cleat_error **reterr);
/*
 * commit's checks: name and labels valid, `key` there (NOT_FOUND) and
 * active (FAILED_PRECONDITION), `name` free (ALREADY_EXISTS).  The snapshot
 * in *ret.
 */
int plugin_snaps_check_commit(const struct cleat_host *host, const struct plugin_snaps *t, const char *name,
                              const char *key, const char *const *labels, struct plugin_snap **ret,
                              struct cleat_error **reterr);
/* remove's checks: `key` there (NOT_FOUND) and nobody's parent (FAILED_PRECONDITION).  The snapshot in *ret. */
int plugin_snaps_check_remove(const struct cleat_host *host, const struct plugin_snaps *t, const char *key,
                              struct plugin_snap **ret, struct cleat_error **reterr);

/*
 * Commit s in memory and on disk: `dir`/meta is rewritten with the new key,
 * kind COMMITTED, `labels` (when not NULL) and the used_* figures given,
 * and only when that is durable does the record change.  -errno (the record
 * is as it was).
 */
int plugin_snaps_commit(int rootfd, const char *dir, struct plugin_snap *s, const char *name, const char *const *labels,
                        int64_t used_bytes, int64_t used_inodes);

/*
 * Remove a snapshot directory `dir` (relative to rootfd) that holds only
 * the plugin's own `files` (NULL-terminated; NULL: none), then `meta` and
 * `meta.tmp`, in that order.  Missing files, or a missing directory, are
 * fine.  -errno.
 */
int plugin_snaps_remove_dir(int rootfd, const char *dir, const char *const *files);

/* Report one snapshot through fn; fn's answer. */
int plugin_snap_report(const struct plugin_snap *s, cleat_snapshot_fn fn, void *ctx);
/* The stat op's body: `key` reported through fn, or NOT_FOUND. */
int plugin_snaps_stat(const struct cleat_host *host, const struct plugin_snaps *t, const char *key,
                      cleat_snapshot_fn fn, void *ctx, struct cleat_error **reterr);
/* The walk op's body: every snapshot through fn until it answers non-zero. */
void plugin_snaps_walk(const struct plugin_snaps *t, cleat_snapshot_fn fn, void *ctx);

/*
 * The instance's root (host->root_dir(), realpath'ed into root[size]),
 * opened into *ret_rootfd, with snapshots/, tmp/ and trash/ made, and its
 * `lock` file held (flock) in *ret_lockfd: two instances on one root would
 * each take the other's snapshots for leftovers.  FAILED_PRECONDITION
 * naming the root when it is in use; the fds are the caller's to close,
 * also on failure (-1 when not opened).
 */
int plugin_snaps_open_root(const struct cleat_host *host, char *root, size_t size, int *ret_rootfd, int *ret_lockfd,
                           struct cleat_error **reterr);

/* The NOT_FOUND every op gives for a key that is not there. */
int plugin_snaps_not_found(const struct cleat_host *host, const char *key, struct cleat_error **reterr);

#endif
