/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage-devmapper through the real plugin loader against a real thin pool:
 * run inside a guest whose kernel has device-mapper (tests/guest/; this
 * host's has none), as ctest's devmapper.snapshotter.  Each test makes its
 * own pool on two loop devices over sparse files in /tmp (the plugin makes
 * the pool from them, as an operator's config would have it), mounts what
 * the snapshotter answers, and takes everything down after.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "builders.h"
#include "config.h"
#include "dm.h"
#include "error.h"
#include "plugin_loader.h"
#include "plugin_strv.h"

#define PLUGIN_SO CLEAT_DEVMAPPER_PLUGIN

struct fx {
    char dir[64];  /* root_dir, state_dir, the pool's files, mount points */
    char pool[32]; /* the pool's dm name */
    char data_loop[32], meta_loop[32];
    char options[512];
    struct config *cfg;
    struct plugins *p;
    const struct cleat_snapshotter_ops *ops;
    void *inst;
};

/* --- the pool's devices ------------------------------------------------------ */

/* `losetup --find --show FILE`: the loop device now bound to it. */
static void loop_attach(const char *file, char *dev, size_t size) {
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "losetup --find --show '%s'", file);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(dev, (int)size, p));
    dev[strcspn(dev, "\n")] = '\0';
    assert_int_equal(pclose(p), 0);
}

static void sparse_file(const char *path, off_t size) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, size), 0);
    close(fd);
}

static int setup(void **state) {
    static int serial;
    struct fx *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/cleat-dm-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->pool, sizeof(f->pool), "cleat-test-%d-%d", (int)getpid(), ++serial);
    char data[96], meta[96];
    snprintf(data, sizeof(data), "%s/data", f->dir);
    snprintf(meta, sizeof(meta), "%s/meta", f->dir);
    sparse_file(data, 1024LL << 20);
    sparse_file(meta, 16LL << 20); /* all zeros: the kernel formats it */
    loop_attach(data, f->data_loop, sizeof(f->data_loop));
    loop_attach(meta, f->meta_loop, sizeof(f->meta_loop));
    snprintf(f->options, sizeof(f->options), "{pool_name: %s, data_device: %s, metadata_device: %s, base_size_mib: 64}",
             f->pool, f->data_loop, f->meta_loop);
    *state = f;
    return 0;
}

/* Every device of the pool (and the pool) taken down: what a test left live must not outlive it. */
static void take_down_pool(const char *pool) {
    char **names = NULL;
    assert_int_equal(dm_list(&names), 0);
    size_t plen = strlen(pool);
    for (size_t i = 0; names[i]; i++)
        if (strncmp(names[i], pool, plen) == 0 && names[i][plen] == '-')
            (void)dm_deactivate(names[i]);
    plugin_strv_free(names);
    (void)dm_deactivate(pool);
}

static void unload(struct fx *f) {
    plugins_free(f->p);
    f->p = NULL;
    f->ops = NULL;
    f->inst = NULL;
    config_free(f->cfg);
    f->cfg = NULL;
}

static int teardown(void **state) {
    struct fx *f = *state;
    unload(f);
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof(cmd), "grep -o '%s/[^ ]*' /proc/mounts | xargs -r -n1 umount -l", f->dir);
    (void)system(cmd);
    take_down_pool(f->pool);
    snprintf(cmd, sizeof(cmd), "losetup -d %s %s", f->data_loop, f->meta_loop);
    (void)system(cmd);
    rm_rf(f->dir);
    free(f);
    return 0;
}

/* --- loading the plugin ----------------------------------------------------------- */

