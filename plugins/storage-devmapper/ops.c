/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage-devmapper: the snapshotter ops and the start-up sweep.  What each
 * op leaves after a crash at any step (devmapper.h has the layout):
 *
 *   prepare/view  tmp/N/meta durable -> thin snapshot N made -> N live ->
 *                 tmp/N renamed to snapshots/N.  Before the rename the sweep
 *                 deletes N; after it the snapshot is whole.
 *   commit        usage measured -> N deactivated -> meta rewritten in one
 *                 rename.  Before the rewrite the snapshot is still active
 *                 and the sweep makes N live again.
 *   remove        snapshots/N renamed to trash/N -> N deactivated (its
 *                 blocks discarded when configured) -> N deleted -> trash/N
 *                 removed.  After the rename the sweep finishes the rest.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devmapper.h"
#include "dm.h"
#include "plugin_error.h"
#include "plugin_fs.h"
#include "plugin_strv.h"

/* --- helpers ------------------------------------------------------------------------------- */

static int fail(const struct dmx *x, struct cleat_error **reterr, int r, const char *what, const char *key) {
    /* ALREADY_EXISTS means "the key is in use" to the core: an EEXIST from inside (a directory, a dm name) is not. */
    int32_t status = r == -EEXIST ? CLEAT_STATUS_INTERNAL : plugin_errno_status(-r);
    return cleat_error_set(x->host, reterr, status, -r, "storage-devmapper: snapshot '%s': %s: %s", key, what,
                           strerror(-r));
}

static void snap_dir(const char *where, uint64_t id, char *buf, size_t size) {
    snprintf(buf, size, "%s/%" PRIu64, where, id);
}

/* Remove a snapshot directory (relative to the root): it only ever holds meta and meta.tmp.  Missing is fine. */
static int remove_dir(const struct dmx *x, const char *dir) {
    return plugin_snaps_remove_dir(x->rootfd, dir, NULL);
}

static int emit_mounts(const struct dmx *x, const struct plugin_snap *s, struct cleat_mount_list *ml,
                       struct cleat_error **reterr) {
    char name[DM_NAME_MAX], path[DM_NAME_MAX + 16];
    dmx_device_name(x, s->id, name, sizeof(name));
    dm_node_path(name, path, sizeof(path));
    const char *mode = s->kind == CLEAT_SNAPSHOT_VIEW ? "ro" : "rw";
    /* Every thin snapshot of one base has the base's xfs UUID: xfs refuses a second mount of it without nouuid. */
    const char *const ext4[] = {mode, NULL}, *const xfs[] = {mode, "nouuid", NULL};
    return x->host->mount_add(ml, x->opt.fs_type, path, NULL, strcmp(x->opt.fs_type, "xfs") == 0 ? xfs : ext4, reterr);
}

/* --- prepare, view, mounts ------------------------------------------------------------------ */

/*
 * A failed prepare or view: its device deleted (when made) and its record
 * removed from `at` (NULL: none was made).  When the device cannot go, the
 * record goes to trash/ instead, where the next sweep finishes it: never
 * back as a snapshot, and never without a record while the device is there.
 */
static void undo_make(struct dmx *x, uint64_t id, const char *at, int made) {
    char trash[64];
    snap_dir("trash", id, trash, sizeof(trash));
    int r = made ? dmx_thin_delete(x, id) : 0;
    if (r == 0 && at)
        r = remove_dir(x, at);
    if (r < 0 && at && renameat(x->rootfd, at, x->rootfd, trash) == 0)
        (void)plugin_fsync_dir(x->rootfd, "trash");
    if (r < 0)
        cleat_log(x->host, CLEAT_LOG_WARNING,
                  "storage-devmapper: thin device %" PRIu64 " of a failed prepare is left for the next start: %s", id,
                  strerror(-r));
}

