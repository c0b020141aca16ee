/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Copying a blob's bytes, from a layout's blob file or from inside an
 * uncompressed archive, into the host's writer, resuming where the writer
 * already is.  Shared by layout.c and archive.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "oci.h"

int oci_resume_offset(const struct oci *oci, const struct cleat_blob_writer *writer, int64_t size, const char *what,
                      int64_t *ret, struct cleat_error **reterr) {
    uint64_t offset = oci->host->blob_offset(writer);
    if (offset > (uint64_t)size)
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_OUT_OF_RANGE, ERANGE,
                               "cannot resume %s at byte %" PRIu64 ": it has only %" PRId64 " bytes", what, offset,
                               size);
    *ret = (int64_t)offset;
    return 0;
}

int oci_copy_fd(const struct oci *oci, int fd, int64_t offset, int64_t end, struct cleat_blob_writer *writer,
                const char *what, struct cleat_error **reterr) {
    _cleanup_free_ char *buf = offset < end ? malloc(OCI_BUF_SIZE) : NULL;
    if (offset < end && !buf)
        return plugin_oom(oci->host, reterr);
    while (offset < end) {
        size_t want = (uint64_t)(end - offset) < OCI_BUF_SIZE ? (size_t)(end - offset) : OCI_BUF_SIZE;
        ssize_t n = pread(fd, buf, want, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            return cleat_error_set(oci->host, reterr, plugin_errno_status(e), e, "reading %s: %s", what, strerror(e));
        }
        if (n == 0)
            return cleat_error_set(oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EIO,
                                   "%s ends after %" PRId64 " of %" PRId64 " bytes: was it truncated?", what, offset,
                                   end);
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