static int try_load(struct fx *f, const char *options, struct cleat_error **reterr) {
    unload(f);
    char *text = NULL;
    assert_true(asprintf(&text,
                         "root_dir: %s/root\nstate_dir: %s/state\nsocket: %s/s.sock\ntransports: null\n"
                         "snapshotter:\n  name: dm\n  plugin: storage-devmapper\n  path: %s\n  options: %s\n",
                         f->dir, f->dir, f->dir, PLUGIN_SO, options) > 0);
    f->cfg = config_over_defaults(text);
    free(text);
    int r = plugins_load(f->cfg, PLUGINS_INIT, &f->p, reterr);
    if (r < 0)
        return r;
    struct plugin_instance *pi = plugins_first(f->p, CLEAT_CONCERN_SNAPSHOTTER);
    assert_non_null(pi);
    f->ops = &pi->ops.snapshotter;
    f->inst = pi->instance;
    return 0;
}

static void load(struct fx *f) {
    struct cleat_error *err = NULL;
    if (try_load(f, f->options, &err) < 0)
        fail_msg("load: %s", error_message(err));
}

/* --- helpers ------------------------------------------------------------------------ */

static int32_t failed(int r, struct cleat_error **errp, const char *needle) {
    struct cleat_error *err = *errp;
    *errp = NULL;
    assert_true(r < 0);
    assert_non_null(err);
    if (needle && !strstr(error_message(err), needle))
        fail_msg("message lacks '%s': %s", needle, error_message(err));
    int32_t status = error_status(err);
    error_free(err);
    return status;
}

/* prepare (or view) `key` on `parent`: one block mount of the pool's device. */
static struct cleat_mount_list *create(struct fx *f, int view, const char *key, const char *parent) {
    struct cleat_mount_list *ml = mount_list_new();
    struct cleat_error *err = NULL;
    int r = (view ? f->ops->view : f->ops->prepare)(f->inst, key, parent, NULL, ml, &err);
    if (r < 0)
        fail_msg("%s '%s': %s", view ? "view" : "prepare", key, error_message(err));
    assert_int_equal(ml->n, 1);
    assert_string_equal(ml->items[0].type, "ext4");
    assert_true(strncmp(ml->items[0].source, "/dev/mapper/", 12) == 0);
    assert_string_equal(ml->items[0].options[0], view ? "ro" : "rw");
    return ml;
}

static int32_t create_fails(struct fx *f, const char *key, const char *parent, const char *needle) {
    struct cleat_mount_list *ml = mount_list_new();
    struct cleat_error *err = NULL;
    int r = f->ops->prepare(f->inst, key, parent, NULL, ml, &err);
    mount_list_free(ml);
    return failed(r, &err, needle);
}

static void commit(struct fx *f, const char *name, const char *key) {
    struct cleat_error *err = NULL;
    if (f->ops->commit(f->inst, name, key, NULL, &err) < 0)
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

/* Mount the one mount of ml at dir/<name> (made); the mount point's path into out. */
static void mount_at(struct fx *f, const struct cleat_mount_list *ml, const char *name, char *out, size_t size) {
    const struct cleat_mount *m = &ml->items[0];
    snprintf(out, size, "%s/%s", f->dir, name);
    (void)mkdir(out, 0755);
    int ro = strcmp(m->options[0], "ro") == 0;
    if (mount(m->source, out, m->type, ro ? MS_RDONLY : 0, NULL) < 0)
        fail_msg("mount %s on %s: %s", m->source, out, strerror(errno));
}

static void unmount(const char *dir) {
    if (umount(dir) < 0)
        fail_msg("umount %s: %s", dir, strerror(errno));
}

static int kind_seen;
static int note_kind(void *ctx, const struct cleat_snapshot_info *info) {
    (void)ctx;
    kind_seen = (int)info->kind;
    return 0;
}

/* The kind stat() reports, or 0 for NOT_FOUND. */
static int kind_of(struct fx *f, const char *key) {
    struct cleat_error *err = NULL;
    kind_seen = -1;
    int r = f->ops->stat(f->inst, key, note_kind, NULL, &err);
    if (r < 0) {
        assert_int_equal(failed(r, &err, "not found"), CLEAT_STATUS_NOT_FOUND);
        return 0;
    }
    return kind_seen;
}

static int walk_count(void *ctx, const struct cleat_snapshot_info *info) {
    (void)info;
    ++*(int *)ctx;
    return 0;
}

static int count_snapshots(struct fx *f) {
    struct cleat_error *err = NULL;
    int n = 0;
    OK(f->ops->walk(f->inst, walk_count, &n, &err));
    return n;
}

/* The pool's live devices, besides the pool. */
static int live_devices(struct fx *f) {
    char **names = NULL;
    assert_int_equal(dm_list(&names), 0);
    int n = 0;
    size_t plen = strlen(f->pool);
    for (size_t i = 0; names[i]; i++)
        n += strncmp(names[i], f->pool, plen) == 0 && names[i][plen] == '-';
    plugin_strv_free(names);
    return n;
}

static int entries(struct fx *f, const char *sub) {
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s/root/plugins/snapshotter/dm/%s)\"", f->dir, sub);
    return system(cmd) != 0;
}