static int make(struct dmx *x, uint32_t kind, const char *key, const char *parent, const char *const *labels,
                struct cleat_mount_list *ml, struct cleat_error **reterr) {
    const struct plugin_snap *p = NULL;
    int r = plugin_snaps_check(x->host, "snapshot key", key, labels, reterr);
    if (r == 0)
        r = plugin_snaps_check_new(x->host, &x->t, key, parent, &p, reterr);
    if (r < 0)
        return r;
    if (x->t.next_id > DMX_MAX_DEVICE_ID)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOSPC,
                               "storage-devmapper: thin pool '%s' has used every device id", x->opt.pool_name);
    struct plugin_snap *s = plugin_snap_new(&x->t, kind, key, parent, labels);
    if (!s)
        return plugin_oom(x->host, reterr);
    /* Handed out for good: an id whose leftovers a failure below leaves is never given again. */
    x->t.next_id = s->id + 1;
    char tmp[64], final[64];
    snap_dir("tmp", s->id, tmp, sizeof(tmp));
    snap_dir("snapshots", s->id, final, sizeof(final));
    const char *at = NULL; /* where the record is: tmp, then final */
    int made = 0;
    if (mkdirat(x->rootfd, tmp, 0700) < 0)
        r = -errno;
    else
        at = tmp;
    if (r == 0)
        r = plugin_snaps_store(x->rootfd, tmp, s);
    if (r == 0)
        r = plugin_fsync_dir(x->rootfd, "tmp");
    /* The record is durable: from here on a crash leaves tmp/N, which names the device to delete. */
    if (r == 0 && (r = dmx_thin_snapshot(x, s->id, p ? p->id : 0)) == 0)
        made = 1;
    if (r == 0)
        r = dmx_thin_activate(x, s->id, kind == CLEAT_SNAPSHOT_VIEW);
    if (r == 0 && renameat(x->rootfd, tmp, x->rootfd, final) < 0)
        r = -errno;
    else if (r == 0)
        at = final;
    if (r == 0)
        r = plugin_fsync_dir(x->rootfd, "snapshots");
    if (r == 0)
        r = plugin_snaps_add(&x->t, s);
    if (r == 0)
        return emit_mounts(x, s, ml, reterr);
    int e = r == -EBUSY && !made
                ? cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EBUSY,
                                  "storage-devmapper: snapshot '%s': the device of its parent '%s' is in use (mounted "
                                  "outside cleat?), and a thin snapshot's origin must not change",
                                  key, parent ? parent : "(the base)")
                : fail(x, reterr, r, "cannot make it", key);
    undo_make(x, s->id, at, made);
    plugin_snap_free(s);
    return e;
}

static int dmx_prepare(void *instance, const char *key, const char *parent, const char *const *labels,
                       struct cleat_mount_list *ml, struct cleat_error **reterr) {
    struct dmx *x = instance;
    pthread_mutex_lock(&x->lock);
    int r = make(x, CLEAT_SNAPSHOT_ACTIVE, key, parent, labels, ml, reterr);
    pthread_mutex_unlock(&x->lock);
    return r;
}

static int dmx_view(void *instance, const char *key, const char *parent, const char *const *labels,
                    struct cleat_mount_list *ml, struct cleat_error **reterr) {
    struct dmx *x = instance;
    pthread_mutex_lock(&x->lock);
    int r = make(x, CLEAT_SNAPSHOT_VIEW, key, parent, labels, ml, reterr);
    pthread_mutex_unlock(&x->lock);
    return r;
}

static int dmx_mounts(void *instance, const char *key, struct cleat_mount_list *ml, struct cleat_error **reterr) {
    struct dmx *x = instance;
    pthread_mutex_lock(&x->lock);
    const struct plugin_snap *s = plugin_snaps_find(&x->t, key);
    int r = 0;
    if (!s)
        r = plugin_snaps_not_found(x->host, key, reterr);
    else if (s->kind == CLEAT_SNAPSHOT_COMMITTED)
        r = cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                            "snapshot '%s' is committed: it has no mounts", key);
    else if ((r = dmx_thin_activate(x, s->id, s->kind == CLEAT_SNAPSHOT_VIEW)) < 0)
        r = fail(x, reterr, r, "cannot activate its thin device", key);
    if (r == 0)
        r = emit_mounts(x, s, ml, reterr);
    pthread_mutex_unlock(&x->lock);
    return r;
}

