/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The error object behind the SDK's `struct cleat_error` (cleat/error.h).
 *
 * One allocation holds the status (a gRPC code), the errno and the message.
 * Context is added by prefixing ("pod sandbox 'x': " + cause) as the error
 * travels up, the way crun's crun_error_wrap does.
 */
#ifndef CLEAT_CORE_ERROR_H
#define CLEAT_CORE_ERROR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cleat/error.h>

/* A new error; never NULL (falls back to a static out-of-memory error). */
struct cleat_error *error_new(int32_t status, int32_t errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* error_new with a va_list (backs cleat_host.error_vnew). */
struct cleat_error *error_vnew(int32_t status, int32_t errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* Prefix err's message with "<context>: "; returns err.  NULL-safe. */
struct cleat_error *error_wrap(struct cleat_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NULL-safe; returns NULL so that `e = error_free(e)` reads naturally. */
struct cleat_error *error_free(struct cleat_error *err);
int32_t error_status(const struct cleat_error *err);
int32_t error_errno(const struct cleat_error *err);
const char *error_message(const struct cleat_error *err);

/*
 * Build an error into *reterr (when reterr is not NULL) and return the
 * negative errno to hand back: -(errnum ? errnum : EINVAL).
 */
int error_set(struct cleat_error **reterr, int32_t status, int32_t errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Add context to *reterr (if set) and pass `ret` through: `return error_prefix(r, reterr, "x")`. */
int error_prefix(int ret, struct cleat_error **reterr, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The gRPC status name ("NOT_FOUND") for logs. */
const char *error_status_name(int32_t status);

static inline void error_freep(struct cleat_error **e) {
    error_free(*e);
    *e = NULL;
}
#define _cleanup_error_ __attribute__((cleanup(error_freep)))

#endif
