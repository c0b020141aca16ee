/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage-overlay: the overlayfs snapshotter.  Internal interfaces shared by
 * the plugin's files; nothing here is part of the SDK.
 *
 * On disk, under the instance root (host->root_dir() or the `root` option):
 *
 *   snapshots/<id>/fs     the layer; the upper dir of an active snapshot
 *   snapshots/<id>/work   overlay's work dir (active snapshots only)
 *   snapshots/<id>/meta   the snapshot's metadata (meta.c)
 *   l/<id>                -> ../snapshots/<id>/fs, the short name used in lowerdir=
 *   tmp/<id>              a snapshot being prepared; renamed into snapshots/ when complete
 *   trash/<name>          a snapshot being removed; renamed out of snapshots/ first
 *   lock                  held with flock(LOCK_EX) while an instance uses the root
 *
 * Ids are decimal numbers from a counter (1, 2, ...) so that paths, and
 * above all the lowerdir= option, stay short.  The counter restarts above the
 * largest id found on disk (snapshots/, tmp/, trash/ and l/), so an id is never
 * reused while any trace of its former owner remains.
 *
 * Metadata store: one small text file per snapshot, inside the snapshot's own
 * directory, replaced with write-tmp + fsync + rename; the in-memory table is
 * rebuilt by scanning snapshots/ at init.  This keeps a snapshot and its
 * metadata in one directory, created by one rename(2) and removed by one
 * rename(2), so that no crash can leave metadata without its layer or the
 * reverse; and it needs no library (LMDB would add a second source of truth
 * next to the directories, to be reconciled after every crash).
 */
#ifndef STORAGE_OVERLAY_H
#define STORAGE_OVERLAY_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cleat/snapshotter.h>

#include "plugin_cleanup.h"
#include "plugin_error.h"

/*
 * overlayfs limits.  The kernel stacks at most 500 lower layers
 * (OVL_MAX_STACK); a longer chain is refused at prepare() with
 * INVALID_ARGUMENT.  The size of the options is not limited here: mount(2)
 * takes one page of them (about 60 layers under the default root), but the
 * host mounts longer overlay options with the new mount API, one "lowerdir+"
 * per layer (see cleat/snapshotter.h).  Lower layers are still named by their
 * short links (<root>/l/<id>), which keeps the common case within a page and
 * readable in /proc/self/mountinfo.
 */
#define OVL_MAX_LOWERS 500

#define OVL_ID_MAX 24 /* decimal uint64 with room to spare */

/* A snapshot's state in the table, orthogonal to its kind. */
#define SNAP_READY 0
#define SNAP_CREATING 1 /* prepare()/view() is still building it: invisible */
#define SNAP_BUSY 2     /* commit() is writing its metadata: other changes wait */

struct snap {
    uint64_t id;
    char *key;
    char *pending_key;  /* commit(): the new name, reserved while BUSY */
    uint64_t parent_id; /* 0 for a base snapshot */
    struct snap *parent;
    uint32_t kind; /* CLEAT_SNAPSHOT_* */
    int state;     /* SNAP_* */
    int64_t created_ns, updated_ns;
    char **labels; /* key, value, ..., NULL; never NULL */
    uint32_t nchildren;
    int dropped; /* init only: unusable, not kept */
};

struct ovl {
    const struct cleat_host *host;
    char *root;           /* absolute, no trailing slash */
    int rootfd;           /* O_DIRECTORY fd of root: every path below is relative to it */
    int lockfd;           /* <root>/lock, flock'ed: one instance per root, in any process */
    char **extra;         /* `mount_options`, NULL-terminated, added to overlay mounts */
    pthread_mutex_t lock; /* the table, next_id and `deleting`; never held across slow work */
    struct snap **snaps;
    size_t n, cap;
    uint64_t next_id;
    char **deleting; /* trash/ names some thread is removing right now */
    size_t ndeleting, capdeleting;
    /* reaper.c: trash/ names remove() left for the reaper thread, under `lock` */
    char **reap_queue;
    size_t nreap, capreap;
    pthread_cond_t reap_cond;
    pthread_t reaper;
    int reaper_running, reap_stop;
};

/* A mount to hand out, built under the lock and emitted after it. */
struct mspec {
    const char *type; /* static: "bind" or "overlay" */
    char *source;
    char **options; /* NULL-terminated */
};

