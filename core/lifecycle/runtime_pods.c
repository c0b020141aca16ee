/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pod sandboxes without a pause image: the pod's network, IPC and UTS
 * namespaces are pinned by bind mounts (pod_ns.h), so nothing runs for an
 * idle pod.  Only a pod that shares one PID namespace gets a process, the
 * tiny cleat-pause, as that namespace's init; and every pod does with a
 * runtime that runs a sandbox task per pod (CLEAT_RUNTIME_FEATURE_SANDBOX_TASK:
 * a shim v2 runtime, or a VM).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin_calls.h"
#include "fsutil.h"
#include "ids.h"
#include "log.h"
#include "mount_util.h"
#include "pod_ns.h"
#include "registry.h"
#include "runtime_internal.h"
#include "spec.h"
#include "stats.h"

static const Runtime__V1__NamespaceOption *pod_nsopts(const Runtime__V1__PodSandboxConfig *c) {
    return c->linux && c->linux->security_context ? c->linux->security_context->namespace_options : NULL;
}

static int validate(const Runtime__V1__PodSandboxConfig *c, struct cleat_error **reterr) {
    if (!c)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "the pod sandbox config is missing");
    const Runtime__V1__PodSandboxMetadata *m = c->metadata;
    if (!m || !m->name || !*m->name || !m->namespace_ || !*m->namespace_ || !m->uid || !*m->uid)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "the pod sandbox metadata must have a name, a namespace and a uid");
    if (strchr(m->name, '/') || strchr(m->namespace_, '/'))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "pod name and namespace cannot contain '/'");
    const Runtime__V1__NamespaceOption *o = pod_nsopts(c);
    if (o && (o->pid == RUNTIME__V1__NAMESPACE_MODE__TARGET || o->network == RUNTIME__V1__NAMESPACE_MODE__TARGET ||
              o->ipc == RUNTIME__V1__NAMESPACE_MODE__TARGET))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "namespace mode TARGET is for containers, not pod sandboxes");
    return 0;
}

void pod_cleanup(struct runtime_service *rs, const char *id, struct plugin_instance *rt) {
    struct cleat_error *err = NULL;
    if (rt && plugin_has_op(rt, "sandbox_remove") && plugin_runtime_sandbox_remove(rt, id, &err) < 0 &&
        error_status(err) != CLEAT_STATUS_NOT_FOUND)
        log_warning("pod %s: runtime: %s", id, error_message(err));
    error_free(err);
    err = NULL;
    exit_forget(rs, id, NULL); /* the pause's */
    userns_dir_remove(rs, id); /* the pause's rootfs, for a pod with its own user namespace */
    char *dir = pod_dir(rs, id);
    if (!dir)
        return;
    char sub[4096];
    snprintf(sub, sizeof(sub), "%s/ns", dir);
    if (pod_ns_remove(sub, &err) < 0) {
        log_warning("pod %s: %s", id, error_message(err));
        error_free(err);
        err = NULL;
    }
    /* The pod dir is not a mount point itself, so its shm mount is detached by name. */
    snprintf(sub, sizeof(sub), "%s/shm", dir);
    if (unmount_tree(sub, &err) < 0 || rm_tree(dir, &err) < 0) {
        log_warning("pod %s: %s", id, error_message(err));
        error_free(err);
    }
    free(dir);
}