/* --- tests ---------------------------------------------------------------------------- */

/* A chain: files written in one layer, deleted and added in the next, seen through a read-only view. */
static void test_layers_commit_view(void **state) {
    struct fx *f = *state;
    char mnt[PATH_MAX];
    load(f);
    struct cleat_mount_list *ml = create(f, 0, "extract-1", NULL);
    mount_at(f, ml, "m1", mnt, sizeof(mnt));
    char empty[PATH_MAX + 32];
    snprintf(empty, sizeof(empty), "test -z \"$(ls -A %s)\"", mnt);
    assert_int_equal(system(empty), 0); /* empty: not even lost+found */
    write_text(mnt, "a", "first\n");
    write_text(mnt, "b", "gone later\n");
    unmount(mnt);
    mount_list_free(ml);
    commit(f, "sha256:one", "extract-1");
    assert_int_equal(kind_of(f, "sha256:one"), CLEAT_SNAPSHOT_COMMITTED);
    assert_int_equal(kind_of(f, "extract-1"), 0);

    ml = create(f, 0, "extract-2", "sha256:one");
    mount_at(f, ml, "m2", mnt, sizeof(mnt));
    expect_text(mnt, "a", "first\n");
    expect_text(mnt, "b", "gone later\n");
    char path[PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s/b", mnt);
    assert_int_equal(unlink(path), 0);
    write_text(mnt, "c", "second\n");
    unmount(mnt);
    mount_list_free(ml);
    commit(f, "sha256:two", "extract-2");

    ml = create(f, 1, "volume-x-0", "sha256:two");
    mount_at(f, ml, "v", mnt, sizeof(mnt));
    expect_text(mnt, "a", "first\n");
    expect_text(mnt, "c", "second\n");
    snprintf(path, sizeof(path), "%s/b", mnt);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/new", mnt);
    assert_int_equal(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644), -1);
    assert_int_equal(errno, EROFS);
    unmount(mnt);
    mount_list_free(ml);

    /* The first layer is unchanged under its child's changes. */
    ml = create(f, 0, "ctr", "sha256:one");
    mount_at(f, ml, "c", mnt, sizeof(mnt));
    expect_text(mnt, "b", "gone later\n");
    unmount(mnt);
    mount_list_free(ml);
    /* Live: the active snapshot and the view; committed layers are not. */
    assert_int_equal(live_devices(f), 2);
    assert_int_equal(count_snapshots(f), 4);
}

