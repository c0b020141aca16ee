/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gRPC server with a method table of its own, driven by a gRPC core
 * client over a real unix socket: unary replies and errors, unknown methods,
 * server streams (complete, and cancelled by the client), and a slow call
 * that must not hold up a fast one.
 */
#include <errno.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "api.pb-c.h"
#include "rpc_server.h"

static sem_t slow_may_finish;
static sem_t stream_saw_cancel;
static sem_t watch_started, watch_saw_cancel;
static int watch_polls_before_cancel;

/* Echo: runtime_name = the request's version. */
static int echo(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                struct cleat_error **reterr) {
    const Runtime__V1__VersionRequest *in = (const Runtime__V1__VersionRequest *)req;
    Runtime__V1__VersionResponse *out = ARENA_NEW(call->arena, Runtime__V1__VersionResponse);
    runtime__v1__version_response__init(out);
    out->runtime_name = arena_strdup(call->arena, in->version);
    *ret = &out->base;
    return 0;
}

static int refuse(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                  struct cleat_error **reterr) {
    return error_set(reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "pod sandbox 'abc' not found");
}

/* Blocks until the test says so: it must occupy one worker only. */
static int slow(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                struct cleat_error **reterr) {
    sem_wait(&slow_may_finish);
    return echo(ctx, call, req, ret, reterr);
}

/* Polls rpc_call_cancelled, as the pull's monitor does: from another thread. */
static void *watch_thread(void *arg) {
    struct rpc_call *call = arg;
    sem_post(&watch_started);
    for (int i = 0; i < 2000; i++) {
        if (rpc_call_cancelled(call)) {
            watch_polls_before_cancel = i;
            sem_post(&watch_saw_cancel);
            return NULL;
        }
        usleep(10000);
    }
    return NULL;
}

/* Unary, until its client goes away (or 20 s): the answer says whether it noticed. */
static int watch(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                 struct cleat_error **reterr) {
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, watch_thread, call), 0);
    pthread_join(t, NULL);
    return rpc_call_cancelled(call) ? error_set(reterr, CLEAT_STATUS_CANCELLED, ECANCELED, "client left")
                                    : echo(ctx, call, req, ret, reterr);
}

/* Sends `version` (a number) messages, or forever when it is "forever", until the client leaves. */
static int count(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, struct rpc_stream *stream,
                 struct cleat_error **reterr) {
    const Runtime__V1__VersionRequest *in = (const Runtime__V1__VersionRequest *)req;
    int forever = strcmp(in->version, "forever") == 0;
    int n = forever ? 0 : atoi(in->version);
    for (int i = 0; forever || i < n; i++) {
        char name[16];
        Runtime__V1__VersionResponse out = RUNTIME__V1__VERSION_RESPONSE__INIT;
        snprintf(name, sizeof(name), "%d", i);
        out.runtime_name = name;
        int r = rpc_stream_send(stream, &out.base, reterr);
        if (r < 0) {
            if (forever)
                sem_post(&stream_saw_cancel);
            return r;
        }
        if (forever)
            usleep(20000);
    }
    return 0;
}

static struct rpc_method methods[] = {
    {"/t.S/Echo", &runtime__v1__version_request__descriptor, &runtime__v1__version_response__descriptor, echo, NULL,
     NULL},
    {"/t.S/Refuse", &runtime__v1__version_request__descriptor, &runtime__v1__version_response__descriptor, refuse, NULL,
     NULL},
    {"/t.S/Slow", &runtime__v1__version_request__descriptor, &runtime__v1__version_response__descriptor, slow, NULL,
     NULL},
    {"/t.S/Count", &runtime__v1__version_request__descriptor, &runtime__v1__version_response__descriptor, NULL, count,
     NULL},
    {"/t.S/Watch", &runtime__v1__version_request__descriptor, &runtime__v1__version_response__descriptor, watch, NULL,
     NULL},
    {"/t.S/Later", &runtime__v1__version_request__descriptor, &runtime__v1__version_response__descriptor, NULL, NULL,
     NULL},
};