/* Tear down what a running pod holds besides its containers: pause, shm, namespaces.  Idempotent. */
static int pod_release(struct runtime_service *rs, const sandbox_record *rec, struct plugin_instance *rt,
                       struct cleat_error **reterr) {
    if (rt && plugin_has_op(rt, "sandbox_stop")) {
        struct cleat_error *err = NULL;
        if (plugin_runtime_sandbox_stop(rt, rec->id, &err) < 0 && error_status(err) != CLEAT_STATUS_NOT_FOUND) {
            *reterr = error_wrap(err, "cannot stop pod %s", rec->id);
            return -1;
        }
        error_free(err);
    }
    if (rec->pinned_namespaces & POD_NS_NET) {
        Runtime__V1__PodSandboxConfig *cfg =
            runtime__v1__pod_sandbox_config__unpack(NULL, rec->cri_config.len, rec->cri_config.data);
        int r =
            cfg ? pod_network_teardown(rs, rec->id, cfg, reterr)
                : error_set(reterr, CLEAT_STATUS_INTERNAL, EINVAL, "the stored config of pod %s is corrupt", rec->id);
        if (cfg)
            runtime__v1__pod_sandbox_config__free_unpacked(cfg, NULL);
        if (r < 0)
            return r;
    }
    char *dir = pod_dir(rs, rec->id);
    if (!dir)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    char sub[4096];
    snprintf(sub, sizeof(sub), "%s/shm", dir);
    if (umount2(sub, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        log_warning("pod %s: cannot unmount %s: %s", rec->id, sub, strerror(errno));
    snprintf(sub, sizeof(sub), "%s/ns", dir);
    free(dir);
    return pod_ns_remove(sub, reterr);
}

static int hostname_of(const Runtime__V1__PodSandboxConfig *c, char *buf, size_t size) {
    if (c->hostname && *c->hostname) {
        snprintf(buf, size, "%s", c->hostname);
        return 0;
    }
    return gethostname(buf, size);
}

struct pod_build {
    const Runtime__V1__PodSandboxConfig *config;
    const char *id, *dir, *hostname;
    uint32_t pinned;             /* POD_NS_*, with POD_NS_USER for a pod with its own user namespace */
    uint32_t root_uid, root_gid; /* with POD_NS_USER: the host ids of the pod's root */
    int host_net, host_ipc, host_pid, shared_pid;
    int owns_cgroup; /* pod_cgroup_claim made the pod's cgroup */
    char **ips;      /* from the network plugin, primary first */
    size_t n_ips;
};

/* A runtime that runs a sandbox task gets one for every pod, else only a pod sharing one PID namespace does. */
static int has_sandbox_task(const struct plugin_instance *rt, int shared_pid) {
    return shared_pid || (plugin_runtime_features(rt) & CLEAT_RUNTIME_FEATURE_SANDBOX_TASK);
}

/* The pod's resources and overhead as OCI linux.resources JSON (NULL where the pod has none). */
static int pod_resources_json(const Runtime__V1__PodSandboxConfig *c, char **ret_resources, char **ret_overhead,
                              struct cleat_error **reterr) {
    const Runtime__V1__LinuxPodSandboxConfig *l = c->linux;
    int r = l && l->resources ? spec_resources_json(l->resources, ret_resources, reterr) : 0;
    if (r >= 0 && l && l->overhead)
        r = spec_resources_json(l->overhead, ret_overhead, reterr);
    return r < 0 ? error_prefix(r, reterr, "the pod's resources") : 0;
}

static int pod_create_runtime(struct runtime_service *rs, struct plugin_instance *rt, const struct pod_build *b,
                              struct cleat_error **reterr) {
    if (!plugin_has_op(rt, "sandbox_create"))
        return 0;
    char *spec = NULL, *resources = NULL, *overhead = NULL;
    int r = pod_resources_json(b->config, &resources, &overhead, reterr);
    if (r >= 0 && has_sandbox_task(rt, b->shared_pid))
        r = pod_pause_spec(rs, b->id, b->dir, b->config, b->pinned, b->root_gid, &spec, reterr);
    if (r < 0) {
        free(resources);
        free(overhead);
        return r;
    }
    char net[4096], ipc[4096], uts[4096]; /* the user namespace is in spec_json, for the pause alone */
    snprintf(net, sizeof(net), "%s/ns/net", b->dir);
    snprintf(ipc, sizeof(ipc), "%s/ns/ipc", b->dir);
    snprintf(uts, sizeof(uts), "%s/ns/uts", b->dir);
    const char **annotations = kv_flatten((void *const *)b->config->annotations, b->config->n_annotations);
    const Runtime__V1__PodSandboxMetadata *m = b->config->metadata;
    struct cleat_runtime_sandbox sb = {
        .struct_size = sizeof(sb),
        .id = b->id,
        .name = m->name,
        .kube_namespace = m->namespace_,
        .uid = m->uid,
        .attempt = m->attempt,
        .flags = (b->host_net ? CLEAT_SANDBOX_HOST_NETWORK : 0) | (b->host_ipc ? CLEAT_SANDBOX_HOST_IPC : 0) |
                 (b->host_pid ? CLEAT_SANDBOX_HOST_PID : 0) | (b->shared_pid ? CLEAT_SANDBOX_SHARED_PID : 0),
        .state_dir = b->dir,
        .netns_path = b->pinned & POD_NS_NET ? net : NULL,
        .ipcns_path = b->pinned & POD_NS_IPC ? ipc : NULL,
        .utsns_path = b->pinned & POD_NS_UTS ? uts : NULL,
        .cgroup_parent = b->config->linux ? b->config->linux->cgroup_parent : NULL,
        .spec_json = spec,
        .annotations = annotations,
        .resources_json = resources,
        .overhead_json = overhead,
    };
    r = annotations ? plugin_runtime_sandbox_create(rt, &sb, reterr)
                    : error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    free(annotations);
    free(spec);
    free(resources);
    free(overhead);
    return r;
}

/* Pin the pod's namespaces: inside a new user namespace of its own when it asked for one. */
static int pod_namespaces(const struct pod_build *b, const char *nsdir, struct cleat_error **reterr) {
    uint32_t which = b->pinned & POD_NS_ALL;
    const char *hostname = b->pinned & POD_NS_UTS ? b->hostname : NULL;
    if (!(b->pinned & POD_NS_USER))
        return which ? pod_ns_create(nsdir, which, hostname, reterr) : 0;
    struct userns_maps maps = {0};
    int r = spec_userns_maps(spec_pod_userns(b->config), &maps, reterr);
    if (r >= 0)
        r = pod_ns_create_userns(nsdir, which, hostname, &maps, reterr);
    spec_userns_maps_free(&maps);
    return r;
}

/* A pod with its own user namespace: the handler must run such pods, and its root's host ids are needed. */
static int pod_userns(struct runtime_service *rs, struct plugin_instance *rt, struct pod_build *b,
                      struct cleat_error **reterr) {
    if (!spec_pod_userns(b->config))
        return 0;
    int r = runtime_userns_supported(rs, rt, reterr);
    if (r < 0)
        return r;
    if (runtime_userns_root(b->config, &b->root_uid, &b->root_gid) < 0) /* spec_check_pod has checked the maps */
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "linux.security_context.namespace_options.userns_options: container id 0 is not mapped");
    b->pinned |= POD_NS_USER;
    return 0;
}

static int pod_save_new(struct runtime_service *rs, const struct pod_build *b, const char *handler,
                        const char *name_key, struct cleat_error **reterr) {
    const Runtime__V1__PodSandboxConfig *c = b->config;
    sandbox_record rec = CLEAT__STORE__V1__SANDBOX_RECORD__INIT;
    rec.id = (char *)b->id;
    rec.name = c->metadata->name;
    rec.namespace_ = c->metadata->namespace_;
    rec.uid = c->metadata->uid;
    rec.attempt = c->metadata->attempt;
    rec.created_at_ns = now_ns();
    rec.runtime_handler = (char *)handler;
    rec.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
    rec.pinned_namespaces = b->pinned;
    rec.shared_pid = b->shared_pid;
    rec.owns_cgroup = b->owns_cgroup;
    rec.ips = b->ips;
    rec.n_ips = b->n_ips;
    rec.n_labels = c->n_labels;
    rec.labels = (Cleat__Store__V1__SandboxRecord__LabelsEntry **)kv_entries(
        &cleat__store__v1__sandbox_record__labels_entry__descriptor, (void *const *)c->labels, c->n_labels);
    rec.n_annotations = c->n_annotations;
    rec.annotations = (Cleat__Store__V1__SandboxRecord__AnnotationsEntry **)kv_entries(
        &cleat__store__v1__sandbox_record__annotations_entry__descriptor, (void *const *)c->annotations,
        c->n_annotations);
    rec.cri_config.len = protobuf_c_message_get_packed_size(&c->base);
    rec.cri_config.data = malloc(rec.cri_config.len + 1);
    int r;
    if (!rec.labels || !rec.annotations || !rec.cri_config.data) {
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    } else {
        protobuf_c_message_pack(&c->base, rec.cri_config.data);
        r = record_add(rs, STORE_SANDBOX, &rec.base, b->id, name_key, NULL, reterr);
    }
    free(rec.labels);
    free(rec.annotations);
    free(rec.cri_config.data);
    return r;
}

int pod_run(struct runtime_service *rs, const Runtime__V1__PodSandboxConfig *config, const char *handler,
            char ret_id[65], struct cleat_error **reterr) {
    int r = validate(config, reterr);
    if (r < 0)
        return r;
    if (!handler || !*handler)
        handler = rs->deps.cfg->default_runtime_handler ? rs->deps.cfg->default_runtime_handler : "";
    struct plugin_instance *rt = runtime_instance(rs, handler);
    if (!rt)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "no runtime handler \"%s\" is configured",
                         handler);
    const Runtime__V1__PodSandboxMetadata *m = config->metadata;
    char *name_key = id_sandbox_name_key(m->name, m->namespace_, m->uid, m->attempt);
    char id[ID_HEX_LEN + 1], holder[ID_HEX_LEN + 1];
    if (!name_key)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    if (registry_find_name(rs->deps.registry, STORE_SANDBOX, name_key, holder) == 0) {
        free(name_key);
        return error_set(reterr, CLEAT_STATUS_ALREADY_EXISTS, EEXIST,
                         "pod sandbox \"%s\" (namespace \"%s\", uid \"%s\", attempt %u) already exists as %s", m->name,
                         m->namespace_, m->uid, m->attempt, holder);
    }
    r = id_generate(id, reterr);
    char *dir = r >= 0 ? pod_dir(rs, id) : NULL;
    if (r >= 0 && !dir)
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    if (r < 0) {
        free(name_key);
        return r;
    }
    const Runtime__V1__NamespaceOption *o = pod_nsopts(config);
    char hostname[256];
    struct pod_build b = {
        .config = config,
        .id = id,
        .dir = dir,
        .hostname = hostname,
        .host_net = o && o->network == RUNTIME__V1__NAMESPACE_MODE__NODE,
        .host_ipc = o && o->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE,
        .host_pid = o && o->pid == RUNTIME__V1__NAMESPACE_MODE__NODE,
        .shared_pid = !o || o->pid == RUNTIME__V1__NAMESPACE_MODE__POD,
    };
    b.pinned = (b.host_net ? 0 : POD_NS_NET | POD_NS_UTS) | (b.host_ipc ? 0 : POD_NS_IPC);
    r = pod_userns(rs, rt, &b, reterr);
    if (r < 0) { /* nothing made yet */
        free(name_key);
        free(dir);
        return r;
    }
    char nsdir[4096];
    snprintf(nsdir, sizeof(nsdir), "%s/ns", dir);
    if (hostname_of(config, hostname, sizeof(hostname)) < 0)
        r = error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "cannot read the host name: %s", strerror(errno));
    if (r >= 0)
        r = pod_resources_check(config, reterr);
    if (r >= 0)
        r = pod_cgroup_claim(rs, config, &b.owns_cgroup, reterr);
    if (r >= 0)
        r = mkdir_p(nsdir, 0700, reterr); /* the pod's dir too: its shm and pinned namespaces are for runc only */
    if (r >= 0)
        r = pod_namespaces(&b, nsdir, reterr);
    struct pod_files_owner owner = {.set = (b.pinned & POD_NS_USER) != 0, .uid = b.root_uid, .gid = b.root_gid};
    if (r >= 0)
        r = pod_files_create(dir, config, hostname, b.host_net, b.host_ipc, &owner, reterr);
    int runtime_made = 0, network_made = 0;
    if (r >= 0 && (b.pinned & POD_NS_NET))
        r = pod_network_setup(rs, id, config, &b.ips, &b.n_ips, reterr);
    if (r >= 0)
        network_made = 1;
    if (r >= 0)
        r = pod_create_runtime(rs, rt, &b, reterr);
    if (r >= 0)
        runtime_made = 1;
    if (r >= 0)
        r = pod_save_new(rs, &b, handler, name_key, reterr);
    if (r < 0) {
        struct cleat_error *err = NULL;
        if (network_made && (b.pinned & POD_NS_NET) && pod_network_teardown(rs, id, config, &err) < 0)
            log_warning("pod %s: %s", id, error_message(err));
        error_free(err);
        pod_cleanup(rs, id, runtime_made ? rt : NULL);
        if (b.owns_cgroup)
            pod_cgroup_release(rs, config);
    } else {
        memcpy(ret_id, id, sizeof(id));
        log_info("pod %s (%s/%s) is ready", id, m->namespace_, m->name);
        /* kubelet's evented PLEG tracks the sandbox as a container named by the pod's id, as containerd sends it. */
        runtime_notify(rs, id, id, LIFECYCLE_CREATED);
        runtime_notify(rs, id, id, LIFECYCLE_STARTED);
    }
    for (size_t i = 0; i < b.n_ips; i++)
        free(b.ips[i]);
    free(b.ips);
    free(name_key);
    free(dir);
    return r;
}

