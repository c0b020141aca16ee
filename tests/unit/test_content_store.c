/* SPDX-License-Identifier: Apache-2.0 */
/* Digests and the content store: verify, commit, resume, concurrent writers, delete, walk, usage. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "content_store.h"
#include "digest.h"
#include "error.h"

#define SHA_EMPTY "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA512_ZERO                                                                                                    \
    "sha512:0000000000000000000000000000000000000000000000000000000000000000"                                          \
    "0000000000000000000000000000000000000000000000000000000000000000"

struct fixture {
    char dir[64];
    struct content_store *cs;
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof(*f));
    struct cleat_error *err = NULL;

    assert_non_null(f);
    strcpy(f->dir, "/tmp/cleat-test-content-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(content_store_open(f->dir, &f->cs, &err), 0);
    assert_null(err);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    content_store_close(f->cs);
    rm_rf(f->dir);
    free(f);
    return 0;
}

static void digest_of(const char *s, char out[DIGEST_MAX]) {
    assert_int_equal(digest_of_buffer(s, strlen(s), out), 0);
}

/* Entries (other than . and ..) in <dir>/content/<sub>. */
static int count_entries(struct fixture *f, const char *sub) {
    char path[256];
    struct dirent *de;
    int n = 0;
    DIR *d;

    snprintf(path, sizeof(path), "%s/content/%s", f->dir, sub);
    d = opendir(path);
    assert_non_null(d);
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void write_blob(struct fixture *f, const char *data) {
    struct cleat_error *err = NULL;
    char digest[DIGEST_MAX];

    digest_of(data, digest);
    check(content_write_small(f->cs, digest, data, strlen(data), &err), err);
}

/* ---- digests ---- */

static void test_digest_validate(void **state) {
    static const char *const valid[] = {SHA_EMPTY, SHA_ABC, SHA512_ZERO};
    static const char *const invalid[] = {
        "",
        "sha256:",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",   /* 63 */
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555", /* 65 */
        "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",  /* uppercase */
        "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha384:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "sha256:../../../../etc/passwd",
        " sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    };
    struct cleat_error *err = NULL;

    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
        check(digest_validate(valid[i], &err), err);
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        expect_error(digest_validate(invalid[i], &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "invalid digest");
    expect_error(digest_validate(NULL, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "digest");
    assert_true(digest_validate("nope", NULL) < 0); /* reterr may be NULL */
    check(digest_check_computable(SHA_ABC, &err), err);
    expect_error(digest_check_computable(SHA512_ZERO, &err), &err, CLEAT_STATUS_UNIMPLEMENTED, "only sha256");
    expect_error(digest_check_computable("sha256:x", &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "sha256:x");
    assert_string_equal(digest_hex(SHA_ABC), &SHA_ABC[7]);
    assert_int_equal(digest_algorithm_len(SHA512_ZERO), 6);
}

static void test_digester(void **state) {
    struct digester *d = digester_new("sha256");
    char out[DIGEST_MAX];

    assert_null(digester_new("sha512"));
    assert_null(digester_new("md5"));
    assert_null(digester_new(NULL));
    assert_non_null(d);
    digester_final(d, out);
    assert_string_equal(out, SHA_EMPTY);
    digester_update(d, "a", 1); /* reset by final: this is new content */
    digester_update(d, "", 0);
    digester_update(d, "bc", 2);
    digester_final(d, out);
    assert_string_equal(out, SHA_ABC);
    digester_free(d);
    digester_free(NULL);
    assert_int_equal(digest_of_buffer("abc", 3, out), 0);
    assert_string_equal(out, SHA_ABC);
}

/* ---- the store ---- */

static void test_write_commit_read(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    struct content_writer *w = NULL;
    const char *data = "{\"schemaVersion\":2}";
    char digest[DIGEST_MAX], path[256];
    char *back = NULL;
    size_t len = 0;
    int64_t size = -2;
    int exists = -1, fd = -1;
    struct stat st;

    digest_of(data, digest);
    assert_int_equal(content_exists(f->cs, digest, NULL), 0);
    check(content_writer_open(f->cs, digest, (int64_t)strlen(data), &w, &exists, &err), err);
    assert_int_equal(exists, 0);
    assert_non_null(w);
    assert_int_equal(content_writer_offset(w), 0);
    check(content_writer_write(w, data, 5, &err), err);
    check(content_writer_write(w, data + 5, strlen(data) - 5, &err), err);
    assert_int_equal(content_writer_offset(w), strlen(data));
    assert_int_equal(content_exists(f->cs, digest, NULL), 0); /* not visible before commit */
    check(content_writer_commit(w, &err), err);

    assert_int_equal(content_exists(f->cs, digest, &size), 1);
    assert_int_equal(size, strlen(data));
    check(content_read_small(f->cs, digest, 1024, &back, &len, &err), err);
    assert_int_equal(len, strlen(data));
    assert_string_equal(back, data);
    free(back);

    snprintf(path, sizeof(path), "%s/content/blobs/sha256/%s", f->dir, digest + 7);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0444);
    assert_int_equal(count_entries(f, "ingest"), 0);

    check(content_open_blob(f->cs, digest, &fd, &err), err);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
    close(fd);

    /* Opening a committed blob again reports it exists; a contradicting size is refused. */
    check(content_writer_open(f->cs, digest, -1, &w, &exists, &err), err);
    assert_int_equal(exists, 1);
    assert_null(w);
    expect_error(content_writer_open(f->cs, digest, 3, &w, &exists, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION,
                 "descriptor says 3");
    assert_string_equal(content_store_path(f->cs) + strlen(f->dir), "/content");
}

static void test_unknown_size(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    struct content_writer *w = NULL;
    int exists;

    check(content_writer_open(f->cs, SHA_ABC, -1, &w, &exists, &err), err);
    check(content_writer_write(w, "abc", 3, &err), err);
    check(content_writer_commit(w, &err), err);
    assert_int_equal(content_exists(f->cs, SHA_ABC, NULL), 1);
    /* The empty blob. */
    check(content_writer_open(f->cs, SHA_EMPTY, 0, &w, &exists, &err), err);
    check(content_writer_commit(w, &err), err);
    assert_int_equal(content_exists(f->cs, SHA_EMPTY, NULL), 1);
}

static void test_wrong_digest(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    struct content_writer *w = NULL;
    int exists;

    check(content_writer_open(f->cs, SHA_ABC, 3, &w, &exists, &err), err);
    check(content_writer_write(w, "abd", 3, &err), err);
    expect_error(content_writer_commit(w, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION,
                 "expected " SHA_ABC ", got sha256:");
    assert_int_equal(content_exists(f->cs, SHA_ABC, NULL), 0);
    assert_int_equal(count_entries(f, "blobs/sha256"), 0);
    assert_int_equal(count_entries(f, "ingest"), 0);
    expect_error(content_write_small(f->cs, SHA_EMPTY, "x", 1, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION,
                 "mismatch");
    assert_int_equal(count_entries(f, "blobs/sha256"), 0);
    assert_int_equal(count_entries(f, "ingest"), 0);
}

static void test_wrong_size(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    struct content_writer *w = NULL;
    int exists;

    /* Short: the commit says how many bytes were expected and came. */
    check(content_writer_open(f->cs, SHA_ABC, 4, &w, &exists, &err), err);
    check(content_writer_write(w, "abc", 3, &err), err);
    expect_error(content_writer_commit(w, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "expected 4 bytes, got 3");
    /* Long: refused at the write; the partial is not kept even when asked. */
    check(content_writer_open(f->cs, SHA_ABC, 2, &w, &exists, &err), err);
    check(content_writer_write(w, "ab", 2, &err), err);
    expect_error(content_writer_write(w, "c", 1, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION,
                 "more than the expected 2 bytes");
    expect_error(content_writer_write(w, "", 0, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "start over");
    content_writer_abort(w, 1);
    /* Long, then committed anyway. */
    check(content_writer_open(f->cs, SHA_ABC, 2, &w, &exists, &err), err);
    expect_error(content_writer_write(w, "abc", 3, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "more than");
    expect_error(content_writer_commit(w, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "more data");
    assert_int_equal(count_entries(f, "blobs/sha256"), 0);
    assert_int_equal(count_entries(f, "ingest"), 0);
    expect_error(content_writer_open(f->cs, SHA_ABC, -5, &w, &exists, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "invalid size");
}

static void test_resume(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    struct content_writer *w = NULL;
    char digest[DIGEST_MAX], *big = malloc(300000);
    int exists;

    assert_non_null(big);
    for (size_t i = 0; i < 300000; i++)
        big[i] = (char)('a' + i * 7 % 26);
    assert_int_equal(digest_of_buffer(big, 300000, digest), 0);
    check(content_writer_open(f->cs, digest, 300000, &w, &exists, &err), err);
    check(content_writer_write(w, big, 123457, &err), err);
    content_writer_abort(w, 1); /* interrupted download */
    assert_int_equal(count_entries(f, "ingest"), 1);

    check(content_writer_open(f->cs, digest, 300000, &w, &exists, &err), err);
    assert_int_equal(content_writer_offset(w), 123457);
    check(content_writer_write(w, big + 123457, 300000 - 123457, &err), err);
    check(content_writer_commit(w, &err), err);
    assert_int_equal(content_exists(f->cs, digest, NULL), 1);
    assert_int_equal(count_entries(f, "ingest"), 0);

    /* A partial that was wrong all along is caught at commit, and thrown away. */
    big[0] ^= 1;
    assert_int_equal(digest_of_buffer(big, 300000, digest), 0);
    check(content_writer_open(f->cs, digest, 300000, &w, &exists, &err), err);
    check(content_writer_write(w, big + 1, 1000, &err), err); /* garbage: not the start */
    content_writer_abort(w, 1);
    check(content_writer_open(f->cs, digest, 300000, &w, &exists, &err), err);
    assert_int_equal(content_writer_offset(w), 1000);
    check(content_writer_write(w, big + 1000, 300000 - 1000, &err), err);
    expect_error(content_writer_commit(w, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "mismatch");
    assert_int_equal(count_entries(f, "ingest"), 0);

    /* A source that cannot resume starts over. */
    check(content_writer_open(f->cs, digest, 300000, &w, &exists, &err), err);
    check(content_writer_write(w, big + 1, 1000, &err), err);
    expect_error(content_writer_write(w, big, 300000, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "more than");
    check(content_writer_reset(w, &err), err);
    assert_int_equal(content_writer_offset(w), 0);
    check(content_writer_write(w, big, 300000, &err), err);
    check(content_writer_commit(w, &err), err);
    check(content_delete(f->cs, digest, &err), err);

    /* A partial longer than the expected size is dropped; abort(0) discards. */
    check(content_writer_open(f->cs, digest, -1, &w, &exists, &err), err);
    check(content_writer_write(w, big, 2000, &err), err);
    content_writer_abort(w, 1);
    check(content_writer_open(f->cs, digest, 1000, &w, &exists, &err), err);
    assert_int_equal(content_writer_offset(w), 0);
    content_writer_abort(w, 0);
    assert_int_equal(count_entries(f, "ingest"), 0);
    content_writer_abort(NULL, 0);
    free(big);
}

struct race {
    struct content_store *cs;
    const char *data;
    char digest[DIGEST_MAX];
    pthread_barrier_t *barrier;
    int wrote, existed, failed;
};

static void *race_writer(void *arg) {
    struct race *r = arg;
    struct cleat_error *err = NULL;
    struct content_writer *w = NULL;
    size_t len = strlen(r->data);
    int exists = 0;

    pthread_barrier_wait(r->barrier);
    if (content_writer_open(r->cs, r->digest, (int64_t)len, &w, &exists, &err) < 0)
        goto fail;
    if (exists) {
        r->existed = 1;
        return NULL;
    }
    for (size_t off = 0; off < len; off += 100) { /* slowly, so that the other thread arrives meanwhile */
        if (content_writer_write(w, r->data + off, len - off < 100 ? len - off : 100, &err) < 0) {
            content_writer_abort(w, 0);
            goto fail;
        }
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    if (content_writer_commit(w, &err) < 0)
        goto fail;
    r->wrote = 1;
    return NULL;
fail:
    fprintf(stderr, "race writer: %s\n", err ? error_message(err) : "?");
    error_free(err);
    r->failed = 1;
    return NULL;
}

static void test_two_writers_same_digest(void **state) {
    struct fixture *f = *state;
    char *data = calloc(1, 2001);
    pthread_barrier_t barrier;
    struct race r[2];
    pthread_t t[2];
    char *back = NULL;
    size_t len;
    struct cleat_error *err = NULL;

    assert_non_null(data);
    memset(data, 'z', 2000);
    pthread_barrier_init(&barrier, NULL, 2);
    for (int i = 0; i < 2; i++) {
        r[i] = (struct race){.cs = f->cs, .data = data, .barrier = &barrier};
        digest_of(data, r[i].digest);
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race_writer, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&barrier);
    assert_false(r[0].failed || r[1].failed);
    assert_true(r[0].wrote + r[1].wrote >= 1);
    assert_int_equal(r[0].wrote + r[0].existed, 1);
    assert_int_equal(r[1].wrote + r[1].existed, 1);
    assert_int_equal(count_entries(f, "blobs/sha256"), 1);
    assert_int_equal(count_entries(f, "ingest"), 0);
    check(content_read_small(f->cs, r[0].digest, 4096, &back, &len, &err), err);
    assert_int_equal(len, 2000);
    free(back);
    free(data);
}

struct waiter {
    struct content_store *cs;
    const char *digest;
    int done, exists, rc;
};

static void *wait_writer(void *arg) {
    struct waiter *wt = arg;
    struct content_writer *w = NULL;

    wt->rc = content_writer_open(wt->cs, wt->digest, 3, &w, &wt->exists, NULL);
    content_writer_abort(w, 1);
    __atomic_store_n(&wt->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* The second writer waits for the first, then finds the blob committed. */
static void test_second_writer_waits(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    struct content_writer *w = NULL;
    struct waiter wt = {.cs = f->cs, .digest = SHA_ABC, .exists = -1};
    pthread_t t;
    int exists;

    check(content_writer_open(f->cs, SHA_ABC, 3, &w, &exists, &err), err);
    assert_int_equal(pthread_create(&t, NULL, wait_writer, &wt), 0);
    nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
    assert_int_equal(__atomic_load_n(&wt.done, __ATOMIC_SEQ_CST), 0);
    check(content_writer_write(w, "abc", 3, &err), err);
    check(content_writer_commit(w, &err), err);
    pthread_join(t, NULL);
    assert_int_equal(wt.rc, 0);
    assert_int_equal(wt.exists, 1);
    assert_int_equal(count_entries(f, "ingest"), 0);
}

/* After the first writer gives up keeping its partial, the waiter resumes from it. */
static void test_waiter_resumes_partial(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    struct content_writer *w = NULL;
    struct waiter wt = {.cs = f->cs, .digest = SHA_ABC, .exists = -1};
    pthread_t t;
    int exists;

    check(content_writer_open(f->cs, SHA_ABC, 3, &w, &exists, &err), err);
    check(content_writer_write(w, "ab", 2, &err), err);
    assert_int_equal(pthread_create(&t, NULL, wait_writer, &wt), 0);
    nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
    content_writer_abort(w, 1);
    pthread_join(t, NULL);
    assert_int_equal(wt.rc, 0);
    assert_int_equal(wt.exists, 0); /* it got the writer, and kept the partial in turn */
    check(content_writer_open(f->cs, SHA_ABC, 3, &w, &exists, &err), err);
    assert_int_equal(content_writer_offset(w), 2);
    check(content_writer_write(w, "c", 1, &err), err);
    check(content_writer_commit(w, &err), err);
}

static void test_delete(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    int fd = -1;

    write_blob(f, "abc");
    check(content_write_small(f->cs, SHA_ABC, "abc", 3, &err), err); /* exists: fine */
    check(content_delete(f->cs, SHA_ABC, &err), err);
    assert_int_equal(content_exists(f->cs, SHA_ABC, NULL), 0);
    expect_error(content_delete(f->cs, SHA_ABC, &err), &err, CLEAT_STATUS_NOT_FOUND, SHA_ABC);
    expect_error(content_open_blob(f->cs, SHA_ABC, &fd, &err), &err, CLEAT_STATUS_NOT_FOUND, "not found");
    assert_int_equal(fd, -1);
}

struct walk {
    int n;
    int64_t total;
    int stop_after;
};

static int walk_fn(void *ctx, const char *digest, int64_t size) {
    struct walk *wk = ctx;
    assert_int_equal(digest_validate(digest, NULL), 0);
    wk->n++;
    wk->total += size;
    return wk->stop_after && wk->n == wk->stop_after ? 42 : 0;
}

static void test_walk_and_usage(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    struct content_writer *w = NULL;
    struct walk wk = {0};
    int64_t bytes = -1, inodes = -1, bytes2, inodes2;
    int exists;

    check(content_usage(f->cs, &bytes, &inodes, &err), err);
    assert_int_equal(inodes, 4); /* content, blobs, blobs/sha256, ingest */
    write_blob(f, "one");
    write_blob(f, "two!");
    write_blob(f, "three");
    check(content_walk(f->cs, walk_fn, &wk, &err), err);
    assert_int_equal(wk.n, 3);
    assert_int_equal(wk.total, 3 + 4 + 5);
    wk = (struct walk){.stop_after = 2};
    assert_int_equal(content_walk(f->cs, walk_fn, &wk, &err), 42);
    assert_int_equal(wk.n, 2);

    check(content_writer_open(f->cs, SHA_ABC, 3, &w, &exists, &err), err);
    check(content_writer_write(w, "ab", 2, &err), err);
    content_writer_abort(w, 1);
    check(content_usage(f->cs, &bytes2, &inodes2, &err), err);
    assert_int_equal(inodes2, 4 + 3 + 1); /* partials count too */
    assert_true(bytes2 > bytes);
}

static void test_read_small_limits(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    char digest[DIGEST_MAX], path[256];
    char *back = NULL;
    size_t len;
    FILE *fp;

    write_blob(f, "0123456789");
    digest_of("0123456789", digest);
    expect_error(content_read_small(f->cs, digest, 9, &back, &len, &err), &err, CLEAT_STATUS_RESOURCE_EXHAUSTED,
                 "more than the 9 allowed");
    assert_null(back);
    check(content_read_small(f->cs, digest, 10, &back, &len, &err), err);
    free(back);
    back = NULL;
    /* Corrupted on disk behind our back (we run as root, or make it writable). */
    snprintf(path, sizeof(path), "%s/content/blobs/sha256/%s", f->dir, digest + 7);
    chmod(path, 0644);
    fp = fopen(path, "r+");
    assert_non_null(fp);
    fputs("X", fp);
    fclose(fp);
    expect_error(content_read_small(f->cs, digest, 100, &back, &len, &err), &err, CLEAT_STATUS_INTERNAL, "corrupt");
    assert_null(back);
}

static void test_invalid_digests_refused(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    struct content_writer *w = NULL;
    char *back = NULL;
    size_t len;
    int exists, fd = -1;
    static const char *const bad[] = {"sha256:abc", "sha256:../../etc/passwd", "", "blobs/sha256/x"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_error(content_writer_open(f->cs, bad[i], 3, &w, &exists, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                     "invalid digest");
        expect_error(content_open_blob(f->cs, bad[i], &fd, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                     "invalid digest");
        expect_error(content_read_small(f->cs, bad[i], 10, &back, &len, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                     "invalid digest");
        expect_error(content_delete(f->cs, bad[i], &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "invalid digest");
        expect_error(content_write_small(f->cs, bad[i], "x", 1, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                     "invalid digest");
        assert_int_equal(content_exists(f->cs, bad[i], NULL), 0);
    }
    expect_error(content_writer_open(f->cs, NULL, 3, &w, &exists, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "digest");
    expect_error(content_writer_open(f->cs, SHA512_ZERO, 3, &w, &exists, &err), &err, CLEAT_STATUS_UNIMPLEMENTED,
                 "only sha256");
    expect_error(content_open_blob(f->cs, SHA512_ZERO, &fd, &err), &err, CLEAT_STATUS_NOT_FOUND, "not found");
    assert_null(w);
}

static void test_cleanup_ingest(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    struct content_writer *w = NULL, *busy = NULL;
    int exists;

    check(content_writer_open(f->cs, SHA_ABC, 3, &w, &exists, &err), err);
    check(content_writer_write(w, "a", 1, &err), err);
    content_writer_abort(w, 1);
    check(content_writer_open(f->cs, SHA_EMPTY, 0, &busy, &exists, &err), err);
    assert_int_equal(count_entries(f, "ingest"), 2);
    content_cleanup_ingest(f->cs, 3600); /* too recent */
    assert_int_equal(count_entries(f, "ingest"), 2);
    content_cleanup_ingest(f->cs, 0); /* the idle one goes, the one being written stays */
    assert_int_equal(count_entries(f, "ingest"), 1);
    check(content_writer_commit(busy, &err), err);
    assert_int_equal(count_entries(f, "ingest"), 0);
}

static void test_reopen(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    struct content_store *cs2 = NULL;
    char path[256];

    write_blob(f, "abc");
    check(content_store_open(f->dir, &cs2, &err), err);
    assert_int_equal(content_exists(cs2, SHA_ABC, NULL), 1);
    content_store_close(cs2);
    content_store_close(NULL);
    snprintf(path, sizeof(path), "%s/file", f->dir);
    close(open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    expect_error(content_store_open(path, &cs2, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "cannot create");
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_validate),
        cmocka_unit_test(test_digester),
        cmocka_unit_test_setup_teardown(test_write_commit_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_writers_same_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_writer_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waiter_resumes_partial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_walk_and_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_small_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_digests_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_ingest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
