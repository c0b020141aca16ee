/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mount_apply, mount_all and unmount_tree against the real kernel: binds,
 * tmpfs, overlay through mount(2) and, past one page of options, through the
 * new mount API.  Needs root; runs in a mount namespace of its own, and
 * detaches whatever a test left mounted in its teardown.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "error.h"
#include "mount_util.h"

#define NLAYERS 300
#define LAYERS_DIR "a-deliberately-long-directory-name-for-many-layers"

struct fx {
    char dir[128]; /* realpath'ed, so that it matches /proc/self/mountinfo */
};

/* --- helpers --------------------------------------------------------------- */

/* Mount points at or below `prefix`, in mountinfo order (parents before children), or how many. */
static int mounts_below(const char *prefix, char found[][PATH_MAX], int max) {
    FILE *fp = fopen("/proc/self/mountinfo", "re");
    assert_non_null(fp);
    char *line = NULL, point[PATH_MAX];
    size_t cap = 0;
    int n = 0;
    size_t len = strlen(prefix);
    while (getline(&line, &cap, fp) > 0) /* overlay lines can be long */
        if (sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1 && strncmp(point, prefix, len) == 0 &&
            (point[len] == '\0' || point[len] == '/')) {
            if (found && n < max)
                snprintf(found[n], PATH_MAX, "%s", point);
            n++;
        }
    free(line);
    fclose(fp);
    return n;
}

/* The mountinfo line of the top-most mount at `path` (empty if none). */
static void mount_line(const char *path, char *out, size_t size) {
    FILE *fp = fopen("/proc/self/mountinfo", "re");
    assert_non_null(fp);
    char *line = NULL, point[PATH_MAX];
    size_t cap = 0;
    out[0] = '\0';
    while (getline(&line, &cap, fp) > 0)
        if (sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1 && strcmp(point, path) == 0)
            snprintf(out, size, "%s", line);
    free(line);
    fclose(fp);
}

static int is_mounted(const char *path) {
    char line[8192];
    mount_line(path, line, sizeof(line));
    return line[0] != '\0';
}

static void detach_below(const char *dir) {
    static char found[256][PATH_MAX];
    for (int round = 0; round < 16; round++) {
        int n = mounts_below(dir, found, 256);
        if (n == 0)
            return;
        for (int i = (n < 256 ? n : 256) - 1; i >= 0; i--)
            (void)umount2(found[i], MNT_DETACH);
    }
}

/* Its own removal: FTW_MOUNT below never descends into a mount a failed test left behind. */
static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    return remove(path);
}

static int setup(void **state) {
    if (geteuid() != 0) {
        print_message("mount_util tests need root\n");
        skip();
    }
    struct fx *f = calloc(1, sizeof(*f));
    temp_dir(f->dir, sizeof(f->dir), "cleat-mu");
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fx *f = *state;
    if (!f)
        return 0;
    detach_below(f->dir);
    assert_int_equal(mounts_below(f->dir, NULL, 0), 0);
    /* FTW_MOUNT: never reach into anything still mounted. */
    assert_int_equal(nftw(f->dir, rm_one, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT), 0);
    free(f);
    return 0;
}

/* f->dir/name, made as a directory when mk. */
static const char *path_in(const struct fx *f, const char *name, int mk) {
    static char bufs[8][PATH_MAX];
    static int next;
    char *p = bufs[next++ % 8];
    snprintf(p, PATH_MAX, "%s/%s", f->dir, name);
    if (mk)
        assert_int_equal(mkdir(p, 0755), 0);
    return p;
}

static void expect_absent(const char *dir, const char *name) {
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(errno, ENOENT);
}

static void expect_read_only(const char *dir) {
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/new-file", dir);
    assert_int_equal(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644), -1);
    assert_int_equal(errno, EROFS);
    struct statvfs sv;
    assert_int_equal(statvfs(dir, &sv), 0);
    assert_true(sv.f_flag & ST_RDONLY);
}

static void apply_ok(const char *type, const char *source, const char *const *options, const char *target) {
    struct cleat_mount m = {type, source, NULL, options};
    struct cleat_error *err = NULL;
    if (mount_apply(&m, target, &err) < 0)
        fail_msg("mount_apply %s on %s: %s", type, target, error_message(err));
    assert_null(err);
    assert_true(is_mounted(target));
}

