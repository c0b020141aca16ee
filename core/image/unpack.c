/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unpack_layer: the input stream (unpack_decompress.c), running in its own
 * thread, feeds libarchive's tar reader through a read callback, and each
 * entry goes to the hardened extractor (unpack_extract.c).  One pass,
 * bounded memory.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "digest.h"
#include "error.h"
#include "unpack.h"
#include "unpack_decompress.h"
#include "unpack_extract.h"
#include "unpack_limits.h"

static const struct {
    const char *media_type;
    int32_t compression;
} media_types[] = {
    {"application/vnd.oci.image.layer.v1.tar", UNPACK_COMPRESSION_NONE},
    {"application/vnd.oci.image.layer.v1.tar+gzip", UNPACK_COMPRESSION_GZIP},
    {"application/vnd.oci.image.layer.v1.tar+zstd", UNPACK_COMPRESSION_ZSTD},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar", UNPACK_COMPRESSION_NONE},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", UNPACK_COMPRESSION_GZIP},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", UNPACK_COMPRESSION_ZSTD},
    {"application/vnd.docker.image.rootfs.diff.tar", UNPACK_COMPRESSION_NONE},
    {"application/vnd.docker.image.rootfs.diff.tar.gzip", UNPACK_COMPRESSION_GZIP},
    {"application/vnd.docker.image.rootfs.diff.tar.zstd", UNPACK_COMPRESSION_ZSTD},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar", UNPACK_COMPRESSION_NONE},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", UNPACK_COMPRESSION_GZIP},
};

int unpack_media_type_compression(const char *media_type, int32_t *ret, struct cleat_error **reterr) {
    if (!media_type) {
        *ret = UNPACK_COMPRESSION_AUTO;
        return 0;
    }
    for (size_t i = 0; i < sizeof(media_types) / sizeof(media_types[0]); i++)
        if (strcmp(media_type, media_types[i].media_type) == 0) {
            *ret = media_types[i].compression;
            return 0;
        }
    return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "unsupported layer media type '%.200s'",
                     media_type);
}

/*
 * Two threads: a producer reads, decompresses and hashes (ustream), the
 * caller's thread parses the tar and writes files.  They overlap, which
 * takes a third or more off the wall time of a big layer.  Blocks are handed over
 * without copying: ustream rotates through USTREAM_BLOCKS buffers, and the
 * producer never runs further ahead than the buffers the consumer has given
 * back (libarchive needs a block only until its next read callback).
 */
struct pipeline {
    struct ustream *s;
    pthread_t thread;
    int cancel_fd; /* an eventfd: wakes a producer blocked in poll/read on a pipe */
    pthread_mutex_t mu;
    pthread_cond_t filled, freed;
    struct block {
        const void *buf;
        size_t len;
    } q[USTREAM_BLOCKS];
    unsigned head, count; /* blocks produced, not yet taken */
    int held;             /* the consumer holds one block */
    int done;             /* the producer has stopped: end of stream, error or cancel */
    int cancel;
    struct cleat_error *err; /* the producer's error */
    /* The consumer's side: */
    int failed;                 /* pipeline_next returned an error */
    struct cleat_error *rd_err; /* for libarchive's read callback */
};

static void *producer(void *arg) {
    struct pipeline *p = arg;
    struct cleat_error *err = NULL;
    for (;;) {
        const void *buf = NULL;
        size_t len = 0;
        pthread_mutex_lock(&p->mu);
        while (!p->cancel && p->count + (unsigned)p->held >= USTREAM_BLOCKS)
            pthread_cond_wait(&p->freed, &p->mu);
        int cancel = p->cancel;
        pthread_mutex_unlock(&p->mu);
        int r = cancel ? 0 : ustream_next(p->s, &buf, &len, &err);
        pthread_mutex_lock(&p->mu);
        if (r < 0 || len == 0) {
            p->err = err;
            p->done = 1;
            pthread_cond_signal(&p->filled);
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        p->q[(p->head + p->count) % USTREAM_BLOCKS] = (struct block){buf, len};
        p->count++;
        pthread_cond_signal(&p->filled);
        pthread_mutex_unlock(&p->mu);
    }
}

/* The stream of fd, limited as `limits` say (the free space: of x's target), read by a thread of its own. */
static int pipeline_start(struct pipeline *p, int fd, int32_t compression, const char *media_type,
                          const struct unpack_limits *limits, const struct extractor *x, const char *target_name,
                          struct cleat_error **reterr) {
    int r;
    p->cancel_fd = eventfd(0, EFD_CLOEXEC);
    if (p->cancel_fd < 0)
        return error_set(reterr, unpack_errno_status(errno), errno, "eventfd: %s", strerror(errno));
    if ((r = ustream_open(fd, p->cancel_fd, compression, media_type, &p->s, reterr)) < 0) {
        close(p->cancel_fd);
        return r;
    }
    ustream_set_limits(p->s, limits, extract_root_fd(x), target_name);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->filled, NULL);
    pthread_cond_init(&p->freed, NULL);
    if ((r = pthread_create(&p->thread, NULL, producer, p)) != 0) {
        pthread_cond_destroy(&p->freed);
        pthread_cond_destroy(&p->filled);
        pthread_mutex_destroy(&p->mu);
        ustream_free(p->s);
        close(p->cancel_fd);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, r, "cannot start a thread: %s", strerror(r));
    }
    pthread_setname_np(p->thread, "cleat-unpack");
    return 0;
}

