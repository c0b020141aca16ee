/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a shim sends to runtime-kata's events server
 * (plugins/runtime-kata/ttrpc_server.c): ttrpc frames carrying
 * Events/Forward calls.  Each input is the bytes of one connection to a
 * real server (one per process, on a socket in a temporary directory); the
 * target half-closes its side and reads every answer until the server
 * closes the connection.
 *
 * Invariants: the server ends the connection (no hang); every answer is a
 * whole Response frame that parses, and the answers are those of the
 * input's whole Request frames (up to a frame above 4 MiB, which ends the
 * connection), on the same stream ids, in the same order -- all of them
 * for inputs too small to fill the server's 1 MiB of unread answers; and
 * the callback saw exactly one event per OK answer.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "ttrpc.pb-c.h"
#include "ttrpc_server.h"
#include "ttrpc_wire.h"

/* Inputs up to this size cannot make 1 MiB of answers (each frame >= 10 bytes, each answer < 600). */
#define COMPLETE_MAX 16384

static atomic_int events_seen;

static void on_event(void *ctx, const char *topic, const char *ns, const char *type_url, const uint8_t *value,
                     size_t len) {
    (void)ctx;
    FUZZ_CHECK(topic && ns && type_url && (value || len == 0) && len <= TTRPC_MESSAGE_MAX);
    atomic_fetch_add(&events_seen, 1);
}

static struct ttrpc_server *srv;
static char dir[] = "/tmp/cleat-fuzz-ttrpc-XXXXXX";
static char socket_path[64];

static void stop_server(void) {
    ttrpc_server_stop(srv);
    rmdir(dir);
}

static void start_server(void) {
    FUZZ_CHECK(mkdtemp(dir));
    snprintf(socket_path, sizeof(socket_path), "%s/events.sock", dir);
    FUZZ_CHECK(ttrpc_events_serve(fuzz_host(), socket_path, on_event, NULL, &srv, NULL) == 0);
    atexit(stop_server);
}

/* The stream ids of the input's whole Request frames, in order, up to a frame the server refuses; how many. */
static size_t expected_streams(const uint8_t *data, size_t size, uint32_t *ids, int *ret_cut) {
    size_t n = 0, off = 0;
    *ret_cut = 0;
    while (size - off >= TTRPC_HEADER_LEN) {
        struct ttrpc_header h;
        ttrpc_header_decode(data + off, &h);
        if (h.length > TTRPC_MESSAGE_MAX) {
            *ret_cut = 1;
            break;
        }
        if (size - off - TTRPC_HEADER_LEN < h.length)
            break;
        if (h.type == TTRPC_TYPE_REQUEST)
            ids[n++] = h.stream_id;
        off += TTRPC_HEADER_LEN + h.length;
    }
    return n;
}

/* Read the answers to the end of the connection, checking each; how many, and how many were OK. */
static size_t read_answers(int fd, const uint32_t *ids, size_t n_ids, size_t *ret_ok) {
    size_t n = 0;
    *ret_ok = 0;
    uint8_t head[TTRPC_HEADER_LEN];
    for (;;) {
        int r = ttrpc_read_full(fd, head, 1);
        if (r == -EPIPE || r == -ECONNRESET)
            return n;
        FUZZ_CHECK(r == 0);
        FUZZ_CHECK(ttrpc_read_full(fd, head + 1, sizeof(head) - 1) == 0); /* whole frames only */
        struct ttrpc_header h;
        ttrpc_header_decode(head, &h);
        FUZZ_CHECK(h.type == TTRPC_TYPE_RESPONSE && h.flags == 0 && h.length <= TTRPC_MESSAGE_MAX);
        FUZZ_CHECK(n < n_ids && h.stream_id == ids[n]);
        uint8_t *body = malloc(h.length + 1);
        FUZZ_CHECK(body && ttrpc_read_full(fd, body, h.length) == 0);
        Ttrpc__Response *resp = ttrpc__response__unpack(NULL, h.length, body);
        FUZZ_CHECK(resp && resp->status);
        *ret_ok += resp->status->code == 0;
        ttrpc__response__free_unpacked(resp, NULL);
        free(body);
        n++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!srv)
        start_server();
    uint32_t *ids = malloc((size / TTRPC_HEADER_LEN + 1) * sizeof(*ids));
    FUZZ_CHECK(ids);
    int cut;
    size_t n_ids = expected_streams(data, size, ids, &cut);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa;
    socklen_t sa_len;
    FUZZ_CHECK(fd >= 0 && ttrpc_address_parse(socket_path, &sa, &sa_len) == 0);
    FUZZ_CHECK(connect(fd, (struct sockaddr *)&sa, sa_len) == 0);
    int before = atomic_load(&events_seen);
    for (size_t off = 0; off < size;) { /* the server may hang up early (a frame too big): stop there */
        ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    size_t ok = 0, n = read_answers(fd, ids, n_ids, &ok);
    close(fd);
    int seen = atomic_load(&events_seen) - before; /* the callback ran before the answer was queued */
    if (!cut && size <= COMPLETE_MAX) {
        FUZZ_CHECK(n == n_ids);
        FUZZ_CHECK((size_t)seen == ok);
    } else {
        FUZZ_CHECK((size_t)seen >= ok);
    }
    free(ids);
    return 0;
}