/* --- table.c --------------------------------------------------------------- */

struct snap *snap_new(uint64_t id, const char *key, uint32_t kind, const char *const *labels);
void snap_free(struct snap *s);
int table_add(struct ovl *o, struct snap *s);
void table_del(struct ovl *o, struct snap *s);
/* Any snapshot with this key, or a commit reserving it as its new name. */
int table_key_taken(const struct ovl *o, const char *key);
/* The visible (not CREATING) snapshot with this key, or NULL. */
struct snap *table_find(const struct ovl *o, const char *key);
struct snap *table_find_id(const struct ovl *o, uint64_t id);
/* A snapshot whose parent is s (for messages), or NULL. */
const struct snap *table_child_of(const struct ovl *o, const struct snap *s);
/* Append a copy of name to the growable array *v of *n names (room for *cap); 0 or -ENOMEM. */
int names_push(char ***v, size_t *n, size_t *cap, const char *name);
/* Claim/release a trash/ name for deletion; claim returns 0 if someone else has it. */
int table_claim_trash(struct ovl *o, const char *name);
void table_release_trash(struct ovl *o, const char *name);
const char *kind_name(uint32_t kind);

/* --- meta.c ---------------------------------------------------------------- */

/*
 * How meta_store() writes: META_STAGED into a staging dir of tmp/ that a
 * rename publishes later (no temporary, no fsync: see materialise() in
 * ops.c); META_DURABLE replaces a live snapshot's meta whole (tmp, fsync,
 * rename, fsync of the dir).
 */
enum meta_write { META_STAGED, META_DURABLE };

/* Write `dir`/meta (dir relative to rootfd) as `how` says. */
int meta_store(const struct ovl *o, const char *dir, const struct snap *s, enum meta_write how,
               struct cleat_error **reterr);
/* Read snapshots/<id>/meta. */
int meta_load(const struct ovl *o, uint64_t id, struct snap **ret, struct cleat_error **reterr);

/* --- mounts.c -------------------------------------------------------------- */

/* The mount of snapshot s (kind and parents decide); fails on overlay's limits.  Lock held. */
int mspec_build(const struct ovl *o, const struct snap *s, struct mspec *ret, struct cleat_error **reterr);
int mspec_emit(const struct ovl *o, const struct mspec *m, struct cleat_mount_list *ml, struct cleat_error **reterr);
void mspec_done(struct mspec *m);

/* --- tree.c ---------------------------------------------------------------- */

/*
 * rm -rf of `path` relative to dirfd, for trees a container may have made
 * hostile: mode-000 and read-only directories are chmod'ed, immutable and
 * append-only flags cleared, depth is not limited by file descriptors, and
 * mount points inside are refused rather than emptied.  A missing path is
 * success.  On failure, `where` names the entry.
 */
int tree_remove(int dirfd, const char *path, char *where, size_t wsize);
/* du: bytes (st_blocks*512) and inodes below and including `path`, hardlinks once. */
int tree_usage(int dirfd, const char *path, struct cleat_usage *ret, char *where, size_t wsize);

/* --- scan.c ---------------------------------------------------------------- */

/* Rebuild the table from disk and clear leftovers of interrupted operations (init). */
int scan_rebuild(struct ovl *o, struct cleat_error **reterr);
/* The cleanup op: trash, staging leftovers, orphaned directories and links. */
int scan_cleanup(struct ovl *o, struct cleat_error **reterr);
/* Delete trash/<name>, claimed for the duration; logs and returns <0 on failure. */
int scan_delete_trash(struct ovl *o, const char *name);

/* --- reaper.c -------------------------------------------------------------- */

/* Start the thread that deletes what remove() renamed into trash/; -errno when it cannot start (then
   reaper_queue deletes on the caller's thread). */
int reaper_start(struct ovl *o);
/* Have trash/<name> deleted on the reaper thread (on this one when there is none, or no memory). */
void reaper_queue(struct ovl *o, const char *name);
/* Delete what is queued, then end the thread (fini); harmless when it never started or stopped already. */
void reaper_stop(struct ovl *o);

/* --- ops.c ----------------------------------------------------------------- */

extern const struct cleat_snapshotter_ops ovl_ops;

#endif
