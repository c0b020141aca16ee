/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-kata: the task table and the waiters.  Every task (a sandbox, a
 * container's init, an exec'd process) has a thread blocked in the shim's
 * Wait: when it answers, the exit is final (a container's once its relay
 * has written the whole log) and is reported with runtime_exit().  When
 * the shim itself dies, its tasks are reported exited with 255, the shim's
 * own `delete` cleans up after each (so no container process stays), and
 * the relay is ended.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kata.h"
#include "plugin_clock.h"
#include "plugin_pidfd.h"

struct kata_task *kata_task_add_locked(struct kata *k, struct kata_pod *pod, const char *id, const char *exec_id) {
    struct kata_task *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->id = strdup(id);
    t->exec_id = exec_id ? strdup(exec_id) : NULL;
    t->relay_pidfd = -1;
    t->stdin_hold = -1;
    if (!t->id || (exec_id && !t->exec_id)) {
        free(t->id);
        free(t->exec_id);
        free(t);
        return NULL;
    }
    t->pod = pod;
    pod->refs++;
    t->refs = 1;
    t->next = k->tasks;
    k->tasks = t;
    return t;
}

static int same(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

struct kata_task *kata_task_get(struct kata *k, const char *id, const char *exec_id) {
    pthread_mutex_lock(&k->lock);
    struct kata_task *t = k->tasks;
    while (t && !(strcmp(t->id, id) == 0 && same(t->exec_id, exec_id)))
        t = t->next;
    if (t)
        t->refs++;
    pthread_mutex_unlock(&k->lock);
    return t;
}

static void task_free(struct kata *k, struct kata_task *t) {
    if (t->relay_pidfd >= 0)
        close(t->relay_pidfd);
    if (t->stdin_hold >= 0)
        close(t->stdin_hold);
    kata_pod_put(k, t->pod);
    free(t->id);
    free(t->exec_id);
    free(t->bundle);
    free(t);
}

void kata_task_put(struct kata *k, struct kata_task *t) {
    if (!t)
        return;
    pthread_mutex_lock(&k->lock);
    int last = --t->refs == 0;
    pthread_mutex_unlock(&k->lock);
    if (last)
        task_free(k, t);
}

void kata_task_unlink_locked(struct kata *k, struct kata_task *t) {
    for (struct kata_task **pp = &k->tasks; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            t->refs--; /* the table's; the caller still holds one */
            return;
        }
}

int kata_task_lookup(struct kata *k, const char *id, const char *exec_id, struct kata_task **ret,
                     struct cleat_error **reterr) {
    if (!id || !(*ret = kata_task_get(k, id, exec_id))) {
        if (exec_id)
            return cleat_error_set(k->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT,
                                   "container '%s' has no exec '%s' here", id ? id : "(null)", exec_id);
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "container '%s' not found",
                               id ? id : "(null)");
    }
    return 0;
}

uint32_t kata_status(int shim_status) {
    switch (shim_status) {
    case SHIMV2__TASK_STATUS__TASK_STATUS_CREATED:
        return CLEAT_TASK_CREATED;
    case SHIMV2__TASK_STATUS__TASK_STATUS_RUNNING:
        return CLEAT_TASK_RUNNING;
    case SHIMV2__TASK_STATUS__TASK_STATUS_STOPPED:
        return CLEAT_TASK_STOPPED;
    case SHIMV2__TASK_STATUS__TASK_STATUS_PAUSED:
    case SHIMV2__TASK_STATUS__TASK_STATUS_PAUSING:
        return CLEAT_TASK_PAUSED;
    default:
        return CLEAT_TASK_UNKNOWN;
    }
}

int kata_call(struct kata *k, struct kata_task *t, const char *method, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp, struct cleat_error **reterr) {
    struct cleat_error *err = NULL;
    struct ttrpc_client *c = kata_pod_client(k, t->pod, &err);
    int r = c ? shim_call(c, method, req, resp_desc, KATA_CALL_TIMEOUT_MS, ret_resp, &err) : -ESRCH;
    if (r < 0 && reterr)
        *reterr = k->host->error_wrap(err, "container '%s'%s%s", t->id, t->exec_id ? " exec " : "",
                                      t->exec_id ? t->exec_id : "");
    else if (r < 0)
        k->host->error_free(err);
    return r;
}

