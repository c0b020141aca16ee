/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-runc: execs with a terminal.
 *
 * `runtime exec --tty` that does not detach refuses --console-socket (runc:
 * "cannot use console socket if runc will not detach"), and a detached exec
 * would not be our child, so its exit status would be lost.  So the runtime
 * runs attached, the way it does in an interactive shell: it allocates the
 * container's pty itself and copies between it and its own stdio, which is
 * the slave of a pty pair of ours (the runtime puts it in raw mode, so our
 * pair passes bytes unchanged).  A resize sets our pair's size and sends the
 * runtime SIGWINCH (it copies the size to the container's terminal), and sets
 * the container's terminal itself through /proc/PID/fd, since the runtime's
 * own first copy may come after the process has looked (size_container()).
 *
 * A relay thread per such exec copies the host's stdin fd to our master and
 * the master to the host's stdout fd (our own dups of both), through one
 * PIPE_BUF buffer each way: while the host does not read, the master is not
 * read either, and the process blocks on its terminal (nothing is buffered
 * without bound).  The relay ends at EIO from the master (the runtime, the
 * only holder of the slave, has exited), or when the runtime has exited and
 * the master gave nothing for RR_TTY_DRAIN_MS (a slow host does not count).  Its dup of the host's stdout is
 * the last open writer then, so the host reads EOF only after every byte of
 * output was delivered.
 *
 * close_stdin ends the input as EOF from the host would, but the host keeps
 * its write end: what it wrote before asking is still in its fd, unread if
 * the process has not started yet (input waits for it), so the relay reads
 * that much more (FIONREAD when asked; else while the fd is readable) before
 * the end-of-file.
 *
 * The relay owns its struct rr_tty; the exec's watch borrows it (resize,
 * close_stdin) and the relay clears that pointer under the lock as it ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "plugin_clock.h"
#include "plugin_pidfd.h"
#include "runc.h"

#define RR_TTY_DRAIN_MS 2000 /* after the runtime exited, how long its output may still take */

/* --- the terminal ------------------------------------------------------------ */

int rr_openpty(int *ret_master, int *ret_slave) {
    char name[64];
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        return -errno;
    int r = grantpt(master) < 0 || unlockpt(master) < 0 ? -errno : 0;
    if (r == 0 && (r = -ptsname_r(master, name, sizeof(name))) == 0) {
        int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        struct termios tio;
        /* Raw from the start (the runtime sets it raw too, but only once it runs): our pair must not echo. */
        if (slave >= 0 && tcgetattr(slave, &tio) == 0) {
            cfmakeraw(&tio);
            tcsetattr(slave, TCSANOW, &tio);
        }
        if (slave >= 0) {
            *ret_master = master;
            *ret_slave = slave;
            return 0;
        }
        r = -errno;
    }
    close(master);
    return r;
}

/* --- the relay ---------------------------------------------------------------- */

struct relay {
    char obuf[PIPE_BUF]; /* master -> host stdout */
    size_t olen, ooff;
    char ibuf[PIPE_BUF]; /* host stdin -> master */
    size_t ilen, ioff;
    int in_eof, eof_sent, last_nl, master_done;
    int closing;      /* close_stdin was asked: the input ends once in_left more bytes were read */
    size_t in_left;   /* SIZE_MAX: unknown, read while the host's fd is readable */
    int64_t deadline; /* 0 until the runtime child exited */
    int started;      /* the process runs (its pid file is there): input may go to it */
    int64_t start_by; /* give up waiting for the pid file then */
};

/*
 * Set the size of the container's own terminal, through the process's stdio
 * in /proc; lock held.  The runtime copies a size inward only on SIGWINCH and
 * once at start, and that first copy may come after the process has already
 * read input and looked at its size: so the size is also set here directly,
 * and input is held back until the process runs (see start_input()).
 */
static void size_container(struct rr_tty *t) {
    struct winsize ws = {.ws_col = t->cols, .ws_row = t->rows};
    char path[64];
    for (int i = 0; i < 3 && t->pid > 0 && t->sized; i++) {
        snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)t->pid, i);
        /* O_NOCTTY: a daemon that leads a session without a terminal would otherwise acquire this one */
        int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            continue;
        int done = isatty(fd) && ioctl(fd, TIOCSWINSZ, &ws) == 0;
        close(fd);
        if (done)
            return;
    }
}

