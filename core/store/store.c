/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store, on LMDB.
 *
 * Why LMDB rather than SQLite or a directory of files:
 *   - one data file plus one lock file, memory-mapped: the records live in
 *     the page cache, file-backed and reclaimable, not in cleatd's anonymous
 *     memory.  That budget is tight (< 4 MiB); SQLite would spend it on its
 *     page cache, its SQL parser and prepared statements, none of which a
 *     key/value workload needs;
 *   - ACID with one writer and lock-free readers: ListContainers and the
 *     PLEG relist never wait behind a write (CRI-NOTES: a store lock held
 *     across a slow call takes the node NotReady);
 *   - copy-on-write B-trees with no write-ahead log: after kill -9 there is
 *     nothing to replay or repair, the last committed transaction is simply
 *     there.  A directory of files would need rename dances and fsyncs per
 *     object, and a name reservation plus a record could not be written
 *     atomically together.
 *
 * Settings: MDB_NOTLS, so a read transaction is not tied to a thread-local
 * reader slot (gRPC worker threads come and go); a 1 GiB map, which costs
 * address space only, the file grows as needed; STORE_MAX_READERS slots; full
 * durability (no MDB_NOSYNC / MDB_MAPASYNC): a created container must still
 * be known after a power cut.  Files are 0600 in a 0700 directory: records
 * hold CRI configs, and those hold environment variables.
 *
 * Databases: "meta" (string settings, "schema" among them), and per kind
 * "<kind>" (id → record) and "<kind>.name" (name key → id).
 *
 * A record's value carries its own name key in front of the data, so that
 * remove can release the name and foreach can report it without a second
 * index to keep consistent:
 *
 *     byte 0        RECORD_FORMAT
 *     bytes 1..2    name key length, little-endian (0: no name)
 *     then          the name key bytes (no NUL), then the data
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fsutil.h"
#include "ids.h"

#define STORE_MAP_SIZE ((size_t)1 << 30)
#define RECORD_FORMAT 1
#define RECORD_HEADER 3
#define MAX_NAME_KEY 511 /* LMDB's default key size limit; fits RECORD_HEADER's u16 */
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

struct store {
    MDB_env *env;
    MDB_dbi meta;
    MDB_dbi records[STORE_KIND_COUNT];
    MDB_dbi names[STORE_KIND_COUNT];
    char *path;
};

static const struct {
    const char *word;
    const char *records_db;
    const char *names_db;
} kinds[STORE_KIND_COUNT] = {
    [STORE_SANDBOX] = {"pod sandbox", "sandbox", "sandbox.name"},
    [STORE_CONTAINER] = {"container", "container", "container.name"},
    [STORE_IMAGE] = {"image", "image", "image.name"},
};

const char *store_kind_name(enum store_kind kind) {
    return (unsigned)kind < STORE_KIND_COUNT ? kinds[kind].word : "object";
}

/* The status and errno an LMDB result stands for. */
static void mdb_status(int rc, int32_t *status, int *errnum) {
    switch (rc) {
    case MDB_MAP_FULL:
        *status = CLEAT_STATUS_RESOURCE_EXHAUSTED, *errnum = ENOSPC;
        return;
    case MDB_READERS_FULL:
    case MDB_TXN_FULL:
        *status = CLEAT_STATUS_RESOURCE_EXHAUSTED, *errnum = EAGAIN;
        return;
    case MDB_VERSION_MISMATCH: /* written by an LMDB with another file format */
    case MDB_INVALID:          /* not an LMDB file at all */
        *status = CLEAT_STATUS_FAILED_PRECONDITION, *errnum = EPROTO;
        return;
    case ENOSPC:
    case EDQUOT:
        *status = CLEAT_STATUS_RESOURCE_EXHAUSTED, *errnum = rc;
        return;
    case EACCES:
    case EPERM:
        *status = CLEAT_STATUS_PERMISSION_DENIED, *errnum = rc;
        return;
    default: /* I/O errors, corruption, MDB_PANIC */
        *status = CLEAT_STATUS_INTERNAL, *errnum = rc > 0 ? rc : EIO;
        return;
    }
}

