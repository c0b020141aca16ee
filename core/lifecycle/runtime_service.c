/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Set-up of the runtime service, and recovery after a restart (also after a
 * kill -9): records are reconciled with what the runtimes report, and
 * half-made objects (files, mounts, snapshots without a record) are undone.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin_calls.h"
#include "clocks.h"
#include "config.h"
#include "fsutil.h"
#include "ids.h"
#include "image_service.h"
#include "log.h"
#include "strlist.h"
#include "pod_ns.h"
#include "registry.h"
#include "runtime_internal.h"
#include "stats.h"

static int64_t own_oom_score_adj(void) {
    char *text = NULL;
    struct cleat_error *err = NULL;
    int64_t v = 0;
    if (read_file("/proc/self/oom_score_adj", 64, &text, NULL, &err) >= 0)
        v = strtoll(text, NULL, 10);
    error_free(err);
    free(text);
    return v;
}

static int has_record(struct runtime_service *rs, enum store_kind kind, const char *id) {
    char full[ID_HEX_LEN + 1];
    struct cleat_error *err = NULL;
    int r = registry_resolve(rs->deps.registry, kind, id, full, &err);
    error_free(err);
    return r >= 0 && strcmp(full, id) == 0;
}

/* A record that says CREATED/RUNNING, checked against its runtime. */
static void recover_container(struct runtime_service *rs, const char *id) {
    container_record *rec = NULL;
    struct cleat_error *err = NULL;
    if (container_record_load(rs, id, &rec, &err) < 0)
        goto out;
    /* The registry keeps a container's pod only in memory: index it again, or the pod would not find it. */
    int p = registry_set_parent(rs->deps.registry, STORE_CONTAINER, id, rec->sandbox_id);
    if (p == -ENOMEM)
        rs->recover_oom = 1;
    else if (p < 0)
        log_warning("container %s: its pod ID \"%.80s\" cannot be indexed (%s)", id, rec->sandbox_id, strerror(-p));
    if (rec->state != CSTATE_CREATED && rec->state != CSTATE_RUNNING)
        goto out;
    struct plugin_instance *rt = container_runtime(rs, rec);
    struct cleat_runtime_state st = {0};
    int r = rt && plugin_has_op(rt, "state") ? plugin_runtime_state(rt, id, NULL, &st, &err) : -1;
    if (r >= 0 && st.status == CLEAT_TASK_STOPPED) {
        exit_record(rs, id, NULL, st.pid, st.exit_status, st.oom_killed != 0,
                    st.exited_at_ns ? st.exited_at_ns : now_ns());
    } else if (r < 0) {
        log_warning("container %s: its runtime does not know it (%s); it is gone", id,
                    err ? error_message(err) : "runtime not configured");
        exit_record(rs, id, NULL, 0, 255, 0, now_ns());
    }
    if (container_apply_exit(rs, rec)) {
        if (r < 0)
            record_set_string(&rec->message, "the container's runtime state was lost", &err);
        error_free(err);
        err = NULL;
        if (container_record_save(rs, rec, &err) >= 0)
            log_info("container %s exited while cleatd was away (status %d)", id, rec->exit_code);
    }
out:
    if (err)
        log_warning("recovering container %s: %s", id, error_message(err));
    error_free(err);
    container_record_free(rec);
}

/* A READY pod whose pinned namespaces are gone (the host rebooted, /run was wiped) is not ready any more. */
static void recover_pod(struct runtime_service *rs, const char *id) {
    sandbox_record *rec = NULL;
    struct cleat_error *err = NULL;
    if (sandbox_record_load(rs, id, &rec, &err) >= 0 && rec->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY &&
        (rec->pinned_namespaces & (POD_NS_NET | POD_NS_IPC))) {
        char *dir = pod_dir(rs, id);
        char ns[4200];
        snprintf(ns, sizeof(ns), "%s/ns", dir ? dir : "");
        free(dir);
        int fd = -1;
        if (pod_ns_open(ns, rec->pinned_namespaces & POD_NS_NET ? "net" : "ipc", &fd, &err) < 0) {
            log_warning("pod %s lost its namespaces (%s): it is not ready", id, error_message(err));
            error_free(err);
            err = NULL;
            rec->state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
            sandbox_record_save(rs, rec, &err);
        } else {
            close(fd);
        }
    }
    if (err)
        log_warning("recovering pod %s: %s", id, error_message(err));
    error_free(err);
    sandbox_record_free(rec);
}

static int each_container(void *ctx, const char *id) {
    recover_container(ctx, id);
    return 0;
}

static int each_pod(void *ctx, const char *id) {
    recover_pod(ctx, id);
    return 0;
}

