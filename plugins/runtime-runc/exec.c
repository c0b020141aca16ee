/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-runc: processes exec'd into a running container.
 *
 * `runtime exec --process BUNDLE/exec-<exec_id>.json --pid-file
 * BUNDLE/exec-<exec_id>.pid ID`, not detached: the runtime is our child, with
 * the caller's fds as its stdio (which it passes on to the process), waits
 * for the process and exits with its status (128 + signal when it was
 * killed).  So the exec's exit is our child's exit, which the monitor reaps
 * through its pidfd.  Signals go to the process itself (its pid file), since
 * the runtime cannot forward SIGKILL.
 *
 * With a terminal (CLEAT_CONTAINER_TTY): `--tty` and process.terminal true,
 * the runtime's stdio is the slave of a pty pair of ours, and a relay (tty.c)
 * joins the master to the caller's stdin and stdout fds.  The runtime's own
 * messages then reach the stdout fd through the terminal.
 */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "plugin_clock.h"
#include "plugin_fs.h"
#include "plugin_pidfd.h"
#include "runc.h"

#define PID_FILE_WAIT_MS 1000 /* kill() right after exec(): the runtime writes the pid file soon */

static void exec_path(char *buf, size_t size, const char *bundle, const char *exec_id, const char *ext) {
    snprintf(buf, size, "%s/exec-%s.%s", bundle, exec_id, ext);
}

static int check_running(struct rr *rr, const char *id, struct cleat_error **reterr) {
    char status[32];
    pid_t pid;
    struct cleat_error *err = NULL;
    int r = rr_runc_state(rr, id, status, sizeof(status), &pid, &err);
    if (r < 0 && rr->host->error_status(err) != CLEAT_STATUS_NOT_FOUND)
        return plugin_pass_error(rr->host, reterr, err, r);
    if (r < 0)
        rr->host->error_free(err);
    if (r < 0 || strcmp(status, "running") != 0)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ESRCH,
                               "container '%s' is %s: exec needs a running container", id, r < 0 ? "gone" : status);
    return 0;
}

/* Validate the request; *ret_process is the process JSON to write (process.terminal set for a TTY exec). */
static int check_request(struct rr *rr, const struct cleat_runtime_exec *x, char **ret_process,
                         struct cleat_error **reterr) {
    if (!rr_valid_id(x->exec_id))
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "container '%s': invalid exec id '%s'", x->container_id,
                               x->exec_id ? x->exec_id : "(null)");
    json_error_t jerr;
    json_t *process = x->process_json ? json_loads(x->process_json, 0, &jerr) : NULL;
    int ok = json_is_object(process);
    if (ok)
        ok = json_object_set_new(process, "terminal", json_boolean(x->flags & CLEAT_CONTAINER_TTY)) == 0 &&
             (*ret_process = json_dumps(process, JSON_COMPACT)) != NULL;
    json_decref(process);
    if (!ok)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "container '%s' exec '%s': the process is not a JSON object", x->container_id,
                               x->exec_id);
    return 0;
}

/* Reserve the exec id in the table (ALREADY_EXISTS if taken). */
static int reserve(struct rr *rr, const char *id, const char *exec_id, const char *bundle, struct watch **ret,
                   struct cleat_error **reterr) {
    struct watch *w = rr_watch_new(WATCH_EXEC, id, exec_id, bundle);
    if (!w)
        return plugin_oom(rr->host, reterr);
    w->starting = 1;
    pthread_mutex_lock(&rr->lock);
    int r = rr_find_exec_locked(rr, id, exec_id) ? -EEXIST : rr_add_locked(rr, w);
    pthread_mutex_unlock(&rr->lock);
    if (r < 0) {
        rr_watch_free(w);
        return cleat_error_set(
            rr->host, reterr, r == -EEXIST ? CLEAT_STATUS_ALREADY_EXISTS : CLEAT_STATUS_RESOURCE_EXHAUSTED, -r,
            "container '%s': exec '%s' %s", id, exec_id, r == -EEXIST ? "already exists" : "cannot be recorded");
    }
    *ret = w;
    return 0;
}