/* Fail with an LMDB result: "<what> in store <path>: <LMDB's message>". */
__attribute__((format(printf, 4, 5))) static int store_fail(const struct store *s, int rc, struct cleat_error **reterr,
                                                            const char *fmt, ...) {
    char what[256];
    int32_t status;
    int errnum;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    mdb_status(rc, &status, &errnum);
    return error_set(reterr, status, errnum, "%s in store %s: %s", what, s->path, mdb_strerror(rc));
}

static void txn_abortp(MDB_txn **txn) {
    if (*txn)
        mdb_txn_abort(*txn);
    *txn = NULL;
}
#define _cleanup_txn_ __attribute__((cleanup(txn_abortp)))

static int txn_begin(struct store *s, unsigned flags, MDB_txn **ret, struct cleat_error **reterr) {
    int rc = mdb_txn_begin(s->env, NULL, flags, ret);
    if (rc != 0)
        return store_fail(s, rc, reterr, "beginning a %s transaction", flags & MDB_RDONLY ? "read" : "write");
    return 0;
}

/* Commits and consumes *txn (LMDB frees it either way). */
static int txn_commit(struct store *s, MDB_txn **txn, struct cleat_error **reterr) {
    MDB_txn *t = *txn;
    int rc;

    *txn = NULL;
    rc = mdb_txn_commit(t);
    if (rc != 0)
        return store_fail(s, rc, reterr, "committing");
    return 0;
}

static MDB_val val_str(const char *str) {
    return (MDB_val){.mv_size = strlen(str), .mv_data = (void *)str};
}

static int check_kind(enum store_kind kind, struct cleat_error **reterr) {
    if ((unsigned)kind >= STORE_KIND_COUNT)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EINVAL, "store: unknown kind %d", (int)kind);
    return 0;
}

static int check_id(enum store_kind kind, const char *id, struct cleat_error **reterr) {
    int r = check_kind(kind, reterr);

    if (r < 0)
        return r;
    if (!id_is_valid(id))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "%s ID '%.80s' is not 64 lowercase hex characters", kinds[kind].word, id ? id : "");
    return 0;
}

/* A record's value, split into its parts; the pointers point into the map. */
struct record {
    const char *name;
    size_t name_len;
    const void *data;
    size_t len;
};

static int record_parse(const struct store *s, enum store_kind kind, const MDB_val *key, const MDB_val *val,
                        struct record *r, struct cleat_error **reterr) {
    const unsigned char *p = val->mv_data;

    if (key->mv_size != ID_HEX_LEN || val->mv_size < RECORD_HEADER || p[0] != RECORD_FORMAT)
        goto corrupt;
    r->name_len = (size_t)p[1] | (size_t)p[2] << 8;
    if (r->name_len > val->mv_size - RECORD_HEADER)
        goto corrupt;
    r->name = (const char *)p + RECORD_HEADER;
    r->data = p + RECORD_HEADER + r->name_len;
    r->len = val->mv_size - RECORD_HEADER - r->name_len;
    return 0;
corrupt:
    return error_set(reterr, CLEAT_STATUS_INTERNAL, EUCLEAN, "%s %.*s: malformed record (%zu bytes) in store %s",
                     kinds[kind].word, (int)(key->mv_size < 80 ? key->mv_size : 80), (const char *)key->mv_data,
                     val->mv_size, s->path);
}

/* Put id's record with MDB_RESERVE, writing the header, name and data straight into the map. */
static int record_put(struct store *s, MDB_txn *txn, enum store_kind kind, const char *id, const char *name,
                      size_t name_len, const void *data, size_t len, unsigned flags, struct cleat_error **reterr) {
    MDB_val key = val_str(id);
    MDB_val val = {.mv_size = RECORD_HEADER + name_len + len, .mv_data = NULL};
    unsigned char *p;
    int rc;

    rc = mdb_put(txn, s->records[kind], &key, &val, flags | MDB_RESERVE);
    if (rc == MDB_KEYEXIST)
        return error_set(reterr, CLEAT_STATUS_ALREADY_EXISTS, EEXIST, "%s %s already exists", kinds[kind].word, id);
    if (rc != 0)
        return store_fail(s, rc, reterr, "writing %s %s", kinds[kind].word, id);
    p = val.mv_data;
    p[0] = RECORD_FORMAT;
    p[1] = (unsigned char)(name_len & 0xff);
    p[2] = (unsigned char)(name_len >> 8);
    if (name_len)
        memcpy(p + RECORD_HEADER, name, name_len);
    if (len)
        memcpy(p + RECORD_HEADER + name_len, data, len);
    return 0;
}

