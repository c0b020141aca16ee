/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cgroup usage readers: the parsers, fixture directories with the files of a
 * real v1 and v2 cgroup (tests/unit/cgroup-stats), and the v2 code path run
 * against a cgroup made for the test in this machine's cgroup2 mount.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "cgroup_stats.h"
#include "error.h"

#define FIXTURES CLEAT_TEST_DATA_DIR "/cgroup-stats"

static void test_parsers(void **state) {
    uint64_t v = 0;
    assert_int_equal(cgroup_parse_u64("123\n", &v), 0);
    assert_int_equal(v, 123);
    assert_int_equal(cgroup_parse_u64("max\n", &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(cgroup_parse_u64("", &v), -EINVAL);
    assert_int_equal(cgroup_parse_u64("12x", &v), -EINVAL);
    assert_int_equal(cgroup_parse_u64("-1", &v), -EINVAL);

    const char *stat = "anon 5\nanon_thp 7\nfile 9\npgfault 11\n";
    assert_int_equal(cgroup_parse_keyed(stat, "anon", &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(cgroup_parse_keyed(stat, "anon_thp", &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(cgroup_parse_keyed(stat, "pgfault", &v), 0);
    assert_int_equal(v, 11);
    assert_int_equal(cgroup_parse_keyed(stat, "fil", &v), -ENOENT);
    assert_int_equal(cgroup_parse_keyed(stat, "pgmajfault", &v), -ENOENT);

    struct cgroup_psi psi;
    assert_int_equal(cgroup_parse_psi("some avg10=1.50 avg60=0.46 avg300=3.00 total=2682977932\n"
                                      "full avg10=0.25 avg60=0.00 avg300=0.00 total=17\n",
                                      &psi),
                     0);
    assert_true(psi.some.present && psi.full.present);
    assert_true(psi.some.avg10 > 1.49 && psi.some.avg10 < 1.51);
    assert_true(psi.some.total == 2682977932ULL);
    assert_true(psi.full.avg10 > 0.24 && psi.full.avg10 < 0.26);
    assert_int_equal(psi.full.total, 17);
    /* The system-wide cpu.pressure of older kernels has no "full" line. */
    assert_int_equal(cgroup_parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n", &psi), 0);
    assert_false(psi.full.present);
    assert_int_equal(cgroup_parse_psi("", &psi), -EINVAL);
    assert_int_equal(cgroup_parse_psi("some avg10=x\n", &psi), -EINVAL);
}

static void test_v1_fixture(void **state) {
    struct cgroup_dirs d = {
        .cpuacct = FIXTURES "/v1/cpuacct", .memory = FIXTURES "/v1/memory", .pids = FIXTURES "/v1/pids"};
    struct cgroup_stats s;
    struct cleat_error *err = NULL;
    check(cgroup_stats_read(&d, &s, &err), err);
    assert_int_equal(s.have, CGS_CPU | CGS_MEMORY | CGS_MEMORY_STAT | CGS_MEMORY_LIMIT | CGS_PIDS);
    assert_true(s.cpu_usage_ns == 15586838735450ULL);
    assert_int_equal(s.memory_usage, 209715200);
    assert_int_equal(s.memory_working_set, 209715200 - 56098816); /* minus total_inactive_file */
    assert_int_equal(s.memory_rss, 9711616);                      /* total_rss, not rss */
    assert_int_equal(s.page_faults, 275469319);
    assert_int_equal(s.major_page_faults, 38632);
    assert_int_equal(s.memory_limit, 268435456);
    assert_int_equal(s.pids, 4);
}

static void test_v2_fixture(void **state) {
    struct cgroup_dirs d = {.v2 = FIXTURES "/v2"};
    struct cgroup_stats s;
    struct cleat_error *err = NULL;
    check(cgroup_stats_read(&d, &s, &err), err);
    assert_int_equal(s.have, CGS_CPU | CGS_MEMORY | CGS_MEMORY_STAT | CGS_PIDS | CGS_PSI_CPU | CGS_PSI_MEMORY |
                                 CGS_PSI_IO); /* memory.max is "max": no limit */
    assert_true(s.cpu_usage_ns == 15446615366000ULL);
    assert_int_equal(s.memory_usage, 73400320);
    assert_int_equal(s.memory_working_set, 73400320 - 4194304);
    assert_int_equal(s.memory_rss, 67108864);
    assert_int_equal(s.page_faults, 17236);
    assert_int_equal(s.major_page_faults, 3);
    assert_int_equal(s.pids, 3);
    assert_true(s.psi_cpu.some.total == 2682977932ULL);
    assert_int_equal(s.psi_memory.full.total, 14380);
    assert_true(s.psi_io.full.avg300 > 0.22 && s.psi_io.full.avg300 < 0.24);
}

/* A hybrid host: v1 for usage, the cgroup2 directory only for what v1 lacks (PSI). */
static void test_hybrid_fixture(void **state) {
    struct cgroup_dirs d = {.cpuacct = FIXTURES "/v1/cpuacct",
                            .memory = FIXTURES "/v1/memory",
                            .pids = FIXTURES "/v1/pids",
                            .v2 = FIXTURES "/v2"};
    struct cgroup_stats s;
    struct cleat_error *err = NULL;
    check(cgroup_stats_read(&d, &s, &err), err);
    assert_true(s.cpu_usage_ns == 15586838735450ULL);
    assert_int_equal(s.memory_usage, 209715200);
    assert_int_equal(s.pids, 4);
    assert_true(s.have & CGS_PSI_CPU);
    assert_true(s.have & CGS_MEMORY_LIMIT);

    /* A gone cgroup is NOT_FOUND; a missing controller directory is only "not available". */
    struct cgroup_dirs gone = {.memory = FIXTURES "/v1/nothing", .v2 = FIXTURES "/v2/nothing"};
    expect_error(cgroup_stats_read(&gone, &s, &err), &err, CLEAT_STATUS_NOT_FOUND, "does not exist");
    struct cgroup_dirs part = {.cpuacct = FIXTURES "/v1/cpuacct", .memory = FIXTURES "/v1/nothing"};
    check(cgroup_stats_read(&part, &s, &err), err);
    assert_int_equal(s.have, CGS_CPU);
}

static void test_dirs_of(void **state) {
    static const char hybrid[] = "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
                                 "33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n"
                                 "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                                 "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
    struct cgroup_layout *l = NULL;
    struct cleat_error *err = NULL;
    struct cgroup_dirs d;
    check(cgroup_layout_parse(hybrid, &l, &err), err);
    check(cgroup_dirs_of(l, "/kubepods/pod1/c1", &d, &err), err);
    assert_string_equal(d.cpuacct, "/sys/fs/cgroup/cpuacct/kubepods/pod1/c1");
    assert_string_equal(d.memory, "/sys/fs/cgroup/memory/kubepods/pod1/c1");
    assert_null(d.pids); /* no pids hierarchy in this layout */
    assert_string_equal(d.v2, "/sys/fs/cgroup/unified/kubepods/pod1/c1");
    cgroup_dirs_clear(&d);
    cgroup_layout_free(l);

    check(cgroup_layout_parse("1 0 0:30 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", &l, &err), err);
    check(cgroup_dirs_of(l, "/a.slice/b.scope", &d, &err), err);
    assert_null(d.cpuacct);
    assert_null(d.memory);
    assert_string_equal(d.v2, "/sys/fs/cgroup/a.slice/b.scope");
    cgroup_dirs_clear(&d);
    expect_error(cgroup_dirs_of(l, "relative", &d, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "absolute");
    cgroup_layout_free(l);
}

static int exists_in(const char *dir, const char *name) {
    char path[8192];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/*
 * The v2 path against the real cgroup2 mount: a child process moved into a
 * cgroup of our own.  What the mount lacks (here: memory and pids, as only
 * hugetlb is enabled in /sys/fs/cgroup/unified) must read as not available.
 */
static void test_real_cgroup2(void **state) {
    struct cgroup_layout *l = NULL;
    struct cleat_error *err = NULL;
    check(cgroup_layout_read(&l, &err), err);
    if (!l->v2_mount || geteuid() != 0) {
        print_message("(no cgroup2 mount or not root: skipped)\n");
        cgroup_layout_free(l);
        skip();
    }
    char rel[64], dir[4096];
    snprintf(rel, sizeof(rel), "/cleat-unit-%d", (int)getpid());
    struct cgroup_dirs d = {0};
    check(cgroup_layout_dir(l, NULL, rel, &d.v2, &err), err);
    snprintf(dir, sizeof(dir), "%s", d.v2);
    if (mkdir(dir, 0755) < 0) {
        print_message("(cannot make %s: %s: skipped)\n", dir, strerror(errno));
        cgroup_dirs_clear(&d);
        cgroup_layout_free(l);
        skip();
    }
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char procs[4200];
        snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
        FILE *f = fopen(procs, "we");
        if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0)
            _exit(1);
        for (volatile unsigned long i = 0;; i++) /* burn CPU until killed */
            ;
    }
    usleep(300 * 1000);
    struct cgroup_stats s;
    check(cgroup_stats_read(&d, &s, &err), err);
    print_message("cgroup2 %s: have 0x%x, cpu %llu ns, pids %llu\n", dir, s.have, (unsigned long long)s.cpu_usage_ns,
                  (unsigned long long)s.pids);
    assert_true(s.have & CGS_PIDS); /* pids.current, or cgroup.procs counted */
    assert_int_equal(s.pids, 1);
    assert_int_equal(!!(s.have & CGS_CPU), exists_in(dir, "cpu.stat"));
    if (s.have & CGS_CPU)
        assert_true(s.cpu_usage_ns > 0);
    assert_int_equal(!!(s.have & CGS_MEMORY), exists_in(dir, "memory.current"));
    assert_int_equal(!!(s.have & CGS_PSI_CPU), exists_in(dir, "cpu.pressure"));
    assert_int_equal(!!(s.have & CGS_PSI_IO), exists_in(dir, "io.pressure"));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    for (int i = 0; i < 100 && rmdir(dir) < 0 && errno == EBUSY; i++)
        usleep(10 * 1000);
    assert_false(exists_in(dir, "."));
    expect_error(cgroup_stats_read(&d, &s, &err), &err, CLEAT_STATUS_NOT_FOUND, "does not exist");
    cgroup_dirs_clear(&d);
    cgroup_layout_free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parsers),        cmocka_unit_test(test_v1_fixture), cmocka_unit_test(test_v2_fixture),
        cmocka_unit_test(test_hybrid_fixture), cmocka_unit_test(test_dirs_of),    cmocka_unit_test(test_real_cgroup2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
