/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A ttrpc client: unary calls to a containerd shim v2 (or any ttrpc server)
 * over one unix socket connection.
 *
 * Calls from several threads share the connection: each gets its own
 * stream id, and one reader thread per client hands every Response frame
 * to the call it answers, in whatever order they come, so a Wait that
 * lasts minutes does not hold up a State.  A frame on a stream no call
 * waits for (the answer to a call that timed out) is dropped.  When the
 * server goes away -- the shim exited or was killed -- every call waiting
 * and every later one fails with UNAVAILABLE "shim at ADDRESS closed the
 * connection"; the client never reconnects by itself (make a new one).
 *
 * Limits: requests and responses larger than 4 MiB are refused with
 * RESOURCE_EXHAUSTED (an oversized response is read and dropped, the
 * connection lives on); a frame announcing 16 MiB or more is not ttrpc and
 * ends the connection.  Streaming calls (Data frames) are not supported:
 * the task API has none.  The socket is close-on-exec.
 */
#ifndef CLEAT_KATA_TTRPC_H
#define CLEAT_KATA_TTRPC_H

#include <stddef.h>
#include <stdint.h>

#include <cleat/plugin.h>

struct ttrpc_client;

/*
 * Connect to `address`: "unix:///path", "unix://@name" (abstract), "/path"
 * or "@name".  Waits up to `timeout_ms` (<= 0: 5 s) while the server's
 * backlog is full.  Errors: INVALID_ARGUMENT for an address of another
 * form, UNAVAILABLE when nothing listens there (ENOENT, ECONNREFUSED) or
 * the wait ran out.  Errors go to *reterr through host->error_*; `host`
 * must outlive the client.  *ret is untouched on failure.
 */
int ttrpc_connect(const struct cleat_host *host, const char *address, int timeout_ms, struct ttrpc_client **ret,
                  struct cleat_error **reterr);

/*
 * Call service/method with `req` (a serialized request message, req_len
 * bytes, may be NULL when 0) and wait for the answer at most `timeout_ms`
 * (0: no limit; the server is told the deadline too).  On success 0 and
 * *ret_resp is the serialized response (malloc'd, never NULL: free() it),
 * *ret_len its length.  Errors:
 *   - the server's non-OK status, as is (NOT_FOUND, ...), with the
 *     message "<method>: <the server's message>";
 *   - DEADLINE_EXCEEDED when no answer came in time (the late answer is
 *     dropped, the connection stays usable);
 *   - UNAVAILABLE when the connection is dead or dies during the call;
 *   - RESOURCE_EXHAUSTED for a request or response above 4 MiB;
 *   - INTERNAL for an answer that is not a ttrpc Response.
 * Thread-safe.  Must not be called once ttrpc_close() has begun.
 */
int ttrpc_call(struct ttrpc_client *c, const char *service, const char *method, const uint8_t *req, size_t req_len,
               int timeout_ms, uint8_t **ret_resp, size_t *ret_len, struct cleat_error **reterr);

/* 1 while the connection may still work, 0 once it is known dead (the server closed it, or a send broke it). */
int ttrpc_alive(const struct ttrpc_client *c);

/* The address the client was connected to, as given (for messages). */
const char *ttrpc_address(const struct ttrpc_client *c);

/* The host table the client was made with (for the callers' own errors). */
const struct cleat_host *ttrpc_host(const struct ttrpc_client *c);

/*
 * Close the connection and free the client.  Calls still waiting in other
 * threads fail with UNAVAILABLE, and ttrpc_close() returns only after they
 * have all returned; no call may start after it has begun.  NULL-safe.
 */
void ttrpc_close(struct ttrpc_client *c);

#endif
