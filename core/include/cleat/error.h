/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cleat plugin SDK: the error convention.
 *
 * Every fallible operation in the SDK has the shape
 *
 *     int op(..., struct cleat_error **reterr);
 *
 * It returns 0 (or a non-negative count) on success and a negative errno
 * value on failure.  On failure it may also set *reterr to an error object
 * that carries a status (which the core maps to a gRPC status code), the
 * errno, and a message for the kubelet operator.  On success *reterr is left
 * untouched.  Error objects are owned by the host: a plugin creates them with
 * cleat_host.error_new(), adds context with cleat_host.error_wrap(), and hands
 * them to the caller; whoever receives one either returns it further up or
 * frees it with cleat_host.error_free().
 *
 * The message names the object and the cause ("snapshot 'k1': parent 'p0'
 * does not exist"), not the function that failed.
 */
#ifndef CLEAT_ERROR_H
#define CLEAT_ERROR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque: defined by the host. */
struct cleat_error;

/*
 * Error statuses.  The values are the gRPC status codes so that the core can
 * pass them through unchanged; a plugin should only ever use these names.
 */
#define CLEAT_STATUS_OK 0
#define CLEAT_STATUS_CANCELLED 1
#define CLEAT_STATUS_UNKNOWN 2
#define CLEAT_STATUS_INVALID_ARGUMENT 3
#define CLEAT_STATUS_DEADLINE_EXCEEDED 4
#define CLEAT_STATUS_NOT_FOUND 5
#define CLEAT_STATUS_ALREADY_EXISTS 6
#define CLEAT_STATUS_PERMISSION_DENIED 7
#define CLEAT_STATUS_RESOURCE_EXHAUSTED 8
#define CLEAT_STATUS_FAILED_PRECONDITION 9
#define CLEAT_STATUS_ABORTED 10
#define CLEAT_STATUS_OUT_OF_RANGE 11
#define CLEAT_STATUS_UNIMPLEMENTED 12
#define CLEAT_STATUS_INTERNAL 13
#define CLEAT_STATUS_UNAVAILABLE 14

#ifdef __cplusplus
}
#endif

#endif /* CLEAT_ERROR_H */