/* Input waits for the process (its pid file), which gets the size asked so far before any input. */
static void start_input(struct rr *rr, struct rr_tty *t, struct relay *s) {
    pid_t pid = 0;
    if (rr_read_pid(t->pidfile, &pid) < 0 && !s->deadline && plugin_monotonic_ms() < s->start_by)
        return;
    pthread_mutex_lock(&rr->lock);
    t->pid = pid;
    size_container(t);
    pthread_mutex_unlock(&rr->lock);
    s->started = 1;
}

/* Stop reading the host's stdin; the terminal gets an end-of-file once the pending input is written. */
static void end_input(struct rr_tty *t, struct relay *s) {
    if (t->in >= 0)
        close(t->in);
    t->in = -1;
    s->in_eof = 1;
}

/* After the last input byte, VEOF (^D): twice when a line is open, since the first only ends that line. */
static void queue_eof(struct rr_tty *t, struct relay *s) {
    struct termios tio;
    cc_t veof = tcgetattr(t->master, &tio) == 0 ? tio.c_cc[VEOF] : 4;
    s->ioff = 0;
    s->ilen = 0;
    if (!s->last_nl)
        s->ibuf[s->ilen++] = (char)veof;
    s->ibuf[s->ilen++] = (char)veof;
    s->eof_sent = 1;
}

static void read_master(struct rr_tty *t, struct relay *s) {
    ssize_t n = read(t->master, s->obuf, sizeof(s->obuf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) { /* EIO: no slave is open any more */
        s->master_done = 1;
        return;
    }
    s->ooff = 0;
    s->olen = t->out >= 0 ? (size_t)n : 0; /* no stdout: the output is read and dropped */
}

static void write_out(struct rr_tty *t, struct relay *s) {
    /* At most PIPE_BUF after POLLOUT: a pipe takes it without blocking. */
    ssize_t n = write(t->out, s->obuf + s->ooff, s->olen - s->ooff);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n < 0) { /* the host closed its end: keep draining the terminal */
        close(t->out);
        t->out = -1;
        s->olen = 0;
        return;
    }
    s->ooff += (size_t)n;
    if (s->ooff == s->olen)
        s->olen = s->ooff = 0;
}

static void read_in(struct rr_tty *t, struct relay *s) {
    size_t want = s->closing && s->in_left < sizeof(s->ibuf) ? s->in_left : sizeof(s->ibuf);
    ssize_t n = read(t->in, s->ibuf, want);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        end_input(t, s);
        return;
    }
    if (s->closing && s->in_left != SIZE_MAX)
        s->in_left -= (size_t)n;
    s->ioff = 0;
    s->ilen = (size_t)n;
    s->last_nl = s->ibuf[n - 1] == '\n' || s->ibuf[n - 1] == '\r';
}

static void write_master(struct rr_tty *t, struct relay *s) {
    ssize_t n = write(t->master, s->ibuf + s->ioff, s->ilen - s->ioff);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n < 0) { /* the terminal is gone: input has nowhere to go */
        s->ilen = s->ioff = 0;
        end_input(t, s);
        s->eof_sent = 1;
        return;
    }
    s->ioff += (size_t)n;
    if (s->ioff == s->ilen)
        s->ilen = s->ioff = 0;
}

/* close_stdin: note how much the host has written and we have not read; that much is still input. */
static void begin_close(struct rr_tty *t, struct relay *s) {
    int queued = 0;
    s->closing = 1;
    s->in_left = ioctl(t->in, FIONREAD, &queued) == 0 && queued >= 0 ? (size_t)queued : SIZE_MAX;
}

/* After close_stdin, the input ends once what the host wrote before it was read (the process has it). */
static int close_done(struct rr_tty *t, const struct relay *s) {
    if (!s->started || s->ilen)
        return 0; /* input still waits for the process, or a read waits to be written */
    if (s->in_left != SIZE_MAX)
        return s->in_left == 0;
    struct pollfd p = {.fd = t->in, .events = POLLIN};
    return poll(&p, 1, 0) == 0;
}

