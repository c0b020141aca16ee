/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-kata: exec'd processes, each an exec of its container's task in
 * the shim.  The host gives the process's stdio as pipe ends; the shim
 * opens stdio by path, so it gets /proc/<cleatd>/fd/N of each, which opens
 * the very same pipe.  The shim opens them before its Start answers (a shim
 * that opened them later would find them closed: the host closes its own
 * ends after this call), so exec'd processes need cleatd to be running,
 * which the SDK allows: they need not outlive it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kata.h"

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
    fd_path(ex->stdin_fd, in, sizeof(in));
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
