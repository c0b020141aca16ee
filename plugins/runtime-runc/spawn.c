/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-runc: running helper programs (the runtime, the shim) from a
 * multi-threaded daemon.  posix_spawn, never fork: a forked copy of a
 * threaded process may only call async-signal-safe functions.  The child
 * gets exactly the three fds it is given and nothing else: everything above
 * 2 is closed in the child (closefrom), since not every fd of the daemon is
 * close-on-exec -- libcurl's sockets are not, and a shim would hold one for
 * its container's lifetime.  Children are waited for by pidfd only (waitid
 * P_PIDFD): the daemon has other children that are not ours to reap.
 *
 * net-cni's exec.c spawns, pumps and reaps the same way: plugins may not
 * share code yet, so each keeps its own copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runc.h"

#define RR_STDOUT_MAX (1024 * 1024)

extern char **environ;

/*
 * A stdio fd for the child: /dev/null for -1; an fd below 3 is first copied
 * above 2, so that the dup2 of one slot cannot overwrite the source of
 * another (and dup2(fd, fd) would leave close-on-exec set).
 */
static int child_fd(int fd, int devnull, int *copy) {
    if (fd < 0)
        return devnull;
    if (fd > 2)
        return fd;
    if ((*copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
        return -errno;
    return *copy;
}

static int spawn_with(const char *const *argv, const int src[3], pid_t *ret_pid) {
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
    /* A worker thread may block signals or the daemon ignore some: none of that is the child's business. */
    sigemptyset(&none);
    sigfillset(&all);
    for (int i = 0; i < 3 && r == 0; i++)
        r = posix_spawn_file_actions_adddup2(&fa, src[i], i);
    if (r == 0) /* after the dup2s, which read the sources above 2 */
        r = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (r == 0)
        r = posix_spawnattr_setsigmask(&attr, &none);
    if (r == 0)
        r = posix_spawnattr_setsigdefault(&attr, &all);
    if (r == 0)
        r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (r == 0)
        r = posix_spawn(ret_pid, argv[0], &fa, &attr, (char *const *)argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return -r;
}

int rr_spawn(const char *const *argv, int in, int out, int err, pid_t *ret_pid) {
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0)
        return -errno;
    int given[3] = {in, out, err}, copies[3] = {-1, -1, -1}, src[3], r = 0;
    for (int i = 0; i < 3 && r == 0; i++)
        if ((src[i] = child_fd(given[i], devnull, &copies[i])) < 0)
            r = src[i];
    if (r == 0)
        r = spawn_with(argv, src, ret_pid);
    for (int i = 0; i < 3; i++)
        if (copies[i] >= 0)
            close(copies[i]);
    close(devnull);
    return r;
}

/*
 * Append one read of fd to buf (keeping at most max - 1 bytes; the rest is
 * read and dropped, so that a chatty child never blocks): 1 after a read, 0
 * at EOF, -EAGAIN when a non-blocking fd has nothing now.
 */
static int drain(int fd, char **buf, size_t *len, size_t *cap, size_t max) {
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0)
        return errno == EINTR ? 1 : -errno;
    if (n == 0)
        return 0;
    size_t keep = *len + 1 < max ? max - 1 - *len : 0;
    if (keep > (size_t)n)
        keep = (size_t)n;
    if (keep && *len + keep + 1 > *cap) {
        size_t ncap = *cap ? *cap : 4096;
        while (ncap < *len + keep + 1)
            ncap *= 2;
        char *nb = realloc(*buf, ncap);
        if (!nb)
            return -ENOMEM;
        *buf = nb;
        *cap = ncap;
    }
    if (keep) {
        memcpy(*buf + *len, chunk, keep);
        *len += keep;
        (*buf)[*len] = '\0';
    }
    return 1;
}

struct capture {
    int fd[2];      /* read ends of stdout and stderr (-1: none or done) */
    char *buf[2];
    size_t len[2], cap[2], max[2];
};

/*
 * Read the child's output until it exits or the deadline passes.  After the
 * exit, only what is already in the pipes is read: a grandchild (the shim
 * detaches one) may keep a write end open much longer.
 */
static int pump(struct capture *c, int pidfd, int64_t deadline, int *timed_out) {
    int exited = 0;
    while (!exited) {
        struct pollfd p[3] = {{.fd = c->fd[0], .events = POLLIN},
                              {.fd = c->fd[1], .events = POLLIN},
                              {.fd = pidfd, .events = POLLIN}};
        int64_t left = deadline - rr_monotonic_ms();
        if (left <= 0) {
            *timed_out = 1;
            return 0;
        }
        int n = poll(p, 3, (int)left);
        if (n < 0 && errno != EINTR)
            return -errno;
        exited = n > 0 && (p[2].revents & POLLIN);
        for (int i = 0; i < 2; i++) {
            if (c->fd[i] < 0 || !(p[i].revents || exited))
                continue;
            int r;
            if (!exited) {
                r = drain(c->fd[i], &c->buf[i], &c->len[i], &c->cap[i], c->max[i]);
            } else {
                fcntl(c->fd[i], F_SETFL, O_NONBLOCK);
                while ((r = drain(c->fd[i], &c->buf[i], &c->len[i], &c->cap[i], c->max[i])) > 0)
                    ;
            }
            if (r < 0 && r != -EAGAIN)
                return r;
            if (r == 0) {
                close(c->fd[i]);
                c->fd[i] = -1;
            }
        }
    }
    return 0;
}

/* Wait for our child through its pidfd; its status as an exit code, or 128 + signal. */
static int reap(int pidfd, int *status) {
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0)
        if (errno != EINTR)
            return -errno;
    *status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
    return 0;
}

