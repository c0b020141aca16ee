/* SPDX-License-Identifier: Apache-2.0 */
/* Capabilities and the "linux" object: namespaces, resources, sysctls, masked/readonly paths; see spec.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>

#include "error.h"
#include "spec_internal.h"

/* Capability names by number (linux/capability.h). */
static const char *const cap_names[] = {
    "CAP_CHOWN",           "CAP_DAC_OVERRIDE",    "CAP_DAC_READ_SEARCH",   "CAP_FOWNER",      "CAP_FSETID",
    "CAP_KILL",            "CAP_SETGID",          "CAP_SETUID",            "CAP_SETPCAP",     "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",  "CAP_NET_ADMIN",         "CAP_NET_RAW",     "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",       "CAP_SYS_MODULE",      "CAP_SYS_RAWIO",         "CAP_SYS_CHROOT",  "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",       "CAP_SYS_BOOT",          "CAP_SYS_NICE",    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",        "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",             "CAP_LEASE",       "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",         "CAP_MAC_OVERRIDE",      "CAP_MAC_ADMIN",   "CAP_SYSLOG",
    "CAP_WAKE_ALARM",      "CAP_BLOCK_SUSPEND",   "CAP_AUDIT_READ",        "CAP_PERFMON",     "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};
#define N_CAPS ((int)(sizeof(cap_names) / sizeof(cap_names[0])))

/* containerd's (and Docker's) default set. */
static const char *const default_caps[] = {
    "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",     "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID",           "CAP_SETFCAP",    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",     "CAP_AUDIT_WRITE",
};

/* containerd's defaults (oci/spec.go). */
static const char *const default_masked[] = {
    "/proc/acpi",  "/proc/asound",    "/proc/kcore",       "/proc/keys",   "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/sys/devices/virtual/powercap",
    "/proc/scsi",
};
static const char *const default_readonly[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The highest capability this kernel knows. */
static int cap_last(void) {
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    int last = -1;
    if (f) {
        if (fscanf(f, "%d", &last) != 1)
            last = -1;
        fclose(f);
    }
    return last < 0 || last >= N_CAPS ? N_CAPS - 1 : last;
}

/*
 * Which capabilities cleatd can grant: those in its own bounding set (as
 * containerd's "all current capabilities").  Root on some hosts lacks a few
 * (here CAP_SYS_RESOURCE), and asking runc for them fails the container.
 */
static void cap_available(char *avail) {
    int last = cap_last();
    for (int i = 0; i < N_CAPS; i++)
        avail[i] = (char)(i <= last && prctl(PR_CAPBSET_READ, (unsigned long)i, 0, 0, 0) == 1);
}

int spec_cap_index(const char *name) {
    if (strncasecmp(name, "CAP_", 4) == 0)
        name += 4;
    for (int i = 0; i < N_CAPS; i++)
        if (strcasecmp(cap_names[i] + 4, name) == 0)
            return i;
    return -1;
}

static int has_all(char *const *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(v[i], "ALL") == 0)
            return 1;
    return 0;
}

/* Apply the CRI add/drop lists to `set` (one flag per capability). */
static int cap_modify(const Runtime__V1__Capability *c, char *set, const char *avail, struct cleat_error **reterr) {
    if (has_all(c->add_capabilities, c->n_add_capabilities))
        memcpy(set, avail, N_CAPS);
    if (has_all(c->drop_capabilities, c->n_drop_capabilities))
        memset(set, 0, N_CAPS);
    for (int pass = 0; pass < 2; pass++) {
        char *const *v = pass ? c->drop_capabilities : c->add_capabilities;
        size_t n = pass ? c->n_drop_capabilities : c->n_add_capabilities;
        for (size_t i = 0; i < n; i++) {
            if (strcasecmp(v[i], "ALL") == 0)
                continue;
            int idx = spec_cap_index(v[i]);
            if (idx < 0)
                return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "unknown capability \"%s\"", v[i]);
            if (!pass && !avail[idx])
                return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EPERM,
                                 "capability %s is not available on this node", cap_names[idx]);
            set[idx] = (char)!pass;
        }
    }
    return 0;
}

static json_t *cap_array(const char *set) {
    json_t *a = json_array();
    for (int i = 0; a && i < N_CAPS; i++)
        if (set[i] && json_array_append_new(a, json_string(cap_names[i])) < 0)
            return json_decref(a), NULL;
    return a;
}

int spec_add_capabilities(const struct spec_input *in, json_t *process, struct cleat_error **reterr) {
    const Runtime__V1__LinuxContainerSecurityContext *sc = spec_secctx(in);
    char set[N_CAPS] = {0}, ambient[N_CAPS] = {0}, avail[N_CAPS];
    cap_available(avail);
    if (sc && sc->privileged) {
        memcpy(set, avail, N_CAPS);
    } else {
        for (size_t i = 0; i < N(default_caps); i++) {
            int idx = spec_cap_index(default_caps[i]);
            set[idx] = avail[idx];
        }
        if (sc && sc->capabilities) {
            int r = cap_modify(sc->capabilities, set, avail, reterr);
            if (r < 0)
                return r;
        }
    }
    /* Ambient capabilities must also be inheritable, permitted and in the bounding set. */
    for (size_t i = 0; sc && sc->capabilities && i < sc->capabilities->n_add_ambient_capabilities; i++) {
        const char *name = sc->capabilities->add_ambient_capabilities[i];
        int idx = spec_cap_index(name);
        if (idx < 0 || !avail[idx])
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                             "ambient capability \"%s\" is unknown or not available on this node", name);
        ambient[idx] = set[idx] = 1;
    }
    json_t *caps = json_object();
    SPEC_SET(process, "capabilities", caps, reterr);
    /* No inheritable set except for ambient capabilities (CVE-2022-24769). */
    SPEC_SET(caps, "bounding", cap_array(set), reterr);
    SPEC_SET(caps, "effective", cap_array(set), reterr);
    SPEC_SET(caps, "permitted", cap_array(set), reterr);
    SPEC_SET(caps, "inheritable", cap_array(ambient), reterr);
    SPEC_SET(caps, "ambient", cap_array(ambient), reterr);
    return 0;
}

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

int spec_resources_json(const Runtime__V1__LinuxContainerResources *res, char **ret_json,
                        struct cleat_error **reterr) {
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
    int net = strncmp(key, "net.", 4) == 0 || strcmp(key, "kernel.hostname") == 0 ||
              strcmp(key, "kernel.domainname") == 0;
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
