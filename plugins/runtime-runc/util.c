/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-runc: small helpers (errors, time, ids, files, pidfds). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runc.h"

int rr_fail(const struct rr *rr, struct cleat_error **reterr, int32_t status, int errnum, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = cleat_error_vset(rr->host, reterr, status, errnum, fmt, ap);
    va_end(ap);
    return r;
}

int rr_pass_error(const struct rr *rr, struct cleat_error **reterr, struct cleat_error *err, int r) {
    if (reterr)
        *reterr = err;
    else
        rr->host->error_free(err);
    return r;
}

int64_t rr_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t rr_monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rr_valid_id(const char *id) {
    size_t len = id ? strlen(id) : 0;
    if (len == 0 || len > 1024 || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return 0;
    /* runc's own rule (^[\w+-\.]+$); it also keeps ids safe as file names. */
    return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-") == len;
}

int rr_mkdir_p(const char *path, mode_t mode) {
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

int rr_write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        done += (size_t)n;
    }
    return close(fd) < 0 ? -errno : 0;
}

int rr_read_pid(const char *path, pid_t *ret) {
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n;
    do
        n = read(fd, buf, sizeof(buf) - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0)
        return -EINVAL; /* written but still empty: not there yet */
    buf[n] = '\0';
    char *end;
    long v = strtol(buf, &end, 10);
    if (v <= 0 || v > INT32_MAX || (*end && *end != '\n'))
        return -EINVAL;
    *ret = (pid_t)v;
    return 0;
}

int rr_pidfd_open(pid_t pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd; /* pidfds are always close-on-exec */
}

int rr_pidfd_signal(int pidfd, int sig) {
    return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

int rr_pidfd_wait(int pidfd, int timeout_ms) {
    int64_t deadline = rr_monotonic_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        int64_t left = deadline - rr_monotonic_ms();
        int n = poll(&p, 1, left > 0 ? (int)left : 0);
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}