/* The answers the SDK documents, for keys in use, missing ones and second calls. */
static void test_answers(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    load(f);
    mount_list_free(create(f, 0, "a", NULL));
    assert_int_equal(create_fails(f, "a", NULL, "exists"), CLEAT_STATUS_ALREADY_EXISTS);
    assert_int_equal(create_fails(f, "b", "nothing", "not found"), CLEAT_STATUS_NOT_FOUND);
    assert_int_equal(create_fails(f, "b", "a", "not committed"), CLEAT_STATUS_FAILED_PRECONDITION);
    assert_int_equal(create_fails(f, "bad\tkey", NULL, "tab"), CLEAT_STATUS_INVALID_ARGUMENT);
    commit(f, "A", "a");
    assert_int_equal(failed(f->ops->commit(f->inst, "A2", "a", NULL, &err), &err, "not found"), CLEAT_STATUS_NOT_FOUND);
    assert_int_equal(failed(f->ops->commit(f->inst, "A3", "A", NULL, &err), &err, "not active"),
                     CLEAT_STATUS_FAILED_PRECONDITION);
    mount_list_free(create(f, 0, "b", "A"));
    assert_int_equal(failed(f->ops->commit(f->inst, "A", "b", NULL, &err), &err, "exists"),
                     CLEAT_STATUS_ALREADY_EXISTS);
    struct cleat_mount_list *ml = mount_list_new();
    assert_int_equal(failed(f->ops->mounts(f->inst, "A", ml, &err), &err, "committed"),
                     CLEAT_STATUS_FAILED_PRECONDITION);
    OK(f->ops->mounts(f->inst, "b", ml, &err));
    assert_int_equal(ml->n, 1);
    mount_list_free(ml);
    assert_int_equal(remove_fails(f, "A", "parent"), CLEAT_STATUS_FAILED_PRECONDITION);
    remove_ok(f, "b");
    assert_int_equal(remove_fails(f, "b", "not found"), CLEAT_STATUS_NOT_FOUND);
    remove_ok(f, "A");
    assert_int_equal(count_snapshots(f), 0);
    assert_int_equal(live_devices(f), 0);
    /* A key is free again once removed. */
    mount_list_free(create(f, 0, "a", NULL));
}

/* Usage: what a layer wrote, not its parent's; ImageFsInfo from the pool. */
static void test_usage(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    char mnt[PATH_MAX], cmd[2 * PATH_MAX + 96];
    load(f);
    struct cleat_usage before, u;
    OK(f->ops->fs_usage(f->inst, &before, &err));
    struct cleat_mount_list *ml = create(f, 0, "a", NULL);
    mount_at(f, ml, "m", mnt, sizeof(mnt));
    snprintf(cmd, sizeof(cmd), "dd if=/dev/urandom of=%s/big bs=1M count=4 status=none && mkdir %s/d", mnt, mnt);
    assert_int_equal(system(cmd), 0);
    unmount(mnt);
    mount_list_free(ml);
    OK(f->ops->usage(f->inst, "a", &u, &err));
    assert_true(u.bytes >= 4 << 20);
    assert_true(u.inodes >= 2);
    commit(f, "A", "a");
    struct cleat_usage committed;
    OK(f->ops->usage(f->inst, "A", &committed, &err));
    assert_true(committed.bytes >= 4 << 20);
    ml = create(f, 0, "b", "A");
    mount_list_free(ml);
    OK(f->ops->usage(f->inst, "b", &u, &err));
    assert_true(u.bytes < 1 << 20); /* nothing written yet: the parent's 4 MiB are not its own */
    struct cleat_usage after;
    OK(f->ops->fs_usage(f->inst, &after, &err));
    assert_true(after.bytes >= before.bytes + (4 << 20));
    assert_int_equal(failed(f->ops->usage(f->inst, "nothing", &u, &err), &err, "not found"), CLEAT_STATUS_NOT_FOUND);
}

