/* SPDX-License-Identifier: Apache-2.0 */
/* process.capabilities: the default set, the CRI's add/drop lists, and what this node can grant; see spec.h. */
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
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};
#define N_CAPS ((int)(sizeof(cap_names) / sizeof(cap_names[0])))
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* containerd's (and Docker's) default set. */
static const char *const default_caps[] = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE",
};

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
