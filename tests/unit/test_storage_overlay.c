/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage-overlay through the real plugin loader, against the real kernel:
 * the mounts it returns are mounted and looked at.  Needs root and overlayfs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "builders.h"
#include "config.h"
#include "config_tree.h"
#include "mount_util.h"
#include "plugin_loader.h"

#define PLUGIN_SO CLEAT_TEST_PLUGIN_DIR "/../../plugins/storage-overlay/storage-overlay.so"
#define MAX_MOUNTS 8

struct fx {
    char dir[64];       /* root_dir, state_dir and scratch space */
    char long_root[80]; /* a `root:` override, for long chains */
    struct config *cfg;
    struct plugins *p;
    const struct cleat_snapshotter_ops *ops;
    void *inst;
    char root[256]; /* the instance's snapshot root */
    char mounted[MAX_MOUNTS][PATH_MAX];
};

/* --- fixture --------------------------------------------------------------- */

static int setup(void **state) {
    struct fx *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/cleat-ovl-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

static void rm_rf_immutable(const char *dir) {
    char cmd[PATH_MAX + 64];
    /* chattr: a failed test may leave immutable files behind */
    snprintf(cmd, sizeof(cmd), "chattr -R -ia '%s' 2>/dev/null; rm -rf '%s'", dir, dir);
    assert_int_equal(system(cmd), 0);
}

static int teardown(void **state) {
    struct fx *f = *state;
    for (int i = 0; i < MAX_MOUNTS; i++)
        if (f->mounted[i][0])
            (void)umount2(f->mounted[i], MNT_DETACH);
    plugins_free(f->p);
    config_free(f->cfg);
    rm_rf_immutable(f->dir);
    if (f->long_root[0])
        rm_rf_immutable(f->long_root);
    free(f);
    return 0;
}

static struct config *make_config(struct fx *f, const char *options) {
    char *text = NULL, so[PATH_MAX];
    if (!realpath(PLUGIN_SO, so))
        fail_msg("%s: %s (build the storage-overlay target)", PLUGIN_SO, strerror(errno));
    assert_true(asprintf(&text,
                         "root_dir: %s/root\nstate_dir: %s/state\nsocket: %s/s.sock\nplugin_dirs: [%s]\n"
                         "transports: null\nsnapshotter:\n  plugin: storage-overlay\n  path: %s\n  options: %s\n",
                         f->dir, f->dir, f->dir, CLEAT_TEST_PLUGIN_DIR, so, options) > 0);
    struct config *cfg = config_over_defaults(text);
    free(text);
    return cfg;
}

/* Load the plugin with `options` (a YAML flow map); returns <0 and *reterr on failure. */
static int try_load(struct fx *f, const char *options, struct cleat_error **reterr) {
    if (geteuid() != 0) {
        print_message("storage-overlay tests need root (mount, mknod, chattr)\n");
        skip();
    }
    plugins_free(f->p);
    f->p = NULL;
    config_free(f->cfg);
    f->cfg = make_config(f, options);
    int r = plugins_load(f->cfg, PLUGINS_INIT, &f->p, reterr);
    if (r < 0)
        return r;
    struct plugin_instance *pi = plugins_first(f->p, CLEAT_CONCERN_SNAPSHOTTER);
    assert_non_null(pi);
    assert_string_equal(pi->desc->name, "storage-overlay");
    f->ops = &pi->ops.snapshotter;
    f->inst = pi->instance;
    snprintf(f->root, sizeof(f->root), "%s", f->long_root[0] ? f->long_root : pi->root_dir);
    return 0;
}

static void load(struct fx *f, const char *options) {
    struct cleat_error *err = NULL;
    if (try_load(f, options, &err) < 0)
        fail_msg("load: %s", error_message(err));
}

/* --- helpers --------------------------------------------------------------- */

/* The status of a failed call, after checking its message holds `needle`. */
static int32_t failed(int r, struct cleat_error **errp, const char *needle) {
    struct cleat_error *err = *errp; /* read after the call that set it */
    *errp = NULL;
    assert_true(r < 0);
    assert_non_null(err);
    if (needle && !strstr(error_message(err), needle))
        fail_msg("message lacks '%s': %s", needle, error_message(err));
    int32_t status = error_status(err);
    error_free(err);
    return status;
}

static struct cleat_mount_list *create(struct fx *f, int view, const char *key, const char *parent,
                                       const char *const *labels) {
    struct cleat_mount_list *ml = mount_list_new();
    struct cleat_error *err = NULL;
    int r = (view ? f->ops->view : f->ops->prepare)(f->inst, key, parent, labels, ml, &err);
    if (r < 0)
        fail_msg("%s '%s': %s", view ? "view" : "prepare", key, error_message(err));
    assert_int_equal(ml->n, 1);
    assert_null(ml->items[0].target);
    return ml;
}

static int32_t create_fails(struct fx *f, const char *key, const char *parent, const char *needle) {
    struct cleat_mount_list *ml = mount_list_new();
    struct cleat_error *err = NULL;
    int r = f->ops->prepare(f->inst, key, parent, NULL, ml, &err);
    mount_list_free(ml);
    return failed(r, &err, needle);
}

static void commit(struct fx *f, const char *name, const char *key, const char *const *labels) {
    struct cleat_error *err = NULL;
    if (f->ops->commit(f->inst, name, key, labels, &err) < 0)
        fail_msg("commit '%s' as '%s': %s", key, name, error_message(err));
}

static void remove_ok(struct fx *f, const char *key) {
    struct cleat_error *err = NULL;
    if (f->ops->remove(f->inst, key, &err) < 0)
        fail_msg("remove '%s': %s", key, error_message(err));
}

static int32_t remove_fails(struct fx *f, const char *key, const char *needle) {
    struct cleat_error *err = NULL;
    return failed(f->ops->remove(f->inst, key, &err), &err, needle);
}

/* The value of option `prefix...` of a mount, or NULL. */
static const char *opt(const struct cleat_mount *m, const char *prefix) {
    for (size_t i = 0; m->options[i]; i++)
        if (strncmp(m->options[i], prefix, strlen(prefix)) == 0)
            return m->options[i] + strlen(prefix);
    return NULL;
}

static size_t nopts(const struct cleat_mount *m) {
    size_t n = 0;
    while (m->options[n])
        n++;
    return n;
}

/* The directory a snapshot's mount writes to or binds: upperdir= or the bind source. */
static const char *layer_dir(const struct cleat_mount *m) {
    return strcmp(m->type, "bind") == 0 ? m->source : opt(m, "upperdir=");
}

static void expect_absent(const char *dir, const char *name) {
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(lstat(path, &st), -1);
    assert_int_equal(errno, ENOENT);
}

static size_t data_size(const struct cleat_mount *m) {
    size_t n = 0;
    for (size_t i = 0; m->options[i]; i++)
        n += strlen(m->options[i]) + (i ? 1 : 0);
    return n;
}

/* Mount m on a fresh directory with mount_apply, as the host does; remembered for teardown. */
static const char *do_mount(struct fx *f, const struct cleat_mount *m) {
    int slot = 0;
    while (f->mounted[slot][0])
        slot++;
    assert_true(slot < MAX_MOUNTS);
    char *target = f->mounted[slot], tmpl[sizeof(f->dir) + 16];
    snprintf(tmpl, sizeof(tmpl), "%s/mnt-XXXXXX", f->dir);
    assert_non_null(mkdtemp(tmpl));
    strcpy(target, tmpl);
    struct cleat_error *err = NULL;
    if (mount_apply(m, target, &err) < 0)
        fail_msg("%s mount, %zu bytes of options: %s", m->type, data_size(m), error_message(err));
    return target;
}

static void do_umount(struct fx *f, const char *target) {
    assert_int_equal(umount2(target, 0), 0);
    for (int i = 0; i < MAX_MOUNTS; i++)
        if (f->mounted[i] == target) {
            rmdir(target);
            f->mounted[i][0] = '\0';
        }
}

static int count_entries(const char *root, const char *sub);

/* remove() leaves the deleting to the plugin's reaper thread: wait (at most 30 s) until trash/ is empty. */
static void wait_trash_empty(const struct fx *f) {
    for (int i = 0; i < 3000 && count_entries(f->root, "trash") > 0; i++)
        usleep(10000);
    assert_int_equal(count_entries(f->root, "trash"), 0);
}

static int count_entries(const char *root, const char *sub) {
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", root, sub);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    DIR *d = fdopendir(fd);
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* What stat/walk report, for checking. */
struct seen {
    int n;
    char keys[16][64], parents[16][64];
    uint32_t kinds[16];
    char labels[16][128];
};

static int record(void *ctx, const struct cleat_snapshot_info *info) {
    struct seen *s = ctx;
    if (s->n == 16)
        return 1;
    snprintf(s->keys[s->n], 64, "%s", info->key);
    snprintf(s->parents[s->n], 64, "%s", info->parent ? info->parent : "-");
    s->kinds[s->n] = info->kind;
    size_t len = 0;
    for (size_t i = 0; info->labels[i] && len < 128; i++)
        len += (size_t)snprintf(s->labels[s->n] + len, 128 - len, "%s%s", i ? "," : "", info->labels[i]);
    s->n++;
    return 0;
}

static int find_seen(const struct seen *s, const char *key) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->keys[i], key) == 0)
            return i;
    return -1;
}

