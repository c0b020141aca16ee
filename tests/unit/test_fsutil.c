/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsutil: opening image files (never a device or FIFO, not even for a
 * moment) and the private directories of cleatd (created and tightened).
 * An open is observed with inotify (watch_opens in testutil).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "fsutil.h"
#include "testutil.h"

struct root {
    char dir[4096];
    int fd;
};

static int setup(void **state) {
    struct root *r = calloc(1, sizeof(*r));
    temp_dir(r->dir, sizeof(r->dir), "cleat-fsutil");
    char etc[4200];
    snprintf(etc, sizeof(etc), "%s/etc", r->dir);
    assert_int_equal(mkdir(etc, 0755), 0);
    r->fd = open(r->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(r->fd >= 0);
    *state = r;
    return 0;
}

static int teardown(void **state) {
    struct root *r = *state;
    close(r->fd);
    rm_rf(r->dir);
    free(r);
    return 0;
}

static void path_in(const struct root *r, const char *rel, char *out, size_t size) {
    snprintf(out, size, "%s/%s", r->dir, rel);
}

static void test_regular_file_is_read(void **state) {
    struct root *r = *state;
    char path[4200];
    write_text(r->dir, "etc/passwd", "root:x:0:0::/:/bin/sh\n");
    path_in(r, "etc/passwd", path, sizeof(path));
    int in = watch_opens(path);
    struct stat st;
    int fd = fsutil_open_regular_in_root(r->fd, "etc/passwd", &st);
    assert_true(fd >= 0);
    assert_true(S_ISREG(st.st_mode));
    char buf[64] = "";
    assert_int_equal(read(fd, buf, sizeof(buf) - 1), 22);
    assert_string_equal(buf, "root:x:0:0::/:/bin/sh\n");
    assert_int_equal(fcntl(fd, F_GETFL) & (O_ACCMODE | O_PATH), O_RDONLY);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
    assert_int_equal(opens_seen(in), 1); /* the control: a real open is seen */
}

/* An absolute symlink in the image resolves inside the root, not to the host's file. */
static void test_symlink_stays_in_root(void **state) {
    struct root *r = *state;
    char link[4200];
    write_text(r->dir, "etc/group.real", "inside\n");
    path_in(r, "etc/group", link, sizeof(link));
    assert_int_equal(symlink("/etc/group.real", link), 0);
    struct stat st;
    int fd = fsutil_open_regular_in_root(r->fd, "etc/group", &st);
    assert_true(fd >= 0);
    char buf[16] = "";
    assert_int_equal(read(fd, buf, sizeof(buf) - 1), 7);
    assert_string_equal(buf, "inside\n");
    close(fd);
    assert_int_equal(fsutil_open_regular_in_root(r->fd, "../../../../etc/nothing-here", &st), -ENOENT);
}

/* An image path is resolved inside its root: symlinks, absolute or "..", cannot lead out of it. */
static void test_resolve_in_root(void **state) {
    struct root *r = *state;
    char link[4200], *path = NULL, want[4200];
    struct stat st;
    write_text(r->dir, "etc/data", "x\n");
    path_in(r, "etc/up", link, sizeof(link));
    assert_int_equal(symlink("../../../../..", link), 0);
    path_in(r, "etc/abs", link, sizeof(link));
    assert_int_equal(symlink("/etc/data", link), 0);
    assert_int_equal(fsutil_resolve_in_root(r->dir, "etc/abs", &path, &st), 0);
    path_in(r, "etc/data", want, sizeof(want));
    assert_string_equal(path, want);
    assert_true(S_ISREG(st.st_mode));
    free(path);
    /* Up from the root is the root itself. */
    assert_int_equal(fsutil_resolve_in_root(r->dir, "etc/up", &path, &st), 0);
    assert_string_equal(path, r->dir);
    assert_true(S_ISDIR(st.st_mode));
    free(path);
    assert_int_equal(fsutil_resolve_in_root(r->dir, "etc/up/etc/data", &path, NULL), 0);
    assert_string_equal(path, want);
    free(path);
    assert_int_equal(fsutil_resolve_in_root(r->dir, "", &path, NULL), 0);
    assert_string_equal(path, r->dir);
    free(path);
    path = NULL;
    assert_int_equal(fsutil_resolve_in_root(r->dir, "etc/missing", &path, NULL), -ENOENT);
    assert_int_equal(fsutil_resolve_in_root(r->dir, "etc/data/below", &path, NULL), -ENOTDIR);
    assert_null(path);
}

static void expect_refused_unopened(struct root *r, const char *rel, mode_t type) {
    char path[4200];
    path_in(r, rel, path, sizeof(path));
    int in = watch_opens(path);
    struct stat st;
    assert_int_equal(fsutil_open_regular_in_root(r->fd, rel, &st), -EINVAL);
    assert_int_equal(st.st_mode & S_IFMT, type);
    assert_int_equal(opens_seen(in), 0);
}

/* A FIFO is neither waited on nor opened (an open would let a writer blocked on it go). */
static void test_fifo_is_not_opened(void **state) {
    struct root *r = *state;
    char path[4200];
    path_in(r, "etc/passwd", path, sizeof(path));
    assert_int_equal(mkfifo(path, 0644), 0);
    expect_refused_unopened(r, "etc/passwd", S_IFIFO);
    assert_string_equal(fsutil_type_name(S_IFIFO), "a FIFO");
}

/* A character device (/dev/null's numbers) is refused without running its driver's open. */
static void test_device_is_not_opened(void **state) {
    struct root *r = *state;
    char path[4200];
    path_in(r, "etc/passwd", path, sizeof(path));
    if (mknod(path, S_IFCHR | 0644, makedev(1, 3)) < 0) {
        assert_int_equal(errno, EPERM);
        skip(); /* needs CAP_MKNOD */
    }
    expect_refused_unopened(r, "etc/passwd", S_IFCHR);
    assert_string_equal(fsutil_type_name(S_IFCHR), "a character device");
}

static void test_directory_is_refused(void **state) {
    struct root *r = *state;
    char path[4200];
    path_in(r, "etc/passwd", path, sizeof(path));
    assert_int_equal(mkdir(path, 0755), 0);
    expect_refused_unopened(r, "etc/passwd", S_IFDIR);
}

static mode_t mode_of(const char *path) {
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

/* Created with exactly the mode whatever the umask (parents as mkdir -p); an existing one tightened, never widened. */
static void test_private_dir(void **state) {
    struct root *r = *state;
    struct cleat_error *err = NULL;
    char a[4200], b[4200], file[4200];
    snprintf(a, sizeof(a), "%s/a", r->dir);
    snprintf(b, sizeof(b), "%s/a/b", r->dir);
    mode_t mask = umask(0077), old = 0;
    int rc = fsutil_private_dir(b, 0711, &old, &err);
    umask(mask);
    check(rc, err);
    assert_int_equal(rc, 0);
    assert_int_equal(mode_of(a), 0700); /* 0755 less the umask */
    assert_int_equal(mode_of(b), 0711);
    assert_int_equal(chmod(b, 0755), 0); /* as an older cleat left it */
    rc = fsutil_private_dir(b, 0700, &old, &err);
    check(rc, err);
    assert_int_equal(rc, 1);
    assert_int_equal(old, 0755);
    assert_int_equal(mode_of(b), 0700);
    rc = fsutil_private_dir(b, 0711, &old, &err); /* tighter already: left alone */
    check(rc, err);
    assert_int_equal(rc, 0);
    assert_int_equal(mode_of(b), 0700);
    snprintf(file, sizeof(file), "%s/a/file", r->dir);
    write_text(r->dir, "a/file", "x\n");
    expect_error(fsutil_private_dir(file, 0700, NULL, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, file);
    if (geteuid() == 0) {
        assert_int_equal(chown(b, 65534, 65534), 0);
        expect_error(fsutil_private_dir(b, 0700, NULL, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION,
                     "owned by uid 65534");
    }
}

/* Entries of a directory: tightened, a symlink never followed, a file ignored. */
static void test_tighten_dir_at(void **state) {
    struct root *r = *state;
    char d[4200], target[4200], link[4200];
    snprintf(d, sizeof(d), "%s/pod", r->dir);
    snprintf(target, sizeof(target), "%s/elsewhere", r->dir);
    snprintf(link, sizeof(link), "%s/link", r->dir);
    assert_int_equal(mkdir(d, 0711), 0);
    assert_int_equal(chmod(d, 0711), 0);
    assert_int_equal(mkdir(target, 0755), 0);
    assert_int_equal(chmod(target, 0755), 0);
    assert_int_equal(symlink(target, link), 0);
    write_text(r->dir, "file", "x\n");
    int dfd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    mode_t old = 0;
    assert_int_equal(fsutil_tighten_dir_at(dfd, "pod", 0700, &old), 1);
    assert_int_equal(old, 0711);
    assert_int_equal(mode_of(d), 0700);
    assert_int_equal(fsutil_tighten_dir_at(dfd, "pod", 0700, &old), 0);
    assert_int_equal(fsutil_tighten_dir_at(dfd, "link", 0700, &old), 0);
    assert_int_equal(mode_of(target), 0755);
    assert_int_equal(fsutil_tighten_dir_at(dfd, "file", 0700, &old), 0);
    assert_int_equal(fsutil_tighten_dir_at(dfd, "absent", 0700, &old), -ENOENT);
    close(dfd);
}

/* What fstat said, or less when the file shrank since; the fd stays open. */
static void test_read_fd_sized(void **state) {
    struct root *r = *state;
    char path[4200];
    write_text(r->dir, "etc/group", "root:x:0:\nwheel:x:10:\n");
    path_in(r, "etc/group", path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    size_t len = 99;
    char *buf = read_fd_sized(fd, 9, &len);
    assert_non_null(buf);
    assert_int_equal(len, 9);
    assert_string_equal(buf, "root:x:0:"); /* NUL-terminated at the size asked for */
    free(buf);
    buf = read_fd_sized(fd, 100, &len); /* from where the last read stopped, to EOF */
    assert_non_null(buf);
    assert_int_equal(len, 13);
    assert_string_equal(buf, "\nwheel:x:10:\n");
    free(buf);
    buf = read_fd_sized(fd, 0, NULL);
    assert_non_null(buf);
    assert_string_equal(buf, "");
    free(buf);
    assert_int_equal(fcntl(fd, F_GETFD), FD_CLOEXEC); /* still open */
    close(fd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_fd_sized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regular_file_is_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_stays_in_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_in_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_is_not_opened, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_is_not_opened, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_private_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tighten_dir_at, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
