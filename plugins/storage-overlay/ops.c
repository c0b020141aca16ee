/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage-overlay: the snapshotter ops.
 *
 * Locking: o->lock guards the table.  An op takes it to check and change the
 * table, and drops it for anything slow: fsync of metadata, building a
 * snapshot's directories, deleting trees, measuring them.  Two states keep
 * that safe: a snapshot being prepared is CREATING (its key is taken but it
 * is invisible), one being committed is BUSY (its new name is reserved, and
 * other changes to it fail with ABORTED until the commit is done).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "overlay.h"
#include "plugin_clock.h"
#include "plugin_fs.h"
#include "plugin_strv.h"

#define KEY_MAX 4096

static int check_key(const struct ovl *o, const char *what, const char *key, struct cleat_error **reterr) {
    if (!key || !key[0])
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "a snapshot %s must not be empty", what);
    if (strlen(key) > KEY_MAX)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, ENAMETOOLONG,
                               "snapshot %s '%.64s...' is longer than %d bytes", what, key, KEY_MAX);
    return 0;
}

static int check_labels(const struct ovl *o, const char *key, const char *const *labels, struct cleat_error **reterr) {
    size_t n = plugin_strv_len(labels);
    if (n % 2)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "snapshot '%s': label '%s' has no value", key, labels[n - 1]);
    for (size_t i = 0; i < n; i += 2)
        if (!labels[i][0])
            return cleat_error_set(o->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                                   "snapshot '%s': a label key is empty", key);
    return 0;
}

/* The visible snapshot `key`, free for a change; lock held. */
static int find_idle(struct ovl *o, const char *key, struct snap **ret, struct cleat_error **reterr) {
    struct snap *s = table_find(o, key);
    if (!s)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "snapshot '%s' does not exist", key);
    if (s->state == SNAP_BUSY)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_ABORTED, EBUSY, "snapshot '%s' is being committed", key);
    *ret = s;
    return 0;
}

/* --- prepare, view --------------------------------------------------------- */

/* What a new snapshot's parent may be: committed, or (prepare_ahead) also active. */
enum parent_rule { PARENT_COMMITTED, PARENT_NOT_VIEW };

/* Lock held: check the names, take an id, plan the mount, and enter s as CREATING. */
static int reserve(struct ovl *o, struct snap *s, const char *parent, enum parent_rule rule, struct mspec *m,
                   struct cleat_error **reterr) {
    if (table_key_taken(o, s->key))
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_ALREADY_EXISTS, EEXIST, "snapshot '%s' already exists",
                               s->key);
    if (parent) {
        struct snap *p = table_find(o, parent);
        if (!p)
            return cleat_error_set(o->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT,
                                   "snapshot '%s': parent '%s' does not exist", s->key, parent);
        if (p->kind == CLEAT_SNAPSHOT_VIEW || (p->kind == CLEAT_SNAPSHOT_ACTIVE && rule == PARENT_COMMITTED))
            return cleat_error_set(o->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                                   "snapshot '%s': parent '%s' is %s, not committed", s->key, parent,
                                   p->kind == CLEAT_SNAPSHOT_VIEW ? "a view" : "active");
        s->parent = p;
        s->parent_id = p->id;
    }
    s->id = o->next_id;
    int r = mspec_build(o, s, m, reterr);
    if (r < 0)
        return r;
    if (table_add(o, s) < 0) {
        mspec_done(m);
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    o->next_id++;
    if (s->parent)
        s->parent->nchildren++;
    return 0;
}

/* Take away whatever a failed prepare left: staging dir, link, or the renamed snapshot dir. */
static void undo_create(struct ovl *o, const struct snap *s) {
    char path[64], trash[64], name[OVL_ID_MAX];
    snprintf(name, sizeof(name), "%" PRIu64, s->id);
    snprintf(path, sizeof(path), "l/%s", name);
    (void)unlinkat(o->rootfd, path, 0);
    snprintf(path, sizeof(path), "tmp/%s", name);
    (void)tree_remove(o->rootfd, path, NULL, 0);
    snprintf(path, sizeof(path), "snapshots/%s", name);
    snprintf(trash, sizeof(trash), "trash/%s", name);
    if (renameat(o->rootfd, path, o->rootfd, trash) == 0)
        (void)scan_delete_trash(o, name);
}

