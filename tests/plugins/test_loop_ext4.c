/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-loop-ext4: the snapshotter ops, metadata and init (loop_ext4.h says
 * what is on disk and why).
 *
 * Options (all optional):
 *   size_mib: 64      the size of every snapshot's filesystem (sparse)
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
#include "plugin_spawn.h"
#include "plugin_strv.h"

struct snap {
    uint64_t id;
    char *key, *parent; /* parent: NULL for none */
    uint32_t kind;
    int64_t created, updated;
    char **labels; /* key, value, ..., NULL; never NULL */
};

struct lx {
    const struct cleat_host *host;
    char root[PATH_MAX]; /* realpath'ed: compared with loop devices' backing files */
    int rootfd, lockfd;
    int64_t size;
    pthread_mutex_t lock; /* every op, whole */
    struct snap **snaps;
    size_t n, cap;
    uint64_t next_id;
};

static const char *const lx_keys[] = {"size_mib", NULL};

/* --- the table ------------------------------------------------------------ */

static void snap_free(struct snap *s) {
    if (!s)
        return;
    free(s->key);
    free(s->parent);
    plugin_strv_free(s->labels);
    free(s);
}

static struct snap *find(const struct lx *x, const char *key) {
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->snaps[i]->key, key) == 0)
            return x->snaps[i];
    return NULL;
}

static const struct snap *child_of(const struct lx *x, const char *key) {
    for (size_t i = 0; i < x->n; i++)
        if (x->snaps[i]->parent && strcmp(x->snaps[i]->parent, key) == 0)
            return x->snaps[i];
    return NULL;
}

static int table_add(struct lx *x, struct snap *s) {
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16;
        struct snap **v = realloc(x->snaps, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        x->snaps = v;
        x->cap = cap;
    }
    x->snaps[x->n++] = s;
    if (s->id >= x->next_id)
        x->next_id = s->id + 1;
    return 0;
}

static void table_del(struct lx *x, struct snap *s) {
    for (size_t i = 0; i < x->n; i++)
        if (x->snaps[i] == s) {
            x->snaps[i] = x->snaps[--x->n];
            return;
        }
}

/* --- metadata: "field<TAB>value" lines; keys and labels may not hold a tab or a newline --- */

static int meta_text(const struct snap *s, char **ret) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -ENOMEM;
    fprintf(f, "key\t%s\nparent\t%s\nkind\t%u\ncreated\t%lld\nupdated\t%lld\n", s->key, s->parent ? s->parent : "",
            s->kind, (long long)s->created, (long long)s->updated);
    for (size_t i = 0; s->labels[i] && s->labels[i + 1]; i += 2)
        fprintf(f, "label\t%s\t%s\n", s->labels[i], s->labels[i + 1]);
    if (fclose(f) != 0)
        return -ENOMEM;
    *ret = buf;
    return 0;
}

/* Write dir/meta atomically (dir relative to the root). */
static int meta_store(const struct lx *x, const char *dir, const struct snap *s) {
    char *text = NULL, path[64], tmp[64];
    int r = meta_text(s, &text);
    if (r < 0)
        return r;
    snprintf(path, sizeof(path), "%s/meta", dir);
    snprintf(tmp, sizeof(tmp), "%s/meta.tmp", dir);
    r = plugin_write_atomic(x->rootfd, tmp, path, text, strlen(text));
    free(text);
    return r < 0 ? r : plugin_fsync_dir(x->rootfd, dir);
}

static int meta_field(struct snap *s, char *line, size_t *nlabels) {
    char *tab = strchr(line, '\t');
    if (!tab)
        return -EINVAL;
    *tab++ = '\0';
    if (strcmp(line, "key") == 0)
        return (s->key = strdup(tab)) ? 0 : -ENOMEM;
    if (strcmp(line, "parent") == 0)
        return !*tab || (s->parent = strdup(tab)) ? 0 : -ENOMEM;
    if (strcmp(line, "kind") == 0)
        return (s->kind = (uint32_t)strtoul(tab, NULL, 10)) >= CLEAT_SNAPSHOT_VIEW &&
                       s->kind <= CLEAT_SNAPSHOT_COMMITTED
                   ? 0
                   : -EINVAL;
    if (strcmp(line, "created") == 0 || strcmp(line, "updated") == 0) {
        *(line[0] == 'c' ? &s->created : &s->updated) = strtoll(tab, NULL, 10);
        return 0;
    }
    if (strcmp(line, "label") != 0)
        return 0;
    char *v = strchr(tab, '\t');
    char **labels = v ? realloc(s->labels, (*nlabels + 3) * sizeof(char *)) : NULL;
    if (!labels)
        return v ? -ENOMEM : -EINVAL;
    s->labels = labels;
    *v++ = '\0';
    s->labels[*nlabels] = strdup(tab);
    s->labels[*nlabels + 1] = strdup(v);
    s->labels[*nlabels + 2] = NULL;
    *nlabels += 2;
    return s->labels[*nlabels - 2] && s->labels[*nlabels - 1] ? 0 : -ENOMEM;
}

