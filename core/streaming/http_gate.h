/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The front door of cleatd's HTTP endpoints (the streaming server, the
 * metrics endpoint): one thread with an epoll set owns every connection
 * from its accept until its request head is complete, so a connection that
 * has not asked for anything costs an fd and a small record, never a thread
 * or a session slot.
 *
 * Limits, all fixed when the gate starts:
 *
 * - Time: a connection has `timeout_ms` from its accept to complete the TLS
 *   handshake (when TLS is on) and its request head, in all; bytes that
 *   trickle in do not extend it.  An answer written by the gate gets
 *   `timeout_ms` again, from the moment it is ready, to leave and for the
 *   client to close.
 * - Count: at most `max_conns` connections are held.  At the limit (and when
 *   accept fails for lack of fds) the one closest to its deadline, the oldest,
 *   is dropped to make room, rather than the new one refused: a flood thus
 *   pushes itself out, and a client that connects after it and sends its
 *   request at once is served.  (A limit per source address would not do:
 *   kubelet and a local user both connect from the loopback.)  Connections
 *   whose events are ready are served before more are accepted, so a request
 *   that arrived is not evicted by connections accepted after it.
 * - Memory: a head is at most HTTP_MAX_REQUEST bytes (more is answered 431);
 *   answers being written hold at most `max_answer_bytes` in all, past which
 *   the oldest connection is dropped.  A client that never reads its answer
 *   thus holds neither the thread nor memory beyond these bounds.
 */
#ifndef CLEAT_CORE_HTTP_GATE_H
#define CLEAT_CORE_HTTP_GATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "stream_buf.h"
#include "stream_http.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

struct http_gate;
struct http_gate_conn;

/*
 * A complete, well-formed request head arrived on `c`: answer it (append a
 * whole response to http_gate_answer(c)) or take the connection
 * (http_gate_take).  Neither: the connection is closed.  Runs on the gate's
 * thread, so it must not block; `req` may be moved out (then zero it).
 */
typedef void (*http_gate_request_fn)(void *ctx, struct http_gate_conn *c, struct http_request *req);

struct http_gate_options {
    const char *name;        /* the endpoint, for log messages ("streaming", "metrics") */
    const int *listen_fds;   /* listening, non-blocking; borrowed until http_gate_stop */
    size_t n_listen;         /* 1..4 */
    SSL_CTX *tls;            /* NULL: plain HTTP; borrowed */
    uint32_t max_conns;      /* > 0 */
    int timeout_ms;          /* > 0 */
    size_t max_answer_bytes; /* > 0 */
    http_gate_request_fn on_request;
    void *ctx;
};

/* Start serving the listening sockets from a thread of its own. */
int http_gate_start(const struct http_gate_options *o, struct http_gate **ret, struct cleat_error **reterr);
/*
 * Stop the thread and close every connection still held (not those taken);
 * the listening sockets stay open, the caller's.  NULL-safe.
 */
void http_gate_stop(struct http_gate *g);

/* In on_request: the buffer for the response, written once on_request returns, then the connection closes. */
struct sbuf *http_gate_answer(struct http_gate_conn *c);
/*
 * In on_request: take the connection.  Its socket (non-blocking, O_CLOEXEC),
 * its TLS state (NULL without TLS; the handshake is done) and the bytes the
 * client sent after the head (appended to *in) become the caller's.
 */
void http_gate_take(struct http_gate_conn *c, int *ret_fd, SSL **ret_ssl, struct sbuf *in);

/*
 * An SSL_read or SSL_write result r as >0 bytes, 0 at the peer's close_notify,
 * -EAGAIN, or -EIO (the error queue cleared); *ret_want_write is set to 1
 * when the -EAGAIN waits for the socket to take bytes (else left alone).
 * Shared with the sessions (stream_session.c), which go on on the connection.
 */
ssize_t http_gate_tls_result(SSL *ssl, int r, int *ret_want_write);

#endif