/* Directories under `parent` named by an ID with no record: half-made (or half-removed) objects. */
static void sweep(struct runtime_service *rs, const char *parent, enum store_kind kind) {
    DIR *dir = opendir(parent);
    if (!dir)
        return;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (!id_is_valid(de->d_name) || has_record(rs, kind, de->d_name))
            continue;
        log_notice("removing the leftovers of %s %s", kind == STORE_SANDBOX ? "pod" : "container", de->d_name);
        /* Which runtime made it is not recorded anywhere yet: ask each (they answer NOT_FOUND for strangers). */
        struct plugins *p = rs->deps.plugins;
        for (size_t i = 0; i < p->n; i++) {
            struct plugin_instance *pi = p->items[i];
            if (pi->concern != CLEAT_CONCERN_RUNTIME)
                continue;
            struct cleat_error *err = NULL;
            if (kind == STORE_CONTAINER && plugin_has_op(pi, "kill"))
                plugin_runtime_kill(pi, de->d_name, NULL, SIGKILL, CLEAT_KILL_ALL, &err);
            error_free(err);
            err = NULL;
            if (kind == STORE_CONTAINER && plugin_has_op(pi, "remove"))
                if (plugin_runtime_remove(pi, de->d_name, NULL, &err) < 0 &&
                    error_status(err) != CLEAT_STATUS_NOT_FOUND)
                    log_warning("%s %s: runtime '%s': %s", kind == STORE_SANDBOX ? "pod" : "container", de->d_name,
                                pi->name, error_message(err));
            error_free(err);
            err = NULL;
            if (kind == STORE_SANDBOX && plugin_has_op(pi, "sandbox_stop"))
                plugin_runtime_sandbox_stop(pi, de->d_name, &err);
            error_free(err);
            err = NULL;
            if (kind == STORE_SANDBOX && plugin_has_op(pi, "sandbox_remove"))
                if (plugin_runtime_sandbox_remove(pi, de->d_name, &err) < 0 &&
                    error_status(err) != CLEAT_STATUS_NOT_FOUND)
                    log_warning("%s %s: runtime '%s': %s", kind == STORE_SANDBOX ? "pod" : "container", de->d_name,
                                pi->name, error_message(err));
            error_free(err);
        }
        /* Then the network (its addresses are not ours to leak), the files, mounts and snapshot, once. */
        struct cleat_error *err = NULL;
        if (kind == STORE_SANDBOX && pod_network_teardown_leftover(rs, de->d_name, &err) < 0)
            log_warning("pod %s: %s", de->d_name, error_message(err));
        error_free(err);
        if (kind == STORE_CONTAINER)
            container_cleanup(rs, de->d_name, NULL, NULL);
        else
            pod_cleanup(rs, de->d_name, NULL);
    }
    closedir(dir);
}

struct snap_sweep {
    struct runtime_service *rs;
    struct strlist keys;
};

static int note_snapshot(void *ctx, const struct cleat_snapshot_info *info) {
    struct snap_sweep *s = ctx;
    /* Container snapshots are keyed by the bare container ID; image layers by "sha256:<chain id>". */
    if (!info->key || !id_is_valid(info->key) || has_record(s->rs, STORE_CONTAINER, info->key))
        return 0;
    return strlist_add(&s->keys, info->key) < 0;
}

static void sweep_snapshots(struct runtime_service *rs) {
    struct plugin_instance *sn = image_service_snapshotter(rs->deps.images);
    if (!sn || !plugin_has_op(sn, "walk") || !plugin_has_op(sn, "remove"))
        return;
    struct snap_sweep s = {.rs = rs};
    struct cleat_error *err = NULL;
    plugin_snapshotter_walk(sn, note_snapshot, &s, &err);
    error_free(err);
    for (size_t i = 0; i < s.keys.n; i++) {
        err = NULL;
        log_notice("removing the snapshot of container %s, which has no record", s.keys.v[i]);
        if (plugin_snapshotter_remove(sn, s.keys.v[i], &err) < 0)
            log_warning("snapshot %s: %s", s.keys.v[i], error_message(err));
        error_free(err);
    }
    strlist_free(&s.keys);
}

/*
 * <parent> and each <parent>/<id> 0700: a pod's dir holds its /dev/shm and
 * pinned namespaces, a container's its rootfs, where a setuid binary or a
 * device node the container made must not be reachable by host users.
 * Dirs an older cleat made 0711 are tightened here, one chmod each: what is
 * below them is not walked.
 */
