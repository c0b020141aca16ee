/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pod's own cgroup (its CRI cgroup parent) and the pod-level resources.
 *
 * kubelet makes and sizes its pods' cgroups itself, before RunPodSandbox
 * and before each UpdatePodSandboxResources, and by its own rules: the CRI
 * `resources` it sends are the sum of the limits its containers declare,
 * while the pod cgroup it writes has no limit unless every container
 * declares one.  So a pod cgroup that exists at RunPodSandbox is left as it
 * is.  One that does not (a client other than kubelet: crictl, a test) is
 * made by cleat when the pod asks for resources: cleat owns it (the record
 * says so), writes resources + overhead into it at RunPodSandbox and at
 * each UpdatePodSandboxResources, and removes it with the pod.  With the
 * systemd driver the pod's slice is systemd's, never made here.
 *
 * The sum, per resource, as kubelet sizes a pod cgroup: CPU shares add up;
 * quotas add up (the overhead's scaled to the pod's period) and a pod
 * without a CPU limit has none, whatever its overhead; the same for memory;
 * hugepage limits add up per page size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup_limits.h"
#include "log.h"
#include "runtime_internal.h"

#define DEFAULT_CPU_PERIOD_US 100000

int pod_cgroup_path(struct runtime_service *rs, const char *parent, char **ret, struct cleat_error **reterr) {
    char *cgpath = NULL, *dir = NULL;
    int r = runtime_cgroups_path(rs, parent, "x", &cgpath, reterr);
    if (r >= 0)
        r = cgroup_dir_of(cgpath, &dir, reterr);
    free(cgpath);
    if (r < 0)
        return r;
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    *ret = dir;
    return 0;
}

static const char *parent_of(const Runtime__V1__PodSandboxConfig *c) {
    return c->linux && c->linux->cgroup_parent ? c->linux->cgroup_parent : "";
}

/* q microseconds per `from` µs, per `to` µs instead. */
static int64_t rescale(int64_t q, int64_t from, int64_t to) {
    return from > 0 && from != to ? q * to / from : q;
}

static int64_t period_of(const Runtime__V1__LinuxContainerResources *r) {
    return r && r->cpu_period > 0 ? r->cpu_period : 0;
}

/* What a pod cgroup is not sized with here: refused by name rather than dropped. */
static int unapplied(const Runtime__V1__LinuxContainerResources *r, const char *what, struct cleat_error **reterr) {
    const char *field = !r                                   ? NULL
                        : r->cpuset_cpus && *r->cpuset_cpus  ? "cpuset_cpus"
                        : r->cpuset_mems && *r->cpuset_mems  ? "cpuset_mems"
                        : r->memory_swap_limit_in_bytes != 0 ? "memory_swap_limit_in_bytes"
                        : r->n_unified                       ? "unified"
                        : r->oom_score_adj != 0              ? "oom_score_adj"
                                                             : NULL;
    return field ? error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                             "linux.%s.%s cannot be applied to the pod's cgroup (cpu, memory and hugepages can)", what,
                             field)
                 : 0;
}

/* resources + overhead as one cgroup's limits; *ret_hp holds the hugepage array (free it). */
static int pod_limits(const Runtime__V1__LinuxPodSandboxConfig *l, struct cgroup_limits *ret,
                      struct cgroup_hugepage_limit **ret_hp, struct cleat_error **reterr) {
    const Runtime__V1__LinuxContainerResources *res = l ? l->resources : NULL, *ovh = l ? l->overhead : NULL;
    struct cgroup_limits lim = {.cpu_quota_us = CGROUP_NO_LIMIT, .memory_bytes = CGROUP_NO_LIMIT};
    int r = unapplied(res, "resources", reterr);
    if (r >= 0)
        r = unapplied(ovh, "overhead", reterr);
    if (r < 0)
        return r;
    lim.cpu_shares = (uint64_t)(res && res->cpu_shares > 0 ? res->cpu_shares : 0) +
                     (uint64_t)(ovh && ovh->cpu_shares > 0 ? ovh->cpu_shares : 0);
    if (res && res->cpu_quota > 0) {
        int64_t period = period_of(res) ? period_of(res) : period_of(ovh) ? period_of(ovh) : DEFAULT_CPU_PERIOD_US;
        lim.cpu_period_us = (uint64_t)period;
        lim.cpu_quota_us = rescale(res->cpu_quota, period_of(res), period);
        if (ovh && ovh->cpu_quota > 0)
            lim.cpu_quota_us +=
                rescale(ovh->cpu_quota, period_of(ovh) ? period_of(ovh) : DEFAULT_CPU_PERIOD_US, period);
    }
    if (res && res->memory_limit_in_bytes > 0)
        lim.memory_bytes =
            res->memory_limit_in_bytes + (ovh && ovh->memory_limit_in_bytes > 0 ? ovh->memory_limit_in_bytes : 0);
    size_t n = res ? res->n_hugepage_limits : 0;
    struct cgroup_hugepage_limit *hp = calloc(n + 1, sizeof(*hp));
    if (!hp)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const Runtime__V1__HugepageLimit *h = res->hugepage_limits[i];
        hp[i] = (struct cgroup_hugepage_limit){h->page_size, h->limit};
        for (size_t j = 0; ovh && j < ovh->n_hugepage_limits; j++)
            if (h->page_size && ovh->hugepage_limits[j]->page_size &&
                strcmp(h->page_size, ovh->hugepage_limits[j]->page_size) == 0)
                hp[i].bytes += ovh->hugepage_limits[j]->limit;
    }
    lim.hugepages = hp;
    lim.n_hugepages = n;
    *ret = lim;
    *ret_hp = hp;
    return 0;
}