/* Stop the producer (if it still runs) and wait for it; the stream stays for its digest. */
static void pipeline_stop(struct pipeline *p) {
    uint64_t one = 1;
    pthread_mutex_lock(&p->mu);
    p->cancel = 1;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->mu);
    if (write(p->cancel_fd, &one, sizeof(one)) < 0) {
        /* cannot fail for an eventfd below its maximum; the join below would still end at EOF */
    }
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->freed);
    pthread_cond_destroy(&p->filled);
    pthread_mutex_destroy(&p->mu);
    close(p->cancel_fd);
    error_free(p->err);
    error_free(p->rd_err);
}

/* The next block (giving back the one held); *len == 0 at the end.  Like ustream_next. */
static int pipeline_next(struct pipeline *p, const void **buf, size_t *len, struct cleat_error **reterr) {
    int r = 0;
    *len = 0;
    if (p->failed)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EIO, "layer stream already failed");
    pthread_mutex_lock(&p->mu);
    if (p->held) {
        p->held = 0;
        pthread_cond_signal(&p->freed);
    }
    while (!p->count && !p->done)
        pthread_cond_wait(&p->filled, &p->mu);
    if (p->count) {
        *buf = p->q[p->head].buf;
        *len = p->q[p->head].len;
        p->head = (p->head + 1) % USTREAM_BLOCKS;
        p->count--;
        p->held = 1;
    } else if (p->err) {
        r = -(error_errno(p->err) > 0 ? error_errno(p->err) : EINVAL);
        if (reterr) {
            error_free(*reterr);
            *reterr = p->err;
        } else {
            error_free(p->err);
        }
        p->err = NULL;
        p->failed = 1;
    }
    pthread_mutex_unlock(&p->mu);
    return r;
}

static la_ssize_t read_cb(struct archive *a, void *client, const void **buf) {
    struct pipeline *p = client;
    size_t len = 0;
    if (pipeline_next(p, buf, &len, &p->rd_err) < 0) {
        archive_set_error(a, EIO, "%s", error_message(p->rd_err));
        return -1;
    }
    return (la_ssize_t)len;
}

/* A libarchive failure: the stream's error if it caused it (p may be NULL), else libarchive's message. */
static int archive_failed(struct archive *a, struct pipeline *p, struct cleat_error **reterr) {
    if (p && p->rd_err) {
        int r = -(error_errno(p->rd_err) > 0 ? error_errno(p->rd_err) : EINVAL);
        if (reterr) {
            error_free(*reterr);
            *reterr = p->rd_err;
        } else {
            error_free(p->rd_err);
        }
        p->rd_err = NULL;
        return r;
    }
    const char *msg = archive_error_string(a);
    return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "cannot read the layer's tar: %s",
                     msg ? msg : "unknown error");
}

/* A tar reader: tar only (every variant: ustar, pax, GNU); no libarchive filters, we decompress ourselves. */
static struct archive *tar_reader(struct cleat_error **reterr) {
    struct archive *a = archive_read_new();
    if (!a) {
        error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        return NULL;
    }
    archive_read_support_format_tar(a);
    archive_read_support_format_empty(a);
    return a;
}

/* Every entry of the open archive a into x; p (NULL for memory) is where a reads from. */
static int extract_entries(struct archive *a, struct pipeline *p, struct extractor *x, struct unpack_result *res,
                           struct cleat_error **reterr) {
    struct archive_entry *e;
    int r;
    for (;;) {
        int ar = archive_read_next_header(a, &e);
        if (ar == ARCHIVE_EOF)
            break;
        /* ARCHIVE_WARN: e.g. a UTF-8 name not convertible to the C locale; the raw bytes are kept. */
        if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN)
            return archive_failed(a, p, reterr);
        res->entries++;
        r = extract_entry(x, a, e, reterr);
        if (r < 0) {
            if (p && p->rd_err) /* the data ended early, was corrupt or passed a limit: say that */
                r = archive_failed(a, p, reterr);
            return r;
        }
    }
    r = extract_finish(x, reterr);
    extract_stats(x, &res->file_bytes, &res->whiteouts);
    return r;
}

