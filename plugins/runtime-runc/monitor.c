/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-runc: the watch table and the monitor thread that reports exits.
 *
 * One thread per instance waits in epoll on a pidfd per watched process: a
 * shim (not our child: it detached, so a pidfd is the only race-free way to
 * learn of its exit) or a `runtime exec` (our child, reaped with waitid
 * P_PIDFD so that no other child of the daemon is ever touched).  An
 * eventfd wakes the thread to stop, or to report a shim that was already gone
 * when it was to be watched.  epoll data is a token looked up under the lock,
 * never a pointer, so an entry freed by another thread is simply not found.
 * The host's runtime_exit() is called without the lock held.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plugin_clock.h"
#include "plugin_pidfd.h"
#include "runc.h"

struct watch *rr_watch_new(int kind, const char *id, const char *exec_id, const char *bundle) {
    struct watch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->kind = kind;
    w->pidfd = -1;
    w->id = strdup(id);
    w->exec_id = exec_id ? strdup(exec_id) : NULL;
    w->bundle = strdup(bundle);
    if (!w->id || !w->bundle || (exec_id && !w->exec_id)) {
        rr_watch_free(w);
        return NULL;
    }
    return w;
}

void rr_watch_free(struct watch *w) {
    if (!w)
        return;
    if (w->pidfd >= 0)
        close(w->pidfd);
    free(w->id);
    free(w->exec_id);
    free(w->bundle);
    free(w);
}

int rr_add_locked(struct rr *rr, struct watch *w) {
    if (rr->n == rr->cap) {
        size_t ncap = rr->cap ? 2 * rr->cap : 16;
        struct watch **nw = realloc(rr->watches, ncap * sizeof(*nw));
        if (!nw)
            return -ENOMEM;
        rr->watches = nw;
        rr->cap = ncap;
    }
    w->token = ++rr->next_token;
    rr->watches[rr->n++] = w;
    return 0;
}

static void unpoll_locked(struct rr *rr, struct watch *w) {
    if (w->pidfd >= 0) {
        if (rr->epfd >= 0)
            epoll_ctl(rr->epfd, EPOLL_CTL_DEL, w->pidfd, NULL);
        close(w->pidfd);
        w->pidfd = -1;
    }
}

static void take_locked(struct rr *rr, struct watch *w) {
    for (size_t i = 0; i < rr->n; i++)
        if (rr->watches[i] == w) {
            rr->watches[i] = rr->watches[--rr->n];
            return;
        }
}

void rr_drop_locked(struct rr *rr, struct watch *w) {
    take_locked(rr, w);
    unpoll_locked(rr, w);
    rr_watch_free(w);
}

static struct watch *find_token_locked(struct rr *rr, uint64_t token) {
    for (size_t i = 0; i < rr->n; i++)
        if (rr->watches[i]->token == token)
            return rr->watches[i];
    return NULL;
}

static struct watch *find_shim_locked(struct rr *rr, const char *id) {
    for (size_t i = 0; i < rr->n; i++)
        if (rr->watches[i]->kind == WATCH_SHIM && strcmp(rr->watches[i]->id, id) == 0)
            return rr->watches[i];
    return NULL;
}

struct watch *rr_find_exec_locked(struct rr *rr, const char *id, const char *exec_id) {
    for (size_t i = 0; i < rr->n; i++) {
        struct watch *w = rr->watches[i];
        if (w->kind == WATCH_EXEC && !w->forgotten && strcmp(w->id, id) == 0 && strcmp(w->exec_id, exec_id) == 0)
            return w;
    }
    return NULL;
}

/* --- the thread ------------------------------------------------------------- */

/* A shim ended: its container did (exit.json says how), or it was killed. */
static void shim_exited(struct rr *rr, struct watch *w) {
    struct rr_exit e;
    if (rr_read_exit(w->bundle, &e) < 0) {
        cleat_log(rr->host, CLEAT_LOG_WARNING, "container '%s': its shim (pid %d) exited without an exit status", w->id,
                  (int)w->pid);
        rr_exit_or_lost(w->bundle, &e);
    }
    rr->host->runtime_exit(rr->host, w->id, NULL, (uint32_t)e.pid, e.exit_status, e.exited_at_ns);
    rr_watch_free(w);
}

