/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-runc: a container's life as far as the shim is concerned: create
 * (spawn the shim, record the container, watch the shim), the state of its
 * init process, and removal.  Shared by containers and pause processes.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "plugin_fs.h"
#include "plugin_pidfd.h"
#include "plugin_strv.h"
#include "runc.h"

/* `SHIM --id ID --bundle B --runtime BIN --runtime-root R [--log-path L] [--stdin] [--tty] [--io-owner U:G]
 *  [--runtime-arg=A]...` */
static char **shim_argv(const struct rr *rr, const char *id, const char *bundle, const char *log_path, uint32_t flags,
                        const struct rr_io_owner *io) {
    char **argv = calloc(18 + rr->nglobal, sizeof(char *));
    if (!argv)
        return NULL;
    size_t n = 0;
    const char *fixed[] = {rr->shim,   "--id",           id,      "--bundle", bundle, "--runtime",
                           rr->binary, "--runtime-root", rr->root};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        argv[n++] = strdup(fixed[i]);
    if (log_path) {
        argv[n++] = strdup("--log-path");
        argv[n++] = strdup(log_path);
    }
    if (flags & CLEAT_CONTAINER_STDIN)
        argv[n++] = strdup("--stdin");
    if (flags & CLEAT_CONTAINER_TTY)
        argv[n++] = strdup("--tty");
    if (io && io->uid != CLEAT_RUNTIME_NO_ID) {
        argv[n++] = strdup("--io-owner");
        if (asprintf(&argv[n++], "%u:%u", io->uid, io->gid) < 0)
            argv[n - 1] = NULL;
    }
    /* global[0..1] is "--root R", which the shim takes as --runtime-root.  The
     * "=" form: an argument that starts with "--" must not look like an option. */
    for (size_t i = 2; i < rr->nglobal; i++)
        if (asprintf(&argv[n++], "--runtime-arg=%s", rr->global[i]) < 0)
            argv[n - 1] = NULL;
    return plugin_strv_checked(argv, n);
}

/* Wait (bounded) for a shim to end; one that does not is killed: its container is gone anyway. */
static void wait_shim(struct rr *rr, const char *id, int pidfd) {
    if (pidfd < 0)
        return;
    if (plugin_pidfd_wait(pidfd, RR_SHIM_EXIT_TIMEOUT_MS) == 0) {
        cleat_log(rr->host, CLEAT_LOG_WARNING, "container '%s': its shim did not exit within %d s; killing it", id,
                  RR_SHIM_EXIT_TIMEOUT_MS / 1000);
        plugin_pidfd_signal(pidfd, SIGKILL);
        plugin_pidfd_wait(pidfd, 1000);
    }
    close(pidfd);
}

/* Undo a create that got (maybe) as far as a running shim: nothing of it may stay. */
static void undo_create(struct rr *rr, const char *id, const char *bundle, const char *link) {
    const char *words[] = {"delete", "--force", id, NULL};
    struct plugin_output o;
    if (rr_runc_raw(rr, words, 0, &o, NULL) == 0)
        plugin_output_done(&o);
    wait_shim(rr, id, rr_shim_pidfd(bundle, id, NULL));
    unlink(link);
}

/* "cleat-shim: TEXT" (TEXT carries the runtime's own error), as the operator should read it. */
static int shim_failed(struct rr *rr, const char *id, const struct plugin_output *o, struct cleat_error **reterr) {
    char msg[RR_ERR_MAX];
    const char *text = o->err;
    if (strncmp(text, "cleat-shim: ", 12) == 0)
        text += 12;
    rr_clean_message(text, msg, sizeof(msg));
    if (o->timed_out)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_DEADLINE_EXCEEDED, ETIMEDOUT,
                               "container '%s': %s did not report within %d s", id, rr->shim,
                               RR_RUNTIME_TIMEOUT_MS / 1000);
    return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, EIO, "container '%s': create failed: %s", id,
                           msg[0] ? msg : "cleat-shim exited without a message");
}