static int extract_all(struct pipeline *p, struct extractor *x, struct unpack_result *res,
                       struct cleat_error **reterr) {
    struct archive *a = tar_reader(reterr);
    if (!a)
        return -ENOMEM;
    int r = archive_read_open(a, p, NULL, read_cb, NULL) != ARCHIVE_OK ? archive_failed(a, p, reterr)
                                                                       : extract_entries(a, p, x, res, reterr);
    archive_read_free(a);
    return r;
}

/* Read (and hash) what follows the tar's end marker: it is part of the diff_id. */
static int drain(struct pipeline *p, struct cleat_error **reterr) {
    const void *buf;
    size_t len;
    do {
        int r = pipeline_next(p, &buf, &len, reterr);
        if (r < 0)
            return r;
    } while (len);
    return 0;
}

int unpack_layer(int fd, const char *media_type, const char *expected_diff_id, const char *target_dir,
                 const struct unpack_limits *limits, struct unpack_result *ret, struct cleat_error **reterr) {
    if (!target_dir)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "unpack_layer: bad arguments");
    struct unpack_target t = {.dir = target_dir, .dirfd = -1, .whiteouts = UNPACK_WHITEOUTS_OVERLAY};
    return unpack_layer_into(fd, media_type, expected_diff_id, &t, limits, ret, reterr);
}

int unpack_layer_into(int fd, const char *media_type, const char *expected_diff_id, const struct unpack_target *target,
                      const struct unpack_limits *limits, struct unpack_result *ret, struct cleat_error **reterr) {
    struct pipeline p = {0};
    struct extractor *x = NULL;
    struct unpack_result res = {0};
    int32_t compression = UNPACK_COMPRESSION_AUTO;
    int r;

    if (fd < 0 || !target || !ret)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "unpack_layer: bad arguments");
    const char *name = unpack_target_name(target);
    if (expected_diff_id && (r = digest_check_computable(expected_diff_id, reterr)) < 0)
        return error_prefix(r, reterr, "layer diff_id");
    if ((r = unpack_media_type_compression(media_type, &compression, reterr)) < 0 ||
        (r = extract_open(target, &x, reterr)) < 0)
        return r;
    if ((r = unpack_check_free_space_fd(extract_root_fd(x), name, 0, limits, reterr)) < 0 ||
        (r = pipeline_start(&p, fd, compression, media_type, limits, x, name, reterr)) < 0) {
        extract_free(x);
        return r;
    }
    r = extract_all(&p, x, &res, reterr);
    if (r == 0)
        r = drain(&p, reterr);
    pipeline_stop(&p); /* after a full drain the producer has ended already: this only joins */
    extract_free(x);   /* after the producer: it looks at the free space through x's root fd */
    if (r == 0)
        r = ustream_diff_id(p.s, res.diff_id, reterr);
    if (r == 0 && expected_diff_id && strcmp(expected_diff_id, res.diff_id) != 0)
        r = error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                      "diff_id mismatch: config says %s, content is %s", expected_diff_id, res.diff_id);
    if (r == 0) {
        ustream_stats(p.s, &res.compressed_bytes, &res.uncompressed_bytes, &res.compression);
        *ret = res;
    }
    ustream_free(p.s);
    return r;
}

int unpack_tar_memory(const void *data, size_t size, const char *target_dir, struct unpack_result *ret,
                      struct cleat_error **reterr) {
    if (!target_dir)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "unpack_tar_memory: bad arguments");
    struct unpack_target t = {.dir = target_dir, .dirfd = -1, .whiteouts = UNPACK_WHITEOUTS_OVERLAY};
    return unpack_tar_memory_into(data, size, &t, ret, reterr);
}

int unpack_tar_memory_into(const void *data, size_t size, const struct unpack_target *target, struct unpack_result *ret,
                           struct cleat_error **reterr) {
    struct extractor *x = NULL;
    struct unpack_result res = {0};
    if ((!data && size) || !target)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "unpack_tar_memory: bad arguments");
    int r = extract_open(target, &x, reterr);
    if (r < 0)
        return r;
    struct archive *a = tar_reader(reterr);
    if (!a)
        r = -ENOMEM;
    else if (archive_read_open_memory(a, data, size) != ARCHIVE_OK)
        r = archive_failed(a, NULL, reterr);
    else
        r = extract_entries(a, NULL, x, &res, reterr);
    archive_read_free(a);
    extract_free(x);
    if (r == 0 && ret) {
        res.compressed_bytes = res.uncompressed_bytes = size;
        res.compression = UNPACK_COMPRESSION_NONE;
        *ret = res;
    }
    return r;
}