/* One poll round; 0 to go on, 1 when the relay is done. */
static int relay_step(struct rr *rr, struct rr_tty *t, struct relay *s) {
    pthread_mutex_lock(&rr->lock);
    int stop = t->stop, close_req = t->close_stdin;
    pthread_mutex_unlock(&rr->lock);
    if (stop)
        return 1;
    if (!s->started)
        start_input(rr, t, s);
    if (close_req && !s->in_eof && !s->closing)
        begin_close(t, s);
    if (s->closing && !s->in_eof && close_done(t, s))
        end_input(t, s);
    if (s->started && s->in_eof && !s->eof_sent && s->ilen == 0 && !s->master_done)
        queue_eof(t, s);
    int timeout = s->started ? -1 : 10;                   /* (no event says when the pid file appears) */
    if (s->deadline && !s->master_done && s->olen == 0) { /* only while waiting for the terminal, not the host */
        int64_t left = s->deadline - plugin_monotonic_ms();
        if (left <= 0)
            s->master_done = 1; /* something in the background holds the terminal: stop waiting for it */
        else if (timeout < 0 || left < timeout)
            timeout = (int)left;
    }
    if (s->master_done && s->olen == 0)
        return 1;
    int want_master = !s->master_done && (s->olen == 0 || s->ilen > 0);
    struct pollfd p[5] = {
        {.fd = want_master ? t->master : -1, .events = (short)((s->olen == 0 ? POLLIN : 0) | (s->ilen ? POLLOUT : 0))},
        {.fd = s->olen ? t->out : -1, .events = POLLOUT},
        {.fd = s->started && !s->in_eof && s->ilen == 0 ? t->in : -1, .events = POLLIN},
        {.fd = s->deadline ? -1 : t->pidfd, .events = POLLIN},
        {.fd = t->wake, .events = POLLIN}};
    int n = poll(p, 5, timeout);
    if (n < 0 && errno != EINTR)
        return 1;
    if (n <= 0)
        return 0;
    if (p[4].revents) {
        uint64_t v;
        (void)!read(t->wake, &v, sizeof(v));
    }
    if (p[3].revents)
        s->deadline = plugin_monotonic_ms() + RR_TTY_DRAIN_MS;
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        if (s->olen == 0) {
            read_master(t, s);
            if (s->olen && s->deadline) /* still giving output: the drain time counts from the last of it */
                s->deadline = plugin_monotonic_ms() + RR_TTY_DRAIN_MS;
        } else if (s->ilen) { /* hung up while output waits for the host: the pending input has no reader */
            s->ilen = s->ioff = 0;
            s->eof_sent = 1;
            end_input(t, s);
        }
    }
    if (p[1].revents && s->olen)
        write_out(t, s);
    if (p[2].revents)
        read_in(t, s);
    if ((p[0].revents & POLLOUT) && s->ilen)
        write_master(t, s);
    return 0;
}

struct relay_arg {
    struct rr *rr;
    struct rr_tty *t;
};

static void tty_free(struct rr_tty *t) {
    int fds[] = {t->master, t->in, t->out, t->pidfd, t->wake};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(t->pidfile);
    free(t);
}

