/* SPDX-License-Identifier: Apache-2.0 */
/* The LMDB store: records, names, meta, schema, reopening, crashes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "error.h"
#include "ids.h"
#include "store.h"
#include "store.pb-c.h"

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

struct fixture {
    char dir[64];
    struct store *store;
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof(*f));
    struct cleat_error *err = NULL;

    assert_non_null(f);
    strcpy(f->dir, "/tmp/cleat-test-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(store_open(f->dir, &f->store, &err), 0);
    assert_null(err);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    store_close(f->store);
    rm_rf(f->dir);
    free(f);
    return 0;
}

static void reopen(struct fixture *f) {
    struct cleat_error *err = NULL;
    store_close(f->store);
    f->store = NULL;
    assert_int_equal(store_open(f->dir, &f->store, &err), 0);
    assert_null(err);
}

static void create_ok(struct store *s, enum store_kind kind, const char *id, const char *name, const char *data) {
    struct cleat_error *err = NULL;
    int r = store_create(s, kind, id, name, data, strlen(data), &err);
    if (r != 0)
        fail_msg("store_create %s: %s", id, error_message(err));
}

/* The record's data as a NUL-terminated string, or NULL if it is absent. */
static char *get_str(struct store *s, enum store_kind kind, const char *id) {
    struct cleat_error *err = NULL;
    void *data = NULL;
    size_t len = 0;
    char *str;

    if (store_get(s, kind, id, &data, &len, &err) < 0) {
        if (error_status(err) != CLEAT_STATUS_NOT_FOUND)
            fail_msg("store_get %s: %s", id, error_message(err));
        error_free(err);
        return NULL;
    }
    /* The record is not NUL-terminated: copy exactly len bytes (strndup would scan past it). */
    str = malloc(len + 1);
    assert_non_null(str);
    memcpy(str, data, len);
    str[len] = '\0';
    free(data);
    return str;
}

static void assert_record(struct store *s, enum store_kind kind, const char *id, const char *want) {
    char *got = get_str(s, kind, id);
    if (!got)
        fail_msg("%s %s: not found", store_kind_name(kind), id);
    assert_string_equal(got, want);
    free(got);
}

static void test_sandbox_round_trip(void **state) {
    struct fixture *f = *state;
    Cleat__Store__V1__SandboxRecord rec = CLEAT__STORE__V1__SANDBOX_RECORD__INIT, *back;
    Cleat__Store__V1__SandboxRecord__LabelsEntry label = CLEAT__STORE__V1__SANDBOX_RECORD__LABELS_ENTRY__INIT;
    Cleat__Store__V1__SandboxRecord__LabelsEntry *labels[] = {&label};
    uint8_t cri[] = {0x0a, 0x00, 0xff};
    struct cleat_error *err = NULL;
    uint8_t *buf;
    void *data;
    size_t len;

    rec.id = ID_A, rec.name = "web", rec.namespace_ = "default", rec.uid = "u-1", rec.attempt = 2;
    rec.created_at_ns = 1700000000123456789, rec.runtime_handler = "runc", rec.state = 1;
    label.key = "app", label.value = "web";
    rec.n_labels = 1, rec.labels = labels;
    rec.cri_config.data = cri, rec.cri_config.len = sizeof(cri);
    len = cleat__store__v1__sandbox_record__get_packed_size(&rec);
    buf = malloc(len);
    cleat__store__v1__sandbox_record__pack(&rec, buf);
    assert_int_equal(store_create(f->store, STORE_SANDBOX, ID_A, "web_default_u-1_2", buf, len, &err), 0);
    free(buf);

    assert_int_equal(store_get(f->store, STORE_SANDBOX, ID_A, &data, &len, &err), 0);
    back = cleat__store__v1__sandbox_record__unpack(NULL, len, data);
    free(data);
    assert_non_null(back);
    assert_string_equal(back->id, ID_A);
    assert_string_equal(back->namespace_, "default");
    assert_int_equal(back->attempt, 2);
    assert_int_equal(back->created_at_ns, 1700000000123456789);
    assert_int_equal(back->state, 1);
    assert_int_equal(back->n_labels, 1);
    assert_string_equal(back->labels[0]->value, "web");
    assert_int_equal(back->cri_config.len, sizeof(cri));
    assert_memory_equal(back->cri_config.data, cri, sizeof(cri));
    cleat__store__v1__sandbox_record__free_unpacked(back, NULL);
}

