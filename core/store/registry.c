/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per kind, two sorted arrays of pointers to the same entries: by ID (binary
 * search finds the run of IDs sharing a prefix) and by name key.  A node has
 * hundreds to a few thousand objects, so inserting with memmove is cheap and
 * an entry costs one small allocation.
 *
 * Two locks.  `lock` (a rwlock) guards the arrays and is only ever held for
 * a search or a memmove.  `write_lock` serialises mutations from the store
 * write to the index change, so the index follows the store's commit order
 * (an add and a remove of one ID cannot land in the index the other way
 * round); LMDB serialises writers anyway, so it costs no concurrency, and
 * readers never wait behind the disk.
 */
#include "registry.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

struct entry {
    char id[ID_HEX_LEN + 1];
    char parent[ID_HEX_LEN + 1]; /* "" when no parent was given */
    char name[];                 /* "" when the object has no name key */
};

struct index {
    struct entry **by_id;     /* n entries, sorted by id */
    struct entry **by_name;   /* n_named entries, sorted by name */
    struct entry **by_parent; /* n_parented entries, sorted by parent, then id */
    size_t n, n_named, n_parented, cap_id, cap_name, cap_parent;
};

struct registry {
    struct store *store;
    pthread_mutex_t write_lock;
    pthread_rwlock_t lock;
    struct index idx[STORE_KIND_COUNT];
};

static struct index *index_of(struct registry *reg, enum store_kind kind) {
    return (unsigned)kind < STORE_KIND_COUNT ? &reg->idx[kind] : NULL;
}

/* The first position in a (sorted by ID, or by name) whose key is not below key; a prefix finds its run. */
static size_t lower_bound(struct entry *const *a, size_t n, const char *key, int by_name) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(by_name ? a[mid]->name : a[mid]->id, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t lower_bound_id(const struct index *ix, const char *id) {
    return lower_bound(ix->by_id, ix->n, id, 0);
}

static size_t lower_bound_name(const struct index *ix, const char *name) {
    return lower_bound(ix->by_name, ix->n_named, name, 1);
}

/* Compare e's (parent, id) with (parent, id). */
static int cmp_parent_id(const struct entry *e, const char *parent, const char *id) {
    int c = strcmp(e->parent, parent);
    return c ? c : strcmp(e->id, id);
}

/* The first position in by_parent not below (parent, id); id "" finds the first child of parent. */
static size_t lower_bound_parent(const struct index *ix, const char *parent, const char *id) {
    size_t lo = 0, hi = ix->n_parented;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_parent_id(ix->by_parent[mid], parent, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int grow(struct entry ***array, size_t *cap, size_t need) {
    struct entry **a;
    size_t n = *cap ? *cap : 16;

    if (need <= *cap)
        return 0;
    while (n < need)
        n *= 2;
    a = realloc(*array, n * sizeof(*a));
    if (!a)
        return -ENOMEM;
    *array = a;
    *cap = n;
    return 0;
}

/* Make room for one more entry, so that the insert after a commit cannot fail. */
static int index_reserve(struct index *ix, int named, int parented) {
    int r = grow(&ix->by_id, &ix->cap_id, ix->n + 1);
    if (r == 0 && named)
        r = grow(&ix->by_name, &ix->cap_name, ix->n_named + 1);
    if (r == 0 && parented)
        r = grow(&ix->by_parent, &ix->cap_parent, ix->n_parented + 1);
    return r;
}

static void insert_at(struct entry **a, size_t n, size_t pos, struct entry *e) {
    memmove(a + pos + 1, a + pos, (n - pos) * sizeof(*a));
    a[pos] = e;
}

/* Needs room reserved in by_parent; e->parent set. */
static void parent_insert(struct index *ix, struct entry *e) {
    size_t pos = lower_bound_parent(ix, e->parent, e->id);
    insert_at(ix->by_parent, ix->n_parented, pos, e);
    ix->n_parented++;
}

static void parent_unlink(struct index *ix, struct entry *e) {
    size_t j = lower_bound_parent(ix, e->parent, e->id);
    if (j < ix->n_parented && ix->by_parent[j] == e)
        memmove(ix->by_parent + j, ix->by_parent + j + 1, (--ix->n_parented - j) * sizeof(*ix->by_parent));
}

/* Needs room reserved by index_reserve. */
static void index_insert(struct index *ix, struct entry *e) {
    /* Search before counting the new entry: argument evaluation order is unspecified. */
    size_t pos = lower_bound_id(ix, e->id);
    insert_at(ix->by_id, ix->n, pos, e);
    ix->n++;
    if (e->name[0]) {
        pos = lower_bound_name(ix, e->name);
        insert_at(ix->by_name, ix->n_named, pos, e);
        ix->n_named++;
    }
    if (e->parent[0])
        parent_insert(ix, e);
}

/* Unlink id; returns its entry for the caller to free, or NULL if it is not indexed. */
static struct entry *index_unlink(struct index *ix, const char *id) {
    size_t i = lower_bound_id(ix, id);
    struct entry *e;

    if (i == ix->n || strcmp(ix->by_id[i]->id, id) != 0)
        return NULL;
    e = ix->by_id[i];
    memmove(ix->by_id + i, ix->by_id + i + 1, (--ix->n - i) * sizeof(*ix->by_id));
    if (e->name[0]) {
        size_t j = lower_bound_name(ix, e->name);
        if (j < ix->n_named && ix->by_name[j] == e)
            memmove(ix->by_name + j, ix->by_name + j + 1, (--ix->n_named - j) * sizeof(*ix->by_name));
    }
    if (e->parent[0])
        parent_unlink(ix, e);
    return e;
}

/* Safe for any id: a malformed one is refused by the store before the entry is indexed. */
static struct entry *entry_new(const char *id, const char *name_key, const char *parent) {
    size_t name_len = name_key ? strlen(name_key) : 0;
    struct entry *e = malloc(sizeof(*e) + name_len + 1);

    if (!e)
        return NULL;
    snprintf(e->id, sizeof(e->id), "%s", id ? id : "");
    snprintf(e->parent, sizeof(e->parent), "%s", parent ? parent : "");
    memcpy(e->name, name_key ? name_key : "", name_len + 1);
    return e;
}

static int check_kind(enum store_kind kind, struct cleat_error **reterr) {
    if ((unsigned)kind >= STORE_KIND_COUNT)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EINVAL, "registry: unknown kind %d", (int)kind);
    return 0;
}

/* Records arrive in ID order, so by_id is appended to; by_name is sorted afterwards. */
static int load_one(void *ctx, const char *id, const char *name_key, const void *data, size_t len) {
    struct index *ix = ctx;
    struct entry *e;

    if (index_reserve(ix, name_key != NULL, 0) < 0 || !(e = entry_new(id, name_key, NULL)))
        return -ENOMEM;
    ix->by_id[ix->n++] = e;
    if (name_key)
        ix->by_name[ix->n_named++] = e;
    return 0;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(struct entry *const *)a)->name, (*(struct entry *const *)b)->name);
}

