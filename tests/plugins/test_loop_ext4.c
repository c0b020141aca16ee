/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-loop-ext4: the snapshotter ops, metadata and init (loop_ext4.h says
 * what is on disk and why).
 *
 * Options (all optional):
 *   size_mib: 64      the size of every snapshot's filesystem (sparse)
 *
 * Built a second time with LX_WRONG_PREPARE_AHEAD as test-loop-ext4-ahead,
 * a plugin that breaks the SDK's rule for prepare_ahead: it answers with its
 * ext4 mount, which a layer cannot go into apart from its parent's files, so
 * that the test can see the core refuse it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cleat/snapshotter.h>

#include "loop_ext4.h"
#include "plugin_clock.h"
#include "plugin_error.h"
#include "plugin_fs.h"
#include "plugin_snaps.h"
#include "plugin_spawn.h"
#include "plugin_strv.h"

struct lx {
    const struct cleat_host *host;
    char root[PATH_MAX]; /* realpath'ed: compared with loop devices' backing files */
    int rootfd, lockfd;
    int64_t size;
    pthread_mutex_t lock; /* every op, whole */
    struct plugin_snaps t;
};

static const char *const lx_keys[] = {"size_mib", NULL};

/* --- helpers ----------------------------------------------------------------- */

static int fail(const struct lx *x, struct cleat_error **reterr, int r, const char *what, const char *key) {
    return cleat_error_set(x->host, reterr, plugin_errno_status(-r), -r, "snapshot '%s': %s: %s", key, what,
                           strerror(-r));
}

static void image_path(const struct plugin_snap *s, const char *where, char *buf, size_t size) {
    snprintf(buf, size, "%s/%llu/image", where, (unsigned long long)s->id);
}

/* Remove a snapshot's directory (relative to the root): it only ever holds these files.  Missing is fine. */
static int remove_dir(const struct lx *x, const char *dir) {
    return plugin_snaps_remove_dir(x->rootfd, dir, (const char *const[]){"image", NULL});
}

/* The loop device of an active snapshot or view: found by the image's inode, or attached (after a reboot). */
static int device_of(const struct lx *x, const struct plugin_snap *s, int *ret_n) {
    char img[64];
    image_path(s, "snapshots", img, sizeof(img));
    int r = lx_loop_find(x->rootfd, img, ret_n);
    if (r != 0)
        return r < 0 ? r : 0;
    return lx_loop_attach(x->rootfd, img, s->kind == CLEAT_SNAPSHOT_VIEW, ret_n);
}

static int emit_mounts(const struct lx *x, const struct plugin_snap *s, int n, struct cleat_mount_list *ml,
                       struct cleat_error **reterr) {
    char dev[64];
    snprintf(dev, sizeof(dev), "/dev/loop%d", n);
    const char *const opts[] = {s->kind == CLEAT_SNAPSHOT_VIEW ? "ro" : "rw", NULL};
    return x->host->mount_add(ml, "ext4", dev, NULL, opts, reterr);
}

/* --- ops --------------------------------------------------------------------- */

