/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-kata's ttrpc layer (plugins/runtime-kata, the cleat-kata-ttrpc
 * library): the frame, the client against a server played byte by byte by
 * the test on a real unix socket (kata_peer.h), shim_call's encoding and
 * shim_stats_decode.  The events server is test_kata_events.c's, the real
 * containerd-shim-runc-v2 test_kata_shim.c's.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "plugin_loader.h"
#include "testutil.h"

#include "kata_peer.h"

#include "shim_call.h"
#include "shim_stats.h"
#include "shimv2.pb-c.h"
#include "ttrpc.h"
#include "ttrpc.pb-c.h"
#include "ttrpc_wire.h"

/* --- fixture: a host table, a temp dir, a listening socket the test serves by hand ------------------------------- */

struct fx {
    struct plugin_instance pi;
    const struct cleat_host *host;
    char dir[256], path[300];
    int listen_fd; /* the test's "shim" */
    int srv;       /* its end of the client's connection */
    struct ttrpc_client *c;
};

static int setup(void **state) {
    struct fx *f = calloc(1, sizeof(*f));
    f->pi.name = "test";
    f->pi.log_prefix = "test";
    plugin_host_init(&f->pi.host, &f->pi, NULL);
    f->host = &f->pi.host;
    temp_dir(f->dir, sizeof(f->dir), "cleat-kata-ttrpc");
    snprintf(f->path, sizeof(f->path), "%s/shim.sock", f->dir);
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa;
    socklen_t sa_len;
    assert_int_equal(ttrpc_address_parse(f->path, &sa, &sa_len), 0);
    assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sa_len), 0);
    assert_int_equal(listen(f->listen_fd, 8), 0);
    f->srv = -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fx *f = *state;
    ttrpc_close(f->c);
    if (f->srv >= 0)
        close(f->srv);
    close(f->listen_fd);
    rm_rf(f->dir);
    free(f);
    return 0;
}

/* Connect the client and accept its connection as the test's server end. */
static void connect_client(struct fx *f) {
    struct cleat_error *err = NULL;
    OK(ttrpc_connect(f->host, f->path, 1000, &f->c, &err));
    f->srv = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(f->srv >= 0);
}

/* --- calls on threads of their own ------------------------------------------------------------------------------- */