static struct seen walk_all(struct fx *f) {
    struct seen s = {0};
    struct cleat_error *err = NULL;
    if (f->ops->walk(f->inst, record, &s, &err) < 0)
        fail_msg("walk: %s", error_message(err));
    return s;
}

static struct seen stat_one(struct fx *f, const char *key) {
    struct seen s = {0};
    struct cleat_error *err = NULL;
    if (f->ops->stat(f->inst, key, record, &s, &err) < 0)
        fail_msg("stat '%s': %s", key, error_message(err));
    assert_int_equal(s.n, 1);
    return s;
}

/* --- the tests ------------------------------------------------------------- */

static void test_layers_mount_and_merge(void **state) {
    struct fx *f = *state;
    load(f, "{}");
    /* A base layer: a plain rw bind of its empty fs dir. */
    const char *const labels[] = {"cleat.io/layer", "0", "note", "two words\nand a newline", NULL};
    struct cleat_mount_list *base = create(f, 0, "extract-base", NULL, labels);
    assert_string_equal(base->items[0].type, "bind");
    assert_int_equal(nopts(&base->items[0]), 2);
    assert_string_equal(base->items[0].options[0], "rw");
    assert_string_equal(base->items[0].options[1], "rbind");
    assert_true(strncmp(base->items[0].source, f->root, strlen(f->root)) == 0);
    const char *fs = base->items[0].source;
    write_text(fs, "base.txt", "from base");
    write_text(fs, "gone.txt", "deleted above");
    commit(f, "sha256:aaa", "extract-base", NULL);
    assert_int_equal(create_fails(f, "x", "extract-base", "does not exist"), CLEAT_STATUS_NOT_FOUND);
    struct seen s = stat_one(f, "sha256:aaa");
    assert_int_equal(s.kinds[0], CLEAT_SNAPSHOT_COMMITTED);
    assert_string_equal(s.parents[0], "-");
    assert_string_equal(s.labels[0], "cleat.io/layer,0,note,two words\nand a newline"); /* kept through commit */
    /* The committed layer lost its work dir. */
    char work[PATH_MAX];
    snprintf(work, sizeof(work), "%.*s/work", (int)(strlen(fs) - 3), fs);
    assert_int_equal(access(work, F_OK), -1);

    /* A second layer: overlay on the first, with a whiteout made by hand as an unpacker would. */
    struct cleat_mount_list *child = create(f, 0, "extract-child", "sha256:aaa", NULL);
    const struct cleat_mount *cm = &child->items[0];
    assert_string_equal(cm->type, "overlay");
    assert_string_equal(cm->source, "overlay");
    assert_int_equal(nopts(cm), 3);
    assert_true(strncmp(cm->options[0], "workdir=", 8) == 0);
    assert_true(strncmp(cm->options[1], "upperdir=", 9) == 0);
    assert_true(strncmp(cm->options[2], "lowerdir=", 9) == 0);
    char want[PATH_MAX], resolved[PATH_MAX];
    snprintf(want, sizeof(want), "%s/l/", f->root);
    assert_true(strncmp(opt(cm, "lowerdir="), want, strlen(want)) == 0); /* a short link ... */
    assert_non_null(realpath(opt(cm, "lowerdir="), resolved));
    assert_string_equal(resolved, fs); /* ... to the parent's layer */
    write_text(opt(cm, "upperdir="), "child.txt", "from child");
    char wh[PATH_MAX];
    snprintf(wh, sizeof(wh), "%s/gone.txt", opt(cm, "upperdir="));
    assert_int_equal(mknod(wh, S_IFCHR | 0, makedev(0, 0)), 0);
    commit(f, "sha256:bbb", "extract-child", (const char *const[]){"k", "v", NULL});
    assert_string_equal(stat_one(f, "sha256:bbb").labels[0], "k,v"); /* replaced by commit's */

    /* A container on top: the merged view has both layers, minus the whiteout. */
    struct cleat_mount_list *ctr = create(f, 0, "ctr", "sha256:bbb", NULL);
    const char *lower = opt(&ctr->items[0], "lowerdir=");
    assert_non_null(strchr(lower, ':'));
    assert_non_null(realpath(strchr(lower, ':') + 1, resolved));
    assert_string_equal(resolved, fs); /* parent first, base last */
    const char *merged = do_mount(f, &ctr->items[0]);
    expect_text(merged, "base.txt", "from base");
    expect_text(merged, "child.txt", "from child");
    expect_absent(merged, "gone.txt");
    write_text(merged, "new.txt", "written by the container");
    do_umount(f, merged);
    expect_text(opt(&ctr->items[0], "upperdir="), "new.txt", "written by the container");

    /* mounts() says the same as prepare(); committed snapshots have none. */
    struct cleat_mount_list *again = mount_list_new();
    struct cleat_error *err = NULL;
    assert_int_equal(f->ops->mounts(f->inst, "ctr", again, &err), 0);
    assert_int_equal(again->n, 1);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(again->items[0].options[i], ctr->items[0].options[i]);
    assert_int_equal(failed(f->ops->mounts(f->inst, "sha256:aaa", again, &err), &err, "committed"),
                     CLEAT_STATUS_FAILED_PRECONDITION);
    mount_list_free(again);

    /* Views: none, one and two parents. */
    struct cleat_mount_list *v0 = create(f, 1, "v0", NULL, NULL), *v1 = create(f, 1, "v1", "sha256:aaa", NULL);
    struct cleat_mount_list *v2 = create(f, 1, "v2", "sha256:bbb", NULL);
    assert_string_equal(v0->items[0].type, "bind");
    assert_string_equal(v0->items[0].options[0], "ro");
    assert_string_equal(v1->items[0].type, "bind");
    assert_string_equal(v1->items[0].source, fs);
    assert_string_equal(v1->items[0].options[0], "ro");
    assert_string_equal(v2->items[0].type, "overlay");
    assert_int_equal(nopts(&v2->items[0]), 1);
    assert_null(opt(&v2->items[0], "upperdir="));
    const char *seen_ro = do_mount(f, &v2->items[0]);
    expect_text(seen_ro, "child.txt", "from child");
    expect_absent(seen_ro, "gone.txt");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/nope", seen_ro);
    assert_int_equal(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644), -1);
    assert_int_equal(errno, EROFS);
    do_umount(f, seen_ro);

    /* Refusals. */
    assert_int_equal(create_fails(f, "ctr", NULL, "already exists"), CLEAT_STATUS_ALREADY_EXISTS);
    assert_int_equal(create_fails(f, "y", "ctr", "not committed"), CLEAT_STATUS_FAILED_PRECONDITION);
    assert_int_equal(create_fails(f, "y", "v2", "not committed"), CLEAT_STATUS_FAILED_PRECONDITION);
    assert_int_equal(create_fails(f, "y", "sha256:zzz", "does not exist"), CLEAT_STATUS_NOT_FOUND);
    assert_int_equal(remove_fails(f, "sha256:bbb", "parent of"), CLEAT_STATUS_FAILED_PRECONDITION);
    assert_int_equal(remove_fails(f, "sha256:aaa", "parent of"), CLEAT_STATUS_FAILED_PRECONDITION);
    assert_int_equal(remove_fails(f, "nothing", "does not exist"), CLEAT_STATUS_NOT_FOUND);
    struct cleat_mount_list *x = create(f, 0, "x", "sha256:aaa", NULL);
    assert_int_equal(failed(f->ops->commit(f->inst, "sha256:bbb", "x", NULL, &err), &err, "already exists"),
                     CLEAT_STATUS_ALREADY_EXISTS);
    assert_int_equal(failed(f->ops->commit(f->inst, "ctr", "x", NULL, &err), &err, "already exists"),
                     CLEAT_STATUS_ALREADY_EXISTS);
    assert_int_equal(failed(f->ops->commit(f->inst, "c", "v2", NULL, &err), &err, "view"),
                     CLEAT_STATUS_FAILED_PRECONDITION);
    assert_int_equal(failed(f->ops->commit(f->inst, "c", "sha256:aaa", NULL, &err), &err, "committed"),
                     CLEAT_STATUS_FAILED_PRECONDITION);
    assert_int_equal(failed(f->ops->commit(f->inst, "c", "nothing", NULL, &err), &err, "does not exist"),
                     CLEAT_STATUS_NOT_FOUND);
    assert_int_equal(
        failed(f->ops->prepare(f->inst, "odd", NULL, (const char *const[]){"k", NULL}, x, &err), &err, "no value"),
        CLEAT_STATUS_INVALID_ARGUMENT);

    /* walk sees everything, with parents by key. */
    s = walk_all(f);
    assert_int_equal(s.n, 7);
    assert_string_equal(s.parents[find_seen(&s, "ctr")], "sha256:bbb");
    assert_string_equal(s.parents[find_seen(&s, "sha256:bbb")], "sha256:aaa");
    assert_int_equal(s.kinds[find_seen(&s, "v2")], CLEAT_SNAPSHOT_VIEW);
    assert_int_equal(s.kinds[find_seen(&s, "x")], CLEAT_SNAPSHOT_ACTIVE);
    assert_int_equal(find_seen(&s, "extract-child"), -1);

    /* Leaves first, then their parents; then nothing is left anywhere. */
    remove_ok(f, "ctr"); /* its work dir holds overlay's mode-000 work/work */
    assert_int_equal(remove_fails(f, "sha256:bbb", "parent of 'v2'"), CLEAT_STATUS_FAILED_PRECONDITION);
    remove_ok(f, "v2");
    remove_ok(f, "sha256:bbb");
    remove_ok(f, "x");
    remove_ok(f, "v1");
    remove_ok(f, "v0");
    remove_ok(f, "sha256:aaa");
    assert_int_equal(walk_all(f).n, 0);
    assert_int_equal(count_entries(f->root, "snapshots"), 0);
    assert_int_equal(count_entries(f->root, "l"), 0);
    wait_trash_empty(f);
    assert_int_equal(count_entries(f->root, "tmp"), 0);
    struct cleat_mount_list *lists[] = {base, child, ctr, v0, v1, v2, x};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        mount_list_free(lists[i]);
}