/* mount_apply fails, with every needle in its message, leaving nothing mounted at target; returns the status. */
static int32_t apply_fails(const struct cleat_mount *m, const char *target, const char *needle1, const char *needle2) {
    struct cleat_error *err = NULL;
    int r = mount_apply(m, target, &err);
    assert_true(r < 0);
    assert_non_null(err);
    const char *needles[] = {needle1, needle2};
    for (size_t i = 0; i < 2; i++)
        if (needles[i] && !strstr(error_message(err), needles[i]))
            fail_msg("message lacks '%s': %s", needles[i], error_message(err));
    int32_t status = error_status(err);
    error_free(err);
    if (target && target[0] == '/')
        assert_false(is_mounted(target));
    return status;
}

static void unmount_ok(const char *target) {
    struct cleat_error *err = NULL;
    if (unmount_tree(target, &err) < 0)
        fail_msg("unmount_tree %s: %s", target, error_message(err));
    assert_false(is_mounted(target));
}

/* --- bind ------------------------------------------------------------------ */

static void test_bind(void **state) {
    struct fx *f = *state;
    const char *src = path_in(f, "src", 1), *dst = path_in(f, "dst", 1);
    write_text(src, "hello", "hello");
    const char *sub = path_in(f, "src/sub", 1);
    apply_ok("tmpfs", "tmpfs", NULL, sub);
    write_text(sub, "deep", "below a submount");

    /* bind: the submount stays behind. */
    apply_ok("bind", src, NULL, dst);
    expect_text(dst, "hello", "hello");
    expect_absent(path_in(f, "dst/sub", 0), "deep");
    write_text(dst, "back", "written through the bind");
    expect_text(src, "back", "written through the bind");
    unmount_ok(dst);
    expect_absent(dst, "hello");

    /* rbind takes the submount along, and unmount_tree removes both. */
    apply_ok("bind", src, (const char *const[]){"rw", "rbind", NULL}, dst);
    expect_text(path_in(f, "dst/sub", 0), "deep", "below a submount");
    assert_true(is_mounted(path_in(f, "dst/sub", 0)));
    unmount_ok(dst);
    assert_false(is_mounted(path_in(f, "dst/sub", 0)));

    /* Any type with an rbind option is a bind, as in containerd. */
    apply_ok("none", src, (const char *const[]){"rbind", "rprivate", NULL}, dst);
    expect_text(dst, "hello", "hello");
    unmount_ok(dst);
    unmount_ok(sub);
}

static void test_ro_bind(void **state) {
    struct fx *f = *state;
    const char *src = path_in(f, "src", 1), *dst = path_in(f, "dst", 1);
    write_text(src, "hello", "hello");
    apply_ok("bind", src, (const char *const[]){"ro", "rbind", NULL}, dst);
    expect_text(dst, "hello", "hello");
    expect_read_only(dst);
    write_text(src, "still", "writable at the source");
    unmount_ok(dst);

    /* A read-only bind of a nosuid,noexec mount keeps both. */
    const char *t = path_in(f, "t", 1);
    apply_ok("tmpfs", "tmpfs", (const char *const[]){"nosuid", "noexec", NULL}, t);
    apply_ok("bind", t, (const char *const[]){"ro", NULL}, dst);
    struct statvfs sv;
    assert_int_equal(statvfs(dst, &sv), 0);
    assert_true(sv.f_flag & ST_RDONLY);
    assert_true(sv.f_flag & ST_NOSUID);
    assert_true(sv.f_flag & ST_NOEXEC);
    unmount_ok(dst);
    unmount_ok(t);
}

/* --- tmpfs ----------------------------------------------------------------- */

