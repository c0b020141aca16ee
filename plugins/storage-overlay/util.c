/* SPDX-License-Identifier: Apache-2.0 */
/* storage-overlay: small helpers (errors, time, directories, string vectors). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "overlay.h"

int ovl_fail(const struct ovl *o, struct cleat_error **reterr, int32_t status, int errnum, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = cleat_error_vset(o->host, reterr, status, errnum, fmt, ap);
    va_end(ap);
    return r;
}

int64_t ovl_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int ovl_mkdir_p(const char *path, mode_t mode) {
    _cleanup_free_ char *p = strdup(path);
    if (!p)
        return -ENOMEM;
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
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int ovl_fsync_dir(int dirfd, const char *path) {
    int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

size_t ovl_strv_len(const char *const *v) {
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

char **ovl_strv_dup(const char *const *v) {
    size_t n = ovl_strv_len(v);
    char **copy = calloc(n + 1, sizeof(char *));
    if (!copy)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(copy[i] = strdup(v[i]))) {
            ovl_strv_free(copy);
            return NULL;
        }
    return copy;
}

void ovl_strv_free(char **v) {
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

int ovl_parse_id(const char *s, uint64_t *ret) {
    uint64_t v = 0;
    if (!s[0] || s[0] == '0' || strlen(s) > 19)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *ret = v;
    return 0;
}

int ovl_list_dir(int dirfd, const char *path, char ***ret) {
    int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int r = -errno;
        close(fd);
        return r;
    }
    char **names = calloc(1, sizeof(char *));
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
    if (r < 0) {
        ovl_strv_free(names);
        return r;
    }
    *ret = names;
    return 0;
}