static void test_usage(void **state) {
    struct fx *f = *state;
    load(f, "{}");
    struct cleat_mount_list *ml = create(f, 0, "u", NULL, NULL);
    const char *fs = ml->items[0].source;
    char path[PATH_MAX], other[PATH_MAX];
    snprintf(path, sizeof(path), "%s/big", fs);
    snprintf(other, sizeof(other), "%s/big-again", fs);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    char *buf = malloc(1 << 20);
    memset(buf, 'c', 1 << 20);
    assert_int_equal(write(fd, buf, 1 << 20), 1 << 20);
    free(buf);
    assert_int_equal(fsync(fd), 0);
    close(fd);
    assert_int_equal(link(path, other), 0); /* counted once */
    struct stat dir_st, file_st;
    assert_int_equal(stat(fs, &dir_st), 0);
    assert_int_equal(stat(path, &file_st), 0);
    assert_int_equal(file_st.st_blocks * 512, 1 << 20);

    struct cleat_usage u = {0}, all = {0};
    struct cleat_error *err = NULL;
    assert_int_equal(f->ops->usage(f->inst, "u", &u, &err), 0);
    assert_int_equal(u.inodes, 2); /* the layer's root dir and the file */
    assert_int_equal(u.bytes, dir_st.st_blocks * 512 + (1 << 20));
    commit(f, "sha256:u", "u", NULL);
    struct cleat_usage after = {0};
    assert_int_equal(f->ops->usage(f->inst, "sha256:u", &after, &err), 0);
    assert_int_equal(after.bytes, u.bytes);
    assert_int_equal(f->ops->fs_usage(f->inst, &all, &err), 0);
    assert_true(all.bytes > u.bytes);
    assert_true(all.inodes > u.inodes);
    assert_int_equal(failed(f->ops->usage(f->inst, "u", &u, &err), &err, "does not exist"), CLEAT_STATUS_NOT_FOUND);
    mount_list_free(ml);
}

