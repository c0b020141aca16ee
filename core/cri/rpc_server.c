/* SPDX-License-Identifier: Apache-2.0 */
#include "clocks.h"
#include "rpc_server.h"

#include <errno.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "pb_pack.h"

/* Completion tags: only their identity matters. */
static char tag_new_call, tag_recv, tag_reply, tag_close, tag_send, tag_shutdown;

struct rpc_worker {
    struct rpc_server *server;
    pthread_t thread;
    int started;
    grpc_completion_queue *notify_cq; /* new calls are announced here (registered with the server) */
    grpc_completion_queue *call_cq;   /* the current call's batches complete here */
};

struct rpc_server {
    grpc_server *server;
    grpc_completion_queue *shutdown_cq;
    struct rpc_worker *workers;
    uint32_t n_workers;
    const struct rpc_method *methods;
    size_t n_methods;
    char *socket_path;
    atomic_int stopping;
    int started, shut_down;
    /* Streams run on threads of their own; shutdown waits for them. */
    pthread_mutex_t lock;
    pthread_cond_t streams_done;
    uint32_t n_streams;
};

struct rpc_stream {
    struct rpc_server *server;
    const struct rpc_method *method;
    grpc_call *call;
    grpc_completion_queue *cq;
    struct rpc_call rc;
    ProtobufCMessage *request;
    int sent_initial_metadata;
    int close_done; /* the RECV_CLOSE_ON_SERVER batch has completed */
    int client_cancelled;
};

/* Whether the client of a unary call is still there (rpc_call_cancelled); lives on the worker's stack. */
struct rpc_watch {
    struct rpc_server *server;
    grpc_call *call;
    grpc_completion_queue *cq;
    pthread_mutex_t lock;
    int armed;     /* a RECV_CLOSE_ON_SERVER batch is started (tag_close) */
    int closed;    /* ... and has completed: the call is over for the client */
    int cancelled; /* what grpc says about it */
};

/* Wait for `tag` on a queue where this thread is the only consumer; 1 if the batch succeeded. */
static int wait_tag(grpc_completion_queue *cq, void *tag) {
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            return 0;
        if (ev.type == GRPC_OP_COMPLETE && ev.tag == tag)
            return ev.success;
    }
}

static void destroy_cq(grpc_completion_queue *cq) {
    if (!cq)
        return;
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
}

static const struct rpc_method *find_method(const struct rpc_server *s, grpc_slice path) {
    size_t len = GRPC_SLICE_LENGTH(path);
    for (size_t i = 0; i < s->n_methods; i++)
        if (strlen(s->methods[i].path) == len && memcmp(s->methods[i].path, GRPC_SLICE_START_PTR(path), len) == 0)
            return &s->methods[i];
    return NULL;
}

static int64_t deadline_ns(gpr_timespec deadline) {
    gpr_timespec rt = gpr_convert_clock_type(deadline, GPR_CLOCK_REALTIME);
    if (gpr_time_cmp(rt, gpr_inf_future(GPR_CLOCK_REALTIME)) == 0 || rt.tv_sec > INT64_MAX / 1000000000 - 1)
        return INT64_MAX;
    return (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec;
}

/* Receive and unpack the one request message into the call's arena. */
static int recv_request(grpc_call *call, grpc_completion_queue *cq, const struct rpc_method *m, struct arena *arena,
                        ProtobufCMessage **ret, struct cleat_error **reterr) {
    grpc_byte_buffer *payload = NULL;
    grpc_op op = {.op = GRPC_OP_RECV_MESSAGE, .data.recv_message.recv_message = &payload};
    if (grpc_call_start_batch(call, &op, 1, &tag_recv, NULL) != GRPC_CALL_OK || !wait_tag(cq, &tag_recv) || !payload)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EPROTO, "%s: no request message received", m->path);
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, payload)) {
        grpc_byte_buffer_destroy(payload);
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EPROTO, "%s: unreadable request", m->path);
    }
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    grpc_byte_buffer_destroy(payload);
    ProtobufCAllocator alloc = arena_protobuf_allocator(arena);
    *ret = protobuf_c_message_unpack(m->input, &alloc, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
    grpc_slice_unref(all);
    if (!*ret)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EPROTO, "%s: malformed %s message", m->path,
                         m->input->name);
    return 0;
}

