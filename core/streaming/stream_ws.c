/* SPDX-License-Identifier: Apache-2.0 */
#include "stream_ws.h"

#include <errno.h>
#include <openssl/sha.h>
#include <string.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static int is_control(int opcode) {
    return opcode & 0x8;
}

ssize_t ws_frame_parse(uint8_t *buf, size_t len, uint64_t max, int require_mask, struct ws_frame *f) {
    if (len < 2)
        return 0;
    *f = (struct ws_frame){0};
    if (buf[0] & 0x70)
        return -EPROTO; /* no extension was negotiated */
    f->fin = buf[0] >> 7;
    f->opcode = buf[0] & 0x0f;
    f->masked = buf[1] >> 7;
    if (f->opcode != WS_CONT && f->opcode != WS_TEXT && f->opcode != WS_BINARY && f->opcode != WS_CLOSE &&
        f->opcode != WS_PING && f->opcode != WS_PONG)
        return -EPROTO;
    if (require_mask && !f->masked)
        return -EPROTO;
    size_t hdr = 2;
    uint64_t n = buf[1] & 0x7f;
    if (n == 126) {
        if (len < 4)
            return 0;
        n = get_be16(buf + 2);
        hdr = 4;
        if (n < 126)
            return -EPROTO;
    } else if (n == 127) {
        if (len < 10)
            return 0;
        n = (uint64_t)get_be32(buf + 2) << 32 | get_be32(buf + 6);
        hdr = 10;
        if (n >> 63 || n <= 0xffff)
            return -EPROTO;
    }
    if (is_control(f->opcode) && (!f->fin || n > 125))
        return -EPROTO;
    if (n > max)
        return -EMSGSIZE;
    size_t mask_at = hdr;
    if (f->masked)
        hdr += 4;
    if (len < hdr || len - hdr < n)
        return 0;
    f->len = n;
    f->payload = buf + hdr;
    if (f->masked)
        for (uint64_t i = 0; i < n; i++)
            f->payload[i] ^= buf[mask_at + (i & 3)];
    return (ssize_t)(hdr + n);
}

int ws_next_message(struct ws_assembler *a, struct sbuf *in, size_t max, int require_mask, int *ret_opcode,
                    uint8_t **ret_data, size_t *ret_len) {
    if (a->delivered) {
        a->delivered = 0;
        a->opcode = 0;
        a->msg.off = a->msg.len = 0;
    }
    for (;;) {
        struct ws_frame f;
        ssize_t n = ws_frame_parse(sbuf_data(in), sbuf_avail(in), max, require_mask, &f);
        if (n <= 0)
            return (int)n;
        if (is_control(f.opcode)) { /* may come between the frames of a message */
            memcpy(a->ctl, f.payload, (size_t)f.len);
            sbuf_consume(in, (size_t)n);
            *ret_opcode = f.opcode;
            *ret_data = a->ctl;
            *ret_len = (size_t)f.len;
            return 1;
        }
        if ((f.opcode == WS_CONT) != (a->opcode != 0))
            return -EPROTO; /* a continuation without a start, or a new message inside one */
        if (a->msg.len + f.len > max)
            return -EMSGSIZE;
        if (sbuf_append(&a->msg, f.payload, (size_t)f.len) < 0)
            return -ENOMEM;
        if (f.opcode != WS_CONT)
            a->opcode = f.opcode;
        sbuf_consume(in, (size_t)n);
        if (f.fin) {
            *ret_opcode = a->opcode;
            *ret_data = sbuf_data(&a->msg); /* never NULL, even for an empty first message */
            *ret_len = a->msg.len;
            a->delivered = 1;
            return 1;
        }
    }
}

void ws_assembler_free(struct ws_assembler *a) {
    sbuf_free(&a->msg);
    a->opcode = 0;
}

int ws_put_frame(struct sbuf *out, int opcode, int fin, const void *data, size_t len, const uint8_t mask[4]) {
    uint8_t h[14];
    size_t n = 0;
    h[n++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        h[n++] = m | (uint8_t)len;
    } else if (len <= 0xffff) {
        h[n++] = m | 126;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    if (mask) {
        memcpy(h + n, mask, 4);
        n += 4;
    }
    if (sbuf_append(out, h, n) < 0 || sbuf_reserve(out, len) < 0)
        return -ENOMEM;
    uint8_t *dst = out->p + out->len;
    if (len)
        memcpy(dst, data, len);
    for (size_t i = 0; mask && i < len; i++)
        dst[i] ^= mask[i & 3];
    out->len += len;
    return 0;
}

int ws_put_header(struct sbuf *out, int opcode, size_t len) {
    uint8_t h[10];
    size_t n = 0;
    h[n++] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        h[n++] = (uint8_t)len;
    } else if (len <= 0xffff) {
        h[n++] = 126;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    return sbuf_append(out, h, n);
}

int ws_put_close(struct sbuf *out, uint16_t code, const char *reason) {
    uint8_t p[125];
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > sizeof(p) - 2)
        rl = sizeof(p) - 2;
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    if (rl)
        memcpy(p + 2, reason, rl);
    return ws_put_frame(out, WS_CLOSE, 1, p, rl + 2, NULL);
}

int ws_accept_key(const char *key, char ret[29]) {
    char buf[128];
    size_t kl = strlen(key);
    if (kl == 0 || kl + sizeof(WS_GUID) > sizeof(buf))
        return -EINVAL;
    memcpy(buf, key, kl);
    memcpy(buf + kl, WS_GUID, sizeof(WS_GUID) - 1);
    uint8_t md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)buf, kl + sizeof(WS_GUID) - 1, md);
    b64_encode(md, sizeof(md), ret);
    return 0;
}