static int mkdir_mode(int dirfd, const char *path, mode_t mode) {
    if (mkdirat(dirfd, path, mode) < 0 || fchmodat(dirfd, path, mode, 0) < 0) /* whatever the umask */
        return -errno;
    return 0;
}

/*
 * Build tmp/<id> completely, then rename it to snapshots/<id>: a killed
 * cleatd leaves a whole snapshot or none.  Nothing is fsynced: a new
 * snapshot is a container's writable layer, an image volume's view or a
 * layer being unpacked, and a power cut ends all of those anyway.  What a
 * power cut may leave instead (tmp/<id>, a snapshot without its meta or with
 * a truncated one) init clears or leaves out and cleanup removes; commit
 * makes a snapshot durable (see commit()).  Three fsyncs were 1-2 ms of
 * every CreateContainer.
 */
static int materialise(struct ovl *o, const struct snap *s, struct cleat_error **reterr) {
    char tmp[64], sub[80], final[64], link[64], target[64];
    snprintf(tmp, sizeof(tmp), "tmp/%" PRIu64, s->id);
    snprintf(final, sizeof(final), "snapshots/%" PRIu64, s->id);
    snprintf(link, sizeof(link), "l/%" PRIu64, s->id);
    snprintf(target, sizeof(target), "../snapshots/%" PRIu64 "/fs", s->id);
    int r = mkdir_mode(o->rootfd, tmp, 0700);
    if (r == 0)
        r = mkdir_mode(o->rootfd, (snprintf(sub, sizeof(sub), "%s/fs", tmp), sub), 0755);
    if (r == 0 && s->kind == CLEAT_SNAPSHOT_ACTIVE)
        r = mkdir_mode(o->rootfd, (snprintf(sub, sizeof(sub), "%s/work", tmp), sub), 0700);
    if (r < 0)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, -r, "snapshot '%s': cannot create %s/%s: %s",
                               s->key, o->root, tmp, strerror(-r));
    if ((r = meta_store(o, tmp, s, META_STAGED, reterr)) < 0)
        return r;
    (void)unlinkat(o->rootfd, link, 0);
    if ((r = symlinkat(target, o->rootfd, link) < 0 ? -errno : 0) < 0 ||
        (r = renameat(o->rootfd, tmp, o->rootfd, final) < 0 ? -errno : 0) < 0)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, -r, "snapshot '%s': cannot complete %s/%s: %s",
                               s->key, o->root, final, strerror(-r));
    return 0;
}

static int create(struct ovl *o, uint32_t kind, const char *key, const char *parent, enum parent_rule rule,
                  const char *const *labels, struct cleat_mount_list *ml, struct cleat_error **reterr) {
    int r;
    if ((r = check_key(o, "key", key, reterr)) < 0 || (parent && (r = check_key(o, "parent", parent, reterr)) < 0) ||
        (r = check_labels(o, key, labels, reterr)) < 0)
        return r;
    struct snap *s = snap_new(0, key, kind, labels);
    if (!s)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    s->state = SNAP_CREATING;
    s->created_ns = s->updated_ns = plugin_realtime_ns();
    struct mspec m = {0};
    pthread_mutex_lock(&o->lock);
    r = reserve(o, s, parent, rule, &m, reterr);
    pthread_mutex_unlock(&o->lock);
    if (r < 0) {
        snap_free(s);
        return r;
    }
    r = materialise(o, s, reterr);
    if (r == 0)
        r = mspec_emit(o, &m, ml, reterr);
    mspec_done(&m);
    if (r < 0)
        undo_create(o, s); /* still CREATING: nobody else looks at it */
    pthread_mutex_lock(&o->lock);
    if (r < 0) {
        table_del(o, s);
        if (s->parent)
            s->parent->nchildren--;
    } else
        s->state = SNAP_READY;
    pthread_mutex_unlock(&o->lock);
    if (r < 0)
        snap_free(s);
    return r;
}

static int ovl_prepare(void *instance, const char *key, const char *parent, const char *const *labels,
                       struct cleat_mount_list *ret_mounts, struct cleat_error **reterr) {
    return create(instance, CLEAT_SNAPSHOT_ACTIVE, key, parent, PARENT_COMMITTED, labels, ret_mounts, reterr);
}

/*
 * On an active parent too.  What it answers is always an overlay mount with
 * this snapshot's own upper dir: a parent, even a base one, makes it one
 * (mounts.c), as the SDK asks.  Commit waits for the parent's (commit_check).
 */