/* Run the shim until it reports; on success its pid is in *ret_shim. */
static int run_shim(struct rr *rr, const char *id, const char *bundle, const char *log_path, uint32_t flags,
                    const struct rr_io_owner *io, pid_t *ret_shim, struct cleat_error **reterr) {
    char **argv = shim_argv(rr, id, bundle, log_path, flags, io);
    if (!argv)
        return plugin_oom(rr->host, reterr);
    struct plugin_output o;
    int r = rr_run((const char *const *)argv, 1, &o);
    plugin_strv_free(argv);
    if (r < 0)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, -r, "container '%s': cannot run %s: %s", id,
                               rr->shim, strerror(-r));
    int shim_pid = 0, init_pid = 0;
    if (o.timed_out || o.exit_status != 0)
        r = shim_failed(rr, id, &o, reterr);
    else if (sscanf(o.out, "%d %d", &shim_pid, &init_pid) != 2 || shim_pid <= 0)
        r = cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, EPROTO,
                            "container '%s': %s reported '%.100s', not 'PID PID'", id, rr->shim, o.out);
    plugin_output_done(&o);
    *ret_shim = shim_pid;
    return r;
}

int rr_create(struct rr *rr, const char *id, const char *bundle, const char *log_path, uint32_t flags,
              const struct rr_io_owner *io, struct cleat_error **reterr) {
    char link[PATH_MAX], path[PATH_MAX];
    if (!rr_valid_id(id))
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "invalid container id '%s'",
                               id ? id : "(null)");
    if (!bundle || bundle[0] != '/' || rr_record_path(rr, id, link, sizeof(link)) < 0 ||
        snprintf(path, sizeof(path), "%s/exit.json", bundle) >= (int)sizeof(path))
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "container '%s': the bundle must be an absolute path of a sane length, not '%s'", id,
                               bundle ? bundle : "(null)");
    /* The record first: symlink(2) is the atomic test for a duplicate id. */
    if (symlink(bundle, link) < 0)
        return cleat_error_set(rr->host, reterr, errno == EEXIST ? CLEAT_STATUS_ALREADY_EXISTS : CLEAT_STATUS_INTERNAL,
                               errno, "container '%s': %s", id, errno == EEXIST ? "already exists" : strerror(errno));
    unlink(path);               /* a stale exit file would make the new container look finished */
    rr_mark_started(bundle, 0); /* and a stale mark, started */
    pid_t shim_pid = 0;
    int r = run_shim(rr, id, bundle, log_path, flags, io, &shim_pid, reterr);
    if (r < 0) {
        undo_create(rr, id, bundle, link);
        return r;
    }
    int pidfd = plugin_pidfd_open(shim_pid);
    if (pidfd >= 0 && !rr_is_shim_of(pidfd, shim_pid, id)) {
        close(pidfd); /* already gone, and its pid reused: report the exit at once */
        pidfd = -1;
    }
    if ((r = rr_watch_shim(rr, id, bundle, shim_pid, pidfd < 0 ? -1 : pidfd)) < 0) {
        undo_create(rr, id, bundle, link);
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, -r, "container '%s': cannot watch its shim: %s",
                               id, strerror(-r));
    }
    return 0;
}

/* Running or paused: a container remove() must refuse. */
static int check_not_running(struct rr *rr, const char *id, const char *bundle, struct cleat_error **reterr) {
    struct rr_exit e;
    if (rr_read_exit(bundle, &e) == 0)
        return 0;
    int pidfd = rr_shim_pidfd(bundle, id, NULL);
    if (pidfd < 0)
        return 0;
    close(pidfd);
    char status[32];
    pid_t pid;
    struct cleat_error *err = NULL;
    int r = rr_runc_state(rr, id, status, sizeof(status), &pid, &err);
    if (r < 0 && rr->host->error_status(err) == CLEAT_STATUS_NOT_FOUND) {
        rr->host->error_free(err); /* the runtime has forgotten it already: nothing runs */
        return 0;
    }
    if (r < 0)
        return plugin_pass_error(rr->host, reterr, err, r);
    if (strcmp(status, "running") == 0 || strcmp(status, "paused") == 0)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EBUSY,
                               "container '%s' is %s: stop it before removing it", id, status);
    return 0; /* created (delete kills it) or stopped (the shim is finishing the log) */
}

