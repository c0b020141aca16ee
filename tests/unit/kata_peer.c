/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>

#include "kata_peer.h"
#include "plugin_fs.h"

void peer_write_all(int fd, const void *p, size_t n) {
    assert_int_equal(plugin_write_all(fd, p, n), 0);
}

/* Read one frame; its data malloc'd into *ret (free it). */
struct ttrpc_header peer_read_frame(int fd, uint8_t **ret) {
    uint8_t head[TTRPC_HEADER_LEN];
    struct ttrpc_header h;
    assert_int_equal(ttrpc_read_full(fd, head, sizeof(head)), 0);
    ttrpc_header_decode(head, &h);
    assert_true(h.length <= TTRPC_MESSAGE_MAX);
    *ret = malloc(h.length + 1);
    assert_int_equal(ttrpc_read_full(fd, *ret, h.length), 0);
    return h;
}

/* Read a Request frame: its stream id, and the request unpacked (free with ttrpc__request__free_unpacked). */
Ttrpc__Request *peer_read_request(int fd, uint32_t *ret_stream) {
    uint8_t *data = NULL;
    struct ttrpc_header h = peer_read_frame(fd, &data);
    assert_int_equal(h.type, TTRPC_TYPE_REQUEST);
    assert_int_equal(h.flags, 0);
    Ttrpc__Request *req = ttrpc__request__unpack(NULL, h.length, data);
    assert_non_null(req);
    free(data);
    *ret_stream = h.stream_id;
    return req;
}

/* A Response frame, serialized into *ret (malloc'd); returns its length. */
size_t peer_response_frame(uint32_t stream, int32_t code, const char *msg, const void *payload, size_t len,
                           uint8_t **ret) {
    Ttrpc__Status st = TTRPC__STATUS__INIT;
    Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
    st.code = code;
    st.message = (char *)msg;
    resp.status = &st;
    resp.payload.data = (uint8_t *)payload;
    resp.payload.len = len;
    size_t n = ttrpc__response__get_packed_size(&resp);
    uint8_t *buf = malloc(TTRPC_HEADER_LEN + n);
    struct ttrpc_header h = {.length = (uint32_t)n, .stream_id = stream, .type = TTRPC_TYPE_RESPONSE};
    ttrpc_header_encode(&h, buf);
    ttrpc__response__pack(&resp, buf + TTRPC_HEADER_LEN);
    *ret = buf;
    return TTRPC_HEADER_LEN + n;
}

void peer_send_response(int fd, uint32_t stream, int32_t code, const char *msg, const char *payload) {
    uint8_t *buf;
    size_t n = peer_response_frame(stream, code, msg, payload, payload ? strlen(payload) : 0, &buf);
    peer_write_all(fd, buf, n);
    free(buf);
}

void peer_send_header(int fd, uint32_t length, uint32_t stream, uint8_t type) {
    uint8_t head[TTRPC_HEADER_LEN];
    struct ttrpc_header h = {.length = length, .stream_id = stream, .type = type};
    ttrpc_header_encode(&h, head);
    peer_write_all(fd, head, sizeof(head));
}

int peer_connect(const char *path) {
    struct sockaddr_un sa;
    socklen_t sa_len;
    assert_int_equal(ttrpc_address_parse(path, &sa, &sa_len), 0);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sa_len), 0);
    return fd;
}
