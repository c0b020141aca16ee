/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bounds of an unpack (struct unpack_limits in unpack_types.h): the
 * size and ratio checks, the free-space check, and how an errno becomes a
 * status.  Used by the input stream, the extractor and unpack.c.
 */
#ifndef CLEAT_CORE_UNPACK_LIMITS_H
#define CLEAT_CORE_UNPACK_LIMITS_H

#include <stdint.h>

#include "unpack_types.h"

struct cleat_error;

/*
 * The size and ratio checks, after `uncompressed` bytes came out of
 * `compressed` consumed ones: 0, or RESOURCE_EXHAUSTED naming the limit.
 * limits may be NULL (no limits).  What unpack_layer applies after each block.
 */
int unpack_check_limits(const struct unpack_limits *limits, uint64_t compressed, uint64_t uncompressed,
                        struct cleat_error **reterr);

/*
 * Add `bytes` more to what the unpacks sharing budget b have used: 0, or
 * RESOURCE_EXHAUSTED naming b's limit once the total passes it (the bytes
 * stay counted: the unpack that is refused stops, and so does its image).
 * NULL b, or b->max 0: no limit.  Safe from several threads at once.
 */
int unpack_charge_budget(struct unpack_budget *b, uint64_t bytes, struct cleat_error **reterr);

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