struct call {
    struct ttrpc_client *c;
    const char *method;
    const char *payload;
    int timeout_ms;
    pthread_t thread;
    int done; /* set (under `lock`) when the call returned */
    int r;
    int32_t status;
    char message[512];
    char resp[256];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *call_main(void *arg) {
    struct call *k = arg;
    struct cleat_error *err = NULL;
    uint8_t *resp = NULL;
    size_t len = 0;
    int r = ttrpc_call(k->c, "test.Service", k->method, (const uint8_t *)k->payload,
                       k->payload ? strlen(k->payload) : 0, k->timeout_ms, &resp, &len, &err);
    pthread_mutex_lock(&lock);
    k->r = r;
    if (r < 0) {
        k->status = error_status(err);
        snprintf(k->message, sizeof(k->message), "%s", error_message(err));
        error_free(err);
    } else {
        assert_non_null(resp);
        snprintf(k->resp, sizeof(k->resp), "%.*s", (int)len, (const char *)resp);
        free(resp);
    }
    k->done = 1;
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void call_start(struct call *k, struct ttrpc_client *c, const char *method, const char *payload,
                       int timeout_ms) {
    memset(k, 0, sizeof(*k));
    k->c = c;
    k->method = method;
    k->payload = payload;
    k->timeout_ms = timeout_ms;
    assert_int_equal(pthread_create(&k->thread, NULL, call_main, k), 0);
}

static int call_done(struct call *k) {
    pthread_mutex_lock(&lock);
    int d = k->done;
    pthread_mutex_unlock(&lock);
    return d;
}

static void call_join(struct call *k) {
    pthread_join(k->thread, NULL);
}

static void expect_answer(struct call *k, const char *resp) {
    call_join(k);
    if (k->r < 0)
        fail_msg("%s failed: %s", k->method, k->message);
    assert_string_equal(k->resp, resp);
}

static void expect_failure(struct call *k, int32_t status, const char *needle) {
    call_join(k);
    assert_true(k->r < 0);
    if (k->status != status || !strstr(k->message, needle))
        fail_msg("%s: expected status %d with '%s', got %d: %s", k->method, status, needle, k->status, k->message);
}

/* --- the frame ---------------------------------------------------------------------------------------------------- */

static void test_header_codec(void **state) {
    (void)state;
    uint8_t b[TTRPC_HEADER_LEN];
    struct ttrpc_header h = {.length = 0x01020304, .stream_id = 0xa0b0c0d0, .type = 2, .flags = 5}, back;
    ttrpc_header_encode(&h, b);
    static const uint8_t want[TTRPC_HEADER_LEN] = {1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0, 2, 5}; /* big-endian */
    assert_memory_equal(b, want, sizeof(want));
    ttrpc_header_decode(b, &back);
    assert_int_equal(back.length, h.length);
    assert_int_equal(back.stream_id, h.stream_id);
    assert_int_equal(back.type, 2);
    assert_int_equal(back.flags, 5);
}

static void test_address_forms(void **state) {
    (void)state;
    struct sockaddr_un sa;
    socklen_t len;
    assert_int_equal(ttrpc_address_parse("unix:///run/s/abc", &sa, &len), 0);
    assert_string_equal(sa.sun_path, "/run/s/abc");
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + strlen("/run/s/abc") + 1);
    assert_int_equal(ttrpc_address_parse("/run/s/abc", &sa, &len), 0);
    assert_string_equal(sa.sun_path, "/run/s/abc");
    assert_int_equal(ttrpc_address_parse("unix://@shim-x", &sa, &len), 0);
    assert_int_equal(sa.sun_path[0], '\0'); /* abstract: a NUL, then the name, length exact */
    assert_memory_equal(sa.sun_path + 1, "shim-x", 6);
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 7);
    assert_int_equal(ttrpc_address_parse("@shim-x", &sa, &len), 0);
    assert_int_equal(ttrpc_address_parse("tcp://127.0.0.1:1", &sa, &len), -EINVAL);
    assert_int_equal(ttrpc_address_parse("relative/path", &sa, &len), -EINVAL);
    assert_int_equal(ttrpc_address_parse("unix://", &sa, &len), -EINVAL);
    assert_int_equal(ttrpc_address_parse("@", &sa, &len), -EINVAL);
    char lng[200];
    memset(lng, 'a', sizeof(lng));
    lng[0] = '/';
    lng[sizeof(lng) - 1] = '\0';
    assert_int_equal(ttrpc_address_parse(lng, &sa, &len), -ENAMETOOLONG);
}

/* --- the client --------------------------------------------------------------------------------------------------- */

/* The request frame's bytes as the wire has them, and the answer handed back. */
static void test_call_frames(void **state) {
    struct fx *f = *state;
    connect_client(f);
    struct call k;
    call_start(&k, f->c, "Create", "abc", 1500);
    uint8_t head[TTRPC_HEADER_LEN];
    assert_int_equal(ttrpc_read_full(f->srv, head, sizeof(head)), 0);
    struct ttrpc_header h;
    ttrpc_header_decode(head, &h);
    assert_int_equal(head[0], 0); /* reserved: lengths stay below 16 MiB */
    static const uint8_t id_type_flags[6] = {0, 0, 0, 1, TTRPC_TYPE_REQUEST, 0};
    assert_memory_equal(head + 4, id_type_flags, sizeof(id_type_flags)); /* stream 1, big-endian; unary */
    uint8_t *data = malloc(h.length);
    assert_int_equal(ttrpc_read_full(f->srv, data, h.length), 0);
    Ttrpc__Request *req = ttrpc__request__unpack(NULL, h.length, data);
    assert_non_null(req);
    assert_string_equal(req->service, "test.Service");
    assert_string_equal(req->method, "Create");
    assert_int_equal(req->payload.len, 3);
    assert_memory_equal(req->payload.data, "abc", 3);
    assert_int_equal(req->timeout_nano, 1500000000LL);
    ttrpc__request__free_unpacked(req, NULL);
    free(data);
    peer_send_response(f->srv, 1, 0, "", "xyz");
    expect_answer(&k, "xyz");

    call_start(&k, f->c, "Start", NULL, 0); /* the next stream: odd, increasing; no deadline sent */
    uint32_t stream;
    req = peer_read_request(f->srv, &stream);
    assert_int_equal(stream, 3);
    assert_int_equal(req->timeout_nano, 0);
    assert_int_equal(req->payload.len, 0);
    ttrpc__request__free_unpacked(req, NULL);
    peer_send_response(f->srv, 3, 0, "", NULL); /* an empty answer (google.protobuf.Empty) */
    expect_answer(&k, "");
    assert_int_equal(ttrpc_alive(f->c), 1);
}

