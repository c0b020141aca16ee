/* SPDX-License-Identifier: Apache-2.0 */
/* Small file-system helpers shared by the core. */
#ifndef CLEAT_CORE_FSUTIL_H
#define CLEAT_CORE_FSUTIL_H

#include <sys/types.h>

#include "error.h"

/* mkdir -p: create `path` and missing parents with `mode`; an existing directory is fine. */
int mkdir_p(const char *path, mode_t mode, struct cleat_error **reterr);

#endif
