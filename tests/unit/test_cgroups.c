/* SPDX-License-Identifier: Apache-2.0 */
/* The cgroup layout from mountinfo samples and the real machine; cgroup parent conversions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "cgroups.h"
#include "error.h"

/* A Debian 10 style pure v1 host, with cpu and cpuacct co-mounted and a second mount of one hierarchy. */
static const char v1_sample[] =
    "21 26 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "25 21 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755\n"
    "27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup "
    "rw,xattr,name=systemd\n"
    "30 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup "
    "rw,cpu,cpuacct\n"
    "31 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,memory\n"
    "32 25 0:30 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup "
    "rw,net_cls,net_prio\n"
    "33 25 0:31 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup "
    "rw,cpuset,clone_children\n"
    "34 25 0:32 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids\n"
    "99 26 0:29 /kubepods /mnt/other\\040memory rw,relatime - cgroup cgroup rw,memory\n";

/* This machine's layout: hybrid, cpu and cpuacct apart, no optional fields. */
static const char hybrid_sample[] = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
                                    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
                                    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
                                    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
                                    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
                                    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
                                    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
                                    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";

/* Pure v2, the cgroup2 mount point with a space in it, and a container's view (root not "/"). */
static const char v2_sample[] =
    "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n"
    "35 22 0:30 / /sys/fs/cgroup\\040v2 rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n"
    "36 22 0:30 /kubepods /other rw - cgroup2 cgroup2 rw\n";

static const char container_v2_sample[] = "1 0 0:30 /kubepods/pod1/c1 /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n";

static struct cgroup_layout *parse(const char *text) {
    struct cgroup_layout *l = NULL;
    struct cleat_error *err = NULL;
    check(cgroup_layout_parse(text, &l, &err), err);
    return l;
}

static void expect_dir(const struct cgroup_layout *l, const char *controller, const char *path, const char *want) {
    struct cleat_error *err = NULL;
    char *dir = NULL;
    check(cgroup_layout_dir(l, controller, path, &dir, &err), err);
    assert_string_equal(dir, want);
    free(dir);
}