static void test_container_and_image_round_trip(void **state) {
    struct fixture *f = *state;
    Cleat__Store__V1__ContainerRecord c = CLEAT__STORE__V1__CONTAINER_RECORD__INIT, *cback;
    Cleat__Store__V1__ImageRecord img = CLEAT__STORE__V1__IMAGE_RECORD__INIT, *iback;
    Cleat__Store__V1__Int64Value uid = CLEAT__STORE__V1__INT64_VALUE__INIT;
    char *tags[] = {"docker.io/library/busybox:latest", "busybox:1.36"};
    struct cleat_error *err = NULL;
    uint8_t buf[512];
    void *data;
    size_t len;

    c.id = ID_B, c.sandbox_id = ID_A, c.name = "app", c.exit_code = -9, c.state = 2, c.finished_at_ns = 42;
    c.log_path = "app/0.log";
    len = cleat__store__v1__container_record__pack(&c, buf);
    assert_int_equal(store_create(f->store, STORE_CONTAINER, ID_B, "app_web_default_u-1_0", buf, len, &err), 0);

    img.id = ID_C, img.n_repo_tags = 2, img.repo_tags = tags, img.size = 4242424242u, img.uid = &uid;
    len = cleat__store__v1__image_record__pack(&img, buf);
    assert_int_equal(store_create(f->store, STORE_IMAGE, ID_C, NULL, buf, len, &err), 0);

    assert_int_equal(store_get(f->store, STORE_CONTAINER, ID_B, &data, &len, &err), 0);
    cback = cleat__store__v1__container_record__unpack(NULL, len, data);
    free(data);
    assert_non_null(cback);
    assert_string_equal(cback->sandbox_id, ID_A);
    assert_int_equal(cback->exit_code, -9);
    assert_string_equal(cback->log_path, "app/0.log");
    cleat__store__v1__container_record__free_unpacked(cback, NULL);

    assert_int_equal(store_get(f->store, STORE_IMAGE, ID_C, &data, &len, &err), 0);
    iback = cleat__store__v1__image_record__unpack(NULL, len, data);
    free(data);
    assert_non_null(iback);
    assert_int_equal(iback->n_repo_tags, 2);
    assert_string_equal(iback->repo_tags[1], "busybox:1.36");
    assert_int_equal(iback->size, 4242424242u);
    assert_non_null(iback->uid); /* uid 0 is present, not absent */
    assert_int_equal(iback->uid->value, 0);
    cleat__store__v1__image_record__free_unpacked(iback, NULL);

    /* Kinds are separate namespaces. */
    assert_null(get_str(f->store, STORE_SANDBOX, ID_B));
    assert_null(get_str(f->store, STORE_IMAGE, ID_B));
}

static void test_update_and_empty(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    void *data = NULL;
    size_t len = 99;

    create_ok(f->store, STORE_CONTAINER, ID_A, "n1", "v1");
    assert_int_equal(store_update(f->store, STORE_CONTAINER, ID_A, "version two", 11, &err), 0);
    assert_record(f->store, STORE_CONTAINER, ID_A, "version two");
    /* The name stays reserved across updates. */
    expect_error(store_create(f->store, STORE_CONTAINER, ID_B, "n1", "x", 1, &err), &err, CLEAT_STATUS_ALREADY_EXISTS,
                 "name 'n1' is reserved by container " ID_A);

    assert_int_equal(store_update(f->store, STORE_CONTAINER, ID_A, NULL, 0, &err), 0);
    assert_int_equal(store_get(f->store, STORE_CONTAINER, ID_A, &data, &len, &err), 0);
    assert_non_null(data);
    assert_int_equal(len, 0);
    free(data);
}

static void test_name_reservation(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;

    create_ok(f->store, STORE_SANDBOX, ID_A, "web_default_u1_0", "first");
    expect_error(store_create(f->store, STORE_SANDBOX, ID_B, "web_default_u1_0", "second", 6, &err), &err,
                 CLEAT_STATUS_ALREADY_EXISTS, "name 'web_default_u1_0' is reserved by pod sandbox " ID_A);
    /* Neither half of the failed create happened. */
    assert_null(get_str(f->store, STORE_SANDBOX, ID_B));
    assert_record(f->store, STORE_SANDBOX, ID_A, "first");

    /* An existing ID with a fresh name: refused, and the fresh name is not left reserved. */
    expect_error(store_create(f->store, STORE_SANDBOX, ID_A, "other_default_u2_0", "dup", 3, &err), &err,
                 CLEAT_STATUS_ALREADY_EXISTS, "pod sandbox " ID_A " already exists");
    assert_record(f->store, STORE_SANDBOX, ID_A, "first");
    create_ok(f->store, STORE_SANDBOX, ID_C, "other_default_u2_0", "third");

    /* The same name in another kind is another name. */
    create_ok(f->store, STORE_CONTAINER, ID_B, "web_default_u1_0", "container");
}