/* prepare and view: copy the parent's image (or the base), attach it, make it visible. */
static int make(struct lx *x, uint32_t kind, const char *key, const char *parent, const char *const *labels,
                struct cleat_mount_list *ml, struct cleat_error **reterr) {
    const struct plugin_snap *p = NULL;
    int r = plugin_snaps_check(x->host, "snapshot key", key, labels, reterr);
    if (r == 0)
        r = plugin_snaps_check_new(x->host, &x->t, key, parent, &p, reterr);
    if (r < 0)
        return r;
    struct plugin_snap *s = plugin_snap_new(&x->t, kind, key, parent, labels);
    if (!s)
        return plugin_oom(x->host, reterr);
    char tmp[64], src[64], img[64], final[64];
    snprintf(tmp, sizeof(tmp), "tmp/%llu", (unsigned long long)s->id);
    snprintf(final, sizeof(final), "snapshots/%llu", (unsigned long long)s->id);
    if (p)
        image_path(p, "snapshots", src, sizeof(src));
    else
        snprintf(src, sizeof(src), "base.img");
    image_path(s, "tmp", img, sizeof(img));
    int n = -1;
    if (mkdirat(x->rootfd, tmp, 0700) < 0)
        r = -errno;
    if (r == 0)
        r = lx_copy_sparse(x->rootfd, src, img);
    if (r == 0)
        r = plugin_snaps_store(x->rootfd, tmp, s);
    if (r == 0 && renameat(x->rootfd, tmp, x->rootfd, final) < 0)
        r = -errno;
    if (r == 0)
        r = plugin_fsync_dir(x->rootfd, "snapshots");
    if (r == 0)
        r = device_of(x, s, &n);
    if (r == 0)
        r = plugin_snaps_add(&x->t, s);
    if (r < 0) {
        int e = fail(x, reterr, r, "cannot make it", key);
        if (n >= 0)
            lx_loop_detach(n);
        remove_dir(x, final);
        remove_dir(x, tmp);
        plugin_snap_free(s);
        return e;
    }
    return emit_mounts(x, s, n, ml, reterr);
}

static int lx_prepare(void *instance, const char *key, const char *parent, const char *const *labels,
                      struct cleat_mount_list *ml, struct cleat_error **reterr) {
    struct lx *x = instance;
    pthread_mutex_lock(&x->lock);
    int r = make(x, CLEAT_SNAPSHOT_ACTIVE, key, parent, labels, ml, reterr);
    pthread_mutex_unlock(&x->lock);
    return r;
}

static int lx_view(void *instance, const char *key, const char *parent, const char *const *labels,
                   struct cleat_mount_list *ml, struct cleat_error **reterr) {
    struct lx *x = instance;
    pthread_mutex_lock(&x->lock);
    int r = make(x, CLEAT_SNAPSHOT_VIEW, key, parent, labels, ml, reterr);
    pthread_mutex_unlock(&x->lock);
    return r;
}

static int lx_mounts(void *instance, const char *key, struct cleat_mount_list *ml, struct cleat_error **reterr) {
    struct lx *x = instance;
    pthread_mutex_lock(&x->lock);
    const struct plugin_snap *s = plugin_snaps_find(&x->t, key);
    int n = -1, r = 0;
    if (!s)
        r = plugin_snaps_not_found(x->host, key, reterr);
    else if (s->kind == CLEAT_SNAPSHOT_COMMITTED)
        r = cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                            "snapshot '%s' is committed: it has no mounts", key);
    else if ((r = device_of(x, s, &n)) < 0)
        r = fail(x, reterr, r, "cannot attach its loop device", key);
    if (r == 0)
        r = emit_mounts(x, s, n, ml, reterr);
    pthread_mutex_unlock(&x->lock);
    return r;
}

static int commit_locked(struct lx *x, const char *name, const char *key, const char *const *labels,
                         struct cleat_error **reterr) {
    struct plugin_snap *s = NULL;
    int r = plugin_snaps_check_commit(x->host, &x->t, name, key, labels, &s, reterr);
    if (r < 0)
        return r;
    char dir[64], img[64];
    snprintf(dir, sizeof(dir), "snapshots/%llu", (unsigned long long)s->id);
    image_path(s, "snapshots", img, sizeof(img));
    /* Detached first: a committed image is only ever copied, and its device must not outlive it. */
    int n;
    if ((r = lx_loop_find(x->rootfd, img, &n)) > 0)
        r = lx_loop_detach(n);
    if (r >= 0)
        r = plugin_snaps_commit(x->rootfd, dir, s, name, labels, 0, 0);
    return r < 0 ? fail(x, reterr, r, "cannot commit it", key) : 0;
}

static int lx_commit(void *instance, const char *name, const char *key, const char *const *labels,
                     struct cleat_error **reterr) {
    struct lx *x = instance;
#ifdef LX_WRONG_PREPARE_AHEAD
    /* Slow commits: the layer above is surely prepared before the one below is committed, that is, ahead. */
    usleep(2 * 1000 * 1000);
#endif
    pthread_mutex_lock(&x->lock);
    int r = commit_locked(x, name, key, labels, reterr);
    pthread_mutex_unlock(&x->lock);
    return r;
}

