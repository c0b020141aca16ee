/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container lifecycle: create (snapshot, rootfs mount, spec, runtime
 * create), start, stop (stop signal, then SIGKILL), remove.  See
 * runtime_service.h for the crash-safety and locking rules.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin_calls.h"
#include "builders.h"
#include "fsutil.h"
#include "ids.h"
#include "image_service.h"
#include "log.h"
#include "metrics.h"
#include "mount_util.h"
#include "registry.h"
#include "runtime_internal.h"
#include "spec.h"
#include "stats.h"

/* How long a SIGKILLed container may take to be reported gone. */
#define KILL_WAIT_NS (30LL * 1000000000)

static int oom(struct cleat_error **reterr) {
    return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
}

static int resolve(struct runtime_service *rs, const char *id_or_prefix, char id[65], struct cleat_error **reterr) {
    return object_resolve(rs, STORE_CONTAINER, id_or_prefix, id, reterr);
}

static const char *state_name(uint32_t s) {
    static const char *const names[] = {"CREATED", "RUNNING", "EXITED", "UNKNOWN"};
    return s < 4 ? names[s] : "UNKNOWN";
}

static int kill_and_wait(struct runtime_service *rs, struct plugin_instance *rt, const char *id, int sig,
                         uint32_t flags, int64_t deadline, struct cleat_error **reterr) {
    if (!rt)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOSYS,
                         "container %s: its runtime is not configured", id);
    int r = plugin_runtime_kill(rt, id, NULL, sig, flags, reterr);
    if (r < 0 && error_status(*reterr) == CLEAT_STATUS_NOT_FOUND) {
        error_free(*reterr);
        *reterr = NULL;
        exit_record(rs, id, NULL, 0, 255, 0, now_ns());
        return 0;
    }
    if (r < 0)
        return error_prefix(r, reterr, "cannot signal container %s", id);
    if (exit_await(rs, rt, id, NULL, deadline, 1000000000LL, &(struct exit_entry){0}) < 0)
        return error_set(reterr, CLEAT_STATUS_DEADLINE_EXCEEDED, ETIMEDOUT, "container %s did not stop after signal %d",
                         id, sig);
    return 0;
}

static int stop_signal_of(const container_record *rec) {
    int sig = signal_parse(rec->stop_signal);
    return sig > 0 ? sig : SIGTERM;
}

/* Stop with the container's lock held; rec is updated and saved. */
static int stop_locked(struct runtime_service *rs, container_record *rec, int64_t timeout,
                       struct cleat_error **reterr) {
    container_apply_exit(rs, rec);
    if (rec->state != CSTATE_RUNNING && rec->state != CSTATE_CREATED)
        return container_record_save(rs, rec, reterr);
    struct plugin_instance *rt = container_runtime(rs, rec);
    int r = 0;
    struct cleat_error *err = NULL;
    if (rec->state == CSTATE_RUNNING && timeout > 0) {
        int sig = stop_signal_of(rec);
        if (timeout > 366LL * 86400) /* keeps the deadline inside int64 nanoseconds */
            timeout = 366LL * 86400;
        if (kill_and_wait(rs, rt, rec->id, sig, 0, now_ns() + timeout * 1000000000LL, &err) < 0) {
            log_info("container %s: %s; killing it", rec->id, error_message(err));
            error_free(err);
        }
    }
    if (exit_lookup(rs, rec->id, NULL, &(struct exit_entry){0}) < 0)
        r = kill_and_wait(rs, rt, rec->id, SIGKILL, CLEAT_KILL_ALL, now_ns() + KILL_WAIT_NS, reterr);
    if (r < 0)
        return r;
    container_apply_exit(rs, rec);
    return container_record_save(rs, rec, reterr);
}

int container_stop_id(struct runtime_service *rs, const char *id, int64_t timeout, struct cleat_error **reterr) {
    struct keyed_lock *l = keyed_lock_acquire(rs->locks, id);
    if (!l)
        return oom(reterr);
    container_record *rec = NULL;
    struct cleat_error *err = NULL;
    int r = container_record_load(rs, id, &rec, &err);
    if (r < 0 && error_status(err) == CLEAT_STATUS_NOT_FOUND) {
        error_free(err);
        r = 0;
    } else if (r < 0) {
        *reterr = err;
    } else {
        r = stop_locked(rs, rec, timeout, reterr);
    }
    container_record_free(rec);
    keyed_lock_release(l);
    return r;
}

int container_stop(struct runtime_service *rs, const char *id_or_prefix, int64_t timeout, struct cleat_error **reterr) {
    char id[65];
    int r = resolve(rs, id_or_prefix, id, reterr);
    return r < 0 ? r : container_stop_id(rs, id, timeout, reterr);
}