void rr_reap_exec_locked(struct rr *rr, struct watch *w) {
    if (w->exited || w->pidfd < 0)
        return;
    int status = 255;
    if (plugin_pidfd_reap(w->pidfd, 1, &status) == 0)
        return; /* still running */
    /* ECHILD: someone reaped it behind our back (SIGCHLD ignored?): the status is lost, 255 stays. */
    w->exit_status = status;
    w->exited_at_ns = plugin_realtime_ns();
    w->exited = 1;
    unpoll_locked(rr, w);
}

/* An epoll event for `token`: report the exit it stands for. */
static void handle_token(struct rr *rr, uint64_t token) {
    pthread_mutex_lock(&rr->lock);
    struct watch *w = find_token_locked(rr, token);
    if (w && w->kind == WATCH_SHIM) {
        take_locked(rr, w);
        unpoll_locked(rr, w);
        pthread_mutex_unlock(&rr->lock);
        shim_exited(rr, w);
        return;
    }
    if (!w || w->exited) {
        pthread_mutex_unlock(&rr->lock);
        return;
    }
    rr_reap_exec_locked(rr, w);
    if (!w->exited || w->forgotten) {
        if (w->exited)
            rr_drop_locked(rr, w); /* its container was removed: nobody asks any more */
        pthread_mutex_unlock(&rr->lock);
        return;
    }
    char *id = strdup(w->id), *exec_id = strdup(w->exec_id);
    uint32_t pid = (uint32_t)w->pid;
    int32_t status = w->exit_status;
    int64_t at = w->exited_at_ns;
    pthread_mutex_unlock(&rr->lock);
    if (id && exec_id)
        rr->host->runtime_exit(rr->host, id, exec_id, pid, status, at);
    free(id);
    free(exec_id);
}

/* Shims that were gone before they could be watched (pidfd -1): report them now. */
static void report_gone(struct rr *rr) {
    for (;;) {
        struct watch *w = NULL;
        pthread_mutex_lock(&rr->lock);
        for (size_t i = 0; i < rr->n && !w; i++)
            if (rr->watches[i]->kind == WATCH_SHIM && rr->watches[i]->pidfd < 0)
                w = rr->watches[i];
        if (w)
            take_locked(rr, w);
        pthread_mutex_unlock(&rr->lock);
        if (!w)
            return;
        shim_exited(rr, w);
    }
}

static void *monitor_main(void *arg) {
    struct rr *rr = arg;
    for (;;) {
        struct epoll_event ev[16];
        int n = epoll_wait(rr->epfd, ev, 16, -1);
        if (n < 0 && errno != EINTR) {
            cleat_log(rr->host, CLEAT_LOG_ERROR, "exit monitor: epoll_wait: %s", strerror(errno));
            return NULL;
        }
        for (int i = 0; i < n; i++) {
            if (ev[i].data.u64 != 0) {
                handle_token(rr, ev[i].data.u64);
                continue;
            }
            uint64_t v;
            (void)!read(rr->wakefd, &v, sizeof(v));
            pthread_mutex_lock(&rr->lock);
            int stopping = rr->stopping;
            pthread_mutex_unlock(&rr->lock);
            if (stopping)
                return NULL;
            report_gone(rr);
        }
    }
}

