/* SPDX-License-Identifier: Apache-2.0 */
/* The "linux" object: namespaces, resources, sysctls, masked/readonly paths; see spec.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>

#include "error.h"
#include "spec_internal.h"

/* containerd's defaults (oci/spec.go). */
static const char *const default_masked[] = {
    "/proc/acpi",       "/proc/asound",      "/proc/kcore",       "/proc/keys",    "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/sys/devices/virtual/powercap",
    "/proc/scsi",
};
static const char *const default_readonly[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int ns_add(json_t *arr, const char *type, const char *path, struct cleat_error **reterr) {
    json_t *o = path ? json_pack("{s:s,s:s}", "type", type, "path", path) : json_pack("{s:s}", "type", type);
    SPEC_APPEND(arr, o, reterr);
    return 0;
}

/* NODE → the host's (no entry), POD → the pod's pinned one (new if none), CONTAINER → a new one. */
static int add_namespaces(const struct spec_input *in, json_t *lx, struct cleat_error **reterr) {
    const Runtime__V1__NamespaceOption *o = spec_nsopts(in);
    Runtime__V1__NamespaceMode net = o ? o->network : RUNTIME__V1__NAMESPACE_MODE__POD;
    Runtime__V1__NamespaceMode ipc = o ? o->ipc : RUNTIME__V1__NAMESPACE_MODE__POD;
    Runtime__V1__NamespaceMode pid = o ? o->pid : RUNTIME__V1__NAMESPACE_MODE__POD;
    json_t *ns = json_array();
    SPEC_SET(lx, "namespaces", ns, reterr);
    int r = ns_add(ns, "mount", NULL, reterr);
    if (r >= 0 && net != RUNTIME__V1__NAMESPACE_MODE__NODE)
        r = ns_add(ns, "network", net == RUNTIME__V1__NAMESPACE_MODE__CONTAINER ? NULL : in->netns_path, reterr);
    if (r >= 0 && net != RUNTIME__V1__NAMESPACE_MODE__NODE) /* UTS follows the network, as in containerd */
        r = ns_add(ns, "uts", in->utsns_path, reterr);
    if (r >= 0 && ipc != RUNTIME__V1__NAMESPACE_MODE__NODE)
        r = ns_add(ns, "ipc", ipc == RUNTIME__V1__NAMESPACE_MODE__POD ? in->ipcns_path : NULL, reterr);
    if (r >= 0)
        r = spec_add_userns(in, lx, ns, reterr);
    if (r < 0)
        return r;
    switch (pid) {
    case RUNTIME__V1__NAMESPACE_MODE__NODE:
        return 0;
    case RUNTIME__V1__NAMESPACE_MODE__POD:
        return ns_add(ns, "pid", in->pidns_path, reterr);
    case RUNTIME__V1__NAMESPACE_MODE__TARGET:
        if (!in->pidns_path)
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                             "pid namespace of target container \"%s\" is not known", o->target_id ? o->target_id : "");
        return ns_add(ns, "pid", in->pidns_path, reterr);
    default:
        return ns_add(ns, "pid", NULL, reterr);
    }
}

static int add_cpu_memory(const Runtime__V1__LinuxContainerResources *res, json_t *rs, struct cleat_error **reterr) {
    json_t *cpu = json_object(), *mem = json_object();
    SPEC_SET(rs, "cpu", cpu, reterr);
    SPEC_SET(rs, "memory", mem, reterr);
    if (res->cpu_shares > 0)
        SPEC_SET(cpu, "shares", json_integer(res->cpu_shares), reterr);
    if (res->cpu_quota != 0)
        SPEC_SET(cpu, "quota", json_integer(res->cpu_quota), reterr);
    if (res->cpu_period > 0)
        SPEC_SET(cpu, "period", json_integer(res->cpu_period), reterr);
    if (res->cpuset_cpus && *res->cpuset_cpus)
        SPEC_SET(cpu, "cpus", json_string(res->cpuset_cpus), reterr);
    if (res->cpuset_mems && *res->cpuset_mems)
        SPEC_SET(cpu, "mems", json_string(res->cpuset_mems), reterr);
    if (res->memory_limit_in_bytes > 0)
        SPEC_SET(mem, "limit", json_integer(res->memory_limit_in_bytes), reterr);
    if (res->memory_swap_limit_in_bytes != 0) /* -1: unlimited swap */
        SPEC_SET(mem, "swap", json_integer(res->memory_swap_limit_in_bytes), reterr);
    return 0;
}

/* cpu, memory, hugepages and unified of CRI resources into an OCI linux.resources object. */
static int resources_fill(const Runtime__V1__LinuxContainerResources *res, json_t *rs, struct cleat_error **reterr) {
    int r = add_cpu_memory(res, rs, reterr);
    if (r < 0)
        return r;
    if (res->n_hugepage_limits) {
        json_t *hp = json_array();
        SPEC_SET(rs, "hugepageLimits", hp, reterr);
        for (size_t i = 0; i < res->n_hugepage_limits; i++)
            SPEC_APPEND(hp,
                        json_pack("{s:s,s:I}", "pageSize", res->hugepage_limits[i]->page_size, "limit",
                                  (json_int_t)res->hugepage_limits[i]->limit),
                        reterr);
    }
    if (res->n_unified) {
        json_t *u = json_object();
        SPEC_SET(rs, "unified", u, reterr);
        for (size_t i = 0; i < res->n_unified; i++)
            SPEC_SET(u, res->unified[i]->key, json_string(res->unified[i]->value), reterr);
    }
    return 0;
}

