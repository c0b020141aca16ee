/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-kata: exec'd processes, each an exec of its container's task in
 * the shim.  The host gives the process's stdio as pipe ends; the shim
 * opens stdio by path, so it gets /proc/<cleatd>/fd/N, which opens the very
 * same pipe.  The shim opens the outputs before its Start answers (a shim
 * that opened them later would find them closed: the host closes its own
 * ends after this call), so exec'd processes need cleatd to be running,
 * which the SDK allows: they need not outlive it.
 *
 * Stdin is the exception: a shim v2 holds a writer of the stdin it opened,
 * so that its process sees the end of input only when CloseIO says so (as
 * containerd's clients do when their input ends).  A thread of ours copies
 * the host's stdin into a pipe of ours that the shim reads, and at the
 * host's end of input closes that pipe and calls CloseIO.  The shim opens
 * its reader of that pipe without waiting (in a goroutine, maybe after
 * Start answered), so we keep a reader of ours until the exit: a pipe
 * with no reader for a moment would fail the pump's writes, and one with
 * no file open at all would be a new, empty pipe to the shim's late open.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kata.h"
#include "plugin_fs.h"

struct stdin_pump {
    struct kata *k;
    struct kata_task *t; /* a reference of the pump's */
    int from;            /* a dup of the host's read end */
    int to;              /* the write end of the pipe the shim reads */
    int tty;             /* the shim's stdin feeds a terminal */
};

static void *pump_main(void *arg) {
    struct stdin_pump *p = arg;
    char buf[16384];
    int broken = 0, line_open = 0;
    for (;;) {
        ssize_t n = read(p->from, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the end of input */
        if ((broken = plugin_write_all(p->to, buf, (size_t)n) < 0))
            break; /* the process no longer reads it */
        line_open = buf[n - 1] != '\n';
    }
    /*
     * A terminal's end of input is its EOF character, as runtime-runc gives it: a shim v2 would close the
     * terminal on CloseIO, which hangs its process up (SIGHUP) instead.  A second one after a line not ended:
     * the first only hands that line over.
     */
    if (p->tty && !broken)
        plugin_write_all(p->to, "\x04\x04", line_open ? 2 : 1);
    close(p->from);
    close(p->to);
    pthread_mutex_lock(&p->k->lock);
    int done = p->t->exited || p->t->removed || p->k->stopping;
    pthread_mutex_unlock(&p->k->lock);
    if (!done && !p->tty) {
        Shimv2__CloseIORequest req = SHIMV2__CLOSE_IOREQUEST__INIT;
        req.id = p->t->id;
        req.exec_id = p->t->exec_id;
        req.stdin = 1;
        kata_call(p->k, p->t, "CloseIO", &req.base, NULL, NULL, NULL);
    }
    kata_task_put(p->k, p->t);
    free(p);
    return NULL;
}

/* The pipe the shim reads as the exec's stdin (its read end in *ret_shim_end), and the pump into it. */
static int pump_prepare(struct kata *k, struct kata_task *t, int host_fd, int tty, int *ret_shim_end,
                        struct stdin_pump **ret) {
    struct stdin_pump *p = calloc(1, sizeof(*p));
    int fds[2] = {-1, -1};
    if (!p)
        return -ENOMEM;
    p->k = k;
    p->t = t;
    p->tty = tty;
    if ((p->from = fcntl(host_fd, F_DUPFD_CLOEXEC, 3)) < 0 || pipe2(fds, O_CLOEXEC) < 0) {
        int r = -errno;
        if (p->from >= 0)
            close(p->from);
        free(p);
        return r;
    }
    p->to = fds[1];
    *ret_shim_end = fds[0];
    *ret = p;
    return 0;
}

static void pump_discard(struct stdin_pump *p) {
    if (!p)
        return;
    close(p->from);
    close(p->to);
    free(p);
}

static int pump_start(struct kata *k, struct stdin_pump *p) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 128 * 1024);
    pthread_mutex_lock(&k->lock);
    p->t->refs++;
    pthread_mutex_unlock(&k->lock);
    pthread_t th;
    int r = pthread_create(&th, &attr, pump_main, p);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        kata_task_put(k, p->t);
        return -r;
    }
    return 0;
}

static void fd_path(int fd, char *buf, size_t size) {
    if (fd < 0)
        buf[0] = '\0';
    else
        snprintf(buf, size, "/proc/%d/fd/%d", (int)getpid(), fd);
}

