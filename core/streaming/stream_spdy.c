/* SPDX-License-Identifier: Apache-2.0 */
#include "stream_spdy.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * The dictionary of SPDY/3 section 2.6.10.1: each of these words preceded by
 * its length as a 32-bit big-endian integer, then the tail text as is.  The
 * unit test holds the result to its length and Adler-32.
 */
static const char *const dict_words[] = {"options",
                                         "head",
                                         "post",
                                         "put",
                                         "delete",
                                         "trace",
                                         "accept",
                                         "accept-charset",
                                         "accept-encoding",
                                         "accept-language",
                                         "accept-ranges",
                                         "age",
                                         "allow",
                                         "authorization",
                                         "cache-control",
                                         "connection",
                                         "content-base",
                                         "content-encoding",
                                         "content-language",
                                         "content-length",
                                         "content-location",
                                         "content-md5",
                                         "content-range",
                                         "content-type",
                                         "date",
                                         "etag",
                                         "expect",
                                         "expires",
                                         "from",
                                         "host",
                                         "if-match",
                                         "if-modified-since",
                                         "if-none-match",
                                         "if-range",
                                         "if-unmodified-since",
                                         "last-modified",
                                         "location",
                                         "max-forwards",
                                         "pragma",
                                         "proxy-authenticate",
                                         "proxy-authorization",
                                         "range",
                                         "referer",
                                         "retry-after",
                                         "server",
                                         "te",
                                         "trailer",
                                         "transfer-encoding",
                                         "upgrade",
                                         "user-agent",
                                         "vary",
                                         "via",
                                         "warning",
                                         "www-authenticate",
                                         "method",
                                         "get",
                                         "status",
                                         "200 OK",
                                         "version",
                                         "HTTP/1.1",
                                         "url",
                                         "public",
                                         "set-cookie",
                                         "keep-alive",
                                         "origin",
                                         NULL};
static const char dict_tail[] =
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information"
    "204 No Content"
    "301 Moved Permanently"
    "400 Bad Request"
    "401 Unauthorized"
    "403 Forbidden"
    "404 Not Found"
    "500 Internal Server Error"
    "501 Not Implemented"
    "503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

static uint8_t dict[1536];
static size_t dict_len;
static pthread_once_t dict_once = PTHREAD_ONCE_INIT;

static void dict_build(void) {
    size_t n = 0;
    for (size_t i = 0; dict_words[i]; i++) {
        size_t l = strlen(dict_words[i]);
        dict[n++] = 0;
        dict[n++] = 0;
        dict[n++] = 0;
        dict[n++] = (uint8_t)l;
        memcpy(dict + n, dict_words[i], l);
        n += l;
    }
    memcpy(dict + n, dict_tail, sizeof(dict_tail) - 1);
    dict_len = n + sizeof(dict_tail) - 1;
}

const uint8_t *spdy_dictionary(size_t *ret_len) {
    pthread_once(&dict_once, dict_build);
    *ret_len = dict_len;
    return dict;
}

/* ------------------------------------------------------------------------- */

ssize_t spdy_frame_parse(const uint8_t *buf, size_t len, size_t max_payload, struct spdy_frame *f) {
    if (len < SPDY_HEADER_LEN)
        return 0;
    *f = (struct spdy_frame){0};
    uint32_t w0 = get_be32(buf), w1 = get_be32(buf + 4);
    f->flags = (uint8_t)(w1 >> 24);
    f->length = w1 & 0xffffff;
    if (f->length > max_payload)
        return -EMSGSIZE;
    if (len - SPDY_HEADER_LEN < f->length)
        return 0;
    const uint8_t *p = buf + SPDY_HEADER_LEN;
    f->payload = p;
    ssize_t total = (ssize_t)(SPDY_HEADER_LEN + f->length);
    if (!(w0 & 0x80000000u)) {
        f->stream_id = w0 & 0x7fffffff;
        f->data = p;
        f->data_len = f->length;
        return f->stream_id ? total : -EPROTO;
    }
    f->control = 1;
    f->version = (uint16_t)((w0 >> 16) & 0x7fff);
    f->type = (uint16_t)(w0 & 0xffff);
    if (f->version != SPDY_VERSION)
        return -EPROTO;
    switch (f->type) {
    case SPDY_SYN_STREAM:
        if (f->length < 10)
            return -EPROTO;
        f->stream_id = get_be32(p) & 0x7fffffff;
        f->assoc_id = get_be32(p + 4) & 0x7fffffff;
        f->priority = p[8] >> 5;
        f->data = p + 10;
        f->data_len = f->length - 10;
        return f->stream_id ? total : -EPROTO;
    case SPDY_SYN_REPLY:
    case SPDY_HEADERS:
        if (f->length < 4)
            return -EPROTO;
        f->stream_id = get_be32(p) & 0x7fffffff;
        f->data = p + 4;
        f->data_len = f->length - 4;
        return f->stream_id ? total : -EPROTO;
    case SPDY_RST_STREAM:
    case SPDY_WINDOW_UPDATE:
        if (f->length != 8)
            return -EPROTO;
        f->stream_id = get_be32(p) & 0x7fffffff;
        f->value = get_be32(p + 4) & (f->type == SPDY_WINDOW_UPDATE ? 0x7fffffffu : 0xffffffffu);
        return total;
    case SPDY_PING:
        if (f->length != 4)
            return -EPROTO;
        f->value = get_be32(p);
        return total;
    case SPDY_GOAWAY:
        if (f->length != 8)
            return -EPROTO;
        f->value = get_be32(p) & 0x7fffffff;
        f->status = get_be32(p + 4);
        return total;
    case SPDY_SETTINGS:
        if (f->length < 4 || (f->length - 4) / 8 < get_be32(p) || (f->length - 4) % 8)
            return -EPROTO;
        return total;
    default:
        return total; /* unknown control frames are ignored, as the spec says */
    }
}

