/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-kata: the ops table, and the ops that are one task API call. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kata.h"

static int check_executable(struct kata *k, const char *what, const char *path, struct cleat_error **reterr) {
    struct stat st;
    if (stat(path, &st) < 0)
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, errno, "%s %s: %s", what, path,
                               strerror(errno));
    if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0)
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EACCES,
                               "%s %s is not an executable file", what, path);
    return 0;
}

static int kata_status_op(void *instance, struct cleat_error **reterr) {
    struct kata *k = instance;
    int r = check_executable(k, "shim", k->shim, reterr);
    return r < 0 ? r : check_executable(k, "cleat-shim (the log relay)", k->relay, reterr);
}

/*
 * The shim mounts the rootfs from the snapshotter's mounts (a VM shares them into its guest), and every pod is a
 * sandbox task in its shim.  A shim whose pods' network is in a guest says so: the core refuses PortForward.
 */
static uint64_t kata_features(void *instance) {
    const struct kata *k = instance;
    return CLEAT_RUNTIME_FEATURE_ROOTFS_MOUNTS | CLEAT_RUNTIME_FEATURE_SANDBOX_TASK |
           (k->guest_network ? CLEAT_RUNTIME_FEATURE_GUEST_NETWORK : 0);
}

static int kata_start(void *instance, const char *id, uint32_t *ret_pid, struct cleat_error **reterr) {
    struct kata *k = instance;
    struct kata_task *t = NULL;
    int r = kata_task_lookup(k, id, NULL, &t, reterr);
    if (r < 0)
        return r;
    pthread_mutex_lock(&k->lock);
    int stopped = t->exited || t->pod->lost;
    pthread_mutex_unlock(&k->lock);
    Shimv2__StartRequest req = SHIMV2__START_REQUEST__INIT;
    req.id = t->id;
    Shimv2__StartResponse *resp = NULL;
    struct cleat_error *err = NULL;
    if (stopped)
        r = cleat_error_set(k->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ESRCH, "container '%s' has stopped", id);
    else if ((r = kata_call(k, t, "Start", &req.base, &shimv2__start_response__descriptor, (ProtobufCMessage **)&resp,
                            &err)) == 0) {
        t->pid = resp->pid;
        *ret_pid = resp->pid;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    } else {
        /* Only a created task starts: whatever the shim's words, another state is a precondition failure. */
        Shimv2__StateRequest sreq = SHIMV2__STATE_REQUEST__INIT;
        sreq.id = t->id;
        Shimv2__StateResponse *st = NULL;
        if (kata_call(k, t, "State", &sreq.base, &shimv2__state_response__descriptor, (ProtobufCMessage **)&st, NULL) ==
            0) {
            if (kata_status(st->status) != CLEAT_TASK_CREATED) {
                r = cleat_error_set(k->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EBUSY,
                                    "container '%s' is not in the created state: %s", id, k->host->error_message(err));
                k->host->error_free(err);
                err = NULL;
            }
            protobuf_c_message_free_unpacked(&st->base, NULL);
        }
        if (err)
            plugin_pass_error(k->host, reterr, err, r);
    }
    kata_task_put(k, t);
    return r;
}

static int kata_kill(void *instance, const char *id, const char *exec_id, int32_t sig, uint32_t flags,
                     struct cleat_error **reterr) {
    struct kata *k = instance;
    if (sig <= 0 || sig >= NSIG)
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "container '%s': no signal %d",
                               id, sig);
    struct kata_task *t = NULL;
    int r = kata_task_lookup(k, id, exec_id, &t, reterr);
    if (r < 0)
        return r;
    pthread_mutex_lock(&k->lock);
    int stopped = t->exited || t->pod->lost;
    pthread_mutex_unlock(&k->lock);
    if (!stopped) {
        Shimv2__KillRequest req = SHIMV2__KILL_REQUEST__INIT;
        req.id = t->id;
        req.exec_id = t->exec_id ? t->exec_id : (char *)"";
        req.signal = (uint32_t)sig;
        req.all = (flags & CLEAT_KILL_ALL) != 0;
        struct cleat_error *err = NULL;
        r = kata_call(k, t, "Kill", &req.base, NULL, NULL, &err);
        /* The process has finished already ("not found" from the shim), or its shim is gone: done either way. */
        if (r < 0 && (k->host->error_status(err) == CLEAT_STATUS_NOT_FOUND ||
                      k->host->error_status(err) == CLEAT_STATUS_FAILED_PRECONDITION)) {
            k->host->error_free(err);
            r = 0;
        } else if (r < 0) {
            plugin_pass_error(k->host, reterr, err, r);
        }
    }
    kata_task_put(k, t);
    return r;
}