static int run_spawned(int pidfd, struct capture *c, int timeout_ms, struct rr_output *ret) {
    int r = pump(c, pidfd, rr_monotonic_ms() + timeout_ms, &ret->timed_out);
    if (r < 0 || ret->timed_out)
        rr_pidfd_signal(pidfd, SIGKILL);
    int reaped = reap(pidfd, &ret->exit_status);
    return r < 0 ? r : reaped;
}

int rr_run(const char *const *argv, int want_stdout, int timeout_ms, struct rr_output *ret) {
    memset(ret, 0, sizeof(*ret));
    struct capture c = {.fd = {-1, -1}, .max = {RR_STDOUT_MAX, RR_ERR_MAX}};
    int po[2] = {-1, -1}, pe[2] = {-1, -1}, r = 0;
    if ((want_stdout && pipe2(po, O_CLOEXEC) < 0) || pipe2(pe, O_CLOEXEC) < 0)
        r = -errno;
    pid_t pid = 0;
    if (r == 0)
        r = rr_spawn(argv, -1, po[1], pe[1], &pid);
    for (int i = 0; i < 2; i++) /* only the child holds the write ends now: EOF means it is done with them */
        if ((i ? pe : po)[1] >= 0)
            close((i ? pe : po)[1]);
    c.fd[0] = po[0];
    c.fd[1] = pe[0];
    if (r == 0) {
        int pidfd = rr_pidfd_open(pid);
        if (pidfd < 0) { /* cannot happen for our own unreaped child; do not leave it running */
            r = pidfd;
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        } else {
            r = run_spawned(pidfd, &c, timeout_ms, ret);
            close(pidfd);
        }
    }
    for (int i = 0; i < 2; i++)
        if (c.fd[i] >= 0)
            close(c.fd[i]);
    if (c.buf[1])
        memcpy(ret->err, c.buf[1], c.len[1] + 1);
    free(c.buf[1]);
    ret->out = c.buf[0];
    if (want_stdout && !ret->out && r == 0 && !(ret->out = calloc(1, 1)))
        r = -ENOMEM;
    return r;
}

void rr_output_done(struct rr_output *o) {
    free(o->out);
    o->out = NULL;
}