/* ------------------------------------------------------------------------- */

int spdy_zlib_init(struct spdy_zlib *z) {
    *z = (struct spdy_zlib){0};
    if (inflateInit(&z->inflate) != Z_OK)
        return -ENOMEM;
    z->inflate_ok = 1;
    if (deflateInit(&z->deflate, Z_DEFAULT_COMPRESSION) != Z_OK) {
        spdy_zlib_free(z);
        return -ENOMEM;
    }
    z->deflate_ok = 1;
    size_t n;
    const uint8_t *d = spdy_dictionary(&n);
    if (deflateSetDictionary(&z->deflate, d, (uInt)n) != Z_OK) {
        spdy_zlib_free(z);
        return -ENOMEM;
    }
    return 0;
}

void spdy_zlib_free(struct spdy_zlib *z) {
    if (z->inflate_ok)
        inflateEnd(&z->inflate);
    if (z->deflate_ok)
        deflateEnd(&z->deflate);
    z->inflate_ok = z->deflate_ok = 0;
}

/* Inflate one block (it ends at a sync flush) into out, at most max bytes. */
static int inflate_block(z_stream *s, const uint8_t *in, size_t len, size_t max, struct sbuf *out) {
    s->next_in = (Bytef *)(uintptr_t)in;
    s->avail_in = (uInt)len;
    for (;;) {
        if (sbuf_reserve(out, 1024) < 0)
            return -ENOMEM;
        s->next_out = out->p + out->len;
        s->avail_out = (uInt)(out->cap - out->len);
        int zr = inflate(s, Z_SYNC_FLUSH);
        out->len = out->cap - s->avail_out;
        if (zr == Z_NEED_DICT) {
            size_t n;
            const uint8_t *d = spdy_dictionary(&n);
            if (inflateSetDictionary(s, d, (uInt)n) != Z_OK)
                return -EPROTO;
            continue;
        }
        if (zr == Z_BUF_ERROR && s->avail_in == 0)
            break; /* all input used */
        if (zr != Z_OK)
            return -EPROTO;
        if (out->len > max)
            return -EMSGSIZE;
        if (s->avail_in == 0 && s->avail_out != 0)
            break;
    }
    return out->len > max ? -EMSGSIZE : 0;
}

int spdy_headers_decode(struct spdy_zlib *z, const uint8_t *block, size_t len, size_t max_len,
                        struct spdy_headers *ret) {
    struct sbuf raw = {0};
    *ret = (struct spdy_headers){0};
    int r = inflate_block(&z->inflate, block, len, max_len, &raw);
    const uint8_t *p = raw.p, *end = raw.p + raw.len;
    if (r >= 0 && raw.len < 4)
        r = -EPROTO;
    uint32_t n = r >= 0 ? get_be32(p) : 0;
    p += 4;
    if (r >= 0 && n > (raw.len - 4) / 8) /* each pair takes at least 8 bytes */
        r = -EPROTO;
    if (r >= 0 && !(ret->v = calloc(n ? n : 1, sizeof(*ret->v))))
        r = -ENOMEM;
    for (uint32_t i = 0; r >= 0 && i < n; i++) {
        char *s[2] = {NULL, NULL};
        uint32_t name_len = 0;
        for (int k = 0; k < 2 && r >= 0; k++) {
            if (end - p < 4 || (size_t)(end - p - 4) < get_be32(p)) {
                r = -EPROTO;
                break;
            }
            uint32_t l = get_be32(p);
            if (k == 0)
                name_len = l;
            p += 4;
            if (!(s[k] = malloc(l + 1))) {
                r = -ENOMEM;
                break;
            }
            memcpy(s[k], p, l);
            s[k][l] = '\0';
            for (uint32_t j = 0; k == 1 && j < l; j++)
                if (s[k][j] == '\0')
                    s[k][j] = ','; /* several values of one name */
            p += l;
        }
        if (r >= 0 && (name_len == 0 || strlen(s[0]) != name_len)) /* empty, or a NUL inside */
            r = -EPROTO;
        if (r < 0) {
            free(s[0]);
            free(s[1]);
            break;
        }
        ret->v[ret->n++] = (struct spdy_header){.name = s[0], .value = s[1]};
    }
    sbuf_free(&raw);
    if (r < 0)
        spdy_headers_clear(ret);
    return r;
}