void kata_relay_kill(struct kata *k, struct kata_task *t) {
    pthread_mutex_lock(&k->lock);
    int fd = t->relay_pidfd;
    t->relay_pidfd = -1;
    pthread_mutex_unlock(&k->lock);
    if (fd < 0)
        return;
    plugin_pidfd_signal(fd, SIGKILL);
    plugin_pidfd_wait(fd, 1000);
    close(fd);
}

void kata_relay_finish(struct kata *k, struct kata_task *t) {
    pthread_mutex_lock(&k->lock);
    int fd = t->relay_pidfd;
    pthread_mutex_unlock(&k->lock);
    if (fd >= 0)
        plugin_pidfd_wait(fd, KATA_DRAIN_TIMEOUT_MS);
    kata_relay_kill(k, t);
}

int kata_task_wait_exited(struct kata *k, struct kata_task *t, int timeout_ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&k->lock);
    while (!t->exited && pthread_cond_timedwait(&k->changed, &k->lock, &until) == 0)
        ;
    int exited = t->exited;
    pthread_mutex_unlock(&k->lock);
    return exited;
}

/* The shim died: what a container's init needs so that nothing of it stays, and its exit recorded for good. */
static void task_lost(struct kata *k, struct kata_task *t, int64_t now) {
    if (t->exec_id)
        return; /* the container's own cleanup ends its execs */
    const char *bundle = t->bundle ? t->bundle : strcmp(t->id, t->pod->id) == 0 ? t->pod->bundle : NULL;
    if (t->bundle) {
        char name[160], text[128];
        snprintf(name, sizeof(name), "%s.lost", t->id);
        snprintf(text, sizeof(text), "{\"exit_status\":255,\"exited_at_ns\":%lld}", (long long)now);
        if (kata_record_write(k->tasks_dir, name, text, 0) < 0)
            cleat_log(k->host, CLEAT_LOG_WARNING, "container '%s': cannot record its lost exit", t->id);
    }
    /* The shim's own cleanup for a task it can no longer delete: for runc, `runc delete --force`. */
    if (bundle)
        kata_shim_delete(k, t->id, bundle, 0);
    /* Its output ends with the container: let the relay finish the log, then make sure it is gone. */
    kata_relay_finish(k, t);
}

/* Wait for the exit; 1 with its status, 0 when nothing is to be reported, -1 when the shim is lost. */
static int wait_exit(struct kata *k, struct kata_task *t, int32_t *status, int64_t *at) {
    Shimv2__WaitRequest req = SHIMV2__WAIT_REQUEST__INIT;
    req.id = t->id;
    req.exec_id = t->exec_id ? t->exec_id : (char *)"";
    for (;;) {
        struct cleat_error *err = NULL;
        struct ttrpc_client *c = kata_pod_client(k, t->pod, &err);
        Shimv2__WaitResponse *resp = NULL;
        int r =
            c ? shim_call(c, "Wait", &req.base, &shimv2__wait_response__descriptor, 0, (ProtobufCMessage **)&resp, &err)
              : -ESRCH;
        if (r == 0) {
            *status = (int32_t)resp->exit_status;
            *at = shim_timestamp_ns(resp->exited_at);
            protobuf_c_message_free_unpacked(&resp->base, NULL);
            return 1;
        }
        int32_t code = k->host->error_status(err);
        pthread_mutex_lock(&k->lock);
        int stopping = k->stopping, lost = t->pod->lost;
        pthread_mutex_unlock(&k->lock);
        if (stopping) {
            k->host->error_free(err);
            return 0;
        }
        if (lost || (c && !ttrpc_alive(c) && kata_pod_shim_gone(t->pod, 1000))) {
            k->host->error_free(err);
            kata_pod_mark_lost(k, t->pod);
            return -1;
        }
        if (code == CLEAT_STATUS_NOT_FOUND) {
            k->host->error_free(err); /* deleted already, or never made: nothing to report */
            return 0;
        }
        cleat_log(k->host, CLEAT_LOG_WARNING, "task '%s': Wait: %s; trying again", t->id, k->host->error_message(err));
        k->host->error_free(err);
        plugin_sleep_ms(500);
    }
}