/* Write the process file and spawn the runtime (with a terminal: --tty, `slave` as its stdio); returns its pidfd. */
static int spawn_exec(struct rr *rr, const struct cleat_runtime_exec *x, const char *bundle, const char *text,
                      int slave, pid_t *ret_pid, struct cleat_error **reterr) {
    char process[PATH_MAX + 64], pidfile[PATH_MAX + 64];
    exec_path(process, sizeof(process), bundle, x->exec_id, "json");
    exec_path(pidfile, sizeof(pidfile), bundle, x->exec_id, "pid");
    unlink(pidfile);
    int r = plugin_write_file(process, text);
    if (r < 0)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, -r, "container '%s': cannot write %s: %s",
                               x->container_id, process, strerror(-r));
    const char *plain[] = {"exec", "--process", process, "--pid-file", pidfile, x->container_id, NULL};
    const char *tty[] = {"exec", "--tty", "--process", process, "--pid-file", pidfile, x->container_id, NULL};
    _cleanup_free_ const char **argv = rr_runc_argv(rr, slave >= 0 ? tty : plain);
    if (!argv)
        return plugin_oom(rr->host, reterr);
    pid_t pid;
    const int stdio[3] = {slave >= 0 ? slave : x->stdin_fd, slave >= 0 ? slave : x->stdout_fd,
                          slave >= 0 ? slave : x->stderr_fd};
    r = plugin_spawn(argv, NULL, stdio, 0, &pid);
    if (r < 0)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, -r, "container '%s': cannot run %s exec: %s",
                               x->container_id, rr->binary, strerror(-r));
    int pidfd = plugin_pidfd_open(pid); /* our unreaped child: cannot fail but for want of fds */
    if (pidfd < 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, -pidfd,
                               "container '%s': pidfd_open: %s", x->container_id, strerror(-pidfd));
    }
    *ret_pid = pid;
    return pidfd;
}

/* Spawn a TTY exec on a pty pair of ours and start the relay of its master. */
static int spawn_tty_exec(struct rr *rr, const struct cleat_runtime_exec *x, const char *bundle, const char *text,
                          struct watch *w, pid_t *ret_pid, struct cleat_error **reterr) {
    int master, slave;
    int r = rr_openpty(&master, &slave);
    if (r < 0)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, -r,
                               "container '%s' exec '%s': cannot open a pty: %s", x->container_id, x->exec_id,
                               strerror(-r));
    int pidfd = spawn_exec(rr, x, bundle, text, slave, ret_pid, reterr);
    close(slave); /* the runtime holds the only copies now: EIO on the master once it is gone */
    if (pidfd < 0) {
        close(master);
        return pidfd;
    }
    char pidfile[PATH_MAX + 64];
    exec_path(pidfile, sizeof(pidfile), bundle, x->exec_id, "pid");
    if ((r = rr_tty_start(rr, w, master, x->stdin_fd, x->stdout_fd, pidfd, pidfile)) < 0) {
        int status;
        plugin_pidfd_signal(pidfd, SIGKILL);
        plugin_pidfd_reap(pidfd, 0, &status);
        close(pidfd);
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, -r,
                               "container '%s' exec '%s': cannot relay its terminal: %s", x->container_id, x->exec_id,
                               strerror(-r));
    }
    return pidfd;
}

int rr_exec(void *instance, const struct cleat_runtime_exec *x, uint32_t *ret_pid, struct cleat_error **reterr) {
    struct rr *rr = instance;
    char bundle[PATH_MAX];
    struct watch *w = NULL;
    _cleanup_free_ char *text = NULL;
    int r = check_request(rr, x, &text, reterr);
    if (r < 0 || (r = rr_lookup(rr, x->container_id, bundle, sizeof(bundle), reterr)) < 0 ||
        (r = check_running(rr, x->container_id, reterr)) < 0 ||
        (r = reserve(rr, x->container_id, x->exec_id, bundle, &w, reterr)) < 0)
        return r;
    pid_t pid = 0;
    int pidfd = (x->flags & CLEAT_CONTAINER_TTY) ? spawn_tty_exec(rr, x, bundle, text, w, &pid, reterr)
                                                 : spawn_exec(rr, x, bundle, text, -1, &pid, reterr);
    if (pidfd < 0) {
        pthread_mutex_lock(&rr->lock);
        rr_drop_locked(rr, w);
        pthread_mutex_unlock(&rr->lock);
        return pidfd;
    }
    if ((r = rr_watch_exec(rr, w, pid, pidfd)) < 0)
        /* The entry keeps the pidfd: remove() can still reap it, but no exit will be reported. */
        cleat_log(rr->host, CLEAT_LOG_ERROR, "container '%s' exec '%s': cannot watch pid %d: %s", x->container_id,
                  x->exec_id, (int)pid, strerror(-r));
    *ret_pid = (uint32_t)pid;
    return 0;
}

