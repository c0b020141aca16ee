/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-kata's events server (plugins/runtime-kata/ttrpc_server.c), the
 * receiving side of a shim's TTRPC_ADDRESS: Events/Forward through our own
 * client and through raw bytes (a byte at a time, several frames in one
 * write, a frame above 4 MiB, a peer that half-closes), and its socket.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "plugin_loader.h"
#include "testutil.h"

#include "kata_peer.h"
#include "shim_call.h"
#include "shimv2.pb-c.h"
#include "ttrpc.h"
#include "ttrpc.pb-c.h"
#include "ttrpc_server.h"
#include "ttrpc_wire.h"

struct fx {
    struct plugin_instance pi;
    const struct cleat_host *host;
    char dir[256];
};

static int setup(void **state) {
    struct fx *f = calloc(1, sizeof(*f));
    f->pi.name = "test";
    f->pi.log_prefix = "test";
    plugin_host_init(&f->pi.host, &f->pi, NULL);
    f->host = &f->pi.host;
    temp_dir(f->dir, sizeof(f->dir), "cleat-kata-events");
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fx *f = *state;
    rm_rf(f->dir);
    free(f);
    return 0;
}

/* Run a call that sets `err` (in scope) and fail with its message: the call is made before err is read. */
#define OK(call)                                                                                                       \
    do {                                                                                                               \
        int r_ = (call);                                                                                               \
        check(r_, err);                                                                                                \
    } while (0)

/* A socket bound (and listening) at `path`. */
static int bind_unix(const char *path) {
    struct sockaddr_un sa;
    socklen_t sa_len;
    assert_int_equal(ttrpc_address_parse(path, &sa, &sa_len), 0);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sa_len), 0);
    assert_int_equal(listen(fd, 1), 0);
    return fd;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

struct seen {
    int n;
    char topic[64], ns[64], type_url[128];
    uint8_t value[256];
    size_t len;
};

static void on_event(void *ctx, const char *topic, const char *ns, const char *type_url, const uint8_t *value,
                     size_t len) {
    struct seen *s = ctx;
    pthread_mutex_lock(&lock);
    s->n++;
    snprintf(s->topic, sizeof(s->topic), "%s", topic);
    snprintf(s->ns, sizeof(s->ns), "%s", ns);
    snprintf(s->type_url, sizeof(s->type_url), "%s", type_url);
    s->len = len < sizeof(s->value) ? len : sizeof(s->value);
    if (len)
        memcpy(s->value, value, s->len);
    pthread_mutex_unlock(&lock);
}

/* A serialized ForwardRequest of a TaskExit for `ctr` with `code`. */
static size_t forward_request(const char *ctr, uint32_t code, uint8_t *out) {
    Shimv2__TaskExit ex = SHIMV2__TASK_EXIT__INIT;
    ex.container_id = (char *)ctr;
    ex.id = (char *)ctr;
    ex.pid = 77;
    ex.exit_status = code;
    uint8_t exbuf[128];
    Shimv2__Any any = SHIMV2__ANY__INIT;
    any.type_url = SHIM_TYPE_TASK_EXIT;
    any.value.data = exbuf;
    any.value.len = shimv2__task_exit__pack(&ex, exbuf);
    Shimv2__Envelope env = SHIMV2__ENVELOPE__INIT;
    env.namespace_ = "k8s.io";
    env.topic = SHIM_TOPIC_TASK_EXIT;
    env.event = &any;
    Shimv2__ForwardRequest fw = SHIMV2__FORWARD_REQUEST__INIT;
    fw.envelope = &env;
    return shimv2__forward_request__pack(&fw, out);
}

static void expect_exit_event(struct seen *s, const char *ctr, uint32_t code) {
    pthread_mutex_lock(&lock);
    assert_string_equal(s->topic, "/tasks/exit");
    assert_string_equal(s->ns, "k8s.io");
    assert_string_equal(s->type_url, "containerd.events.TaskExit");
    Shimv2__TaskExit *ex = shimv2__task_exit__unpack(NULL, s->len, s->value);
    pthread_mutex_unlock(&lock);
    assert_non_null(ex);
    assert_string_equal(ex->container_id, ctr);
    assert_int_equal(ex->exit_status, code);
    assert_int_equal(ex->pid, 77);
    shimv2__task_exit__free_unpacked(ex, NULL);
}

