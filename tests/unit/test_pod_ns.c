/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pinned pod namespaces against the real kernel.  Needs root; runs in a mount
 * namespace of its own so that no pin outlives the process.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "error.h"
#include "pod_ns.h"

struct fx {
    char dir[128]; /* realpath'ed, so that it matches /proc/self/mountinfo */
};

/* Mount points at or below `prefix`. */
static int mounts_below(const char *prefix) {
    FILE *fp = fopen("/proc/self/mountinfo", "re");
    assert_non_null(fp);
    char *line = NULL, point[PATH_MAX];
    size_t cap = 0, len = strlen(prefix);
    int n = 0;
    while (getline(&line, &cap, fp) > 0)
        if (sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1 && strncmp(point, prefix, len) == 0 &&
            (point[len] == '\0' || point[len] == '/'))
            n++;
    free(line);
    fclose(fp);
    return n;
}

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static int setup(void **state) {
    if (geteuid() != 0) {
        print_message("pod_ns tests need root\n");
        skip();
    }
    struct fx *f = calloc(1, sizeof(*f));
    temp_dir(f->dir, sizeof(f->dir), "cleat-podns");
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fx *f = *state;
    if (!f)
        return 0;
    check(pod_ns_remove(f->dir, NULL), NULL);
    assert_int_equal(mounts_below(f->dir), 0);
    rm_rf(f->dir);
    free(f);
    return 0;
}

static const char *pin(const struct fx *f, const char *name) {
    static char bufs[4][PATH_MAX];
    static int next;
    char *p = bufs[next++ % 4];
    snprintf(p, PATH_MAX, "%s/%s", f->dir, name);
    return p;
}

/* --- functions run inside a namespace ------------------------------------------ */

static int read_hostname(void *ctx) {
    return gethostname(ctx, HOST_NAME_MAX + 1) < 0 ? -errno : 0;
}

static int lo_flags(void *ctx) {
    struct ifreq ifr;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    memset(&ifr, 0, sizeof(ifr));
    strcpy(ifr.ifr_name, "lo");
    int r = ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 ? -errno : 0;
    close(fd);
    *(int *)ctx = ifr.ifr_flags;
    return r;
}

static int returns_seven(void *ctx) {
    return 7;
}

/* --- tests ------------------------------------------------------------------------- */

static void assert_pinned(const struct fx *f, const char *name) {
    char host[64];
    struct statfs sfs;
    struct stat pst, hst;
    assert_int_equal(statfs(pin(f, name), &sfs), 0);
    assert_true(sfs.f_type == NSFS_MAGIC);
    snprintf(host, sizeof(host), "/proc/self/ns/%s", name);
    assert_int_equal(stat(pin(f, name), &pst), 0);
    assert_int_equal(stat(host, &hst), 0);
    assert_true(pst.st_ino != hst.st_ino);
}

static void test_create_all(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    char host_before[HOST_NAME_MAX + 1], host_after[HOST_NAME_MAX + 1], inside[HOST_NAME_MAX + 1] = "";
    struct stat net_before, net_after;
    assert_int_equal(gethostname(host_before, sizeof(host_before)), 0);
    assert_int_equal(stat("/proc/thread-self/ns/net", &net_before), 0);

    check(pod_ns_create(f->dir, POD_NS_ALL, "pod-a.example", &err), err);
    assert_pinned(f, "net");
    assert_pinned(f, "ipc");
    assert_pinned(f, "uts");
    assert_int_equal(mounts_below(f->dir), 4); /* the private self-bind and three pins */

    check(pod_ns_run_in(pin(f, "uts"), CLONE_NEWUTS, read_hostname, inside, &err), err);
    assert_string_equal(inside, "pod-a.example");
    int flags = 0;
    check(pod_ns_run_in(pin(f, "net"), CLONE_NEWNET, lo_flags, &flags, &err), err);
    assert_true(flags & IFF_UP);
    assert_int_equal(pod_ns_run_in(pin(f, "ipc"), CLONE_NEWIPC, returns_seven, NULL, &err), 7);

    /* The caller's thread and the host saw none of it. */
    assert_int_equal(gethostname(host_after, sizeof(host_after)), 0);
    assert_string_equal(host_before, host_after);
    assert_int_equal(stat("/proc/thread-self/ns/net", &net_after), 0);
    assert_true(net_before.st_ino == net_after.st_ino);

    int fd = -1;
    check(pod_ns_open(f->dir, "ipc", &fd, &err), err);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);

    check(pod_ns_remove(f->dir, &err), err);
    assert_int_equal(mounts_below(f->dir), 0);
    check(pod_ns_remove(f->dir, &err), err);
    assert_int_equal(mounts_below(f->dir), 0);
    assert_int_equal(access(pin(f, "net"), F_OK), -1);
    expect_error(pod_ns_open(f->dir, "net", &fd, &err), &err, CLEAT_STATUS_NOT_FOUND, "net");
}

