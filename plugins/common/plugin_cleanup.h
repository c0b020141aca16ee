/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plugins' cleanup attributes, in the style of the core's: a variable
 * declared `_cleanup_free_ char *p = ...;` is freed when it goes out of
 * scope, and `return TAKE_PTR(p);` hands it on instead.  Defined here once
 * for every plugin (the core has its own; plugins do not include it).
 */
#ifndef CLEAT_PLUGIN_CLEANUP_H
#define CLEAT_PLUGIN_CLEANUP_H

#include <stdlib.h>
#include <unistd.h>

#include "plugin_strv.h"

static inline void plugin_freep(void *p) {
    free(*(void **)p);
}

/* Closes a descriptor that is not negative; the value is left as it was. */
static inline void plugin_closep(int *fd) {
    if (*fd >= 0)
        close(*fd);
}

static inline void plugin_strv_freep(char ***v) {
    plugin_strv_free(*v);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(plugin_freep)
#define _cleanup_close_ _cleanup_(plugin_closep)
#define _cleanup_strv_ _cleanup_(plugin_strv_freep)

/* The value of `p`, which is set to NULL: ownership moves to whoever takes it. */
#define TAKE_PTR(p)                                                                                                    \
    ({                                                                                                                 \
        __typeof__(p) take_ptr_ = (p);                                                                                 \
        (p) = NULL;                                                                                                    \
        take_ptr_;                                                                                                     \
    })

#endif
