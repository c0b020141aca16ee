/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The layer's input stream: read the blob from an fd in big blocks,
 * decompress it (ISA-L igzip, libzstd, or nothing) and hash what comes out.
 *
 * The uncompressed bytes are hashed as they are handed out, so the diff_id
 * covers exactly what was read: the tar, and what the caller drains after
 * the tar's end marker.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <isa-l.h>
#include <zstd.h>

#include "digest.h"
#include "error.h"
#include "unpack_decompress.h"
#include "unpack_limits.h"

/* Big blocks: fewer syscalls, and the tar reader gets whole files at once. */
#define IN_SIZE (1u << 20)
#define OUT_SIZE USTREAM_BLOCK_SIZE

struct ustream {
    int fd;
    int cancel_fd;       /* readable: stop waiting for fd (-1: none) */
    int32_t compression; /* NONE, GZIP or ZSTD once open */
    int in_eof;
    int done;
    uint8_t *in; /* IN_SIZE: read from fd (for NONE, only the sniffed first bytes) */
    size_t in_pos, in_len;
    /* Handed-out blocks rotate through these, so that USTREAM_BLOCKS - 1 of them stay valid. */
    uint8_t *out[USTREAM_BLOCKS];
    unsigned next_out;
    struct inflate_state *gz;
    ZSTD_DCtx *zs;
    size_t zs_hint; /* the last ZSTD_decompressStream result: 0 at a frame's end */
    int zs_full;    /* the last call filled the output: more may be buffered */
    struct digester *md;
    uint64_t compressed, uncompressed;
    /* The limits (unpack_limits.c), checked after each block: */
    struct unpack_limits limits;
    int has_limits;
    uint64_t charged;       /* of `uncompressed`, what limits.shared has been charged with */
    int free_fd;            /* the target's filesystem, for the free-space reserve (-1: none) */
    const char *free_where; /* its name, for messages */
    uint64_t next_free_check;
};

/* How often the free space is looked at while unpacking: often enough to stop well before the reserve is gone. */
#define FREE_CHECK_EVERY (8u << 20)

/* Corrupt or truncated content. */
#define bad_data(reterr, ...) error_set((reterr), CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, __VA_ARGS__)

/* Wait until fd is readable, unless cancel_fd says stop first (fd may be a pipe whose writer stalls). */
static int wait_readable(struct ustream *s, struct cleat_error **reterr) {
    struct pollfd p[2] = {{.fd = s->fd, .events = POLLIN}, {.fd = s->cancel_fd, .events = POLLIN}};
    if (s->cancel_fd < 0)
        return 0;
    for (;;) {
        int n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "poll: %s", strerror(errno));
        if (p[1].revents)
            return error_set(reterr, CLEAT_STATUS_CANCELLED, ECANCELED, "unpacking cancelled");
        return 0; /* readable, end of file or error: read(2) tells which */
    }
}

/* One read(2) into buf[0..size); *n == 0 at end of file (sets in_eof).  fd may be non-blocking. */
static int read_some(struct ustream *s, uint8_t *buf, size_t size, size_t *n, struct cleat_error **reterr) {
    ssize_t r;
    for (;;) {
        int rc = wait_readable(s, reterr);
        if (rc < 0)
            return rc;
        r = read(s->fd, buf, size);
        if (r >= 0)
            break;
        if (errno == EAGAIN && s->cancel_fd < 0) /* nothing to wait with: do not spin */
            return error_set(reterr, CLEAT_STATUS_INTERNAL, EAGAIN, "cannot read the layer: %s", strerror(EAGAIN));
        if (errno != EINTR && errno != EAGAIN)
            return error_set(reterr, unpack_errno_status(errno), errno, "cannot read the layer: %s", strerror(errno));
    }
    if (r == 0)
        s->in_eof = 1;
    s->compressed += (uint64_t)r;
    *n = (size_t)r;
    return 0;
}