/* Everything is there after the plugin is unloaded and loaded again, and live devices stay live. */
static void test_restart(void **state) {
    struct fx *f = *state;
    char mnt[PATH_MAX];
    load(f);
    struct cleat_mount_list *ml = create(f, 0, "a", NULL);
    mount_at(f, ml, "m", mnt, sizeof(mnt));
    write_text(mnt, "f", "kept\n");
    unmount(mnt);
    mount_list_free(ml);
    commit(f, "A", "a");
    ml = create(f, 0, "ctr", "A");
    mount_at(f, ml, "c", mnt, sizeof(mnt)); /* a running container's rootfs, mounted across the restart */
    write_text(mnt, "g", "live\n");
    mount_list_free(create(f, 1, "view", "A"));
    /* The running container's device node gone (a /dev made again): made again at the load. */
    char node[96];
    snprintf(node, sizeof(node), "/dev/mapper/%s-snap-2", f->pool);
    assert_int_equal(unlink(node), 0);
    load(f);
    struct stat st;
    assert_int_equal(stat(node, &st), 0);
    assert_true(S_ISBLK(st.st_mode));
    assert_int_equal(count_snapshots(f), 3);
    assert_int_equal(kind_of(f, "A"), CLEAT_SNAPSHOT_COMMITTED);
    assert_int_equal(kind_of(f, "ctr"), CLEAT_SNAPSHOT_ACTIVE);
    assert_int_equal(kind_of(f, "view"), CLEAT_SNAPSHOT_VIEW);
    expect_text(mnt, "g", "live\n");
    struct cleat_error *err = NULL;
    struct cleat_mount_list *again = mount_list_new();
    OK(f->ops->mounts(f->inst, "ctr", again, &err));
    assert_string_equal(again->items[0].source, ml->items[0].source);
    mount_list_free(again);
    mount_list_free(ml);
    unmount(mnt);
    /* A new snapshot on the old layer after the restart. */
    ml = create(f, 0, "after", "A");
    mount_at(f, ml, "n", mnt, sizeof(mnt));
    expect_text(mnt, "f", "kept\n");
    unmount(mnt);
    mount_list_free(ml);
}

/*
 * What a crash leaves between the steps of each op, made by hand from whole
 * snapshots (the ops write these states in this order): the sweep at the
 * next load finishes or undoes each.
 */
static void test_crash_leftovers(void **state) {
    struct fx *f = *state;
    char root[PATH_MAX], from[PATH_MAX + 32], to[PATH_MAX + 32];
    load(f);
    snprintf(root, sizeof(root), "%s/root/plugins/snapshotter/dm", f->dir);
    mount_list_free(create(f, 0, "half-made", NULL));    /* id 1: back to tmp/ (crash before the rename) */
    mount_list_free(create(f, 0, "half-removed", NULL)); /* id 2: into trash/ (crash after the rename) */
    mount_list_free(create(f, 0, "committing", NULL));   /* id 3: deactivated, meta not rewritten yet */
    mount_list_free(create(f, 0, "kept", NULL));         /* id 4 */
    commit(f, "K", "kept");
    unload(f);
    snprintf(from, sizeof(from), "%s/snapshots/1", root);
    snprintf(to, sizeof(to), "%s/tmp/1", root);
    assert_int_equal(rename(from, to), 0);
    snprintf(from, sizeof(from), "%s/snapshots/2", root);
    snprintf(to, sizeof(to), "%s/trash/2", root);
    assert_int_equal(rename(from, to), 0);
    char name[64];
    snprintf(name, sizeof(name), "%s-snap-3", f->pool);
    assert_int_equal(dm_deactivate(name), 0);
    /* A committed layer's device left live, and a live device no record names. */
    char params[64];
    struct dm_info pool;
    assert_int_equal(dm_status_info(f->pool, &pool), 0);
    snprintf(params, sizeof(params), "%u:%u 4", major(pool.dev), minor(pool.dev));
    snprintf(name, sizeof(name), "%s-snap-4", f->pool);
    assert_int_equal(dm_activate(name, 64 * 2048, "thin", params, 0), 0);
    assert_int_equal(dm_message(f->pool, "create_thin 77"), 0);
    snprintf(params, sizeof(params), "%u:%u 77", major(pool.dev), minor(pool.dev));
    snprintf(name, sizeof(name), "%s-snap-77", f->pool);
    assert_int_equal(dm_activate(name, 64 * 2048, "thin", params, 0), 0);
    /* A prepare cut before its device was made: tmp/50 with a record, and no device 50 in the pool. */
    char cmd[3 * PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "mkdir %s/tmp/50 && cp %s/snapshots/3/meta %s/tmp/50/meta", root, root, root);
    assert_int_equal(system(cmd), 0);

    load(f);
    assert_int_equal(kind_of(f, "half-made"), 0);
    assert_int_equal(kind_of(f, "half-removed"), 0);
    assert_int_equal(kind_of(f, "committing"), CLEAT_SNAPSHOT_ACTIVE);
    assert_int_equal(kind_of(f, "K"), CLEAT_SNAPSHOT_COMMITTED);
    assert_false(entries(f, "tmp"));
    assert_false(entries(f, "trash"));
    /* Only the active snapshot is live (made live again); 1, 2, 4 and 77 are not. */
    assert_int_equal(live_devices(f), 1);
    snprintf(name, sizeof(name), "%s-snap-3", f->pool);
    struct dm_info info;
    assert_int_equal(dm_status_info(name, &info), 0);
    /* The deleted devices are gone from the pool: the ids can be made again. */
    assert_int_equal(dm_message(f->pool, "create_thin 1"), 0);
    assert_int_equal(dm_message(f->pool, "create_thin 2"), 0);
    assert_int_equal(dm_message(f->pool, "create_thin 77"), 0);
    assert_int_equal(dm_message(f->pool, "delete 1"), 0);
    assert_int_equal(dm_message(f->pool, "delete 2"), 0);
    assert_int_equal(dm_message(f->pool, "delete 77"), 0);
    /* And the state is usable. */
    commit(f, "C", "committing");
    mount_list_free(create(f, 0, "on-k", "K"));
}