int rr_remove(struct rr *rr, const char *id, struct cleat_error **reterr) {
    char bundle[PATH_MAX], link[PATH_MAX];
    int r = rr_lookup(rr, id, bundle, sizeof(bundle), reterr);
    if (r < 0 || (r = check_not_running(rr, id, bundle, reterr)) < 0)
        return r;
    /* Unwatched first: a container being removed reports no exit. */
    pid_t pid = 0;
    int pidfd = rr_unwatch_shim(rr, id, &pid);
    if (pidfd < 0)
        pidfd = rr_shim_pidfd(bundle, id, &pid);
    const char *words[] = {"delete", "--force", id, NULL};
    struct plugin_output o;
    if ((r = rr_runc_raw(rr, words, 0, &o, reterr)) == 0) {
        if (o.exit_status != 0 && !rr_runc_says_gone(&o))
            r = rr_runc_error(rr, &o, "delete", id, reterr);
        plugin_output_done(&o);
    }
    if (r < 0) {
        if (pidfd >= 0)
            rr_watch_shim(rr, id, bundle, pid, pidfd); /* still there: keep reporting it */
        return r;
    }
    wait_shim(rr, id, pidfd);
    rr_forget_execs(rr, id);
    rr_record_path(rr, id, link, sizeof(link));
    if (unlink(link) < 0 && errno != ENOENT)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, errno, "container '%s': cannot remove %s: %s",
                               id, link, strerror(errno));
    return 0;
}

static void set_stopped(struct cleat_runtime_state *ret, const struct rr_exit *e) {
    ret->status = CLEAT_TASK_STOPPED;
    ret->pid = (uint32_t)e->pid;
    ret->exit_status = e->exit_status;
    ret->exited_at_ns = e->exited_at_ns;
}

void rr_mark_started(const char *bundle, int started) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/started", bundle);
    if (started)
        (void)plugin_write_file(path, "");
    else
        (void)unlink(path);
}

/* The init's pid when the mark says it was started (see rr_mark_started); 0 when runc must be asked. */
static pid_t started_pid(const char *bundle) {
    char path[PATH_MAX + 16];
    pid_t pid = 0;
    snprintf(path, sizeof(path), "%s/started", bundle);
    if (access(path, F_OK) < 0)
        return 0;
    snprintf(path, sizeof(path), "%s/init.pid", bundle);
    return rr_read_pid(path, &pid) < 0 ? 0 : pid;
}

int rr_init_state(struct rr *rr, const char *id, struct cleat_runtime_state *ret, struct cleat_error **reterr) {
    char bundle[PATH_MAX], status[32] = "";
    int r = rr_lookup(rr, id, bundle, sizeof(bundle), reterr);
    if (r < 0)
        return r;
    memset(ret, 0, sizeof(*ret));
    struct rr_exit e;
    if (rr_read_exit(bundle, &e) == 0) {
        set_stopped(ret, &e);
        return 0;
    }
    int pidfd = rr_shim_pidfd(bundle, id, NULL);
    if (pidfd < 0) {
        rr_exit_or_lost(bundle, &e); /* re-reads exit.json: the shim may have written it just now */
        set_stopped(ret, &e);
        return 0;
    }
    /* The shim holds the init until it is reaped, then writes exit.json: running it is, unless a pause came. */
    pid_t pid = started_pid(bundle);
    if (pid > 0) {
        close(pidfd);
        ret->pid = (uint32_t)pid;
        ret->status = CLEAT_TASK_RUNNING;
        return 0;
    }
    struct cleat_error *err = NULL;
    r = rr_runc_state(rr, id, status, sizeof(status), &pid, &err);
    int gone = (r < 0 && rr->host->error_status(err) == CLEAT_STATUS_NOT_FOUND) || strcmp(status, "stopped") == 0;
    if (gone && plugin_pidfd_wait(pidfd, RR_SHIM_EXIT_TIMEOUT_MS) == 1) {
        /* The init is gone; the shim writes exit.json once the output is drained (at most 2 s). */
        rr->host->error_free(err);
        close(pidfd);
        rr_exit_or_lost(bundle, &e);
        set_stopped(ret, &e);
        return 0;
    }
    close(pidfd);
    if (r < 0)
        return plugin_pass_error(rr->host, reterr, err, r);
    ret->pid = (uint32_t)pid;
    ret->status = strcmp(status, "created") == 0   ? CLEAT_TASK_CREATED
                  : strcmp(status, "paused") == 0  ? CLEAT_TASK_PAUSED
                  : strcmp(status, "running") == 0 ? CLEAT_TASK_RUNNING
                  : strcmp(status, "stopped") == 0 ? CLEAT_TASK_RUNNING /* the shim is still finishing */
                                                   : CLEAT_TASK_UNKNOWN;
    return 0;
}
