/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CreateContainer: the image's snapshot is prepared and mounted at
 * <bundle>/rootfs, the OCI spec is built and written, the runtime creates
 * the container (through cleat-shim for runc), and last the record commits
 * it.  Any failure undoes what was done, in reverse.
 *
 * A runtime that mounts the rootfs itself (CLEAT_RUNTIME_FEATURE_ROOTFS_MOUNTS,
 * a shim v2 or VM runtime) gets the snapshotter's mounts instead: the core
 * mounts them only while it builds the spec (which reads the image's
 * /etc/passwd and /etc/group), writes root.path "rootfs", and hands over an
 * empty <bundle>/rootfs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin_calls.h"
#include "builders.h"
#include "cdi_registry.h"
#include "fsutil.h"
#include "ids.h"
#include "image_service.h"
#include "log.h"
#include "metrics.h"
#include "mount_util.h"
#include "pod_ns.h"
#include "registry.h"
#include "runtime_internal.h"
#include "spec.h"

struct create {
    struct runtime_service *rs;
    const Runtime__V1__ContainerConfig *config;
    Runtime__V1__PodSandboxConfig *pod_config;
    sandbox_record *pod;
    image_record *image;
    struct image_config *image_config;
    struct plugin_instance *rt, *sn;
    struct cleat_mount_list *mounts; /* the snapshot's, from the snapshotter */
    int runtime_mounts;              /* the runtime mounts the rootfs (CLEAT_RUNTIME_FEATURE_ROOTFS_MOUNTS) */
    char id[ID_HEX_LEN + 1];
    char *dir, *name_key, *log_path, *cgroups_path, *spec;
    char pidns[64];
    int snapshot_made, runtime_made;
    /* A pod with its own user namespace (POD_NS_USER): runtime_create_userns.c */
    struct create_userns userns;
    struct image_volumes volumes; /* the CRI mounts that are images (runtime_image_volumes.c) */
    struct cdi_edits *cdi;        /* the CDI devices it asked for, resolved; NULL for none */
};

static const Runtime__V1__NamespaceOption *nsopts_of(const struct create *c) {
    const Runtime__V1__LinuxContainerConfig *l = c->config->linux;
    if (l && l->security_context && l->security_context->namespace_options)
        return l->security_context->namespace_options;
    const Runtime__V1__LinuxPodSandboxConfig *pl = c->pod_config->linux;
    return pl && pl->security_context ? pl->security_context->namespace_options : NULL;
}

static int validate(const Runtime__V1__ContainerConfig *config, struct cleat_error **reterr) {
    if (!config)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "the container config is missing");
    if (!config->metadata || !config->metadata->name || !*config->metadata->name)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "the container metadata must have a name");
    if (strchr(config->metadata->name, '/'))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "a container name cannot contain '/'");
    if (!config->image || !config->image->image || !*config->image->image)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "the container config names no image");
    for (size_t i = 0; i < config->n_mounts; i++) {
        const Runtime__V1__Mount *m = config->mounts[i];
        if (!m->container_path || m->container_path[0] != '/')
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                             "mount %zu: the container path \"%s\" is not absolute", i,
                             m->container_path ? m->container_path : "");
        if (image_volume_is(m))
            continue; /* image_volumes_validate */
        if (!m->host_path || m->host_path[0] != '/')
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                             "mount %s: the host path \"%s\" is not absolute", m->container_path,
                             m->host_path ? m->host_path : "");
    }
    return image_volumes_validate(config, reterr);
}

/* Missing host paths become directories, as docker and containerd do; a read-only one is surely a mistake. */
static int host_paths(const Runtime__V1__ContainerConfig *config, struct cleat_error **reterr) {
    for (size_t i = 0; i < config->n_mounts; i++) {
        const Runtime__V1__Mount *m = config->mounts[i];
        struct stat st;
        if (image_volume_is(m) || stat(m->host_path, &st) == 0)
            continue;
        if (errno != ENOENT)
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, errno, "mount %s: host path %s: %s",
                             m->container_path, m->host_path, strerror(errno));
        if (m->readonly)
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, ENOENT,
                             "mount %s: the host path %s of a read-only mount does not exist", m->container_path,
                             m->host_path);
        int r = mkdir_p(m->host_path, 0755, reterr);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The CRI log file: <pod log_directory>/<container log_path>, its directory created. */
