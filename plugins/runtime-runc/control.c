/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-runc: commands on the shim's control socket, BUNDLE/attach.sock
 * (see shim/README.md): one line in, `ok` or `error TEXT` back.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "runc.h"

#define CONTROL_TIMEOUT_S 10

/* Connect to BUNDLE/attach.sock; a path too long for sun_path goes through /proc/self/fd/DIRFD. */
static int control_connect(const char *bundle) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int dirfd = -1;
    if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/attach.sock", bundle) >= (int)sizeof(sa.sun_path)) {
        if ((dirfd = open(bundle, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
            return -errno;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/attach.sock", dirfd);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int r = fd < 0 ? -errno : 0;
    struct timeval tv = {.tv_sec = CONTROL_TIMEOUT_S};
    if (r == 0 && (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
                   setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0))
        r = -errno;
    while (r == 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        if (errno != EINTR)
            r = -errno;
    if (dirfd >= 0)
        close(dirfd);
    if (r < 0 && fd >= 0)
        close(fd);
    return r < 0 ? r : fd;
}

/* Send one command line and read the one-line answer into reply. */
static int control_exchange(int fd, const char *line, char *reply, size_t size) {
    size_t len = strlen(line), done = 0;
    while (done < len) {
        ssize_t n = send(fd, line + done, len - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        done += (size_t)n;
    }
    size_t got = 0;
    while (got + 1 < size && !memchr(reply, '\n', got)) {
        ssize_t n = recv(fd, reply + got, size - 1 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -ECONNRESET;
        got += (size_t)n;
        reply[got] = '\0';
    }
    reply[got] = '\0';
    reply[strcspn(reply, "\n")] = '\0';
    return 0;
}

static int control(struct rr *rr, const char *id, const char *what, const char *line, struct cleat_error **reterr) {
    char bundle[PATH_MAX], reply[1024] = "";
    struct rr_exit e;
    int r = rr_lookup(rr, id, bundle, sizeof(bundle), reterr);
    if (r < 0)
        return r;
    int fd = control_connect(bundle);
    if (fd < 0) {
        int pidfd = rr_read_exit(bundle, &e) == 0 ? -ESRCH : rr_shim_pidfd(bundle, id, NULL);
        if (pidfd < 0)
            return cleat_error_set(rr->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ESRCH,
                                   "container '%s': %s: container is not running", id, what);
        close(pidfd);
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_UNAVAILABLE, -fd,
                               "container '%s': %s: cannot reach its shim: %s", id, what, strerror(-fd));
    }
    r = control_exchange(fd, line, reply, sizeof(reply));
    close(fd);
    if (r < 0)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_UNAVAILABLE, -r,
                               "container '%s': %s: no answer from its shim: %s", id, what, strerror(-r));
    if (strcmp(reply, "ok") == 0)
        return 0;
    return cleat_error_set(rr->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EIO, "container '%s': %s: %s", id, what,
                           strncmp(reply, "error ", 6) == 0 ? reply + 6 : reply);
}

int rr_resize_pty(void *instance, const char *id, const char *exec_id, uint32_t width, uint32_t height,
                  struct cleat_error **reterr) {
    char line[64];
    if (exec_id)
        return rr_tty_resize(instance, id, exec_id, width, height, reterr);
    snprintf(line, sizeof(line), "resize %u %u\n", width, height);
    return control(instance, id, "resize", line, reterr);
}

int rr_close_stdin(void *instance, const char *id, const char *exec_id, struct cleat_error **reterr) {
    if (exec_id)
        return rr_tty_close_stdin(instance, id, exec_id, reterr);
    return control(instance, id, "close stdin", "close-stdin\n", reterr);
}

int rr_reopen_log(void *instance, const char *id, struct cleat_error **reterr) {
    return control(instance, id, "reopen log", "reopen\n", reterr);
}

int rr_attach_address(void *instance, const char *id, char *buf, uint64_t size, struct cleat_error **reterr) {
    struct rr *rr = instance;
    char bundle[PATH_MAX];
    int r = rr_lookup(rr, id, bundle, sizeof(bundle), reterr);
    if (r < 0)
        return r;
    int n = snprintf(buf, size, "%s/attach.sock", bundle);
    if (n < 0 || (uint64_t)n >= size)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_OUT_OF_RANGE, ENAMETOOLONG,
                               "container '%s': the attach socket path %s/attach.sock does not fit in %llu bytes", id,
                               bundle, (unsigned long long)size);
    return 0;
}