static int meta_load(const struct lx *x, uint64_t id, struct snap **ret) {
    char path[PATH_MAX + 64], *text = NULL;
    snprintf(path, sizeof(path), "%s/snapshots/%llu/meta", x->root, (unsigned long long)id);
    int r = plugin_read_file(path, 1 << 20, &text, NULL);
    if (r < 0)
        return r;
    struct snap *s = calloc(1, sizeof(*s));
    if (!s || !(s->labels = calloc(1, sizeof(char *)))) {
        free(s);
        free(text);
        return -ENOMEM;
    }
    s->id = id;
    size_t nlabels = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && r == 0; line = strtok_r(NULL, "\n", &save))
        r = meta_field(s, line, &nlabels);
    free(text);
    if (r == 0 && (!s->key || !s->kind))
        r = -EINVAL;
    if (r < 0) {
        snap_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

/* --- helpers ----------------------------------------------------------------- */

static int fail(const struct lx *x, struct cleat_error **reterr, int r, const char *what, const char *key) {
    return cleat_error_set(x->host, reterr, plugin_errno_status(-r), -r, "snapshot '%s': %s: %s", key, what,
                           strerror(-r));
}

static int check_text(const struct lx *x, const char *what, const char *s, struct cleat_error **reterr) {
    if (!s || !*s || strpbrk(s, "\t\n"))
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "%s '%s' is empty or holds a tab or a newline", what, s ? s : "(null)");
    return 0;
}

static int check_labels(const struct lx *x, const char *const *labels, struct cleat_error **reterr) {
    int r = 0;
    for (size_t i = 0; labels && labels[i] && r == 0; i++)
        r = check_text(x, "label", labels[i], reterr);
    return r;
}

static void image_path(const struct snap *s, const char *where, char *buf, size_t size) {
    snprintf(buf, size, "%s/%llu/image", where, (unsigned long long)s->id);
}