static int kata_state(void *instance, const char *id, const char *exec_id, struct cleat_runtime_state *ret,
                      struct cleat_error **reterr) {
    struct kata *k = instance;
    struct kata_task *t = NULL;
    int r = kata_task_lookup(k, id, exec_id, &t, reterr);
    if (r < 0)
        return r;
    memset(ret, 0, sizeof(*ret));
    pthread_mutex_lock(&k->lock);
    int exited = t->exited, lost = t->pod->lost;
    ret->oom_killed = (uint32_t)t->oom;
    ret->pid = t->pid;
    if (exited) {
        ret->status = CLEAT_TASK_STOPPED;
        ret->exit_status = t->exit_status;
        ret->exited_at_ns = t->exited_at_ns;
    }
    pthread_mutex_unlock(&k->lock);
    if (!exited && lost) {
        ret->status = CLEAT_TASK_RUNNING; /* its waiter is cleaning up; the exit (255) comes with runtime_exit() */
    } else if (!exited) {
        Shimv2__StateRequest req = SHIMV2__STATE_REQUEST__INIT;
        req.id = t->id;
        req.exec_id = t->exec_id ? t->exec_id : (char *)"";
        Shimv2__StateResponse *st = NULL;
        r = kata_call(k, t, "State", &req.base, &shimv2__state_response__descriptor, (ProtobufCMessage **)&st, reterr);
        if (r == 0) {
            ret->status = kata_status(st->status);
            ret->pid = st->pid;
            /* Stopped in the shim, but final only once the waiter has the log complete: still running for us. */
            if (ret->status == CLEAT_TASK_STOPPED)
                ret->status = CLEAT_TASK_RUNNING;
            protobuf_c_message_free_unpacked(&st->base, NULL);
            pthread_mutex_lock(&k->lock);
            if (!t->pid)
                t->pid = ret->pid;
            pthread_mutex_unlock(&k->lock);
        }
    }
    kata_task_put(k, t);
    return r;
}

static int kata_resize_pty(void *instance, const char *id, const char *exec_id, uint32_t width, uint32_t height,
                           struct cleat_error **reterr) {
    struct kata *k = instance;
    struct kata_task *t = NULL;
    int r = kata_task_lookup(k, id, exec_id, &t, reterr);
    if (r < 0)
        return r;
    Shimv2__ResizePtyRequest req = SHIMV2__RESIZE_PTY_REQUEST__INIT;
    req.id = t->id;
    req.exec_id = t->exec_id ? t->exec_id : (char *)"";
    req.width = width;
    req.height = height;
    r = kata_call(k, t, "ResizePty", &req.base, NULL, NULL, reterr);
    kata_task_put(k, t);
    return r;
}

static int kata_close_stdin(void *instance, const char *id, const char *exec_id, struct cleat_error **reterr) {
    struct kata *k = instance;
    struct kata_task *t = NULL;
    int r = kata_task_lookup(k, id, exec_id, &t, reterr);
    if (r < 0)
        return r;
    if (!exec_id) {
        /* The relay holds the writing end of the stdin FIFO: closing it is the container's end of input. */
        r = kata_relay_command(k, t->id, t->bundle, "close stdin", "close-stdin\n", reterr);
    } else {
        Shimv2__CloseIORequest req = SHIMV2__CLOSE_IOREQUEST__INIT;
        req.id = t->id;
        req.exec_id = t->exec_id;
        req.stdin = 1;
        r = kata_call(k, t, "CloseIO", &req.base, NULL, NULL, reterr);
    }
    kata_task_put(k, t);
    return r;
}