static int log_path(struct create *c, struct cleat_error **reterr) {
    const char *dir = c->pod_config->log_directory, *rel = c->config->log_path;
    if (!dir || !*dir || !rel || !*rel)
        return 0;
    if (dir[0] != '/')
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "the pod's log directory %s is not absolute",
                         dir);
    if (strstr(rel, "..") || rel[0] == '/')
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "the log path %s must be relative to the pod's log directory", rel);
    if (asprintf(&c->log_path, "%s/%s", dir, rel) < 0) {
        c->log_path = NULL;
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    char *parent = strdup(c->log_path);
    if (!parent)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    *strrchr(parent, '/') = '\0';
    int r = mkdir_p(parent, 0755, reterr);
    free(parent);
    return r;
}

/* The PID namespace to join: the pause's for a shared one, the target's for TARGET. */
static int pid_namespace(struct create *c, struct cleat_error **reterr) {
    const Runtime__V1__NamespaceOption *o = nsopts_of(c);
    Runtime__V1__NamespaceMode mode = o ? o->pid : RUNTIME__V1__NAMESPACE_MODE__POD;
    const char *owner = NULL;
    if (mode == RUNTIME__V1__NAMESPACE_MODE__POD && c->pod->shared_pid) {
        owner = c->pod->id;
    } else if (mode == RUNTIME__V1__NAMESPACE_MODE__TARGET) {
        container_record *t = NULL;
        int r = container_get(c->rs, o->target_id, &t, reterr);
        if (r < 0)
            return error_prefix(r, reterr, "the pid namespace target");
        int ok = t->state == CSTATE_RUNNING && strcmp(t->sandbox_id, c->pod->id) == 0;
        container_record_free(t);
        if (!ok)
            return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                             "the pid namespace target %s is not a running container of this pod", o->target_id);
        owner = o->target_id;
    }
    if (!owner)
        return 0;
    struct cleat_runtime_state st = {0};
    int r = plugin_has_op(c->rt, "state")
                ? plugin_runtime_state(c->rt, owner, NULL, &st, reterr)
                : error_set(reterr, CLEAT_STATUS_UNIMPLEMENTED, ENOSYS, "runtime has no state op");
    if (r < 0)
        return error_prefix(r, reterr, "the pod's shared pid namespace");
    if (st.status != CLEAT_TASK_RUNNING || !st.pid)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ESRCH,
                         "the process holding the pod's pid namespace (%s) is not running", owner);
    snprintf(c->pidns, sizeof(c->pidns), "/proc/%u/ns/pid", st.pid);
    return 0;
}

/*
 * The CDI devices the container asks for, resolved before anything is made:
 * an unknown device or a conflict is refused with nothing to undo.  The
 * spec directories are read again now, so a spec written since the last
 * container counts.
 */
static int resolve_cdi(struct create *c, struct cleat_error **reterr) {
    if (!spec_cdi_requested(c->config))
        return 0;
    char **names = NULL;
    size_t n = 0;
    int r = spec_cdi_names(c->config, &names, &n, reterr);
    if (r >= 0 && !c->rs->deps.cdi)
        r = error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                      "the container asks for CDI devices, and this cleatd has no CDI spec directories");
    if (r >= 0)
        r = cdi_registry_resolve(c->rs->deps.cdi, (const char *const *)names, n, &c->cdi, reterr);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return r;
}

/* Prepare the snapshot and mount it at rootfs (for good, or only for build_spec: see hand_over_rootfs). */
static int snapshot(struct create *c, char *rootfs, struct cleat_error **reterr) {
    if (!c->sn)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOSYS, "no snapshotter is configured");
    c->mounts = mount_list_new();
    if (!c->mounts)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    const char *parent = c->image->n_chain_ids ? c->image->chain_ids[c->image->n_chain_ids - 1] : NULL;
    int r = plugin_snapshotter_prepare(c->sn, c->id, parent, NULL, c->mounts, reterr);
    if (r < 0)
        metrics_plugin_error("snapshotter", c->sn->name, "prepare");
    if (r >= 0) {
        c->snapshot_made = 1;
        /* A runtime that mounts the rootfs itself idmaps it itself; the core's mount is only for build_spec. */
        r = c->userns.on && !c->runtime_mounts
                ? mount_all_idmapped(c->mounts->items, c->mounts->n, rootfs, &c->userns.idmap, reterr)
                : mount_all(c->mounts->items, c->mounts->n, rootfs, reterr);
    }
    return r;
}

/* For a runtime that mounts the rootfs itself: the spec is built, so the core's mount goes, leaving the dir empty. */
static int hand_over_rootfs(struct create *c, const char *rootfs, struct cleat_error **reterr) {
    if (!c->runtime_mounts)
        return 0;
    int r = unmount_tree(rootfs, reterr);
    return r < 0 ? error_prefix(r, reterr, "container %s: the runtime mounts its rootfs itself", c->id) : 0;
}