/* Remove a snapshot's directory (relative to the root): it only ever holds these files.  Missing is fine. */
static int remove_dir(const struct lx *x, const char *dir) {
    static const char *const files[] = {"image", "meta", "meta.tmp"};
    char path[PATH_MAX + 16];
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        if (unlinkat(x->rootfd, path, 0) < 0 && errno != ENOENT)
            return -errno;
    }
    return unlinkat(x->rootfd, dir, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

/* The loop device of an active snapshot or view: found by the image's inode, or attached (after a reboot). */
static int device_of(const struct lx *x, const struct snap *s, int *ret_n) {
    char img[64];
    image_path(s, "snapshots", img, sizeof(img));
    int r = lx_loop_find(x->rootfd, img, ret_n);
    if (r != 0)
        return r < 0 ? r : 0;
    return lx_loop_attach(x->rootfd, img, s->kind == CLEAT_SNAPSHOT_VIEW, ret_n);
}

static int emit_mounts(const struct lx *x, const struct snap *s, int n, struct cleat_mount_list *ml,
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
    int r = check_text(x, "snapshot key", key, reterr);
    if (r == 0)
        r = check_labels(x, labels, reterr);
    if (r < 0)
        return r;
    if (find(x, key))
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_ALREADY_EXISTS, EEXIST, "snapshot '%s' exists", key);
    const struct snap *p = parent ? find(x, parent) : NULL;
    if (parent && !p)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "parent snapshot '%s' not found",
                               parent);
    if (p && p->kind != CLEAT_SNAPSHOT_COMMITTED)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                               "parent snapshot '%s' is not committed", parent);
    struct snap *s = calloc(1, sizeof(*s));
    if (!s || !(s->key = strdup(key)) || (parent && !(s->parent = strdup(parent))) ||
        !(s->labels = plugin_strv_dup(labels ? labels : (const char *const[]){NULL}))) {
        snap_free(s);
        return plugin_oom(x->host, reterr);
    }
    s->id = x->next_id;
    s->kind = kind;
    s->created = s->updated = plugin_realtime_ns();
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
        r = meta_store(x, tmp, s);
    if (r == 0 && renameat(x->rootfd, tmp, x->rootfd, final) < 0)
        r = -errno;
    if (r == 0)
        r = plugin_fsync_dir(x->rootfd, "snapshots");
    if (r == 0)
        r = device_of(x, s, &n);
    if (r == 0)
        r = table_add(x, s);
    if (r < 0) {
        int e = fail(x, reterr, r, "cannot make it", key);
        if (n >= 0)
            lx_loop_detach(n);
        remove_dir(x, final);
        remove_dir(x, tmp);
        snap_free(s);
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
    const struct snap *s = find(x, key);
    int n = -1, r = 0;
    if (!s)
        r = cleat_error_set(x->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "snapshot '%s' not found", key);
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
    int r = check_text(x, "snapshot name", name, reterr);
    if (r == 0)
        r = check_labels(x, labels, reterr);
    if (r < 0)
        return r;
    struct snap *s = find(x, key);
    if (!s)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "snapshot '%s' not found", key);
    if (s->kind != CLEAT_SNAPSHOT_ACTIVE)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL, "snapshot '%s' is not active",
                               key);
    if (find(x, name))
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_ALREADY_EXISTS, EEXIST, "snapshot '%s' exists", name);
    struct snap c = *s;
    char *new_key = strdup(name), **new_labels = labels ? plugin_strv_dup(labels) : NULL;
    if (!new_key || (labels && !new_labels)) {
        free(new_key);
        plugin_strv_free(new_labels);
        return plugin_oom(x->host, reterr);
    }
    c.key = new_key;
    c.kind = CLEAT_SNAPSHOT_COMMITTED;
    c.labels = new_labels ? new_labels : s->labels;
    c.updated = plugin_realtime_ns();
    char dir[64], img[64];
    snprintf(dir, sizeof(dir), "snapshots/%llu", (unsigned long long)s->id);
    image_path(s, "snapshots", img, sizeof(img));
    /* Detached first: a committed image is only ever copied, and its device must not outlive it. */
    int n;
    if ((r = lx_loop_find(x->rootfd, img, &n)) > 0)
        r = lx_loop_detach(n);
    if (r >= 0)
        r = meta_store(x, dir, &c);
    if (r < 0) {
        free(new_key);
        plugin_strv_free(new_labels);
        return fail(x, reterr, r, "cannot commit it", key);
    }
    free(s->key);
    s->key = new_key;
    if (new_labels) {
        plugin_strv_free(s->labels);
        s->labels = new_labels;
    }
    s->kind = CLEAT_SNAPSHOT_COMMITTED;
    s->updated = c.updated;
    return 0;
}

static int lx_commit(void *instance, const char *name, const char *key, const char *const *labels,
                     struct cleat_error **reterr) {
    struct lx *x = instance;
    pthread_mutex_lock(&x->lock);
    int r = commit_locked(x, name, key, labels, reterr);
    pthread_mutex_unlock(&x->lock);
    return r;
}

static int remove_locked(struct lx *x, const char *key, struct cleat_error **reterr) {
    struct snap *s = find(x, key);
    if (!s)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "snapshot '%s' not found", key);
    const struct snap *child = child_of(x, key);
    if (child)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EBUSY,
                               "snapshot '%s' is the parent of '%s'", key, child->key);
    char dir[64], trash[64], img[80];
    snprintf(dir, sizeof(dir), "snapshots/%llu", (unsigned long long)s->id);
    snprintf(trash, sizeof(trash), "trash/%llu", (unsigned long long)s->id);
    if (renameat(x->rootfd, dir, x->rootfd, trash) < 0)
        return fail(x, reterr, -errno, "cannot remove it", key);
    plugin_fsync_dir(x->rootfd, "snapshots");
    table_del(x, s);
    snap_free(s);
    /* The key is free now; what follows is finished by init() if it fails. */
    int n;
    snprintf(img, sizeof(img), "%s/image", trash);
    if (lx_loop_find(x->rootfd, img, &n) > 0)
        lx_loop_detach(n);
    int r = remove_dir(x, trash);
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

static int report(const struct snap *s, cleat_snapshot_fn fn, void *ctx) {
    struct cleat_snapshot_info info = {.struct_size = sizeof(info),
                                       .key = s->key,
                                       .parent = s->parent,
                                       .kind = s->kind,
                                       .created_ns = s->created,
                                       .updated_ns = s->updated,
                                       .labels = (const char *const *)s->labels};
    return fn(ctx, &info);
}

