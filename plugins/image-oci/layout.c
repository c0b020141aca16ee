/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI image layouts on disk (image-spec image-layout.md): PATH/oci-layout,
 * PATH/index.json and PATH/blobs/<alg>/<hex>.  Every call opens what it
 * reads, so concurrent fetches share nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "oci.h"

int oci_open_regular(const char *path, struct stat *st) {
    int pfd = open(path, O_PATH | O_CLOEXEC);
    if (pfd < 0)
        return -errno;
    int fd = fstat(pfd, st) < 0 ? -errno : S_ISREG(st->st_mode) ? 0 : -EINVAL;
    if (fd == 0) {
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
        fd = open(proc, O_RDONLY | O_NOCTTY | O_CLOEXEC);
        fd = fd < 0 ? -errno : fd;
    }
    close(pfd);
    return fd;
}

int oci_read_file(const char *path, size_t max, char **ret, size_t *ret_len) {
    struct stat st;
    _oci_close_ int fd = oci_open_regular(path, &st);
    if (fd == -EINVAL && S_ISDIR(st.st_mode))
        return -EISDIR;
    if (fd < 0)
        return fd;
    if ((uint64_t)st.st_size > max)
        return -EFBIG;
    size_t len = 0, size = (size_t)st.st_size;
    _oci_free_ char *buf = malloc(size + 1);
    if (!buf)
        return -ENOMEM;
    while (len < size) {
        ssize_t n = read(fd, buf + len, size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break; /* shrank meanwhile: the JSON parser judges what is there */
        len += (size_t)n;
    }
    buf[len] = '\0';
    *ret = buf;
    buf = NULL;
    *ret_len = len;
    return 0;
}

int oci_resume_offset(const struct oci *oci, const struct cleat_blob_writer *writer, int64_t size, const char *what,
                      int64_t *ret, struct cleat_error **reterr) {
    uint64_t offset = oci->host->blob_offset(writer);
    if (offset > (uint64_t)size)
        return oci_error(oci, reterr, CLEAT_STATUS_OUT_OF_RANGE, ERANGE,
                         "cannot resume %s at byte %" PRIu64 ": it has only %" PRId64 " bytes", what, offset, size);
    *ret = (int64_t)offset;
    return 0;
}

int oci_copy_fd(const struct oci *oci, int fd, int64_t offset, int64_t end, struct cleat_blob_writer *writer,
                const char *what, struct cleat_error **reterr) {
    _oci_free_ char *buf = offset < end ? malloc(OCI_BUF_SIZE) : NULL;
    if (offset < end && !buf)
        return oci_error(oci, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    while (offset < end) {
        size_t want = (uint64_t)(end - offset) < OCI_BUF_SIZE ? (size_t)(end - offset) : OCI_BUF_SIZE;
        ssize_t n = pread(fd, buf, want, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            return oci_error(oci, reterr, oci_errno_status(e), e, "reading %s: %s", what, strerror(e));
        }
        if (n == 0)
            return oci_error(oci, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EIO,
                             "%s ends after %" PRId64 " of %" PRId64 " bytes: was it truncated?", what, offset, end);
        int r = oci->host->blob_write(writer, buf, (uint64_t)n, reterr);
        if (r < 0) {
            if (reterr && *reterr)
                oci->host->error_wrap(*reterr, "%s", what);
            return r;
        }
        offset += n;
    }
    return 0;
}

/* Read PATH/<name>, saying that PATH is no layout when the file is missing. */
static int read_meta(const struct oci *oci, const char *dir, const char *name, size_t max, char **ret,
                     size_t *ret_len, struct cleat_error **reterr) {
    _oci_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return oci_error(oci, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    int r = oci_read_file(path, max, ret, ret_len);
    if (r == -ENOENT)
        return oci_error(oci, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOENT,
                         "%s is not an OCI image layout: it has no %s file", dir, name);
    if (r == -EFBIG)
        return oci_error(oci, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EFBIG, "%s is larger than %zu bytes", path,
                         max);
    if (r == -EINVAL)
        return oci_error(oci, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL, "%s is not a regular file", path);
    if (r < 0)
        return oci_error(oci, reterr, oci_errno_status(-r), -r, "reading %s: %s", path, strerror(-r));
    return 0;
}

int oci_layout_resolve(struct oci *oci, const struct oci_ref *ref, cleat_resolved_fn fn, void *ctx,
                       struct cleat_error **reterr) {
    struct stat st;
    if (stat(ref->path, &st) < 0) {
        int e = errno;
        return oci_error(oci, reterr, oci_errno_status(e), e, "OCI layout %s: %s", ref->path, strerror(e));
    }
    if (!S_ISDIR(st.st_mode))
        return oci_error(oci, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTDIR,
                         "%s is not an OCI layout directory (for a tarball, use oci-archive:%s)", ref->path,
                         ref->path);
    _oci_free_ char *marker = NULL, *index = NULL, *where = NULL, *marker_where = NULL;
    size_t marker_len = 0, index_len = 0;
    int r = read_meta(oci, ref->path, "oci-layout", OCI_LAYOUT_FILE_MAX, &marker, &marker_len, reterr);
    if (r < 0)
        return r;
    if (asprintf(&marker_where, "%s/oci-layout", ref->path) < 0 || asprintf(&where, "%s/index.json", ref->path) < 0)
        return oci_error(oci, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    if ((r = oci_check_layout_file(oci, marker_where, marker, marker_len, reterr)) < 0 ||
        (r = read_meta(oci, ref->path, "index.json", OCI_INDEX_MAX, &index, &index_len, reterr)) < 0)
        return r;
    return oci_index_resolve(oci, ref, where, index, index_len, fn, ctx, reterr);
}

int oci_layout_fetch(struct oci *oci, const struct oci_ref *ref, const struct cleat_descriptor *desc,
                     struct cleat_blob_writer *writer, struct cleat_error **reterr) {
    _oci_free_ char *name = oci_blob_name(desc->digest), *path = NULL, *what = NULL;
    if (!name || asprintf(&path, "%s/%s", ref->path, name) < 0 ||
        asprintf(&what, "blob %s in OCI layout %s", desc->digest, ref->path) < 0)
        return oci_error(oci, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    struct stat st;
    _oci_close_ int fd = oci_open_regular(path, &st);
    if (fd == -EINVAL)
        return oci_error(oci, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL, "%s: %s is not a regular file", what,
                         path);
    if (fd < 0) {
        int e = -fd;
        return oci_error(oci, reterr, oci_errno_status(e), e, "%s: %s: %s%s", what, path, strerror(e),
                         e == ENOENT && desc->urls && desc->urls[0]
                             ? " (a foreign layer, listing urls: this transport does not download those)"
                             : "");
    }
    int64_t size = (int64_t)st.st_size, offset = 0;
    if (desc->size >= 0 && desc->size != size)
        return oci_error(oci, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                         "%s has %" PRId64 " bytes, its descriptor says %" PRId64, what, size, desc->size);
    int r = oci_resume_offset(oci, writer, size, what, &offset, reterr);
    if (r < 0)
        return r;
    (void)posix_fadvise(fd, (off_t)offset, 0, POSIX_FADV_SEQUENTIAL);
    return oci_copy_fd(oci, fd, offset, size, writer, what, reterr);
}
