/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exits reported by runtimes.  They arrive on a plugin's own thread, at any
 * time, possibly while a worker holds the container's lock and waits for
 * exactly this exit; so they are only noted here (with whether the OOM
 * killer struck: read while the container's cgroup still exists, or, for an
 * OOM no host cgroup sees, such as one inside a VM, as the runtime's state()
 * says) and readers apply them to the record they show.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "plugin_calls.h"
#include "fsutil.h"
#include "log.h"
#include "runtime_internal.h"

static int same_exec(const char *a, const char *b) {
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Read "oom_kill N" from the container's memory cgroup: v1 memory.oom_control, v2 memory.events. */
static int oom_killed(struct runtime_service *rs, const char *cgroups_path) {
    if (!rs->cgroups || !cgroups_path || !*cgroups_path)
        return 0;
    char *rel = NULL, *dir = NULL, *path = NULL, *text = NULL;
    struct cleat_error *err = NULL;
    int v2 = rs->cgroups->mode == CGROUP_MODE_V2, killed = 0;
    if (cgroup_dir_of(cgroups_path, &rel, &err) >= 0 &&
        cgroup_layout_dir(rs->cgroups, v2 ? NULL : "memory", rel, &dir, &err) >= 0 &&
        asprintf(&path, "%s/%s", dir, v2 ? "memory.events" : "memory.oom_control") >= 0 &&
        read_file(path, 4096, &text, NULL, &err) >= 0) {
        const char *p = strstr(text, "oom_kill ");
        killed = p && strtoll(p + 9, NULL, 10) > 0;
    }
    error_free(err);
    free(rel);
    free(dir);
    free(path);
    free(text);
    return killed;
}

static void add_exit(struct runtime_service *rs, const char *container_id, const char *exec_id, uint32_t pid,
                     int32_t status, int oom_killed, int64_t exited_at_ns) {
    struct exit_entry *e = calloc(1, sizeof(*e));
    if (!e || !(e->exec_id = strdup(exec_id ? exec_id : ""))) {
        free(e);
        log_error("out of memory recording the exit of %s", container_id);
        return;
    }
    snprintf(e->container_id, sizeof(e->container_id), "%s", container_id);
    e->pid = pid;
    e->status = status;
    e->oom_killed = oom_killed;
    e->exited_at_ns = exited_at_ns;
    pthread_mutex_lock(&rs->exit_mu);
    /* A later report of the same process replaces nothing: the first one is the real exit. */
    int dup = 0;
    for (struct exit_entry *x = rs->exits; x && !dup; x = x->next)
        dup = strcmp(x->container_id, container_id) == 0 && same_exec(x->exec_id, exec_id);
    if (!dup) {
        e->next = rs->exits;
        rs->exits = e;
    }
    pthread_cond_broadcast(&rs->exit_cond);
    pthread_mutex_unlock(&rs->exit_mu);
    if (dup) {
        free(e->exec_id);
        free(e);
    } else if (!exec_id || !*exec_id) {
        runtime_notify(rs, container_id, NULL, LIFECYCLE_STOPPED);
    }
}

void exit_record(struct runtime_service *rs, const char *container_id, const char *exec_id, uint32_t pid,
                 int32_t status, int oom_killed, int64_t exited_at_ns) {
    add_exit(rs, container_id, exec_id, pid, status, oom_killed, exited_at_ns);
}

/* The runtime's own word on an OOM kill of a stopped container's init (a VM's OOM killer is not in a host cgroup). */
static int runtime_says_oom(struct runtime_service *rs, const container_record *rec) {
    struct plugin_instance *rt = container_runtime(rs, rec);
    struct cleat_runtime_state st = {0};
    struct cleat_error *err = NULL;
    int r = rt && plugin_has_op(rt, "state") ? plugin_runtime_state(rt, rec->id, NULL, &st, &err) : -1;
    error_free(err);
    return r >= 0 && st.status == CLEAT_TASK_STOPPED && st.oom_killed;
}

void runtime_on_exit(void *ctx, const struct plugin_instance *pi, const char *container_id, const char *exec_id,
                     uint32_t pid, int32_t exit_status, int64_t exited_at_ns) {
    (void)pi;
    struct runtime_service *rs = ctx;
    if (!container_id)
        return;
    /* A SIGKILL with the cgroup's OOM counter up, or the runtime saying so: the OOM killer did it. */
    int oom = 0;
    container_record *rec = NULL;
    struct cleat_error *err = NULL;
    if (!exec_id && container_record_load(rs, container_id, &rec, &err) >= 0) /* not for a pod's pause */
        oom = (exit_status == 128 + SIGKILL && oom_killed(rs, rec->cgroups_path)) || runtime_says_oom(rs, rec);
    container_record_free(rec);
    error_free(err);
    add_exit(rs, container_id, exec_id, pid, exit_status, oom, exited_at_ns);
}

static int find_locked(struct runtime_service *rs, const char *container_id, const char *exec_id,
                       struct exit_entry *ret) {
    for (struct exit_entry *x = rs->exits; x; x = x->next)
        if (strcmp(x->container_id, container_id) == 0 && same_exec(x->exec_id, exec_id)) {
            *ret = *x;
            ret->next = NULL;
            ret->exec_id = NULL; /* not handed out: the entry may go */
            return 0;
        }
    return -ENOENT;
}

int exit_lookup(struct runtime_service *rs, const char *container_id, const char *exec_id, struct exit_entry *ret) {
    pthread_mutex_lock(&rs->exit_mu);
    int r = find_locked(rs, container_id, exec_id, ret);
    pthread_mutex_unlock(&rs->exit_mu);
    return r;
}

int exit_wait(struct runtime_service *rs, const char *container_id, const char *exec_id, int64_t deadline_ns,
              struct exit_entry *ret) {
    struct timespec ts = {.tv_sec = deadline_ns / 1000000000, .tv_nsec = deadline_ns % 1000000000};
    pthread_mutex_lock(&rs->exit_mu);
    int r;
    while ((r = find_locked(rs, container_id, exec_id, ret)) < 0) {
        if (pthread_cond_timedwait(&rs->exit_cond, &rs->exit_mu, &ts) == ETIMEDOUT) {
            r = find_locked(rs, container_id, exec_id, ret) < 0 ? -ETIMEDOUT : 0;
            break;
        }
    }
    pthread_mutex_unlock(&rs->exit_mu);
    return r;
}

void exit_forget(struct runtime_service *rs, const char *container_id, const char *exec_id) {
    pthread_mutex_lock(&rs->exit_mu);
    for (struct exit_entry **pp = &rs->exits; *pp;) {
        struct exit_entry *x = *pp;
        if (strcmp(x->container_id, container_id) == 0 && (!exec_id || strcmp(x->exec_id, exec_id) == 0)) {
            *pp = x->next;
            free(x->exec_id);
            free(x);
        } else {
            pp = &x->next;
        }
    }
    pthread_mutex_unlock(&rs->exit_mu);
}

/* The recorded exit of a RUNNING/CREATED record applied, all but the reason, which it returns; NULL: none. */
static const char *apply_exit(struct runtime_service *rs, container_record *rec) {
    if (rec->state != CSTATE_RUNNING && rec->state != CSTATE_CREATED)
        return NULL;
    struct exit_entry e;
    if (exit_lookup(rs, rec->id, NULL, &e) < 0)
        return NULL;
    int32_t code = e.status;
    rec->state = CSTATE_EXITED;
    rec->exit_code = code;
    rec->finished_at_ns = e.exited_at_ns;
    rec->pid = 0;
    return e.oom_killed ? "OOMKilled" : code == 0 ? "Completed" : "Error";
}

int container_apply_exit(struct runtime_service *rs, container_record *rec) {
    const char *reason = apply_exit(rs, rec);
    struct cleat_error *err = NULL;
    if (!reason)
        return 0;
    if (record_set_string(&rec->reason, reason, &err) < 0)
        error_free(err);
    return 1;
}

int container_apply_exit_in(struct runtime_service *rs, container_record *rec, struct arena *a) {
    const char *reason = apply_exit(rs, rec);
    if (!reason)
        return 0;
    rec->reason = arena_strdup(a, reason); /* the old one is the arena's too: not freed */
    return 1;
}

int exit_await(struct runtime_service *rs, struct plugin_instance *rt, const char *container_id, const char *exec_id,
               int64_t deadline_ns, int64_t poll_ns, struct exit_entry *ret) {
    for (;;) {
        int64_t step = now_ns() + poll_ns;
        if (exit_wait(rs, container_id, exec_id, deadline_ns && deadline_ns < step ? deadline_ns : step, ret) == 0)
            return 0;
        struct cleat_runtime_state st = {0};
        struct cleat_error *err = NULL;
        int r = rt && plugin_has_op(rt, "state") ? plugin_runtime_state(rt, container_id, exec_id, &st, &err) : -1;
        int gone = !exec_id && r < 0 && error_status(err) == CLEAT_STATUS_NOT_FOUND;
        error_free(err);
        if ((r >= 0 && st.status == CLEAT_TASK_STOPPED) || gone) {
            exit_record(rs, container_id, exec_id, st.pid, gone ? 255 : st.exit_status, !gone && st.oom_killed,
                        gone || !st.exited_at_ns ? now_ns() : st.exited_at_ns);
            return exit_lookup(rs, container_id, exec_id, ret);
        }
        if (deadline_ns && now_ns() >= deadline_ns)
            return -ETIMEDOUT;
    }
}
