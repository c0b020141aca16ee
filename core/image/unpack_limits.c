/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The limits of one unpack (struct unpack_limits in unpack.h): how many
 * bytes a layer may unpack to, how many per compressed byte once it is big,
 * and how much free space its filesystem keeps.  Pure checks on counts the
 * input stream keeps, plus statvfs.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "error.h"
#include "unpack_limits.h"

#define NAME(n, fallback) ((n) ? (n) : (fallback))

int unpack_check_limits(const struct unpack_limits *l, uint64_t compressed, uint64_t uncompressed,
                        struct cleat_error **reterr) {
    if (!l)
        return 0;
    if (l->max_bytes && uncompressed > l->max_bytes)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, EFBIG,
                         "the layer unpacks to more than %llu bytes, the limit of %s", (unsigned long long)l->max_bytes,
                         NAME(l->max_bytes_name, "this unpack"));
    /*
     * uncompressed > max_ratio * compressed, without overflowing; compressed
     * is never 0 once something came out, but an empty read must not divide.
     */
    if (l->max_ratio && uncompressed > l->ratio_min_bytes &&
        (compressed == 0 || (compressed <= UINT64_MAX / l->max_ratio && uncompressed > l->max_ratio * compressed)))
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, EFBIG,
                         "the layer unpacked to %llu bytes from %llu compressed bytes, more than %u times as many "
                         "(a decompression bomb?): refused by %s",
                         (unsigned long long)uncompressed, (unsigned long long)compressed, l->max_ratio,
                         NAME(l->max_ratio_name, "the compression-ratio limit"));
    return 0;
}

int unpack_charge_budget(struct unpack_budget *b, uint64_t bytes, struct cleat_error **reterr) {
    if (!b || !b->max)
        return 0;
    uint64_t before = atomic_fetch_add(&b->used, bytes), total = before + bytes;
    if (total >= before && total <= b->max) /* (total < before: it wrapped, which is past any limit) */
        return 0;
    return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, EFBIG,
                     "the image unpacks to more than %llu bytes, the limit of %s", (unsigned long long)b->max,
                     NAME(b->name, "the image"));
}

/* What statvfs said, against the reserve; `when` starts the message ("cannot start unpacking"). */
static int free_space_verdict(const struct statvfs *st, const char *where, const struct unpack_limits *l,
                              const char *when, struct cleat_error **reterr) {
    uint64_t avail = (uint64_t)st->f_bavail * (uint64_t)(st->f_frsize ? st->f_frsize : st->f_bsize);
    if (avail >= l->min_free_bytes)
        return 0;
    return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOSPC,
                     "%s: the filesystem of %s has %llu bytes free, less than the reserve of %s", when, where,
                     (unsigned long long)avail, NAME(l->min_free_name, "this unpack"));
}

int unpack_check_free_space_fd(int fd, const char *where, uint64_t done, const struct unpack_limits *l,
                               struct cleat_error **reterr) {
    struct statvfs st;
    char when[96];
    if (!l || !l->min_free_bytes || fd < 0)
        return 0;
    if (fstatvfs(fd, &st) < 0)
        return error_set(reterr, unpack_errno_status(errno), errno, "cannot see the free space of %s: %s", where,
                         strerror(errno));
    if (done)
        snprintf(when, sizeof(when), "stopped unpacking after %llu bytes", (unsigned long long)done);
    else
        snprintf(when, sizeof(when), "cannot start unpacking");
    return free_space_verdict(&st, where, l, when, reterr);
}

int unpack_errno_status(int errnum) {
    switch (errnum) {
    case ENOSPC:
    case EDQUOT:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
        return CLEAT_STATUS_RESOURCE_EXHAUSTED;
    /* What a malformed or hostile layer provokes. */
    case ELOOP:
    case ENOTDIR:
    case EISDIR:
    case ENAMETOOLONG:
    case ENOENT:
    case EEXIST:
    case ENOTEMPTY:
    case EXDEV:
    case EMLINK:
    case EFBIG:
    case EINVAL:
        return CLEAT_STATUS_INVALID_ARGUMENT;
    default:
        return CLEAT_STATUS_INTERNAL;
    }
}