/*
 * The message packed by pb_pack (one pass), its chunks the slices of the
 * byte buffer as they are: grpc frees each once sent, and nothing is copied
 * (a 500-pod stats list is 250 kB).  NULL when out of memory.
 */
static grpc_byte_buffer *pack_message(const ProtobufCMessage *msg) {
    struct pb_chunk *chunks = NULL;
    size_t len = 0, n = 0;
    if (pb_pack(msg, &chunks, &len) < 0)
        return NULL;
    for (struct pb_chunk *c = chunks; c; c = c->next)
        n++;
    grpc_slice few[16], *slices = n <= 16 ? few : malloc(n * sizeof(*slices));
    if (!slices) {
        pb_chunks_free(chunks);
        return NULL;
    }
    size_t i = 0;
    for (struct pb_chunk *c = chunks, *next; c; c = next) {
        next = c->next; /* c belongs to its slice from here on */
        slices[i++] = grpc_slice_new_with_user_data(c->data + c->start, c->end - c->start, free, c);
    }
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(slices, n);
    for (i = 0; i < n; i++)
        grpc_slice_unref(slices[i]);
    if (slices != few)
        free(slices);
    return bb;
}

int rpc_call_cancelled(struct rpc_call *rc) {
    struct rpc_watch *w = rc->watch;
    if (!w)
        return 0;
    pthread_mutex_lock(&w->lock);
    if (!w->armed) {
        grpc_op op = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER, .data.recv_close_on_server.cancelled = &w->cancelled};
        w->armed = grpc_call_start_batch(w->call, &op, 1, &tag_close, NULL) == GRPC_CALL_OK;
    }
    /*
     * While the handler runs, tag_close is the only event this queue can hold.  The wait is short but not
     * nothing: polling the queue is what lets grpc read the call's socket, and so learn of a cancel.
     */
    if (w->armed && !w->closed) {
        gpr_timespec soon = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(20, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(w->cq, soon, NULL);
        w->closed = ev.type == GRPC_OP_COMPLETE && ev.tag == &tag_close;
    }
    int gone = w->closed || atomic_load(&w->server->stopping);
    pthread_mutex_unlock(&w->lock);
    return gone;
}

/*
 * Wait for the reply batch and, when rpc_call_cancelled started watching the
 * call, for that watch to complete too (it does once the status is sent), so
 * that no event of this call is left on the worker's queue for the next one.
 */
static void wait_reply(grpc_completion_queue *cq, struct rpc_watch *w) {
    int replied = 0, closed = !w || !w->armed || w->closed;
    while (!replied || !closed) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            return;
        if (ev.type == GRPC_OP_COMPLETE && ev.tag == &tag_reply)
            replied = 1;
        else if (ev.type == GRPC_OP_COMPLETE && ev.tag == &tag_close)
            closed = 1;
    }
}

/* Send the reply (message if any), the status, and wait for the call to close. */
static void finish_call(grpc_call *call, grpc_completion_queue *cq, struct rpc_watch *w, int send_initial,
                        grpc_byte_buffer *reply, int32_t status, const char *message) {
    grpc_slice details = grpc_slice_from_copied_string(message ? message : "");
    int cancelled = 0;
    grpc_op ops[4];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    if (send_initial)
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (reply) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = reply;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)status;
    ops[n++].data.send_status_from_server.status_details = &details;
    if (!w || !w->armed) { /* else the watch's batch receives the close */
        ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[n++].data.recv_close_on_server.cancelled = &cancelled;
    }
    if (grpc_call_start_batch(call, ops, n, &tag_reply, NULL) == GRPC_CALL_OK)
        wait_reply(cq, w);
    grpc_slice_unref(details);
}

static void log_call(const char *path, int routed, int64_t started, const struct cleat_error *err) {
    int32_t status = error_status(err);
    /* A client chooses the path: paths that are not ours share one series, or the metrics would grow for ever. */
    metrics_rpc_observe(routed ? path : "unknown", err ? status : CLEAT_STATUS_OK, monotonic_ns() - started);
    int32_t level =
        status == CLEAT_STATUS_INTERNAL || status == CLEAT_STATUS_UNKNOWN ? CLEAT_LOG_ERROR : CLEAT_LOG_DEBUG;
    if (!log_enabled(level))
        return;
    double ms = (double)(monotonic_ns() - started) / 1e6;
    if (err)
        log_msg(level, "rpc", "%s %s (%.3f ms): %s", path, error_status_name(status), ms, error_message(err));
    else
        log_msg(level, "rpc", "%s OK (%.3f ms)", path, ms);
}