struct fixture {
    char dir[64], sock[96];
    struct rpc_server *server;
    grpc_channel *channel;
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof(*f));
    struct cleat_error *err = NULL;
    strcpy(f->dir, "/tmp/cleat-rpc-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->sock, sizeof(f->sock), "%s/s.sock", f->dir);
    struct rpc_server_options o = {
        .socket_path = f->sock, .socket_mode = 0600, .workers = 2, .max_message_bytes = 1 << 20};
    if (rpc_server_new(&o, methods, sizeof(methods) / sizeof(methods[0]), &f->server, &err) < 0 ||
        rpc_server_start(f->server, &err) < 0)
        fail_msg("%s", error_message(err));
    char target[128];
    snprintf(target, sizeof(target), "unix:%s", f->sock);
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    f->channel = grpc_channel_create(target, creds, NULL);
    grpc_channel_credentials_release(creds);
    sem_init(&slow_may_finish, 0, 0);
    sem_init(&stream_saw_cancel, 0, 0);
    sem_init(&watch_started, 0, 0);
    sem_init(&watch_saw_cancel, 0, 0);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    grpc_channel_destroy(f->channel);
    rpc_server_free(f->server);
    assert_int_equal(access(f->sock, F_OK), -1); /* the socket file is removed */
    rmdir(f->dir);
    free(f);
    return 0;
}

struct client_call {
    grpc_call *call;
    grpc_completion_queue *cq;
    grpc_metadata_array initial, trailing;
    grpc_status_code status;
    grpc_slice details;
};

static void *pluck(grpc_completion_queue *cq, void *tag) {
    grpc_event ev = grpc_completion_queue_pluck(cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    assert_int_equal(ev.type, GRPC_OP_COMPLETE);
    return ev.tag;
}

/*
 * Start a call and send its one request; with `initial`, also wait for the server's initial metadata (which
 * a unary handler sends only with its answer: call_start_unanswered does not wait for it).
 */
static void call_start_ops(struct fixture *f, struct client_call *c, const char *method, const char *version,
                           int initial) {
    static char tag_send;
    memset(c, 0, sizeof(*c));
    c->cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice m = grpc_slice_from_copied_string(method);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(20, GPR_TIMESPAN));
    c->call = grpc_channel_create_call(f->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq, m, NULL, deadline, NULL);
    grpc_slice_unref(m);
    Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
    req.version = (char *)version;
    uint8_t buf[256];
    size_t len = protobuf_c_message_pack(&req.base, buf);
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)buf, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_metadata_array_init(&c->initial);
    grpc_metadata_array_init(&c->trailing);
    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->initial;
    assert_int_equal(grpc_call_start_batch(c->call, ops, initial ? 4 : 3, &tag_send, NULL), GRPC_CALL_OK);
    pluck(c->cq, &tag_send);
    grpc_byte_buffer_destroy(bb);
}

static void call_start(struct fixture *f, struct client_call *c, const char *method, const char *version) {
    call_start_ops(f, c, method, version, 1);
}

