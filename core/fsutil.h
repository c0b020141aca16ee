/* SPDX-License-Identifier: Apache-2.0 */
/* Small file-system helpers shared by the core. */
#ifndef CLEAT_CORE_FSUTIL_H
#define CLEAT_CORE_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* mkdir -p: create `path` and missing parents with `mode`; an existing directory is fine. */
int mkdir_p(const char *path, mode_t mode, struct cleat_error **reterr);

/*
 * rm -rf that never leaves its file system: a mount point met on the way
 * (a container rootfs still mounted by mistake) is not descended into, so
 * its contents are never deleted; the removal of that branch then fails
 * with EBUSY.  An absent `path` is success.
 */
int rm_tree(const char *path, struct cleat_error **reterr);

/* Write `len` bytes to `path` through a temporary file, fsync and rename: the file is old or new, never half. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct cleat_error **reterr);

/*
 * Read a whole regular file of at most max_len bytes into a NUL-terminated
 * malloc'd buffer.  Reads to EOF: /proc and cgroup files report size 0.
 */
int read_file(const char *path, size_t max_len, char **ret, size_t *ret_len, struct cleat_error **reterr);

#endif
