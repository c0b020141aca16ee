/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A gRPC server on a unix socket, on the gRPC core C API.
 *
 * Threading: a fixed pool of workers, each with its own completion queue
 * and one outstanding request for a new call, so every idle worker can take
 * the next call and a slow handler only ever occupies its own worker.  A
 * server-streaming handler is moved off the pool onto a thread of its own,
 * because a stream (GetContainerEvents) lives as long as its client.
 *
 * Memory: each call has an arena (arena.h); the request is unpacked into
 * it and the handler builds its response in it.
 */
#ifndef CLEAT_CORE_RPC_SERVER_H
#define CLEAT_CORE_RPC_SERVER_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "arena.h"
#include "error.h"

struct rpc_server;
struct rpc_stream;
struct rpc_watch;

/* What a handler gets about its call. */
struct rpc_call {
    struct arena *arena;     /* for the response and anything it points to */
    const char *method;      /* "/runtime.v1.RuntimeService/Version" */
    int64_t deadline_ns;     /* CLOCK_REALTIME, or INT64_MAX for none */
    struct rpc_watch *watch; /* the server's own, for rpc_call_cancelled (NULL: never cancelled) */
};

/*
 * Non-zero once the client of a unary call has gone away (it cancelled, its
 * deadline passed, its connection closed) or the server is stopping: a long
 * handler (PullImage) may stop and return any error, which nobody reads.
 * Waits up to 20 ms (polling the call is what lets grpc see a cancel).  May be called from any thread while the handler runs
 * (only until it returns), as often as wanted; the first call starts
 * watching the call, so handlers that never ask cost nothing.
 */
int rpc_call_cancelled(struct rpc_call *call);

/* A unary handler: on success *ret_resp is a message of the method's output type. */
typedef int (*rpc_unary_fn)(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                            struct cleat_error **reterr);
/* A server-streaming handler: sends with rpc_stream_send() until done or the client leaves. */
typedef int (*rpc_stream_fn)(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, struct rpc_stream *stream,
                             struct cleat_error **reterr);

struct rpc_method {
    const char *path; /* "/package.Service/Method" */
    const ProtobufCMessageDescriptor *input;
    const ProtobufCMessageDescriptor *output;
    rpc_unary_fn unary; /* at most one of unary/stream; neither → UNIMPLEMENTED */
    rpc_stream_fn stream;
    void *ctx;
};

struct rpc_server_options {
    const char *socket_path;
    uint32_t socket_mode; /* e.g. 0660 */
    uint32_t workers;
    uint64_t max_message_bytes;
};

/*
 * Create a server listening on options->socket_path (a stale socket file is
 * replaced: the caller holds the root dir lock).  `methods` must outlive the
 * server.  Calls for paths not in `methods` answer UNIMPLEMENTED.
 */
int rpc_server_new(const struct rpc_server_options *options, const struct rpc_method *methods, size_t n_methods,
                   struct rpc_server **ret, struct cleat_error **reterr);
/* Start the workers; the socket serves when this returns 0. */
int rpc_server_start(struct rpc_server *server, struct cleat_error **reterr);
/* Stop taking calls, let running ones finish for up to grace_ms, cancel the rest, join the workers. */
void rpc_server_shutdown(struct rpc_server *server, int64_t grace_ms);
/* Free a server (shut down first if needed) and remove its socket file.  NULL-safe. */
void rpc_server_free(struct rpc_server *server);

/*
 * Send one message on a stream.  Fails with CANCELLED when the client has
 * gone away or the server is shutting down; the handler should then return.
 */
int rpc_stream_send(struct rpc_stream *stream, const ProtobufCMessage *msg, struct cleat_error **reterr);
/* Non-zero once the client has cancelled or the server is stopping. */
int rpc_stream_closed(struct rpc_stream *stream);

#endif
