/* SPDX-License-Identifier: Apache-2.0 */
/*
 * WebSocket (RFC 6455) framing for the streaming server: frame parsing with
 * unmasking, fragmented messages reassembled with control frames allowed in
 * between, frame writing and the handshake's accept key (base64, for the
 * base64.channel.k8s.io subprotocols too, is in base/base64.h).
 */
#ifndef CLEAT_CORE_STREAM_WS_H
#define CLEAT_CORE_STREAM_WS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base64.h"
#include "stream_buf.h"

#define WS_CONT 0x0
#define WS_TEXT 0x1
#define WS_BINARY 0x2
#define WS_CLOSE 0x8
#define WS_PING 0x9
#define WS_PONG 0xa

struct ws_frame {
    int fin, opcode, masked;
    uint64_t len;
    uint8_t *payload; /* inside the parsed buffer, unmasked */
};

/*
 * Parse one frame at buf and unmask its payload in place.  Returns the bytes
 * it takes, 0 when incomplete, -EMSGSIZE when its payload is over max,
 * -EPROTO when malformed (reserved bits, unknown opcode, a fragmented or long
 * control frame, a non-minimal length, or no mask while require_mask).
 */
ssize_t ws_frame_parse(uint8_t *buf, size_t len, uint64_t max, int require_mask, struct ws_frame *ret);

/* Reassembly of one message from its frames. */
struct ws_assembler {
    struct sbuf msg;
    int opcode;    /* of the message being assembled; 0 when none */
    int delivered; /* msg was handed out: start afresh on the next call */
    uint8_t ctl[125];
};

/*
 * Feed the frames at the front of `in` until a message or control frame is
 * complete: 1 with *ret_opcode and the payload in *ret_data and *ret_len (valid
 * until the next call), 0 when more input is needed, negative on a protocol
 * error (-EPROTO) or a message over max (-EMSGSIZE).  Consumed bytes leave `in`.
 */
int ws_next_message(struct ws_assembler *a, struct sbuf *in, size_t max, int require_mask, int *ret_opcode,
                    uint8_t **ret_data, size_t *ret_len);
void ws_assembler_free(struct ws_assembler *a);

/* Append a frame; mask NULL for a server frame (unmasked).  0 or -ENOMEM. */
int ws_put_frame(struct sbuf *out, int opcode, int fin, const void *data, size_t len, const uint8_t mask[4]);
/* The header of an unmasked, final frame of `len` payload bytes (the caller appends them). */
int ws_put_header(struct sbuf *out, int opcode, size_t len);
/* A close frame with a status code and reason. */
int ws_put_close(struct sbuf *out, uint16_t code, const char *reason);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)), 28 chars + NUL. */
int ws_accept_key(const char *key, char ret[29]);

#endif