/* Set chattr +i on a path; 0 if the filesystem cannot. */
static int make_immutable(const char *path) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), flags = 0;
    assert_true(fd >= 0);
    int ok =
        ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags |= FS_IMMUTABLE_FL, ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0);
    close(fd);
    return ok;
}

/* Nest `depth` directories named "d" below dir, with a file at the bottom. */
static void nest(const char *dir, int depth) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; i < depth; i++) {
        assert_int_equal(mkdirat(fd, "d", 0755), 0);
        int next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(next >= 0);
        close(fd);
        fd = next;
    }
    int file = openat(fd, "bottom", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(file >= 0);
    close(file);
    close(fd);
}

static void test_remove_hostile_layer(void **state) {
    struct fx *f = *state;
    load(f, "{}");
    struct cleat_mount_list *ml = create(f, 0, "hostile", NULL, NULL);
    const char *fs = ml->items[0].source;
    char p[PATH_MAX], outside[PATH_MAX];
    /* Directories nobody may enter or write, as images do contain. */
    snprintf(p, sizeof(p), "%s/locked", fs);
    assert_int_equal(mkdir(p, 0755), 0);
    write_text(p, "a", "a");
    snprintf(p, sizeof(p), "%s/locked/sub", fs);
    assert_int_equal(mkdir(p, 0755), 0);
    write_text(p, "b", "b");
    assert_int_equal(chmod(p, 0), 0);
    snprintf(p, sizeof(p), "%s/locked", fs);
    assert_int_equal(chmod(p, 0), 0);
    snprintf(p, sizeof(p), "%s/ro", fs);
    assert_int_equal(mkdir(p, 0755), 0);
    write_text(p, "c", "c");
    assert_int_equal(chmod(p, 0555), 0);
    /* Links out of the layer must not be followed. */
    snprintf(outside, sizeof(outside), "%s/outside", f->dir);
    assert_int_equal(mkdir(outside, 0755), 0);
    write_text(outside, "keep.txt", "keep me");
    snprintf(p, sizeof(p), "%s/to-file", fs);
    assert_int_equal(symlink(outside, p), 0);
    snprintf(p, sizeof(p), "%s/fifo", fs);
    assert_int_equal(mkfifo(p, 0600), 0);
    /* Deeper than any fd limit we leave it. */
    nest(fs, 3000);
    /* Immutable and append-only files and directories, if this filesystem has them. */
    write_text(fs, "imm", "imm");
    snprintf(p, sizeof(p), "%s/imm", fs);
    int has_flags = make_immutable(p);
    if (has_flags) {
        snprintf(p, sizeof(p), "%s/immdir", fs);
        assert_int_equal(mkdir(p, 0755), 0);
        write_text(p, "inside", "x");
        assert_true(make_immutable(p));
    }

    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 512;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    struct cleat_error *err = NULL;
    int r = f->ops->remove(f->inst, "hostile", &err);
    if (r < 0)
        fail_msg("remove: %s", error_message(err));
    assert_int_equal(count_entries(f->root, "snapshots"), 0);
    wait_trash_empty(f); /* the reaper deleted it under the low limit too */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    expect_text(outside, "keep.txt", "keep me");
    if (!has_flags)
        print_message("(this filesystem has no immutable flag; that part was skipped)\n");
    mount_list_free(ml);
}