int kata_exec(void *instance, const struct cleat_runtime_exec *ex, uint32_t *ret_pid, struct cleat_error **reterr) {
    struct kata *k = instance;
    struct kata_task *c = NULL;
    int r = kata_task_lookup(k, ex->container_id, NULL, &c, reterr);
    if (r < 0)
        return r;
    if (!ex->exec_id || !kata_valid_id(ex->exec_id)) {
        kata_task_put(k, c);
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "invalid exec id '%s'",
                               ex->exec_id ? ex->exec_id : "(null)");
    }
    pthread_mutex_lock(&k->lock);
    int stopped = c->exited || c->pod->lost;
    struct kata_task *t = NULL;
    for (t = k->tasks; t && !(t->exec_id && strcmp(t->id, c->id) == 0 && strcmp(t->exec_id, ex->exec_id) == 0);
         t = t->next)
        ;
    int exists = t != NULL;
    t = stopped || exists ? NULL : kata_task_add_locked(k, c->pod, c->id, ex->exec_id);
    if (t)
        t->refs++;
    pthread_mutex_unlock(&k->lock);
    kata_task_put(k, c);
    if (stopped)
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ESRCH,
                               "container '%s' is not running", ex->container_id);
    if (exists)
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_ALREADY_EXISTS, EEXIST,
                               "container '%s' already has an exec '%s'", ex->container_id, ex->exec_id);
    if (!t)
        return plugin_oom(k->host, reterr);
    char in[64], out[64], err[64];
    struct stdin_pump *pump = NULL;
    int shim_in = -1;
    if (ex->stdin_fd >= 0 &&
        (r = pump_prepare(k, t, ex->stdin_fd, (ex->flags & CLEAT_CONTAINER_TTY) != 0, &shim_in, &pump)) < 0) {
        pthread_mutex_lock(&k->lock);
        kata_task_unlink_locked(k, t);
        pthread_mutex_unlock(&k->lock);
        kata_task_put(k, t);
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, -r, "container '%s': exec stdin: %s",
                               ex->container_id, strerror(-r));
    }
    fd_path(shim_in, in, sizeof(in));
    fd_path(ex->stdout_fd, out, sizeof(out));
    fd_path(ex->stderr_fd, err, sizeof(err));
    Shimv2__Any spec = SHIMV2__ANY__INIT;
    spec.type_url = (char *)SHIM_TYPE_OCI_PROCESS;
    spec.value.data = (uint8_t *)ex->process_json;
    spec.value.len = strlen(ex->process_json);
    Shimv2__ExecProcessRequest req = SHIMV2__EXEC_PROCESS_REQUEST__INIT;
    req.id = t->id;
    req.exec_id = t->exec_id;
    req.terminal = (ex->flags & CLEAT_CONTAINER_TTY) != 0;
    req.stdin = in;
    req.stdout = out;
    req.stderr = err;
    req.spec = &spec;
    r = kata_call(k, t, "Exec", &req.base, NULL, NULL, reterr);
    Shimv2__StartRequest start = SHIMV2__START_REQUEST__INIT;
    start.id = t->id;
    start.exec_id = t->exec_id;
    Shimv2__StartResponse *resp = NULL;
    int made = r == 0;
    if (r == 0 && (r = kata_call(k, t, "Start", &start.base, &shimv2__start_response__descriptor,
                                 (ProtobufCMessage **)&resp, reterr)) == 0) {
        t->pid = resp->pid;
        *ret_pid = resp->pid;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    if (shim_in >= 0 && r == 0) { /* held until the exit (see stdin_hold): the shim may not have opened it yet */
        pthread_mutex_lock(&k->lock);
        t->stdin_hold = shim_in;
        pthread_mutex_unlock(&k->lock);
    } else if (shim_in >= 0) {
        close(shim_in);
    }
    if (r == 0 && pump && (r = pump_start(k, pump)) < 0)
        r = cleat_error_set(k->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, -r, "container '%s': no thread: %s",
                            t->id, strerror(-r));
    else if (r == 0)
        pump = NULL; /* the thread's */
    pump_discard(pump);
    if (r == 0 && (r = kata_waiter_start(k, t)) < 0)
        r = cleat_error_set(k->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, -r, "container '%s': no thread: %s",
                            t->id, strerror(-r));
    if (r < 0) {
        if (made) {
            Shimv2__DeleteRequest del = SHIMV2__DELETE_REQUEST__INIT;
            del.id = t->id;
            del.exec_id = t->exec_id;
            kata_call(k, t, "Delete", &del.base, NULL, NULL, NULL);
        }
        pthread_mutex_lock(&k->lock);
        t->removed = 1;
        kata_task_unlink_locked(k, t);
        pthread_mutex_unlock(&k->lock);
    }
    kata_task_put(k, t);
    return r;
}
