/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin_cleanup.h"
#include "plugin_fs.h"

int plugin_mkdir_p(const char *path, mode_t mode) {
    if (!path || !path[0])
        return -EINVAL;
    _cleanup_free_ char *p = strdup(path);
    if (!p)
        return -ENOMEM;
    /* Each prefix that ends before a '/' (and the whole path): "/a/b" makes "/a", then "/a/b". */
    for (char *s = p + 1;; s++) {
        char c = *s;
        if (c != '/' && c != '\0')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return -errno;
        *s = c;
        if (c == '\0')
            break;
    }
    /* EEXIST above says only that something is there. */
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int plugin_open_regular(const char *path, struct stat *st) {
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

/* Read fd to its end into a buffer that grows, from `hint` bytes, to at most max + 1 (to see that it is too long). */
static int read_to_end(int fd, size_t hint, size_t max, char **ret, size_t *ret_len) {
    size_t cap = (hint < max ? hint : max) + 1, len = 0;
    if (cap < 256 && max >= 256)
        cap = 256;
    _cleanup_free_ char *buf = malloc(cap + 1);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (len == cap) {
            if (cap > max)
                return -EFBIG;
            size_t ncap = cap > max / 2 ? max + 1 : 2 * cap;
            char *nb = realloc(buf, ncap + 1);
            if (!nb)
                return -ENOMEM;
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max)
        return -EFBIG;
    buf[len] = '\0';
    *ret = TAKE_PTR(buf);
    if (ret_len)
        *ret_len = len;
    return 0;
}

int plugin_read_file(const char *path, size_t max, char **ret, size_t *ret_len) {
    struct stat st;
    _cleanup_close_ int fd = plugin_open_regular(path, &st);
    if (fd == -EINVAL && S_ISDIR(st.st_mode))
        return -EISDIR;
    if (fd < 0)
        return fd;
    if ((uint64_t)st.st_size > max)
        return -EFBIG;
    return read_to_end(fd, (size_t)st.st_size, max, ret, ret_len);
}

int plugin_write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_text_at(int dirfd, const char *path, int how, const char *text) {
    int fd = openat(dirfd, path, O_WRONLY | O_CREAT | how | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    int r = plugin_write_all(fd, text, strlen(text));
    if (close(fd) < 0 && r == 0)
        r = -errno;
    return r;
}

int plugin_write_file(const char *path, const char *text) {
    return write_text_at(AT_FDCWD, path, O_TRUNC, text);
}

int plugin_write_new_at(int dirfd, const char *path, const char *text) {
    return write_text_at(dirfd, path, O_EXCL, text);
}

int plugin_write_atomic(int dirfd, const char *tmp, const char *path, const void *data, size_t len) {
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int r = plugin_write_all(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && renameat(dirfd, tmp, dirfd, path) < 0)
        r = -errno;
    if (r < 0)
        (void)unlinkat(dirfd, tmp, 0);
    return r;
}

int plugin_fsync_dir(int dirfd, const char *path) {
    int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

int plugin_list_dir(int dirfd, const char *path, char ***ret) {
    int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int r = -errno;
        close(fd);
        return r;
    }
    _cleanup_strv_ char **names = calloc(1, sizeof(char *));
    size_t n = 0;
    int r = names ? 0 : -ENOMEM;
    for (struct dirent *de; r == 0 && (errno = 0, de = readdir(d));) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char **grown = realloc(names, (n + 2) * sizeof(char *));
        if (!grown) {
            r = -ENOMEM;
            break;
        }
        names = grown;
        if (!(names[n] = strdup(de->d_name))) { /* names[n] NULL still ends the vector */
            r = -ENOMEM;
            break;
        }
        names[++n] = NULL;
    }
    if (r == 0 && errno)
        r = -errno;
    closedir(d);
    if (r == 0)
        *ret = TAKE_PTR(names);
    return r;
}