/* --- commit and remove ------------------------------------------------------------------------ */

/* Mapped bytes and used inodes of live thin device id, into *bytes and *inodes (0 where unreadable). */
static void measure_live(const struct dmx *x, uint64_t id, int64_t *bytes, int64_t *inodes) {
    char name[DM_NAME_MAX], path[DM_NAME_MAX + 16];
    dmx_device_name(x, id, name, sizeof(name));
    dm_node_path(name, path, sizeof(path));
    int64_t mapped = dmx_thin_mapped_sectors(x, id), used = dmx_fs_used_inodes(path);
    *bytes = mapped > 0 ? mapped * 512 : 0;
    *inodes = used > 0 ? used : 0;
}

static int commit_locked(struct dmx *x, const char *name, const char *key, const char *const *labels,
                         struct cleat_error **reterr) {
    struct plugin_snap *s = NULL;
    int r = plugin_snaps_check_commit(x->host, &x->t, name, key, labels, &s, reterr);
    if (r < 0)
        return r;
    /* Measured now, while live: a committed device is never live again, and its children subtract these. */
    int64_t bytes, inodes;
    measure_live(x, s->id, &bytes, &inodes);
    r = dmx_thin_deactivate(x, s->id, 0);
    if (r == -EBUSY)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EBUSY,
                               "storage-devmapper: snapshot '%s' is still mounted: unmount it before its commit", key);
    char dir[64];
    snap_dir("snapshots", s->id, dir, sizeof(dir));
    if (r == 0)
        r = plugin_snaps_commit(x->rootfd, dir, s, name, labels, bytes, inodes);
    return r < 0 ? fail(x, reterr, r, "cannot commit it", key) : 0;
}

static int dmx_commit(void *instance, const char *name, const char *key, const char *const *labels,
                      struct cleat_error **reterr) {
    struct dmx *x = instance;
    pthread_mutex_lock(&x->lock);
    int r = commit_locked(x, name, key, labels, reterr);
    pthread_mutex_unlock(&x->lock);
    return r;
}

/* Delete the thin device of a trash/ or tmp/ entry, then the entry.  -errno (the entry stays for the next sweep). */
static int finish_removal(struct dmx *x, const char *where, uint64_t id) {
    char dir[64];
    snap_dir(where, id, dir, sizeof(dir));
    int r = dmx_thin_delete(x, id);
    return r < 0 ? r : remove_dir(x, dir);
}

static int remove_locked(struct dmx *x, const char *key, struct cleat_error **reterr) {
    struct plugin_snap *s = NULL;
    int r = plugin_snaps_check_remove(x->host, &x->t, key, &s, reterr);
    if (r < 0)
        return r;
    char dir[64], trash[64];
    snap_dir("snapshots", s->id, dir, sizeof(dir));
    snap_dir("trash", s->id, trash, sizeof(trash));
    if (renameat(x->rootfd, dir, x->rootfd, trash) < 0)
        return fail(x, reterr, -errno, "cannot remove it", key);
    uint64_t id = s->id;
    plugin_snaps_del(&x->t, s);
    plugin_snap_free(s);
    /*
     * The key is free now; what follows is finished by the next sweep if it
     * fails.  The device is deleted only once the rename is durable: a
     * snapshots/N back after a power loss must still find its device.
     */
    r = plugin_fsync_dir(x->rootfd, "snapshots");
    if (r == 0)
        r = plugin_fsync_dir(x->rootfd, "trash");
    if (r == 0 && (r = finish_removal(x, "trash", id)) < 0)
        cleat_log(x->host, CLEAT_LOG_WARNING, "storage-devmapper: thin device %" PRIu64 " (%s/%s) not deleted yet: %s",
                  id, x->root, trash, strerror(-r));
    return 0;
}

static int dmx_remove(void *instance, const char *key, struct cleat_error **reterr) {
    struct dmx *x = instance;
    pthread_mutex_lock(&x->lock);
    int r = remove_locked(x, key, reterr);
    pthread_mutex_unlock(&x->lock);
    return r;
}