static int remove_locked(struct lx *x, const char *key, struct cleat_error **reterr) {
    struct plugin_snap *s = NULL;
    int r = plugin_snaps_check_remove(x->host, &x->t, key, &s, reterr);
    if (r < 0)
        return r;
    char dir[64], trash[64], img[80];
    snprintf(dir, sizeof(dir), "snapshots/%llu", (unsigned long long)s->id);
    snprintf(trash, sizeof(trash), "trash/%llu", (unsigned long long)s->id);
    if (renameat(x->rootfd, dir, x->rootfd, trash) < 0)
        return fail(x, reterr, -errno, "cannot remove it", key);
    plugin_fsync_dir(x->rootfd, "snapshots");
    plugin_snaps_del(&x->t, s);
    plugin_snap_free(s);
    /* The key is free now; what follows is finished by init() if it fails. */
    int n;
    snprintf(img, sizeof(img), "%s/image", trash);
    if (lx_loop_find(x->rootfd, img, &n) > 0)
        lx_loop_detach(n);
    r = remove_dir(x, trash);
    if (r < 0)
        cleat_log(x->host, CLEAT_LOG_WARNING, "cannot delete %s/%s (init will): %s", x->root, trash, strerror(-r));
    return 0;
}

static int lx_remove(void *instance, const char *key, struct cleat_error **reterr) {
    struct lx *x = instance;
    pthread_mutex_lock(&x->lock);
    int r = remove_locked(x, key, reterr);
    pthread_mutex_unlock(&x->lock);
    return r;
}

static int lx_stat(void *instance, const char *key, cleat_snapshot_fn fn, void *ctx, struct cleat_error **reterr) {
    struct lx *x = instance;
    pthread_mutex_lock(&x->lock);
    int r = plugin_snaps_stat(x->host, &x->t, key, fn, ctx, reterr);
    pthread_mutex_unlock(&x->lock);
    return r;
}

static int lx_walk(void *instance, cleat_snapshot_fn fn, void *ctx, struct cleat_error **reterr) {
    struct lx *x = instance;
    pthread_mutex_lock(&x->lock);
    plugin_snaps_walk(&x->t, fn, ctx);
    pthread_mutex_unlock(&x->lock);
    return 0;
}

/* Bytes the image file takes on the node's disk, inodes its filesystem uses. */
static void image_use(const struct lx *x, const struct plugin_snap *s, int64_t *bytes, int64_t *inodes) {
    char img[64];
    struct stat st;
    image_path(s, "snapshots", img, sizeof(img));
    *bytes = fstatat(x->rootfd, img, &st, AT_SYMLINK_NOFOLLOW) == 0 ? (int64_t)st.st_blocks * 512 : 0;
    int64_t fs_bytes;
    if (lx_ext4_used(x->rootfd, img, &fs_bytes, inodes) < 0)
        *inodes = 0;
}

/*
 * A snapshot's own use: its image's beyond its parent's image (a copy of it
 * at prepare).  Bytes are the image file's blocks, current while it is
 * mounted; inodes come from the ext4 superblock, as of its last unmount.
 */
static int lx_usage(void *instance, const char *key, struct cleat_usage *ret, struct cleat_error **reterr) {
    struct lx *x = instance;
    pthread_mutex_lock(&x->lock);
    const struct plugin_snap *s = plugin_snaps_find(&x->t, key),
                             *p = s && s->parent ? plugin_snaps_find(&x->t, s->parent) : NULL;
    int r = s ? 0 : plugin_snaps_not_found(x->host, key, reterr);
    if (s) {
        int64_t b, i, pb = 0, pi = 0;
        image_use(x, s, &b, &i);
        if (p)
            image_use(x, p, &pb, &pi);
        ret->bytes = b > pb ? b - pb : 0;
        ret->inodes = i > pi ? i - pi : 0;
    }
    pthread_mutex_unlock(&x->lock);
    return r;
}

