/* SPDX-License-Identifier: Apache-2.0 */
/* The small pieces under the runtime service: keyed locks, signal names, rm_tree, atomic files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fsutil.h"
#include "keyed_lock.h"
#include "runtime_internal.h"
#include "testutil.h"

struct counter {
    struct keyed_locks *kl;
    const char *key;
    int value; /* guarded by the keyed lock only */
};

static void *bump(void *arg) {
    struct counter *c = arg;
    for (int i = 0; i < 2000; i++) {
        struct keyed_lock *l = keyed_lock_acquire(c->kl, c->key);
        assert_non_null(l);
        int v = c->value;
        if (i % 500 == 0)
            sched_yield(); /* widen the window a missing lock would show */
        c->value = v + 1;
        keyed_lock_release(l);
    }
    return NULL;
}

static void test_keyed_lock_serialises_one_key(void **state) {
    (void)state;
    struct keyed_locks *kl = keyed_locks_new();
    struct counter a = {kl, "a", 0}, b = {kl, "b", 0};
    pthread_t t[6];
    for (int i = 0; i < 6; i++)
        assert_int_equal(pthread_create(&t[i], NULL, bump, i % 2 ? &a : &b), 0);
    for (int i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(a.value, 6000);
    assert_int_equal(b.value, 6000);
    /* Different keys do not block each other. */
    struct keyed_lock *la = keyed_lock_acquire(kl, "a"), *lb = keyed_lock_acquire(kl, "b");
    assert_non_null(la);
    assert_non_null(lb);
    keyed_lock_release(lb);
    keyed_lock_release(la);
    keyed_locks_free(kl);
}

static void test_signal_names(void **state) {
    (void)state;
    assert_int_equal(signal_parse("SIGTERM"), SIGTERM);
    assert_int_equal(signal_parse("term"), SIGTERM);
    assert_int_equal(signal_parse("SIGQUIT"), SIGQUIT);
    assert_int_equal(signal_parse("9"), SIGKILL);
    assert_int_equal(signal_parse("SIGRTMIN+3"), SIGRTMIN + 3);
    assert_int_equal(signal_parse("RTMAX-1"), SIGRTMAX - 1);
    assert_int_equal(signal_parse("SIGWINCH"), SIGWINCH);
    assert_int_equal(signal_parse(""), -1);
    assert_int_equal(signal_parse(NULL), -1);
    assert_int_equal(signal_parse("SIGNOPE"), -1);
    assert_int_equal(signal_parse("0"), -1);
    assert_int_equal(signal_parse("99"), -1);
    assert_int_equal(signal_parse("SIGRTMAX+1"), -1);
}

static void test_rm_tree_stays_on_its_file_system(void **state) {
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX + 64];
    temp_dir(dir, sizeof(dir), "cleat-test-rmtree");
    snprintf(path, sizeof(path), "%s/a/b", dir);
    struct cleat_error *err = NULL;
    check(mkdir_p(path, 0755, &err), err);
    write_text(path, "f", "x\n");
    snprintf(path, sizeof(path), "%s/a/mnt", dir);
    check(mkdir_p(path, 0755, &err), err);
    int mounted = getuid() == 0 && mount("tmpfs", path, "tmpfs", 0, NULL) == 0;
    if (mounted) {
        write_text(path, "keep", "precious\n");
        /* A mount below refuses the removal, and what is on that mount survives. */
        snprintf(path, sizeof(path), "%s/a", dir);
        expect_error(rm_tree(path, &err), &err, CLEAT_STATUS_INTERNAL, "cannot remove");
        snprintf(path, sizeof(path), "%s/a/mnt", dir);
        expect_text(path, "keep", "precious\n");
        assert_int_equal(umount(path), 0);
    }
    snprintf(path, sizeof(path), "%s/a", dir);
    check(rm_tree(path, &err), err);
    struct stat st;
    assert_int_equal(lstat(path, &st), -1);
    check(rm_tree(path, &err), err); /* absent is fine */
    rm_rf(dir);
}

static void test_atomic_file(void **state) {
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX + 16];
    temp_dir(dir, sizeof(dir), "cleat-test-atomic");
    snprintf(path, sizeof(path), "%s/f", dir);
    struct cleat_error *err = NULL;
    check(write_file_atomic(path, "one\n", 4, 0600, &err), err);
    check(write_file_atomic(path, "two\n", 4, 0600, &err), err);
    char *text = NULL;
    size_t len = 0;
    check(read_file(path, 100, &text, &len, &err), err);
    assert_string_equal(text, "two\n");
    assert_int_equal(len, 4);
    free(text);
    expect_error(read_file(path, 2, &text, &len, &err), &err, CLEAT_STATUS_INTERNAL, "File too large");
    snprintf(path, sizeof(path), "%s/none", dir);
    expect_error(read_file(path, 2, &text, &len, &err), &err, CLEAT_STATUS_NOT_FOUND, "cannot open");
    /* Pseudo-files say they are empty; their content is read all the same. */
    check(read_file("/proc/self/oom_score_adj", 64, &text, &len, &err), err);
    assert_true(len > 0 && text[len - 1] == '\n');
    free(text);
    snprintf(path, sizeof(path), "%s/f.tmp", dir);
    struct stat st;
    assert_int_equal(lstat(path, &st), -1); /* no temporary left */
    rm_rf(dir);
}

typedef int (*write_fn)(const char *, const void *, size_t, mode_t, struct cleat_error **);

/*
 * Both writers replace the file whole with the mode asked for, whatever a
 * killed cleatd left at "<path>.tmp" (under O_TRUNC a leftover kept its own
 * mode, and a symlink there was followed) and whatever the umask.
 */
static void check_writer(write_fn write_whole, const char *name) {
    char dir[PATH_MAX], path[PATH_MAX + 32], tmp[PATH_MAX + 48], elsewhere[PATH_MAX + 32];
    temp_dir(dir, sizeof(dir), name);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", dir);
    struct cleat_error *err = NULL;
    check(write_whole(path, "{}", 2, 0600, &err), err);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "half", 4), 4);
    close(fd);
    mode_t old = umask(0077);
    check(write_whole(path, "{\"a\":1}", 7, 0644, &err), err);
    umask(old);
    char *text = NULL;
    size_t len = 0;
    check(read_file(path, 100, &text, &len, &err), err);
    assert_string_equal(text, "{\"a\":1}");
    free(text);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(lstat(tmp, &st), -1);
    /* A symlink planted at the temporary is replaced, not followed. */
    assert_int_equal(symlink(elsewhere, tmp), 0);
    check(write_whole(path, "{}", 2, 0600, &err), err);
    assert_int_equal(lstat(elsewhere, &st), -1);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    snprintf(path, sizeof(path), "%s/missing/config.json", dir);
    expect_error(write_whole(path, "{}", 2, 0600, &err), &err, CLEAT_STATUS_INTERNAL, "cannot write");
    rm_rf(dir);
}

static void test_atomic_file_leftovers(void **state) {
    (void)state;
    check_writer(write_file_atomic, "cleat-test-atomic-leftover");
}

/* The state dir's writer: the same, without the fsync. */
static void test_state_file(void **state) {
    (void)state;
    check_writer(write_state_file, "cleat-test-state-file");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyed_lock_serialises_one_key),
        cmocka_unit_test(test_signal_names),
        cmocka_unit_test(test_rm_tree_stays_on_its_file_system),
        cmocka_unit_test(test_atomic_file),
        cmocka_unit_test(test_atomic_file_leftovers),
        cmocka_unit_test(test_state_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