/* Make (again: idempotent) and size the cgroup at `path`. */
static int size_cgroup(struct runtime_service *rs, const char *path, const Runtime__V1__PodSandboxConfig *c,
                       struct cleat_error **reterr) {
    struct cgroup_limit_dirs dirs = {0};
    struct cgroup_limits lim;
    struct cgroup_hugepage_limit *hp = NULL;
    int r = pod_limits(c->linux, &lim, &hp, reterr);
    if (r >= 0)
        r = cgroup_limit_dirs_of(rs->cgroups, path, &dirs, reterr);
    if (r >= 0)
        r = cgroup_limit_dirs_make(&dirs, lim.n_hugepages > 0, reterr);
    if (r >= 0)
        r = cgroup_limits_write(&dirs, &lim, reterr);
    cgroup_limit_dirs_clear(&dirs);
    free(hp);
    return r;
}

static int has_resources(const Runtime__V1__PodSandboxConfig *c) {
    return c->linux && (c->linux->resources || c->linux->overhead);
}

int pod_cgroup_claim(struct runtime_service *rs, const Runtime__V1__PodSandboxConfig *c, int *ret_owned,
                     struct cleat_error **reterr) {
    *ret_owned = 0;
    const char *parent = parent_of(c);
    if (!has_resources(c) || !*parent || !rs->cgroups || rs->systemd_cgroup)
        return 0;
    char *path = NULL;
    struct cgroup_limit_dirs dirs = {0};
    int r = pod_cgroup_path(rs, parent, &path, reterr);
    if (r >= 0 && strcmp(path, "/") != 0)
        r = cgroup_limit_dirs_of(rs->cgroups, path, &dirs, reterr);
    int mine = r >= 0 && strcmp(path, "/") != 0 && !cgroup_limit_dirs_exist(&dirs);
    cgroup_limit_dirs_clear(&dirs);
    if (mine && (r = size_cgroup(rs, path, c, reterr)) < 0) {
        pod_cgroup_release(rs, c);
        r = error_prefix(r, reterr, "the pod's cgroup %s", path);
    }
    free(path);
    if (r < 0)
        return r;
    *ret_owned = mine;
    return 0;
}

int pod_cgroup_resize(struct runtime_service *rs, const Runtime__V1__PodSandboxConfig *c, struct cleat_error **reterr) {
    char *path = NULL;
    int r = pod_cgroup_path(rs, parent_of(c), &path, reterr);
    if (r >= 0)
        r = size_cgroup(rs, path, c, reterr);
    if (r < 0)
        r = error_prefix(r, reterr, "the pod's cgroup %s", path ? path : parent_of(c));
    free(path);
    return r;
}

void pod_cgroup_release(struct runtime_service *rs, const Runtime__V1__PodSandboxConfig *c) {
    char *path = NULL;
    struct cleat_error *err = NULL;
    int r = rs->cgroups ? pod_cgroup_path(rs, parent_of(c), &path, &err) : 0;
    if (r >= 0 && path && strcmp(path, "/") != 0)
        r = cgroup_remove(rs->cgroups, path, &err);
    if (r < 0)
        log_warning("%s", error_message(err));
    error_free(err);
    free(path);
}
