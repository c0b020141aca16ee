/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SPDY/3.1 from a client (stream_spdy.c), as stream_session.c reads it: a
 * sequence of frames, the header blocks of SYN_STREAM, SYN_REPLY and
 * HEADERS inflated with one zlib context (and the SPDY dictionary) for the
 * whole connection.
 *
 * Invariants: a parsed frame takes its 8-byte header plus its length, and
 * its data lies inside it; a decoded header block, compressed again by our
 * own writer (another pair of contexts, kept across the frames as well),
 * decodes to the same names and values in the same order.
 */
#include <errno.h>

#include "fuzz.h"
#include "stream_spdy.h"

#define FRAME_MAX (1u << 20) /* SESSION_FRAME_MAX */
#define BLOCK_MAX 65536      /* what stream_session.c lets a header block inflate to */

struct conn {
    struct spdy_zlib client;   /* inflate: the server's view of the client's blocks */
    struct spdy_zlib enc, dec; /* our writer (deflate) and a peer reading it (inflate) */
    int round_trips;           /* enc and dec are made at the first block (zlib set-up is not cheap) */
};

static void check_frame(const uint8_t *buf, ssize_t n, const struct spdy_frame *f) {
    FUZZ_CHECK((size_t)n == SPDY_HEADER_LEN + f->length);
    if (f->data) {
        FUZZ_CHECK(f->data >= buf + SPDY_HEADER_LEN && f->data + f->data_len <= buf + n);
        FUZZ_CHECK(f->control || f->stream_id != 0);
    }
}

/* The block's headers through our writer and back. */
static void round_trip(struct conn *c, const struct spdy_headers *h) {
    if (!c->round_trips++)
        FUZZ_CHECK(spdy_zlib_init(&c->enc) == 0 && spdy_zlib_init(&c->dec) == 0);
    const char **kv = calloc(2 * h->n + 1, sizeof(*kv));
    FUZZ_CHECK(kv);
    for (size_t i = 0; i < h->n; i++) {
        kv[2 * i] = h->v[i].name;
        kv[2 * i + 1] = h->v[i].value;
    }
    struct sbuf out = {0};
    FUZZ_CHECK(spdy_put_syn_stream(&out, &c->enc, 1, 0, kv) == 0);
    free(kv);
    struct spdy_frame f;
    FUZZ_CHECK(spdy_frame_parse(sbuf_data(&out), sbuf_avail(&out), FRAME_MAX, &f) == (ssize_t)sbuf_avail(&out));
    FUZZ_CHECK(f.control && f.type == SPDY_SYN_STREAM && f.stream_id == 1);
    struct spdy_headers h2;
    /* Our own block may inflate past BLOCK_MAX only if the client's did: it holds the same bytes. */
    FUZZ_CHECK(spdy_headers_decode(&c->dec, f.data, f.data_len, BLOCK_MAX, &h2) == 0);
    FUZZ_CHECK(h2.n == h->n);
    for (size_t i = 0; i < h->n; i++)
        FUZZ_CHECK(strcmp(h2.v[i].name, h->v[i].name) == 0 && strcmp(h2.v[i].value, h->v[i].value) == 0);
    spdy_headers_clear(&h2);
    sbuf_free(&out);
}

/* One header block; -1 when the connection would end here. */
static int header_block(struct conn *c, const struct spdy_frame *f) {
    struct spdy_headers h;
    int r = spdy_headers_decode(&c->client, f->data, f->data_len, BLOCK_MAX, &h);
    FUZZ_CHECK(r == 0 || r == -EPROTO || r == -EMSGSIZE);
    if (r < 0)
        return -1;
    for (size_t i = 0; i < h.n; i++) {
        FUZZ_CHECK(h.v[i].name[0]);
        FUZZ_CHECK(spdy_headers_get(&h, h.v[i].name) != NULL);
    }
    round_trip(c, &h);
    spdy_headers_clear(&h);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct conn c = {0};
    FUZZ_CHECK(spdy_zlib_init(&c.client) == 0);
    for (size_t off = 0; off < size;) {
        struct spdy_frame f;
        ssize_t n = spdy_frame_parse(data + off, size - off, FRAME_MAX, &f);
        FUZZ_CHECK(n <= 0 || (size_t)n <= size - off);
        if (n <= 0)
            break;
        check_frame(data + off, n, &f);
        if (f.control && (f.type == SPDY_SYN_STREAM || f.type == SPDY_SYN_REPLY || f.type == SPDY_HEADERS) &&
            header_block(&c, &f) < 0)
            break;
        off += (size_t)n;
    }
    spdy_zlib_free(&c.client);
    spdy_zlib_free(&c.enc); /* a no-op when never made */
    spdy_zlib_free(&c.dec);
    return 0;
}
