/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Errors, as the SDK defines them (cleat/error.h).  A plugin's failure path
 * is the SDK's own cleat_error_set(host, reterr, status, errnum, fmt, ...)
 * (cleat/plugin.h): it sets *reterr when reterr is not NULL and returns the
 * negative errno.  What follows are the few steps every plugin repeated
 * around it.
 */
#ifndef CLEAT_PLUGIN_ERROR_H
#define CLEAT_PLUGIN_ERROR_H

#include <stdint.h>

#include <cleat/plugin.h>

/*
 * The status for a failed system call's errno: NOT_FOUND (ENOENT, ENOTDIR),
 * PERMISSION_DENIED (EACCES, EPERM), ALREADY_EXISTS (EEXIST),
 * RESOURCE_EXHAUSTED (ENOMEM, ENOSPC, EDQUOT, EMFILE, ENFILE),
 * DEADLINE_EXCEEDED (ETIMEDOUT); INTERNAL for everything else, 0 included.
 */
int32_t plugin_errno_status(int errnum);

/* "out of memory": RESOURCE_EXHAUSTED with ENOMEM; returns -ENOMEM. */
int plugin_oom(const struct cleat_host *host, struct cleat_error **reterr);

/*
 * Hand `err`, an error a callee made, to the caller: into *reterr, or freed
 * when reterr is NULL (the caller did not ask).  Returns r, so that
 * `return plugin_pass_error(host, reterr, err, r);` ends a failure path.
 */
int plugin_pass_error(const struct cleat_host *host, struct cleat_error **reterr, struct cleat_error *err, int r);

#endif