/* The answer arrives a byte at a time. */
static void test_partial_reads(void **state) {
    struct fx *f = *state;
    connect_client(f);
    struct call k;
    call_start(&k, f->c, "State", "q", 0);
    uint32_t stream;
    ttrpc__request__free_unpacked(peer_read_request(f->srv, &stream), NULL);
    uint8_t *buf;
    size_t n = peer_response_frame(stream, 0, "", "split anyhow", 12, &buf);
    for (size_t i = 0; i < n; i++) {
        peer_write_all(f->srv, buf + i, 1);
        usleep(500);
        if (i + 1 < n)
            assert_false(call_done(&k));
    }
    free(buf);
    expect_answer(&k, "split anyhow");
}

/* Two calls in flight on one connection: the later one is answered first, and does not wait for the other. */
static void test_out_of_order(void **state) {
    struct fx *f = *state;
    connect_client(f);
    struct call wait, st;
    uint32_t s1, s2;
    call_start(&wait, f->c, "Wait", "w", 0);
    ttrpc__request__free_unpacked(peer_read_request(f->srv, &s1), NULL);
    call_start(&st, f->c, "State", "s", 0);
    ttrpc__request__free_unpacked(peer_read_request(f->srv, &s2), NULL);
    assert_int_not_equal(s1, s2);
    peer_send_response(f->srv, s2, 0, "", "state answer");
    expect_answer(&st, "state answer");
    assert_false(call_done(&wait));
    peer_send_response(f->srv, s1, 0, "", "wait answer");
    expect_answer(&wait, "wait answer");
}

/* Frames for streams no call waits for, and Data frames, are dropped; the call gets its own answer. */
static void test_unknown_stream(void **state) {
    struct fx *f = *state;
    connect_client(f);
    struct call k;
    call_start(&k, f->c, "State", NULL, 0);
    uint32_t stream;
    ttrpc__request__free_unpacked(peer_read_request(f->srv, &stream), NULL);
    peer_send_response(f->srv, 99, 0, "", "not yours");
    peer_send_header(f->srv, 4, stream, TTRPC_TYPE_DATA);
    peer_write_all(f->srv, "data", 4);
    peer_send_response(f->srv, stream, 0, "", "yours");
    expect_answer(&k, "yours");
    assert_int_equal(ttrpc_alive(f->c), 1);
}

/* An answer above 4 MiB fails its call and is skipped; the connection goes on.  A request above it is not sent. */
static void test_oversized(void **state) {
    struct fx *f = *state;
    connect_client(f);
    struct call k;
    call_start(&k, f->c, "Stats", NULL, 0);
    uint32_t stream;
    ttrpc__request__free_unpacked(peer_read_request(f->srv, &stream), NULL);
    size_t big = TTRPC_MESSAGE_MAX + 1;
    uint8_t *zeros = calloc(1, big);
    peer_send_header(f->srv, (uint32_t)big, stream, TTRPC_TYPE_RESPONSE);
    peer_write_all(f->srv, zeros, big);
    expect_failure(&k, CLEAT_STATUS_RESOURCE_EXHAUSTED, "more than the ttrpc limit");
    assert_int_equal(ttrpc_alive(f->c), 1);

    struct cleat_error *err = NULL;
    uint8_t *resp = NULL;
    size_t len = 0;
    expect_error(ttrpc_call(f->c, "test.Service", "Big", zeros, big, 0, &resp, &len, &err), &err,
                 CLEAT_STATUS_RESOURCE_EXHAUSTED, "more than the ttrpc limit");
    free(zeros);
    struct pollfd p = {.fd = f->srv, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 50), 0); /* nothing was sent */

    call_start(&k, f->c, "State", NULL, 0);
    ttrpc__request__free_unpacked(peer_read_request(f->srv, &stream), NULL);
    peer_send_response(f->srv, stream, 0, "", "still here");
    expect_answer(&k, "still here");
}