static int add_resources(const struct spec_input *in, json_t *lx, struct cleat_error **reterr) {
    const Runtime__V1__LinuxContainerSecurityContext *sc = spec_secctx(in);
    const Runtime__V1__LinuxContainerResources *res = in->container->linux ? in->container->linux->resources : NULL;
    json_t *rs = json_object();
    SPEC_SET(lx, "resources", rs, reterr);
    /* Deny every device but what runc itself allows (/dev/null, ...); privileged allows all. */
    SPEC_SET(rs, "devices", json_pack("[{s:b,s:s}]", "allow", sc && sc->privileged, "access", "rwm"), reterr);
    return res ? resources_fill(res, rs, reterr) : 0;
}

int spec_resources_json(const Runtime__V1__LinuxContainerResources *res, char **ret_json, struct cleat_error **reterr) {
    json_t *rs = json_object();
    if (!rs)
        return spec_oom(reterr);
    int r = resources_fill(res, rs, reterr);
    char *text = r >= 0 ? json_dumps(rs, JSON_COMPACT) : NULL;
    json_decref(rs);
    if (r >= 0 && !text)
        r = spec_oom(reterr);
    if (r >= 0)
        *ret_json = text;
    return r;
}

/*
 * Only sysctls of a namespace the container does not share with the host
 * (net.* and kernel hostname/domainname: network+UTS; IPC ones: ipc); others
 * would change the node, so they are refused.
 */
static int sysctl_check(const struct spec_input *in, const char *key, struct cleat_error **reterr) {
    const Runtime__V1__NamespaceOption *o = spec_nsopts(in);
    int host_net = o && o->network == RUNTIME__V1__NAMESPACE_MODE__NODE;
    int host_ipc = o && o->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE;
    int net =
        strncmp(key, "net.", 4) == 0 || strcmp(key, "kernel.hostname") == 0 || strcmp(key, "kernel.domainname") == 0;
    int ipc = strncmp(key, "fs.mqueue.", 10) == 0 || strcmp(key, "kernel.sem") == 0 ||
              strncmp(key, "kernel.shm", 10) == 0 || strncmp(key, "kernel.msg", 10) == 0;
    if ((net && !host_net) || (ipc && !host_ipc))
        return 0;
    return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                     net || ipc ? "sysctl \"%s\" is not allowed: the pod shares that namespace with the host"
                                : "sysctl \"%s\" is not namespaced: it would change the node",
                     key);
}

static int add_sysctls(const struct spec_input *in, json_t *lx, struct cleat_error **reterr) {
    const Runtime__V1__LinuxPodSandboxConfig *pl = in->sandbox->linux;
    if (!pl || !pl->n_sysctls)
        return 0;
    json_t *sys = json_object();
    SPEC_SET(lx, "sysctl", sys, reterr);
    for (size_t i = 0; i < pl->n_sysctls; i++) {
        char *key = strdup(pl->sysctls[i]->key);
        if (!key)
            return spec_oom(reterr);
        /* "net/ipv4/ip_forward" is the same sysctl as "net.ipv4.ip_forward". */
        for (char *p = key; *p; p++)
            *p = *p == '/' ? '.' : *p;
        int r = sysctl_check(in, key, reterr);
        if (r >= 0 && json_object_set_new(sys, key, json_string(pl->sysctls[i]->value)) < 0)
            r = spec_oom(reterr);
        free(key);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Kubelet's list when it sends one (non-empty), else containerd's defaults; privileged: none. */
static int add_paths(json_t *lx, const char *key, char *const *given, size_t n, const char *const *defaults,
                     size_t n_defaults, int privileged, struct cleat_error **reterr) {
    json_t *a = json_array();
    SPEC_SET(lx, key, a, reterr);
    for (size_t i = 0; !privileged && i < (n ? n : n_defaults); i++)
        SPEC_APPEND(a, json_string(n ? given[i] : defaults[i]), reterr);
    return 0;
}

int spec_add_linux(const struct spec_input *in, json_t *root, struct cleat_error **reterr) {
    const Runtime__V1__LinuxContainerSecurityContext *sc = spec_secctx(in);
    int priv = sc && sc->privileged;
    json_t *lx = json_object();
    SPEC_SET(root, "linux", lx, reterr);
    if (in->cgroups_path)
        SPEC_SET(lx, "cgroupsPath", json_string(in->cgroups_path), reterr);
    int r = add_namespaces(in, lx, reterr);
    if (r >= 0)
        r = add_resources(in, lx, reterr);
    if (r >= 0)
        r = add_sysctls(in, lx, reterr);
    if (r >= 0)
        r = add_paths(lx, "maskedPaths", sc ? sc->masked_paths : NULL, sc ? sc->n_masked_paths : 0, default_masked,
                      N(default_masked), priv, reterr);
    if (r >= 0)
        r = add_paths(lx, "readonlyPaths", sc ? sc->readonly_paths : NULL, sc ? sc->n_readonly_paths : 0,
                      default_readonly, N(default_readonly), priv, reterr);
    if (r >= 0)
        r = spec_add_devices(in, lx, reterr);
    /* Its capability rules follow the bounding set spec_add_capabilities chose. */
    json_t *caps = json_object_get(json_object_get(json_object_get(root, "process"), "capabilities"), "bounding");
    if (r >= 0)
        r = spec_add_seccomp(in, caps, lx, reterr);
    return r;
}