static void test_tmpfs_options(void **state) {
    struct fx *f = *state;
    const char *t = path_in(f, "t", 1);
    apply_ok("tmpfs", "shm",
             (const char *const[]){"nosuid", "nodev", "noexec", "size=1m", "mode=0710", "noatime", "shared", NULL}, t);
    struct statvfs sv;
    assert_int_equal(statvfs(t, &sv), 0);
    assert_true(sv.f_flag & ST_NOSUID);
    assert_true(sv.f_flag & ST_NODEV);
    assert_true(sv.f_flag & ST_NOEXEC);
    assert_true(sv.f_flag & ST_NOATIME);
    assert_false(sv.f_flag & ST_RDONLY);
    assert_int_equal((unsigned long long)sv.f_blocks * sv.f_frsize, 1024 * 1024);
    struct stat st;
    assert_int_equal(stat(t, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0710);
    char line[8192];
    mount_line(t, line, sizeof(line));
    assert_non_null(strstr(line, " shared:")); /* propagation applied after the mount */
    assert_non_null(strstr(line, " - tmpfs shm "));
    write_text(t, "x", "x");
    unmount_ok(t);

    apply_ok("tmpfs", NULL, (const char *const[]){"ro", NULL}, t);
    expect_read_only(t);
    unmount_ok(t);
}

/* --- overlay --------------------------------------------------------------- */

static void test_overlay_short(void **state) {
    struct fx *f = *state;
    const char *top = path_in(f, "l1", 1), *bottom = path_in(f, "l2", 1);
    const char *upper = path_in(f, "u", 1), *work = path_in(f, "w", 1), *merged = path_in(f, "m", 1);
    write_text(bottom, "bottom.txt", "bottom");
    write_text(bottom, "shadowed", "bottom");
    write_text(top, "top.txt", "top");
    write_text(top, "shadowed", "top");
    char lower[2 * PATH_MAX + 16], up[PATH_MAX + 16], wk[PATH_MAX + 16];
    snprintf(lower, sizeof(lower), "lowerdir=%s:%s", top, bottom);
    snprintf(up, sizeof(up), "upperdir=%s", upper);
    snprintf(wk, sizeof(wk), "workdir=%s", work);
    apply_ok("overlay", "overlay", (const char *const[]){lower, up, wk, "nodev", NULL}, merged);
    expect_text(merged, "top.txt", "top");
    expect_text(merged, "bottom.txt", "bottom");
    expect_text(merged, "shadowed", "top");
    write_text(merged, "new.txt", "new");
    expect_text(upper, "new.txt", "new");
    char line[8192];
    mount_line(merged, line, sizeof(line));
    assert_non_null(strstr(line, lower)); /* mount(2): the classic option, as given */
    unmount_ok(merged);

    /* Read-only, lower dirs only. */
    apply_ok("overlay", "overlay", (const char *const[]){"ro", lower, NULL}, merged);
    expect_text(merged, "shadowed", "top");
    expect_read_only(merged);
    unmount_ok(merged);
}

/* NLAYERS lower dirs with long paths, layer i holding layer-<i> and top.txt = i; the option, top-most first. */
static char *make_layers(const struct fx *f, int missing) {
    const char *base = path_in(f, LAYERS_DIR, 1);
    char *opt = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&opt, &len);
    assert_non_null(fp);
    fputs("lowerdir=", fp);
    for (int i = NLAYERS - 1; i >= 0; i--) {
        char dir[PATH_MAX], name[32], text[16];
        /* One name with a ':' to check that the classic escape is undone. */
        snprintf(dir, sizeof(dir), i == 150 ? "%s/layer:%03d" : "%s/layer-%03d", base, i);
        if (i != missing)
            assert_int_equal(mkdir(dir, 0755), 0);
        snprintf(name, sizeof(name), "layer-%d", i);
        snprintf(text, sizeof(text), "%d", i);
        if (i != missing) {
            write_text(dir, name, text);
            write_text(dir, "top.txt", text);
        }
        fprintf(fp, i == 150 ? "%s/layer\\:%03d%s" : "%s/layer-%03d%s", base, i, i ? ":" : "");
    }
    assert_int_equal(fclose(fp), 0);
    assert_true(len > 4 * 4096); /* far past one page */
    return opt;
}

static void test_overlay_many_layers(void **state) {
    struct fx *f = *state;
    char *lower = make_layers(f, -1);
    const char *upper = path_in(f, "u", 1), *work = path_in(f, "w", 1), *merged = path_in(f, "m", 1);
    char up[PATH_MAX + 16], wk[PATH_MAX + 16];
    snprintf(up, sizeof(up), "upperdir=%s", upper);
    snprintf(wk, sizeof(wk), "workdir=%s", work);
    print_message("(%d lower dirs, %zu bytes of lowerdir=)\n", NLAYERS, strlen(lower));

    apply_ok("overlay", "overlay", (const char *const[]){up, wk, lower, "index=off", NULL}, merged);
    expect_text(merged, "top.txt", "299");
    expect_text(merged, "layer-0", "0");
    expect_text(merged, "layer-150", "150");
    expect_text(merged, "layer-299", "299");
    write_text(merged, "new.txt", "new");
    expect_text(upper, "new.txt", "new");
    char line[8192];
    mount_line(merged, line, sizeof(line));
    assert_non_null(strstr(line, " - overlay overlay "));
    unmount_ok(merged);

    /* Read-only with mount attributes (fsmount) and a data-only layer after "::". */
    const char *data = path_in(f, "data-only", 1);
    write_text(data, "hidden", "data-only layers are not listed");
    char *ro_lower = NULL;
    assert_true(asprintf(&ro_lower, "%s::%s", lower, data) > 0);
    apply_ok("overlay", "overlay", (const char *const[]){"ro", "nosuid", "nodev", ro_lower, "metacopy=on", NULL},
             merged);
    expect_text(merged, "top.txt", "299");
    expect_text(merged, "layer-0", "0");
    expect_absent(merged, "hidden");
    expect_read_only(merged);
    struct statvfs sv;
    assert_int_equal(statvfs(merged, &sv), 0);
    assert_true(sv.f_flag & ST_NOSUID);
    assert_true(sv.f_flag & ST_NODEV);
    assert_false(sv.f_flag & ST_NOEXEC);
    unmount_ok(merged);
    free(ro_lower);
    free(lower);
}

