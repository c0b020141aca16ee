/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The limits of unpacking (struct unpack_limits): the size and ratio checks
 * on their own, then real decompression bombs (gzip and zstd of 16 MiB of
 * zeros, written by unpack/gen_fixtures.py bombs) stopped by unpack_layer
 * early, a bomb hidden in front of incompressible data, bytes after the
 * tar's end, and the free-space reserve.  Runs as root (chown, mknod).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdatomic.h>
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
#include <zstd.h>

#include "error.h"
#include "unpack.h"

#define GEN CLEAT_TEST_DATA_DIR "/unpack/gen_fixtures.py"
#define OCI_TAR "application/vnd.oci.image.layer.v1.tar"
#define OCI_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

static char base_dir[64];
static char target[PATH_MAX];

/* The shipped defaults (config/cleat.yaml.in). */
static const struct unpack_limits defaults = {.max_bytes = 64 * GiB,
                                              .max_bytes_name = "BYTES",
                                              .max_ratio = 100,
                                              .ratio_min_bytes = 256 * MiB,
                                              .max_ratio_name = "RATIO",
                                              .min_free_bytes = 1 * GiB,
                                              .min_free_name = "FREE"};

static const char *fixture(const char *name) {
    static char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s/%s", base_dir, name);
    return buf;
}

static int setup_target(void **state) {
    if (geteuid() != 0) {
        print_message("not root: skipping\n");
        skip();
    }
    snprintf(target, sizeof(target), "%s/target", base_dir);
    rm_rf(target);
    assert_int_equal(mkdir(target, 0755), 0);
    return 0;
}

static int group_setup(void **state) {
    char cmd[PATH_MAX * 2];
    strcpy(base_dir, "/tmp/cleat-test-limits-XXXXXX");
    assert_non_null(mkdtemp(base_dir));
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s bombs %s", GEN, base_dir);
    if (system(cmd) != 0)
        fail_msg("fixture generator failed: %s", cmd);
    /* zeros.tar as one zstd frame: ~500 bytes for 16 MiB. */
    int in = open(fixture("zeros.tar"), O_RDONLY | O_CLOEXEC);
    struct stat st;
    assert_true(in >= 0 && fstat(in, &st) == 0);
    char *src = malloc((size_t)st.st_size), *dst = malloc(ZSTD_compressBound((size_t)st.st_size));
    assert_true(src && dst && read(in, src, (size_t)st.st_size) == st.st_size);
    close(in);
    size_t n = ZSTD_compress(dst, ZSTD_compressBound((size_t)st.st_size), src, (size_t)st.st_size, 3);
    assert_false(ZSTD_isError(n));
    FILE *f = fopen(fixture("zeros.tar.zst"), "wb");
    assert_true(f && fwrite(dst, 1, n, f) == n && fclose(f) == 0);
    free(src);
    free(dst);
    return 0;
}

static int group_teardown(void **state) {
    rm_rf(base_dir);
    return 0;
}