static int registry_load(struct registry *reg, struct cleat_error **reterr) {
    for (int k = 0; k < STORE_KIND_COUNT; k++) {
        struct index *ix = &reg->idx[k];
        int r = store_foreach(reg->store, k, load_one, ix, reterr);
        if (r == -ENOMEM)
            return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "indexing %s records: out of memory",
                             store_kind_name(k));
        if (r < 0)
            return error_prefix(r, reterr, "indexing %s records", store_kind_name(k));
        if (ix->n_named > 1)
            qsort(ix->by_name, ix->n_named, sizeof(*ix->by_name), cmp_name);
    }
    return 0;
}

int registry_open(struct store *store, struct registry **ret, struct cleat_error **reterr) {
    struct registry *reg = calloc(1, sizeof(*reg));
    pthread_rwlockattr_t attr;
    int r;

    if (!reg)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "opening the registry: out of memory");
    reg->store = store;
    pthread_mutex_init(&reg->write_lock, NULL);
    /* Writers first: a steady stream of List calls must not starve a create. */
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&reg->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    r = registry_load(reg, reterr);
    if (r < 0) {
        registry_free(reg);
        return r;
    }
    *ret = reg;
    return 0;
}

void registry_free(struct registry *reg) {
    if (!reg)
        return;
    for (int k = 0; k < STORE_KIND_COUNT; k++) {
        struct index *ix = &reg->idx[k];
        for (size_t i = 0; i < ix->n; i++)
            free(ix->by_id[i]);
        free(ix->by_id);
        free(ix->by_name);
        free(ix->by_parent);
    }
    pthread_rwlock_destroy(&reg->lock);
    pthread_mutex_destroy(&reg->write_lock);
    free(reg);
}

