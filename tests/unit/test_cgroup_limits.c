/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writing a cgroup's limits (cgroup_limits.h): the v1 and v2 files and
 * values against plain fixture directories, the controllers a cgroup2
 * directory needs enabled above it, the kernel's refusals, and the v1 path
 * against real cgroups made for the test in this machine's cpu and memory
 * hierarchies.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "cgroup_limits.h"
#include "cgroups.h"

/* dir/name's whole contents (at most 255 bytes), trailing newline dropped. */
static const char *contents(const char *dir, const char *name) {
    static char buf[256];
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "re");
    if (!f)
        fail_msg("%s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (n && buf[n - 1] == '\n')
        buf[n - 1] = '\0';
    return buf;
}

static char *sub(const char *dir, const char *name) {
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    assert_int_equal(mkdir(p, 0755), 0);
    return p;
}

static void touch(const char *dir, const char *const *names) {
    for (size_t i = 0; names[i]; i++)
        write_text(dir, names[i], "");
}

static const struct cgroup_hugepage_limit two_mb[] = {{"2MB", 4 * 2097152}};

static void test_v1_files(void **state) {
    char base[256];
    struct cleat_error *err = NULL;
    temp_dir(base, sizeof(base), "cleat-limits-v1");
    struct cgroup_limit_dirs d = {.cpu = sub(base, "cpu"), .memory = sub(base, "memory"), .hugetlb = sub(base, "h")};
    touch(d.cpu, (const char *const[]){"cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", NULL});
    touch(d.memory, (const char *const[]){"memory.limit_in_bytes", NULL});
    touch(d.hugetlb, (const char *const[]){"hugetlb.2MB.limit_in_bytes", NULL});
    struct cgroup_limits lim = {.cpu_shares = 512,
                                .cpu_period_us = 100000,
                                .cpu_quota_us = 150000,
                                .memory_bytes = 64 << 20,
                                .hugepages = two_mb,
                                .n_hugepages = 1};
    OK(cgroup_limits_write(&d, &lim, &err));
    assert_string_equal(contents(d.cpu, "cpu.shares"), "512");
    assert_string_equal(contents(d.cpu, "cpu.cfs_period_us"), "100000");
    assert_string_equal(contents(d.cpu, "cpu.cfs_quota_us"), "150000");
    assert_string_equal(contents(d.memory, "memory.limit_in_bytes"), "67108864");
    assert_string_equal(contents(d.hugetlb, "hugetlb.2MB.limit_in_bytes"), "8388608");
    /* No limit: -1; shares and period left as they were when not given. */
    lim = (struct cgroup_limits){.cpu_quota_us = CGROUP_NO_LIMIT, .memory_bytes = CGROUP_NO_LIMIT};
    OK(cgroup_limits_write(&d, &lim, &err));
    assert_string_equal(contents(d.cpu, "cpu.cfs_quota_us"), "-1");
    assert_string_equal(contents(d.cpu, "cpu.shares"), "512");
    assert_string_equal(contents(d.cpu, "cpu.cfs_period_us"), "100000");
    assert_string_equal(contents(d.memory, "memory.limit_in_bytes"), "-1");
    /* A page size this host does not have: refused, naming it. */
    static const struct cgroup_hugepage_limit one_gb[] = {{"1GB", 1 << 30}};
    lim.hugepages = one_gb;
    lim.n_hugepages = 1;
    expect_error(cgroup_limits_write(&d, &lim, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "1GB");
    static const struct cgroup_hugepage_limit bad[] = {{"../x", 1}};
    lim.hugepages = bad;
    expect_error(cgroup_limits_write(&d, &lim, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "../x");
    /* No hugetlb controller at all. */
    free(d.hugetlb);
    d.hugetlb = NULL;
    lim.hugepages = two_mb;
    expect_error(cgroup_limits_write(&d, &lim, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "hugetlb");
    cgroup_limit_dirs_clear(&d);
    rm_rf(base);
}

static void test_v2_files_and_controllers(void **state) {
    char base[256], target[512];
    struct cleat_error *err = NULL;
    temp_dir(base, sizeof(base), "cleat-limits-v2");
    char *a = sub(base, "a");
    write_text(base, "cgroup.subtree_control", "");
    write_text(a, "cgroup.subtree_control", "");
    snprintf(target, sizeof(target), "%s/b", a);
    struct cgroup_limit_dirs d = {.cpu = strdup(target),
                                  .memory = strdup(target),
                                  .hugetlb = strdup(target),
                                  .cpu_v2 = 1,
                                  .memory_v2 = 1,
                                  .hugetlb_v2 = 1,
                                  .v2_mount = strdup(base)};
    assert_false(cgroup_limit_dirs_exist(&d));
    OK(cgroup_limit_dirs_make(&d, 0, &err));
    assert_true(cgroup_limit_dirs_exist(&d));
    /* Each directory above the cgroup, from the mount down, enables what it needs (the last word written). */
    assert_string_equal(contents(base, "cgroup.subtree_control"), "+memory");
    assert_string_equal(contents(a, "cgroup.subtree_control"), "+memory");
    OK(cgroup_limit_dirs_make(&d, 1, &err));
    assert_string_equal(contents(a, "cgroup.subtree_control"), "+hugetlb");
    touch(target, (const char *const[]){"cpu.weight", "cpu.max", "memory.max", "hugetlb.2MB.max", NULL});
    struct cgroup_limits lim = {.cpu_shares = 1024,
                                .cpu_period_us = 100000,
                                .cpu_quota_us = 50000,
                                .memory_bytes = 32 << 20,
                                .hugepages = two_mb,
                                .n_hugepages = 1};
    OK(cgroup_limits_write(&d, &lim, &err));
    assert_string_equal(contents(target, "cpu.weight"), "39");
    assert_string_equal(contents(target, "cpu.max"), "50000 100000");
    assert_string_equal(contents(target, "memory.max"), "33554432");
    assert_string_equal(contents(target, "hugetlb.2MB.max"), "8388608");
    lim = (struct cgroup_limits){.cpu_quota_us = CGROUP_NO_LIMIT, .memory_bytes = CGROUP_NO_LIMIT};
    OK(cgroup_limits_write(&d, &lim, &err));
    assert_string_equal(contents(target, "cpu.max"), "max");
    assert_string_equal(contents(target, "memory.max"), "max");
    assert_string_equal(contents(target, "cpu.weight"), "39");
    free(a);
    cgroup_limit_dirs_clear(&d);
    rm_rf(base);
}

static void test_shares_to_weight(void **state) {
    assert_int_equal(cgroup_shares_to_weight(2), 1);
    assert_int_equal(cgroup_shares_to_weight(1024), 39);
    assert_int_equal(cgroup_shares_to_weight(262144), 10000);
    assert_int_equal(cgroup_shares_to_weight(1), 1);
    assert_int_equal(cgroup_shares_to_weight(1 << 30), 10000);
}

/* The real cpu and memory hierarchies (v1 here): made, written, rewritten, refused, removed. */
static void test_real_v1(void **state) {
    struct cgroup_layout *l = NULL;
    struct cleat_error *err = NULL;
    OK(cgroup_layout_read(&l, &err));
    if (geteuid() != 0 || !cgroup_layout_get0_v1(l, "cpu") || !cgroup_layout_get0_v1(l, "memory")) {
        print_message("(not root, or no v1 cpu and memory hierarchies: skipped)\n");
        cgroup_layout_free(l);
        skip();
    }
    char path[64];
    snprintf(path, sizeof(path), "/cleat-unit-limits-%d/pod", (int)getpid());
    struct cgroup_limit_dirs d = {0};
    OK(cgroup_limit_dirs_of(l, path, &d, &err));
    assert_false(d.cpu_v2 || d.memory_v2);
    assert_false(cgroup_limit_dirs_exist(&d));
    OK(cgroup_limit_dirs_make(&d, 0, &err));
    assert_true(cgroup_limit_dirs_exist(&d));
    struct cgroup_limits lim = {
        .cpu_shares = 256, .cpu_period_us = 50000, .cpu_quota_us = 25000, .memory_bytes = 48 << 20};
    OK(cgroup_limits_write(&d, &lim, &err));
    assert_string_equal(contents(d.cpu, "cpu.shares"), "256");
    assert_string_equal(contents(d.cpu, "cpu.cfs_period_us"), "50000");
    assert_string_equal(contents(d.cpu, "cpu.cfs_quota_us"), "25000");
    assert_string_equal(contents(d.memory, "memory.limit_in_bytes"), "50331648");
    /* New period and quota; no memory limit any more. */
    lim = (struct cgroup_limits){.cpu_period_us = 200000, .cpu_quota_us = 400000, .memory_bytes = CGROUP_NO_LIMIT};
    OK(cgroup_limits_write(&d, &lim, &err));
    assert_string_equal(contents(d.cpu, "cpu.cfs_period_us"), "200000");
    assert_string_equal(contents(d.cpu, "cpu.cfs_quota_us"), "400000");
    assert_true(strtoull(contents(d.memory, "memory.limit_in_bytes"), NULL, 10) > (1ULL << 62));
    /* The kernel's refusal names the file. */
    lim.cpu_quota_us = 100; /* below the kernel's 1 ms minimum */
    expect_error(cgroup_limits_write(&d, &lim, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "cpu.cfs_quota_us");
    /* Removed from every hierarchy; the parent made above it too, then nothing is left to remove. */
    OK(cgroup_remove(l, path, &err));
    assert_false(cgroup_limit_dirs_exist(&d));
    *strrchr(path, '/') = '\0';
    OK(cgroup_remove(l, path, &err));
    OK(cgroup_remove(l, path, &err));
    cgroup_limit_dirs_clear(&d);
    cgroup_layout_free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_files),
        cmocka_unit_test(test_v2_files_and_controllers),
        cmocka_unit_test(test_shares_to_weight),
        cmocka_unit_test(test_real_v1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