static void test_remove_releases_name(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;

    create_ok(f->store, STORE_SANDBOX, ID_A, "pod_ns_uid_0", "a");
    assert_int_equal(store_remove(f->store, STORE_SANDBOX, ID_A, &err), 0);
    assert_null(err);
    assert_null(get_str(f->store, STORE_SANDBOX, ID_A));
    create_ok(f->store, STORE_SANDBOX, ID_B, "pod_ns_uid_0", "b");
    assert_record(f->store, STORE_SANDBOX, ID_B, "b");
}

static void test_missing_and_invalid(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    void *data = NULL;
    size_t len = 0;

    expect_error(store_update(f->store, STORE_CONTAINER, ID_A, "x", 1, &err), &err, CLEAT_STATUS_NOT_FOUND,
                 "container " ID_A " not found");
    assert_int_equal(store_remove(f->store, STORE_IMAGE, ID_A, &err), -ENOENT);
    expect_error(-ENOENT, &err, CLEAT_STATUS_NOT_FOUND, "image " ID_A " not found");
    expect_error(store_get(f->store, STORE_SANDBOX, ID_A, &data, &len, &err), &err, CLEAT_STATUS_NOT_FOUND,
                 "pod sandbox " ID_A " not found");

    expect_error(store_create(f->store, STORE_SANDBOX, "abc", NULL, "x", 1, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "pod sandbox ID 'abc' is not 64 lowercase hex");
    expect_error(store_create(f->store, STORE_SANDBOX,
                              "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, "x", 1, &err),
                 &err, CLEAT_STATUS_INVALID_ARGUMENT, "is not 64 lowercase hex");
    expect_error(store_create(f->store, STORE_SANDBOX, ID_A, "", "x", 1, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "name '' is 0 bytes");
    char long_name[600];
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    expect_error(store_create(f->store, STORE_SANDBOX, ID_A, long_name, "x", 1, &err), &err,
                 CLEAT_STATUS_INVALID_ARGUMENT, "is 599 bytes, it must be 1 to 511");
    assert_null(get_str(f->store, STORE_SANDBOX, ID_A));
}

static void test_meta(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    char *value = NULL;

    expect_error(store_meta_get(f->store, "boot-id", &value, &err), &err, CLEAT_STATUS_NOT_FOUND,
                 "setting 'boot-id' not found");
    assert_int_equal(store_meta_set(f->store, "boot-id", "b1", &err), 0);
    assert_int_equal(store_meta_set(f->store, "boot-id", "b2", &err), 0);
    assert_int_equal(store_meta_get(f->store, "boot-id", &value, &err), 0);
    assert_string_equal(value, "b2");
    free(value);
    assert_int_equal(store_meta_get(f->store, "schema", &value, &err), 0);
    assert_int_equal(atoi(value), STORE_SCHEMA_VERSION);
    free(value);
}

static void test_reopen_keeps_everything(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    char *value = NULL;

    create_ok(f->store, STORE_SANDBOX, ID_A, "s", "sandbox");
    create_ok(f->store, STORE_CONTAINER, ID_B, "c", "container");
    create_ok(f->store, STORE_IMAGE, ID_C, NULL, "image");
    assert_int_equal(store_meta_set(f->store, "k", "v", &err), 0);
    reopen(f);
    assert_record(f->store, STORE_SANDBOX, ID_A, "sandbox");
    assert_record(f->store, STORE_CONTAINER, ID_B, "container");
    assert_record(f->store, STORE_IMAGE, ID_C, "image");
    assert_int_equal(store_meta_get(f->store, "k", &value, &err), 0);
    assert_string_equal(value, "v");
    free(value);
    expect_error(store_create(f->store, STORE_CONTAINER, ID_C, "c", "x", 1, &err), &err, CLEAT_STATUS_ALREADY_EXISTS,
                 "name 'c' is reserved by container " ID_B);
}

static void test_schema_newer_refused(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    struct store *s = NULL;
    char want[128];

    assert_int_equal(store_meta_set(f->store, "schema", "99", &err), 0);
    store_close(f->store);
    f->store = NULL;
    snprintf(want, sizeof(want), "store %s/store has schema 99, this cleatd understands up to %d", f->dir,
             STORE_SCHEMA_VERSION);
    expect_error(store_open(f->dir, &s, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, want);
    assert_null(s);
    /* Refusing leaves the store as it was: still refused, with the errno callers see. */
    assert_int_equal(store_open(f->dir, &s, &err), -EPROTO);
    error_free(err);
}

static void test_schema_garbage_refused(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    struct store *s = NULL;

    assert_int_equal(store_meta_set(f->store, "schema", "1x", &err), 0);
    store_close(f->store);
    f->store = NULL;
    expect_error(store_open(f->dir, &s, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION,
                 "has schema '1x', not a version");
}

struct walk {
    char ids[8][ID_HEX_LEN + 1];
    char names[8][16];
    size_t n, stop_at;
};

static int walk_one(void *ctx, const char *id, const char *name_key, const void *data, size_t len) {
    struct walk *w = ctx;
    assert_true(w->n < 8);
    assert_int_equal(strlen(id), ID_HEX_LEN);
    strcpy(w->ids[w->n], id);
    snprintf(w->names[w->n], sizeof(w->names[0]), "%s", name_key ? name_key : "(none)");
    assert_int_equal(len, 1);
    assert_int_equal(((const char *)data)[0], id[0]);
    return ++w->n == w->stop_at ? 77 : 0;
}

static void test_foreach_order(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    struct walk w = {0};

    create_ok(f->store, STORE_CONTAINER, ID_C, "nc", "c");
    create_ok(f->store, STORE_CONTAINER, ID_A, NULL, "a");
    create_ok(f->store, STORE_CONTAINER, ID_B, "nb", "b");
    create_ok(f->store, STORE_SANDBOX, ID_A, "other kind", "a");
    assert_int_equal(store_foreach(f->store, STORE_CONTAINER, walk_one, &w, &err), 0);
    assert_int_equal(w.n, 3);
    assert_string_equal(w.ids[0], ID_A);
    assert_string_equal(w.names[0], "(none)");
    assert_string_equal(w.ids[1], ID_B);
    assert_string_equal(w.names[1], "nb");
    assert_string_equal(w.ids[2], ID_C);
    assert_string_equal(w.names[2], "nc");

    memset(&w, 0, sizeof(w));
    w.stop_at = 2;
    assert_int_equal(store_foreach(f->store, STORE_CONTAINER, walk_one, &w, &err), 77);
    assert_int_equal(w.n, 2);
    assert_null(err);

    memset(&w, 0, sizeof(w));
    assert_int_equal(store_foreach(f->store, STORE_IMAGE, walk_one, &w, &err), 0);
    assert_int_equal(w.n, 0);
}

/* store_get_each: the IDs asked for, in their order, a missing or malformed record passed over, a bad ID refused. */
static void test_get_each(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    struct walk w = {0};
    char *ids[] = {ID_C, ID_B, ID_A};

    create_ok(f->store, STORE_CONTAINER, ID_C, "nc", "c");
    create_ok(f->store, STORE_CONTAINER, ID_A, NULL, "a");
    create_ok(f->store, STORE_SANDBOX, ID_B, "a pod", "b"); /* another kind: not a container */
    assert_int_equal(store_get_each(f->store, STORE_CONTAINER, ids, 3, walk_one, &w, NULL, &err), 0);
    assert_null(err);
    assert_int_equal(w.n, 2);
    assert_string_equal(w.ids[0], ID_C);
    assert_string_equal(w.names[0], "nc");
    assert_string_equal(w.ids[1], ID_A);
    assert_string_equal(w.names[1], "(none)");

    memset(&w, 0, sizeof(w));
    w.stop_at = 1;
    assert_int_equal(store_get_each(f->store, STORE_CONTAINER, ids, 3, walk_one, &w, NULL, &err), 77);
    assert_int_equal(w.n, 1);

    memset(&w, 0, sizeof(w));
    assert_int_equal(store_get_each(f->store, STORE_CONTAINER, ids, 0, walk_one, &w, NULL, &err), 0);
    assert_int_equal(w.n, 0);

    /* A malformed record (a value too short for its header, as corruption would leave) is passed over, counted. */
    store_close(f->store);
    f->store = NULL;
    char path[128];
    snprintf(path, sizeof(path), "%s/store", f->dir);
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_open(env, path, MDB_NOTLS, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "container", 0, &dbi), 0);
    MDB_val key = {.mv_size = strlen(ID_B), .mv_data = ID_B}, val = {.mv_size = 1, .mv_data = "x"};
    assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    reopen(f);
    size_t n_bad = 0;
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_get_each(f->store, STORE_CONTAINER, ids, 3, walk_one, &w, &n_bad, &err), 0);
    assert_null(err);
    assert_int_equal(n_bad, 1);
    assert_int_equal(w.n, 2);
    assert_string_equal(w.ids[0], ID_C);
    assert_string_equal(w.ids[1], ID_A);

    memset(&w, 0, sizeof(w));
    char *bad[] = {ID_A, "ABC"};
    expect_error(store_get_each(f->store, STORE_CONTAINER, bad, 2, walk_one, &w, NULL, &err), &err,
                 CLEAT_STATUS_INVALID_ARGUMENT, "is not 64 lowercase hex");
    assert_int_equal(w.n, 0); /* refused before anything was read */
}

/* A write committed by a process that then dies without closing is there. */
static void test_commit_survives_crash(void **state) {
    struct fixture *f = *state;
    int status;
    pid_t pid;

    store_close(f->store);
    f->store = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct store *s = NULL;
        if (store_open(f->dir, &s, NULL) < 0 || store_create(s, STORE_CONTAINER, ID_A, "n", "kept", 4, NULL) < 0)
            _exit(1);
        _exit(0); /* as if kill -9: no store_close */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    reopen(f);
    assert_record(f->store, STORE_CONTAINER, ID_A, "kept");
}

struct hog {
    struct store *store;
    int depth;
};

/*
 * Nest read transactions (each store_foreach holds one; MDB_NOTLS gives each
 * its own reader slot) until the table is full, then die holding them all.
 */
static int hog_readers(void *ctx, const char *id, const char *name_key, const void *data, size_t len) {
    struct hog *h = ctx;
    struct cleat_error *err = NULL;

    h->depth++;
    if (store_foreach(h->store, STORE_SANDBOX, hog_readers, h, &err) < 0)
        _exit(error_status(err) == CLEAT_STATUS_RESOURCE_EXHAUSTED && h->depth >= STORE_MAX_READERS ? 0 : 3);
    _exit(4);
}

static void test_stale_readers_cleared(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    int hold[2], ready[2], status;
    pid_t bystander, hog;
    char c;

    create_ok(f->store, STORE_SANDBOX, ID_A, NULL, "a");
    store_close(f->store);
    f->store = NULL;
    assert_int_equal(pipe2(hold, O_CLOEXEC), 0);
    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);

    /*
     * While another process has the store open, LMDB does not reset its
     * reader table on open; only mdb_reader_check frees the dead's slots.
     */
    bystander = fork();
    assert_true(bystander >= 0);
    if (bystander == 0) {
        struct store *s = NULL;
        close(hold[1]);
        if (store_open(f->dir, &s, NULL) < 0 || write(ready[1], "r", 1) != 1)
            _exit(1);
        while (read(hold[0], &c, 1) > 0)
            ;
        store_close(s);
        _exit(0);
    }
    close(hold[0]);
    close(ready[1]);
    assert_int_equal(read(ready[0], &c, 1), 1);

    hog = fork();
    assert_true(hog >= 0);
    if (hog == 0) {
        struct hog h = {0};
        if (store_open(f->dir, &h.store, NULL) < 0)
            _exit(1);
        store_foreach(h.store, STORE_SANDBOX, hog_readers, &h, NULL);
        _exit(2);
    }
    assert_int_equal(waitpid(hog, &status, 0), hog);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* Every slot now belongs to a dead process; opening must free them. */
    assert_int_equal(store_open(f->dir, &f->store, &err), 0);
    assert_record(f->store, STORE_SANDBOX, ID_A, "a");

    close(hold[1]);
    close(ready[0]);
    assert_int_equal(waitpid(bystander, &status, 0), bystander);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The store's files must not leak into runtimes and shims we spawn. */
static void test_fds_close_on_exec(void **state) {
    struct fixture *f = *state;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int seen = 0;

    assert_non_null(d);
    while ((e = readdir(d))) {
        char target[512];
        ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);

        if (n < 0)
            continue;
        target[n] = '\0';
        if (strncmp(target, f->dir, strlen(f->dir)) != 0)
            continue;
        seen++;
        if (!(fcntl(atoi(e->d_name), F_GETFD) & FD_CLOEXEC))
            fail_msg("fd %s (%s) is not close-on-exec", e->d_name, target);
    }
    closedir(d);
    assert_true(seen >= 2); /* data.mdb and lock.mdb at least */
}

static void test_kind_names(void **state) {
    assert_string_equal(store_kind_name(STORE_SANDBOX), "pod sandbox");
    assert_string_equal(store_kind_name(STORE_CONTAINER), "container");
    assert_string_equal(store_kind_name(STORE_IMAGE), "image");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sandbox_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_and_image_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_reservation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_releases_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_newer_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_garbage_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreach_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_each, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_survives_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_readers_cleared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fds_close_on_exec, setup, teardown),
        cmocka_unit_test(test_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
