/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The two halves of unpack.c, private to it: the decompressing, hashing
 * input stream (unpack_decompress.c) and the hardened tar extractor
 * (unpack_extract.c).  Same error conventions as the rest of the core.
 */
#ifndef CLEAT_CORE_UNPACK_INTERNAL_H
#define CLEAT_CORE_UNPACK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "unpack.h"

struct archive;
struct archive_entry;
struct cleat_error;

/* ---- the input stream: fd → decompress → sha256 ---- */

struct ustream;

/* Blocks handed out: up to USTREAM_BLOCK_SIZE bytes each, USTREAM_BLOCKS of them in rotation. */
#define USTREAM_BLOCK_SIZE (1u << 20)
#define USTREAM_BLOCKS 4u

/*
 * Start reading fd.  compression is what the media type says (AUTO: sniff);
 * the magic must agree with it, media_type (may be NULL) is for the message.
 * When cancel_fd >= 0 becomes readable, a read waiting on fd gives up with
 * CANCELLED.
 */
int ustream_open(int fd, int cancel_fd, int32_t compression, const char *media_type, struct ustream **ret,
                 struct cleat_error **reterr);
/* NULL-safe. */
void ustream_free(struct ustream *s);
/*
 * Apply limits (copied; its names borrowed) to what comes out from now on;
 * the free space is that of free_fd's filesystem (-1: not checked), called
 * `where` in messages.  Before the first ustream_next.  NULL: no limits.
 */
void ustream_set_limits(struct ustream *s, const struct unpack_limits *limits, int free_fd, const char *where);
/*
 * The next block of uncompressed data, hashed already.  It stays valid
 * during the next USTREAM_BLOCKS - 1 calls (so a consumer may hold one while
 * the producer fills the others).  *len == 0 at the end of a complete stream.
 */
int ustream_next(struct ustream *s, const void **buf, size_t *len, struct cleat_error **reterr);
/* After the end: "sha256:<hex>" of everything ustream_next returned.  Once. */
int ustream_diff_id(struct ustream *s, char out[UNPACK_DIFF_ID_SIZE], struct cleat_error **reterr);
void ustream_stats(const struct ustream *s, uint64_t *compressed, uint64_t *uncompressed, int32_t *compression);

/* ---- the extractor: archive entries → files under a root fd ---- */

struct extractor;

int extract_open(const char *target_dir, struct extractor **ret, struct cleat_error **reterr);
/* NULL-safe. */
void extract_free(struct extractor *x);
/* Create one entry (reading its data from a); the error names the entry. */
int extract_entry(struct extractor *x, struct archive *a, struct archive_entry *e, struct cleat_error **reterr);
/* Apply the deferred directory times. */
int extract_finish(struct extractor *x, struct cleat_error **reterr);
void extract_stats(const struct extractor *x, uint64_t *file_bytes, uint64_t *whiteouts);
/*
 * The lexical cleaning every entry name and hardlink target gets before
 * anything is resolved: no "", "." or ".." components and no leading '/'
 * are left, ".." never climbs above the root ("a/../../x" is "x"), "" is the
 * root itself.  INVALID_ARGUMENT (ENAMETOOLONG) past PATH_MAX or NAME_MAX.
 * out is PATH_MAX bytes.  Pure: for the fuzz target and tests.
 */
int extract_clean_path(const char *raw, char *out, struct cleat_error **reterr);
/* The target directory (O_PATH), borrowed: for fstatvfs. */
int extract_root_fd(const struct extractor *x);

/*
 * RESOURCE_EXHAUSTED if fd's filesystem (`where` in messages) has fewer than
 * limits->min_free_bytes free for unprivileged writers (root's reserved
 * blocks do not count: the node's other users need them).  done: the bytes
 * unpacked so far, 0 before the start.  NULL limits, 0 or fd < 0: no check.
 */
int unpack_check_free_space_fd(int fd, const char *where, uint64_t done, const struct unpack_limits *limits,
                               struct cleat_error **reterr);

/* An errno as an error: RESOURCE_EXHAUSTED for ENOSPC/EDQUOT/ENOMEM, else INTERNAL. */
int unpack_errno_status(int errnum);

#endif
