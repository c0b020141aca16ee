/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The images cleat holds: their records (persisted through the registry),
 * and the references that name them (repo tags "name:tag" and repo digests
 * "name@sha256:..."), as docker and containerd keep them.
 *
 * A reference names at most one image: recording a tag on a new image takes
 * it away from the image that had it (which stays, by ID and digest, until
 * removed).  Records are kept in memory for lookups; every change is written
 * through the store first.
 */
#ifndef CLEAT_CORE_IMAGE_STORE_H
#define CLEAT_CORE_IMAGE_STORE_H

#include "error.h"
#include "registry.h"
#include "store.pb-c.h"

typedef Cleat__Store__V1__ImageRecord image_record;

struct image_store;

/* Load every image record from the registry's store. */
int image_store_open(struct registry *reg, struct store *store, struct image_store **ret, struct cleat_error **reterr);
void image_store_free(struct image_store *is);

/*
 * Record an image: create it, or merge into the existing record of the same
 * ID (new blobs/chain replace the old ones; references accumulate).  Then
 * point `repo_tag` and `repo_digest` (either may be NULL) at it.
 */
int image_store_put(struct image_store *is, const image_record *rec, const char *repo_tag, const char *repo_digest,
                    struct cleat_error **reterr);

/*
 * Find an image by "sha256:<id>", a unique ID prefix, or a reference (any
 * form docker accepts: "busybox" means docker.io/library/busybox:latest).
 * *ret is a copy; free it with image_record_free().  NOT_FOUND if none.
 */
int image_store_lookup(struct image_store *is, const char *ref, image_record **ret, struct cleat_error **reterr);

/*
 * The ID (64 hex) of the image `ref` names, as image_store_lookup finds it,
 * without copying the record.  NOT_FOUND (or the reference's own error) if none.
 */
int image_store_resolve(struct image_store *is, const char *ref, char ret_id[ID_HEX_LEN + 1],
                        struct cleat_error **reterr);

/* Copies of every record, sorted by ID; free with image_records_free(). */
int image_store_list(struct image_store *is, image_record ***ret, size_t *ret_n, struct cleat_error **reterr);

/*
 * Remove what `ref` names: a tag or digest reference removes only that
 * reference while a tag still names the image (repo digests alone do not
 * keep it, as in docker); an ID (or prefix) removes the image.  *ret_removed_id (may be NULL) gets the ID of
 * a deleted image ("" if only a reference went).  NOT_FOUND if nothing matches.
 */
int image_store_remove(struct image_store *is, const char *ref, char ret_removed_id[ID_HEX_LEN + 1],
                       struct cleat_error **reterr);

/* Whether any image still needs the blob `digest` / the snapshot `chain_id`. */
int image_store_uses_blob(struct image_store *is, const char *digest);
int image_store_uses_chain(struct image_store *is, const char *chain_id);

image_record *image_record_copy(const image_record *rec);
void image_record_free(image_record *rec);
void image_records_free(image_record **recs, size_t n);

#endif
