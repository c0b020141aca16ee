/* SPDX-License-Identifier: Apache-2.0 */
#include "stream_buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const uint8_t sbuf_none[1];

int sbuf_reserve(struct sbuf *b, size_t n) {
    if (b->off && b->off == b->len)
        b->off = b->len = 0;
    if (b->cap - b->len >= n)
        return 0;
    if (b->off) { /* reuse the consumed front before growing */
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->cap - b->len >= n)
            return 0;
    }
    if (n > SIZE_MAX / 2 - b->len)
        return -ENOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int sbuf_append(struct sbuf *b, const void *data, size_t n) {
    if (n == 0)
        return 0;
    int r = sbuf_reserve(b, n);
    if (r < 0)
        return r;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

void sbuf_consume(struct sbuf *b, size_t n) {
    b->off += n < sbuf_avail(b) ? n : sbuf_avail(b);
    if (b->off == b->len)
        b->off = b->len = 0;
}

void sbuf_free(struct sbuf *b) {
    free(b->p);
    *b = (struct sbuf){0};
}

int sbuf_put_u8(struct sbuf *b, uint8_t v) {
    return sbuf_append(b, &v, 1);
}

int sbuf_put_u16(struct sbuf *b, uint16_t v) {
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    return sbuf_append(b, x, 2);
}

int sbuf_put_u32(struct sbuf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return sbuf_append(b, x, 4);
}