/* A leftover the sweep cannot finish (a committed layer's device left live and mounted) keeps nothing from starting. */
static void test_busy_leftover_does_not_stop_start(void **state) {
    struct fx *f = *state;
    char mnt[PATH_MAX];
    load(f);
    mount_list_free(create(f, 0, "a", NULL));
    commit(f, "A", "a");
    unload(f);
    char name[64], params[64];
    struct dm_info pool;
    assert_int_equal(dm_status_info(f->pool, &pool), 0);
    snprintf(name, sizeof(name), "%s-snap-1", f->pool);
    snprintf(params, sizeof(params), "%u:%u 1", major(pool.dev), minor(pool.dev));
    assert_int_equal(dm_activate(name, 64 * 2048, "thin", params, 1), 0);
    snprintf(mnt, sizeof(mnt), "%s/busy", f->dir);
    assert_int_equal(mkdir(mnt, 0755), 0);
    char dev[96];
    dm_node_path(name, dev, sizeof(dev));
    assert_int_equal(mount(dev, mnt, "ext4", MS_RDONLY, NULL), 0);
    load(f); /* the device cannot go (EBUSY): a warning, not a failed start */
    assert_int_equal(live_devices(f), 1);
    assert_int_equal(kind_of(f, "A"), CLEAT_SNAPSHOT_COMMITTED);
    /* A snapshot of a live origin is refused (the kernel's rule), with nothing left. */
    assert_int_equal(create_fails(f, "b", "A", "in use"), CLEAT_STATUS_FAILED_PRECONDITION);
    assert_int_equal(kind_of(f, "b"), 0);
    assert_false(entries(f, "tmp"));
    unmount(mnt);
    mount_list_free(create(f, 0, "b", "A")); /* the origin is taken down first */
    unload(f);
    load(f);                              /* the next start finishes it */
    assert_int_equal(live_devices(f), 1); /* b's */
}

/*
 * discard_blocks: a committed layer's blocks are discarded too (its device
 * made live for it), and never those of a device still mounted: the remove
 * answers, the mounted filesystem keeps its files, the next start finishes.
 */
