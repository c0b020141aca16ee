/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>

#include "trust_why.h"

int trust_why(char **ret_why, int ret, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(ret_why, fmt, ap) < 0)
        *ret_why = NULL;
    va_end(ap);
    return ret;
}