static int ovl_prepare_ahead(void *instance, const char *key, const char *parent, const char *const *labels,
                             struct cleat_mount_list *ret_mounts, struct cleat_error **reterr) {
    return create(instance, CLEAT_SNAPSHOT_ACTIVE, key, parent, PARENT_NOT_VIEW, labels, ret_mounts, reterr);
}

static int ovl_view(void *instance, const char *key, const char *parent, const char *const *labels,
                    struct cleat_mount_list *ret_mounts, struct cleat_error **reterr) {
    return create(instance, CLEAT_SNAPSHOT_VIEW, key, parent, PARENT_COMMITTED, labels, ret_mounts, reterr);
}

static int ovl_mounts(void *instance, const char *key, struct cleat_mount_list *ret_mounts,
                      struct cleat_error **reterr) {
    struct ovl *o = instance;
    struct snap *s = NULL;
    struct mspec m = {0};
    pthread_mutex_lock(&o->lock);
    int r = find_idle(o, key, &s, reterr);
    if (r == 0 && s->kind == CLEAT_SNAPSHOT_COMMITTED)
        r = cleat_error_set(o->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                            "snapshot '%s' is committed; only active snapshots and views have mounts", key);
    if (r == 0)
        r = mspec_build(o, s, &m, reterr);
    pthread_mutex_unlock(&o->lock);
    if (r == 0)
        r = mspec_emit(o, &m, ret_mounts, reterr);
    mspec_done(&m);
    return r;
}

/* --- commit ---------------------------------------------------------------- */

/* Lock held: may `key` be committed as `name`? */
static int commit_check(struct ovl *o, const char *name, const char *key, struct snap **ret,
                        struct cleat_error **reterr) {
    int r = find_idle(o, key, ret, reterr);
    if (r < 0)
        return r;
    if ((*ret)->kind != CLEAT_SNAPSHOT_ACTIVE)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                               "snapshot '%s' is %s; only an active snapshot can be committed", key,
                               (*ret)->kind == CLEAT_SNAPSHOT_VIEW ? "a view" : "already committed");
    if (table_key_taken(o, name))
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_ALREADY_EXISTS, EEXIST,
                               "cannot commit snapshot '%s' as '%s': '%s' already exists", key, name, name);
    /* prepare_ahead: a committed layer on a parent that is not would not survive a restart (scan.c drops it). */
    if ((*ret)->parent && (*ret)->parent->kind != CLEAT_SNAPSHOT_COMMITTED)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                               "cannot commit snapshot '%s': its parent '%s' is not committed yet", key,
                               (*ret)->parent->key);
    return 0;
}

/* Labels given to commit replace the active snapshot's; NULL keeps them. */
static int ovl_commit(void *instance, const char *name, const char *key, const char *const *labels,
                      struct cleat_error **reterr) {
    struct ovl *o = instance;
    int r;
    if ((r = check_key(o, "name", name, reterr)) < 0 || (r = check_key(o, "key", key, reterr)) < 0 ||
        (r = check_labels(o, name, labels, reterr)) < 0)
        return r;
    _cleanup_free_ char *newkey = strdup(name);
    _cleanup_strv_ char **newlabels = labels ? plugin_strv_dup(labels) : NULL;
    if (!newkey || (labels && !newlabels))
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    struct snap *s = NULL, rec = {0};
    pthread_mutex_lock(&o->lock);
    if ((r = commit_check(o, name, key, &s, reterr)) == 0) {
        s->state = SNAP_BUSY;
        s->pending_key = newkey;
        rec = *s; /* what s will be; its borrowed fields stay put while s is BUSY */
    }
    pthread_mutex_unlock(&o->lock);
    if (r < 0)
        return r;
    rec.key = newkey;
    rec.kind = CLEAT_SNAPSHOT_COMMITTED;
    rec.labels = newlabels ? newlabels : s->labels;
    rec.updated_ns = plugin_realtime_ns();
    char dir[64];
    snprintf(dir, sizeof(dir), "snapshots/%" PRIu64, s->id);
    /* A committed layer must outlive a power cut: first the rename that published it at prepare, then its meta. */
    if ((r = plugin_fsync_dir(o->rootfd, "snapshots")) < 0)
        r = cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot sync %s/snapshots: %s", o->root,
                            strerror(-r));
    else
        r = meta_store(o, dir, &rec, META_DURABLE, reterr);

    pthread_mutex_lock(&o->lock);
    s->pending_key = NULL;
    if (r == 0) {
        free(s->key);
        s->key = newkey;
        newkey = NULL;
        s->kind = CLEAT_SNAPSHOT_COMMITTED;
        s->updated_ns = rec.updated_ns;
        if (newlabels) {
            plugin_strv_free(s->labels);
            s->labels = newlabels;
            newlabels = NULL;
        }
    }
    s->state = SNAP_READY;
    pthread_mutex_unlock(&o->lock);
    if (r < 0) {
        if (reterr)
            o->host->error_wrap(*reterr, "cannot commit snapshot '%s' as '%s'", key, name);
        return r;
    }

    /* The work dir is overlay's scratch space; a committed layer has no use for it.  Init retries. */
    char where[512];
    snprintf(dir, sizeof(dir), "snapshots/%" PRIu64 "/work", rec.id);
    if ((r = tree_remove(o->rootfd, dir, where, sizeof(where))) < 0)
        cleat_log(o->host, CLEAT_LOG_WARNING, "snapshot '%s': cannot remove %s/%s: %s: %s", name, o->root, dir, where,
                  strerror(-r));
    return 0;
}

