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
#include "plugin_fs.h"

/* Read PATH/<name>, saying that PATH is no layout when the file is missing. */
static int read_meta(const struct oci *oci, const char *dir, const char *name, size_t max, char **ret, size_t *ret_len,
                     struct cleat_error **reterr) {
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return plugin_oom(oci->host, reterr);
    int r = plugin_read_file(path, max, ret, ret_len);
    if (r == -ENOENT)
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOENT,
                               "%s is not an OCI image layout: it has no %s file", dir, name);
    if (r == -EFBIG)
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EFBIG,
                               "%s is larger than %zu bytes", path, max);
    if (r == -EINVAL)
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL, "%s is not a regular file",
                               path);
    if (r < 0)
        return cleat_error_set(oci->host, reterr, plugin_errno_status(-r), -r, "reading %s: %s", path, strerror(-r));
    return 0;
}

int oci_layout_resolve(struct oci *oci, const struct oci_ref *ref, cleat_resolved_fn fn, void *ctx,
                       struct cleat_error **reterr) {
    struct stat st;
    if (stat(ref->path, &st) < 0) {
        int e = errno;
        return cleat_error_set(oci->host, reterr, plugin_errno_status(e), e, "OCI layout %s: %s", ref->path,
                               strerror(e));
    }
    if (!S_ISDIR(st.st_mode))
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTDIR,
                               "%s is not an OCI layout directory (for a tarball, use oci-archive:%s)", ref->path,
                               ref->path);
    _cleanup_free_ char *marker = NULL, *index = NULL, *where = NULL, *marker_where = NULL;
    size_t marker_len = 0, index_len = 0;
    int r = read_meta(oci, ref->path, "oci-layout", OCI_LAYOUT_FILE_MAX, &marker, &marker_len, reterr);
    if (r < 0)
        return r;
    if (asprintf(&marker_where, "%s/oci-layout", ref->path) < 0 || asprintf(&where, "%s/index.json", ref->path) < 0)
        return plugin_oom(oci->host, reterr);
    if ((r = oci_check_layout_file(oci, marker_where, marker, marker_len, reterr)) < 0 ||
        (r = read_meta(oci, ref->path, "index.json", OCI_INDEX_MAX, &index, &index_len, reterr)) < 0)
        return r;
    return oci_index_resolve(oci, ref, where, index, index_len, fn, ctx, reterr);
}

int oci_layout_fetch(struct oci *oci, const struct oci_ref *ref, const struct cleat_descriptor *desc,
                     struct cleat_blob_writer *writer, struct cleat_error **reterr) {
    _cleanup_free_ char *name = oci_blob_name(desc->digest), *path = NULL, *what = NULL;
    if (!name || asprintf(&path, "%s/%s", ref->path, name) < 0 ||
        asprintf(&what, "blob %s in OCI layout %s", desc->digest, ref->path) < 0)
        return plugin_oom(oci->host, reterr);
    struct stat st;
    _cleanup_close_ int fd = plugin_open_regular(path, &st);
    if (fd == -EINVAL)
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                               "%s: %s is not a regular file", what, path);
    if (fd < 0) {
        int e = -fd;
        return cleat_error_set(oci->host, reterr, plugin_errno_status(e), e, "%s: %s: %s%s", what, path, strerror(e),
                               e == ENOENT && desc->urls && desc->urls[0]
                                   ? " (a foreign layer, listing urls: this transport does not download those)"
                                   : "");
    }
    int64_t size = (int64_t)st.st_size, offset = 0;
    if (desc->size >= 0 && desc->size != size)
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                               "%s has %" PRId64 " bytes, its descriptor says %" PRId64, what, size, desc->size);
    int r = oci_resume_offset(oci, writer, size, what, &offset, reterr);
    if (r < 0)
        return r;
    (void)posix_fadvise(fd, (off_t)offset, 0, POSIX_FADV_SEQUENTIAL);
    return oci_copy_fd(oci, fd, offset, size, writer, what, reterr);
}