/* The number of lower layers in an overlay mount. */
static size_t lowers(const struct cleat_mount *m) {
    size_t n = 1;
    for (const char *s = opt(m, "lowerdir="); *s; s++)
        n += *s == ':';
    return n;
}

/* Prepare layer i on c<i-1>, mark it, commit it as c<i>. */
static void add_layer(struct fx *f, int i) {
    char key[32], parent[32], name[32], text[32];
    snprintf(key, sizeof(key), "a%d", i);
    snprintf(parent, sizeof(parent), "c%d", i - 1);
    snprintf(name, sizeof(name), "c%d", i);
    snprintf(text, sizeof(text), "%d", i);
    struct cleat_mount_list *ml = create(f, 0, key, i ? parent : NULL, NULL);
    write_text(layer_dir(&ml->items[0]), "top.txt", text);
    snprintf(key, sizeof(key), "layer-%d", i);
    write_text(layer_dir(&ml->items[0]), key, text);
    commit(f, name, (snprintf(key, sizeof(key), "a%d", i), key), NULL);
    mount_list_free(ml);
}

/* Prepare `key` on `parent`, which must fail with INVALID_ARGUMENT naming overlayfs's limit. */
static void too_deep(struct fx *f, int view, const char *key, const char *parent) {
    struct cleat_mount_list *ml = mount_list_new();
    struct cleat_error *err = NULL;
    int r = (view ? f->ops->view : f->ops->prepare)(f->inst, key, parent, NULL, ml, &err);
    assert_int_equal(ml->n, 0);
    mount_list_free(ml);
    assert_int_equal(failed(r, &err, "more than the 500 lower layers"), CLEAT_STATUS_INVALID_ARGUMENT);
}

/* A mount of the `layers`-deep chain under c<layers-1> shows the top and bottom layers. */
static void mount_chain(struct fx *f, int layers) {
    char parent[32], want[32];
    snprintf(parent, sizeof(parent), "c%d", layers - 1);
    snprintf(want, sizeof(want), "layer-%d", layers - 1);
    struct cleat_mount_list *top = create(f, 0, "top", parent, NULL);
    assert_int_equal(lowers(&top->items[0]), layers);
    assert_true(data_size(&top->items[0]) > 4096); /* past mount(2)'s page: the new mount API */
    const char *merged = do_mount(f, &top->items[0]);
    expect_text(merged, "layer-0", "0");
    expect_text(merged, want, want + strlen("layer-"));
    expect_text(merged, "top.txt", want + strlen("layer-"));
    write_text(merged, "written.txt", "on top");
    expect_text(opt(&top->items[0], "upperdir="), "written.txt", "on top");
    do_umount(f, merged);
    remove_ok(f, "top");
    mount_list_free(top);
}

static void test_long_chains(void **state) {
    struct fx *f = *state;
    /* A root as long as the default (/var/lib/cleat/plugins/snapshotter/storage-overlay), under which
       only about 60 layers fit in one page of mount options. */
    strcpy(f->long_root, "/tmp/cleat-ovl-a-root-as-long-as-the-default-one-XXXXXX");
    assert_non_null(mkdtemp(f->long_root));
    assert_true(strlen(f->long_root) >= 50);
    char options[128];
    snprintf(options, sizeof(options), "{root: %s}", f->long_root);
    load(f, options);
    for (int i = 0; i < 200; i++)
        add_layer(f, i);
    mount_chain(f, 200);

    /* Up to overlayfs's 500 lower layers, which still mount; 501 are refused, and leave nothing behind. */
    for (int i = 200; i < 500; i++)
        add_layer(f, i);
    mount_chain(f, 500);
    add_layer(f, 500); /* a500 had 500 parents */
    too_deep(f, 0, "a501", "c500");
    too_deep(f, 1, "v501", "c500");
    struct seen s = {0};
    struct cleat_error *err = NULL;
    assert_int_equal(failed(f->ops->stat(f->inst, "a501", record, &s, &err), &err, NULL), CLEAT_STATUS_NOT_FOUND);
    assert_int_equal(count_entries(f->root, "snapshots"), 501);
    assert_int_equal(count_entries(f->root, "l"), 501);
    assert_int_equal(count_entries(f->root, "tmp"), 0);
    wait_trash_empty(f); /* "top" went to the reaper: under load it may not be done yet */
}

