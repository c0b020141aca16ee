/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hardened tar extractor of an unpack: each libarchive entry resolved
 * under the target directory and written there (rules in unpack.h).  Part
 * of unpack_layer and unpack_tar_memory (unpack.c).  Same error conventions
 * as the rest of the core.
 */
#ifndef CLEAT_CORE_UNPACK_EXTRACT_H
#define CLEAT_CORE_UNPACK_EXTRACT_H

#include <stdint.h>

#include "unpack_types.h"

struct archive;
struct archive_entry;
struct cleat_error;

struct extractor;

/* An extractor writing under t (the target's root is opened here and held until extract_free). */
int extract_open(const struct unpack_target *t, struct extractor **ret, struct cleat_error **reterr);
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

#endif
