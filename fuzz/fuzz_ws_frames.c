/* SPDX-License-Identifier: Apache-2.0 */
/*
 * WebSocket from a client (stream_ws.c), as stream_session.c reads it: bytes
 * arrive in chunks into the connection's input buffer and ws_next_message
 * is called after each, reassembling fragmented messages with control
 * frames in between; base64 channels decode text messages after their
 * channel byte (b64_decode).
 *
 * Input: byte 0 bit 0 = require a mask, byte 1 = chunk size (0: all at
 * once), then the client's bytes.  ws_next_message is called once before
 * any byte arrives, on a buffer never allocated (regress-sbuf-null, 00 00).
 *
 * Invariants: a message is a known opcode of at most the limit (a control
 * frame at most 125 bytes); written again by our own frame writer (masked)
 * it parses back to the same opcode and payload; base64 that decodes
 * encodes and decodes back to the same bytes.
 */
#include <errno.h>

#include "fuzz.h"
#include "stream_ws.h"

#define MSG_MAX 65536

static void check_base64(const uint8_t *msg, size_t len) {
    uint8_t *raw = malloc(len / 4 * 3 + 1), *raw2 = malloc(len / 4 * 3 + 1);
    char *text = malloc(len + 1);
    FUZZ_CHECK(raw && raw2 && text);
    ssize_t n = b64_decode((const char *)msg, len, raw);
    if (n >= 0) {
        FUZZ_CHECK((size_t)n <= len / 4 * 3);
        size_t tl = b64_encode(raw, (size_t)n, text);
        FUZZ_CHECK(tl == len);
        FUZZ_CHECK(b64_decode(text, tl, raw2) == n && memcmp(raw, raw2, (size_t)n) == 0);
    }
    free(raw);
    free(raw2);
    free(text);
}

static void check_message(int opcode, const uint8_t *msg, size_t len) {
    FUZZ_CHECK(opcode == WS_TEXT || opcode == WS_BINARY || opcode == WS_CLOSE || opcode == WS_PING ||
               opcode == WS_PONG);
    FUZZ_CHECK(len <= MSG_MAX && (opcode < WS_CLOSE || len <= 125));
    FUZZ_CHECK(msg != NULL); /* even for an empty message (regress-empty-message) */
    static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    struct sbuf out = {0};
    FUZZ_CHECK(ws_put_frame(&out, opcode, 1, msg, len, mask) == 0);
    struct ws_frame f;
    FUZZ_CHECK(ws_frame_parse(sbuf_data(&out), sbuf_avail(&out), MSG_MAX, 1, &f) == (ssize_t)sbuf_avail(&out));
    FUZZ_CHECK(f.fin && f.opcode == opcode && f.len == len && memcmp(f.payload, msg, len) == 0);
    sbuf_free(&out);
    if (opcode == WS_TEXT && len) /* the channel byte, then base64 (base64.channel.k8s.io) */
        check_base64(msg + 1, len - 1);
}

/* Take every message the buffer holds; -1 when the connection would end. */
static int drain(struct ws_assembler *a, struct sbuf *in, int require_mask) {
    for (;;) {
        int opcode = -1;
        uint8_t *msg = NULL;
        size_t len = 0;
        int r = ws_next_message(a, in, MSG_MAX, require_mask, &opcode, &msg, &len);
        FUZZ_CHECK(r == 1 || r == 0 || r == -EPROTO || r == -EMSGSIZE);
        if (r <= 0)
            return r;
        check_message(opcode, msg, len);
        if (opcode == WS_CLOSE)
            return -1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2)
        return 0;
    int require_mask = data[0] & 1;
    size_t chunk = data[1] ? data[1] : size;
    struct ws_assembler a = {0};
    struct sbuf in = {0};
    int r = drain(&a, &in, require_mask);
    for (size_t off = 2; r == 0 && off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        FUZZ_CHECK(sbuf_append(&in, data + off, n) == 0);
        r = drain(&a, &in, require_mask);
    }
    ws_assembler_free(&a);
    sbuf_free(&in);
    return 0;
}
