/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ExecSync: a process in a running container with the container's own
 * process settings (user, environment, capabilities, cwd) but the given
 * command, its output captured through pipes.  kubelet's exec probes run
 * through here, so a hung command must not hold a worker past its timeout.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container_exec.h"
#include "log.h"
#include "runtime_internal.h"

/* Per stream; more is read and dropped, so the process never blocks on a full pipe. */
#define EXEC_OUTPUT_MAX (16u << 20)
/* After the process exited, how long its output may still take to drain (a child holding the pipe). */
#define DRAIN_NS (200LL * 1000000)

void exec_sync_result_clear(struct exec_sync_result *r) {
    free(r->out);
    free(r->err);
    *r = (struct exec_sync_result){0};
}

struct sink {
    int fd;
    char *buf;
    size_t len;
};

/* Read what is there; 1 at EOF. */
static int drain(struct sink *s) {
    char chunk[16384];
    for (;;) {
        ssize_t n = read(s->fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 0 : 1;
        if (n == 0)
            return 1;
        size_t keep = s->len < EXEC_OUTPUT_MAX ? EXEC_OUTPUT_MAX - s->len : 0;
        if ((size_t)n < keep)
            keep = (size_t)n;
        if (keep) {
            char *b = realloc(s->buf, s->len + keep + 1);
            if (!b)
                return 1;
            s->buf = b;
            memcpy(b + s->len, chunk, keep);
            s->len += keep;
            b[s->len] = '\0';
        }
    }
}

/* Collect output until both pipes close (or shortly after the exit), or the deadline; -ETIMEDOUT then. */
static int collect(struct container_exec *x, struct sink *s, int64_t deadline) {
    int open_fds = 2;
    int64_t exited_at = 0;
    while (open_fds) {
        struct pollfd p[2];
        nfds_t n = 0;
        for (int i = 0; i < 2; i++)
            if (s[i].fd >= 0)
                p[n++] = (struct pollfd){.fd = s[i].fd, .events = POLLIN};
        int64_t now = now_ns();
        if (deadline && now >= deadline)
            return -ETIMEDOUT;
        if (exited_at && now - exited_at > DRAIN_NS)
            break;
        poll(p, n, 50);
        for (int i = 0; i < 2; i++)
            if (s[i].fd >= 0 && drain(&s[i])) {
                close(s[i].fd);
                s[i].fd = -1;
                open_fds--;
            }
        int32_t status;
        if (!exited_at && container_exec_poll(x, 0, &status))
            exited_at = now_ns();
    }
    return 0;
}

int container_exec_sync(struct runtime_service *rs, const char *id_or_prefix, char *const *cmd, size_t n_cmd,
                        int64_t timeout, struct exec_sync_result *ret, struct cleat_error **reterr) {
    if (!n_cmd || !cmd[0] || !*cmd[0])
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "ExecSync needs a command");
    if (timeout < 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "a negative timeout");
    struct container_exec_options o = {.cmd = cmd, .n_cmd = n_cmd, .out = 1, .err = 1};
    struct container_exec *x = NULL;
    struct container_exec_io io;
    int r = container_exec_start(rs, id_or_prefix, &o, &x, &io, reterr);
    if (r < 0)
        return r;
    struct sink s[2] = {{.fd = io.out_fd}, {.fd = io.err_fd}};
    if (timeout > 366LL * 86400) /* keeps the deadline inside int64 nanoseconds */
        timeout = 366LL * 86400;
    int64_t deadline = timeout ? now_ns() + timeout * 1000000000LL : 0;
    int32_t status = -1;
    r = collect(x, s, deadline);
    if (r >= 0 && !container_exec_poll(x, deadline ? deadline : INT64_MAX, &status))
        r = -ETIMEDOUT;
    if (r < 0) /* container_exec_end kills it */
        r = error_set(reterr, CLEAT_STATUS_DEADLINE_EXCEEDED, ETIMEDOUT, "command timed out after %llds",
                      (long long)timeout);
    for (int i = 0; i < 2; i++)
        if (s[i].fd >= 0)
            close(s[i].fd);
    if (r >= 0) {
        *ret = (struct exec_sync_result){
            .out = s[0].buf, .out_len = s[0].len, .err = s[1].buf, .err_len = s[1].len, .exit_code = status};
    } else {
        free(s[0].buf);
        free(s[1].buf);
    }
    container_exec_end(x);
    return r;
}