int store_create(struct store *s, enum store_kind kind, const char *id, const char *name_key, const void *data,
                 size_t len, struct cleat_error **reterr) {
    _cleanup_txn_ MDB_txn *txn = NULL;
    size_t name_len = name_key ? strlen(name_key) : 0;
    int r;

    r = check_id(kind, id, reterr);
    if (r < 0)
        return r;
    if (name_key && (name_len == 0 || name_len > MAX_NAME_KEY))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "%s %s: name '%.80s' is %zu bytes, it must be 1 to %d", kinds[kind].word, id, name_key,
                         name_len, MAX_NAME_KEY);
    r = txn_begin(s, 0, &txn, reterr);
    if (r < 0)
        return r;
    if (name_key) {
        MDB_val key = val_str(name_key), val = val_str(id);
        int rc = mdb_put(txn, s->names[kind], &key, &val, MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST) /* val now holds the owner's ID */
            return error_set(reterr, CLEAT_STATUS_ALREADY_EXISTS, EEXIST, "name '%s' is reserved by %s %.*s", name_key,
                             kinds[kind].word, (int)(val.mv_size < 80 ? val.mv_size : 80), (const char *)val.mv_data);
        if (rc != 0)
            return store_fail(s, rc, reterr, "reserving name '%s' for %s %s", name_key, kinds[kind].word, id);
    }
    r = record_put(s, txn, kind, id, name_key, name_len, data, len, MDB_NOOVERWRITE, reterr);
    if (r < 0)
        return r;
    return error_prefix(txn_commit(s, &txn, reterr), reterr, "%s %s", kinds[kind].word, id);
}

/* Look up id's record in txn: NOT_FOUND if absent. */
static int record_get(struct store *s, MDB_txn *txn, enum store_kind kind, const char *id, struct record *ret,
                      struct cleat_error **reterr) {
    MDB_val key = val_str(id), val;
    int rc = mdb_get(txn, s->records[kind], &key, &val);

    if (rc == MDB_NOTFOUND)
        return error_set(reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "%s %s not found", kinds[kind].word, id);
    if (rc != 0)
        return store_fail(s, rc, reterr, "reading %s %s", kinds[kind].word, id);
    return record_parse(s, kind, &key, &val, ret, reterr);
}

int store_update(struct store *s, enum store_kind kind, const char *id, const void *data, size_t len,
                 struct cleat_error **reterr) {
    _cleanup_txn_ MDB_txn *txn = NULL;
    struct record old;
    char name[MAX_NAME_KEY];
    int r;

    r = check_id(kind, id, reterr);
    if (r < 0)
        return r;
    r = txn_begin(s, 0, &txn, reterr);
    if (r < 0)
        return r;
    r = record_get(s, txn, kind, id, &old, reterr);
    if (r < 0)
        return r;
    /* The old value's pages may be reused by the put below: keep the name. */
    if (old.name_len > sizeof(name))
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EUCLEAN, "%s %s: name in store %s is %zu bytes",
                         kinds[kind].word, id, s->path, old.name_len);
    memcpy(name, old.name, old.name_len);
    r = record_put(s, txn, kind, id, name, old.name_len, data, len, 0, reterr);
    if (r < 0)
        return r;
    return error_prefix(txn_commit(s, &txn, reterr), reterr, "%s %s", kinds[kind].word, id);
}

