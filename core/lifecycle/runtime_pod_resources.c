/* SPDX-License-Identifier: Apache-2.0 */
/*
 * UpdatePodSandboxResources: kubelet's notice that it resized the pod's
 * cgroup (in-place pod resize).  kubelet's pod cgroups are kubelet's, which
 * has already written them; a pod cgroup cleat made itself (for a client
 * other than kubelet, runtime_pod_cgroup.c) is written here, with the new
 * resources + overhead.  A runtime that sizes a sandbox of its own (a VM)
 * gets the new resources through its sandbox_update op.  The new overhead
 * and resources are validated (as UpdateContainerResources would) and
 * recorded in the pod's stored config, so that PodSandboxStatus and later
 * decisions see what is in force.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "plugin_calls.h"
#include "runtime_internal.h"
#include "stats.h"
#include "spec.h"

static int validate(const Runtime__V1__LinuxContainerResources *res, const char *what, struct cleat_error **reterr) {
    char *json = NULL;
    int r = res ? spec_resources_json(res, &json, reterr) : 0;
    free(json);
    return r < 0 ? error_prefix(r, reterr, "pod %s", what) : 0;
}

int pod_resources_check(const Runtime__V1__PodSandboxConfig *c, struct cleat_error **reterr) {
    int r = c->linux ? validate(c->linux->resources, "linux.resources", reterr) : 0;
    return r >= 0 && c->linux ? validate(c->linux->overhead, "linux.overhead", reterr) : r;
}

/* A pod cgroup cleat made is sized from the record's config (its resources and overhead, as now recorded). */
static int resize_owned(struct runtime_service *rs, const sandbox_record *rec, struct cleat_error **reterr) {
    if (!rec->owns_cgroup)
        return 0;
    Runtime__V1__PodSandboxConfig *cfg =
        runtime__v1__pod_sandbox_config__unpack(NULL, rec->cri_config.len, rec->cri_config.data);
    if (!cfg)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EINVAL, "the stored config of pod %s is corrupt", rec->id);
    int r = pod_cgroup_resize(rs, cfg, reterr);
    runtime__v1__pod_sandbox_config__free_unpacked(cfg, NULL);
    return r < 0 ? error_prefix(r, reterr, "pod %s", rec->id) : 0;
}

/* The record's config with linux.overhead/resources replaced (those given), packed back. */
static int record_resources(sandbox_record *rec, const Runtime__V1__LinuxContainerResources *overhead,
                            const Runtime__V1__LinuxContainerResources *resources, struct cleat_error **reterr) {
    Runtime__V1__PodSandboxConfig *cfg =
        runtime__v1__pod_sandbox_config__unpack(NULL, rec->cri_config.len, rec->cri_config.data);
    if (!cfg)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EINVAL, "the stored config of pod %s is corrupt", rec->id);
    Runtime__V1__LinuxPodSandboxConfig empty = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT, *linux = cfg->linux;
    if (!linux)
        cfg->linux = &empty;
    Runtime__V1__LinuxContainerResources *old_o = cfg->linux->overhead, *old_r = cfg->linux->resources;
    if (overhead)
        cfg->linux->overhead = (Runtime__V1__LinuxContainerResources *)overhead;
    if (resources)
        cfg->linux->resources = (Runtime__V1__LinuxContainerResources *)resources;
    size_t len = runtime__v1__pod_sandbox_config__get_packed_size(cfg);
    uint8_t *buf = malloc(len + 1);
    if (buf)
        runtime__v1__pod_sandbox_config__pack(cfg, buf);
    cfg->linux->overhead = old_o;
    cfg->linux->resources = old_r;
    cfg->linux = linux;
    runtime__v1__pod_sandbox_config__free_unpacked(cfg, NULL);
    if (!buf)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    free(rec->cri_config.data);
    rec->cri_config.data = buf;
    rec->cri_config.len = len;
    return 0;
}

/* Tell a runtime that sizes the pod's sandbox itself (it has sandbox_update); others have nothing to do. */
static int runtime_update(struct runtime_service *rs, const sandbox_record *rec,
                          const Runtime__V1__LinuxContainerResources *resources, struct cleat_error **reterr) {
    struct plugin_instance *rt = runtime_instance(rs, rec->runtime_handler);
    if (!rt || !plugin_has_op(rt, "sandbox_update"))
        return 0;
    char *json = NULL;
    int r = spec_resources_json(resources, &json, reterr);
    if (r >= 0 && (r = plugin_runtime_sandbox_update(rt, rec->id, json, reterr)) < 0)
        metrics_plugin_error("runtime", rt->name, "sandbox_update");
    free(json);
    return r < 0 ? error_prefix(r, reterr, "pod %s: runtime '%s'", rec->id, rt->name) : 0;
}

int pod_update_resources(struct runtime_service *rs, const char *id_or_prefix,
                         const Runtime__V1__LinuxContainerResources *overhead,
                         const Runtime__V1__LinuxContainerResources *resources, struct cleat_error **reterr) {
    char id[65];
    int r = object_resolve(rs, STORE_SANDBOX, id_or_prefix, id, reterr);
    if (r >= 0)
        r = validate(overhead, "overhead", reterr);
    if (r >= 0)
        r = validate(resources, "resources", reterr);
    if (r < 0 || (!overhead && !resources))
        return r;
    struct keyed_lock *l = keyed_lock_acquire(rs->locks, id);
    if (!l)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    sandbox_record *rec = NULL;
    r = sandbox_record_load(rs, id, &rec, reterr);
    if (r >= 0 && rec->state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
        r = error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL, "pod sandbox %s is not ready", id);
    if (r >= 0 && resources)
        r = runtime_update(rs, rec, resources, reterr);
    if (r >= 0)
        r = record_resources(rec, overhead, resources, reterr);
    if (r >= 0)
        r = resize_owned(rs, rec, reterr);
    if (r >= 0)
        r = sandbox_record_save(rs, rec, reterr);
    if (r >= 0)
        stats_cache_drop_kept(rs->stats, id); /* the stats calls show the new limits at once */
    if (r >= 0)
        log_info("pod %s: resources updated (%s)", id,
                 rec->owns_cgroup ? "its cgroup resized" : "recorded; the pod cgroup is kubelet's");
    sandbox_record_free(rec);
    keyed_lock_release(l);
    return r;
}
