/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A byte queue for the streaming server: appended at the end, consumed from
 * the front.  Callers bound its size (see stream_session.c); an allocation
 * failure is sticky and reported by sbuf_append.
 */
#ifndef CLEAT_CORE_STREAM_BUF_H
#define CLEAT_CORE_STREAM_BUF_H

#include <stddef.h>
#include <stdint.h>

struct sbuf {
    uint8_t *p;
    size_t off, len, cap; /* unread bytes are p[off..len) */
};

static inline size_t sbuf_avail(const struct sbuf *b) {
    return b->len - b->off;
}
/*
 * Never NULL: a buffer nothing was appended to yet (p == NULL) yields a
 * static empty array, because NULL + 0, and NULL handed to memcpy or memchr
 * even for 0 bytes, are undefined behaviour.  No byte of it may be written
 * (sbuf_avail() is 0 then).
 */
extern const uint8_t sbuf_none[1];
static inline uint8_t *sbuf_data(const struct sbuf *b) {
    return b->p ? b->p + b->off : (uint8_t *)(uintptr_t)sbuf_none;
}
/* Make room for n more bytes at p + len; 0 or -ENOMEM. */
int sbuf_reserve(struct sbuf *b, size_t n);
int sbuf_append(struct sbuf *b, const void *data, size_t n);
void sbuf_consume(struct sbuf *b, size_t n);
void sbuf_free(struct sbuf *b);

/* Big-endian appends (the caller reserved the room, or checks sbuf_append). */
int sbuf_put_u8(struct sbuf *b, uint8_t v);
int sbuf_put_u16(struct sbuf *b, uint16_t v);
int sbuf_put_u32(struct sbuf *b, uint32_t v);

static inline uint32_t get_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint16_t get_be16(const uint8_t *p) {
    return (uint16_t)(p[0] << 8 | p[1]);
}

#endif