static int build_spec(struct create *c, const char *rootfs, struct cleat_error **reterr) {
    char *pdir = pod_dir(c->rs, c->pod->id);
    if (!pdir)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    char net[4200], ipc[4200], uts[4200], user[4200], hostname[4200], resolv[4200], hosts[4200], shm[4200];
    snprintf(net, sizeof(net), "%s/ns/net", pdir);
    snprintf(user, sizeof(user), "%s/ns/user", pdir);
    snprintf(ipc, sizeof(ipc), "%s/ns/ipc", pdir);
    snprintf(uts, sizeof(uts), "%s/ns/uts", pdir);
    snprintf(hostname, sizeof(hostname), "%s/hostname", pdir);
    snprintf(resolv, sizeof(resolv), "%s/resolv.conf", pdir);
    snprintf(hosts, sizeof(hosts), "%s/hosts", pdir);
    snprintf(shm, sizeof(shm), "%s/shm", pdir);
    free(pdir);
    uint32_t pinned = c->pod->pinned_namespaces;
    /* Each mount's source: an image volume's view, an idmapped copy of a host path, or (NULL) the host path. */
    const char **sources = calloc(c->config->n_mounts + 1, sizeof(*sources));
    if (!sources)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    for (size_t i = 0; i < c->config->n_mounts; i++)
        sources[i] = c->volumes.sources && c->volumes.sources[i] ? c->volumes.sources[i]
                     : c->userns.volumes                         ? c->userns.volumes[i]
                                                                 : NULL;
    struct spec_input in = {
        .container = c->config,
        .sandbox = c->pod_config,
        .image = c->image_config,
        .container_id = c->id,
        .sandbox_id = c->pod->id,
        .rootfs = rootfs,
        .root_path = c->runtime_mounts ? "rootfs" : NULL,
        .netns_path = pinned & POD_NS_NET ? net : NULL,
        .ipcns_path = pinned & POD_NS_IPC ? ipc : NULL,
        .utsns_path = pinned & POD_NS_UTS ? uts : NULL,
        .pidns_path = c->pidns[0] ? c->pidns : NULL,
        .userns_path = pinned & POD_NS_USER ? user : NULL,
        .mount_sources = sources,
        .cgroups_path = c->cgroups_path,
        .hostname_file = hostname,
        .resolv_conf = resolv,
        .hosts_file = hosts,
        .shm_path = pinned & POD_NS_IPC ? shm : "/dev/shm",
        .seccomp_default_profile = c->rs->seccomp_profile,
        .min_oom_score_adj = c->rs->min_oom_score_adj,
        .cdi = c->cdi,
    };
    int r = spec_build(&in, &c->spec, reterr);
    free(sources);
    if (r < 0)
        return r;
    char path[4200];
    snprintf(path, sizeof(path), "%s/config.json", c->dir);
    return write_state_file(path, c->spec, strlen(c->spec), 0600, reterr);
}

static int runtime_create(struct create *c, struct cleat_error **reterr) {
    const char **annotations = kv_flatten((void *const *)c->config->annotations, c->config->n_annotations);
    if (!annotations)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    struct cleat_runtime_container rc = {
        .struct_size = sizeof(rc),
        .id = c->id,
        .sandbox_id = c->pod->id,
        .bundle_dir = c->dir,
        .rootfs = c->runtime_mounts ? c->mounts->items : NULL,
        .n_rootfs = c->runtime_mounts ? c->mounts->n : 0,
        .log_path = c->log_path,
        .flags = (c->config->stdin ? CLEAT_CONTAINER_STDIN : 0) |
                 (c->config->stdin_once ? CLEAT_CONTAINER_STDIN_ONCE : 0) | (c->config->tty ? CLEAT_CONTAINER_TTY : 0),
        .annotations = annotations,
        .io_uid = c->userns.on ? c->userns.idmap.root_uid : CLEAT_RUNTIME_NO_ID,
        .io_gid = c->userns.on ? c->userns.idmap.root_gid : CLEAT_RUNTIME_NO_ID,
    };
    int r = plugin_runtime_create(c->rt, &rc, reterr);
    free(annotations);
    if (r < 0)
        metrics_plugin_error("runtime", c->rt->name, "create");
    if (r >= 0)
        c->runtime_made = 1;
    return r;
}

static const char *stop_signal(const struct create *c) {
    if (c->config->stop_signal != RUNTIME__V1__SIGNAL__RUNTIME_DEFAULT) {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(&runtime__v1__signal__descriptor, (int)c->config->stop_signal);
        if (v)
            return v->name;
    }
    return c->image_config->stop_signal ? c->image_config->stop_signal : "";
}