/* Find (id, exec_id) and copy what the caller needs out of it; NOT_FOUND if absent. */
static int find_exec(struct rr *rr, const char *id, const char *exec_id, struct watch *copy, char *bundle, size_t size,
                     struct cleat_error **reterr) {
    pthread_mutex_lock(&rr->lock);
    struct watch *w = rr_find_exec_locked(rr, id, exec_id);
    if (w) {
        *copy = *w;
        snprintf(bundle, size, "%s", w->bundle);
    }
    pthread_mutex_unlock(&rr->lock);
    if (!w)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "container '%s' has no exec '%s'", id,
                               exec_id);
    return 0;
}

/* The exec's process, from the runtime's pid file (waiting a little for it). */
static int exec_process_pid(const char *bundle, const char *exec_id, pid_t *ret) {
    char path[PATH_MAX + 64];
    exec_path(path, sizeof(path), bundle, exec_id, "pid");
    int64_t deadline = plugin_monotonic_ms() + PID_FILE_WAIT_MS;
    while (rr_read_pid(path, ret) < 0) {
        if (plugin_monotonic_ms() >= deadline)
            return -ENOENT;
        plugin_sleep_ms(10);
    }
    return 0;
}

int rr_exec_kill(struct rr *rr, const char *id, const char *exec_id, int32_t sig, struct cleat_error **reterr) {
    char bundle[PATH_MAX];
    struct watch copy = {0};
    int r = find_exec(rr, id, exec_id, &copy, bundle, sizeof(bundle), reterr);
    if (r < 0 || copy.exited)
        return r; /* an exec that has ended is killed */
    pid_t pid;
    if (exec_process_pid(bundle, exec_id, &pid) == 0) {
        int pidfd = plugin_pidfd_open(pid);
        if (pidfd < 0)
            return 0; /* gone */
        r = plugin_pidfd_signal(pidfd, sig);
        close(pidfd);
    } else {
        /* Not started yet, or the runtime failed: signal the runtime, which forwards what it can. */
        pthread_mutex_lock(&rr->lock);
        struct watch *w = rr_find_exec_locked(rr, id, exec_id);
        r = w && w->pidfd >= 0 ? plugin_pidfd_signal(w->pidfd, sig) : 0;
        pthread_mutex_unlock(&rr->lock);
    }
    if (r < 0 && r != -ESRCH)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, -r, "container '%s' exec '%s': signal %d: %s",
                               id, exec_id, (int)sig, strerror(-r));
    return 0;
}

int rr_exec_state(struct rr *rr, const char *id, const char *exec_id, struct cleat_runtime_state *ret,
                  struct cleat_error **reterr) {
    char bundle[PATH_MAX];
    struct watch copy = {0};
    int r = find_exec(rr, id, exec_id, &copy, bundle, sizeof(bundle), reterr);
    if (r < 0)
        return r;
    memset(ret, 0, sizeof(*ret));
    ret->pid = (uint32_t)copy.pid;
    ret->status = copy.starting ? CLEAT_TASK_CREATED : copy.exited ? CLEAT_TASK_STOPPED : CLEAT_TASK_RUNNING;
    ret->exit_status = copy.exit_status;
    ret->exited_at_ns = copy.exited_at_ns;
    return 0;
}

int rr_exec_remove(struct rr *rr, const char *id, const char *exec_id, struct cleat_error **reterr) {
    char path[PATH_MAX + 64];
    pthread_mutex_lock(&rr->lock);
    struct watch *w = rr_find_exec_locked(rr, id, exec_id);
    if (w && !w->starting)
        rr_reap_exec_locked(rr, w); /* it may have ended before the monitor noticed */
    int running = w && !w->exited;
    if (w && !running) {
        exec_path(path, sizeof(path), w->bundle, exec_id, "json");
        unlink(path);
        exec_path(path, sizeof(path), w->bundle, exec_id, "pid");
        unlink(path);
        rr_drop_locked(rr, w);
    }
    pthread_mutex_unlock(&rr->lock);
    if (!w)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "container '%s' has no exec '%s'", id,
                               exec_id);
    if (running)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EBUSY,
                               "container '%s' exec '%s' is still running", id, exec_id);
    return 0;
}