static void test_discard_blocks(void **state) {
    struct fx *f = *state;
    char opts[600], mnt[PATH_MAX];
    snprintf(opts, sizeof(opts),
             "{pool_name: %s, data_device: %s, metadata_device: %s, base_size_mib: 64, "
             "discard_blocks: true}",
             f->pool, f->data_loop, f->meta_loop);
    struct cleat_error *err = NULL;
    if (try_load(f, opts, &err) < 0)
        fail_msg("load: %s", error_message(err));
    struct cleat_mount_list *ml = create(f, 0, "a", NULL);
    mount_at(f, ml, "m", mnt, sizeof(mnt));
    write_text(mnt, "f", "layer\n");
    unmount(mnt);
    mount_list_free(ml);
    commit(f, "A", "a");
    ml = create(f, 0, "ctr", "A");
    mount_at(f, ml, "c", mnt, sizeof(mnt));
    write_text(mnt, "g", "mounted\n");
    (void)sync();
    remove_ok(f, "ctr"); /* the key goes; the device stays while mounted */
    expect_text(mnt, "g", "mounted\n");
    expect_text(mnt, "f", "layer\n");
    assert_int_equal(live_devices(f), 1);
    unmount(mnt);
    mount_list_free(ml);
    remove_ok(f, "A"); /* committed: made live, discarded, deleted */
    assert_int_equal(live_devices(f), 1);
    unload(f);
    if (try_load(f, opts, &err) < 0)
        fail_msg("load: %s", error_message(err));
    assert_int_equal(live_devices(f), 0);
    assert_false(entries(f, "trash"));
    assert_int_equal(count_snapshots(f), 0);
}

/* A child making, committing and removing snapshots, killed with SIGKILL at arbitrary points, again and again. */
static void churn(struct fx *f, unsigned seed) {
    srand(seed);
    char key[32], name[32];
    for (int i = 0;; i++) {
        snprintf(key, sizeof(key), "k%u-%d", seed, i);
        snprintf(name, sizeof(name), "C%u-%d", seed, i);
        struct cleat_mount_list *ml = mount_list_new();
        struct cleat_error *err = NULL;
        if (f->ops->prepare(f->inst, key, NULL, NULL, ml, &err) < 0)
            _exit(3);
        mount_list_free(ml);
        if (rand() % 2 && f->ops->commit(f->inst, name, key, NULL, &err) < 0)
            _exit(4);
        if (rand() % 2 && f->ops->remove(f->inst, kind_of(f, key) ? key : name, &err) < 0)
            _exit(5);
    }
}

struct seen {
    int active, committed;
    char committed_key[64];
};

static int note_snapshot(void *ctx, const struct cleat_snapshot_info *info) {
    struct seen *w = ctx;
    if (info->kind == CLEAT_SNAPSHOT_COMMITTED) {
        w->committed++;
        snprintf(w->committed_key, sizeof(w->committed_key), "%s", info->key);
    } else {
        w->active++;
    }
    return 0;
}

static void test_kill_9_at_any_step(void **state) {
    struct fx *f = *state;
    char mnt[PATH_MAX], probe[32];
    load(f);
    unload(f);
    for (unsigned round = 1; round <= 8; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            load(f);
            churn(f, round);
        }
        usleep(300000 + (useconds_t)(round * 37000) % 200000);
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status)); /* it was still going: no op failed */
        load(f);
        assert_false(entries(f, "tmp"));
        assert_false(entries(f, "trash"));
        /* Every active snapshot is live and nothing else is. */
        struct seen w = {0};
        struct cleat_error *err = NULL;
        OK(f->ops->walk(f->inst, note_snapshot, &w, &err));
        assert_int_equal(live_devices(f), w.active);
        /* A layer that survived is whole: a snapshot on it mounts. */
        if (w.committed) {
            snprintf(probe, sizeof(probe), "probe-%u", round);
            struct cleat_mount_list *ml = create(f, 0, probe, w.committed_key);
            mount_at(f, ml, "probe", mnt, sizeof(mnt));
            unmount(mnt);
            mount_list_free(ml);
            remove_ok(f, probe);
        }
        unload(f);
    }
    load(f);
    mount_list_free(create(f, 0, "final", NULL));
}