/* --- errors ---------------------------------------------------------------- */

static void test_bad_options(void **state) {
    struct fx *f = *state;
    const char *t = path_in(f, "t", 1), *src = path_in(f, "src", 1);
    struct cleat_mount m = {"tmpfs", "tmpfs", NULL, (const char *const[]){"size=1m", NULL}};
    assert_int_equal(apply_fails(&m, "relative/t", "relative/t", "absolute"), CLEAT_STATUS_INVALID_ARGUMENT);
    m.type = NULL;
    assert_int_equal(apply_fails(&m, t, "type", NULL), CLEAT_STATUS_INVALID_ARGUMENT);
    m = (struct cleat_mount){"tmpfs", "tmpfs", NULL, (const char *const[]){"size=1m,mode=0700", NULL}};
    assert_int_equal(apply_fails(&m, t, "'size=1m,mode=0700'", t), CLEAT_STATUS_INVALID_ARGUMENT);
    m.options = (const char *const[]){"colour=red", NULL};
    assert_int_equal(apply_fails(&m, t, "colour=red", t), CLEAT_STATUS_INVALID_ARGUMENT);

    m = (struct cleat_mount){"bind", src, NULL, (const char *const[]){"rbind", "size=1m", NULL}};
    assert_int_equal(apply_fails(&m, t, "'size=1m'", t), CLEAT_STATUS_INVALID_ARGUMENT);
    m.source = path_in(f, "no-such-dir", 0);
    m.options = NULL;
    assert_int_equal(apply_fails(&m, t, m.source, t), CLEAT_STATUS_NOT_FOUND);
    m.source = NULL;
    assert_int_equal(apply_fails(&m, t, "no source", t), CLEAT_STATUS_INVALID_ARGUMENT);

    /* Past a page: refused for filesystems that have no other way. */
    char *big = malloc(8192);
    snprintf(big, 8192, "%s", "x-long=");
    memset(big + 7, 'y', 8000);
    big[8007] = '\0';
    m = (struct cleat_mount){"tmpfs", "tmpfs", NULL, (const char *const[]){big, NULL}};
    assert_int_equal(apply_fails(&m, t, "one page", t), CLEAT_STATUS_INVALID_ARGUMENT);

    /* overlay through mount(2): the kernel says little, the message names target and options. */
    char lower[PATH_MAX + 16];
    snprintf(lower, sizeof(lower), "lowerdir=%s/gone:%s", f->dir, src);
    m = (struct cleat_mount){"overlay", "overlay", NULL, (const char *const[]){lower, NULL}};
    assert_int_equal(apply_fails(&m, t, t, lower), CLEAT_STATUS_NOT_FOUND);

    /* overlay through the new API: the failing option, and the kernel's own words. */
    char *layers = make_layers(f, 200);
    char missing[PATH_MAX + 32];
    snprintf(missing, sizeof(missing), "\"lowerdir+=%s/%s/layer-200\"", f->dir, LAYERS_DIR);
    m.options = (const char *const[]){layers, NULL};
    assert_int_equal(apply_fails(&m, t, missing, t), CLEAT_STATUS_NOT_FOUND);
    free(layers);
    free(big);
}