int store_remove(struct store *s, enum store_kind kind, const char *id, struct cleat_error **reterr) {
    _cleanup_txn_ MDB_txn *txn = NULL;
    struct record old;
    MDB_val key;
    int r, rc;

    r = check_id(kind, id, reterr);
    if (r < 0)
        return r;
    key = val_str(id);
    r = txn_begin(s, 0, &txn, reterr);
    if (r < 0)
        return r;
    r = record_get(s, txn, kind, id, &old, reterr);
    if (r < 0)
        return r;
    /* Names first: old.name points into a page the record's deletion may free. */
    if (old.name_len) {
        MDB_val name = {.mv_size = old.name_len, .mv_data = (void *)old.name};
        rc = mdb_del(txn, s->names[kind], &name, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return store_fail(s, rc, reterr, "releasing the name of %s %s", kinds[kind].word, id);
    }
    rc = mdb_del(txn, s->records[kind], &key, NULL);
    if (rc != 0)
        return store_fail(s, rc, reterr, "deleting %s %s", kinds[kind].word, id);
    return error_prefix(txn_commit(s, &txn, reterr), reterr, "%s %s", kinds[kind].word, id);
}

int store_get(struct store *s, enum store_kind kind, const char *id, void **ret_data, size_t *ret_len,
              struct cleat_error **reterr) {
    _cleanup_txn_ MDB_txn *txn = NULL;
    struct record rec = {0};
    void *copy;
    int r;

    r = check_id(kind, id, reterr);
    if (r < 0)
        return r;
    r = txn_begin(s, MDB_RDONLY, &txn, reterr);
    if (r < 0)
        return r;
    r = record_get(s, txn, kind, id, &rec, reterr);
    if (r < 0)
        return r;
    copy = malloc(rec.len ? rec.len : 1);
    if (!copy)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "%s %s: out of memory reading %zu bytes",
                         kinds[kind].word, id, rec.len);
    if (rec.len)
        memcpy(copy, rec.data, rec.len);
    *ret_data = copy;
    *ret_len = rec.len;
    return 0;
}

/* fn with a parsed record, its ID and name made strings (foreach and get_each). */
static int call_with_record(const struct store *s, enum store_kind kind, const MDB_val *key, const MDB_val *val,
                            store_foreach_fn fn, void *ctx, struct cleat_error **reterr) {
    struct record rec = {0};
    char id[ID_HEX_LEN + 1], name[MAX_NAME_KEY + 1];
    int r = record_parse(s, kind, key, val, &rec, reterr);

    if (r < 0)
        return r;
    if (rec.name_len > MAX_NAME_KEY)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EUCLEAN, "%s: name in store %s is %zu bytes", kinds[kind].word,
                         s->path, rec.name_len);
    memcpy(id, key->mv_data, ID_HEX_LEN);
    id[ID_HEX_LEN] = '\0';
    memcpy(name, rec.name, rec.name_len);
    name[rec.name_len] = '\0';
    return fn(ctx, id, rec.name_len ? name : NULL, rec.data, rec.len);
}

int store_get_each(struct store *s, enum store_kind kind, char *const *ids, size_t n, store_foreach_fn fn, void *ctx,
                   size_t *ret_bad, struct cleat_error **reterr) {
    _cleanup_txn_ MDB_txn *txn = NULL;
    int r;

    if (ret_bad)
        *ret_bad = 0;
    for (size_t i = 0; i < n; i++)
        if ((r = check_id(kind, ids[i], reterr)) < 0)
            return r;
    if (n == 0)
        return 0;
    r = txn_begin(s, MDB_RDONLY, &txn, reterr);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        MDB_val key = val_str(ids[i]), val;
        int rc = mdb_get(txn, s->records[kind], &key, &val);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc != 0)
            return store_fail(s, rc, reterr, "reading %s %s", kinds[kind].word, ids[i]);
        struct cleat_error *bad = NULL;
        r = call_with_record(s, kind, &key, &val, fn, ctx, &bad);
        if (r < 0 && bad) { /* malformed: the others are still worth reading */
            error_free(bad);
            if (ret_bad)
                (*ret_bad)++;
            continue;
        }
        if (r != 0)
            return r;
    }
    return 0;
}

static void cursor_closep(MDB_cursor **c) {
    if (*c)
        mdb_cursor_close(*c);
}

int store_foreach(struct store *s, enum store_kind kind, store_foreach_fn fn, void *ctx, struct cleat_error **reterr) {
    _cleanup_txn_ MDB_txn *txn = NULL;
    __attribute__((cleanup(cursor_closep))) MDB_cursor *cursor = NULL;
    MDB_val key, val;
    int r, rc;

    r = check_kind(kind, reterr);
    if (r < 0)
        return r;
    r = txn_begin(s, MDB_RDONLY, &txn, reterr);
    if (r < 0)
        return r;
    rc = mdb_cursor_open(txn, s->records[kind], &cursor);
    if (rc != 0)
        return store_fail(s, rc, reterr, "listing %s records", kinds[kind].word);
    for (rc = mdb_cursor_get(cursor, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT)) {
        r = call_with_record(s, kind, &key, &val, fn, ctx, reterr);
        if (r != 0)
            return r;
    }
    if (rc != MDB_NOTFOUND)
        return store_fail(s, rc, reterr, "listing %s records", kinds[kind].word);
    return 0;
}