static void test_subset_and_default_hostname(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    char host[HOST_NAME_MAX + 1], inside[HOST_NAME_MAX + 1] = "";
    int fd = -1;
    check(pod_ns_create(f->dir, POD_NS_NET | POD_NS_UTS, NULL, &err), err);
    assert_pinned(f, "net");
    assert_pinned(f, "uts");
    expect_error(pod_ns_open(f->dir, "ipc", &fd, &err), &err, CLEAT_STATUS_NOT_FOUND, "ipc");
    assert_int_equal(gethostname(host, sizeof(host)), 0);
    check(pod_ns_run_in(pin(f, "uts"), CLONE_NEWUTS, read_hostname, inside, &err), err);
    assert_string_equal(inside, host);
    /* A pin file with nothing mounted on it is not a pinned namespace. */
    int tfd = open(pin(f, "ipc"), O_CREAT | O_WRONLY | O_CLOEXEC, 0444);
    assert_true(tfd >= 0);
    close(tfd);
    expect_error(pod_ns_open(f->dir, "ipc", &fd, &err), &err, CLEAT_STATUS_NOT_FOUND, "no namespace");
    expect_error(pod_ns_open(f->dir, "../x", &fd, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "bad name");
}

static void test_bad_arguments(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    expect_error(pod_ns_create(f->dir, 0, NULL, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "namespace set");
    expect_error(pod_ns_create(f->dir, 8, NULL, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "namespace set");
    expect_error(pod_ns_create(f->dir, POD_NS_NET, "h", &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "without a UTS");
    char longname[HOST_NAME_MAX + 2];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    expect_error(pod_ns_create(f->dir, POD_NS_UTS, longname, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "longer than");
    assert_int_equal(mounts_below(f->dir), 0);
}

static void test_missing_dir(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    int fds = count_fds();
    expect_error(pod_ns_create(pin(f, "missing"), POD_NS_ALL, "x", &err), &err, CLEAT_STATUS_NOT_FOUND, "missing");
    assert_int_equal(mounts_below(f->dir), 0);
    assert_int_equal(count_fds(), fds);
    check(pod_ns_remove(pin(f, "missing"), &err), err);
    expect_error(pod_ns_run_in(pin(f, "missing"), CLONE_NEWNET, returns_seven, NULL, &err), &err,
                 CLEAT_STATUS_NOT_FOUND, "missing");
}

/* A pin that is already there: the pins made before it are undone, and so is the self-bind. */
static void test_partial_failure_undone(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    int fd = open(pin(f, "uts"), O_CREAT | O_WRONLY | O_CLOEXEC, 0444);
    assert_true(fd >= 0);
    close(fd);
    expect_error(pod_ns_create(f->dir, POD_NS_ALL, "x", &err), &err, CLEAT_STATUS_ALREADY_EXISTS, "uts");
    assert_int_equal(mounts_below(f->dir), 0);
    assert_int_equal(access(pin(f, "net"), F_OK), -1);
    assert_int_equal(access(pin(f, "ipc"), F_OK), -1);
    assert_int_equal(access(pin(f, "uts"), F_OK), 0); /* not ours: left alone */
}

/* The caller's own mount at <dir> (another file system) survives remove. */
static void test_foreign_mount_kept(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    assert_int_equal(mount("tmpfs", f->dir, "tmpfs", 0, "size=64k"), 0);
    check(pod_ns_create(f->dir, POD_NS_NET, NULL, &err), err);
    assert_int_equal(mounts_below(f->dir), 2);
    check(pod_ns_remove(f->dir, &err), err);
    assert_int_equal(mounts_below(f->dir), 1);
    assert_int_equal(umount2(f->dir, MNT_DETACH), 0);
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

/* Under a shared state dir the pins still do not propagate: <dir> becomes a private mount first. */
static void test_private_under_shared_parent(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    char line[4096], pod[PATH_MAX];
    assert_int_equal(mount("tmpfs", f->dir, "tmpfs", 0, "size=64k"), 0);
    assert_int_equal(mount(NULL, f->dir, NULL, MS_SHARED, NULL), 0);
    mount_line(f->dir, line, sizeof(line));
    assert_non_null(strstr(line, " shared:"));
    snprintf(pod, sizeof(pod), "%s/pod", f->dir);
    assert_int_equal(mkdir(pod, 0700), 0);
    check(pod_ns_create(pod, POD_NS_NET | POD_NS_IPC, NULL, &err), err);
    mount_line(pod, line, sizeof(line));
    assert_true(line[0] && !strstr(line, " shared:"));
    snprintf(pod, sizeof(pod), "%s/pod/net", f->dir);
    mount_line(pod, line, sizeof(line));
    assert_true(line[0] && !strstr(line, " shared:") && strstr(line, " nsfs "));
    snprintf(pod, sizeof(pod), "%s/pod", f->dir);
    check(pod_ns_remove(pod, &err), err);
    assert_int_equal(mounts_below(f->dir), 1);
    assert_int_equal(umount2(f->dir, MNT_DETACH), 0);
}

static void test_not_a_directory(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    assert_int_equal(symlink(f->dir, pin(f, "link")), 0);
    expect_error(pod_ns_create(pin(f, "link"), POD_NS_NET, NULL, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "link");
    assert_int_equal(mounts_below(f->dir), 0);
}

static int in_mnt_ns(void *ctx) {
    return access(ctx, F_OK) == 0 ? 1 : 0;
}

/* Joining a mount namespace needs a thread with its own fs_struct; the caller's cwd is untouched. */
static void test_run_in_mount_ns(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    char cwd[PATH_MAX], after[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(pod_ns_run_in("/proc/self/ns/mnt", CLONE_NEWNS, in_mnt_ns, f->dir, &err), 1);
    assert_int_equal(pod_ns_run_in("/proc/self/ns/mnt", 0, in_mnt_ns, f->dir, &err), 1);
    assert_non_null(getcwd(after, sizeof(after)));
    assert_string_equal(cwd, after);
    expect_error(pod_ns_run_in("/proc/self/ns/mnt", CLONE_NEWNET, in_mnt_ns, f->dir, &err), &err, CLEAT_STATUS_INTERNAL,
                 "setns");
}

static void test_repeat_leaks_nothing(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    int fds = count_fds(), mounts = mounts_below("/");
    for (int i = 0; i < 50; i++) {
        check(pod_ns_create(f->dir, POD_NS_ALL, "loop", &err), err);
        check(pod_ns_remove(f->dir, &err), err);
    }
    assert_int_equal(count_fds(), fds);
    assert_int_equal(mounts_below("/"), mounts);
}

int main(void) {
    /* A mount namespace of our own: whatever happens, nothing outlives the process. */
    if (geteuid() == 0 && (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0))
        fprintf(stderr, "(no private mount namespace: %s)\n", strerror(errno));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subset_and_default_hostname, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_failure_undone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_mount_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_private_under_shared_parent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_in_mount_ns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeat_leaks_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