static int lx_stat(void *instance, const char *key, cleat_snapshot_fn fn, void *ctx, struct cleat_error **reterr) {
    struct lx *x = instance;
    pthread_mutex_lock(&x->lock);
    const struct snap *s = find(x, key);
    int r = s ? 0 : cleat_error_set(x->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "snapshot '%s' not found", key);
    if (s)
        report(s, fn, ctx);
    pthread_mutex_unlock(&x->lock);
    return r;
}

static int lx_walk(void *instance, cleat_snapshot_fn fn, void *ctx, struct cleat_error **reterr) {
    struct lx *x = instance;
    pthread_mutex_lock(&x->lock);
    for (size_t i = 0; i < x->n && report(x->snaps[i], fn, ctx) == 0; i++) {
    }
    pthread_mutex_unlock(&x->lock);
    return 0;
}

/* Bytes the image file takes on the node's disk, inodes its filesystem uses. */
static void image_use(const struct lx *x, const struct snap *s, int64_t *bytes, int64_t *inodes) {
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
    const struct snap *s = find(x, key), *p = s && s->parent ? find(x, s->parent) : NULL;
    int r = s ? 0 : cleat_error_set(x->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "snapshot '%s' not found", key);
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
    for (size_t i = 0; i < x->n; i++) {
        int64_t b, n;
        image_use(x, x->snaps[i], &b, &n);
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

static int load_all(struct lx *x) {
    char **names = NULL;
    int r = plugin_list_dir(x->rootfd, "snapshots", &names);
    for (size_t i = 0; r == 0 && names[i]; i++) {
        struct snap *s = NULL;
        char *end;
        unsigned long long id = strtoull(names[i], &end, 10);
        if (*end || !id)
            continue;
        if ((r = meta_load(x, id, &s)) == 0 && (r = table_add(x, s)) < 0)
            snap_free(s);
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
    for (size_t i = 0; i < x->n; i++)
        if (x->snaps[i]->id == id)
            return x->snaps[i]->kind != CLEAT_SNAPSHOT_COMMITTED;
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
    for (size_t i = 0; i < x->n; i++)
        snap_free(x->snaps[i]);
    free(x->snaps);
    if (x->rootfd >= 0)
        close(x->rootfd);
    if (x->lockfd >= 0)
        close(x->lockfd);
    pthread_mutex_destroy(&x->lock);
    free(x);
}

static int open_root(struct lx *x, struct cleat_error **reterr) {
    static const char *const subs[] = {"snapshots", "tmp", "trash"};
    if (!realpath(x->host->root_dir(x->host), x->root))
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_INTERNAL, errno, "cannot resolve %s: %s",
                               x->host->root_dir(x->host), strerror(errno));
    if ((x->rootfd = open(x->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_INTERNAL, errno, "cannot open %s: %s", x->root,
                               strerror(errno));
    for (size_t i = 0; i < 3; i++)
        if (mkdirat(x->rootfd, subs[i], 0700) < 0 && errno != EEXIST)
            return cleat_error_set(x->host, reterr, CLEAT_STATUS_INTERNAL, errno, "cannot create %s/%s: %s", x->root,
                                   subs[i], strerror(errno));
    /* Two instances on one root would detach each other's devices. */
    x->lockfd = openat(x->rootfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (x->lockfd < 0 || flock(x->lockfd, LOCK_EX | LOCK_NB) < 0)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, errno, "%s is in use: %s", x->root,
                               strerror(errno));
    return 0;
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
    x->next_id = 1;
    pthread_mutex_init(&x->lock, NULL);
    int64_t mib = 64;
    int r = lx_validate(host, options, reterr);
    if (r == 0 && host->config_kind(options) != CLEAT_CONFIG_ABSENT)
        r = host->config_get_int(options, "size_mib", 64, 8, 1 << 20, &mib, reterr);
    x->size = mib << 20;
    if (r == 0)
        r = open_root(x, reterr);
    if (r == 0 && (r = load_all(x)) < 0)
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
};

CLEAT_PLUGIN_DEFINE(CLEAT_CONCERN_SNAPSHOTTER, "test-loop-ext4", "1.0",
                    "tests only: each snapshot an ext4 image on a loop device (mounts that are not directories)",
                    lx_validate, lx_init, lx_fini, lx_ops);