/* -ENOENT, with no error built, if the setting is absent. */
static int meta_get(struct store *s, MDB_txn *txn, const char *key, char **ret_value, struct cleat_error **reterr) {
    MDB_val k = val_str(key), v;
    char *value;
    int rc = mdb_get(txn, s->meta, &k, &v);

    if (rc == MDB_NOTFOUND)
        return -ENOENT;
    if (rc != 0)
        return store_fail(s, rc, reterr, "reading setting '%s'", key);
    /* LMDB values are not NUL-terminated: copy exactly mv_size bytes (strndup may scan past them). */
    value = malloc(v.mv_size + 1);
    if (!value)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "reading setting '%s': out of memory", key);
    memcpy(value, v.mv_data, v.mv_size);
    value[v.mv_size] = '\0';
    *ret_value = value;
    return 0;
}

static int meta_set(struct store *s, MDB_txn *txn, const char *key, const char *value, struct cleat_error **reterr) {
    MDB_val k = val_str(key), v = val_str(value);
    int rc;

    if (k.mv_size == 0 || k.mv_size > MAX_NAME_KEY)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "setting name '%.80s' must be 1 to %d bytes",
                         key, MAX_NAME_KEY);
    rc = mdb_put(txn, s->meta, &k, &v, 0);
    if (rc != 0)
        return store_fail(s, rc, reterr, "writing setting '%s'", key);
    return 0;
}

int store_meta_get(struct store *s, const char *key, char **ret_value, struct cleat_error **reterr) {
    _cleanup_txn_ MDB_txn *txn = NULL;
    int r = txn_begin(s, MDB_RDONLY, &txn, reterr);

    if (r < 0)
        return r;
    r = meta_get(s, txn, key, ret_value, reterr);
    if (r == -ENOENT)
        return error_set(reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "setting '%s' not found in store %s", key, s->path);
    return r;
}

int store_meta_set(struct store *s, const char *key, const char *value, struct cleat_error **reterr) {
    _cleanup_txn_ MDB_txn *txn = NULL;
    int r = txn_begin(s, 0, &txn, reterr);

    if (r < 0)
        return r;
    r = meta_set(s, txn, key, value, reterr);
    if (r < 0)
        return r;
    return txn_commit(s, &txn, reterr);
}

/*
 * Schema migrations.  Each step turns schema `from` into `from + 1`, working
 * in the open transaction; all steps and the new "schema" value commit
 * together, so a crash mid-way leaves the old schema untouched.  To change
 * the layout: bump STORE_SCHEMA_VERSION and append { N, migrate_N }, where
 * migrate_N rewrites what schema N wrote into what N + 1 reads.
 */
typedef int (*store_migrate_fn)(struct store *s, MDB_txn *txn, struct cleat_error **reterr);
static const struct {
    unsigned long from;
    store_migrate_fn step;
} migrations[] = {
    {0, NULL}, /* end; schema 1 is the first, nothing to migrate yet */
};

static int store_migrate(struct store *s, MDB_txn *txn, unsigned long from, struct cleat_error **reterr) {
    for (unsigned long v = from; v < STORE_SCHEMA_VERSION; v++) {
        size_t i = 0;
        int r;

        while (migrations[i].step && migrations[i].from != v)
            i++;
        if (!migrations[i].step)
            return error_set(reterr, CLEAT_STATUS_INTERNAL, ENOSYS, "store %s: no migration from schema %lu to %lu",
                             s->path, v, v + 1);
        r = migrations[i].step(s, txn, reterr);
        if (r < 0)
            return error_prefix(r, reterr, "store %s: migrating schema %lu to %lu", s->path, v, v + 1);
    }
    return meta_set(s, txn, "schema", STRINGIFY(STORE_SCHEMA_VERSION), reterr);
}