static int private_dirs(const char *parent, struct cleat_error **reterr) {
    mode_t old = 0;
    int r = fsutil_private_dir(parent, 0700, &old, reterr);
    if (r > 0)
        log_notice("%s was mode %04o: restricted to 0700", parent, (unsigned)old);
    DIR *dir = r >= 0 ? opendir(parent) : NULL;
    if (r < 0 || !dir)
        return r < 0 ? r
                     : error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "cannot read %s: %s", parent, strerror(errno));
    size_t n = 0;
    for (struct dirent *de; (de = readdir(dir));) {
        if (!id_is_valid(de->d_name))
            continue;
        int t = fsutil_tighten_dir_at(dirfd(dir), de->d_name, 0700, &old);
        if (t < 0)
            log_warning("%s/%s: cannot restrict it to mode 0700: %s", parent, de->d_name, strerror(-t));
        n += t > 0;
    }
    closedir(dir);
    if (n)
        log_notice("%s: %zu of its directories restricted to mode 0700 (made by an older cleat)", parent, n);
    return 0;
}

int runtime_service_open(const struct runtime_deps *deps, struct runtime_service **ret, struct cleat_error **reterr) {
    struct runtime_service *rs = calloc(1, sizeof(*rs));
    if (!rs)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    rs->deps = *deps;
    const struct config *cfg = deps->cfg;
    pthread_mutex_init(&rs->cidr_mu, NULL);
    pthread_mutex_init(&rs->exit_mu, NULL);
    cond_init_on_clock(&rs->exit_cond, CLOCK_REALTIME);
    rs->locks = keyed_locks_new();
    rs->stats = stats_cache_new((int64_t)cfg->stats_writable_layer_max_age_seconds * 1000000000);
    rs->systemd_cgroup = cfg->cgroup_driver && strcmp(cfg->cgroup_driver, "systemd") == 0;
    rs->min_oom_score_adj = own_oom_score_adj();
    int r = 0;
    if (!rs->locks || !rs->stats || asprintf(&rs->pods_dir, "%s/pods", cfg->state_dir) < 0 ||
        asprintf(&rs->containers_dir, "%s/containers", cfg->state_dir) < 0 ||
        asprintf(&rs->userns_dir, "%s/userns", cfg->state_dir) < 0 ||
        !(rs->seccomp_profile = strdup(cfg->seccomp_default_profile)) ||
        !(rs->pause_binary = strdup(cfg->pause_binary)))
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    if (r >= 0)
        r = private_dirs(rs->pods_dir, reterr);
    if (r >= 0)
        r = private_dirs(rs->containers_dir, reterr);
    /* Others may only traverse it: each entry is 0710, of its pod's root group (runtime_userns.c). */
    if (r >= 0)
        r = fsutil_private_dir(rs->userns_dir, 0711, NULL, reterr);
    if (r < 0) {
        runtime_service_free(rs);
        return r;
    }
    struct cleat_error *err = NULL;
    if (cgroup_layout_read(&rs->cgroups, &err) < 0) {
        log_warning("cgroups: %s; OOM kills will not be told apart", error_message(err));
        error_free(err);
    }
    deps->plugins->on_exit_ctx = rs;
    deps->plugins->on_exit = runtime_on_exit;
    if (registry_foreach_id(deps->registry, STORE_CONTAINER, each_container, rs) == -ENOMEM || rs->recover_oom) {
        deps->plugins->on_exit = NULL;
        runtime_service_free(rs);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "indexing the containers: out of memory");
    }
    registry_foreach_id(deps->registry, STORE_SANDBOX, each_pod, rs);
    sweep(rs, rs->containers_dir, STORE_CONTAINER);
    sweep(rs, rs->pods_dir, STORE_SANDBOX);
    userns_sweep(rs);
    sweep_snapshots(rs);
    image_volumes_sweep(rs);
    runtime_userns_probe(rs);
    runtime_rro_probe(rs);
    r = pod_cidr_load(rs, reterr);
    if (r < 0) {
        deps->plugins->on_exit = NULL;
        runtime_service_free(rs);
        return r;
    }
    *ret = rs;
    return 0;
}

/* Called after the plugins are gone (their threads report exits here until then). */
void runtime_service_free(struct runtime_service *rs) {
    if (!rs)
        return;
    for (struct exit_entry *e = rs->exits, *next; e; e = next) {
        next = e->next;
        free(e->exec_id);
        free(e);
    }
    pthread_cond_destroy(&rs->exit_cond);
    pthread_mutex_destroy(&rs->exit_mu);
    pthread_mutex_destroy(&rs->cidr_mu);
    free(rs->pod_cidr);
    keyed_locks_free(rs->locks);
    stats_cache_free(rs->stats);
    cgroup_layout_free(rs->cgroups);
    free(rs->pods_dir);
    free(rs->containers_dir);
    free(rs->userns_dir);
    free(rs->userns_reason);
    free(rs->rro_reason);
    free(rs->seccomp_profile);
    free(rs->pause_binary);
    free(rs);
}