/* --- reports ------------------------------------------------------------------------------------ */

static int dmx_stat(void *instance, const char *key, cleat_snapshot_fn fn, void *ctx, struct cleat_error **reterr) {
    struct dmx *x = instance;
    pthread_mutex_lock(&x->lock);
    int r = plugin_snaps_stat(x->host, &x->t, key, fn, ctx, reterr);
    pthread_mutex_unlock(&x->lock);
    return r;
}

static int dmx_walk(void *instance, cleat_snapshot_fn fn, void *ctx, struct cleat_error **reterr) {
    struct dmx *x = instance;
    pthread_mutex_lock(&x->lock);
    plugin_snaps_walk(&x->t, fn, ctx);
    pthread_mutex_unlock(&x->lock);
    return 0;
}

/*
 * A snapshot's own use: what its device maps (and its filesystem's inodes)
 * beyond its parent's, as measured at the parent's commit.  Live for an
 * active snapshot or view, as of its commit for a committed one.
 */
static void own_usage(const struct dmx *x, const struct plugin_snap *s, struct cleat_usage *ret) {
    const struct plugin_snap *p = s->parent ? plugin_snaps_find(&x->t, s->parent) : NULL;
    int64_t bytes = s->used_bytes, inodes = s->used_inodes;
    if (s->kind != CLEAT_SNAPSHOT_COMMITTED)
        measure_live(x, s->id, &bytes, &inodes);
    int64_t pb = p ? p->used_bytes : 0, pi = p ? p->used_inodes : 0;
    ret->bytes = bytes > pb ? bytes - pb : 0;
    ret->inodes = inodes > pi ? inodes - pi : 0;
}

static int dmx_usage(void *instance, const char *key, struct cleat_usage *ret, struct cleat_error **reterr) {
    struct dmx *x = instance;
    pthread_mutex_lock(&x->lock);
    const struct plugin_snap *s = plugin_snaps_find(&x->t, key);
    int r = s ? 0 : plugin_snaps_not_found(x->host, key, reterr);
    if (s)
        own_usage(x, s, ret);
    pthread_mutex_unlock(&x->lock);
    return r;
}

/* Bytes: what the pool has mapped for everything (the base included); inodes: the snapshots' own, summed. */
static int dmx_fs_usage(void *instance, struct cleat_usage *ret, struct cleat_error **reterr) {
    struct dmx *x = instance;
    pthread_mutex_lock(&x->lock);
    int64_t bytes = dmx_pool_used_bytes(x);
    int r = bytes < 0 ? cleat_error_set(x->host, reterr, CLEAT_STATUS_INTERNAL, (int)-bytes,
                                        "storage-devmapper: cannot read thin pool '%s': %s", x->opt.pool_name,
                                        strerror((int)-bytes))
                      : 0;
    if (r == 0) {
        *ret = (struct cleat_usage){.bytes = bytes};
        for (size_t i = 0; i < x->t.n; i++) {
            struct cleat_usage u;
            own_usage(x, x->t.v[i], &u);
            ret->inodes += u.inodes;
        }
    }
    pthread_mutex_unlock(&x->lock);
    return r;
}

/* --- the sweep ------------------------------------------------------------------------------------- */

/*
 * One step of the sweep that failed (a device still open, most likely):
 * logged and left for the next sweep.  Leftovers must not keep cleatd from
 * starting; their ids are never given again meanwhile.
 */
static void sweep_warning(const struct dmx *x, int r, const char *what, uint64_t id) {
    if (r < 0)
        cleat_log(x->host, CLEAT_LOG_WARNING,
                  "storage-devmapper: cannot %s thin device %" PRIu64 " of pool '%s' (the "
                  "next start tries again): %s",
                  what, id, x->opt.pool_name, strerror(-r));
}

