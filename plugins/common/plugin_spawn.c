/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plugin_clock.h"
#include "plugin_pidfd.h"
#include "plugin_spawn.h"

extern char **environ;

/*
 * The fd to dup2 into a stdio slot: /dev/null for -1; an fd below 3 is
 * first copied above 2, so that the dup2 of one slot cannot overwrite the
 * source of another (and dup2(fd, fd) would leave close-on-exec set).
 */
static int child_fd(int fd, int *devnull, int *copy) {
    if (fd < 0) {
        if (*devnull < 0 && (*devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
            return -errno;
        return *devnull;
    }
    if (fd > 2)
        return fd;
    if ((*copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
        return -errno;
    return *copy;
}

static int spawn_with(const char *const *argv, char *const *envp, const int src[3], unsigned flags, const char *cwd,
                      pid_t *ret_pid) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    int r;
    if ((r = posix_spawn_file_actions_init(&fa)) != 0)
        return -r;
    if ((r = posix_spawnattr_init(&attr)) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return -r;
    }
    sigemptyset(&none);
    sigfillset(&all);
    short attr_flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    for (int i = 0; i < 3 && r == 0; i++)
        r = posix_spawn_file_actions_adddup2(&fa, src[i], i);
    if (r == 0) /* after the dup2s, which read the sources above 2 */
        r = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (r == 0 && cwd)
        r = posix_spawn_file_actions_addchdir_np(&fa, cwd);
    if (r == 0)
        r = posix_spawnattr_setsigmask(&attr, &none);
    if (r == 0)
        r = posix_spawnattr_setsigdefault(&attr, &all);
    if (r == 0 && (flags & PLUGIN_SPAWN_PGROUP)) {
        r = posix_spawnattr_setpgroup(&attr, 0);
        attr_flags |= POSIX_SPAWN_SETPGROUP;
    }
    if (r == 0)
        r = posix_spawnattr_setflags(&attr, attr_flags);
    if (r == 0)
        r = posix_spawn(ret_pid, argv[0], &fa, &attr, (char *const *)argv, envp ? envp : environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return -r;
}

/* plugin_spawn() with a working directory for the child (NULL: ours). */
static int spawn_in(const char *const *argv, char *const *envp, const int stdio[3], unsigned flags, const char *cwd,
                    pid_t *ret_pid) {
    int devnull = -1, copies[3] = {-1, -1, -1}, src[3], r = 0;
    for (int i = 0; i < 3 && r == 0; i++)
        if ((src[i] = child_fd(stdio[i], &devnull, &copies[i])) < 0)
            r = src[i];
    if (r == 0)
        r = spawn_with(argv, envp, src, flags, cwd, ret_pid);
    for (int i = 0; i < 3; i++)
        if (copies[i] >= 0)
            close(copies[i]);
    if (devnull >= 0)
        close(devnull);
    return r;
}

int plugin_spawn(const char *const *argv, char *const *envp, const int stdio[3], unsigned flags, pid_t *ret_pid) {
    return spawn_in(argv, envp, stdio, flags, NULL, ret_pid);
}

/* One output stream of the child, read from a pipe. */
struct stream {
    int fd; /* the read end; -1: not captured, or at its end */
    char *buf;
    size_t len, cap, max;
};

/*
 * Append one read to s (keeping at most s->max bytes; the rest is read and
 * dropped, so that the child never blocks): 1 after a read, 0 at EOF,
 * -EAGAIN when a non-blocking fd has nothing now.
 */
static int drain(struct stream *s) {
    char chunk[8192];
    ssize_t n = read(s->fd, chunk, sizeof(chunk));
    if (n < 0)
        return errno == EINTR ? 1 : -errno;
    if (n == 0)
        return 0;
    size_t keep = s->len < s->max ? s->max - s->len : 0;
    if (keep > (size_t)n)
        keep = (size_t)n;
    if (keep && s->len + keep + 1 > s->cap) {
        size_t ncap = s->cap ? s->cap : 4096;
        while (ncap < s->len + keep + 1)
            ncap *= 2;
        char *nb = realloc(s->buf, ncap);
        if (!nb)
            return -ENOMEM;
        s->buf = nb;
        s->cap = ncap;
    }
    if (keep) {
        memcpy(s->buf + s->len, chunk, keep);
        s->len += keep;
        s->buf[s->len] = '\0';
    }
    return 1;
}

/* After the exit: what the pipe holds now, without waiting for a writer that outlives the child. */
static int drain_rest(struct stream *s) {
    int r;
    fcntl(s->fd, F_SETFL, O_NONBLOCK);
    while ((r = drain(s)) > 0)
        ;
    return r;
}

/* Read stdout and stderr until the child exits (then what the pipes hold) or the deadline passes. */
static int pump(struct stream s[2], int pidfd, int64_t deadline, int *timed_out) {
    for (int exited = 0; !exited;) {
        struct pollfd p[3] = {
            {.fd = s[0].fd, .events = POLLIN}, {.fd = s[1].fd, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
        int64_t left = deadline - plugin_monotonic_ms();
        if (left <= 0) {
            *timed_out = 1;
            return 0;
        }
        int n = poll(p, 3, left > INT32_MAX ? INT32_MAX : (int)left);
        if (n < 0 && errno != EINTR)
            return -errno;
        exited = n > 0 && (p[2].revents & POLLIN);
        for (int i = 0; i < 2; i++) {
            if (s[i].fd < 0 || !(p[i].revents || exited))
                continue;
            int r = exited ? drain_rest(&s[i]) : drain(&s[i]);
            if (r < 0 && r != -EAGAIN)
                return r;
            if (r == 0) {
                close(s[i].fd);
                s[i].fd = -1;
            }
        }
    }
    return 0;
}

/* Watch the spawned child `pid` to its end: pump its output, kill it at the deadline, reap it. */
static int watch_child(pid_t pid, const struct plugin_run *run, struct stream s[2], struct plugin_output *ret) {
    int pidfd = plugin_pidfd_open(pid);
    if (pidfd < 0) { /* only without fds to spare: our own unreaped child is there to open */
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return pidfd;
    }
    int r = pump(s, pidfd, plugin_monotonic_ms() + run->timeout_ms, &ret->timed_out);
    if (r < 0 || ret->timed_out) {
        /* Still unreaped, so the pid (and the group it leads) cannot be anyone else's yet. */
        if (run->flags & PLUGIN_SPAWN_PGROUP)
            kill(-pid, SIGKILL);
        else
            plugin_pidfd_signal(pidfd, SIGKILL);
    }
    int reaped = plugin_pidfd_reap(pidfd, 0, &ret->exit_status);
    close(pidfd);
    return r < 0 ? r : reaped < 0 ? reaped : 0;
}

/* Pipes for the captured streams; the write ends go to the child as its stdout and stderr. */
static int open_pipes(const struct plugin_run *run, struct stream s[2], int wr[2]) {
    size_t max[2] = {run->stdout_max, run->stderr_max};
    for (int i = 0; i < 2; i++) {
        int p[2];
        if (!max[i])
            continue;
        if (pipe2(p, O_CLOEXEC) < 0)
            return -errno;
        s[i].fd = p[0];
        s[i].max = max[i];
        wr[i] = p[1];
    }
    return 0;
}

/* The captured text, "" when the child wrote nothing; -ENOMEM. */
static int take_text(struct stream *s, char **ret, size_t *ret_len) {
    if (!s->max)
        return 0;
    if (!s->buf && !(s->buf = calloc(1, 1)))
        return -ENOMEM;
    *ret = s->buf;
    *ret_len = s->len;
    s->buf = NULL;
    return 0;
}

int plugin_run(const struct plugin_run *run, int stdin_fd, struct plugin_output *ret) {
    struct stream s[2] = {{.fd = -1}, {.fd = -1}};
    int wr[2] = {-1, -1};
    pid_t pid = 0;
    memset(ret, 0, sizeof(*ret));
    int r = open_pipes(run, s, wr);
    if (r == 0)
        r = spawn_in(run->argv, run->envp, (const int[3]){stdin_fd, wr[0], wr[1]}, run->flags, run->cwd, &pid);
    for (int i = 0; i < 2; i++) /* only the child holds the write ends now: EOF means it is done with them */
        if (wr[i] >= 0)
            close(wr[i]);
    if (r == 0)
        r = watch_child(pid, run, s, ret);
    if (r == 0 && (r = take_text(&s[0], &ret->out, &ret->out_len)) == 0)
        r = take_text(&s[1], &ret->err, &ret->err_len);
    for (int i = 0; i < 2; i++) {
        if (s[i].fd >= 0)
            close(s[i].fd);
        free(s[i].buf);
    }
    if (r < 0) {
        plugin_output_done(ret);
        memset(ret, 0, sizeof(*ret));
    }
    return r;
}

void plugin_output_done(struct plugin_output *o) {
    if (!o)
        return;
    free(o->out);
    free(o->err);
    o->out = o->err = NULL;
    o->out_len = o->err_len = 0;
}
