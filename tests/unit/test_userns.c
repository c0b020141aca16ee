/* SPDX-License-Identifier: Apache-2.0 */
/*
 * User namespaces for pods: the id maps' checks (userns.h), a pod's
 * namespaces pinned inside a new user namespace (pod_ns_create_userns), and
 * idmapped mounts through it (mount_apply_idmapped), against the real
 * kernel.  The kernel parts need root; they run in a mount namespace of
 * their own so that no pin or mount outlives the process.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "error.h"
#include "mount_util.h"
#include "pod_ns.h"
#include "userns.h"

#ifndef NS_GET_USERNS
#define NS_GET_USERNS 0xb701
#endif

#define R(in, out, len)                                                                                                \
    { .inside = (in), .outside = (out), .length = (len) }

/* --- the maps' checks -------------------------------------------------------------- */

static void refused(const struct userns_range *r, size_t n, const char *needle) {
    struct cleat_error *err = NULL;
    expect_error(userns_check_ranges("uids", r, n, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, needle);
}

static void test_good_maps(void **state) {
    struct userns_range kubelet[] = {R(0, 100000, 65536)};
    struct userns_range split[] = {R(1000, 301000, 1000), R(0, 300000, 1000), R(2000, 500000, 63536)};
    struct userns_range top[] = {R(0, 4294901759u, 65535)}; /* ends at 4294967294, the last id there is */
    struct cleat_error *err = NULL;
    OK(userns_check_ranges("uids", kubelet, 1, &err));
    OK(userns_check_ranges("uids", split, 3, &err));
    OK(userns_check_ranges("uids", top, 1, &err));
    struct userns_maps m = {.uids = kubelet, .n_uids = 1, .gids = split, .n_gids = 3};
    OK(userns_check_maps("userns_options", &m, &err));
}

static void test_bad_maps(void **state) {
    refused(NULL, 0, "no mapping given");
    refused((struct userns_range[]){R(0, 100000, 0)}, 1,
            "uids[0] (container_id 0, host_id 100000, length 0): "
            "the length is 0");
    refused((struct userns_range[]){R(1, 100000, 65536)}, 1, "container id 0 is not mapped");
    refused((struct userns_range[]){R(0, 100000, 65536), R(1000, 300000, 10)}, 2,
            "uids[1] (container_id 1000, host_id 300000, length 10): its container ids overlap");
    refused((struct userns_range[]){R(0, 100000, 10), R(10, 100005, 10)}, 2, "its host ids overlap");
    refused((struct userns_range[]){R(0, 0, 65536)}, 1, "maps the host's id 0 (root)");
    refused((struct userns_range[]){R(0, 4294901760u, 65536)}, 1, "the host ids run past 4294967294");
    refused((struct userns_range[]){R(4294967295u, 100000, 1), R(0, 5, 1)}, 2, "the container ids run past");
    /* Adjacent ranges touch without overlapping. */
    struct userns_range adjacent[] = {R(0, 100000, 10), R(10, 100010, 10)};
    struct cleat_error *err = NULL;
    OK(userns_check_ranges("uids", adjacent, 2, &err));
    /* More ranges than the kernel takes. */
    struct userns_range many[USERNS_MAX_RANGES + 1];
    for (uint32_t i = 0; i <= USERNS_MAX_RANGES; i++)
        many[i] = (struct userns_range)R(i, 100000 + i, 1);
    refused(many, USERNS_MAX_RANGES + 1, "341 mappings, more than the kernel's 340");
    OK(userns_check_ranges("uids", many, USERNS_MAX_RANGES, &err));
    /* Both maps are checked, each named. */
    struct userns_range good[] = {R(0, 100000, 65536)}, bad[] = {R(5, 100000, 65536)};
    struct userns_maps m = {.uids = good, .n_uids = 1, .gids = bad, .n_gids = 1};
    expect_error(userns_check_maps("f", &m, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "f.gids: container id 0");
}

static void test_to_host_and_text(void **state) {
    struct userns_range r[] = {R(1000, 301000, 1000), R(0, 300000, 1000)};
    uint32_t out = 0;
    assert_int_equal(userns_to_host(r, 2, 0, &out), 0);
    assert_int_equal(out, 300000);
    assert_int_equal(userns_to_host(r, 2, 1999, &out), 0);
    assert_int_equal(out, 301999);
    assert_int_equal(userns_to_host(r, 2, 2000, &out), -ENOENT);
    char *text = userns_map_text(r, 2);
    assert_string_equal(text, "1000 301000 1000\n0 300000 1000\n");
    free(text);
}

/* --- the kernel: pins and idmapped mounts -------------------------------------------- */

struct fx {
    char dir[128];
    char ns[PATH_MAX];
    int userns; /* the pinned user namespace, open */
};

static const struct userns_range kubelet[] = {R(0, 100000, 65536)};
static const struct userns_maps kubelet_maps = {.uids = kubelet, .n_uids = 1, .gids = kubelet, .n_gids = 1};

static int setup(void **state) {
    if (geteuid() != 0) {
        print_message("user namespace tests need root\n");
        skip();
    }
    struct fx *f = calloc(1, sizeof(*f));
    struct cleat_error *err = NULL;
    temp_dir(f->dir, sizeof(f->dir), "cleat-userns");
    snprintf(f->ns, sizeof(f->ns), "%s/ns", f->dir);
    assert_int_equal(mkdir(f->ns, 0700), 0);
    OK(pod_ns_create_userns(f->ns, POD_NS_ALL, "userns-pod", &kubelet_maps, &err));
    OK(pod_ns_open(f->ns, "user", &f->userns, &err));
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fx *f = *state;
    if (!f)
        return 0;
    close(f->userns);
    check(pod_ns_remove(f->ns, NULL), NULL);
    run_cmd("grep -q ' %s' /proc/self/mountinfo && exit 1; exit 0", f->dir);
    rm_rf(f->dir);
    free(f);
    return 0;
}

static ino_t ino_of_fd(int fd) {
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    return st.st_ino;
}

/* How many processes have this one as their parent. */
static int children(void) {
    DIR *d = opendir("/proc");
    assert_non_null(d);
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        char path[300], buf[512];
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        FILE *fp = de->d_name[0] >= '1' && de->d_name[0] <= '9' ? fopen(path, "re") : NULL;
        if (!fp)
            continue;
        int ppid = 0;
        /* pid (comm) state ppid: comm may hold spaces, so from the last ')' */
        if (fgets(buf, sizeof(buf), fp) && strrchr(buf, ')') && sscanf(strrchr(buf, ')') + 2, "%*c %d", &ppid) == 1)
            n += ppid == (int)getpid();
        fclose(fp);
    }
    closedir(d);
    return n;
}

/* The user namespace owns the net, IPC and UTS pins; its maps are kubelet's; no helper process stays. */
static void test_pinned_inside_userns(void **state) {
    struct fx *f = *state;
    ino_t user = ino_of_fd(f->userns);
    for (const char *const *k = (const char *const[]){"net", "ipc", "uts", NULL}; *k; k++) {
        char path[PATH_MAX + 8];
        snprintf(path, sizeof(path), "%s/%s", f->ns, *k);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        int owner = ioctl(fd, NS_GET_USERNS);
        assert_true(owner >= 0);
        assert_int_equal(ino_of_fd(owner), user);
        close(owner);
        close(fd);
    }
    struct stat self;
    assert_int_equal(stat("/proc/self/ns/user", &self), 0);
    assert_true(self.st_ino != user);
    /* The helper process that made them is gone, and reaped. */
    assert_int_equal(children(), 0);
}

static void test_bad_maps_pin_nothing(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof(dir), "%s/other", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    struct userns_range no_root[] = {R(1, 100000, 10)};
    struct userns_maps m = {.uids = no_root, .n_uids = 1, .gids = kubelet, .n_gids = 1};
    expect_error(pod_ns_create_userns(dir, POD_NS_NET, NULL, &m, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "user namespace.uids: container id 0 is not mapped");
    run_cmd("test -z \"$(ls -A %s)\"", dir);
    run_cmd("grep -q ' %s' /proc/self/mountinfo && exit 1; exit 0", dir);
}

static void make_tree(const char *base) {
    run_cmd("mkdir -p %s/lower/etc %s/upper %s/work %s/mnt %s/vol %s/volmnt && echo x > %s/lower/etc/f && "
            "echo y > %s/vol/root-file && echo z > %s/vol/app-file && chown 1000:1000 %s/vol/app-file",
            base, base, base, base, base, base, base, base, base, base);
}

static void expect_owner(const char *path, uid_t uid) {
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    if (st.st_uid != uid)
        fail_msg("%s is owned by %u, not %u", path, (unsigned)st.st_uid, (unsigned)uid);
}

/* Lower layers idmapped (the host root's files are the pod root's), the upper not, its top given to the root. */
static void test_idmapped_overlay(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    char p[PATH_MAX], lower[PATH_MAX], upper[PATH_MAX], work[PATH_MAX];
    make_tree(f->dir);
    snprintf(lower, sizeof(lower), "lowerdir=%s/lower", f->dir);
    snprintf(upper, sizeof(upper), "upperdir=%s/upper", f->dir);
    snprintf(work, sizeof(work), "workdir=%s/work", f->dir);
    const char *opts[] = {lower, upper, work, NULL};
    struct cleat_mount m = {.type = "overlay", .source = "overlay", .options = opts};
    struct mount_idmap idmap = {.userns_fd = f->userns, .root_uid = 100000, .root_gid = 100000};
    snprintf(p, sizeof(p), "%s/mnt", f->dir);
    OK(mount_apply_idmapped(&m, p, &idmap, &err));
    snprintf(p, sizeof(p), "%s/mnt/etc/f", f->dir);
    expect_owner(p, 100000);
    snprintf(p, sizeof(p), "%s/mnt", f->dir);
    expect_owner(p, 100000);
    snprintf(p, sizeof(p), "%s/upper", f->dir);
    expect_owner(p, 100000);
    snprintf(p, sizeof(p), "%s/lower/etc/f", f->dir);
    expect_owner(p, 0); /* nothing chowned below */
    snprintf(p, sizeof(p), "%s/mnt", f->dir);
    OK(unmount_tree(p, &err));
}

/* A bind of a directory: files keep their on-disk ids as the pod sees them (host: shifted by 100000). */
static void test_idmapped_bind(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX + 16];
    make_tree(f->dir);
    snprintf(src, sizeof(src), "%s/vol", f->dir);
    snprintf(dst, sizeof(dst), "%s/volmnt", f->dir);
    const char *opts[] = {"rbind", "ro", NULL};
    struct cleat_mount m = {.type = "bind", .source = src, .options = opts};
    struct mount_idmap idmap = {.userns_fd = f->userns, .root_uid = 100000, .root_gid = 100000};
    OK(mount_apply_idmapped(&m, dst, &idmap, &err));
    snprintf(p, sizeof(p), "%s/root-file", dst);
    expect_owner(p, 100000);
    snprintf(p, sizeof(p), "%s/app-file", dst);
    expect_owner(p, 101000);
    snprintf(p, sizeof(p), "%s/new", dst);
    assert_true(open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600) < 0 && errno == EROFS); /* ro on the copy */
    OK(unmount_tree(dst, &err));
}