static void waiter_main(struct kata *k, struct kata_task *t) {
    int32_t status = 255;
    int64_t at = 0;
    int r = wait_exit(k, t, &status, &at);
    /* Nothing reads the exec's stdin any more: a pump blocked on a full pipe gets EPIPE and ends. */
    pthread_mutex_lock(&k->lock);
    int hold = t->stdin_hold;
    t->stdin_hold = -1;
    pthread_mutex_unlock(&k->lock);
    if (hold >= 0)
        close(hold);
    if (r < 0) {
        at = plugin_realtime_ns();
        status = 255;
        cleat_log(k->host, CLEAT_LOG_WARNING, "container '%s'%s%s: its shim died; reported exited with 255", t->id,
                  t->exec_id ? " exec " : "", t->exec_id ? t->exec_id : "");
        task_lost(k, t, at);
    } else if (r > 0 && !t->exec_id && t->relay_pidfd >= 0) {
        /* The relay ends once it has written all the output to the log: then the exit is final. */
        pthread_mutex_lock(&k->lock);
        int fd = t->relay_pidfd;
        pthread_mutex_unlock(&k->lock);
        if (fd >= 0 && plugin_pidfd_wait(fd, KATA_DRAIN_TIMEOUT_MS) == 0)
            cleat_log(k->host, CLEAT_LOG_WARNING, "container '%s': its log relay did not finish within %d s", t->id,
                      KATA_DRAIN_TIMEOUT_MS / 1000);
    }
    pthread_mutex_lock(&k->lock);
    int report = r != 0 && !t->removed && !k->stopping;
    if (r != 0) {
        t->exited = 1;
        t->exit_status = status;
        t->exited_at_ns = at;
    }
    pthread_mutex_unlock(&k->lock);
    if (report)
        k->host->runtime_exit(k->host, t->id, t->exec_id, t->pid, status, at);
}

struct task_thread {
    struct kata *k;
    struct kata_task *t; /* a reference of the thread's */
    void (*body)(struct kata *k, struct kata_task *t);
};

static void *task_thread_main(void *arg) {
    struct task_thread tt = *(struct task_thread *)arg;
    free(arg);
    tt.body(tt.k, tt.t);
    pthread_mutex_lock(&tt.k->lock);
    tt.k->waiters--;
    pthread_cond_broadcast(&tt.k->changed);
    pthread_mutex_unlock(&tt.k->lock);
    kata_task_put(tt.k, tt.t);
    return NULL;
}

int kata_task_thread_start(struct kata *k, struct kata_task *t, void (*body)(struct kata *k, struct kata_task *t),
                           size_t stack_size) {
    struct task_thread *tt = malloc(sizeof(*tt));
    if (!tt)
        return -ENOMEM;
    *tt = (struct task_thread){k, t, body};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, stack_size);
    pthread_t th;
    pthread_mutex_lock(&k->lock);
    t->refs++;
    k->waiters++;
    pthread_mutex_unlock(&k->lock);
    int r = pthread_create(&th, &attr, task_thread_main, tt);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        free(tt);
        pthread_mutex_lock(&k->lock);
        t->refs--;
        k->waiters--;
        pthread_mutex_unlock(&k->lock);
        return -r;
    }
    return 0;
}

int kata_waiter_start(struct kata *k, struct kata_task *t) {
    return kata_task_thread_start(k, t, waiter_main, 256 * 1024);
}

void kata_tasks_free(struct kata *k) {
    while (k->tasks) {
        struct kata_task *t = k->tasks;
        k->tasks = t->next;
        t->refs--;
        if (t->refs == 0)
            task_free(k, t);
    }
}