/* The next message's runtime_name (malloc'd), or NULL at the end of the stream. */
static char *call_recv(struct client_call *c) {
    static char tag_recv;
    grpc_byte_buffer *bb = NULL;
    grpc_op op = {.op = GRPC_OP_RECV_MESSAGE, .data.recv_message.recv_message = &bb};
    assert_int_equal(grpc_call_start_batch(c->call, &op, 1, &tag_recv, NULL), GRPC_CALL_OK);
    pluck(c->cq, &tag_recv);
    if (!bb)
        return NULL;
    grpc_byte_buffer_reader r;
    assert_true(grpc_byte_buffer_reader_init(&r, bb));
    grpc_slice all = grpc_byte_buffer_reader_readall(&r);
    Runtime__V1__VersionResponse *resp =
        runtime__v1__version_response__unpack(NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
    assert_non_null(resp);
    char *name = strdup(resp->runtime_name);
    runtime__v1__version_response__free_unpacked(resp, NULL);
    grpc_slice_unref(all);
    grpc_byte_buffer_reader_destroy(&r);
    grpc_byte_buffer_destroy(bb);
    return name;
}

/* Wait for the status; returns the code, *details is malloc'd. */
static grpc_status_code call_finish(struct client_call *c, char **details) {
    static char tag_status;
    grpc_op op = {.op = GRPC_OP_RECV_STATUS_ON_CLIENT};
    op.data.recv_status_on_client.trailing_metadata = &c->trailing;
    op.data.recv_status_on_client.status = &c->status;
    op.data.recv_status_on_client.status_details = &c->details;
    assert_int_equal(grpc_call_start_batch(c->call, &op, 1, &tag_status, NULL), GRPC_CALL_OK);
    pluck(c->cq, &tag_status);
    if (details)
        *details = grpc_slice_to_c_string(c->details);
    grpc_slice_unref(c->details);
    grpc_metadata_array_destroy(&c->initial);
    grpc_metadata_array_destroy(&c->trailing);
    grpc_call_unref(c->call);
    grpc_completion_queue_shutdown(c->cq);
    grpc_completion_queue_destroy(c->cq);
    return c->status;
}

static void test_unary(void **state) {
    struct client_call c;
    call_start(*state, &c, "/t.S/Echo", "hello");
    char *name = call_recv(&c);
    assert_string_equal(name, "hello");
    free(name);
    assert_int_equal(call_finish(&c, NULL), GRPC_STATUS_OK);
}

static void test_error_status_and_message(void **state) {
    struct client_call c;
    char *details = NULL;
    call_start(*state, &c, "/t.S/Refuse", "x");
    assert_null(call_recv(&c));
    assert_int_equal(call_finish(&c, &details), GRPC_STATUS_NOT_FOUND);
    assert_string_equal(details, "pod sandbox 'abc' not found");
    gpr_free(details);
}

static void test_unimplemented(void **state) {
    const char *paths[] = {"/t.S/Later", "/t.S/NoSuchThing"};
    for (size_t i = 0; i < 2; i++) {
        struct client_call c;
        char *details = NULL;
        call_start(*state, &c, paths[i], "x");
        assert_null(call_recv(&c));
        assert_int_equal(call_finish(&c, &details), GRPC_STATUS_UNIMPLEMENTED);
        assert_non_null(strstr(details, paths[i]));
        gpr_free(details);
    }
}

static void test_stream(void **state) {
    struct client_call c;
    call_start(*state, &c, "/t.S/Count", "3");
    for (int i = 0; i < 3; i++) {
        char want[4], *got = call_recv(&c);
        snprintf(want, sizeof(want), "%d", i);
        assert_non_null(got);
        assert_string_equal(got, want);
        free(got);
    }
    assert_null(call_recv(&c));
    assert_int_equal(call_finish(&c, NULL), GRPC_STATUS_OK);
}

static void test_stream_cancelled_by_client(void **state) {
    struct client_call c;
    call_start(*state, &c, "/t.S/Count", "forever");
    char *first = call_recv(&c);
    assert_string_equal(first, "0");
    free(first);
    grpc_call_cancel(c.call, NULL);
    /* The handler learns of it and returns; shutdown in teardown would hang otherwise. */
    sem_wait(&stream_saw_cancel);
    assert_int_equal(call_finish(&c, NULL), GRPC_STATUS_CANCELLED);
}

/* A unary handler learns that its client cancelled; the worker then serves later calls as usual. */
static void test_unary_cancelled_by_client(void **state) {
    struct client_call c;
    call_start_ops(*state, &c, "/t.S/Watch", "x", 0);
    sem_wait(&watch_started);
    usleep(200000); /* a few polls (each up to 30 ms) that must say "still there" */
    grpc_call_cancel(c.call, NULL);
    /* The client's side is over at once; polling it lets grpc send the cancel (RST_STREAM). */
    assert_int_equal(call_finish(&c, NULL), GRPC_STATUS_CANCELLED);
    /* The server learns of it long before the call's deadline (20 s). */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    assert_int_equal(sem_timedwait(&watch_saw_cancel, &until), 0);
    assert_true(watch_polls_before_cancel >= 3);
    /* Both workers (2) serve again, with nothing of the cancelled call left on their queues. */
    for (int i = 0; i < 6; i++)
        test_unary(state);
}

struct slow_arg {
    struct fixture *f;
    grpc_status_code status;
};

static void *slow_client(void *arg) {
    struct slow_arg *a = arg;
    struct client_call c;
    call_start(a->f, &c, "/t.S/Slow", "late");
    char *name = call_recv(&c);
    assert_string_equal(name, "late");
    free(name);
    a->status = call_finish(&c, NULL);
    return NULL;
}

static void test_slow_call_does_not_block_fast_ones(void **state) {
    /*
     * A slow call and a stream hold their threads while fast calls go on.
     * If a fast call queued behind the slow one, it would never finish,
     * because the slow one waits for the fast ones (deadline: 20 s).
     */
    struct slow_arg a = {*state, GRPC_STATUS_UNKNOWN};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, slow_client, &a), 0);
    struct client_call s;
    call_start(*state, &s, "/t.S/Count", "forever");
    char *first = call_recv(&s);
    free(first);
    for (int i = 0; i < 10; i++)
        test_unary(state);
    sem_post(&slow_may_finish);
    pthread_join(t, NULL);
    assert_int_equal(a.status, GRPC_STATUS_OK);
    grpc_call_cancel(s.call, NULL);
    sem_wait(&stream_saw_cancel);
    call_finish(&s, NULL);
}

int main(void) {
    grpc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_status_and_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unimplemented, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_cancelled_by_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unary_cancelled_by_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_call_does_not_block_fast_ones, setup, teardown),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    grpc_shutdown();
    return r;
}