static int resolve(struct runtime_service *rs, const char *id_or_prefix, char id[65], struct cleat_error **reterr) {
    return object_resolve(rs, STORE_SANDBOX, id_or_prefix, id, reterr);
}

/* Stop with the pod's lock held. */
static int pod_stop_locked(struct runtime_service *rs, const char *id, struct cleat_error **reterr) {
    sandbox_record *rec = NULL;
    int r = sandbox_record_load(rs, id, &rec, reterr);
    if (r < 0)
        return r;
    char **ids = NULL;
    size_t n = 0;
    r = pod_container_ids(rs, id, &ids, &n, reterr);
    for (size_t i = 0; r >= 0 && i < n; i++)
        r = container_stop_id(rs, ids[i], 0, reterr);
    free_ids(ids, n);
    if (r >= 0)
        r = pod_release(rs, rec, runtime_instance(rs, rec->runtime_handler), reterr);
    if (r >= 0 && rec->state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY) {
        rec->state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
        r = sandbox_record_save(rs, rec, reterr);
        if (r >= 0) {
            log_info("pod %s stopped", id);
            runtime_notify(rs, id, id, LIFECYCLE_STOPPED);
        }
    }
    sandbox_record_free(rec);
    return r;
}

int pod_stop(struct runtime_service *rs, const char *id_or_prefix, struct cleat_error **reterr) {
    char id[65];
    /* The CRI: no error once everything is reclaimed, and a removed pod has nothing left. */
    int found = object_resolve_present(rs, STORE_SANDBOX, id_or_prefix, id, reterr);
    if (found <= 0)
        return found;
    struct keyed_lock *l = keyed_lock_acquire(rs->locks, id);
    if (!l)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    int r = pod_stop_locked(rs, id, reterr);
    keyed_lock_release(l);
    return r;
}

