/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The content store: blobs (manifests, configs, layers) addressed by digest,
 * shared by all images.
 *
 * Layout under <root_dir>/content/ (0700):
 *
 *     blobs/sha256/<hex>      committed blobs, read-only (0444), never
 *                             visible unless their size and digest verified
 *     ingest/sha256-<hex>     the partial write of that blob (0600)
 *
 * Thread-safe: the store itself is immutable once open, and writers of the
 * same digest serialise on an flock of the ingest file (which also works
 * across processes).  Every fd is O_CLOEXEC.
 */
#ifndef CLEAT_CORE_CONTENT_STORE_H
#define CLEAT_CORE_CONTENT_STORE_H

#include <stddef.h>
#include <stdint.h>

struct cleat_error;

struct content_store;

/* Open (creating the directories if needed) the store under <root_dir>/content. */
int content_store_open(const char *root_dir, struct content_store **ret, struct cleat_error **reterr);
/* NULL-safe.  Writers and open blob fds must be gone first. */
void content_store_close(struct content_store *cs);
/* "<root>/content", for ImageFsInfo. */
const char *content_store_path(const struct content_store *cs);

struct content_writer;

/*
 * Begin writing the blob `digest` of `size` bytes (-1 if unknown).
 *
 * The ingest file is named by the digest, so an interrupted download resumes:
 * content_writer_offset() tells how much is already there, and the hash is
 * recomputed over that prefix here (a prefix longer than `size` is dropped).
 * An exclusive flock on the ingest file makes a second writer of the same
 * digest (another thread or process) wait until the first finishes; so a
 * thread must not open a second writer of a digest it is still writing.
 *
 * If the blob is already committed (before or while waiting), *ret is NULL,
 * *ret_exists is 1 and the return is 0; when it exists with a size other
 * than `size`, the descriptor is wrong: FAILED_PRECONDITION.  Otherwise
 * *ret_exists is 0.  A digest of another algorithm than sha256 is UNIMPLEMENTED.
 */
int content_writer_open(struct content_store *cs, const char *digest, int64_t size, struct content_writer **ret,
                        int *ret_exists, struct cleat_error **reterr);
/*
 * Append data.  More than `size` bytes in total is FAILED_PRECONDITION, and
 * the ingest is then discarded even by content_writer_abort(w, 1).  A failed
 * write (ENOSPC...) leaves the writer at its previous offset.
 */
int content_writer_write(struct content_writer *w, const void *data, size_t len, struct cleat_error **reterr);
/*
 * Start the blob over from byte 0, for a source that cannot resume at
 * content_writer_offset() (no Range support): truncates the ingest file,
 * restarts the hash and forgets an earlier "too many bytes".
 */
int content_writer_reset(struct content_writer *w, struct cleat_error **reterr);
/* Bytes written so far, including a resumed prefix. */
uint64_t content_writer_offset(const struct content_writer *w);
/*
 * Verify size and digest, fsync, make the file 0444, rename it into blobs/
 * and fsync the directory.  On a mismatch the ingest is deleted and the
 * error (FAILED_PRECONDITION) says expected vs actual digest or size.
 * Frees w either way.
 */
int content_writer_commit(struct content_writer *w, struct cleat_error **reterr);
/* Give up; keep_partial = 1 keeps the ingest file for a later resume.  Frees w.  NULL-safe. */
void content_writer_abort(struct content_writer *w, int keep_partial);

/* 1 if the blob is committed (its size into *ret_size when not NULL), 0 if not or the digest is invalid. */
int content_exists(struct content_store *cs, const char *digest, int64_t *ret_size);
/* Open a committed blob O_RDONLY|O_CLOEXEC into *ret_fd; NOT_FOUND if absent. */
int content_open_blob(struct content_store *cs, const char *digest, int *ret_fd, struct cleat_error **reterr);
/*
 * Read a whole blob into memory (malloc'd, NUL-terminated, length without the
 * NUL into *ret_len), for manifests and configs.  A blob larger than
 * max_size is RESOURCE_EXHAUSTED; the content is hashed again and a blob
 * that no longer matches its digest is INTERNAL (EUCLEAN).
 */
int content_read_small(struct content_store *cs, const char *digest, size_t max_size, char **ret, size_t *ret_len,
                       struct cleat_error **reterr);
/* Open, write and commit a blob in one go; a blob that already exists is fine. */
int content_write_small(struct content_store *cs, const char *digest, const void *data, size_t len,
                        struct cleat_error **reterr);
/* Remove a committed blob; NOT_FOUND if absent. */
int content_delete(struct content_store *cs, const char *digest, struct cleat_error **reterr);

/*
 * Called once per committed blob; return 0 to go on, anything else stops the
 * walk and content_walk returns it.  fn may delete the blob it is given.
 */
typedef int (*content_walk_fn)(void *ctx, const char *digest, int64_t size);
/* Visit every committed blob, in no particular order. */
int content_walk(struct content_store *cs, content_walk_fn fn, void *ctx, struct cleat_error **reterr);
/* Bytes on disk (allocated blocks) and inodes used by blobs, ingest files and the store's directories. */
int content_usage(struct content_store *cs, int64_t *ret_bytes, int64_t *ret_inodes, struct cleat_error **reterr);
/*
 * Remove ingest files not modified for older_than_seconds and not being
 * written right now (their flock is free).  0 removes every idle partial.
 */
void content_cleanup_ingest(struct content_store *cs, int64_t older_than_seconds);

#endif