/* The id a mount's directory has: <root>/snapshots/<id>/... */
static unsigned long id_of(const struct fx *f, const char *dir) {
    char prefix[PATH_MAX];
    snprintf(prefix, sizeof(prefix), "%s/snapshots/", f->root);
    assert_true(strncmp(dir, prefix, strlen(prefix)) == 0);
    return strtoul(dir + strlen(prefix), NULL, 10);
}

/* <root>/<dir>/<id><suffix> */
static void in_root(const struct fx *f, char *buf, const char *dir, unsigned long id, const char *suffix) {
    snprintf(buf, PATH_MAX, "%s/%s/%lu%s", f->root, dir, id, suffix);
}

static void test_reload_and_crash_leftovers(void **state) {
    struct fx *f = *state;
    load(f, "{}");
    struct cleat_mount_list *b = create(f, 0, "b", NULL, (const char *const[]){"a", "1", NULL});
    unsigned long bid = id_of(f, b->items[0].source);
    write_text(b->items[0].source, "f", "layer b");
    commit(f, "sha256:b", "b", NULL);
    struct cleat_mount_list *ctr = create(f, 0, "ctr", "sha256:b", (const char *const[]){"c", "2", NULL});
    unsigned long cid = id_of(f, opt(&ctr->items[0], "upperdir="));
    struct cleat_mount_list *v = create(f, 1, "v", "sha256:b", NULL);
    /* One instance per root: a second one, here or in another cleatd, is refused. */
    struct config *second = make_config(f, "{}");
    struct plugins *p2 = NULL;
    struct cleat_error *err = NULL;
    assert_true(plugins_load(second, PLUGINS_INIT, &p2, &err) < 0);
    assert_int_equal(failed(-1, &err, "in use by another instance"), CLEAT_STATUS_FAILED_PRECONDITION);
    config_free(second);
    plugins_free(f->p); /* fini */
    f->p = NULL;

    /* What a kill -9 at the wrong moment leaves behind. */
    char p[PATH_MAX];
    in_root(f, p, "tmp", 900, ""); /* a prepare cut short */
    assert_int_equal(mkdir(p, 0700), 0);
    write_text(p, "meta", "half");
    in_root(f, p, "trash", 901, ""); /* a removal cut short */
    assert_int_equal(mkdir(p, 0700), 0);
    strcat(p, "/locked");
    assert_int_equal(mkdir(p, 0), 0);
    in_root(f, p, "l", 902, "");
    assert_int_equal(symlink("../snapshots/902/fs", p), 0);
    in_root(f, p, "l", cid, "");
    assert_int_equal(unlink(p), 0);
    in_root(f, p, "snapshots", bid, "/meta.tmp"); /* a commit cut short, twice over */
    write_text(f->root, p + strlen(f->root) + 1, "partial");
    in_root(f, p, "snapshots", bid, "/work");
    assert_int_equal(mkdir(p, 0700), 0);
    /* What a power cut may leave of a prepare, which syncs nothing: a meta cut short, an empty one, none. */
    static const char *const cut[] = {"cleat-storage-overlay-snapshot 1\nid 903\nkind active\nkey x\n", "", NULL};
    for (unsigned long k = 0; k < 3; k++) {
        in_root(f, p, "snapshots", 903 + k, "");
        assert_int_equal(mkdir(p, 0700), 0);
        if (cut[k])
            write_text(p, "meta", cut[k]);
    }

    load(f, "{}");
    struct seen s = walk_all(f);
    assert_int_equal(s.n, 3);
    if (f->ops->cleanup(f->inst, &err) < 0)
        fail_msg("cleanup: %s", error_message(err));
    for (unsigned long k = 0; k < 3; k++) {
        in_root(f, p, "snapshots", 903 + k, "");
        assert_int_equal(access(p, F_OK), -1);
    }
    int i = find_seen(&s, "ctr");
    assert_true(i >= 0);
    assert_int_equal(s.kinds[i], CLEAT_SNAPSHOT_ACTIVE);
    assert_string_equal(s.parents[i], "sha256:b");
    assert_string_equal(s.labels[i], "c,2");
    i = find_seen(&s, "sha256:b");
    assert_int_equal(s.kinds[i], CLEAT_SNAPSHOT_COMMITTED);
    assert_string_equal(s.labels[i], "a,1");
    assert_int_equal(s.kinds[find_seen(&s, "v")], CLEAT_SNAPSHOT_VIEW);
    struct cleat_mount_list *again = mount_list_new();
    assert_int_equal(f->ops->mounts(f->inst, "ctr", again, &err), 0);
    for (size_t k = 0; k < 3; k++)
        assert_string_equal(again->items[0].options[k], ctr->items[0].options[k]);
    const char *merged = do_mount(f, &again->items[0]); /* the link was put back */
    expect_text(merged, "f", "layer b");
    do_umount(f, merged);
    assert_int_equal(count_entries(f->root, "tmp"), 0);
    assert_int_equal(count_entries(f->root, "trash"), 0);
    assert_int_equal(count_entries(f->root, "l"), 3);
    in_root(f, p, "snapshots", bid, "/meta.tmp");
    assert_int_equal(access(p, F_OK), -1);
    in_root(f, p, "snapshots", bid, "/work");
    assert_int_equal(access(p, F_OK), -1);
    /* Ids are never handed out again while a trace of them was on disk. */
    struct cleat_mount_list *n = create(f, 0, "new", NULL, NULL);
    assert_true(id_of(f, n->items[0].source) > 902);
    struct cleat_mount_list *lists[] = {b, ctr, v, again, n};
    for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++)
        mount_list_free(lists[k]);
}