void container_cleanup(struct runtime_service *rs, const char *id, struct plugin_instance *rt,
                       const char *snapshotter) {
    struct cleat_error *err = NULL;
    int removed = 0;
    if (rt && plugin_has_op(rt, "remove")) {
        removed = plugin_runtime_remove(rt, id, NULL, &err) >= 0 || error_status(err) == CLEAT_STATUS_NOT_FOUND;
        if (!removed)
            log_warning("container %s: runtime: %s", id, error_message(err));
    }
    error_free(err);
    err = NULL;
    char *dir = container_dir(rs, id);
    /*
     * A runtime that mounts the rootfs itself has unmounted it in remove().  The core unmounts what is there
     * only for other runtimes, for a leftover whose runtime is not known (the core's own mount for the spec
     * may be there), and as a last resort when the runtime's remove failed.
     */
    int runtime_mounts = removed && (plugin_runtime_features(rt) & CLEAT_RUNTIME_FEATURE_ROOTFS_MOUNTS);
    if (dir && !runtime_mounts) {
        char rootfs[4096];
        snprintf(rootfs, sizeof(rootfs), "%s/rootfs", dir);
        if (unmount_tree(rootfs, &err) < 0) {
            log_warning("container %s: %s", id, error_message(err));
            error_free(err);
            err = NULL;
        }
    }
    userns_dir_remove(rs, id);         /* idmapped rootfs and volumes (a pod with its own user namespace) */
    image_volumes_remove(rs, id, dir); /* before rm_tree: it unmounts them */
    struct plugin_instance *sn =
        snapshotter && *snapshotter ? plugins_find(rs->deps.plugins, CLEAT_CONCERN_SNAPSHOTTER, snapshotter) : NULL;
    if (!sn)
        sn = image_service_snapshotter(rs->deps.images);
    if (sn && plugin_has_op(sn, "remove") && plugin_snapshotter_remove(sn, id, &err) < 0 &&
        error_status(err) != CLEAT_STATUS_NOT_FOUND)
        log_warning("container %s: snapshot: %s", id, error_message(err));
    error_free(err);
    err = NULL;
    if (dir && rm_tree(dir, &err) < 0) {
        log_warning("container %s: %s", id, error_message(err));
        error_free(err);
    }
    free(dir);
    exit_forget(rs, id, NULL);
}

int container_remove_id(struct runtime_service *rs, const char *id, struct cleat_error **reterr) {
    struct keyed_lock *l = keyed_lock_acquire(rs->locks, id);
    if (!l)
        return oom(reterr);
    container_record *rec = NULL;
    struct cleat_error *err = NULL;
    int r = container_record_load(rs, id, &rec, &err);
    if (r < 0) {
        keyed_lock_release(l);
        if (error_status(err) == CLEAT_STATUS_NOT_FOUND) { /* removed while we waited */
            error_free(err);
            return 0;
        }
        *reterr = err;
        return r;
    }
    r = stop_locked(rs, rec, 0, reterr);
    if (r >= 0) {
        container_cleanup(rs, id, container_runtime(rs, rec), rec->snapshotter);
        r = registry_remove(rs->deps.registry, STORE_CONTAINER, id, reterr);
    }
    if (r >= 0) {
        stats_cache_forget(rs->stats, id);
        log_info("container %s removed", id);
        runtime_notify(rs, id, rec->sandbox_id, LIFECYCLE_DELETED);
    }
    container_record_free(rec);
    keyed_lock_release(l);
    return r;
}

int container_remove(struct runtime_service *rs, const char *id_or_prefix, struct cleat_error **reterr) {
    char id[65];
    int found = object_resolve_present(rs, STORE_CONTAINER, id_or_prefix, id, reterr); /* idempotent, as the CRI asks */
    return found <= 0 ? found : container_remove_id(rs, id, reterr);
}