int registry_add(struct registry *reg, enum store_kind kind, const char *id, const char *name_key, const char *parent,
                 const void *data, size_t len, struct cleat_error **reterr) {
    struct index *ix = index_of(reg, kind);
    struct entry *e;
    int r;

    r = check_kind(kind, reterr);
    if (r < 0)
        return r;
    if (parent && *parent && !id_is_valid(parent))
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EINVAL, "%s %s: parent '%.80s' is not an ID",
                         store_kind_name(kind), id, parent);
    e = entry_new(id, name_key, parent);
    if (!e)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "%s %s: out of memory", store_kind_name(kind),
                         id);
    pthread_mutex_lock(&reg->write_lock);
    pthread_rwlock_wrlock(&reg->lock);
    r = index_reserve(ix, name_key != NULL, e->parent[0] != '\0');
    pthread_rwlock_unlock(&reg->lock);
    if (r < 0)
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "%s %s: out of memory", store_kind_name(kind),
                      id);
    else
        r = store_create(reg->store, kind, id, name_key, data, len, reterr);
    if (r == 0) {
        pthread_rwlock_wrlock(&reg->lock);
        index_insert(ix, e);
        pthread_rwlock_unlock(&reg->lock);
        e = NULL;
    }
    pthread_mutex_unlock(&reg->write_lock);
    free(e);
    return r;
}

int registry_update(struct registry *reg, enum store_kind kind, const char *id, const void *data, size_t len,
                    struct cleat_error **reterr) {
    return store_update(reg->store, kind, id, data, len, reterr);
}

int registry_remove(struct registry *reg, enum store_kind kind, const char *id, struct cleat_error **reterr) {
    struct entry *e = NULL;
    int r;

    r = check_kind(kind, reterr);
    if (r < 0)
        return r;
    pthread_mutex_lock(&reg->write_lock);
    r = store_remove(reg->store, kind, id, reterr);
    if (r == 0) {
        pthread_rwlock_wrlock(&reg->lock);
        e = index_unlink(index_of(reg, kind), id);
        pthread_rwlock_unlock(&reg->lock);
    }
    pthread_mutex_unlock(&reg->write_lock);
    free(e);
    return r;
}

int registry_resolve(struct registry *reg, enum store_kind kind, const char *id_or_prefix, char ret_id[ID_HEX_LEN + 1],
                     struct cleat_error **reterr) {
    const char *what = store_kind_name(kind);
    struct index *ix = index_of(reg, kind);
    size_t len, first, matches = 0;
    int r;

    r = check_kind(kind, reterr);
    if (r < 0)
        return r;
    if (!id_or_prefix || !*id_or_prefix)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "%s ID must not be empty", what);
    if (!id_is_valid_prefix(id_or_prefix))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "%s ID '%.80s' is not lowercase hex of at most %d characters", what, id_or_prefix, ID_HEX_LEN);
    len = strlen(id_or_prefix);
    pthread_rwlock_rdlock(&reg->lock);
    first = lower_bound_id(ix, id_or_prefix);
    while (first + matches < ix->n && strncmp(ix->by_id[first + matches]->id, id_or_prefix, len) == 0)
        matches++;
    if (matches == 1)
        memcpy(ret_id, ix->by_id[first]->id, ID_HEX_LEN + 1);
    pthread_rwlock_unlock(&reg->lock);

    if (matches == 0)
        return error_set(reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "%s '%s' not found", what, id_or_prefix);
    /*
     * INVALID_ARGUMENT, not NOT_FOUND or ALREADY_EXISTS: the objects exist,
     * the request is what falls short, and the caller's fix is to send a
     * longer prefix (crictl and containerd answer the same way).
     */
    if (matches > 1)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "%s ID prefix '%s' is ambiguous: matches %zu",
                         what, id_or_prefix, matches);
    return 0;
}

int registry_find_name(struct registry *reg, enum store_kind kind, const char *name_key, char ret_id[ID_HEX_LEN + 1]) {
    struct index *ix = index_of(reg, kind);
    int r = -ENOENT;

    if (!ix || !name_key || !*name_key)
        return -ENOENT;
    pthread_rwlock_rdlock(&reg->lock);
    size_t i = lower_bound_name(ix, name_key);
    if (i < ix->n_named && strcmp(ix->by_name[i]->name, name_key) == 0) {
        memcpy(ret_id, ix->by_name[i]->id, ID_HEX_LEN + 1);
        r = 0;
    }
    pthread_rwlock_unlock(&reg->lock);
    return r;
}

