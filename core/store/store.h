/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The persistent, transactional store of every object the CRI can name.
 *
 * One LMDB environment under <root_dir>/store/.  Each kind (pod sandbox,
 * container, image) has records keyed by a 64-hex ID (ids.h) and an optional
 * unique name key (the CRI metadata key, id_*_name_key) reserved for as long
 * as the record exists.  Records are opaque bytes to the store; their format
 * is core/proto/store.proto.  Every call is its own transaction, so a crash
 * (kill -9) leaves each call either fully done or not done at all.
 *
 * Thread-safe: any call from any thread.  Writers are serialised by LMDB
 * (one write transaction at a time, also across processes); readers never
 * wait.  Open a given root dir at most once per process at a time (an LMDB
 * rule: closing a second handle would drop the first one's file locks).
 *
 * Errors: INVALID_ARGUMENT for an ID that is not 64 lowercase hex or a name
 * key that is empty or too long; NOT_FOUND / ALREADY_EXISTS as documented
 * below; RESOURCE_EXHAUSTED when the map or the disk is full; INTERNAL for
 * I/O errors and corruption.
 */
#ifndef CLEAT_CORE_STORE_H
#define CLEAT_CORE_STORE_H

#include <stddef.h>

struct cleat_error;

enum store_kind { STORE_SANDBOX, STORE_CONTAINER, STORE_IMAGE, STORE_KIND_COUNT };

/*
 * The layout of the store's databases.  Bump it only for a change old code
 * cannot read (adding fields to store.proto is not one), and add a step to
 * the migration table in store.c.  A store written by a newer cleatd is
 * refused rather than guessed at.
 */
#define STORE_SCHEMA_VERSION 1

/* LMDB reader slots: read transactions open at one time, across processes. */
#define STORE_MAX_READERS 126

struct store;

/*
 * Open (creating if needed, mode 0700) <root_dir>/store/.  Clears reader
 * slots left by dead processes, then checks the schema: absent → written;
 * older → migrated; newer → FAILED_PRECONDITION.
 */
int store_open(const char *root_dir, struct store **ret, struct cleat_error **reterr);
/* NULL-safe. */
void store_close(struct store *store);

/*
 * Put a new record and, in the same transaction, reserve name_key for it
 * (NULL: the record has no name).  Either both happen or neither:
 * ALREADY_EXISTS if the ID exists or the name is reserved by another record.
 */
int store_create(struct store *store, enum store_kind kind, const char *id, const char *name_key, const void *data,
                 size_t len, struct cleat_error **reterr);
/* Replace an existing record's data; its name is kept.  NOT_FOUND if absent. */
int store_update(struct store *store, enum store_kind kind, const char *id, const void *data, size_t len,
                 struct cleat_error **reterr);
/* Delete a record and release its name.  NOT_FOUND if absent. */
int store_remove(struct store *store, enum store_kind kind, const char *id, struct cleat_error **reterr);
/* A malloc'd copy of a record's data (*ret_data is never NULL on success, even for len 0).  NOT_FOUND if absent. */
int store_get(struct store *store, enum store_kind kind, const char *id, void **ret_data, size_t *ret_len,
              struct cleat_error **reterr);

/*
 * Called for each record in ID order, inside one read transaction (a
 * consistent snapshot).  The pointers are valid only during the call and the
 * data is read-only; name_key is NULL for a record without a name.  Return 0
 * to go on; anything else stops the walk and becomes store_foreach's return
 * value.  Keep it short: the snapshot is pinned while it runs.
 */
typedef int (*store_foreach_fn)(void *ctx, const char *id, const char *name_key, const void *data, size_t len);
int store_foreach(struct store *store, enum store_kind kind, store_foreach_fn fn, void *ctx,
                  struct cleat_error **reterr);

/*
 * fn for each of the n IDs that has a record, in the order given, inside one
 * read transaction (one snapshot, and one reader slot however many there
 * are: a list of 500 records read one store_get at a time began 500).  An
 * ID without a record is passed over: a list races with removals.  So is a
 * malformed record (corruption), counted in *ret_bad (may be NULL): one bad
 * record must not hide the others.  fn as for store_foreach; its non-zero
 * return ends the walk and is returned.  INVALID_ARGUMENT, before anything
 * is read, if any ID is malformed.
 */
int store_get_each(struct store *store, enum store_kind kind, char *const *ids, size_t n, store_foreach_fn fn,
                   void *ctx, size_t *ret_bad, struct cleat_error **reterr);

/* Small string settings of the store itself ("schema", ...).  NOT_FOUND if absent; *ret_value is malloc'd. */
int store_meta_get(struct store *store, const char *key, char **ret_value, struct cleat_error **reterr);
int store_meta_set(struct store *store, const char *key, const char *value, struct cleat_error **reterr);

/* "pod sandbox", "container", "image": the words messages use. */
const char *store_kind_name(enum store_kind kind);

#endif
