/* SPDX-License-Identifier: Apache-2.0 */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cleat_error {
    int32_t status;
    int32_t errnum;
    char *message;
};

/* Returned when even the error cannot be allocated; never freed. */
static struct cleat_error oom_error = {CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, (char *)"out of memory"};

struct cleat_error *error_vnew(int32_t status, int32_t errnum, const char *fmt, va_list ap) {
    struct cleat_error *err = calloc(1, sizeof(*err));
    if (!err)
        return &oom_error;
    if (vasprintf(&err->message, fmt, ap) < 0) {
        free(err);
        return &oom_error;
    }
    err->status = status;
    err->errnum = errnum;
    return err;
}

struct cleat_error *error_new(int32_t status, int32_t errnum, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    struct cleat_error *err = error_vnew(status, errnum, fmt, ap);
    va_end(ap);
    return err;
}

__attribute__((format(printf, 2, 0))) static struct cleat_error *error_vwrap(struct cleat_error *err, const char *fmt,
                                                                             va_list ap) {
    char *ctx = NULL, *msg = NULL;
    if (!err || err == &oom_error)
        return err;
    if (vasprintf(&ctx, fmt, ap) < 0)
        return err;
    if (asprintf(&msg, "%s: %s", ctx, err->message) >= 0) {
        free(err->message);
        err->message = msg;
    }
    free(ctx);
    return err;
}

struct cleat_error *error_wrap(struct cleat_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    error_vwrap(err, fmt, ap);
    va_end(ap);
    return err;
}

struct cleat_error *error_free(struct cleat_error *err) {
    if (err && err != &oom_error) {
        free(err->message);
        free(err);
    }
    return NULL;
}

int32_t error_status(const struct cleat_error *err) {
    return err ? err->status : CLEAT_STATUS_OK;
}

int32_t error_errno(const struct cleat_error *err) {
    return err ? err->errnum : 0;
}

const char *error_message(const struct cleat_error *err) {
    return err ? err->message : "";
}

int error_set(struct cleat_error **reterr, int32_t status, int32_t errnum, const char *fmt, ...) {
    if (reterr) {
        va_list ap;
        va_start(ap, fmt);
        struct cleat_error *err = error_vnew(status, errnum, fmt, ap);
        va_end(ap);
        error_free(*reterr); /* never leak an earlier error */
        *reterr = err;
    }
    return -(errnum > 0 ? errnum : EINVAL);
}

int error_prefix(int ret, struct cleat_error **reterr, const char *fmt, ...) {
    if (reterr && *reterr) {
        va_list ap;
        va_start(ap, fmt);
        error_vwrap(*reterr, fmt, ap);
        va_end(ap);
    }
    return ret;
}

const char *error_status_name(int32_t status) {
    static const char *const names[] = {
        "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
        "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    };
    if (status < 0 || (size_t)status >= sizeof(names) / sizeof(names[0]))
        return "UNKNOWN";
    return names[status];
}