/* A length of 16 MiB or more is not a ttrpc frame: the connection is lost. */
static void test_not_ttrpc(void **state) {
    struct fx *f = *state;
    connect_client(f);
    struct call k;
    call_start(&k, f->c, "State", NULL, 0);
    uint32_t stream;
    ttrpc__request__free_unpacked(peer_read_request(f->srv, &stream), NULL);
    peer_write_all(f->srv, "HTTP/1.1 400 Bad Request\r\n", 26);
    expect_failure(&k, CLEAT_STATUS_UNAVAILABLE, "not ttrpc");
    assert_int_equal(ttrpc_alive(f->c), 0);
}

/* The shim goes away during a call, before and in the middle of its answer. */
static void test_peer_closes(void **state) {
    struct fx *f = *state;
    connect_client(f);
    struct call k;
    call_start(&k, f->c, "Wait", NULL, 0);
    uint32_t stream;
    ttrpc__request__free_unpacked(peer_read_request(f->srv, &stream), NULL);
    uint8_t *buf;
    size_t n = peer_response_frame(stream, 0, "", "cut short", 9, &buf);
    peer_write_all(f->srv, buf, n - 3); /* most of the answer */
    free(buf);
    usleep(20000);
    assert_false(call_done(&k));
    close(f->srv);
    f->srv = -1;
    expect_failure(&k, CLEAT_STATUS_UNAVAILABLE, "closed the connection");
    assert_int_equal(ttrpc_alive(f->c), 0);
    /* Every later call fails at once, naming the shim. */
    call_start(&k, f->c, "State", NULL, 0);
    expect_failure(&k, CLEAT_STATUS_UNAVAILABLE, f->path);
}

/* A call with a deadline gets DEADLINE_EXCEEDED; the late answer is dropped, the next call gets its own. */
static void test_deadline(void **state) {
    struct fx *f = *state;
    connect_client(f);
    struct call k;
    call_start(&k, f->c, "Delete", NULL, 200);
    uint32_t late;
    Ttrpc__Request *req = peer_read_request(f->srv, &late);
    assert_int_equal(req->timeout_nano, 200000000LL); /* the shim is told the deadline */
    ttrpc__request__free_unpacked(req, NULL);
    expect_failure(&k, CLEAT_STATUS_DEADLINE_EXCEEDED, "did not answer within 200 ms");
    assert_int_equal(ttrpc_alive(f->c), 1);
    call_start(&k, f->c, "State", NULL, 2000);
    uint32_t stream;
    ttrpc__request__free_unpacked(peer_read_request(f->srv, &stream), NULL);
    peer_send_response(f->srv, late, 0, "", "too late");
    peer_send_response(f->srv, stream, 0, "", "on time");
    expect_answer(&k, "on time");
}

/* The shim's status becomes the error's, with its message. */
static void test_status(void **state) {
    struct fx *f = *state;
    connect_client(f);
    struct call k;
    uint32_t stream;
    call_start(&k, f->c, "State", NULL, 0);
    ttrpc__request__free_unpacked(peer_read_request(f->srv, &stream), NULL);
    peer_send_response(f->srv, stream, CLEAT_STATUS_NOT_FOUND, "container x: not found", NULL);
    expect_failure(&k, CLEAT_STATUS_NOT_FOUND, "State: container x: not found");
    call_start(&k, f->c, "Kill", NULL, 0);
    ttrpc__request__free_unpacked(peer_read_request(f->srv, &stream), NULL);
    peer_send_response(f->srv, stream, 4242, "odd", NULL);
    expect_failure(&k, CLEAT_STATUS_UNKNOWN, "Kill: odd");
    call_start(&k, f->c, "Pids", NULL, 0);
    ttrpc__request__free_unpacked(peer_read_request(f->srv, &stream), NULL);
    peer_send_header(f->srv, 3, stream, TTRPC_TYPE_RESPONSE);
    peer_write_all(f->srv, "\xff\xff\xff", 3);
    expect_failure(&k, CLEAT_STATUS_INTERNAL, "not a ttrpc response");
    assert_int_equal(ttrpc_alive(f->c), 1);
}