/* Start the thread the first time something is watched; lock held. */
static int ensure_thread_locked(struct rr *rr) {
    if (rr->thread_started)
        return 0;
    if (rr->epfd < 0 && (rr->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        return -errno;
    if (rr->wakefd < 0 && (rr->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        return -errno;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
    if (epoll_ctl(rr->epfd, EPOLL_CTL_ADD, rr->wakefd, &ev) < 0 && errno != EEXIST)
        return -errno;
    /* No signal is for this thread: block them all while it is created (it inherits the mask). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = pthread_create(&rr->thread, NULL, monitor_main, rr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0)
        return -r;
    rr->thread_started = 1;
    return 0;
}

static void wake(struct rr *rr) {
    uint64_t one = 1;
    (void)!write(rr->wakefd, &one, sizeof(one));
}

/* Put w's pidfd into the epoll set; lock held. */
static int poll_locked(struct rr *rr, struct watch *w) {
    int r = ensure_thread_locked(rr);
    if (r < 0)
        return r;
    if (w->pidfd < 0) {
        wake(rr);
        return 0;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = w->token};
    return epoll_ctl(rr->epfd, EPOLL_CTL_ADD, w->pidfd, &ev) < 0 ? -errno : 0;
}

int rr_watch_shim(struct rr *rr, const char *id, const char *bundle, pid_t pid, int pidfd) {
    struct watch *w = rr_watch_new(WATCH_SHIM, id, NULL, bundle);
    if (!w) {
        if (pidfd >= 0)
            close(pidfd);
        return -ENOMEM;
    }
    w->pid = pid;
    w->pidfd = pidfd;
    pthread_mutex_lock(&rr->lock);
    int r = find_shim_locked(rr, id) ? -EEXIST : rr_add_locked(rr, w);
    if (r == 0 && (r = poll_locked(rr, w)) < 0)
        take_locked(rr, w);
    pthread_mutex_unlock(&rr->lock);
    if (r < 0)
        rr_watch_free(w);
    return r;
}

int rr_unwatch_shim(struct rr *rr, const char *id, pid_t *ret_pid) {
    pthread_mutex_lock(&rr->lock);
    struct watch *w = find_shim_locked(rr, id);
    int pidfd = -1;
    if (w) {
        *ret_pid = w->pid;
        take_locked(rr, w);
        if (w->pidfd >= 0 && rr->epfd >= 0)
            epoll_ctl(rr->epfd, EPOLL_CTL_DEL, w->pidfd, NULL);
        pidfd = w->pidfd;
        w->pidfd = -1;
    }
    pthread_mutex_unlock(&rr->lock);
    rr_watch_free(w);
    return pidfd;
}

int rr_watch_exec(struct rr *rr, struct watch *w, pid_t pid, int pidfd) {
    pthread_mutex_lock(&rr->lock);
    w->pid = pid;
    w->pidfd = pidfd;
    w->starting = 0;
    int r = poll_locked(rr, w);
    pthread_mutex_unlock(&rr->lock);
    return r;
}

void rr_forget_execs(struct rr *rr, const char *id) {
    pthread_mutex_lock(&rr->lock);
    for (size_t i = 0; i < rr->n;) {
        struct watch *w = rr->watches[i];
        if (w->kind != WATCH_EXEC || strcmp(w->id, id) != 0 || w->starting) {
            i++;
            continue;
        }
        rr_reap_exec_locked(rr, w);
        if (!w->exited) {
            /* Its container is gone, so it ends soon: the monitor reaps and drops it then. */
            w->forgotten = 1;
            i++;
            continue;
        }
        rr_drop_locked(rr, w); /* swaps the last entry into slot i */
    }
    pthread_mutex_unlock(&rr->lock);
}

void rr_monitor_stop(struct rr *rr) {
    pthread_mutex_lock(&rr->lock);
    rr->stopping = 1;
    int started = rr->thread_started;
    if (started)
        wake(rr);
    pthread_mutex_unlock(&rr->lock);
    if (started)
        pthread_join(rr->thread, NULL);
    for (size_t i = 0; i < rr->n; i++)
        rr_watch_free(rr->watches[i]);
    free(rr->watches);
    rr->watches = NULL;
    rr->n = rr->cap = 0;
    if (rr->epfd >= 0)
        close(rr->epfd);
    if (rr->wakefd >= 0)
        close(rr->wakefd);
    rr->epfd = rr->wakefd = -1;
}