/* Append one read(2) to in[in_len..]. */
static int read_more(struct ustream *s, struct cleat_error **reterr) {
    size_t n = 0;
    int r = read_some(s, s->in + s->in_len, IN_SIZE - s->in_len, &n, reterr);
    s->in_len += n;
    return r;
}

static uint8_t *out_block(struct ustream *s) {
    uint8_t *b = s->out[s->next_out];
    s->next_out = (s->next_out + 1) % USTREAM_BLOCKS;
    return b;
}

/* Refill an empty input buffer. */
static int refill(struct ustream *s, struct cleat_error **reterr) {
    s->in_pos = s->in_len = 0;
    return read_more(s, reterr);
}

static int32_t sniff(const uint8_t *p, size_t n) {
    if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
        return UNPACK_COMPRESSION_GZIP;
    /* A zstd frame, or a skippable frame (0x184D2A5?) as seekable zstd writes. */
    if (n >= 4 && ((p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd) ||
                   ((p[0] & 0xf0) == 0x50 && p[1] == 0x2a && p[2] == 0x4d && p[3] == 0x18)))
        return UNPACK_COMPRESSION_ZSTD;
    return UNPACK_COMPRESSION_NONE;
}

static int check_magic(struct ustream *s, int32_t declared, const char *media_type, struct cleat_error **reterr) {
    int32_t found = sniff(s->in, s->in_len);
    if (declared == UNPACK_COMPRESSION_AUTO || declared == found) {
        s->compression = found;
        return 0;
    }
    if (s->in_len == 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "media type %s says %s, but the layer is empty",
                         media_type ? media_type : "(none)", unpack_compression_name(declared));
    const uint8_t *p = s->in;
    return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                     "media type %s says %s, but the content is %s (starts with %02x %02x %02x %02x)",
                     media_type ? media_type : "(none)", unpack_compression_name(declared),
                     found == UNPACK_COMPRESSION_NONE ? "not compressed that way" : unpack_compression_name(found),
                     p[0], s->in_len > 1 ? p[1] : 0, s->in_len > 2 ? p[2] : 0, s->in_len > 3 ? p[3] : 0);
}

static int codec_init(struct ustream *s, struct cleat_error **reterr) {
    for (unsigned i = 0; i < USTREAM_BLOCKS; i++)
        if (!(s->out[i] = malloc(OUT_SIZE)))
            return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    if (s->compression == UNPACK_COMPRESSION_NONE)
        return 0;
    if (s->compression == UNPACK_COMPRESSION_GZIP) {
        s->gz = malloc(sizeof(*s->gz));
        if (!s->gz)
            return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        isal_inflate_init(s->gz);
        s->gz->crc_flag = ISAL_GZIP; /* parse the header, verify the CRC-32 and length trailer */
        s->gz->next_in = s->in;
        s->gz->avail_in = (uint32_t)s->in_len;
        return 0;
    }
    s->zs = ZSTD_createDCtx();
    if (!s->zs)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    s->zs_hint = 1; /* nothing decoded yet: an empty stream is a truncated one */
    return 0;
}