/* Configurations that cannot work are refused at load, saying why. */
static void test_refused_configs(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    char opts[512];
    assert_int_equal(failed(try_load(f, "{base_size_mib: 64}", &err), &err, "pool_name"),
                     CLEAT_STATUS_INVALID_ARGUMENT);
    assert_int_equal(failed(try_load(f, "{pool_name: 'a/b'}", &err), &err, "pool_name"), CLEAT_STATUS_INVALID_ARGUMENT);
    assert_int_equal(failed(try_load(f, "{pool_name: nosuchpool}", &err), &err, "does not exist"),
                     CLEAT_STATUS_FAILED_PRECONDITION);
    snprintf(opts, sizeof(opts), "{pool_name: %s, data_device: %s}", f->pool, f->data_loop);
    assert_int_equal(failed(try_load(f, opts, &err), &err, "go together"), CLEAT_STATUS_INVALID_ARGUMENT);
    assert_int_equal(failed(try_load(f, "{pool_name: p, fs_type: btrfs}", &err), &err, "fs_type"),
                     CLEAT_STATUS_INVALID_ARGUMENT);
    load(f);
    unload(f);
    /* The root's base is ext4 now: xfs, or another pool, would find none of its devices. */
    snprintf(opts, sizeof(opts), "{pool_name: %s, fs_type: xfs}", f->pool);
    assert_int_equal(failed(try_load(f, opts, &err), &err, "base filesystem (type and MiB) 'ext4 64'"),
                     CLEAT_STATUS_FAILED_PRECONDITION);
    snprintf(opts, sizeof(opts), "{pool_name: %s, base_size_mib: 128}", f->pool);
    assert_int_equal(failed(try_load(f, opts, &err), &err, "not 'ext4 128'"), CLEAT_STATUS_FAILED_PRECONDITION);
    assert_int_equal(failed(try_load(f, "{pool_name: otherpool}", &err), &err, "thin pool"),
                     CLEAT_STATUS_FAILED_PRECONDITION);
}

/* xfs: every thin snapshot has the base's UUID, so two of them mount at once only with nouuid. */
static void test_xfs(void **state) {
    struct fx *f = *state;
    char opts[600], m1[PATH_MAX], m2[PATH_MAX];
    snprintf(opts, sizeof(opts),
             "{pool_name: %s, data_device: %s, metadata_device: %s, base_size_mib: 320, fs_type: xfs}", f->pool,
             f->data_loop, f->meta_loop);
    struct cleat_error *err = NULL;
    if (try_load(f, opts, &err) < 0)
        fail_msg("load: %s", error_message(err));
    struct cleat_mount_list *a = mount_list_new(), *b = mount_list_new();
    OK(f->ops->prepare(f->inst, "a", NULL, NULL, a, &err));
    assert_string_equal(a->items[0].type, "xfs");
    assert_string_equal(a->items[0].options[1], "nouuid");
    OK(f->ops->prepare(f->inst, "b", NULL, NULL, b, &err));
    snprintf(m1, sizeof(m1), "%s/x1", f->dir);
    snprintf(m2, sizeof(m2), "%s/x2", f->dir);
    (void)mkdir(m1, 0755);
    (void)mkdir(m2, 0755);
    assert_int_equal(mount(a->items[0].source, m1, "xfs", 0, "nouuid"), 0);
    assert_int_equal(mount(b->items[0].source, m2, "xfs", 0, "nouuid"), 0);
    write_text(m1, "x", "xfs\n");
    unmount(m1);
    unmount(m2);
    mount_list_free(a);
    mount_list_free(b);
    commit(f, "A", "a");
    a = mount_list_new();
    OK(f->ops->prepare(f->inst, "c", "A", NULL, a, &err));
    assert_int_equal(mount(a->items[0].source, m1, "xfs", 0, "nouuid"), 0);
    expect_text(m1, "x", "xfs\n");
    unmount(m1);
    mount_list_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_layers_commit_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_leftover_does_not_stop_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discard_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_9_at_any_step, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_configs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xfs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