/* --- remove ---------------------------------------------------------------- */

/* Lock held: take s out of the table and its directory out of snapshots/. */
static int detach(struct ovl *o, struct snap *s, struct cleat_error **reterr) {
    char link[64], dir[64], trash[64], target[64];
    snprintf(link, sizeof(link), "l/%" PRIu64, s->id);
    snprintf(dir, sizeof(dir), "snapshots/%" PRIu64, s->id);
    snprintf(trash, sizeof(trash), "trash/%" PRIu64, s->id);
    snprintf(target, sizeof(target), "../snapshots/%" PRIu64 "/fs", s->id);
    (void)unlinkat(o->rootfd, link, 0);
    if (renameat(o->rootfd, dir, o->rootfd, trash) < 0) {
        int r = -errno;
        /* The snapshot stays: put its short link back (mounts name lower layers through it).  If that
           fails too, the next start recreates it (scan.c); say so rather than hide it. */
        if (symlinkat(target, o->rootfd, link) < 0) {
            int e = errno;
            return cleat_error_set(
                o->host, reterr, CLEAT_STATUS_INTERNAL, -r,
                "cannot remove snapshot '%s': renaming %s/%s: %s (and its link %s/%s is missing until "
                "cleatd restarts: %s)",
                s->key, o->root, dir, strerror(-r), o->root, link, strerror(e));
        }
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, -r,
                               "cannot remove snapshot '%s': renaming %s/%s: %s", s->key, o->root, dir, strerror(-r));
    }
    table_del(o, s);
    if (s->parent)
        s->parent->nchildren--;
    return 0;
}

static int ovl_remove(void *instance, const char *key, struct cleat_error **reterr) {
    struct ovl *o = instance;
    struct snap *s = NULL;
    int r = check_key(o, "key", key, reterr);
    if (r < 0)
        return r;
    pthread_mutex_lock(&o->lock);
    if ((r = find_idle(o, key, &s, reterr)) == 0 && s->nchildren > 0)
        r = cleat_error_set(o->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTEMPTY,
                            "cannot remove snapshot '%s': it is the parent of '%s'", key, table_child_of(o, s)->key);
    if (r == 0)
        r = detach(o, s, reterr);
    pthread_mutex_unlock(&o->lock);
    if (r < 0)
        return r;
    /* From here the snapshot is gone.  Only a committed layer's going is synced: a container's writable
       layer or a view back after a power cut is removed at the restart as any without a record. */
    if (s->kind == CLEAT_SNAPSHOT_COMMITTED && (r = plugin_fsync_dir(o->rootfd, "snapshots")) < 0)
        cleat_log(o->host, CLEAT_LOG_WARNING, "cannot sync %s/snapshots: %s", o->root, strerror(-r));
    char name[OVL_ID_MAX];
    snprintf(name, sizeof(name), "%" PRIu64, s->id);
    reaper_queue(o, name); /* deleting the files may fail: cleanup retries */
    snap_free(s);
    return 0;
}

/* --- stat, walk ------------------------------------------------------------ */

/* A snapshot's info copied out under the lock, to be reported without it. */
struct info {
    char *key, *parent;
    char **labels;
    uint32_t kind;
    int64_t created_ns, updated_ns;
};

static void info_done(struct info *i) {
    free(i->key);
    free(i->parent);
    plugin_strv_free(i->labels);
}