static int unpack_file(const char *name, const char *media, const struct unpack_limits *l, struct unpack_result *res,
                       struct cleat_error **err) {
    int fd = open(fixture(name), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail_msg("cannot open %s: %s", name, strerror(errno));
    int r = unpack_layer(fd, media, NULL, target, l, res, err);
    close(fd);
    return r;
}

static void unpack_ok(const char *name, const char *media, const struct unpack_limits *l) {
    struct unpack_result res;
    struct cleat_error *err = NULL;
    if (unpack_file(name, media, l, &res, &err) < 0)
        fail_msg("unpack %s: %s", name, error_message(err));
    rm_rf(target);
    assert_int_equal(mkdir(target, 0755), 0);
}

/* Bytes of target/name on disk, 0 if it is not there. */
static off_t size_in_target(const char *name) {
    char p[PATH_MAX + 64];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", target, name);
    return lstat(p, &st) == 0 ? st.st_size : 0;
}

/* ---- the checks alone ---- */

static void test_ratio_guard(void **state) {
    struct cleat_error *err = NULL;
    /* No limits: anything goes. */
    assert_int_equal(unpack_check_limits(NULL, 1, UINT64_MAX, &err), 0);
    /* A CUDA-style layer: 3 GiB from 1 GiB, and a text-heavy one at 10:1. */
    assert_int_equal(unpack_check_limits(&defaults, 1 * GiB, 3 * GiB, &err), 0);
    assert_int_equal(unpack_check_limits(&defaults, 400 * MiB, 4 * GiB, &err), 0);
    /* Small and extremely compressible: below the floor, any ratio passes (an empty 200 MiB disk image). */
    assert_int_equal(unpack_check_limits(&defaults, 200 * 1024, 200 * MiB, &err), 0);
    assert_int_equal(unpack_check_limits(&defaults, 1, 256 * MiB, &err), 0);
    /* The bomb, as it passes the floor: 256 MiB + 1 block from ~256 KiB. */
    int r = unpack_check_limits(&defaults, 266572, 257 * MiB, &err);
    expect_error(r, &err, CLEAT_STATUS_RESOURCE_EXHAUSTED,
                 "the layer unpacked to 269484032 bytes from 266572 compressed bytes, more than 100 times as many "
                 "(a decompression bomb?): refused by RATIO");
    /* Exactly at the ratio passes; one byte more does not. */
    assert_int_equal(unpack_check_limits(&defaults, 3 * MiB, 300 * MiB, &err), 0);
    r = unpack_check_limits(&defaults, 3 * MiB, 300 * MiB + 1, &err);
    expect_error(r, &err, CLEAT_STATUS_RESOURCE_EXHAUSTED, "refused by RATIO");
    /* Nothing consumed yet but past the floor: refused, not a division by zero. */
    r = unpack_check_limits(&defaults, 0, 300 * MiB, &err);
    expect_error(r, &err, CLEAT_STATUS_RESOURCE_EXHAUSTED, "refused by RATIO");
    /* The biggest ratio times a huge count must not wrap around to a small product. */
    struct unpack_limits big = {.max_ratio = 1000000};
    assert_int_equal(unpack_check_limits(&big, UINT64_C(1) << 62, UINT64_MAX, &err), 0);
    r = unpack_check_limits(&big, 1000, 1000 * 1000000 + 1, &err);
    expect_error(r, &err, CLEAT_STATUS_RESOURCE_EXHAUSTED, "the compression-ratio limit");
    /* Ratio 0 is off; the floor 0 applies from the first byte. */
    struct unpack_limits off = defaults;
    off.max_ratio = 0;
    assert_int_equal(unpack_check_limits(&off, 1, 60 * GiB, &err), 0);
    struct unpack_limits strict = {.max_ratio = 2};
    r = unpack_check_limits(&strict, 1, 3, &err);
    expect_error(r, &err, CLEAT_STATUS_RESOURCE_EXHAUSTED, "more than 2 times as many");
    assert_null(err);
}

static void test_size_limit(void **state) {
    struct cleat_error *err = NULL;
    assert_int_equal(unpack_check_limits(&defaults, 60 * GiB, 64 * GiB, &err), 0);
    int r = unpack_check_limits(&defaults, 60 * GiB, 64 * GiB + 1, &err);
    expect_error(r, &err, CLEAT_STATUS_RESOURCE_EXHAUSTED,
                 "the layer unpacks to more than 68719476736 bytes, the limit of BYTES");
    struct unpack_limits unnamed = {.max_bytes = 10};
    r = unpack_check_limits(&unnamed, 11, 11, &err);
    expect_error(r, &err, CLEAT_STATUS_RESOURCE_EXHAUSTED, "more than 10 bytes, the limit of this unpack");
    unnamed.max_bytes = 0; /* off */
    assert_int_equal(unpack_check_limits(&unnamed, 1, UINT64_MAX, &err), 0);
}

/* ---- enforced while unpacking ---- */

static const struct unpack_limits bomb_limits = {
    .max_ratio = 100, .ratio_min_bytes = 1 * MiB, .max_ratio_name = "RATIO"};

static void test_bombs_stopped_early(void **state) {
    const char *names[] = {"zeros.tar.gz", "zeros.tar.zst"}, *media[] = {OCI_GZIP, OCI_ZSTD};
    for (int i = 0; i < 2; i++) {
        struct unpack_result res;
        struct cleat_error *err = NULL;
        /* Valid layers: without limits they unpack whole. */
        unpack_ok(names[i], media[i], NULL);
        int r = unpack_file(names[i], media[i], &bomb_limits, &res, &err);
        expect_error(r, &err, CLEAT_STATUS_RESOURCE_EXHAUSTED, "refused by RATIO");
        /* Stopped within a block or two of the floor, not at 16 MiB. */
        off_t written = size_in_target("zeros");
        print_message("%s: %lld bytes written before the refusal\n", names[i], (long long)written);
        assert_true(written <= (off_t)(3 * MiB));
        rm_rf(target);
        assert_int_equal(mkdir(target, 0755), 0);
    }
}

/*
 * 16 MiB of zeros, then 900 KiB of noise in a second gzip member: both are
 * read at once (one 1 MiB read), but only ~16 KiB of it has been decoded
 * when the zeros come out.  Counting the bytes read would see 16 MiB from
 * 900 KiB (18:1) and pass the bomb.
 */
static void test_ratio_counts_decoded_bytes(void **state) {
    struct unpack_result res;
    struct cleat_error *err = NULL;
    int r = unpack_file("zeros-then-noise.tar.gz", OCI_GZIP, &bomb_limits, &res, &err);
    expect_error(r, &err, CLEAT_STATUS_RESOURCE_EXHAUSTED, "refused by RATIO");
    assert_int_equal(size_in_target("noise"), 0);
    rm_rf(target);
    assert_int_equal(mkdir(target, 0755), 0);
    /* Its floor above the zeros: the layer passes, the noise brings the ratio down. */
    struct unpack_limits high_floor = bomb_limits;
    high_floor.ratio_min_bytes = 32 * MiB;
    unpack_ok("zeros-then-noise.tar.gz", OCI_GZIP, &high_floor);
}

static void test_size_limit_while_unpacking(void **state) {
    struct unpack_result res;
    struct cleat_error *err = NULL;
    struct stat st;
    assert_int_equal(stat(fixture("zeros.tar"), &st), 0);
    struct unpack_limits l = {.max_bytes = 4 * MiB, .max_bytes_name = "BYTES"};
    int r = unpack_file("zeros.tar", OCI_TAR, &l, &res, &err);
    expect_error(r, &err, CLEAT_STATUS_RESOURCE_EXHAUSTED, "more than 4194304 bytes, the limit of BYTES");
    assert_true(size_in_target("zeros") <= (off_t)(4 * MiB));
    rm_rf(target);
    assert_int_equal(mkdir(target, 0755), 0);
    /* Exactly its size passes. */
    l.max_bytes = (uint64_t)st.st_size;
    unpack_ok("zeros.tar", OCI_TAR, &l);
    /* Bytes after the tar's end marker count too: the tar is 2 KiB, the limit 4 MiB, the zeros after it 8 MiB. */
    l.max_bytes = 4 * MiB;
    r = unpack_file("trailing-zeros.tar.gz", OCI_GZIP, &l, &res, &err);
    expect_error(r, &err, CLEAT_STATUS_RESOURCE_EXHAUSTED, "the limit of BYTES");
    assert_int_equal(size_in_target("small"), 6); /* the tar itself was in */
}

/* A budget shared by unpacks: what each one drew, against the budget's limit, from any thread. */
static void test_shared_budget(void **state) {
    struct cleat_error *err = NULL;
    struct unpack_budget b = {.max = 10, .name = "IMAGE"};
    assert_int_equal(unpack_charge_budget(&b, 6, &err), 0);
    assert_int_equal(unpack_charge_budget(&b, 4, &err), 0); /* exactly the limit passes */
    expect_error(unpack_charge_budget(&b, 1, &err), &err, CLEAT_STATUS_RESOURCE_EXHAUSTED,
                 "the image unpacks to more than 10 bytes, the limit of IMAGE");
    assert_int_equal(unpack_charge_budget(NULL, UINT64_MAX, &err), 0);
    struct unpack_budget none = {.max = 0};
    assert_int_equal(unpack_charge_budget(&none, UINT64_MAX, &err), 0);
    /* A sum that wraps is past any limit. */
    struct unpack_budget big = {.max = UINT64_MAX - 1};
    assert_int_equal(unpack_charge_budget(&big, UINT64_MAX - 2, &err), 0);
    expect_error(unpack_charge_budget(&big, 4, &err), &err, CLEAT_STATUS_RESOURCE_EXHAUSTED, "the image");
}

/* Two streams on one budget of one and a half times their size, one after the other: the second passes it. */
static void test_shared_budget_while_unpacking(void **state) {
    struct unpack_result res;
    struct cleat_error *err = NULL;
    struct stat st;
    assert_int_equal(stat(fixture("zeros.tar"), &st), 0);
    struct unpack_budget b = {.max = (uint64_t)st.st_size * 3 / 2, .name = "IMAGE"};
    struct unpack_limits l = {.shared = &b};
    unpack_ok("zeros.tar", OCI_TAR, &l);
    assert_true(atomic_load(&b.used) == (uint64_t)st.st_size);
    rm_rf(target);
    assert_int_equal(mkdir(target, 0755), 0);
    int r = unpack_file("zeros.tar", OCI_TAR, &l, &res, &err);
    expect_error(r, &err, CLEAT_STATUS_RESOURCE_EXHAUSTED, "the limit of IMAGE");
}

static void test_free_space_reserve(void **state) {
    struct unpack_result res;
    struct cleat_error *err = NULL;
    struct unpack_limits l = {.min_free_bytes = UINT64_C(1) << 62, .min_free_name = "FREE"};
    int r = unpack_file("zeros.tar.gz", OCI_GZIP, &l, &res, &err);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "cannot start unpacking: the filesystem of %s has ", target);
    assert_non_null(err);
    assert_non_null(strstr(error_message(err), want));
    expect_error(r, &err, CLEAT_STATUS_RESOURCE_EXHAUSTED, "bytes free, less than the reserve of FREE");
    assert_int_equal(size_in_target("zeros"), 0); /* nothing was started */
    /* A reserve the filesystem has: unpacked. */
    l.min_free_bytes = 4096;
    unpack_ok("zeros.tar.gz", OCI_GZIP, &l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratio_guard),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test_setup(test_bombs_stopped_early, setup_target),
        cmocka_unit_test_setup(test_ratio_counts_decoded_bytes, setup_target),
        cmocka_unit_test_setup(test_size_limit_while_unpacking, setup_target),
        cmocka_unit_test_setup(test_free_space_reserve, setup_target),
        cmocka_unit_test(test_shared_budget),
        cmocka_unit_test_setup(test_shared_budget_while_unpacking, setup_target),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