/* ttrpc_close() fails the calls still waiting, and returns once they are out. */
static void test_close_fails_pending(void **state) {
    struct fx *f = *state;
    connect_client(f);
    struct call k;
    call_start(&k, f->c, "Wait", NULL, 0);
    uint32_t stream;
    ttrpc__request__free_unpacked(peer_read_request(f->srv, &stream), NULL); /* the call is in flight */
    ttrpc_close(f->c);
    f->c = NULL;
    expect_failure(&k, CLEAT_STATUS_UNAVAILABLE, "was disconnected by cleat");
    ttrpc_close(NULL);
}

static void test_connect_errors(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    struct ttrpc_client *c = NULL;
    char missing[400];
    snprintf(missing, sizeof(missing), "unix://%s/absent.sock", f->dir);
    expect_error(ttrpc_connect(f->host, missing, 100, &c, &err), &err, CLEAT_STATUS_UNAVAILABLE, "absent.sock");
    expect_error(ttrpc_connect(f->host, "vsock://3:1024", 100, &c, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "not a unix socket address");
    assert_null(c);
    /* An abstract socket. */
    char name[64], addr[80];
    snprintf(name, sizeof(name), "cleat-kata-test-%d", (int)getpid());
    snprintf(addr, sizeof(addr), "unix://@%s", name);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path + 1, name, strlen(name));
    assert_int_equal(
        bind(l, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name))), 0);
    assert_int_equal(listen(l, 1), 0);
    OK(ttrpc_connect(f->host, addr, 100, &c, &err));
    assert_string_equal(ttrpc_address(c), addr);
    int a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    assert_true(a >= 0);
    ttrpc_close(c);
    close(a);
    close(l);
}

/* --- shim_call ---------------------------------------------------------------------------------------------------- */

struct typed {
    struct ttrpc_client *c;
    const char *method;
    const ProtobufCMessage *req;
    const ProtobufCMessageDescriptor *desc;
    ProtobufCMessage *resp;
    int r;
    struct cleat_error *err;
};

static void *typed_main(void *arg) {
    struct typed *t = arg;
    t->r = shim_call(t->c, t->method, t->req, t->desc, 0, &t->resp, &t->err);
    return NULL;
}

static void test_shim_call(void **state) {
    struct fx *f = *state;
    connect_client(f);
    Shimv2__StateRequest sr = SHIMV2__STATE_REQUEST__INIT;
    sr.id = "ctr1";
    sr.exec_id = "e1";
    struct typed t = {.c = f->c, .method = "State", .req = &sr.base, .desc = &shimv2__state_response__descriptor};
    pthread_t th;
    pthread_create(&th, NULL, typed_main, &t);
    uint32_t stream;
    Ttrpc__Request *req = peer_read_request(f->srv, &stream);
    assert_string_equal(req->service, "containerd.task.v2.Task");
    assert_string_equal(req->method, "State");
    Shimv2__StateRequest *got = shimv2__state_request__unpack(NULL, req->payload.len, req->payload.data);
    assert_string_equal(got->id, "ctr1");
    assert_string_equal(got->exec_id, "e1");
    shimv2__state_request__free_unpacked(got, NULL);
    ttrpc__request__free_unpacked(req, NULL);
    Shimv2__StateResponse st = SHIMV2__STATE_RESPONSE__INIT;
    Shimv2__Timestamp at = SHIMV2__TIMESTAMP__INIT;
    at.seconds = 1700000000;
    at.nanos = 5;
    st.id = "ctr1";
    st.pid = 42;
    st.status = SHIMV2__TASK_STATUS__TASK_STATUS_STOPPED;
    st.exit_status = 3;
    st.exited_at = &at;
    uint8_t payload[256];
    size_t n = shimv2__state_response__pack(&st, payload);
    uint8_t *buf;
    size_t len = peer_response_frame(stream, 0, "", payload, n, &buf);
    peer_write_all(f->srv, buf, len);
    free(buf);
    pthread_join(th, NULL);
    check(t.r, t.err);
    Shimv2__StateResponse *resp = (Shimv2__StateResponse *)t.resp;
    assert_int_equal(resp->pid, 42);
    assert_int_equal(resp->status, SHIMV2__TASK_STATUS__TASK_STATUS_STOPPED);
    assert_int_equal(resp->exit_status, 3);
    assert_int_equal(shim_timestamp_ns(resp->exited_at), 1700000000000000005LL);
    protobuf_c_message_free_unpacked(t.resp, NULL);

    /* An answer that is not the response type: INTERNAL naming it. */
    t.resp = NULL;
    pthread_create(&th, NULL, typed_main, &t);
    ttrpc__request__free_unpacked(peer_read_request(f->srv, &stream), NULL);
    peer_send_response(f->srv, stream, 0, "", "\x0a\x50garbage"); /* field 1, a length past the end */
    pthread_join(th, NULL);
    expect_error(t.r, &t.err, CLEAT_STATUS_INTERNAL, "not a shimv2.StateResponse");
    assert_null(t.resp);
}