static int lx_fs_usage(void *instance, struct cleat_usage *ret, struct cleat_error **reterr) {
    struct lx *x = instance;
    pthread_mutex_lock(&x->lock);
    *ret = (struct cleat_usage){0};
    for (size_t i = 0; i < x->t.n; i++) {
        int64_t b, n;
        image_use(x, x->t.v[i], &b, &n);
        ret->bytes += b;
        ret->inodes += n;
    }
    pthread_mutex_unlock(&x->lock);
    return 0;
}

/* --- start-up ---------------------------------------------------------------- */

/* Remove every directory below root/`sub` (tmp/ or trash/ leftovers of a crash). */
static int clear_dir(struct lx *x, const char *sub) {
    char **names = NULL;
    int r = plugin_list_dir(x->rootfd, sub, &names);
    for (size_t i = 0; r == 0 && names[i]; i++) {
        char dir[PATH_MAX], img[PATH_MAX + 8];
        snprintf(dir, sizeof(dir), "%s/%s", sub, names[i]);
        snprintf(img, sizeof(img), "%s/image", dir);
        int n;
        if (lx_loop_find(x->rootfd, img, &n) > 0)
            lx_loop_detach(n);
        r = remove_dir(x, dir);
    }
    plugin_strv_free(names);
    return r;
}

/* Keep the loop devices of active snapshots and views: "snapshots/<id>/image" of one. */
static int keep_device(void *ctx, const char *backing) {
    struct lx *x = ctx;
    unsigned long long id;
    char rest[16];
    if (sscanf(backing, "snapshots/%llu/%15s", &id, rest) != 2 || strcmp(rest, "image") != 0)
        return 0;
    for (size_t i = 0; i < x->t.n; i++)
        if (x->t.v[i]->id == id)
            return x->t.v[i]->kind != CLEAT_SNAPSHOT_COMMITTED;
    return 0;
}

/* base.img: an empty ext4 of the configured size, made once (tmp first, then renamed: whole or absent). */
static int make_base(struct lx *x, struct cleat_error **reterr) {
    if (faccessat(x->rootfd, "base.img", F_OK, 0) == 0)
        return 0;
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof(tmp), "%s/base.img.tmp", x->root);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int r = fd < 0 || ftruncate(fd, x->size) < 0 ? -errno : 0;
    if (fd >= 0)
        close(fd);
    const char *mkfs = access("/usr/sbin/mkfs.ext4", X_OK) == 0 ? "/usr/sbin/mkfs.ext4" : "/sbin/mkfs.ext4";
    const char *debugfs = access("/usr/sbin/debugfs", X_OK) == 0 ? "/usr/sbin/debugfs" : "/sbin/debugfs";
    /* An empty snapshot holds nothing: not even mkfs's lost+found. */
    const char *const steps[][7] = {{mkfs, "-q", "-F", "-m", "0", tmp, NULL},
                                    {debugfs, "-w", "-R", "rmdir lost+found", tmp, NULL}};
    if (r < 0)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot make %s: %s", tmp, strerror(-r));
    for (size_t i = 0; i < 2 && r == 0; i++) {
        struct plugin_run run = {.argv = steps[i], .timeout_ms = 60000, .stderr_max = 4096};
        struct plugin_output out;
        r = plugin_run(&run, -1, &out);
        if (r < 0)
            return cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, -r,
                                   "cannot run %s (Debian package e2fsprogs): %s", steps[i][0], strerror(-r));
        if (out.exit_status != 0)
            r = cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EIO, "%s failed (%d): %s",
                                steps[i][0], out.exit_status, out.err ? out.err : "");
        plugin_output_done(&out);
    }
    if (r == 0 && renameat(x->rootfd, "base.img.tmp", x->rootfd, "base.img") < 0)
        r = cleat_error_set(x->host, reterr, CLEAT_STATUS_INTERNAL, errno, "cannot rename %s: %s", tmp,
                            strerror(errno));
    return r;
}

