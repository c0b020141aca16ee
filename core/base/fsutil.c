/* SPDX-License-Identifier: Apache-2.0 */
#include "fsutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

/* Clear the bits of the open directory `fd` outside `mode`; exactly `mode` if we just made it (whatever the umask). */
static int tighten_fd(int fd, mode_t mode, int created, mode_t *ret_old_mode) {
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    mode_t old = st.st_mode & 07777, want = created ? mode : old & mode;
    if (old == want)
        return 0;
    if (fchmod(fd, want) < 0)
        return -errno;
    if (ret_old_mode)
        *ret_old_mode = old;
    return !created;
}

/* mkdir `path` with `mode`, its missing parents 0755 (less the umask); 1 if made now, 0 if it was there. */
static int make_dir(const char *path, mode_t mode, struct cleat_error **reterr) {
    if (mkdir(path, mode) == 0)
        return 1;
    if (errno == ENOENT && strrchr(path, '/') && strrchr(path, '/') != path) {
        char *parent = strndup(path, (size_t)(strrchr(path, '/') - path));
        int r = parent ? mkdir_p(parent, 0755, reterr)
                       : error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        free(parent);
        if (r < 0)
            return r;
        if (mkdir(path, mode) == 0)
            return 1;
    }
    if (errno == EEXIST)
        return 0;
    return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, errno, "cannot create directory %s: %s", path,
                     strerror(errno));
}

int fsutil_private_dir(const char *path, mode_t mode, mode_t *ret_old_mode, struct cleat_error **reterr) {
    int created = make_dir(path, mode, reterr);
    if (created < 0)
        return created;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, errno, "cannot open directory %s: %s", path,
                         strerror(errno));
    struct stat st;
    int r = fstat(fd, &st) < 0 ? -errno : 0;
    /* Its owner could put anything in it, or open it up again. */
    if (r == 0 && st.st_uid != geteuid()) {
        close(fd);
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EPERM,
                         "directory %s is owned by uid %u, not by cleatd's uid %u", path, (unsigned)st.st_uid,
                         (unsigned)geteuid());
    }
    if (r == 0)
        r = tighten_fd(fd, mode, created, ret_old_mode);
    close(fd);
    if (r < 0)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, -r, "cannot restrict directory %s to mode %04o: %s",
                         path, (unsigned)mode, strerror(-r));
    return r;
}

int fsutil_tighten_dir_at(int dirfd, const char *name, mode_t mode, mode_t *ret_old_mode) {
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOTDIR || errno == ELOOP ? 0 : -errno;
    int r = tighten_fd(fd, mode, 0, ret_old_mode);
    close(fd);
    return r;
}

int fsutil_open_regular_in_root(int rootfd, const char *rel, struct stat *ret_st) {
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
    int pfd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
    if (pfd < 0)
        return -errno;
    int r = fstat(pfd, ret_st) < 0 ? -errno : S_ISREG(ret_st->st_mode) ? 0 : -EINVAL;
    int fd = -1;
    if (r == 0) {
        /* Only now, known to be a regular file, is it opened for real: the same object, through its O_PATH fd. */
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
        struct stat st;
        if ((fd = open(proc, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0)
            r = -errno;
        else if (st.st_dev != ret_st->st_dev || st.st_ino != ret_st->st_ino)
            r = -ESTALE;
    }
    close(pfd);
    if (r < 0 && fd >= 0)
        close(fd);
    return r < 0 ? r : fd;
}

int fsutil_resolve_in_root(const char *root, const char *rel, char **ret_path, struct stat *ret_st) {
    int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return -errno;
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
    int fd = (int)syscall(SYS_openat2, rootfd, *rel ? rel : ".", &how, sizeof(how));
    int r = fd < 0 ? -errno : 0;
    char proc[64], at[PATH_MAX], real_root[PATH_MAX];
    ssize_t n = -1, m = -1;
    if (r == 0) {
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        n = readlink(proc, at, sizeof(at) - 1);
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", rootfd);
        m = readlink(proc, real_root, sizeof(real_root) - 1);
        r = n < 0 || m < 0 ? -errno : n >= (ssize_t)sizeof(at) - 1 ? -ENAMETOOLONG : 0;
    }
    if (r == 0) {
        at[n] = real_root[m] = '\0';
        size_t len = (size_t)m;
        /* What the kernel resolved must be the root or below it: anything else is a bug to refuse, not follow. */
        if (strncmp(at, real_root, len) != 0 || (at[len] != '\0' && at[len] != '/' && len > 1))
            r = -EXDEV;
    }
    if (r == 0 && ret_st && fstat(fd, ret_st) < 0)
        r = -errno;
    if (r == 0 && !(*ret_path = strdup(at)))
        r = -ENOMEM;
    if (fd >= 0)
        close(fd);
    close(rootfd);
    return r;
}

const char *fsutil_type_name(mode_t mode) {
    switch (mode & S_IFMT) {
    case S_IFREG:
        return "a regular file";
    case S_IFDIR:
        return "a directory";
    case S_IFCHR:
        return "a character device";
    case S_IFBLK:
        return "a block device";
    case S_IFIFO:
        return "a FIFO";
    case S_IFSOCK:
        return "a socket";
    case S_IFLNK:
        return "a symbolic link";
    default:
        return "not a regular file";
    }
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

static int write_replace(const char *path, const void *data, size_t len, mode_t mode, int durable,
                         struct cleat_error **reterr) {
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp", path) < 0)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    /* A temporary a killed cleatd left keeps its own mode under O_TRUNC (and could be a symlink): start afresh. */
    (void)unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    int e = 0;
    if (fd < 0 || fchmod(fd, mode) < 0) /* whatever the umask */
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
    if (!e && durable && fsync(fd) < 0)
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

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct cleat_error **reterr) {
    return write_replace(path, data, len, mode, 1, reterr);
}

int write_state_file(const char *path, const void *data, size_t len, mode_t mode, struct cleat_error **reterr) {
    return write_replace(path, data, len, mode, 0, reterr);
}

char *read_fd_sized(int fd, size_t size, size_t *ret_len) {
    char *buf = malloc(size + 1);
    size_t len = 0;
    while (buf && len < size) {
        ssize_t n = read(fd, buf + len, size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    if (!buf)
        return NULL;
    buf[len] = '\0';
    if (ret_len)
        *ret_len = len;
    return buf;
}

int read_file(const char *path, size_t max_len, char **ret, size_t *ret_len, struct cleat_error **reterr) {
    /* O_NONBLOCK: a FIFO planted at `path` must not hang the caller before the regular-file check. */
    int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
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