static int kata_update(void *instance, const char *id, const char *resources_json, struct cleat_error **reterr) {
    struct kata *k = instance;
    struct kata_task *t = NULL;
    int r = kata_task_lookup(k, id, NULL, &t, reterr);
    if (r < 0)
        return r;
    pthread_mutex_lock(&k->lock);
    int stopped = t->exited || t->pod->lost;
    pthread_mutex_unlock(&k->lock);
    Shimv2__Any any = SHIMV2__ANY__INIT;
    any.type_url = (char *)SHIM_TYPE_OCI_LINUX_RESOURCES;
    any.value.data = (uint8_t *)(resources_json ? resources_json : "{}");
    any.value.len = strlen((const char *)any.value.data);
    Shimv2__UpdateTaskRequest req = SHIMV2__UPDATE_TASK_REQUEST__INIT;
    req.id = t->id;
    req.resources = &any;
    if (stopped)
        r = cleat_error_set(k->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ESRCH, "container '%s' has stopped", id);
    else
        r = kata_call(k, t, "Update", &req.base, NULL, NULL, reterr);
    kata_task_put(k, t);
    return r;
}

static int simple(void *instance, const char *id, const char *method, struct cleat_error **reterr) {
    struct kata *k = instance;
    struct kata_task *t = NULL;
    int r = kata_task_lookup(k, id, NULL, &t, reterr);
    if (r < 0)
        return r;
    Shimv2__PauseRequest req = SHIMV2__PAUSE_REQUEST__INIT; /* Pause and Resume both carry only the id */
    req.id = t->id;
    r = kata_call(k, t, method, &req.base, NULL, NULL, reterr);
    kata_task_put(k, t);
    return r;
}

static int kata_pause(void *instance, const char *id, struct cleat_error **reterr) {
    return simple(instance, id, "Pause", reterr);
}

static int kata_resume(void *instance, const char *id, struct cleat_error **reterr) {
    return simple(instance, id, "Resume", reterr);
}

static int kata_reopen_log(void *instance, const char *id, struct cleat_error **reterr) {
    struct kata *k = instance;
    struct kata_task *t = NULL;
    int r = kata_task_lookup(k, id, NULL, &t, reterr);
    if (r < 0)
        return r;
    r = t->bundle ? kata_relay_command(k, t->id, t->bundle, "reopen log", "reopen\n", reterr)
                  : cleat_error_set(k->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                                    "'%s' is a sandbox: it has no log", id);
    kata_task_put(k, t);
    return r;
}

static int kata_attach_address(void *instance, const char *id, char *buf, uint64_t size, struct cleat_error **reterr) {
    struct kata *k = instance;
    struct kata_task *t = NULL;
    int r = kata_task_lookup(k, id, NULL, &t, reterr);
    if (r < 0)
        return r;
    if (!t->bundle) {
        kata_task_put(k, t);
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                               "'%s' is a sandbox: nothing to attach to", id);
    }
    int n = snprintf(buf, size, "%s/attach.sock", t->bundle);
    if (n < 0 || (uint64_t)n >= size)
        r = cleat_error_set(k->host, reterr, CLEAT_STATUS_OUT_OF_RANGE, ENAMETOOLONG,
                            "container '%s': the attach socket path %s/attach.sock does not fit in %llu bytes", id,
                            t->bundle, (unsigned long long)size);
    kata_task_put(k, t);
    return r;
}

const struct cleat_runtime_ops kata_ops = {
    .status = kata_status_op,
    .features = kata_features,
    .sandbox_create = kata_sandbox_create,
    .sandbox_stop = kata_sandbox_stop,
    .sandbox_remove = kata_sandbox_remove,
    .create = kata_create,
    .start = kata_start,
    .kill = kata_kill,
    .remove = kata_remove,
    .state = kata_state,
    .exec = kata_exec,
    .resize_pty = kata_resize_pty,
    .close_stdin = kata_close_stdin,
    .update = kata_update,
    .pause = kata_pause,
    .resume = kata_resume,
    .reopen_log = kata_reopen_log,
    .attach_address = kata_attach_address,
    .stats = kata_stats,
    .sandbox_update = kata_sandbox_update,
};