int container_start(struct runtime_service *rs, const char *id_or_prefix, struct cleat_error **reterr) {
    char id[65];
    int r = resolve(rs, id_or_prefix, id, reterr);
    if (r < 0)
        return r;
    struct keyed_lock *l = keyed_lock_acquire(rs->locks, id);
    if (!l)
        return oom(reterr);
    container_record *rec = NULL;
    sandbox_record *pod = NULL;
    r = container_record_load(rs, id, &rec, reterr);
    if (r >= 0)
        r = sandbox_record_load(rs, rec->sandbox_id, &pod, reterr);
    if (r >= 0) {
        container_apply_exit(rs, rec);
        if (rec->state != CSTATE_CREATED)
            r = error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL, "container %s is %s, not CREATED", id,
                          state_name(rec->state));
        else if (pod->state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
            r = error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                          "the pod sandbox %s of container %s is not ready", pod->id, id);
    }
    struct plugin_instance *rt = r >= 0 ? runtime_instance(rs, pod->runtime_handler) : NULL;
    if (r >= 0 && !rt)
        r = error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOSYS, "the runtime handler \"%s\" is not configured",
                      pod->runtime_handler);
    uint32_t pid = 0;
    /* Taken before the start: a process that exits at once must not have finished before it started. */
    int64_t started_at = now_ns();
    if (r >= 0) {
        struct cleat_error *err = NULL;
        if (plugin_runtime_start(rt, id, &pid, &err) < 0) {
            metrics_plugin_error("runtime", rt->name, "start");
            /* As kubelet expects: the container is done, with the reason why it never ran. */
            rec->state = CSTATE_EXITED;
            rec->exit_code = 128;
            rec->started_at_ns = started_at;
            rec->finished_at_ns = now_ns();
            struct cleat_error *e2 = NULL;
            if (record_set_string(&rec->reason, "StartError", &e2) < 0 ||
                record_set_string(&rec->message, error_message(err), &e2) < 0 ||
                container_record_save(rs, rec, &e2) < 0) {
                log_warning("container %s: %s", id, error_message(e2));
                error_free(e2);
            }
            *reterr = error_wrap(err, "cannot start container %s", id);
            r = -1;
            runtime_notify(rs, id, rec->sandbox_id, LIFECYCLE_STOPPED);
        } else {
            rec->state = CSTATE_RUNNING;
            rec->started_at_ns = started_at;
            rec->pid = pid;
            r = container_record_save(rs, rec, reterr);
            log_info("container %s started, pid %u", id, pid);
            if (r >= 0)
                runtime_notify(rs, id, rec->sandbox_id, LIFECYCLE_STARTED);
        }
    }
    container_record_free(rec);
    sandbox_record_free(pod);
    keyed_lock_release(l);
    return r;
}

int container_get(struct runtime_service *rs, const char *id_or_prefix, container_record **ret,
                  struct cleat_error **reterr) {
    char id[65];
    int r = resolve(rs, id_or_prefix, id, reterr);
    if (r >= 0)
        r = container_record_load(rs, id, ret, reterr);
    if (r < 0 && error_status(*reterr) == CLEAT_STATUS_NOT_FOUND) {
        error_free(*reterr);
        *reterr = NULL;
        return error_set(reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "container \"%s\" not found", id_or_prefix);
    }
    if (r >= 0)
        container_apply_exit(rs, *ret);
    return r;
}

int container_list(struct runtime_service *rs, const char *id_prefix, const char *pod_prefix, container_record ***ret,
                   size_t *ret_n, struct cleat_error **reterr) {
    return container_list_in(rs, NULL, id_prefix, pod_prefix, ret, ret_n, reterr);
}

int container_list_in(struct runtime_service *rs, struct arena *a, const char *id_prefix, const char *pod_prefix,
                      container_record ***ret, size_t *ret_n, struct cleat_error **reterr) {
    int r = container_records_list(rs, a, id_prefix, pod_prefix, ret, ret_n, reterr);
    for (size_t i = 0; r >= 0 && i < *ret_n; i++)
        if (a)
            container_apply_exit_in(rs, (*ret)[i], a);
        else
            container_apply_exit(rs, (*ret)[i]);
    return r;
}

int live_container(struct runtime_service *rs, const char *id_or_prefix, int want_running, char id[65],
                   container_record **ret, struct plugin_instance **ret_rt, struct cleat_error **reterr) {
    int r = container_get(rs, id_or_prefix, ret, reterr);
    if (r < 0)
        return r;
    snprintf(id, 65, "%s", (*ret)->id);
    uint32_t s = (*ret)->state;
    if (s != CSTATE_RUNNING && (want_running || s != CSTATE_CREATED))
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL, "container %s is %s, not running", id,
                         state_name(s));
    *ret_rt = container_runtime(rs, *ret);
    if (!*ret_rt)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOSYS,
                         "the runtime of container %s is not configured", id);
    return 0;
}

int container_get_running(struct runtime_service *rs, const char *id_or_prefix, container_record **ret,
                          struct cleat_error **reterr) {
    char id[65];
    struct plugin_instance *rt = NULL;
    int r = live_container(rs, id_or_prefix, 1, id, ret, &rt, reterr);
    if (r < 0) {
        container_record_free(*ret);
        *ret = NULL;
    }
    return r;
}

#define LOG_REFUSED "ReopenContainerLog failed: "

/*
 * A reopen the shim refused (a symlink or a device planted at the log path)
 * is kept in the running container's message, for ContainerStatus, until a
 * reopen succeeds: its output goes on to the previous file meanwhile.
 */