static void test_bad_overlay_options_past_a_page(void **state) {
    struct fx *f = *state;
    const char *t = path_in(f, "t", 1);
    char *layers = make_layers(f, -1);
    struct cleat_mount m = {"overlay", "overlay", NULL, (const char *const[]){layers, "colour=red", NULL}};
    assert_int_equal(apply_fails(&m, t, "\"colour=red\"", "kernel: overlay"), CLEAT_STATUS_INVALID_ARGUMENT);

    char up[400];
    snprintf(up, sizeof(up), "upperdir=/%0300d", 0);
    m.options = (const char *const[]){layers, up, NULL};
    assert_int_equal(apply_fails(&m, t, "upperdir=/000", "255"), CLEAT_STATUS_INVALID_ARGUMENT);

    char *empty = NULL;
    assert_true(asprintf(&empty, "lowerdir=:%s", layers + strlen("lowerdir=")) > 0);
    m.options = (const char *const[]){empty, NULL};
    assert_int_equal(apply_fails(&m, t, "empty layer", t), CLEAT_STATUS_INVALID_ARGUMENT);
    free(empty);
    free(layers);
}

/* In a child whose fsopen answers ENOSYS, as on a kernel before 5.2. */
static void test_overlay_without_fsopen(void **state) {
    struct fx *f = *state;
    const char *t = path_in(f, "t", 1);
    char *layers = make_layers(f, -1);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_fsopen, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {sizeof(filter) / sizeof(filter[0]), filter};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
            _exit(2);
        struct cleat_mount m = {"overlay", "overlay", NULL, (const char *const[]){layers, NULL}};
        struct cleat_error *err = NULL;
        int ok = mount_apply(&m, t, &err) < 0 && error_status(err) == CLEAT_STATUS_FAILED_PRECONDITION &&
                 strstr(error_message(err), "fsopen") && strstr(error_message(err), t) && !is_mounted(t);
        if (!ok)
            fprintf(stderr, "child: %s\n", error_message(err));
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    free(layers);
}

/* --- detached mounts ---------------------------------------------------------- */

/* Where the mount of descriptor fd comes from (its superblock's device), to tell whether it still exists. */
static dev_t dev_of(int fd) {
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    return st.st_dev;
}

/* A dev that some mount of this namespace (or the detached one) has: in /proc/self/mountinfo as major:minor. */
static int dev_in_mountinfo(dev_t dev) {
    char want[64], line[4096];
    snprintf(want, sizeof(want), " %u:%u ", major(dev), minor(dev));
    FILE *mi = fopen("/proc/self/mountinfo", "re");
    assert_non_null(mi);
    int found = 0;
    while (!found && fgets(line, sizeof(line), mi))
        found = strstr(line, want) != NULL;
    fclose(mi);
    return found;
}