static void *stream_thread(void *arg);

/* Hand a streaming call to a thread of its own; the worker keeps nothing of it. */
static int start_stream(struct rpc_worker *w, grpc_call *call, const struct rpc_method *m, struct arena *arena,
                        ProtobufCMessage *req, struct rpc_call *rc, struct cleat_error **reterr) {
    struct rpc_server *s = w->server;
    grpc_completion_queue *fresh = grpc_completion_queue_create_for_next(NULL);
    struct rpc_stream *st = arena_alloc(arena, sizeof(*st));
    *st = (struct rpc_stream){.server = s, .method = m, .call = call, .cq = w->call_cq, .rc = *rc, .request = req};
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&s->lock);
    s->n_streams++;
    pthread_mutex_unlock(&s->lock);
    int r = pthread_create(&t, &attr, stream_thread, st);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        pthread_mutex_lock(&s->lock);
        s->n_streams--;
        pthread_mutex_unlock(&s->lock);
        destroy_cq(fresh);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, r, "%s: cannot start a stream thread", m->path);
    }
    w->call_cq = fresh; /* the stream owns the old queue now */
    return 0;
}

static void handle_call(struct rpc_worker *w, grpc_call *call, grpc_call_details *details) {
    struct rpc_server *s = w->server;
    int64_t started = monotonic_ns();
    struct arena *arena = arena_new();
    struct cleat_error *err = NULL;
    ProtobufCMessage *req = NULL, *resp = NULL;
    grpc_byte_buffer *reply = NULL;
    char *path = grpc_slice_to_c_string(details->method);
    const struct rpc_method *m = find_method(s, details->method);
    struct rpc_watch watch = {.server = s, .call = call, .cq = w->call_cq};
    pthread_mutex_init(&watch.lock, NULL);
    struct rpc_call rc = {
        .arena = arena, .method = path, .deadline_ns = deadline_ns(details->deadline), .watch = &watch};

    if (!m)
        error_set(&err, CLEAT_STATUS_UNIMPLEMENTED, ENOSYS, "unknown method %s", path);
    else if (!m->unary && !m->stream)
        error_set(&err, CLEAT_STATUS_UNIMPLEMENTED, ENOSYS, "%s is not implemented by cleat yet", path);
    else if (recv_request(call, w->call_cq, m, arena, &req, &err) < 0)
        ;
    else if (m->stream) {
        rc.watch = NULL; /* streams watch their client themselves (rpc_stream_closed) */
        if (start_stream(w, call, m, arena, req, &rc, &err) == 0) {
            pthread_mutex_destroy(&watch.lock);
            return; /* the stream thread owns call, queue, arena and path now */
        }
    } else if (m->unary(m->ctx, &rc, req, &resp, &err) >= 0) {
        if (!resp)
            error_set(&err, CLEAT_STATUS_INTERNAL, EPROTO, "%s: the handler produced no response", path);
        else if (!(reply = pack_message(resp)))
            error_set(&err, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "%s: out of memory packing the response", path);
    } else if (!err) {
        error_set(&err, CLEAT_STATUS_INTERNAL, EIO, "%s failed without saying why", path);
    }
    log_call(path, m != NULL, started, err);
    finish_call(call, w->call_cq, &watch, 1, reply, err ? error_status(err) : CLEAT_STATUS_OK,
                err ? error_message(err) : "");
    pthread_mutex_destroy(&watch.lock);
    if (reply)
        grpc_byte_buffer_destroy(reply);
    grpc_call_unref(call);
    error_free(err);
    arena_free(arena);
    gpr_free(path);
}