static void test_events_forward(void **state) {
    struct fx *f = *state;
    struct seen s = {0};
    struct ttrpc_server *srv = NULL;
    struct ttrpc_client *c = NULL;
    struct cleat_error *err = NULL;
    char path[400];
    snprintf(path, sizeof(path), "%s/events.sock", f->dir);
    OK(ttrpc_events_serve(f->host, path, on_event, &s, &srv, &err));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    OK(ttrpc_connect(f->host, path, 1000, &c, &err));
    uint8_t req[512], *resp = NULL;
    size_t len = forward_request("c1", 9, req), rlen = 0;
    OK(ttrpc_call(c, SHIM_EVENTS_SERVICE, "Forward", req, len, 2000, &resp, &rlen, &err));
    assert_int_equal(rlen, 0); /* Empty */
    free(resp);
    assert_int_equal(s.n, 1);
    expect_exit_event(&s, "c1", 9);
    /* Anything else is refused, and the connection goes on. */
    expect_error(ttrpc_call(c, SHIM_EVENTS_SERVICE, "Subscribe", req, len, 2000, &resp, &rlen, &err), &err,
                 CLEAT_STATUS_UNIMPLEMENTED, "Subscribe");
    expect_error(ttrpc_call(c, SHIM_TASK_SERVICE, "Forward", req, len, 2000, &resp, &rlen, &err), &err,
                 CLEAT_STATUS_UNIMPLEMENTED, "containerd.task.v2.Task/Forward");
    expect_error(
        ttrpc_call(c, SHIM_EVENTS_SERVICE, "Forward", (const uint8_t *)"\x0a\x50x", 3, 2000, &resp, &rlen, &err), &err,
        CLEAT_STATUS_INVALID_ARGUMENT, "not a ForwardRequest");
    expect_error(ttrpc_call(c, SHIM_EVENTS_SERVICE, "Forward", NULL, 0, 2000, &resp, &rlen, &err), &err,
                 CLEAT_STATUS_INVALID_ARGUMENT, "no envelope");
    assert_int_equal(s.n, 1);
    ttrpc_server_stop(srv);
    /* Stopped: the socket is gone and the connection closed. */
    assert_int_equal(access(path, F_OK), -1);
    expect_error(ttrpc_call(c, SHIM_EVENTS_SERVICE, "Forward", req, len, 2000, &resp, &rlen, &err), &err,
                 CLEAT_STATUS_UNAVAILABLE, "closed the connection");
    ttrpc_close(c);
    ttrpc_server_stop(NULL);
}

/* A raw peer: a request written a byte at a time, two in one write, then a frame above 4 MiB. */
static void test_events_raw(void **state) {
    struct fx *f = *state;
    struct seen s = {0};
    struct ttrpc_server *srv = NULL;
    struct cleat_error *err = NULL;
    char path[400];
    snprintf(path, sizeof(path), "%s/events.sock", f->dir);
    OK(ttrpc_events_serve(f->host, path, on_event, &s, &srv, &err));
    int fd = peer_connect(path);

    uint8_t payload[512], frame[1024];
    Ttrpc__Request rq = TTRPC__REQUEST__INIT;
    rq.service = SHIM_EVENTS_SERVICE;
    rq.method = "Forward";
    rq.payload.data = payload;
    rq.payload.len = forward_request("c2", 1, payload);
    size_t n = ttrpc__request__pack(&rq, frame + TTRPC_HEADER_LEN);
    struct ttrpc_header h = {.length = (uint32_t)n, .stream_id = 1, .type = TTRPC_TYPE_REQUEST};
    ttrpc_header_encode(&h, frame);
    for (size_t i = 0; i < n + TTRPC_HEADER_LEN; i++) {
        peer_write_all(fd, frame + i, 1);
        usleep(200);
    }
    uint8_t *data;
    struct ttrpc_header got = peer_read_frame(fd, &data);
    assert_int_equal(got.type, TTRPC_TYPE_RESPONSE);
    assert_int_equal(got.stream_id, 1);
    Ttrpc__Response *resp = ttrpc__response__unpack(NULL, got.length, data);
    assert_non_null(resp);
    assert_int_equal(resp->status ? resp->status->code : 0, 0);
    ttrpc__response__free_unpacked(resp, NULL);
    free(data);
    expect_exit_event(&s, "c2", 1);

    /* Two frames in one write: streams 3 and 5 are both answered, in order. */
    uint8_t two[2048];
    memcpy(two, frame, n + TTRPC_HEADER_LEN);
    memcpy(two + n + TTRPC_HEADER_LEN, frame, n + TTRPC_HEADER_LEN);
    h.stream_id = 3;
    ttrpc_header_encode(&h, two);
    h.stream_id = 5;
    ttrpc_header_encode(&h, two + n + TTRPC_HEADER_LEN);
    peer_write_all(fd, two, 2 * (n + TTRPC_HEADER_LEN));
    assert_int_equal(peer_read_frame(fd, &data).stream_id, 3);
    free(data);
    assert_int_equal(peer_read_frame(fd, &data).stream_id, 5);
    free(data);
    assert_int_equal(s.n, 3);

    /* Above the limit: disconnected, and the server still serves others. */
    peer_send_header(fd, TTRPC_MESSAGE_MAX + 1, 7, TTRPC_TYPE_REQUEST);
    char byte;
    assert_int_equal(read(fd, &byte, 1), 0);
    close(fd);
    struct ttrpc_client *c = NULL;
    OK(ttrpc_connect(f->host, path, 1000, &c, &err));
    uint8_t *r = NULL;
    size_t rlen;
    OK(ttrpc_call(c, SHIM_EVENTS_SERVICE, "Forward", payload, rq.payload.len, 2000, &r, &rlen, &err));
    free(r);
    assert_int_equal(s.n, 4);
    ttrpc_close(c);
    ttrpc_server_stop(srv);
}