static int lx_validate(const struct cleat_host *host, const struct cleat_config *options, struct cleat_error **reterr) {
    if (host->config_kind(options) == CLEAT_CONFIG_ABSENT)
        return 0;
    int64_t size;
    int r = host->config_check_keys(options, lx_keys, reterr);
    return r < 0 ? r : host->config_get_int(options, "size_mib", 64, 8, 1 << 20, &size, reterr);
}

static void lx_fini(void *instance) {
    struct lx *x = instance;
    if (!x)
        return;
    plugin_snaps_clear(&x->t);
    if (x->rootfd >= 0)
        close(x->rootfd);
    if (x->lockfd >= 0)
        close(x->lockfd);
    pthread_mutex_destroy(&x->lock);
    free(x);
}

/* What a crash left: half-made (tmp/) and half-removed (trash/) snapshots, devices of no active snapshot. */
static int sweep(struct lx *x, struct cleat_error **reterr) {
    int r = clear_dir(x, "tmp");
    if (r == 0)
        r = clear_dir(x, "trash");
    if (r < 0)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot clear leftovers in %s: %s", x->root,
                               strerror(-r));
    lx_loop_detach_unkept(x->root, keep_device, x);
    return 0;
}

static int lx_cleanup(void *instance, struct cleat_error **reterr) {
    struct lx *x = instance;
    pthread_mutex_lock(&x->lock);
    int r = sweep(x, reterr);
    pthread_mutex_unlock(&x->lock);
    return r;
}

static int lx_init(const struct cleat_host *host, const struct cleat_config *options, void **ret_instance,
                   struct cleat_error **reterr) {
    struct lx *x = calloc(1, sizeof(*x));
    if (!x)
        return plugin_oom(host, reterr);
    x->host = host;
    x->rootfd = x->lockfd = -1;
    pthread_mutex_init(&x->lock, NULL);
    int64_t mib = 64;
    int r = lx_validate(host, options, reterr);
    if (r == 0 && host->config_kind(options) != CLEAT_CONFIG_ABSENT)
        r = host->config_get_int(options, "size_mib", 64, 8, 1 << 20, &mib, reterr);
    x->size = mib << 20;
    if (r == 0)
        r = plugin_snaps_open_root(host, x->root, sizeof(x->root), &x->rootfd, &x->lockfd, reterr);
    if (r == 0 && (r = plugin_snaps_load(&x->t, x->rootfd)) < 0)
        r = cleat_error_set(host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot read the snapshots in %s: %s", x->root,
                            strerror(-r));
    if (r == 0)
        r = sweep(x, reterr);
    if (r == 0)
        r = make_base(x, reterr);
    if (r < 0) {
        lx_fini(x);
        return r;
    }
    *ret_instance = x;
    return 0;
}

#ifdef LX_WRONG_PREPARE_AHEAD
/* A fresh base snapshot, the parent ignored: an ext4 mount where the SDK asks for an overlay upper dir. */
static int lx_prepare_ahead(void *instance, const char *key, const char *parent, const char *const *labels,
                            struct cleat_mount_list *ml, struct cleat_error **reterr) {
    (void)parent;
    return lx_prepare(instance, key, NULL, labels, ml, reterr);
}
#define LX_NAME "test-loop-ext4-ahead"
#else
#define LX_NAME "test-loop-ext4"
#endif

static const struct cleat_snapshotter_ops lx_ops = {
    .prepare = lx_prepare,
    .view = lx_view,
    .mounts = lx_mounts,
    .commit = lx_commit,
    .remove = lx_remove,
    .stat = lx_stat,
    .walk = lx_walk,
    .usage = lx_usage,
    .fs_usage = lx_fs_usage,
    .cleanup = lx_cleanup,
#ifdef LX_WRONG_PREPARE_AHEAD
    .prepare_ahead = lx_prepare_ahead,
#endif
};

CLEAT_PLUGIN_DEFINE(CLEAT_CONCERN_SNAPSHOTTER, LX_NAME, "1.0",
                    "tests only: each snapshot an ext4 image on a loop device (mounts that are not directories)",
                    lx_validate, lx_init, lx_fini, lx_ops);
