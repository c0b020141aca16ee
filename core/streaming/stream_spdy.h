/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SPDY/3.1 framing (draft-mbelshe-httpbis-spdy-00 and the 3.1 amendment),
 * the subset the Kubernetes streaming protocols use over an upgraded
 * HTTP/1.1 connection: every control frame is parsed, header blocks are
 * zlib-compressed with the SPDY/3 dictionary, one compression context per
 * direction for the whole connection.
 *
 * Flow control: the Go peers (moby/spdystream, used by kubelet, kubectl and
 * client-go) neither send nor honour WINDOW_UPDATE, so the server does not
 * stop at the peer's window; backpressure is TCP's.  The server still sends
 * WINDOW_UPDATE for what it consumed, for a strict peer.
 */
#ifndef CLEAT_CORE_STREAM_SPDY_H
#define CLEAT_CORE_STREAM_SPDY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <zlib.h>

#include "stream_buf.h"

#define SPDY_VERSION 3

#define SPDY_SYN_STREAM 1
#define SPDY_SYN_REPLY 2
#define SPDY_RST_STREAM 3
#define SPDY_SETTINGS 4
#define SPDY_PING 6
#define SPDY_GOAWAY 7
#define SPDY_HEADERS 8
#define SPDY_WINDOW_UPDATE 9

#define SPDY_FLAG_FIN 0x01
#define SPDY_FLAG_UNIDIRECTIONAL 0x02

/* RST_STREAM status codes. */
#define SPDY_PROTOCOL_ERROR 1
#define SPDY_INVALID_STREAM 2
#define SPDY_REFUSED_STREAM 3
#define SPDY_CANCEL 5
#define SPDY_INTERNAL_ERROR 6
#define SPDY_STREAM_IN_USE 8
#define SPDY_STREAM_ALREADY_CLOSED 9

#define SPDY_INITIAL_WINDOW 65536
#define SPDY_HEADER_LEN 8

/* The SPDY/3 header compression dictionary (1423 bytes). */
extern const uint8_t *spdy_dictionary(size_t *ret_len);

struct spdy_frame {
    int control;
    uint16_t version, type; /* control frames */
    uint8_t flags;
    uint32_t length;     /* of the payload */
    uint32_t stream_id;  /* DATA, SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE */
    uint32_t assoc_id;   /* SYN_STREAM */
    uint8_t priority;    /* SYN_STREAM, 0..7 */
    uint32_t value;      /* RST_STREAM / GOAWAY status, PING id, WINDOW_UPDATE delta, GOAWAY last-good id */
    uint32_t status;     /* GOAWAY status */
    const uint8_t *data; /* DATA payload, or the compressed header block */
    size_t data_len;
    const uint8_t *payload;
};

/*
 * Parse one frame from buf.  Returns the bytes it takes (header + payload),
 * 0 when buf does not hold all of it yet, -EMSGSIZE when its payload is over
 * max_payload, -EPROTO when it is malformed.
 */
ssize_t spdy_frame_parse(const uint8_t *buf, size_t len, size_t max_payload, struct spdy_frame *ret);

/* The two compression contexts of one connection. */
struct spdy_zlib {
    z_stream inflate, deflate;
    int inflate_ok, deflate_ok;
};
int spdy_zlib_init(struct spdy_zlib *z);
void spdy_zlib_free(struct spdy_zlib *z);

struct spdy_header {
    char *name, *value; /* value: several values are NUL-separated in SPDY; kept as one string with '\0' -> ',' */
};
struct spdy_headers {
    struct spdy_header *v;
    size_t n;
};
/*
 * Decompress and parse a header block.  Fails (-EPROTO) on a malformed block
 * or one that inflates to more than max_len bytes (-EMSGSIZE).
 */
int spdy_headers_decode(struct spdy_zlib *z, const uint8_t *block, size_t len, size_t max_len,
                        struct spdy_headers *ret);
/* The value of a header (names are compared case-insensitively), or NULL. */
const char *spdy_headers_get(const struct spdy_headers *h, const char *name);
void spdy_headers_clear(struct spdy_headers *h);

/* Frame writers; kv is "name", "value", ..., NULL.  0 or -ENOMEM. */
int spdy_put_syn_stream(struct sbuf *out, struct spdy_zlib *z, uint32_t stream_id, uint8_t flags,
                        const char *const *kv);
int spdy_put_syn_reply(struct sbuf *out, struct spdy_zlib *z, uint32_t stream_id, uint8_t flags, const char *const *kv);
int spdy_put_data(struct sbuf *out, uint32_t stream_id, uint8_t flags, const void *data, size_t len);
int spdy_put_rst_stream(struct sbuf *out, uint32_t stream_id, uint32_t status);
int spdy_put_goaway(struct sbuf *out, uint32_t last_good_id, uint32_t status);
int spdy_put_ping(struct sbuf *out, uint32_t id);
int spdy_put_window_update(struct sbuf *out, uint32_t stream_id, uint32_t delta);

#endif