/*
 * A peer that sends many calls and closes its side before reading gets every answer, even those that did not fit
 * the socket's buffer when it closed (they were dropped once).
 */
static void test_events_half_close(void **state) {
    struct fx *f = *state;
    struct seen s = {0};
    struct ttrpc_server *srv = NULL;
    struct cleat_error *err = NULL;
    char path[400];
    snprintf(path, sizeof(path), "%s/events.sock", f->dir);
    OK(ttrpc_events_serve(f->host, path, on_event, &s, &srv, &err));
    int fd = peer_connect(path);
    enum { CALLS = 4000 }; /* their UNIMPLEMENTED answers: ~400 KB, more than a unix socket holds */
    Ttrpc__Request rq = TTRPC__REQUEST__INIT;
    rq.service = SHIM_EVENTS_SERVICE;
    rq.method = "Subscribe";
    uint8_t frame[256];
    size_t n = ttrpc__request__pack(&rq, frame + TTRPC_HEADER_LEN);
    for (uint32_t i = 0; i < CALLS; i++) {
        struct ttrpc_header h = {.length = (uint32_t)n, .stream_id = 2 * i + 1, .type = TTRPC_TYPE_REQUEST};
        ttrpc_header_encode(&h, frame);
        peer_write_all(fd, frame, TTRPC_HEADER_LEN + n);
    }
    shutdown(fd, SHUT_WR);
    usleep(100000); /* the server has seen the end before anything is read */
    for (uint32_t i = 0; i < CALLS; i++) {
        uint8_t *data;
        struct ttrpc_header h = peer_read_frame(fd, &data);
        free(data);
        assert_int_equal(h.stream_id, 2 * i + 1);
    }
    char byte;
    assert_int_equal(read(fd, &byte, 1), 0); /* then it closes */
    close(fd);
    ttrpc_server_stop(srv);
}

/* A socket left by an earlier run is replaced; anything else at the path, or a path too long, is refused. */
static void test_events_socket_path(void **state) {
    struct fx *f = *state;
    struct seen s = {0};
    struct ttrpc_server *srv = NULL;
    struct cleat_error *err = NULL;
    char stale[400];
    snprintf(stale, sizeof(stale), "%s/stale.sock", f->dir);
    close(bind_unix(stale)); /* a socket an earlier run left: bound, then its process gone */
    OK(ttrpc_events_serve(f->host, stale, on_event, &s, &srv, &err));
    ttrpc_server_stop(srv);
    srv = NULL;
    write_text(f->dir, "file", "x\n");
    char path[400];
    snprintf(path, sizeof(path), "%s/file", f->dir);
    expect_error(ttrpc_events_serve(f->host, path, on_event, &s, &srv, &err), &err, CLEAT_STATUS_ALREADY_EXISTS,
                 "not a socket");
    assert_int_equal(access(path, F_OK), 0); /* left alone */
    char lng[512];
    snprintf(lng, sizeof(lng), "%s/%0200d", f->dir, 0);
    expect_error(ttrpc_events_serve(f->host, lng, on_event, &s, &srv, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "too long");
    expect_error(ttrpc_events_serve(f->host, "relative.sock", on_event, &s, &srv, &err), &err,
                 CLEAT_STATUS_INVALID_ARGUMENT, "not an absolute path");
    assert_null(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_events_forward, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_half_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_socket_path, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