/* The pod's own cgroup, when it made it (its containers are gone by now). */
static void release_cgroup(struct runtime_service *rs, const sandbox_record *rec) {
    if (!rec->owns_cgroup)
        return;
    Runtime__V1__PodSandboxConfig *cfg =
        runtime__v1__pod_sandbox_config__unpack(NULL, rec->cri_config.len, rec->cri_config.data);
    if (cfg)
        pod_cgroup_release(rs, cfg);
    else
        log_warning("pod %s: the stored config is corrupt: its cgroup stays", rec->id);
    if (cfg)
        runtime__v1__pod_sandbox_config__free_unpacked(cfg, NULL);
}

int pod_remove(struct runtime_service *rs, const char *id_or_prefix, struct cleat_error **reterr) {
    char id[65];
    int found = object_resolve_present(rs, STORE_SANDBOX, id_or_prefix, id, reterr); /* idempotent, as the CRI asks */
    if (found <= 0)
        return found;
    struct cleat_error *err = NULL;
    struct keyed_lock *l = keyed_lock_acquire(rs->locks, id);
    if (!l)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    sandbox_record *rec = NULL;
    int r = sandbox_record_load(rs, id, &rec, &err);
    if (r < 0 && error_status(err) == CLEAT_STATUS_NOT_FOUND) { /* removed while we waited for the lock */
        error_free(err);
        keyed_lock_release(l);
        return 0;
    }
    if (r < 0)
        *reterr = err;
    if (r >= 0)
        r = pod_stop_locked(rs, id, reterr);
    char **ids = NULL;
    size_t n = 0;
    if (r >= 0)
        r = pod_container_ids(rs, id, &ids, &n, reterr);
    for (size_t i = 0; r >= 0 && i < n; i++)
        r = container_remove_id(rs, ids[i], reterr);
    free_ids(ids, n);
    if (r >= 0) {
        pod_cleanup(rs, id, runtime_instance(rs, rec->runtime_handler));
        release_cgroup(rs, rec);
        r = registry_remove(rs->deps.registry, STORE_SANDBOX, id, reterr);
    }
    if (r >= 0) {
        stats_cache_forget(rs->stats, id);
        log_info("pod %s removed", id);
        runtime_notify(rs, id, id, LIFECYCLE_DELETED);
    }
    sandbox_record_free(rec);
    keyed_lock_release(l);
    return r;
}

