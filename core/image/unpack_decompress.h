/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The input stream of an unpack: fd → decompress (igzip, zstd or none) →
 * sha256 of the uncompressed bytes, handed out in blocks while the limits
 * are checked.  Part of unpack_layer (unpack.c); tests use it too.  Same
 * error conventions as the rest of the core.
 */
#ifndef CLEAT_CORE_UNPACK_DECOMPRESS_H
#define CLEAT_CORE_UNPACK_DECOMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "unpack_types.h"

struct cleat_error;

/* "none", "gzip", "zstd", "auto". */
const char *unpack_compression_name(int32_t compression);

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

#endif