/* The snapshot with device id, or NULL. */
static const struct plugin_snap *by_id(const struct dmx *x, uint64_t id) {
    for (size_t i = 0; i < x->t.n; i++)
        if (x->t.v[i]->id == id)
            return x->t.v[i];
    return NULL;
}

/* Finish every tmp/ or trash/ entry: their devices deleted, their records removed.  -errno: cannot list. */
static int clear_entries(struct dmx *x, const char *where) {
    char **names = NULL;
    int r = plugin_list_dir(x->rootfd, where, &names);
    for (size_t i = 0; r == 0 && names[i]; i++) {
        uint64_t id = plugin_snaps_id(names[i], DMX_MAX_DEVICE_ID);
        if (id && !by_id(x, id)) /* never the device of a snapshot that is there */
            sweep_warning(x, finish_removal(x, where, id), "delete the leftover", id);
    }
    plugin_strv_free(names);
    return r;
}

/*
 * Live devices of this pool that should not be: committed snapshots', the
 * base's, and those no record names (deleted: the pool is the instance's).
 * -errno: cannot list.
 */
static int deactivate_unkept(struct dmx *x) {
    char **names = NULL, prefix[DM_NAME_MAX + 8], base[DM_NAME_MAX];
    int r = dm_list(&names);
    snprintf(prefix, sizeof(prefix), "%s-snap-", x->opt.pool_name);
    dmx_device_name(x, 0, base, sizeof(base));
    size_t plen = strlen(prefix);
    for (size_t i = 0; r == 0 && names[i]; i++) {
        if (strcmp(names[i], base) == 0) {
            sweep_warning(x, dmx_thin_deactivate(x, 0, 0), "deactivate the base,", 0);
            continue;
        }
        uint64_t id = strncmp(names[i], prefix, plen) == 0 ? plugin_snaps_id(names[i] + plen, DMX_MAX_DEVICE_ID) : 0;
        if (!id || !dmx_is_our_thin(x, names[i], id))
            continue;
        const struct plugin_snap *s = by_id(x, id);
        if (!s)
            sweep_warning(x, dmx_thin_delete(x, id), "delete the unrecorded", id);
        else if (s->kind == CLEAT_SNAPSHOT_COMMITTED)
            sweep_warning(x, dmx_thin_deactivate(x, id, 0), "deactivate the committed", id);
    }
    plugin_strv_free(names);
    return r;
}

int dmx_sweep(struct dmx *x, struct cleat_error **reterr) {
    int r = clear_entries(x, "tmp");
    if (r == 0)
        r = clear_entries(x, "trash");
    if (r == 0)
        r = deactivate_unkept(x);
    if (r < 0)
        return cleat_error_set(x->host, reterr, plugin_errno_status(-r), -r,
                               "storage-devmapper: cannot list the leftovers in %s or pool '%s': %s", x->root,
                               x->opt.pool_name, strerror(-r));
    /*
     * After a reboot (or a crash inside commit) an active snapshot's or a
     * view's device is not live: made so.  One that cannot be is logged;
     * its container fails when its rootfs is mounted, saying why.
     */
    for (size_t i = 0; i < x->t.n; i++) {
        const struct plugin_snap *s = x->t.v[i];
        if (s->kind != CLEAT_SNAPSHOT_COMMITTED)
            sweep_warning(x, dmx_thin_activate(x, s->id, s->kind == CLEAT_SNAPSHOT_VIEW), "activate the active", s->id);
    }
    return 0;
}

static int dmx_cleanup(void *instance, struct cleat_error **reterr) {
    struct dmx *x = instance;
    pthread_mutex_lock(&x->lock);
    int r = dmx_sweep(x, reterr);
    pthread_mutex_unlock(&x->lock);
    return r;
}

const struct cleat_snapshotter_ops dmx_ops = {
    .prepare = dmx_prepare,
    .view = dmx_view,
    .mounts = dmx_mounts,
    .commit = dmx_commit,
    .remove = dmx_remove,
    .stat = dmx_stat,
    .walk = dmx_walk,
    .usage = dmx_usage,
    .fs_usage = dmx_fs_usage,
    .cleanup = dmx_cleanup,
};