static int info_copy(const struct snap *s, struct info *ret) {
    *ret = (struct info){.key = strdup(s->key),
                         .parent = s->parent ? strdup(s->parent->key) : NULL,
                         .labels = plugin_strv_dup((const char *const *)s->labels),
                         .kind = s->kind,
                         .created_ns = s->created_ns,
                         .updated_ns = s->updated_ns};
    if (ret->key && ret->labels && (!s->parent || ret->parent))
        return 0;
    info_done(ret);
    return -ENOMEM;
}

static int info_report(const struct info *i, cleat_snapshot_fn fn, void *ctx) {
    const struct cleat_snapshot_info ci = {.struct_size = sizeof(ci),
                                           .key = i->key,
                                           .parent = i->parent,
                                           .kind = i->kind,
                                           .created_ns = i->created_ns,
                                           .updated_ns = i->updated_ns,
                                           .labels = (const char *const *)i->labels};
    return fn(ctx, &ci);
}

static int ovl_stat(void *instance, const char *key, cleat_snapshot_fn fn, void *ctx, struct cleat_error **reterr) {
    struct ovl *o = instance;
    struct info i;
    pthread_mutex_lock(&o->lock);
    const struct snap *s = key ? table_find(o, key) : NULL;
    int r = s ? info_copy(s, &i) : -ENOENT;
    pthread_mutex_unlock(&o->lock);
    if (r == -ENOENT)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "snapshot '%s' does not exist",
                               key ? key : "");
    if (r < 0)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    (void)info_report(&i, fn, ctx);
    info_done(&i);
    return 0;
}

static int ovl_walk(void *instance, cleat_snapshot_fn fn, void *ctx, struct cleat_error **reterr) {
    struct ovl *o = instance;
    size_t n = 0;
    int r = 0;
    pthread_mutex_lock(&o->lock);
    struct info *all = calloc(o->n ? o->n : 1, sizeof(*all));
    for (size_t i = 0; all && r == 0 && i < o->n; i++)
        if (o->snaps[i]->state != SNAP_CREATING && (r = info_copy(o->snaps[i], &all[n])) == 0)
            n++;
    pthread_mutex_unlock(&o->lock);
    int stop = 0;
    for (size_t i = 0; i < n; i++) {
        if (r == 0 && all && !stop)
            stop = info_report(&all[i], fn, ctx);
        info_done(&all[i]);
    }
    free(all);
    if (!all || r < 0)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    return 0;
}

/* --- usage, cleanup -------------------------------------------------------- */

static int ovl_usage(void *instance, const char *key, struct cleat_usage *ret_usage, struct cleat_error **reterr) {
    struct ovl *o = instance;
    struct snap *s;
    char path[64], where[512];
    pthread_mutex_lock(&o->lock);
    s = key ? table_find(o, key) : NULL;
    if (s)
        snprintf(path, sizeof(path), "snapshots/%" PRIu64 "/fs", s->id);
    pthread_mutex_unlock(&o->lock);
    if (!s)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "snapshot '%s' does not exist",
                               key ? key : "");
    int r = tree_usage(o->rootfd, path, ret_usage, where, sizeof(where));
    if (r == -ENOENT && strcmp(where, path) == 0)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "snapshot '%s' was removed", key);
    if (r < 0)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, -r, "snapshot '%s': cannot measure %s/%s: %s",
                               key, o->root, where, strerror(-r));
    return 0;
}

static int ovl_fs_usage(void *instance, struct cleat_usage *ret_usage, struct cleat_error **reterr) {
    struct ovl *o = instance;
    char where[512];
    int r = tree_usage(o->rootfd, ".", ret_usage, where, sizeof(where));
    if (r < 0)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot measure %s/%s: %s", o->root, where,
                               strerror(-r));
    return 0;
}

static int ovl_cleanup(void *instance, struct cleat_error **reterr) {
    return scan_cleanup(instance, reterr);
}

const struct cleat_snapshotter_ops ovl_ops = {
    .prepare = ovl_prepare,
    .view = ovl_view,
    .mounts = ovl_mounts,
    .commit = ovl_commit,
    .remove = ovl_remove,
    .stat = ovl_stat,
    .walk = ovl_walk,
    .usage = ovl_usage,
    .fs_usage = ovl_fs_usage,
    .cleanup = ovl_cleanup,
    .prepare_ahead = ovl_prepare_ahead,
};