static void relay_end(struct rr *rr, struct rr_tty *t) {
    pthread_mutex_lock(&rr->lock);
    for (struct rr_tty **pp = &rr->ttys; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    for (size_t i = 0; i < rr->n; i++)
        if (rr->watches[i]->tty == t)
            rr->watches[i]->tty = NULL;
    int master = t->master; /* resize uses it under the lock: closed only once out of reach */
    t->master = -1;
    pthread_cond_broadcast(&rr->ttys_done);
    pthread_mutex_unlock(&rr->lock);
    if (master >= 0)
        close(master);
    tty_free(t);
}

static void *relay_main(void *arg) {
    struct relay_arg a = *(struct relay_arg *)arg;
    free(arg);
    struct relay *s = calloc(1, sizeof(*s));
    if (s) {
        s->last_nl = 1;
        s->in_eof = s->eof_sent = a.t->in < 0; /* no stdin at all: no end-of-file to send either */
        s->start_by = plugin_monotonic_ms() + RR_RUNTIME_TIMEOUT_MS;
        while (!relay_step(a.rr, a.t, s))
            ;
    }
    free(s);
    relay_end(a.rr, a.t);
    return NULL;
}

static int dup_or_none(int fd) {
    return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

int rr_tty_start(struct rr *rr, struct watch *w, int master, int in, int out, int pidfd, const char *pidfile) {
    struct rr_tty *t = calloc(1, sizeof(*t));
    struct relay_arg *a = malloc(sizeof(*a));
    char *pf = strdup(pidfile);
    if (!t || !a || !pf) {
        free(pf);
        free(t);
        free(a);
        close(master);
        return -ENOMEM;
    }
    t->master = master;
    t->pidfile = pf;
    t->in = dup_or_none(in);
    t->out = dup_or_none(out);
    t->pidfd = fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
    t->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int r = (in >= 0 && t->in < 0) || (out >= 0 && t->out < 0) || t->pidfd < 0 || t->wake < 0 ? -errno : 0;
    if (r == 0 && fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK) < 0)
        r = -errno;
    *a = (struct relay_arg){.rr = rr, .t = t};
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_mutex_lock(&rr->lock);
    if (r == 0) {
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        sigfillset(&all); /* no signal is for this thread */
        pthread_sigmask(SIG_SETMASK, &all, &old);
        r = -pthread_create(&t->thread, &attr, relay_main, a);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
    }
    if (r == 0) {
        t->next = rr->ttys;
        rr->ttys = t;
        w->tty = t;
    }
    pthread_mutex_unlock(&rr->lock);
    if (r < 0) {
        free(a);
        tty_free(t);
    }
    return r;
}

/* The terminal of exec (id, exec_id), lock held; an error (lock released) when there is none. */
static struct rr_tty *find_tty_locked(struct rr *rr, const char *id, const char *exec_id, const char *what,
                                      struct cleat_error **reterr) {
    struct watch *w = rr_find_exec_locked(rr, id, exec_id);
    if (w && w->tty && w->tty->master >= 0)
        return w->tty;
    pthread_mutex_unlock(&rr->lock);
    if (!w)
        cleat_error_set(rr->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "container '%s' has no exec '%s'", id,
                        exec_id);
    else
        cleat_error_set(rr->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTTY, "container '%s' exec '%s': %s: %s",
                        id, exec_id, what, w->tty || w->exited ? "its terminal is closed" : "it has no terminal");
    return NULL;
}

int rr_tty_resize(struct rr *rr, const char *id, const char *exec_id, uint32_t width, uint32_t height,
                  struct cleat_error **reterr) {
    pthread_mutex_lock(&rr->lock);
    struct rr_tty *t = find_tty_locked(rr, id, exec_id, "resize", reterr);
    if (!t)
        return -ENOTTY;
    t->cols = (unsigned short)(width > USHRT_MAX ? USHRT_MAX : width);
    t->rows = (unsigned short)(height > USHRT_MAX ? USHRT_MAX : height);
    t->sized = 1;
    struct winsize ws = {.ws_col = t->cols, .ws_row = t->rows};
    int r = ioctl(t->master, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
    if (r == 0) {
        plugin_pidfd_signal(t->pidfd, SIGWINCH); /* the runtime copies the size inward too; it may have exited */
        size_container(t);
    }
    pthread_mutex_unlock(&rr->lock);
    if (r < 0)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, -r, "container '%s' exec '%s': resize: %s", id,
                               exec_id, strerror(-r));
    return 0;
}

int rr_tty_close_stdin(struct rr *rr, const char *id, const char *exec_id, struct cleat_error **reterr) {
    pthread_mutex_lock(&rr->lock);
    struct watch *w = rr_find_exec_locked(rr, id, exec_id);
    if (w && w->tty) {
        uint64_t one = 1;
        w->tty->close_stdin = 1;
        (void)!write(w->tty->wake, &one, sizeof(one));
    }
    pthread_mutex_unlock(&rr->lock);
    /* Without a terminal the process reads the caller's own fd: we hold no write end to close. */
    if (!w)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "container '%s' has no exec '%s'", id,
                               exec_id);
    return 0;
}

void rr_tty_stop_all(struct rr *rr) {
    uint64_t one = 1;
    pthread_mutex_lock(&rr->lock);
    for (struct rr_tty *t = rr->ttys; t; t = t->next) {
        t->stop = 1;
        (void)!write(t->wake, &one, sizeof(one));
    }
    while (rr->ttys)
        pthread_cond_wait(&rr->ttys_done, &rr->lock);
    pthread_mutex_unlock(&rr->lock);
}