const char *spdy_headers_get(const struct spdy_headers *h, const char *name) {
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->v[i].name, name) == 0)
            return h->v[i].value;
    return NULL;
}

void spdy_headers_clear(struct spdy_headers *h) {
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].name);
        free(h->v[i].value);
    }
    free(h->v);
    *h = (struct spdy_headers){0};
}

/* ------------------------------------------------------------------------- */

static int put_control(struct sbuf *out, uint16_t type, uint8_t flags, uint32_t length) {
    int r = sbuf_put_u32(out, 0x80000000u | (uint32_t)SPDY_VERSION << 16 | type);
    return r < 0 ? r : sbuf_put_u32(out, (uint32_t)flags << 24 | (length & 0xffffff));
}

/* Compress kv into out as one block ending in a sync flush. */
static int deflate_headers(struct spdy_zlib *z, const char *const *kv, struct sbuf *out) {
    struct sbuf raw = {0};
    uint32_t n = 0;
    while (kv && kv[2 * n])
        n++;
    int r = sbuf_put_u32(&raw, n);
    for (uint32_t i = 0; r >= 0 && i < 2 * n; i++) {
        r = sbuf_put_u32(&raw, (uint32_t)strlen(kv[i]));
        if (r >= 0)
            r = sbuf_append(&raw, kv[i], strlen(kv[i]));
    }
    z_stream *s = &z->deflate;
    s->next_in = raw.p;
    s->avail_in = (uInt)raw.len;
    while (r >= 0) {
        if (sbuf_reserve(out, 256) < 0) {
            r = -ENOMEM;
            break;
        }
        s->next_out = out->p + out->len;
        s->avail_out = (uInt)(out->cap - out->len);
        int zr = deflate(s, Z_SYNC_FLUSH);
        out->len = out->cap - s->avail_out;
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            r = -EPROTO;
        else if (s->avail_out != 0)
            break;
    }
    sbuf_free(&raw);
    return r;
}

static int put_headers_frame(struct sbuf *out, struct spdy_zlib *z, uint16_t type, uint8_t flags, uint32_t id,
                             const char *const *kv) {
    struct sbuf block = {0};
    int r = deflate_headers(z, kv, &block);
    size_t fixed = type == SPDY_SYN_STREAM ? 10 : 4;
    if (r >= 0 && block.len + fixed > 0xffffff)
        r = -EMSGSIZE;
    if (r >= 0)
        r = put_control(out, type, flags, (uint32_t)(block.len + fixed));
    if (r >= 0)
        r = sbuf_put_u32(out, id & 0x7fffffff);
    if (r >= 0 && type == SPDY_SYN_STREAM) {
        r = sbuf_put_u32(out, 0);
        if (r >= 0)
            r = sbuf_put_u16(out, 0);
    }
    if (r >= 0)
        r = sbuf_append(out, block.p, block.len);
    sbuf_free(&block);
    return r;
}

int spdy_put_syn_stream(struct sbuf *out, struct spdy_zlib *z, uint32_t id, uint8_t flags, const char *const *kv) {
    return put_headers_frame(out, z, SPDY_SYN_STREAM, flags, id, kv);
}

int spdy_put_syn_reply(struct sbuf *out, struct spdy_zlib *z, uint32_t id, uint8_t flags, const char *const *kv) {
    return put_headers_frame(out, z, SPDY_SYN_REPLY, flags, id, kv);
}

int spdy_put_data(struct sbuf *out, uint32_t id, uint8_t flags, const void *data, size_t len) {
    const uint8_t *d = data;
    do { /* the length field has 24 bits */
        size_t n = len > 0xffffff ? 0xffffff : len;
        int r = sbuf_put_u32(out, id & 0x7fffffff);
        if (r >= 0)
            r = sbuf_put_u32(out, (uint32_t)(n == len ? flags : 0) << 24 | (uint32_t)n);
        if (r >= 0)
            r = sbuf_append(out, d, n);
        if (r < 0)
            return r;
        d += n;
        len -= n;
    } while (len);
    return 0;
}

static int put_two(struct sbuf *out, uint16_t type, uint32_t a, uint32_t b) {
    int r = put_control(out, type, 0, 8);
    if (r >= 0)
        r = sbuf_put_u32(out, a);
    return r < 0 ? r : sbuf_put_u32(out, b);
}

int spdy_put_rst_stream(struct sbuf *out, uint32_t id, uint32_t status) {
    return put_two(out, SPDY_RST_STREAM, id & 0x7fffffff, status);
}

int spdy_put_goaway(struct sbuf *out, uint32_t last_good_id, uint32_t status) {
    return put_two(out, SPDY_GOAWAY, last_good_id & 0x7fffffff, status);
}

int spdy_put_window_update(struct sbuf *out, uint32_t id, uint32_t delta) {
    return put_two(out, SPDY_WINDOW_UPDATE, id & 0x7fffffff, delta & 0x7fffffff);
}

int spdy_put_ping(struct sbuf *out, uint32_t id) {
    int r = put_control(out, SPDY_PING, 0, 4);
    return r < 0 ? r : sbuf_put_u32(out, id);
}
