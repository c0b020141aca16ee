/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The in-memory index of every stored object: IDs and name keys per kind.
 *
 * Rebuilt from the store at start-up, then kept in step with it: every
 * change goes to the store first and to the index only once it committed.
 * Lookups (ID, ID prefix, name) never touch the disk and never wait for a
 * store write; they take a read lock held for a binary search.  The records
 * themselves stay in the store (store_get), not here: the daemon's memory
 * budget is small and the store's map is file-backed.
 *
 * Thread-safe.  The store is borrowed and must outlive the registry.
 */
#ifndef CLEAT_CORE_REGISTRY_H
#define CLEAT_CORE_REGISTRY_H

#include <stddef.h>

#include "ids.h"
#include "store.h"

struct cleat_error;
struct registry;

/* Load the IDs and name keys of all kinds from store. */
int registry_open(struct store *store, struct registry **ret, struct cleat_error **reterr);
/* NULL-safe; does not close the store. */
void registry_free(struct registry *reg);

/*
 * store_create, then index.  ALREADY_EXISTS (from the store's transaction,
 * which decides between concurrent callers) if id exists or name_key is
 * reserved.  name_key may be NULL.  parent (NULL or "" for none) is the ID
 * of the object this one belongs to (a container's pod), indexed so that
 * registry_foreach_child finds it; it lives only in memory: after a restart
 * the caller gives it again with registry_set_parent.
 */
int registry_add(struct registry *reg, enum store_kind kind, const char *id, const char *name_key, const char *parent,
                 const void *data, size_t len, struct cleat_error **reterr);
/*
 * Set (or change, or with NULL/"" clear) the parent of an indexed id, as
 * registry_add does: the way to index the parents again after a restart.
 * Setting the same parent twice changes nothing.  0; -ENOENT if id is not
 * indexed; -EINVAL for a parent that is not an ID or an unknown kind;
 * -ENOMEM (the entry unchanged).
 */
int registry_set_parent(struct registry *reg, enum store_kind kind, const char *id, const char *parent);
/* store_update; the index does not change.  NOT_FOUND if absent. */
int registry_update(struct registry *reg, enum store_kind kind, const char *id, const void *data, size_t len,
                    struct cleat_error **reterr);
/* store_remove, then drop id and its name from the index.  NOT_FOUND if absent. */
int registry_remove(struct registry *reg, enum store_kind kind, const char *id, struct cleat_error **reterr);

/*
 * The full ID for an exact ID or a unique prefix of one, as crictl accepts.
 * INVALID_ARGUMENT if empty, not lowercase hex or longer than an ID, or if
 * the prefix matches several IDs; NOT_FOUND if it matches none.
 */
int registry_resolve(struct registry *reg, enum store_kind kind, const char *id_or_prefix, char ret_id[ID_HEX_LEN + 1],
                     struct cleat_error **reterr);

/* The ID holding name_key: 0, or -ENOENT if the name is free. */
int registry_find_name(struct registry *reg, enum store_kind kind, const char *name_key, char ret_id[ID_HEX_LEN + 1]);

size_t registry_count(struct registry *reg, enum store_kind kind);

/*
 * Call fn for each ID of kind, in ID order, from a snapshot taken under the
 * lock; fn runs without the lock, so it may call back into the registry or
 * take its time (IDs removed meanwhile are still visited).  A non-zero
 * return from fn stops the walk and is returned; -ENOMEM if the snapshot
 * cannot be allocated.
 */
int registry_foreach_id(struct registry *reg, enum store_kind kind, int (*fn)(void *ctx, const char *id), void *ctx);
/* As registry_foreach_id, for the IDs that start with prefix: a binary search, then the run. */
int registry_foreach_prefix(struct registry *reg, enum store_kind kind, const char *prefix,
                            int (*fn)(void *ctx, const char *id), void *ctx);
/*
 * As registry_foreach_id, for the IDs whose parent (registry_add,
 * registry_set_parent) starts with parent_prefix (a full ID names one
 * parent; "" or NULL: every ID that has a parent), ordered by parent, then
 * ID: a binary search, then the run.
 */
int registry_foreach_child(struct registry *reg, enum store_kind kind, const char *parent_prefix,
                           int (*fn)(void *ctx, const char *id), void *ctx);

#endif