/* prepare_ahead: a layer on a parent still being unpacked, committed only after it, under its new name. */
static struct cleat_mount_list *ahead(struct fx *f, const char *key, const char *parent, struct cleat_error **errp) {
    struct cleat_mount_list *ml = mount_list_new();
    if (f->ops->prepare_ahead(f->inst, key, parent, NULL, ml, errp) < 0) {
        mount_list_free(ml);
        return NULL;
    }
    return ml;
}

static void test_prepare_ahead(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    load(f, "{}");
    struct cleat_mount_list *a = create(f, 0, "extract-a", NULL, NULL);
    write_text(a->items[0].source, "a.txt", "from a");
    /* On an active base layer: an overlay all the same, so that the layer goes into its own upper dir. */
    struct cleat_mount_list *b = ahead(f, "extract-b", "extract-a", &err);
    if (!b)
        fail_msg("prepare_ahead on an active parent: %s", error_message(err));
    assert_string_equal(b->items[0].type, "overlay");
    assert_non_null(opt(&b->items[0], "upperdir="));
    write_text(opt(&b->items[0], "upperdir="), "b.txt", "from b");
    struct cleat_mount_list *c = ahead(f, "extract-c", "extract-b", &err); /* two deep */
    if (!c)
        fail_msg("prepare_ahead two deep: %s", error_message(err));
    write_text(opt(&c->items[0], "upperdir="), "c.txt", "from c");
    /* prepare and view still want a committed parent; prepare_ahead answers as prepare otherwise. */
    assert_int_equal(create_fails(f, "x", "extract-a", "not committed"), CLEAT_STATUS_FAILED_PRECONDITION);
    struct cleat_mount_list *none = mount_list_new();
    assert_int_equal(failed(f->ops->view(f->inst, "x", "extract-a", NULL, none, &err), &err, "not committed"),
                     CLEAT_STATUS_FAILED_PRECONDITION);
    assert_null(ahead(f, "extract-b", "extract-a", &err));
    assert_int_equal(failed(-1, &err, "already exists"), CLEAT_STATUS_ALREADY_EXISTS);
    assert_null(ahead(f, "y", "missing", &err));
    assert_int_equal(failed(-1, &err, "does not exist"), CLEAT_STATUS_NOT_FOUND);
    /* Out of order: the child's commit waits for its parent's, and the parent stays while it has a child. */
    assert_int_equal(failed(f->ops->commit(f->inst, "sha256:b", "extract-b", NULL, &err), &err, "not committed yet"),
                     CLEAT_STATUS_FAILED_PRECONDITION);
    assert_int_equal(stat_one(f, "extract-b").kinds[0], CLEAT_SNAPSHOT_ACTIVE);
    assert_int_equal(remove_fails(f, "extract-a", "parent of"), CLEAT_STATUS_FAILED_PRECONDITION);
    commit(f, "sha256:a", "extract-a", NULL);
    /* The child follows its parent's new name. */
    assert_string_equal(stat_one(f, "extract-b").parents[0], "sha256:a");
    commit(f, "sha256:b", "extract-b", NULL);
    commit(f, "sha256:c", "extract-c", NULL);
    assert_string_equal(stat_one(f, "sha256:c").parents[0], "sha256:b");
    /* A view on a view: prepare_ahead refuses it too. */
    struct cleat_mount_list *v = create(f, 1, "v", "sha256:c", NULL);
    assert_null(ahead(f, "z", "v", &err));
    assert_int_equal(failed(-1, &err, "a view"), CLEAT_STATUS_FAILED_PRECONDITION);
    const char *merged = do_mount(f, &v->items[0]);
    expect_text(merged, "a.txt", "from a");
    expect_text(merged, "b.txt", "from b");
    expect_text(merged, "c.txt", "from c");
    do_umount(f, merged);

    /* A restart with a layer prepared ahead of a parent never committed: the unfinished unpack is dropped. */
    struct cleat_mount_list *e = create(f, 0, "extract-e", NULL, NULL);
    struct cleat_mount_list *d = ahead(f, "extract-d", "extract-e", &err);
    if (!d)
        fail_msg("prepare_ahead: %s", error_message(err));
    plugins_free(f->p);
    f->p = NULL;
    load(f, "{}");
    struct seen s = walk_all(f);
    assert_true(find_seen(&s, "extract-e") >= 0);
    assert_int_equal(find_seen(&s, "extract-d"), -1);
    assert_int_equal(find_seen(&s, "sha256:c") >= 0, 1);
    if (f->ops->cleanup(f->inst, &err) < 0)
        fail_msg("cleanup: %s", error_message(err));
    assert_int_equal(count_entries(f->root, "snapshots"), 5); /* a, b, c, v, e */
    struct cleat_mount_list *lists[] = {a, b, c, none, v, e, d};
    for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++)
        mount_list_free(lists[k]);
}

static void test_cleanup_orphans(void **state) {
    struct fx *f = *state;
    load(f, "{}");
    struct cleat_mount_list *keep = create(f, 0, "keep", NULL, NULL);
    commit(f, "sha256:keep", "keep", NULL);
    char p[PATH_MAX];
    in_root(f, p, "snapshots", 77777, ""); /* a directory no metadata speaks for */
    assert_int_equal(mkdir(p, 0700), 0);
    strcat(p, "/fs");
    assert_int_equal(mkdir(p, 0755), 0);
    write_text(p, "junk", "junk");
    strcat(p, "/locked");
    assert_int_equal(mkdir(p, 0), 0);
    snprintf(p, sizeof(p), "%s/snapshots/not-a-snapshot", f->root);
    assert_int_equal(mkdir(p, 0700), 0);
    in_root(f, p, "l", 88888, "");
    assert_int_equal(symlink("../snapshots/88888/fs", p), 0);
    struct cleat_error *err = NULL;
    if (f->ops->cleanup(f->inst, &err) < 0)
        fail_msg("cleanup: %s", error_message(err));
    assert_int_equal(count_entries(f->root, "snapshots"), 1);
    assert_int_equal(count_entries(f->root, "l"), 1);
    assert_int_equal(count_entries(f->root, "trash"), 0);
    assert_int_equal(walk_all(f).n, 1);
    struct cleat_mount_list *v = create(f, 1, "v", "sha256:keep", NULL);
    mount_list_free(v);
    mount_list_free(keep);
}