int ustream_open(int fd, int cancel_fd, int32_t compression, const char *media_type, struct ustream **ret,
                 struct cleat_error **reterr) {
    struct ustream *s = calloc(1, sizeof(*s));
    int r;
    if (!s || !(s->in = malloc(IN_SIZE)) || !(s->md = digester_new("sha256"))) {
        ustream_free(s);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    s->fd = fd;
    s->cancel_fd = cancel_fd;
    s->free_fd = -1;
    /* A pipe may hand out fewer bytes than the magic is long. */
    while (s->in_len < 4 && !s->in_eof)
        if ((r = read_more(s, reterr)) < 0) {
            ustream_free(s);
            return r;
        }
    if ((r = check_magic(s, compression, media_type, reterr)) < 0 || (r = codec_init(s, reterr)) < 0) {
        ustream_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

void ustream_free(struct ustream *s) {
    if (!s)
        return;
    ZSTD_freeDCtx(s->zs);
    free(s->gz);
    for (unsigned i = 0; i < USTREAM_BLOCKS; i++)
        free(s->out[i]);
    free(s->in);
    digester_free(s->md);
    free(s);
}

static int next_none(struct ustream *s, const void **buf, size_t *len, struct cleat_error **reterr) {
    if (s->in_pos < s->in_len) { /* the sniffed first bytes */
        *buf = s->in + s->in_pos;
        *len = s->in_len - s->in_pos;
        s->in_pos = s->in_len;
        return 0;
    }
    if (s->in_eof)
        return 0;
    uint8_t *b = out_block(s);
    *buf = b;
    return read_some(s, b, OUT_SIZE, len, reterr);
}

static const char *isal_error(int r) {
    switch (r) {
    case ISAL_INVALID_WRAPPER:
        return "invalid gzip header";
    case ISAL_UNSUPPORTED_METHOD:
        return "gzip member is not deflate-compressed";
    case ISAL_INCORRECT_CHECKSUM:
        return "gzip checksum mismatch";
    case ISAL_NEED_DICT:
        return "deflate stream needs a preset dictionary";
    default:
        return "invalid deflate data";
    }
}

/*
 * gzip, including concatenated members (what pigz and some registries
 * write).  After a member's trailer only another member or the end of the
 * blob may follow: trailing garbage is refused, as Go's gzip reader does.
 */
static int next_gzip(struct ustream *s, const void **buf, size_t *len, struct cleat_error **reterr) {
    struct inflate_state *st = s->gz;
    for (;;) {
        if (st->avail_in == 0 && !s->in_eof) {
            int r = refill(s, reterr);
            if (r < 0)
                return r;
            st->next_in = s->in;
            st->avail_in = (uint32_t)s->in_len;
        }
        if (st->block_state == ISAL_BLOCK_FINISH) {
            if (st->avail_in == 0)
                return 0; /* in_eof: a clean end after a whole member */
            if (st->next_in[0] != 0x1f || (st->avail_in > 1 && st->next_in[1] != 0x8b))
                return bad_data(reterr, "trailing garbage after the gzip stream");
            isal_inflate_reset(st); /* keeps next_in/avail_in and crc_flag */
        }
        uint8_t *out = s->out[s->next_out];
        st->next_out = out;
        st->avail_out = OUT_SIZE;
        uint32_t avail_before = st->avail_in;
        enum isal_block_state state_before = st->block_state;
        int r = isal_inflate(st);
        if (r != ISAL_DECOMP_OK)
            return bad_data(reterr, "corrupt gzip layer: %s", isal_error(r));
        *len = OUT_SIZE - st->avail_out;
        if (*len) {
            *buf = out_block(s);
            return 0;
        }
        if (st->block_state != ISAL_BLOCK_FINISH && st->avail_in == 0 && s->in_eof)
            return bad_data(reterr, "truncated gzip layer: the blob ends inside a gzip member");
        /* Never spin: a call that neither reads, writes nor moves on is an error. */
        if (st->avail_in != 0 && st->avail_in == avail_before && st->block_state == state_before)
            return bad_data(reterr, "corrupt gzip layer: the decoder makes no progress");
    }
}

static int next_zstd(struct ustream *s, const void **buf, size_t *len, struct cleat_error **reterr) {
    for (;;) {
        if (s->in_pos == s->in_len && !s->zs_full) {
            if (s->in_eof) {
                if (s->zs_hint != 0)
                    return bad_data(reterr, "truncated zstd layer: the blob ends inside a frame");
                return 0;
            }
            int r = refill(s, reterr);
            if (r < 0)
                return r;
            continue;
        }
        ZSTD_inBuffer in = {s->in, s->in_len, s->in_pos};
        ZSTD_outBuffer out = {s->out[s->next_out], OUT_SIZE, 0};
        size_t r = ZSTD_decompressStream(s->zs, &out, &in);
        if (ZSTD_isError(r))
            return bad_data(reterr, "corrupt zstd layer: %s", ZSTD_getErrorName(r));
        s->in_pos = in.pos;
        s->zs_hint = r;
        s->zs_full = out.pos == out.size;
        if (out.pos) {
            *buf = out_block(s);
            *len = out.pos;
            return 0;
        }
    }
}

void ustream_set_limits(struct ustream *s, const struct unpack_limits *limits, int free_fd, const char *where) {
    if (!limits)
        return;
    s->limits = *limits;
    s->has_limits = 1;
    s->free_fd = free_fd;
    s->free_where = where;
    s->next_free_check = FREE_CHECK_EVERY;
}

/*
 * The compressed bytes the decoder has consumed (read, less what waits in
 * the input buffer): the ratio guard's denominator.  Counting what was read
 * instead would let the first 1 MiB read of a small bomb pass for
 * compressed data that has not been decoded yet.
 */
static uint64_t consumed(const struct ustream *s) {
    switch (s->compression) {
    case UNPACK_COMPRESSION_GZIP:
        return s->compressed - s->gz->avail_in;
    case UNPACK_COMPRESSION_ZSTD:
        return s->compressed - (s->in_len - s->in_pos);
    default:
        return s->uncompressed;
    }
}

static int check_limits(struct ustream *s, struct cleat_error **reterr) {
    if (!s->has_limits)
        return 0;
    int r = unpack_check_limits(&s->limits, consumed(s), s->uncompressed, reterr);
    if (r >= 0 && s->uncompressed > s->charged) {
        r = unpack_charge_budget(s->limits.shared, s->uncompressed - s->charged, reterr);
        s->charged = s->uncompressed;
    }
    if (r < 0 || s->uncompressed < s->next_free_check)
        return r;
    s->next_free_check = s->uncompressed + FREE_CHECK_EVERY;
    return unpack_check_free_space_fd(s->free_fd, s->free_where, s->uncompressed, &s->limits, reterr);
}

int ustream_next(struct ustream *s, const void **buf, size_t *len, struct cleat_error **reterr) {
    int r;
    *len = 0;
    if (s->done)
        return 0;
    switch (s->compression) {
    case UNPACK_COMPRESSION_GZIP:
        r = next_gzip(s, buf, len, reterr);
        break;
    case UNPACK_COMPRESSION_ZSTD:
        r = next_zstd(s, buf, len, reterr);
        break;
    default:
        r = next_none(s, buf, len, reterr);
        break;
    }
    if (r < 0)
        return r;
    if (*len == 0) {
        s->done = 1;
        return 0;
    }
    digester_update(s->md, *buf, *len);
    s->uncompressed += *len;
    if ((r = check_limits(s, reterr)) < 0) {
        *len = 0;
        return r;
    }
    return 0;
}

int ustream_diff_id(struct ustream *s, char out[UNPACK_DIFF_ID_SIZE], struct cleat_error **reterr) {
    char d[DIGEST_MAX];
    digester_final(s->md, d);
    if (strlen(d) != UNPACK_DIFF_ID_SIZE - 1) /* "" if OpenSSL failed */
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EIO, "cannot compute the layer's sha256");
    memcpy(out, d, UNPACK_DIFF_ID_SIZE);
    return 0;
}

void ustream_stats(const struct ustream *s, uint64_t *compressed, uint64_t *uncompressed, int32_t *compression) {
    *compressed = s->compressed;
    *uncompressed = s->uncompressed;
    *compression = s->compression;
}

const char *unpack_compression_name(int32_t compression) {
    switch (compression) {
    case UNPACK_COMPRESSION_NONE:
        return "none";
    case UNPACK_COMPRESSION_GZIP:
        return "gzip";
    case UNPACK_COMPRESSION_ZSTD:
        return "zstd";
    default:
        return "auto";
    }
}