static void *worker_main(void *arg) {
    struct rpc_worker *w = arg;
    struct rpc_server *s = w->server;
    while (!atomic_load(&s->stopping)) {
        grpc_call *call = NULL;
        grpc_call_details details;
        grpc_metadata_array md;
        grpc_call_details_init(&details);
        grpc_metadata_array_init(&md);
        grpc_call_error ce =
            grpc_server_request_call(s->server, &call, &details, &md, w->call_cq, w->notify_cq, &tag_new_call);
        grpc_event ev = {.type = GRPC_QUEUE_SHUTDOWN};
        if (ce == GRPC_CALL_OK)
            ev = grpc_completion_queue_next(w->notify_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_OP_COMPLETE && ev.success && call)
            handle_call(w, call, &details);
        grpc_call_details_destroy(&details);
        grpc_metadata_array_destroy(&md);
        if (ce != GRPC_CALL_OK || ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
    }
    return NULL;
}

/* --- streams --------------------------------------------------------------- */

/* Take one event off the stream's queue; waits at most timeout_ms (-1: forever). */
static grpc_event stream_next(struct rpc_stream *st, int64_t timeout_ms) {
    gpr_timespec deadline =
        timeout_ms < 0 ? gpr_inf_future(GPR_CLOCK_MONOTONIC)
                       : gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    grpc_event ev = grpc_completion_queue_next(st->cq, deadline, NULL);
    if (ev.type == GRPC_OP_COMPLETE && ev.tag == &tag_close)
        st->close_done = 1;
    return ev;
}

int rpc_stream_closed(struct rpc_stream *st) {
    if (!st->close_done && !atomic_load(&st->server->stopping))
        stream_next(st, 0);
    return st->close_done || atomic_load(&st->server->stopping);
}

int rpc_stream_send(struct rpc_stream *st, const ProtobufCMessage *msg, struct cleat_error **reterr) {
    if (rpc_stream_closed(st))
        return error_set(reterr, CLEAT_STATUS_CANCELLED, ECANCELED, "%s: the stream is closed", st->method->path);
    grpc_byte_buffer *bb = pack_message(msg);
    if (!bb)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "%s: out of memory packing a message",
                         st->method->path);
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    if (!st->sent_initial_metadata)
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = bb;
    int ok = 0;
    if (grpc_call_start_batch(st->call, ops, n, &tag_send, NULL) == GRPC_CALL_OK) {
        st->sent_initial_metadata = 1;
        for (;;) {
            grpc_event ev = stream_next(st, -1);
            if (ev.type != GRPC_OP_COMPLETE)
                break;
            if (ev.tag == &tag_send) {
                ok = ev.success;
                break;
            }
        }
    }
    grpc_byte_buffer_destroy(bb);
    if (!ok || st->close_done)
        return error_set(reterr, CLEAT_STATUS_CANCELLED, ECANCELED, "%s: the client went away", st->method->path);
    return 0;
}

static void *stream_thread(void *arg) {
    struct rpc_stream *st = arg;
    struct rpc_server *s = st->server;
    struct arena *arena = st->rc.arena;
    struct cleat_error *err = NULL;
    int64_t started = monotonic_ns();
    /* Watch for the client leaving for the whole life of the stream. */
    grpc_op op = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER, .data.recv_close_on_server.cancelled = &st->client_cancelled};
    if (grpc_call_start_batch(st->call, &op, 1, &tag_close, NULL) != GRPC_CALL_OK)
        st->close_done = 1;
    if (st->method->stream(st->method->ctx, &st->rc, st->request, st, &err) < 0 && !err)
        error_set(&err, CLEAT_STATUS_INTERNAL, EIO, "%s failed without saying why", st->method->path);
    log_call(st->method->path, 1, started, err);
    if (!st->close_done) {
        grpc_slice details = grpc_slice_from_copied_string(err ? error_message(err) : "");
        grpc_op ops[2];
        size_t n = 0;
        memset(ops, 0, sizeof(ops));
        if (!st->sent_initial_metadata)
            ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = (grpc_status_code)(err ? error_status(err) : CLEAT_STATUS_OK);
        ops[n++].data.send_status_from_server.status_details = &details;
        if (grpc_call_start_batch(st->call, ops, n, &tag_reply, NULL) == GRPC_CALL_OK)
            wait_tag(st->cq, &tag_reply); /* tag_close may arrive first; wait_tag skips it */
        grpc_slice_unref(details);
    }
    grpc_call_unref(st->call);
    destroy_cq(st->cq);
    error_free(err);
    gpr_free((void *)st->rc.method);
    arena_free(arena); /* frees st too */
    pthread_mutex_lock(&s->lock);
    if (--s->n_streams == 0)
        pthread_cond_broadcast(&s->streams_done);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* --- life cycle ------------------------------------------------------------ */