static void expect_load_refused(struct fx *f, const char *options, const char *needle) {
    struct cleat_error *err = NULL;
    assert_true(try_load(f, options, &err) < 0);
    assert_null(f->p);
    assert_non_null(strstr(error_message(err), "test.yaml:"));
    assert_int_equal(failed(-1, &err, needle), CLEAT_STATUS_INVALID_ARGUMENT);
}

static void test_options(void **state) {
    struct fx *f = *state;
    expect_load_refused(f, "{colour: red}", "colour");
    expect_load_refused(f, "{root: relative/dir}", "absolute");
    expect_load_refused(f, "{mount_options: ['index=off,xino=on']}", "without ','");
    expect_load_refused(f, "{mount_options: ['upperdir=/elsewhere']}", "set by the snapshotter");
    expect_load_refused(f, "{mount_options: index=off}", "list");

    load(f, "{mount_options: [index=off]}");
    struct cleat_mount_list *base = create(f, 0, "b", NULL, NULL);
    assert_null(opt(&base->items[0], "index=")); /* binds do not take overlay options */
    commit(f, "sha256:b", "b", NULL);
    struct cleat_mount_list *ctr = create(f, 0, "c", "sha256:b", NULL);
    assert_int_equal(nopts(&ctr->items[0]), 4);
    assert_string_equal(ctr->items[0].options[3], "index=off");
    do_umount(f, do_mount(f, &ctr->items[0]));
    mount_list_free(base);
    mount_list_free(ctr);
}

struct worker {
    struct fx *f;
    int n;
    int failures, same_ok, same_exists;
    char message[256];
};

static void *work(void *arg) {
    struct worker *w = arg;
    const struct cleat_snapshotter_ops *ops = w->f->ops;
    for (int j = 0; j < 15; j++) {
        char key[32], name[32];
        snprintf(key, sizeof(key), "w%d-%d", w->n, j);
        snprintf(name, sizeof(name), "sha256:w%d-%d", w->n, j);
        struct cleat_mount_list *ml = mount_list_new();
        struct cleat_usage u;
        struct cleat_error *err = NULL;
        struct seen s = {0};
        if (ops->prepare(w->f->inst, key, "sha256:base", NULL, ml, &err) < 0 ||
            ops->usage(w->f->inst, key, &u, &err) < 0 || ops->commit(w->f->inst, name, key, NULL, &err) < 0 ||
            ops->stat(w->f->inst, name, record, &s, &err) < 0 || ops->remove(w->f->inst, name, &err) < 0) {
            w->failures++;
            snprintf(w->message, sizeof(w->message), "%s", error_message(err));
            error_free(err);
        }
        mount_list_free(ml);
    }
    struct cleat_mount_list *ml = mount_list_new();
    struct cleat_error *err = NULL;
    if (ops->prepare(w->f->inst, "same", "sha256:base", NULL, ml, &err) == 0)
        w->same_ok++;
    else {
        w->same_exists += error_status(err) == CLEAT_STATUS_ALREADY_EXISTS;
        error_free(err);
    }
    mount_list_free(ml);
    return NULL;
}

static void test_concurrent_ops(void **state) {
    struct fx *f = *state;
    load(f, "{}");
    struct cleat_mount_list *base = create(f, 0, "base", NULL, NULL);
    commit(f, "sha256:base", "base", NULL);
    struct worker w[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){.f = f, .n = i};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    int ok = 0, exists = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        if (w[i].failures)
            fail_msg("worker %d: %d failures, last: %s", i, w[i].failures, w[i].message);
        ok += w[i].same_ok;
        exists += w[i].same_exists;
    }
    assert_int_equal(ok, 1);
    assert_int_equal(exists, 7);
    assert_int_equal(walk_all(f).n, 2); /* base and same */
    assert_int_equal(count_entries(f->root, "snapshots"), 2);
    mount_list_free(base);
}

/*
 * remove() renames into trash/ and returns; the reaper thread deletes.  The
 * key is free at once, a cleanup() meanwhile does not delete a tree twice,
 * and fini deletes what is still queued before it returns.
 */
static void test_removal_on_the_reaper(void **state) {
    struct fx *f = *state;
    load(f, "{}");
    char key[32];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "c%d", i);
        struct cleat_mount_list *ml = create(f, 0, key, NULL, NULL);
        for (int j = 0; j < 50; j++) {
            char name[16];
            snprintf(name, sizeof(name), "f%d", j);
            write_text(ml->items[0].source, name, "data");
        }
        mount_list_free(ml);
    }
    struct cleat_error *err = NULL;
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "c%d", i);
        remove_ok(f, key);
        if (i == 20 && f->ops->cleanup(f->inst, &err) < 0)
            fail_msg("cleanup: %s", error_message(err));
    }
    struct cleat_mount_list *again = create(f, 0, "c0", NULL, NULL); /* the key is free */
    mount_list_free(again);
    remove_ok(f, "c0");
    assert_int_equal(count_entries(f->root, "snapshots"), 0);
    plugins_free(f->p); /* fini: the queue is emptied first */
    f->p = NULL;
    assert_int_equal(count_entries(f->root, "trash"), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_layers_mount_and_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_hostile_layer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_chains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_and_crash_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepare_ahead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_orphans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removal_on_the_reaper, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