static void test_detached(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    int fd = -1;
    /* A tmpfs: written through the descriptor, attached nowhere, gone when it is closed. */
    struct cleat_mount tm = {"tmpfs", "cleat-detached", NULL, (const char *const[]){"size=1m", "nodev", NULL}};
    check(mount_detached(&tm, &fd, &err), err);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    int file = openat(fd, "written", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    assert_true(file >= 0);
    assert_int_equal(write(file, "x", 1), 1);
    close(file);
    assert_int_equal(mkdirat(fd, "d", 0755), 0);
    struct statvfs sv;
    assert_int_equal(fstatvfs(fd, &sv), 0);
    assert_true(sv.f_flag & ST_NODEV);
    assert_false(dev_in_mountinfo(dev_of(fd)));
    assert_int_equal(mounts_below(f->dir, NULL, 0), 0);
    close(fd);

    /* A read-only bind of a directory: a copy of its mount, nothing written through it. */
    const char *src = path_in(f, "src", 1);
    struct cleat_mount bm = {"bind", src, NULL, (const char *const[]){"rbind", "ro", NULL}};
    check(mount_detached(&bm, &fd, &err), err);
    assert_int_equal(openat(fd, "new", O_WRONLY | O_CREAT | O_CLOEXEC, 0644), -1);
    assert_int_equal(errno, EROFS);
    assert_int_equal(mounts_below(f->dir, NULL, 0), 0);
    close(fd);

    /* Refusals leave nothing mounted and the descriptor untouched. */
    fd = -7;
    struct cleat_mount bad = {"no-such-fs", "x", NULL, NULL};
    int r = mount_detached(&bad, &fd, &err);
    expect_error(r, &err, CLEAT_STATUS_FAILED_PRECONDITION, "no-such-fs mount on (detached): fsopen");
    struct cleat_mount badopt = {"tmpfs", "x", NULL, (const char *const[]){"size=nonsense", NULL}};
    r = mount_detached(&badopt, &fd, &err);
    expect_error(r, &err, CLEAT_STATUS_INVALID_ARGUMENT, "tmpfs mount on (detached): option \"size=nonsense\"");
    struct cleat_mount nosrc = {"bind", NULL, NULL, NULL};
    r = mount_detached(&nosrc, &fd, &err);
    expect_error(r, &err, CLEAT_STATUS_INVALID_ARGUMENT, "bind mount on (detached): no source");
    assert_int_equal(fd, -7);
}

/* --- the recursive read-only probe ------------------------------------------ */

/* This kernel (6.x) can; the probe changes nothing, not even below a mount with a submount. */
static void test_recursive_ro_probe(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    const char *d = path_in(f, "d", 1);
    apply_ok("tmpfs", "tmpfs", (const char *const[]){"size=1m", NULL}, d);
    OK(mount_recursive_ro_probe(f->dir, &err));
    OK(mount_recursive_ro_probe(d, &err)); /* twice, the same answer */
    struct statvfs sv;
    assert_int_equal(statvfs(d, &sv), 0);
    assert_false(sv.f_flag & ST_RDONLY);
    assert_int_equal(mounts_below(f->dir, NULL, 0), 1);
    /* Not a directory one can open: an error naming it, nothing else. */
    assert_true(mount_recursive_ro_probe("/nonexistent/dir", &err) < 0);
    assert_non_null(strstr(error_message(err), "/nonexistent/dir"));
    error_free(err);
}

/* In a child whose mount_setattr answers ENOSYS, as on a kernel before 5.12. */
static void test_recursive_ro_probe_old_kernel(void **state) {
    struct fx *f = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mount_setattr, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {sizeof(filter) / sizeof(filter[0]), filter};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
            _exit(2);
        struct cleat_error *err = NULL;
        int ok = mount_recursive_ro_probe(f->dir, &err) < 0 && error_status(err) == CLEAT_STATUS_FAILED_PRECONDITION &&
                 strstr(error_message(err), "mount_setattr");
        if (!ok)
            fprintf(stderr, "child: %s\n", err ? error_message(err) : "probe succeeded");
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* --- mount_all, unmount_tree ------------------------------------------------ */

static void test_mount_all_and_unmount_tree(void **state) {
    struct fx *f = *state;
    const char *src = path_in(f, "src", 1), *root = path_in(f, "root", 1);
    path_in(f, "src/sub", 1);
    write_text(src, "hello", "hello");
    struct cleat_mount ms[] = {
        {"bind", src, NULL, (const char *const[]){"rbind", NULL}},
        {"tmpfs", "tmpfs", "/sub", (const char *const[]){"size=1m", NULL}},
        {"tmpfs", "tmpfs", "sub/missing", NULL},
    };
    struct cleat_error *err = NULL;
    if (mount_all(ms, 2, root, &err) < 0)
        fail_msg("mount_all: %s", error_message(err));
    char sub[PATH_MAX];
    snprintf(sub, sizeof(sub), "%s/sub", root);
    assert_true(is_mounted(root));
    assert_true(is_mounted(sub));
    expect_text(root, "hello", "hello");
    unmount_ok(root);
    assert_int_equal(mounts_below(root, NULL, 0), 0);

    /* The third fails (no such directory): the first two are undone. */
    assert_true(mount_all(ms, 3, root, &err) < 0);
    assert_non_null(strstr(error_message(err), "sub/missing"));
    assert_int_equal(error_status(err), CLEAT_STATUS_NOT_FOUND);
    error_free(err);
    err = NULL;
    assert_int_equal(mounts_below(root, NULL, 0), 0);

    ms[1].target = "sub/../..";
    assert_true(mount_all(ms, 2, root, &err) < 0);
    assert_int_equal(error_status(err), CLEAT_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(error_message(err), "'..'"));
    error_free(err);
    err = NULL;
    assert_int_equal(mounts_below(root, NULL, 0), 0);

    /* Stacked mounts all go; a plain directory or a missing path is fine. */
    for (int i = 0; i < 3; i++)
        apply_ok("tmpfs", "tmpfs", NULL, root);
    assert_int_equal(mounts_below(root, NULL, 0), 3);
    unmount_ok(root);
    assert_int_equal(mounts_below(root, NULL, 0), 0);
    unmount_ok(root);
    unmount_ok(path_in(f, "no-such-dir", 0));
}

int main(void) {
    /* A mount namespace of our own: whatever happens, nothing outlives the process. */
    if (geteuid() == 0 && (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0))
        fprintf(stderr, "(no private mount namespace: %s)\n", strerror(errno));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ro_bind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmpfs_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlay_short, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlay_many_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_overlay_options_past_a_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlay_without_fsopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mount_all_and_unmount_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recursive_ro_probe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recursive_ro_probe_old_kernel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