static int save(struct create *c, struct cleat_error **reterr) {
    const Runtime__V1__ContainerConfig *cfg = c->config;
    container_record rec = CLEAT__STORE__V1__CONTAINER_RECORD__INIT;
    char image_id[80];
    snprintf(image_id, sizeof(image_id), "sha256:%s", c->image->id);
    rec.id = c->id;
    rec.sandbox_id = c->pod->id;
    rec.name = cfg->metadata->name;
    rec.attempt = cfg->metadata->attempt;
    rec.image = cfg->image->image;
    rec.image_ref = c->image->n_repo_digests ? c->image->repo_digests[0] : image_id;
    rec.image_id = image_id;
    rec.created_at_ns = now_ns();
    rec.state = CSTATE_CREATED;
    rec.log_path = c->log_path ? c->log_path : "";
    rec.stop_signal = (char *)stop_signal(c);
    rec.cgroups_path = c->cgroups_path;
    rec.snapshotter = (char *)c->sn->name;
    rec.n_labels = cfg->n_labels;
    rec.labels = (Cleat__Store__V1__ContainerRecord__LabelsEntry **)kv_entries(
        &cleat__store__v1__container_record__labels_entry__descriptor, (void *const *)cfg->labels, cfg->n_labels);
    rec.n_annotations = cfg->n_annotations;
    rec.annotations = (Cleat__Store__V1__ContainerRecord__AnnotationsEntry **)kv_entries(
        &cleat__store__v1__container_record__annotations_entry__descriptor, (void *const *)cfg->annotations,
        cfg->n_annotations);
    rec.cri_config.len = protobuf_c_message_get_packed_size(&cfg->base);
    rec.cri_config.data = malloc(rec.cri_config.len + 1);
    int r;
    if (!rec.labels || !rec.annotations || !rec.cri_config.data) {
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    } else {
        protobuf_c_message_pack(&cfg->base, rec.cri_config.data);
        r = record_add(c->rs, STORE_CONTAINER, &rec.base, c->id, c->name_key, c->pod->id, reterr);
    }
    free(rec.labels);
    free(rec.annotations);
    free(rec.cri_config.data);
    return r;
}