size_t registry_count(struct registry *reg, enum store_kind kind) {
    struct index *ix = index_of(reg, kind);
    size_t n;

    if (!ix)
        return 0;
    pthread_rwlock_rdlock(&reg->lock);
    n = ix->n;
    pthread_rwlock_unlock(&reg->lock);
    return n;
}

int registry_set_parent(struct registry *reg, enum store_kind kind, const char *id, const char *parent) {
    struct index *ix = index_of(reg, kind);
    const char *p = parent ? parent : "";
    int r = 0;

    if (!ix || (*p && !id_is_valid(p)))
        return -EINVAL;
    pthread_rwlock_wrlock(&reg->lock);
    size_t i = lower_bound_id(ix, id);
    struct entry *e = i < ix->n && strcmp(ix->by_id[i]->id, id) == 0 ? ix->by_id[i] : NULL;
    if (!e)
        r = -ENOENT;
    else if (strcmp(e->parent, p) != 0 &&
             (!*p || (r = grow(&ix->by_parent, &ix->cap_parent, ix->n_parented + 1)) == 0)) {
        if (e->parent[0])
            parent_unlink(ix, e);
        snprintf(e->parent, sizeof(e->parent), "%s", p);
        if (e->parent[0])
            parent_insert(ix, e);
    }
    pthread_rwlock_unlock(&reg->lock);
    return r;
}

/*
 * Copy the IDs of a[first..] while keep() says so, under the read lock, then
 * call fn for each without it (so that fn may call back into the registry).
 */
static int foreach_run(struct registry *reg, struct index *ix, struct entry **const *array, const size_t *count,
                       size_t (*first)(const struct index *ix, const char *key), const char *key,
                       int (*keep)(const struct entry *e, const char *key), int (*fn)(void *ctx, const char *id),
                       void *ctx) {
    char(*ids)[ID_HEX_LEN + 1] = NULL;
    size_t n = 0;
    int r = 0;

    pthread_rwlock_rdlock(&reg->lock);
    size_t from = first(ix, key), to = from;
    while (to < *count && keep((*array)[to], key))
        to++;
    if (to > from && (ids = malloc((to - from) * sizeof(*ids))))
        for (size_t i = from; i < to; i++)
            memcpy(ids[n++], (*array)[i]->id, sizeof(*ids));
    pthread_rwlock_unlock(&reg->lock);
    if (to > from && !ids)
        return -ENOMEM;
    for (size_t i = 0; i < n && r == 0; i++)
        r = fn(ctx, ids[i]);
    free(ids);
    return r;
}

static size_t first_with_prefix(const struct index *ix, const char *prefix) {
    return lower_bound_id(ix, prefix);
}

static int has_prefix(const struct entry *e, const char *prefix) {
    return strncmp(e->id, prefix, strlen(prefix)) == 0;
}

static size_t first_child(const struct index *ix, const char *parent) {
    return lower_bound_parent(ix, parent, "");
}

static int is_child(const struct entry *e, const char *parent_prefix) {
    return e->parent[0] && strncmp(e->parent, parent_prefix, strlen(parent_prefix)) == 0;
}

int registry_foreach_id(struct registry *reg, enum store_kind kind, int (*fn)(void *ctx, const char *id), void *ctx) {
    return registry_foreach_prefix(reg, kind, "", fn, ctx);
}

int registry_foreach_prefix(struct registry *reg, enum store_kind kind, const char *prefix,
                            int (*fn)(void *ctx, const char *id), void *ctx) {
    struct index *ix = index_of(reg, kind);
    if (!ix)
        return -EINVAL;
    return foreach_run(reg, ix, &ix->by_id, &ix->n, first_with_prefix, prefix ? prefix : "", has_prefix, fn, ctx);
}

int registry_foreach_child(struct registry *reg, enum store_kind kind, const char *parent_prefix,
                           int (*fn)(void *ctx, const char *id), void *ctx) {
    struct index *ix = index_of(reg, kind);
    if (!ix)
        return -EINVAL;
    return foreach_run(reg, ix, &ix->by_parent, &ix->n_parented, first_child, parent_prefix ? parent_prefix : "",
                       is_child, fn, ctx);
}