static void test_shim_names(void **state) {
    (void)state;
    assert_true(shim_type_is("containerd.events.TaskExit", SHIM_TYPE_TASK_EXIT));
    assert_true(shim_type_is("type.googleapis.com/containerd.events.TaskExit", SHIM_TYPE_TASK_EXIT));
    assert_false(shim_type_is("containerd.events.TaskExitX", SHIM_TYPE_TASK_EXIT));
    assert_false(shim_type_is("xcontainerd.events.TaskExit", SHIM_TYPE_TASK_EXIT));
    assert_false(shim_type_is("containerd.events.TaskOOM", SHIM_TYPE_TASK_EXIT));
    assert_true(shim_type_is(SHIM_TYPE_OCI_PROCESS, SHIM_TYPE_OCI_PROCESS));
    assert_false(shim_type_is(NULL, SHIM_TYPE_TASK_EXIT));
    assert_int_equal(shim_timestamp_ns(NULL), 0);
}

/* shim_stats_decode: the CRI's figures from v1 and v2 metrics, as containerd's CRI and cleat's own cgroup reader take them. */
static void test_shim_stats(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    struct shim_stats st;
    uint8_t buf[1024];
    Shimv2__Any any = SHIMV2__ANY__INIT;
    any.value.data = buf;

    Shimv2__CgroupsV1CpuUsage cu = SHIMV2__CGROUPS_V1_CPU_USAGE__INIT;
    Shimv2__CgroupsV1CpuStat cpu = SHIMV2__CGROUPS_V1_CPU_STAT__INIT;
    Shimv2__CgroupsV1MemoryEntry usage = SHIMV2__CGROUPS_V1_MEMORY_ENTRY__INIT;
    Shimv2__CgroupsV1MemoryStat mem = SHIMV2__CGROUPS_V1_MEMORY_STAT__INIT;
    Shimv2__CgroupsV1PidsStat pids = SHIMV2__CGROUPS_V1_PIDS_STAT__INIT;
    Shimv2__CgroupsV1Metrics v1 = SHIMV2__CGROUPS_V1_METRICS__INIT;
    cu.total = 123456789;
    cpu.usage = &cu;
    usage.usage = 10000;
    usage.limit = UINT64_C(9223372036854771712); /* PAGE_COUNTER_MAX pages: no limit */
    mem.usage = &usage;
    mem.total_inactive_file = 4000;
    mem.inactive_file = 1; /* the cgroup's own counters are not the ones (total_* include its children) */
    mem.total_rss = 5000;
    mem.rss = 1;
    mem.total_pg_fault = 77;
    mem.total_pg_maj_fault = 3;
    pids.current = 2;
    v1.cpu = &cpu;
    v1.memory = &mem;
    v1.pids = &pids;
    any.type_url = "io.containerd.cgroups.v1.Metrics";
    any.value.len = shimv2__cgroups_v1_metrics__pack(&v1, buf);
    OK(shim_stats_decode(f->host, &any, &st, &err));
    assert_int_equal(st.have, SHIM_STATS_HAVE_CPU | SHIM_STATS_HAVE_MEMORY | SHIM_STATS_HAVE_PIDS);
    assert_int_equal(st.cpu_usage_ns, 123456789);
    assert_int_equal(st.memory_usage_bytes, 10000);
    assert_int_equal(st.memory_working_set_bytes, 6000);
    assert_int_equal(st.memory_rss_bytes, 5000);
    assert_int_equal(st.memory_page_faults, 77);
    assert_int_equal(st.memory_major_page_faults, 3);
    assert_int_equal(st.pids, 2);
    assert_int_equal(st.memory_limit_bytes, 0);
    usage.limit = 256 << 20;
    any.value.len = shimv2__cgroups_v1_metrics__pack(&v1, buf);
    OK(shim_stats_decode(f->host, &any, &st, &err));
    assert_int_equal(st.memory_limit_bytes, 256 << 20);
    mem.total_inactive_file = 20000; /* more inactive than used: the working set is 0, not a wrapped number */
    v1.cpu = NULL;
    v1.pids = NULL;
    any.value.len = shimv2__cgroups_v1_metrics__pack(&v1, buf);
    OK(shim_stats_decode(f->host, &any, &st, &err));
    assert_int_equal(st.have, SHIM_STATS_HAVE_MEMORY);
    assert_int_equal(st.memory_working_set_bytes, 0);
    assert_int_equal(st.cpu_usage_ns, 0);

    Shimv2__CgroupsV2CpuStat cpu2 = SHIMV2__CGROUPS_V2_CPU_STAT__INIT;
    Shimv2__CgroupsV2MemoryStat mem2 = SHIMV2__CGROUPS_V2_MEMORY_STAT__INIT;
    Shimv2__CgroupsV2PidsStat pids2 = SHIMV2__CGROUPS_V2_PIDS_STAT__INIT;
    Shimv2__CgroupsV2Metrics v2 = SHIMV2__CGROUPS_V2_METRICS__INIT;
    cpu2.usage_usec = 5000;
    mem2.usage = 9000;
    mem2.inactive_file = 1000;
    mem2.anon = 7000;
    mem2.pgfault = 11;
    mem2.pgmajfault = 1;
    mem2.usage_limit = 64 << 20;
    pids2.current = 4;
    v2.cpu = &cpu2;
    v2.memory = &mem2;
    v2.pids = &pids2;
    any.type_url = "type.googleapis.com/io.containerd.cgroups.v2.Metrics";
    any.value.len = shimv2__cgroups_v2_metrics__pack(&v2, buf);
    OK(shim_stats_decode(f->host, &any, &st, &err));
    assert_int_equal(st.cpu_usage_ns, 5000000);
    assert_int_equal(st.memory_usage_bytes, 9000);
    assert_int_equal(st.memory_working_set_bytes, 8000);
    assert_int_equal(st.memory_rss_bytes, 7000);
    assert_int_equal(st.memory_page_faults, 11);
    assert_int_equal(st.memory_limit_bytes, 64 << 20);
    assert_int_equal(st.memory_major_page_faults, 1);
    assert_int_equal(st.pids, 4);

    any.type_url = "io.containerd.cgroups.v3.Metrics";
    expect_error(shim_stats_decode(f->host, &any, &st, &err), &err, CLEAT_STATUS_UNIMPLEMENTED,
                 "'io.containerd.cgroups.v3.Metrics'");
    any.type_url = "io.containerd.cgroups.v1.Metrics";
    any.value.data = (uint8_t *)"\x1a\x50x";
    any.value.len = 3;
    expect_error(shim_stats_decode(f->host, &any, &st, &err), &err, CLEAT_STATUS_INTERNAL, "does not parse");
    expect_error(shim_stats_decode(f->host, NULL, &st, &err), &err, CLEAT_STATUS_INTERNAL, "no metrics");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_codec),
        cmocka_unit_test(test_address_forms),
        cmocka_unit_test_setup_teardown(test_call_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_ttrpc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_fails_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shim_call, setup, teardown),
        cmocka_unit_test(test_shim_names),
        cmocka_unit_test_setup_teardown(test_shim_stats, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