/* Everything up to the record, with the pod's lock held. */
static int create_locked(struct create *c, struct cleat_error **reterr) {
    struct runtime_service *rs = c->rs;
    const Runtime__V1__ContainerMetadata *m = c->config->metadata;
    if (c->pod->state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL, "pod sandbox %s is not ready", c->pod->id);
    c->pod_config = runtime__v1__pod_sandbox_config__unpack(NULL, c->pod->cri_config.len, c->pod->cri_config.data);
    if (!c->pod_config)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EINVAL, "the stored config of pod %s is corrupt", c->pod->id);
    c->name_key = id_container_name_key(m->name, m->attempt, c->pod->name, c->pod->namespace_, c->pod->uid);
    if (!c->name_key)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    char holder[ID_HEX_LEN + 1];
    if (registry_find_name(rs->deps.registry, STORE_CONTAINER, c->name_key, holder) == 0)
        return error_set(reterr, CLEAT_STATUS_ALREADY_EXISTS, EEXIST,
                         "container \"%s\" (attempt %u) already exists in pod %s as %s", m->name, m->attempt,
                         c->pod->id, holder);
    struct cleat_error *err = NULL;
    if (image_store_lookup(image_service_store(rs->deps.images), c->config->image->image, &c->image, &err) < 0) {
        if (error_status(err) != CLEAT_STATUS_NOT_FOUND) {
            *reterr = err;
            return -1;
        }
        error_free(err);
        return error_set(reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "image \"%s\" not found: pull it first",
                         c->config->image->image);
    }
    int r = image_service_config(rs->deps.images, c->image, &c->image_config, reterr);
    if (r >= 0)
        r = image_volumes_find(rs, c->config, &c->volumes, reterr);
    if (r < 0)
        return r;
    c->rt = runtime_instance(rs, c->pod->runtime_handler);
    if (!c->rt)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOSYS,
                         "the runtime handler \"%s\" is not configured", c->pod->runtime_handler);
    r = create_check_rro(rs, c->rt, c->config, reterr);
    if (r >= 0)
        r = resolve_cdi(c, reterr);
    if (r < 0)
        return r;
    c->runtime_mounts = (plugin_runtime_features(c->rt) & CLEAT_RUNTIME_FEATURE_ROOTFS_MOUNTS) != 0;
    c->userns.on = (c->pod->pinned_namespaces & POD_NS_USER) != 0;
    c->sn = c->image->snapshotter && *c->image->snapshotter
                ? plugins_find(rs->deps.plugins, CLEAT_CONCERN_SNAPSHOTTER, c->image->snapshotter)
                : image_service_snapshotter(rs->deps.images);
    if (!c->sn)
        c->sn = image_service_snapshotter(rs->deps.images);
    const char *parent =
        c->pod_config->linux && c->pod_config->linux->cgroup_parent ? c->pod_config->linux->cgroup_parent : "";
    r = id_generate(c->id, reterr);
    if (r >= 0)
        r = runtime_cgroups_path(rs, parent, c->id, &c->cgroups_path, reterr);
    if (r >= 0)
        r = host_paths(c->config, reterr);
    if (r >= 0)
        r = log_path(c, reterr);
    if (r >= 0)
        r = pid_namespace(c, reterr);
    if (r < 0)
        return r;
    /* From here on there is something to undo. */
    c->dir = container_dir(rs, c->id);
    if (!c->dir)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    char rootfs[4200];
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", c->dir);
    /* 0700: runc reaches the rootfs as root; no host user may reach a setuid binary or device node in it. */
    r = mkdir_p(c->dir, 0700, reterr);
    if (r >= 0 && mkdir(rootfs, 0755) < 0)
        r = error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "cannot create %s: %s", rootfs, strerror(errno));
    /* The pod's root reaches its rootfs from inside its user namespace: under <state>/userns/<id>, idmapped. */
    if (r >= 0 && c->userns.on)
        r = create_userns_prepare(c->rs, c->id, c->pod, c->pod_config, &c->userns, reterr);
    if (r >= 0 && c->userns.on && !c->runtime_mounts)
        snprintf(rootfs, sizeof(rootfs), "%s", c->userns.rootfs);
    if (r >= 0)
        r = snapshot(c, rootfs, reterr);
    if (r >= 0)
        r = image_volumes_mount(rs, c->id, c->dir, c->config, &c->volumes, c->userns.on ? &c->userns.idmap : NULL,
                                reterr);
    if (r >= 0 && c->userns.on)
        r = create_userns_volumes(c->config, &c->userns, reterr);
    if (r >= 0)
        r = build_spec(c, rootfs, reterr);
    if (r >= 0)
        r = hand_over_rootfs(c, rootfs, reterr);
    if (r >= 0)
        r = runtime_create(c, reterr);
    if (r >= 0)
        r = save(c, reterr);
    return r;
}

int container_create(struct runtime_service *rs, const char *pod_id_or_prefix,
                     const Runtime__V1__ContainerConfig *config, char ret_id[65], struct cleat_error **reterr) {
    int r = validate(config, reterr);
    if (r < 0)
        return r;
    struct create c = {.rs = rs, .config = config, .userns = CREATE_USERNS_INIT};
    r = pod_get(rs, pod_id_or_prefix, &c.pod, reterr);
    if (r < 0)
        return r;
    struct keyed_lock *l = keyed_lock_acquire(rs->locks, c.pod->id);
    if (!l) {
        sandbox_record_free(c.pod);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    /* Reload under the lock: a StopPodSandbox may have finished while we waited. */
    char pod_id[65];
    snprintf(pod_id, sizeof(pod_id), "%s", c.pod->id);
    sandbox_record_free(c.pod);
    c.pod = NULL;
    r = sandbox_record_load(rs, pod_id, &c.pod, reterr);
    if (r >= 0)
        r = create_locked(&c, reterr);
    if (r < 0 && c.dir)
        container_cleanup(rs, c.id, c.runtime_made ? c.rt : NULL, c.snapshot_made ? c.sn->name : NULL);
    else if (r >= 0) {
        memcpy(ret_id, c.id, sizeof(c.id));
        log_info("container %s (%s) created in pod %s", c.id, config->metadata->name, pod_id);
        runtime_notify(rs, c.id, pod_id, LIFECYCLE_CREATED);
    }
    keyed_lock_release(l);
    if (c.pod_config)
        runtime__v1__pod_sandbox_config__free_unpacked(c.pod_config, NULL);
    sandbox_record_free(c.pod);
    image_record_free(c.image);
    image_config_free(c.image_config);
    mount_list_free(c.mounts);
    create_userns_done(&c.userns);
    image_volumes_done(&c.volumes);
    cdi_edits_free(c.cdi);
    free(c.dir);
    free(c.name_key);
    free(c.log_path);
    free(c.cgroups_path);
    free(c.spec);
    return r;
}