/* Write the schema of a new store, migrate an old one, refuse a newer one. */
static int store_check_schema(struct store *s, MDB_txn *txn, struct cleat_error **reterr) {
    char *value = NULL;
    unsigned long schema;
    size_t digits;
    int r;

    r = meta_get(s, txn, "schema", &value, reterr);
    if (r == -ENOENT)
        return meta_set(s, txn, "schema", STRINGIFY(STORE_SCHEMA_VERSION), reterr);
    if (r < 0)
        return r;
    digits = strspn(value, "0123456789");
    schema = digits >= 1 && digits <= 9 && !value[digits] ? strtoul(value, NULL, 10) : 0;
    if (schema == 0) {
        r = error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EPROTO, "store %s has schema '%.40s', not a version",
                      s->path, value);
    } else if (schema > STORE_SCHEMA_VERSION) {
        r = error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EPROTO,
                      "store %s has schema %lu, this cleatd understands up to %d", s->path, schema,
                      STORE_SCHEMA_VERSION);
    } else if (schema < STORE_SCHEMA_VERSION) {
        r = store_migrate(s, txn, schema, reterr);
    }
    free(value);
    return r;
}

/* Open every database (creating missing ones) and settle the schema, in one write transaction. */
static int store_init_dbs(struct store *s, struct cleat_error **reterr) {
    _cleanup_txn_ MDB_txn *txn = NULL;
    int r, rc;

    r = txn_begin(s, 0, &txn, reterr);
    if (r < 0)
        return r;
    rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta);
    for (int k = 0; rc == 0 && k < STORE_KIND_COUNT; k++) {
        rc = mdb_dbi_open(txn, kinds[k].records_db, MDB_CREATE, &s->records[k]);
        if (rc == 0)
            rc = mdb_dbi_open(txn, kinds[k].names_db, MDB_CREATE, &s->names[k]);
    }
    if (rc != 0)
        return store_fail(s, rc, reterr, "opening the databases");
    r = store_check_schema(s, txn, reterr);
    if (r < 0)
        return r;
    return txn_commit(s, &txn, reterr);
}

static int store_open_env(struct store *s, struct cleat_error **reterr) {
    int rc, fd, dead = 0;

    rc = mdb_env_create(&s->env);
    if (rc != 0) {
        s->env = NULL;
        return store_fail(s, rc, reterr, "creating the environment");
    }
    rc = mdb_env_set_mapsize(s->env, STORE_MAP_SIZE);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(s->env, 1 + 2 * STORE_KIND_COUNT);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(s->env, STORE_MAX_READERS);
    if (rc != 0)
        return store_fail(s, rc, reterr, "configuring the environment");
    rc = mdb_env_open(s->env, s->path, MDB_NOTLS, 0600);
    if (rc != 0)
        return store_fail(s, rc, reterr, "opening");
    if (mdb_env_get_maxkeysize(s->env) < MAX_NAME_KEY) /* an LMDB built with a smaller MDB_MAXKEYSIZE */
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EINVAL, "store %s: LMDB keys are limited to %d bytes, need %d",
                         s->path, mdb_env_get_maxkeysize(s->env), MAX_NAME_KEY);
    /* LMDB 0.9 opens the lock file and its sync fd O_CLOEXEC, but not the main data fd. */
    rc = mdb_env_get_fd(s->env, &fd);
    if (rc == 0 && fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        rc = errno;
    if (rc != 0)
        return store_fail(s, rc, reterr, "setting close-on-exec");
    /*
     * A process killed while it held a read transaction keeps its reader
     * slot; enough of them and no one can read.  (When we are the only
     * process, LMDB resets the table anyway; this covers the others.)
     */
    rc = mdb_reader_check(s->env, &dead);
    if (rc != 0)
        return store_fail(s, rc, reterr, "clearing stale readers");
    return 0;
}

int store_open(const char *root_dir, struct store **ret, struct cleat_error **reterr) {
    struct store *s;
    int r;

    s = calloc(1, sizeof(*s));
    if (!s || asprintf(&s->path, "%s/store", root_dir) < 0) {
        free(s);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "opening the store: out of memory");
    }
    r = mkdir_p(s->path, 0700, reterr);
    if (r == 0)
        r = store_open_env(s, reterr);
    if (r == 0)
        r = store_init_dbs(s, reterr);
    if (r < 0) {
        store_close(s);
        return r;
    }
    *ret = s;
    return 0;
}

void store_close(struct store *s) {
    if (!s)
        return;
    if (s->env)
        mdb_env_close(s->env);
    free(s->path);
    free(s);
}
