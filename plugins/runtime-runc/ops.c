/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-runc: the ops table, and the ops on a container's init process. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin_fs.h"
#include "runc.h"

/* An executable regular file, or a message saying what is wrong with it. */
static int check_executable(struct rr *rr, const char *what, const char *path, struct cleat_error **reterr) {
    struct stat st;
    if (stat(path, &st) < 0)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, errno, "%s %s: %s", what, path,
                               strerror(errno));
    if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EACCES,
                               "%s %s is not an executable file", what, path);
    return 0;
}

static int rr_status(void *instance, struct cleat_error **reterr) {
    struct rr *rr = instance;
    int r = check_executable(rr, "OCI runtime", rr->binary, reterr);
    return r < 0 ? r : check_executable(rr, "cleat-shim", rr->shim, reterr);
}

/*
 * runc and crun join a user namespace by path with the maps config.json gives (the core idmaps the mounts);
 * the rest is what the runtime itself says it can do.
 */
static uint64_t rr_features(void *instance) {
    const struct rr *rr = instance;
    return CLEAT_RUNTIME_FEATURE_USER_NAMESPACES | rr->features;
}

static int rr_create_op(void *instance, const struct cleat_runtime_container *c, struct cleat_error **reterr) {
    /* The rootfs is already mounted at root.path of config.json: the runtime needs no mounts from us. */
    struct rr_io_owner io = {CLEAT_RUNTIME_NO_ID, CLEAT_RUNTIME_NO_ID};
    if (c->struct_size >= offsetof(struct cleat_runtime_container, io_gid) + sizeof(c->io_gid))
        io = (struct rr_io_owner){c->io_uid, c->io_gid};
    return rr_create(instance, c->id, c->bundle_dir, c->log_path, c->flags, &io, reterr);
}

/* FAILED_PRECONDITION unless the container's shim runs (and so its init has not been reaped). */
static int check_alive(struct rr *rr, const char *id, const char *bundle, struct cleat_error **reterr) {
    struct rr_exit e;
    int pidfd = rr_read_exit(bundle, &e) == 0 ? -ESRCH : rr_shim_pidfd(bundle, id, NULL);
    if (pidfd < 0)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ESRCH,
                               "container '%s' is not running", id);
    close(pidfd);
    return 0;
}

static int rr_start(void *instance, const char *id, uint32_t *ret_pid, struct cleat_error **reterr) {
    struct rr *rr = instance;
    char bundle[PATH_MAX], path[PATH_MAX + 16];
    pid_t pid;
    int r = rr_lookup(rr, id, bundle, sizeof(bundle), reterr);
    /* No `runc state` first: it would double the cost of a start, and runc start refuses any other state itself. */
    if (r < 0 || (r = check_alive(rr, id, bundle, reterr)) < 0)
        return r;
    const char *words[] = {"start", id, NULL};
    if ((r = rr_runc(rr, words, "start", id, reterr)) < 0)
        return r;
    rr_mark_started(bundle, 1);
    snprintf(path, sizeof(path), "%s/init.pid", bundle);
    if ((r = rr_read_pid(path, &pid)) < 0)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, -r, "container '%s': started, but %s: %s", id,
                               path, strerror(-r));
    *ret_pid = (uint32_t)pid;
    return 0;
}

static int rr_kill(void *instance, const char *id, const char *exec_id, int32_t sig, uint32_t flags,
                   struct cleat_error **reterr) {
    struct rr *rr = instance;
    char bundle[PATH_MAX], signum[16];
    if (sig <= 0 || sig >= NSIG)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "container '%s': no signal %d",
                               id, sig);
    if (exec_id)
        return rr_exec_kill(rr, id, exec_id, sig, reterr);
    int r = rr_lookup(rr, id, bundle, sizeof(bundle), reterr);
    if (r < 0)
        return r;
    if (check_alive(rr, id, bundle, NULL) < 0)
        return 0; /* already stopped: what a kill wants is done */
    snprintf(signum, sizeof(signum), "%d", (int)sig);
    const char *all[] = {"kill", "--all", id, signum, NULL}, *one[] = {"kill", id, signum, NULL};
    struct plugin_output o;
    if ((r = rr_runc_raw(rr, (flags & CLEAT_KILL_ALL) ? all : one, 0, &o, reterr)) < 0)
        return r;
    if (o.timed_out || (o.exit_status != 0 && !rr_runc_says_gone(&o)))
        r = rr_runc_error(rr, &o, "kill", id, reterr);
    plugin_output_done(&o);
    return r;
}

static int rr_remove_op(void *instance, const char *id, const char *exec_id, struct cleat_error **reterr) {
    return exec_id ? rr_exec_remove(instance, id, exec_id, reterr) : rr_remove(instance, id, reterr);
}

static int rr_state(void *instance, const char *id, const char *exec_id, struct cleat_runtime_state *ret,
                    struct cleat_error **reterr) {
    return exec_id ? rr_exec_state(instance, id, exec_id, ret, reterr) : rr_init_state(instance, id, ret, reterr);
}

static int rr_update(void *instance, const char *id, const char *resources_json, struct cleat_error **reterr) {
    struct rr *rr = instance;
    char bundle[PATH_MAX], path[PATH_MAX + 32];
    int r = rr_lookup(rr, id, bundle, sizeof(bundle), reterr);
    if (r < 0)
        return r;
    snprintf(path, sizeof(path), "%s/update-XXXXXX.json", bundle);
    int fd = mkostemps(path, 5, O_CLOEXEC);
    if (fd < 0)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, errno, "container '%s': cannot create %s: %s",
                               id, path, strerror(errno));
    close(fd);
    if ((r = plugin_write_file(path, resources_json ? resources_json : "{}")) < 0)
        r = cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, -r, "container '%s': cannot write %s: %s", id,
                            path, strerror(-r));
    const char *words[] = {"update", "--resources", path, id, NULL};
    if (r == 0)
        r = rr_runc(rr, words, "update", id, reterr);
    unlink(path);
    return r;
}

/* runc pause or resume; the started mark goes before a pause and comes back after a resume. */
static int pause_resume(struct rr *rr, const char *id, int pause, struct cleat_error **reterr) {
    char bundle[PATH_MAX];
    const char *verb = pause ? "pause" : "resume";
    int r = rr_lookup(rr, id, bundle, sizeof(bundle), reterr);
    const char *words[] = {verb, id, NULL};
    if (r < 0)
        return r;
    if (pause)
        rr_mark_started(bundle, 0);
    if ((r = rr_runc(rr, words, verb, id, reterr)) == 0 && !pause)
        rr_mark_started(bundle, 1);
    return r;
}

static int rr_pause(void *instance, const char *id, struct cleat_error **reterr) {
    return pause_resume(instance, id, 1, reterr);
}

static int rr_resume(void *instance, const char *id, struct cleat_error **reterr) {
    return pause_resume(instance, id, 0, reterr);
}

const struct cleat_runtime_ops rr_ops = {
    .status = rr_status,
    .features = rr_features,
    .sandbox_create = rr_sandbox_create,
    .sandbox_stop = rr_sandbox_stop,
    .sandbox_remove = rr_sandbox_remove,
    .create = rr_create_op,
    .start = rr_start,
    .kill = rr_kill,
    .remove = rr_remove_op,
    .state = rr_state,
    .exec = rr_exec,
    .resize_pty = rr_resize_pty,
    .close_stdin = rr_close_stdin,
    .update = rr_update,
    .pause = rr_pause,
    .resume = rr_resume,
    .reopen_log = rr_reopen_log,
    .attach_address = rr_attach_address,
};