/* proc cannot be idmapped: FAILED_PRECONDITION saying so, nothing mounted. */
static void test_not_idmappable(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    char dst[PATH_MAX];
    make_tree(f->dir);
    snprintf(dst, sizeof(dst), "%s/volmnt", f->dir);
    const char *opts[] = {"rbind", NULL};
    struct cleat_mount m = {.type = "bind", .source = "/proc/sys", .options = opts};
    struct mount_idmap idmap = {.userns_fd = f->userns, .root_uid = 100000, .root_gid = 100000};
    expect_error(mount_apply_idmapped(&m, dst, &idmap, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION,
                 "/proc/sys cannot be idmapped");
    run_cmd("grep -q ' %s ' /proc/self/mountinfo && exit 1; exit 0", dst);
    struct mount_idmap none = {.userns_fd = -1};
    expect_error(mount_apply_idmapped(&m, dst, &none, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "no user namespace");
}

int main(void) {
    /* The kernel tests' pins and mounts die with this process's own mount namespace. */
    if (geteuid() == 0 && (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_maps),
        cmocka_unit_test(test_bad_maps),
        cmocka_unit_test(test_to_host_and_text),
        cmocka_unit_test_setup_teardown(test_pinned_inside_userns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_maps_pin_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idmapped_overlay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idmapped_bind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_idmappable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
