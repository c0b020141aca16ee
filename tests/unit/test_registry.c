/* SPDX-License-Identifier: Apache-2.0 */
/* The in-memory registry over the store, and IDs / name keys. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "error.h"
#include "ids.h"
#include "registry.h"
#include "store.h"

/* IDs chosen to share prefixes: "abc1", "abc2", "abd", "f". */
#define ID_ABC1 "abc1000000000000000000000000000000000000000000000000000000000000"
#define ID_ABC2 "abc2000000000000000000000000000000000000000000000000000000000000"
#define ID_ABD "abd0000000000000000000000000000000000000000000000000000000000000"
#define ID_F "f000000000000000000000000000000000000000000000000000000000000000"

struct fixture {
    char dir[64];
    struct store *store;
    struct registry *reg;
};

static void open_both(struct fixture *f) {
    struct cleat_error *err = NULL;
    assert_int_equal(store_open(f->dir, &f->store, &err), 0);
    assert_int_equal(registry_open(f->store, &f->reg, &err), 0);
    assert_null(err);
}

static void close_both(struct fixture *f) {
    registry_free(f->reg);
    store_close(f->store);
    f->reg = NULL;
    f->store = NULL;
}

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    strcpy(f->dir, "/tmp/cleat-test-registry-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    open_both(f);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    close_both(f);
    rm_rf(f->dir);
    free(f);
    return 0;
}

static void add_ok(struct registry *reg, enum store_kind kind, const char *id, const char *name) {
    struct cleat_error *err = NULL;
    if (registry_add(reg, kind, id, name, NULL, "rec", 3, &err) != 0)
        fail_msg("registry_add %s: %s", id, error_message(err));
}

static void add_prefix_family(struct registry *reg) {
    add_ok(reg, STORE_SANDBOX, ID_ABC1, "p1_ns_u1_0");
    add_ok(reg, STORE_SANDBOX, ID_ABC2, "p2_ns_u2_0");
    add_ok(reg, STORE_SANDBOX, ID_ABD, NULL);
    add_ok(reg, STORE_SANDBOX, ID_F, "p4_ns_u4_0");
}

static void expect_resolve(struct registry *reg, enum store_kind kind, const char *prefix, const char *want) {
    struct cleat_error *err = NULL;
    char id[ID_HEX_LEN + 1];
    if (registry_resolve(reg, kind, prefix, id, &err) != 0)
        fail_msg("resolve '%s': %s", prefix, error_message(err));
    assert_string_equal(id, want);
}