int pod_get(struct runtime_service *rs, const char *id_or_prefix, sandbox_record **ret, struct cleat_error **reterr) {
    char id[65];
    int r = resolve(rs, id_or_prefix, id, reterr);
    if (r < 0)
        return r;
    r = sandbox_record_load(rs, id, ret, reterr);
    if (r < 0 && error_status(*reterr) == CLEAT_STATUS_NOT_FOUND) {
        error_free(*reterr);
        *reterr = NULL;
        return error_set(reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "pod sandbox \"%s\" not found", id_or_prefix);
    }
    return r;
}

int pod_list(struct runtime_service *rs, const char *id_prefix, sandbox_record ***ret, size_t *ret_n,
             struct cleat_error **reterr) {
    return pod_list_in(rs, NULL, id_prefix, ret, ret_n, reterr);
}

int pod_list_in(struct runtime_service *rs, struct arena *a, const char *id_prefix, sandbox_record ***ret,
                size_t *ret_n, struct cleat_error **reterr) {
    return sandbox_records_list(rs, a, id_prefix, ret, ret_n, reterr);
}

int pod_port_forward_check(struct runtime_service *rs, const sandbox_record *rec, struct cleat_error **reterr) {
    struct plugin_instance *rt = runtime_instance(rs, rec->runtime_handler);
    const char *handler = rec->runtime_handler && rec->runtime_handler[0] ? rec->runtime_handler : "(default)";
    if (!rt)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOENT,
                         "pod sandbox %s: runtime handler %s is not configured", rec->id, handler);
    if (plugin_runtime_features(rt) & CLEAT_RUNTIME_FEATURE_GUEST_NETWORK)
        return error_set(reterr, CLEAT_STATUS_UNIMPLEMENTED, ENOSYS,
                         "pod sandbox %s: runtime handler %s keeps the pod's network in a guest, which port "
                         "forwarding cannot reach",
                         rec->id, handler);
    return 0;
}

uint32_t pod_pause_pid(struct runtime_service *rs, const sandbox_record *rec) {
    struct plugin_instance *rt = runtime_instance(rs, rec->runtime_handler);
    struct cleat_runtime_state st = {0};
    struct cleat_error *err = NULL;
    if (rt && has_sandbox_task(rt, rec->shared_pid) && plugin_has_op(rt, "state") &&
        plugin_runtime_state(rt, rec->id, NULL, &st, &err) >= 0 && st.status == CLEAT_TASK_RUNNING) {
        return st.pid;
    }
    error_free(err);
    return 0;
}