static void note_reopen(struct runtime_service *rs, const char *id, const struct cleat_error *failure) {
    struct keyed_lock *l = keyed_lock_acquire(rs->locks, id);
    container_record *rec = NULL;
    struct cleat_error *err = NULL;
    int r = l ? container_record_load(rs, id, &rec, &err) : -1;
    int had = r >= 0 && rec->message && strncmp(rec->message, LOG_REFUSED, strlen(LOG_REFUSED)) == 0;
    if (r >= 0 && rec->state == CSTATE_RUNNING && (failure || had)) {
        char *msg = NULL;
        if (failure && asprintf(&msg, LOG_REFUSED "%s", error_message(failure)) < 0)
            msg = NULL;
        r = record_set_string(&rec->message, failure ? (msg ? msg : LOG_REFUSED) : "", &err);
        free(msg);
        if (r >= 0)
            r = container_record_save(rs, rec, &err);
    }
    if (r < 0 && err)
        log_warning("container %s: %s", id, error_message(err));
    error_free(err);
    container_record_free(rec);
    if (l)
        keyed_lock_release(l);
}

int container_reopen_log(struct runtime_service *rs, const char *id_or_prefix, struct cleat_error **reterr) {
    char id[65];
    container_record *rec = NULL;
    struct plugin_instance *rt = NULL;
    int r = live_container(rs, id_or_prefix, 1, id, &rec, &rt, reterr);
    int asked = r >= 0;
    if (asked)
        r = plugin_runtime_reopen_log(rt, id, reterr);
    if (asked && r < 0)
        log_warning("container %s: cannot reopen its log: %s", id, error_message(*reterr));
    if (asked)
        note_reopen(rs, id, r < 0 ? *reterr : NULL);
    container_record_free(rec);
    return r;
}

int container_update_resources(struct runtime_service *rs, const char *id_or_prefix,
                               const Runtime__V1__LinuxContainerResources *res, struct cleat_error **reterr) {
    if (!res)
        return 0; /* nothing for Linux to change (a Windows-only request) */
    char id[65];
    int r = resolve(rs, id_or_prefix, id, reterr);
    if (r < 0)
        return r;
    struct keyed_lock *l = keyed_lock_acquire(rs->locks, id);
    if (!l)
        return oom(reterr);
    container_record *rec = NULL;
    struct plugin_instance *rt = NULL;
    char *json = NULL;
    r = live_container(rs, id, 0, id, &rec, &rt, reterr);
    /* A runtime without the op answers UNIMPLEMENTED (after the resources are checked). */
    if (r >= 0)
        r = spec_resources_json(res, &json, reterr);
    if (r >= 0)
        r = plugin_runtime_update(rt, id, json, reterr);
    if (r >= 0)
        stats_cache_drop_kept(rs->stats, id); /* the stats calls show the new limits at once */
    /* Remember them, so ContainerStatus reports what is in force. */
    Runtime__V1__ContainerConfig *cfg =
        r >= 0 ? runtime__v1__container_config__unpack(NULL, rec->cri_config.len, rec->cri_config.data) : NULL;
    if (cfg && cfg->linux) {
        Runtime__V1__LinuxContainerResources *old = cfg->linux->resources;
        cfg->linux->resources = (Runtime__V1__LinuxContainerResources *)res;
        size_t len = runtime__v1__container_config__get_packed_size(cfg);
        uint8_t *buf = malloc(len + 1);
        if (buf) {
            runtime__v1__container_config__pack(cfg, buf);
            free(rec->cri_config.data);
            rec->cri_config.data = buf;
            rec->cri_config.len = len;
            r = container_record_save(rs, rec, reterr);
        }
        cfg->linux->resources = old;
    }
    if (cfg)
        runtime__v1__container_config__free_unpacked(cfg, NULL);
    free(json);
    container_record_free(rec);
    keyed_lock_release(l);
    return r;
}

int pod_containers(struct runtime_service *rs, const char *pod_id, container_record ***ret, size_t *ret_n,
                   struct cleat_error **reterr) {
    char **ids = NULL;
    size_t n = 0, k = 0;
    *ret = NULL;
    *ret_n = 0;
    int r = pod_container_ids(rs, pod_id, &ids, &n, reterr);
    if (r < 0)
        return r;
    container_record **recs = calloc(n + 1, sizeof(*recs));
    if (!recs) {
        free_ids(ids, n);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        struct cleat_error *err = NULL;
        if (container_record_load(rs, ids[i], &recs[k], &err) < 0) { /* removed meanwhile */
            error_free(err);
            continue;
        }
        container_apply_exit(rs, recs[k++]);
    }
    free_ids(ids, n);
    *ret = recs;
    *ret_n = k;
    return 0;
}
