/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>

#include "plugin_error.h"

int32_t plugin_errno_status(int errnum) {
    switch (errnum) {
    case ENOENT:
    case ENOTDIR:
        return CLEAT_STATUS_NOT_FOUND;
    case EACCES:
    case EPERM:
        return CLEAT_STATUS_PERMISSION_DENIED;
    case EEXIST:
        return CLEAT_STATUS_ALREADY_EXISTS;
    case ENOMEM:
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
        return CLEAT_STATUS_RESOURCE_EXHAUSTED;
    case ETIMEDOUT:
        return CLEAT_STATUS_DEADLINE_EXCEEDED;
    default:
        return CLEAT_STATUS_INTERNAL;
    }
}

int plugin_oom(const struct cleat_host *host, struct cleat_error **reterr) {
    return cleat_error_set(host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
}

int plugin_pass_error(const struct cleat_host *host, struct cleat_error **reterr, struct cleat_error *err, int r) {
    if (reterr)
        *reterr = err;
    else
        host->error_free(err);
    return r;
}