static void test_v1(void **state) {
    struct cgroup_layout *l = parse(v1_sample);
    assert_int_equal(l->mode, CGROUP_MODE_V1);
    assert_string_equal(cgroup_mode_name(l->mode), "v1");
    assert_null(l->v2_mount);
    assert_int_equal(l->n_v1, 6); /* the second memory mount is not a new hierarchy */
    assert_string_equal(cgroup_layout_get0_v1(l, "cpu")->mount_point, "/sys/fs/cgroup/cpu,cpuacct");
    assert_string_equal(cgroup_layout_get0_v1(l, "cpuacct")->controllers, "cpu,cpuacct");
    assert_string_equal(cgroup_layout_get0_v1(l, "name=systemd")->mount_point, "/sys/fs/cgroup/systemd");
    assert_string_equal(cgroup_layout_get0_v1(l, "net_prio")->mount_point, "/sys/fs/cgroup/net_cls,net_prio");
    assert_string_equal(cgroup_layout_get0_v1(l, "cpuset")->controllers, "cpuset");
    assert_null(cgroup_layout_get0_v1(l, "hugetlb"));
    assert_null(cgroup_layout_get0_v1(l, "cpu,cpuacct"));
    expect_dir(l, "memory", "/kubepods/pod1/c1", "/sys/fs/cgroup/memory/kubepods/pod1/c1");
    expect_dir(l, "cpu", "/", "/sys/fs/cgroup/cpu,cpuacct");
    struct cleat_error *err = NULL;
    char *dir = NULL;
    expect_error(cgroup_layout_dir(l, "hugetlb", "/a", &dir, &err), &err, CLEAT_STATUS_NOT_FOUND, "hugetlb");
    expect_error(cgroup_layout_dir(l, NULL, "/a", &dir, &err), &err, CLEAT_STATUS_NOT_FOUND, "cgroup2");
    expect_error(cgroup_layout_dir(l, "pids", "/a/../b", &dir, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "..");
    cgroup_layout_free(l);
}

static void test_hybrid(void **state) {
    struct cgroup_layout *l = parse(hybrid_sample);
    assert_int_equal(l->mode, CGROUP_MODE_HYBRID);
    assert_string_equal(cgroup_mode_name(l->mode), "hybrid");
    assert_int_equal(l->n_v1, 6);
    assert_string_equal(cgroup_layout_get0_v1(l, "cpu")->mount_point, "/sys/fs/cgroup/cpu");
    assert_string_equal(cgroup_layout_get0_v1(l, "cpuacct")->mount_point, "/sys/fs/cgroup/cpuacct");
    assert_string_equal(l->v2_mount, "/sys/fs/cgroup/unified");
    expect_dir(l, "cpuacct", "/kubepods/burstable/pod1/c1", "/sys/fs/cgroup/cpuacct/kubepods/burstable/pod1/c1");
    expect_dir(l, NULL, "/kubepods.slice/x.scope", "/sys/fs/cgroup/unified/kubepods.slice/x.scope");
    cgroup_layout_free(l);
}

static void test_v2_and_escapes(void **state) {
    struct cgroup_layout *l = parse(v2_sample);
    assert_int_equal(l->mode, CGROUP_MODE_V2);
    assert_int_equal(l->n_v1, 0);
    assert_string_equal(l->v2_mount, "/sys/fs/cgroup v2");
    assert_null(cgroup_layout_get0_v1(l, "cpu"));
    /* On pure v2 every controller lives in the one hierarchy. */
    expect_dir(l, "memory", "/kubepods/pod1", "/sys/fs/cgroup v2/kubepods/pod1");
    cgroup_layout_free(l);

    l = parse(container_v2_sample);
    expect_dir(l, NULL, "/kubepods/pod1/c1", "/sys/fs/cgroup");
    expect_dir(l, NULL, "/kubepods/pod1/c1/sub", "/sys/fs/cgroup/sub");
    struct cleat_error *err = NULL;
    char *dir = NULL;
    expect_error(cgroup_layout_dir(l, NULL, "/kubepods/pod1/c10", &dir, &err), &err, CLEAT_STATUS_NOT_FOUND, "outside");
    cgroup_layout_free(l);
}

static void test_bad_mountinfo(void **state) {
    struct cgroup_layout *l = NULL;
    struct cleat_error *err = NULL;
    expect_error(cgroup_layout_parse("22 1 259:2 / / rw - ext4 /dev/x rw\n", &l, &err), &err,
                 CLEAT_STATUS_FAILED_PRECONDITION, "no cgroup");
    expect_error(cgroup_layout_parse("", &l, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "no cgroup");
    expect_error(cgroup_layout_parse("1 0 0:1 / /c rw - cgroup cgroup rw,xattr\n", &l, &err), &err,
                 CLEAT_STATUS_INVALID_ARGUMENT, "no controller");
    assert_null(l);
    /* Truncated lines are skipped, not misread. */
    l = parse("garbage\n1 0 0:1 / /c rw - cgroup\n2 0 0:2 / /u rw - cgroup2 cgroup2 rw\n");
    assert_int_equal(l->mode, CGROUP_MODE_V2);
    cgroup_layout_free(l);
}

static void test_real_machine(void **state) {
    struct cgroup_layout *l = NULL;
    struct cleat_error *err = NULL;
    check(cgroup_layout_read(&l, &err), err);
    print_message("this machine: %s, %zu v1 hierarchies, cgroup2 at %s\n", cgroup_mode_name(l->mode), l->n_v1,
                  l->v2_mount ? l->v2_mount : "(none)");
    const struct cgroup_v1_mount *cpu = cgroup_layout_get0_v1(l, "cpu");
    if (l->mode == CGROUP_MODE_HYBRID && cpu && strcmp(cpu->controllers, "cpu") == 0)
        assert_string_equal(cpu->mount_point, "/sys/fs/cgroup/cpu");
    else
        print_message("(not the hybrid layout this test was written on; checked only that it parses)\n");
    cgroup_layout_free(l);
}

struct conv {
    const char *parent, *systemd, *cgroupfs;
};

static void test_parent_conversions(void **state) {
    static const struct conv table[] = {
        {"/kubepods/burstable/pod1234", "kubepods-burstable-pod1234.slice:cri-cleat:c1",
         "/kubepods/burstable/pod1234/c1"},
        {"/kubepods/pod12-34-ab", "kubepods-pod12_34_ab.slice:cri-cleat:c1", "/kubepods/pod12-34-ab/c1"},
        {"/kubepods/besteffort/podx/", "kubepods-besteffort-podx.slice:cri-cleat:c1", "/kubepods/besteffort/podx/c1"},
        {"/kubepods", "kubepods.slice:cri-cleat:c1", "/kubepods/c1"},
        {"/", "-.slice:cri-cleat:c1", "/c1"},
        {"", "-.slice:cri-cleat:c1", "/c1"},
        /* kubelet's systemd driver sends the expanded slice path */
        {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_34.slice",
         "kubepods-burstable-pod12_34.slice:cri-cleat:c1",
         "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_34.slice/c1"},
        {"kubepods-pod1.slice", NULL, NULL}, /* relative: refused */
    };
    struct cleat_error *err = NULL;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        char *s = NULL, *c = NULL;
        if (!table[i].systemd) {
            expect_error(cgroup_path_systemd(table[i].parent, "cri-cleat", "c1", &s, &err), &err,
                         CLEAT_STATUS_INVALID_ARGUMENT, "absolute");
            expect_error(cgroup_path_cgroupfs(table[i].parent, "c1", &c, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                         "absolute");
            continue;
        }
        check(cgroup_path_systemd(table[i].parent, "cri-cleat", "c1", &s, &err), err);
        check(cgroup_path_cgroupfs(table[i].parent, "c1", &c, &err), err);
        assert_string_equal(s, table[i].systemd);
        assert_string_equal(c, table[i].cgroupfs);
        free(s);
        free(c);
    }
    char *s = NULL;
    expect_error(cgroup_path_systemd("/a/../b", "p", "c1", &s, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "..");
    expect_error(cgroup_path_systemd("/a", "p", "c:1", &s, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "id");
    expect_error(cgroup_path_cgroupfs("/a", "x/y", &s, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "id");
    expect_error(cgroup_path_systemd("/a/b--c.slice", "p", "c1", &s, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "malformed");
}

static void test_slices_and_dirs(void **state) {
    static const char *const expand[][2] = {
        {"kubepods-burstable-pod1.slice", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice"},
        {"kubepods.slice", "/kubepods.slice"},
        {"-.slice", "/"},
    };
    struct cleat_error *err = NULL;
    char *s = NULL;
    for (size_t i = 0; i < sizeof(expand) / sizeof(expand[0]); i++) {
        check(cgroup_expand_slice(expand[i][0], &s, &err), err);
        assert_string_equal(s, expand[i][1]);
        free(s);
    }
    static const char *const bad[] = {"a-.slice", "-a.slice", "a--b.slice", ".slice", "a.scope", "a/b.slice"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_error(cgroup_expand_slice(bad[i], &s, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, bad[i]);

    static const char *const dirs[][2] = {
        {"kubepods-burstable-pod1.slice:cri-cleat:c1",
         "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-cleat-c1.scope"},
        {"-.slice:cri-cleat:c1", "/cri-cleat-c1.scope"},
        {":cri-cleat:c1", "/system.slice/cri-cleat-c1.scope"},
        {"/kubepods/pod1/c1", "/kubepods/pod1/c1"},
    };
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        check(cgroup_dir_of(dirs[i][0], &s, &err), err);
        assert_string_equal(s, dirs[i][1]);
        free(s);
    }
    expect_error(cgroup_dir_of("kubepods.slice", &s, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "slice:prefix:name");
    expect_error(cgroup_dir_of("x-.slice:p:c", &s, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "x-.slice");

    /* The whole way: a kubelet parent to this machine's cpu directory. */
    struct cgroup_layout *l = parse(hybrid_sample);
    char *path = NULL, *dir = NULL, *cdir = NULL;
    check(cgroup_path_systemd("/kubepods/burstable/pod1", "cri-cleat", "c1", &path, &err), err);
    check(cgroup_dir_of(path, &dir, &err), err);
    check(cgroup_layout_dir(l, "cpu", dir, &cdir, &err), err);
    assert_string_equal(cdir, "/sys/fs/cgroup/cpu/kubepods.slice/kubepods-burstable.slice/"
                              "kubepods-burstable-pod1.slice/cri-cleat-c1.scope");
    free(path);
    free(dir);
    free(cdir);
    cgroup_layout_free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1),
        cmocka_unit_test(test_hybrid),
        cmocka_unit_test(test_v2_and_escapes),
        cmocka_unit_test(test_bad_mountinfo),
        cmocka_unit_test(test_real_machine),
        cmocka_unit_test(test_parent_conversions),
        cmocka_unit_test(test_slices_and_dirs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