static int listen_unix(struct rpc_server *s, const struct rpc_server_options *o, struct cleat_error **reterr) {
    char *addr = NULL;
    if (unlink(o->socket_path) < 0 && errno != ENOENT)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, errno, "cannot remove stale socket %s: %s",
                         o->socket_path, strerror(errno));
    if (asprintf(&addr, "unix:%s", o->socket_path) < 0)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    /* Create the socket with its final mode: no window in which others could connect. */
    mode_t old = umask(0777 & ~o->socket_mode);
    int port = grpc_server_add_http2_port(s->server, addr, creds);
    umask(old);
    grpc_server_credentials_release(creds);
    free(addr);
    if (port <= 0)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EADDRNOTAVAIL,
                         "cannot listen on unix socket %s (does its directory exist and is the path short enough?)",
                         o->socket_path);
    if (chmod(o->socket_path, o->socket_mode) < 0)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "cannot set mode of %s: %s", o->socket_path,
                         strerror(errno));
    return 0;
}

int rpc_server_new(const struct rpc_server_options *o, const struct rpc_method *methods, size_t n_methods,
                   struct rpc_server **ret, struct cleat_error **reterr) {
    struct rpc_server *s = calloc(1, sizeof(*s));
    if (!s || !(s->socket_path = strdup(o->socket_path)) ||
        !(s->workers = calloc(o->workers ? o->workers : 1, sizeof(*s->workers)))) {
        if (s)
            free(s->socket_path);
        free(s);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    grpc_init();
    s->n_workers = o->workers ? o->workers : 1;
    s->methods = methods;
    s->n_methods = n_methods;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->streams_done, NULL);
    int max = o->max_message_bytes > INT32_MAX ? INT32_MAX : (int)o->max_message_bytes;
    grpc_arg args[2] = {
        {.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, .value.integer = max},
        {.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, .value.integer = max},
    };
    grpc_channel_args chargs = {.num_args = 2, .args = args};
    s->server = grpc_server_create(&chargs, NULL);
    for (uint32_t i = 0; i < s->n_workers; i++) {
        s->workers[i].server = s;
        s->workers[i].notify_cq = grpc_completion_queue_create_for_next(NULL);
        s->workers[i].call_cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(s->server, s->workers[i].notify_cq, NULL);
    }
    s->shutdown_cq = grpc_completion_queue_create_for_pluck(NULL);
    int r = listen_unix(s, o, reterr);
    if (r < 0) {
        rpc_server_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

int rpc_server_start(struct rpc_server *s, struct cleat_error **reterr) {
    grpc_server_start(s->server);
    s->started = 1;
    for (uint32_t i = 0; i < s->n_workers; i++) {
        int r = pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]);
        if (r != 0)
            return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, r, "cannot start gRPC worker %u of %u", i + 1,
                             s->n_workers);
        s->workers[i].started = 1;
    }
    return 0;
}

void rpc_server_shutdown(struct rpc_server *s, int64_t grace_ms) {
    if (!s || s->shut_down)
        return;
    s->shut_down = 1;
    atomic_store(&s->stopping, 1);
    grpc_server_shutdown_and_notify(s->server, s->shutdown_cq, &tag_shutdown);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(grace_ms, GPR_TIMESPAN));
    if (!s->started ||
        grpc_completion_queue_pluck(s->shutdown_cq, &tag_shutdown, deadline, NULL).type != GRPC_OP_COMPLETE) {
        grpc_server_cancel_all_calls(s->server);
        grpc_completion_queue_pluck(s->shutdown_cq, &tag_shutdown, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    }
    for (uint32_t i = 0; i < s->n_workers; i++) {
        grpc_completion_queue_shutdown(s->workers[i].notify_cq);
        if (s->workers[i].started)
            pthread_join(s->workers[i].thread, NULL);
    }
    pthread_mutex_lock(&s->lock);
    while (s->n_streams > 0)
        pthread_cond_wait(&s->streams_done, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

void rpc_server_free(struct rpc_server *s) {
    if (!s)
        return;
    rpc_server_shutdown(s, 0);
    grpc_server_destroy(s->server);
    for (uint32_t i = 0; i < s->n_workers; i++) {
        destroy_cq(s->workers[i].notify_cq);
        destroy_cq(s->workers[i].call_cq);
    }
    grpc_completion_queue_shutdown(s->shutdown_cq);
    grpc_completion_queue_destroy(s->shutdown_cq);
    if (s->socket_path)
        unlink(s->socket_path);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->streams_done);
    free(s->workers);
    free(s->socket_path);
    free(s);
    grpc_shutdown();
}
