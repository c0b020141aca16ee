/* SPDX-License-Identifier: Apache-2.0 */
#include "fsutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int mkdir_p(const char *path, mode_t mode, struct cleat_error **reterr) {
    char *p = strdup(path);
    if (!p)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        struct stat st;
        if (mkdir(p, mode) < 0 && (errno != EEXIST || stat(p, &st) < 0 || !S_ISDIR(st.st_mode))) {
            int e = errno == EEXIST ? ENOTDIR : errno;
            free(p);
            return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, e, "cannot create directory %s: %s", path,
                             strerror(e));
        }
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    int r = type == FTW_DP ? rmdir(path) : unlink(path);
    return r < 0 && errno != ENOENT ? -errno : 0;
}

int rm_tree(const char *path, struct cleat_error **reterr) {
    struct stat st;
    if (lstat(path, &st) < 0 && errno == ENOENT)
        return 0;
    int r = nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    if (r == 0)
        return 0;
    int e = r < 0 ? -r : errno;
    if (e == ENOENT)
        return 0;
    return error_set(reterr, CLEAT_STATUS_INTERNAL, e, "cannot remove %s: %s", path, strerror(e));
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct cleat_error **reterr) {
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp", path) < 0)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    int e = 0;
    if (fd < 0)
        e = errno;
    for (size_t off = 0; !e && off < len;) {
        ssize_t n = write(fd, (const char *)data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            e = errno;
        else
            off += (size_t)n;
    }
    if (!e && fsync(fd) < 0)
        e = errno;
    if (fd >= 0 && close(fd) < 0 && !e)
        e = errno;
    if (!e && rename(tmp, path) < 0)
        e = errno;
    if (e)
        unlink(tmp);
    free(tmp);
    if (e)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, e, "cannot write %s: %s", path, strerror(e));
    return 0;
}

int read_file(const char *path, size_t max_len, char **ret, size_t *ret_len, struct cleat_error **reterr) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(reterr, errno == ENOENT ? CLEAT_STATUS_NOT_FOUND : CLEAT_STATUS_INTERNAL, errno,
                         "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int e = fstat(fd, &st) < 0 ? errno : 0;
    if (!e && !S_ISREG(st.st_mode))
        e = EINVAL;
    /* Read to EOF, not st_size: /proc and cgroup files say 0 and have content. */
    while (!e) {
        if (len == cap) {
            size_t ncap = cap ? 2 * cap : ((size_t)st.st_size >= 4096 ? (size_t)st.st_size + 1 : 4096);
            char *b = realloc(buf, ncap + 1);
            if (!b) {
                e = ENOMEM;
                break;
            }
            buf = b;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            e = errno;
        else if (n == 0)
            break;
        else if ((len += (size_t)n) > max_len)
            e = EFBIG;
    }
    close(fd);
    if (e) {
        free(buf);
        return error_set(reterr, CLEAT_STATUS_INTERNAL, e, "cannot read %s: %s", path, strerror(e));
    }
    if (!buf && !(buf = malloc(1)))
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    buf[len] = '\0';
    *ret = buf;
    if (ret_len)
        *ret_len = len;
    return 0;
}