static void test_resolve(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    char id[ID_HEX_LEN + 1] = "";
    char too_long[ID_HEX_LEN + 2];

    add_prefix_family(f->reg);
    expect_resolve(f->reg, STORE_SANDBOX, "abc1", ID_ABC1);
    expect_resolve(f->reg, STORE_SANDBOX, "abd", ID_ABD);
    expect_resolve(f->reg, STORE_SANDBOX, "f", ID_F);
    expect_resolve(f->reg, STORE_SANDBOX, ID_ABC2, ID_ABC2);

    expect_error(registry_resolve(f->reg, STORE_SANDBOX, "abc", id, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "pod sandbox ID prefix 'abc' is ambiguous: matches 2");
    expect_error(registry_resolve(f->reg, STORE_SANDBOX, "a", id, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "pod sandbox ID prefix 'a' is ambiguous: matches 3");
    expect_error(registry_resolve(f->reg, STORE_SANDBOX, "abe", id, &err), &err, CLEAT_STATUS_NOT_FOUND,
                 "pod sandbox 'abe' not found");
    expect_error(registry_resolve(f->reg, STORE_SANDBOX, "0", id, &err), &err, CLEAT_STATUS_NOT_FOUND,
                 "pod sandbox '0' not found");
    /* Past the end of the array, and one char longer than an existing ID's prefix. */
    expect_error(registry_resolve(f->reg, STORE_SANDBOX, "f1", id, &err), &err, CLEAT_STATUS_NOT_FOUND, "not found");
    expect_error(registry_resolve(f->reg, STORE_SANDBOX, "", id, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "pod sandbox ID must not be empty");
    expect_error(registry_resolve(f->reg, STORE_SANDBOX, NULL, id, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "must not be empty");
    expect_error(registry_resolve(f->reg, STORE_SANDBOX, "abz", id, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "pod sandbox ID 'abz' is not lowercase hex");
    expect_error(registry_resolve(f->reg, STORE_SANDBOX, "ABC1", id, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "is not lowercase hex");
    snprintf(too_long, sizeof(too_long), "%s0", ID_F);
    expect_error(registry_resolve(f->reg, STORE_SANDBOX, too_long, id, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "at most 64 characters");
    /* Each kind has its own IDs. */
    expect_error(registry_resolve(f->reg, STORE_CONTAINER, "abc1", id, &err), &err, CLEAT_STATUS_NOT_FOUND,
                 "container 'abc1' not found");
    assert_string_equal(id, ""); /* untouched on failure */
}

static void test_rebuild_after_reopen(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    char id[ID_HEX_LEN + 1];

    add_prefix_family(f->reg);
    add_ok(f->reg, STORE_CONTAINER, ID_ABC1, "c_p1_ns_u1_0");
    add_ok(f->reg, STORE_IMAGE, ID_F, NULL);
    assert_int_equal(registry_remove(f->reg, STORE_SANDBOX, ID_ABC2, &err), 0);
    close_both(f);
    open_both(f);

    assert_int_equal(registry_count(f->reg, STORE_SANDBOX), 3);
    assert_int_equal(registry_count(f->reg, STORE_CONTAINER), 1);
    assert_int_equal(registry_count(f->reg, STORE_IMAGE), 1);
    expect_resolve(f->reg, STORE_SANDBOX, "abc", ID_ABC1); /* abc2 is gone, so no longer ambiguous */
    expect_resolve(f->reg, STORE_IMAGE, "f", ID_F);
    assert_int_equal(registry_find_name(f->reg, STORE_SANDBOX, "p4_ns_u4_0", id), 0);
    assert_string_equal(id, ID_F);
    assert_int_equal(registry_find_name(f->reg, STORE_CONTAINER, "c_p1_ns_u1_0", id), 0);
    assert_string_equal(id, ID_ABC1);
    assert_int_equal(registry_find_name(f->reg, STORE_SANDBOX, "p2_ns_u2_0", id), -ENOENT);
    /* The reloaded index still enforces names (through the store). */
    expect_error(registry_add(f->reg, STORE_SANDBOX, ID_ABC2, "p1_ns_u1_0", NULL, "x", 1, &err), &err,
                 CLEAT_STATUS_ALREADY_EXISTS, "name 'p1_ns_u1_0' is reserved by pod sandbox " ID_ABC1);
    assert_int_equal(registry_count(f->reg, STORE_SANDBOX), 3);
}

static void test_add_remove_update(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    char id[ID_HEX_LEN + 1];
    void *data;
    size_t len;

    add_ok(f->reg, STORE_CONTAINER, ID_ABD, "name");
    expect_error(registry_add(f->reg, STORE_CONTAINER, ID_ABD, "other", NULL, "x", 1, &err), &err,
                 CLEAT_STATUS_ALREADY_EXISTS, "container " ID_ABD " already exists");
    assert_int_equal(registry_find_name(f->reg, STORE_CONTAINER, "other", id), -ENOENT);
    expect_error(registry_add(f->reg, STORE_CONTAINER, "nothex", NULL, NULL, "x", 1, &err), &err,
                 CLEAT_STATUS_INVALID_ARGUMENT, "container ID 'nothex'");
    assert_int_equal(registry_count(f->reg, STORE_CONTAINER), 1);

    assert_int_equal(registry_update(f->reg, STORE_CONTAINER, ID_ABD, "new", 3, &err), 0);
    assert_int_equal(store_get(f->store, STORE_CONTAINER, ID_ABD, &data, &len, &err), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "new", 3);
    free(data);
    expect_error(registry_update(f->reg, STORE_CONTAINER, ID_F, "x", 1, &err), &err, CLEAT_STATUS_NOT_FOUND,
                 "container " ID_F " not found");

    assert_int_equal(registry_remove(f->reg, STORE_CONTAINER, ID_ABD, &err), 0);
    assert_int_equal(registry_count(f->reg, STORE_CONTAINER), 0);
    assert_int_equal(registry_find_name(f->reg, STORE_CONTAINER, "name", id), -ENOENT);
    expect_error(registry_resolve(f->reg, STORE_CONTAINER, "abd", id, &err), &err, CLEAT_STATUS_NOT_FOUND, "not found");
    expect_error(registry_remove(f->reg, STORE_CONTAINER, ID_ABD, &err), &err, CLEAT_STATUS_NOT_FOUND,
                 "container " ID_ABD " not found");
    /* The name is free again. */
    add_ok(f->reg, STORE_CONTAINER, ID_F, "name");
    assert_int_equal(registry_find_name(f->reg, STORE_CONTAINER, "name", id), 0);
    assert_string_equal(id, ID_F);
}

struct collect {
    struct registry *reg;
    char ids[8][ID_HEX_LEN + 1];
    size_t n;
};

/* Removes each ID as it goes: the walk runs on a snapshot, without the lock. */
static int collect_and_remove(void *ctx, const char *id) {
    struct collect *c = ctx;
    struct cleat_error *err = NULL;
    assert_true(c->n < 8);
    strcpy(c->ids[c->n++], id);
    assert_int_equal(registry_remove(c->reg, STORE_SANDBOX, id, &err), 0);
    return c->n == 3 ? 5 : 0;
}

static void test_foreach_id(void **state) {
    struct fixture *f = *state;
    struct collect c = {.reg = f->reg};

    add_ok(f->reg, STORE_SANDBOX, ID_F, NULL);
    add_ok(f->reg, STORE_SANDBOX, ID_ABD, NULL);
    add_ok(f->reg, STORE_SANDBOX, ID_ABC2, NULL);
    add_ok(f->reg, STORE_SANDBOX, ID_ABC1, NULL);
    assert_int_equal(registry_foreach_id(f->reg, STORE_SANDBOX, collect_and_remove, &c), 5);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.ids[0], ID_ABC1);
    assert_string_equal(c.ids[1], ID_ABC2);
    assert_string_equal(c.ids[2], ID_ABD);
    assert_int_equal(registry_count(f->reg, STORE_SANDBOX), 1);
    c.n = 0;
    assert_int_equal(registry_foreach_id(f->reg, STORE_IMAGE, collect_and_remove, &c), 0);
    assert_int_equal(c.n, 0);
}

struct gather {
    char ids[8][ID_HEX_LEN + 1];
    size_t n;
};

static int gather(void *ctx, const char *id) {
    struct gather *g = ctx;
    assert_true(g->n < 8);
    strcpy(g->ids[g->n++], id);
    return 0;
}

static void expect_ids(struct gather *g, size_t n, const char *const *want) {
    assert_int_equal(g->n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(g->ids[i], want[i]);
    g->n = 0;
}

static void test_foreach_prefix(void **state) {
    struct fixture *f = *state;
    struct gather g = {0};

    add_prefix_family(f->reg);
    assert_int_equal(registry_foreach_prefix(f->reg, STORE_SANDBOX, "abc", gather, &g), 0);
    expect_ids(&g, 2, (const char *[]){ID_ABC1, ID_ABC2});
    assert_int_equal(registry_foreach_prefix(f->reg, STORE_SANDBOX, ID_ABD, gather, &g), 0);
    expect_ids(&g, 1, (const char *[]){ID_ABD});
    assert_int_equal(registry_foreach_prefix(f->reg, STORE_SANDBOX, "f1", gather, &g), 0); /* past the end */
    expect_ids(&g, 0, NULL);
    assert_int_equal(registry_foreach_prefix(f->reg, STORE_SANDBOX, "not hex", gather, &g), 0);
    expect_ids(&g, 0, NULL);
    assert_int_equal(registry_foreach_prefix(f->reg, STORE_SANDBOX, "", gather, &g), 0);
    expect_ids(&g, 4, (const char *[]){ID_ABC1, ID_ABC2, ID_ABD, ID_F});
    assert_int_equal(registry_foreach_prefix(f->reg, STORE_SANDBOX, NULL, gather, &g), 0);
    expect_ids(&g, 4, (const char *[]){ID_ABC1, ID_ABC2, ID_ABD, ID_F});
}

/* Containers found by their pod: given at add, set again after a reopen (it is not stored), moved, removed. */
static void test_children(void **state) {
    struct fixture *f = *state;
    struct cleat_error *err = NULL;
    struct gather g = {0};

    assert_int_equal(registry_add(f->reg, STORE_CONTAINER, ID_F, NULL, ID_ABC1, "c", 1, &err), 0);
    assert_int_equal(registry_add(f->reg, STORE_CONTAINER, ID_ABD, NULL, ID_ABC2, "c", 1, &err), 0);
    assert_int_equal(registry_add(f->reg, STORE_CONTAINER, ID_ABC1, NULL, ID_ABC1, "c", 1, &err), 0);
    assert_int_equal(registry_add(f->reg, STORE_CONTAINER, ID_ABC2, NULL, NULL, "c", 1, &err), 0);
    expect_error(registry_add(f->reg, STORE_CONTAINER, ID_ABC2, NULL, "pod", "c", 1, &err), &err, CLEAT_STATUS_INTERNAL,
                 "parent 'pod' is not an ID");
    assert_int_equal(registry_foreach_child(f->reg, STORE_CONTAINER, ID_ABC1, gather, &g), 0);
    expect_ids(&g, 2, (const char *[]){ID_ABC1, ID_F});
    assert_int_equal(registry_foreach_child(f->reg, STORE_CONTAINER, ID_ABC2, gather, &g), 0);
    expect_ids(&g, 1, (const char *[]){ID_ABD});
    assert_int_equal(registry_foreach_child(f->reg, STORE_CONTAINER, "abc", gather, &g), 0); /* a prefix */
    expect_ids(&g, 3, (const char *[]){ID_ABC1, ID_F, ID_ABD});
    assert_int_equal(registry_foreach_child(f->reg, STORE_CONTAINER, "", gather, &g), 0); /* all with a parent */
    expect_ids(&g, 3, (const char *[]){ID_ABC1, ID_F, ID_ABD});
    assert_int_equal(registry_foreach_child(f->reg, STORE_CONTAINER, ID_ABD, gather, &g), 0);
    expect_ids(&g, 0, NULL);

    /* Removal takes it out of the parent index too. */
    assert_int_equal(registry_remove(f->reg, STORE_CONTAINER, ID_ABC1, &err), 0);
    assert_int_equal(registry_foreach_child(f->reg, STORE_CONTAINER, ID_ABC1, gather, &g), 0);
    expect_ids(&g, 1, (const char *[]){ID_F});

    /* Not stored: after a reopen no container has a parent until it is set again. */
    close_both(f);
    open_both(f);
    assert_int_equal(registry_foreach_child(f->reg, STORE_CONTAINER, "", gather, &g), 0);
    expect_ids(&g, 0, NULL);
    assert_int_equal(registry_set_parent(f->reg, STORE_CONTAINER, ID_F, ID_ABC1), 0);
    assert_int_equal(registry_set_parent(f->reg, STORE_CONTAINER, ID_F, ID_ABC1), 0); /* twice: no change */
    assert_int_equal(registry_set_parent(f->reg, STORE_CONTAINER, ID_ABD, ID_ABC1), 0);
    assert_int_equal(registry_foreach_child(f->reg, STORE_CONTAINER, ID_ABC1, gather, &g), 0);
    expect_ids(&g, 2, (const char *[]){ID_ABD, ID_F});
    /* Moved to another parent, then cleared. */
    assert_int_equal(registry_set_parent(f->reg, STORE_CONTAINER, ID_ABD, ID_ABC2), 0);
    assert_int_equal(registry_foreach_child(f->reg, STORE_CONTAINER, ID_ABC1, gather, &g), 0);
    expect_ids(&g, 1, (const char *[]){ID_F});
    assert_int_equal(registry_foreach_child(f->reg, STORE_CONTAINER, ID_ABC2, gather, &g), 0);
    expect_ids(&g, 1, (const char *[]){ID_ABD});
    assert_int_equal(registry_set_parent(f->reg, STORE_CONTAINER, ID_ABD, NULL), 0);
    assert_int_equal(registry_foreach_child(f->reg, STORE_CONTAINER, "", gather, &g), 0);
    expect_ids(&g, 1, (const char *[]){ID_F});
    assert_int_equal(registry_set_parent(f->reg, STORE_CONTAINER, ID_ABC1, ID_ABC2), -ENOENT); /* removed */
    assert_int_equal(registry_set_parent(f->reg, STORE_CONTAINER, ID_F, "xyz"), -EINVAL);
    assert_int_equal(registry_foreach_child(f->reg, STORE_CONTAINER, ID_ABC1, gather, &g), 0);
    expect_ids(&g, 1, (const char *[]){ID_F}); /* a refused change leaves the parent */
}

#define RACERS 8

struct racer {
    struct registry *reg;
    pthread_barrier_t *start;
    char id[ID_HEX_LEN + 1];
    int r;
    int32_t status;
};

static void *race_add(void *arg) {
    struct racer *t = arg;
    struct cleat_error *err = NULL;

    if (id_generate(t->id, &err) < 0)
        return NULL;
    pthread_barrier_wait(t->start);
    t->r = registry_add(t->reg, STORE_CONTAINER, t->id, "app_web_default_uid_0", NULL, t->id, ID_HEX_LEN, &err);
    t->status = error_status(err);
    error_free(err);
    return NULL;
}

static void test_concurrent_same_name(void **state) {
    struct fixture *f = *state;
    struct racer racers[RACERS];
    pthread_t threads[RACERS];
    pthread_barrier_t start;
    int won = -1, lost = 0;
    char id[ID_HEX_LEN + 1];

    pthread_barrier_init(&start, NULL, RACERS);
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (struct racer){.reg = f->reg, .start = &start, .r = 1};
        assert_int_equal(pthread_create(&threads[i], NULL, race_add, &racers[i]), 0);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);

    for (int i = 0; i < RACERS; i++) {
        if (racers[i].r == 0) {
            assert_int_equal(won, -1);
            won = i;
        } else {
            assert_int_equal(racers[i].r, -EEXIST);
            assert_int_equal(racers[i].status, CLEAT_STATUS_ALREADY_EXISTS);
            lost++;
        }
    }
    assert_int_not_equal(won, -1);
    assert_int_equal(lost, RACERS - 1);
    assert_int_equal(registry_count(f->reg, STORE_CONTAINER), 1);
    assert_int_equal(registry_find_name(f->reg, STORE_CONTAINER, "app_web_default_uid_0", id), 0);
    assert_string_equal(id, racers[won].id);
    /* The store agrees: the winner's record, and only it. */
    close_both(f);
    open_both(f);
    assert_int_equal(registry_count(f->reg, STORE_CONTAINER), 1);
    expect_resolve(f->reg, STORE_CONTAINER, racers[won].id, racers[won].id);
}

#define WRITERS 4
#define READERS 4
#define PER_WRITER 100

struct churn {
    struct registry *reg;
    volatile int done;
    int failures;
};

static void *churn_write(void *arg) {
    struct churn *c = arg;
    for (int i = 0; i < PER_WRITER; i++) {
        struct cleat_error *err = NULL;
        char id[ID_HEX_LEN + 1];
        if (id_generate(id, &err) < 0 || registry_add(c->reg, STORE_IMAGE, id, NULL, NULL, "i", 1, &err) < 0 ||
            (i % 2 && registry_remove(c->reg, STORE_IMAGE, id, &err) < 0)) {
            __atomic_add_fetch(&c->failures, 1, __ATOMIC_RELAXED);
            error_free(err);
        }
    }
    return NULL;
}

/* Readers resolve while writers change the arrays under them. */
static void *churn_read(void *arg) {
    struct churn *c = arg;
    char prefix[2] = "0", id[ID_HEX_LEN + 1];
    while (!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE)) {
        struct cleat_error *err = NULL;
        int r = registry_resolve(c->reg, STORE_IMAGE, prefix, id, &err);
        if (r < 0 && error_status(err) != CLEAT_STATUS_NOT_FOUND && error_status(err) != CLEAT_STATUS_INVALID_ARGUMENT)
            __atomic_add_fetch(&c->failures, 1, __ATOMIC_RELAXED);
        if (r == 0 && id[0] != prefix[0])
            __atomic_add_fetch(&c->failures, 1, __ATOMIC_RELAXED);
        error_free(err);
        prefix[0] = prefix[0] == '9' ? 'a' : prefix[0] == 'f' ? '0' : prefix[0] + 1;
    }
    return NULL;
}

static void test_concurrent_churn(void **state) {
    struct fixture *f = *state;
    struct churn c = {.reg = f->reg};
    pthread_t w[WRITERS], r[READERS];

    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&r[i], NULL, churn_read, &c), 0);
    for (int i = 0; i < WRITERS; i++)
        assert_int_equal(pthread_create(&w[i], NULL, churn_write, &c), 0);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(w[i], NULL);
    __atomic_store_n(&c.done, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < READERS; i++)
        pthread_join(r[i], NULL);
    assert_int_equal(c.failures, 0);
    assert_int_equal(registry_count(f->reg, STORE_IMAGE), WRITERS * PER_WRITER / 2);
    close_both(f);
    open_both(f);
    assert_int_equal(registry_count(f->reg, STORE_IMAGE), WRITERS * PER_WRITER / 2);
}

static int cmp_id(const void *a, const void *b) {
    return strcmp(a, b);
}

static void test_ids(void **state) {
    enum { N = 1000 };
    static char ids[N][ID_HEX_LEN + 1];
    struct cleat_error *err = NULL;

    for (int i = 0; i < N; i++) {
        assert_int_equal(id_generate(ids[i], &err), 0);
        assert_true(id_is_valid(ids[i]));
    }
    qsort(ids, N, sizeof(ids[0]), cmp_id);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);

    assert_true(id_is_valid(ID_ABC1));
    assert_false(id_is_valid(NULL));
    assert_false(id_is_valid(""));
    assert_false(id_is_valid("abc1"));
    assert_false(id_is_valid(ID_ABC1 "0"));
    assert_false(id_is_valid("ABC1000000000000000000000000000000000000000000000000000000000000"));
    assert_false(id_is_valid("g000000000000000000000000000000000000000000000000000000000000000"));
    assert_true(id_is_valid_prefix("a"));
    assert_true(id_is_valid_prefix("0123456789abcdef"));
    assert_true(id_is_valid_prefix(ID_ABC1));
    assert_false(id_is_valid_prefix(ID_ABC1 "0"));
    assert_false(id_is_valid_prefix(""));
    assert_false(id_is_valid_prefix(NULL));
    assert_false(id_is_valid_prefix("ab-"));
    assert_false(id_is_valid_prefix("Ab"));
}

static void test_name_keys(void **state) {
    char *k;

    k = id_sandbox_name_key("nginx", "default", "6d1e4b3a-0000-4000-8000-000000000001", 3);
    assert_string_equal(k, "nginx_default_6d1e4b3a-0000-4000-8000-000000000001_3");
    free(k);
    k = id_container_name_key("app", 1, "nginx", "kube-system", "uid-1");
    assert_string_equal(k, "app_nginx_kube-system_uid-1_1");
    free(k);
    k = id_sandbox_name_key(NULL, "", "u", 0);
    assert_string_equal(k, "__u_0");
    free(k);
    k = id_container_name_key("c", 4294967295u, "p", "n", "u");
    assert_string_equal(k, "c_p_n_u_4294967295");
    free(k);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_after_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_remove_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreach_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreach_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_children, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_same_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_churn, setup, teardown),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_name_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
