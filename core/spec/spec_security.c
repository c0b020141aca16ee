/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRI fields cleat cannot apply yet, refused instead of dropped: a pod or
 * container that asked for an SELinux label or a per-mount idmap would
 * otherwise run without it and nobody would know.  Each refusal names the
 * field.  What a kubelet sends on every pod stays
 * accepted: empty SELinux options, selinux_relabel on a host without
 * SELinux.  User namespace options are checked here too (spec_userns.c).
 */
#include <errno.h>
#include <string.h>

#include "error.h"
#include "spec_internal.h"

static int nonempty(const char *s) {
    return s && *s;
}

/* Any SELinux label part set: cleat applies none (with or without SELinux on the host). */
static int check_selinux(const char *field, const Runtime__V1__SELinuxOption *o, const struct spec_host *host,
                         struct cleat_error **reterr) {
    if (!o || !(nonempty(o->user) || nonempty(o->role) || nonempty(o->type) || nonempty(o->level)))
        return 0;
    return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                     "%s: SELinux label \"%s:%s:%s:%s\" cannot be applied: %s", field, o->user ? o->user : "",
                     o->role ? o->role : "", o->type ? o->type : "", o->level ? o->level : "",
                     spec_host_has(host, SPEC_HOST_SELINUX_FS) ? "cleat does not set SELinux labels yet"
                                                               : "this host has no SELinux");
}

int spec_check_pod(const Runtime__V1__PodSandboxConfig *cfg, const struct spec_host *host,
                   struct cleat_error **reterr) {
    const Runtime__V1__LinuxSandboxSecurityContext *sc = cfg && cfg->linux ? cfg->linux->security_context : NULL;
    if (!sc)
        return 0;
    int r = check_selinux("linux.security_context.selinux_options", sc->selinux_options, host, reterr);
    if (r >= 0)
        r = spec_check_userns_pod("linux.security_context.namespace_options", sc->namespace_options, reterr);
    /* The same AppArmor decision as for the pod's containers (which kubelet gives the pod's profile). */
    const char *name;
    if (r >= 0)
        r = spec_apparmor_profile(sc->apparmor, NULL, sc->privileged, host, &name, reterr);
    return r;
}

/*
 * Idmapped mounts are not built; selinux_relabel is refused only where
 * SELinux runs.  Without SELinux there is no label to set, and kubelet
 * asks for a relabel on ordinary volumes (emptyDir, secrets) whatever the
 * host: containerd accepts it there as a no-op, and so does cleat.
 */
static int check_mounts(const Runtime__V1__ContainerConfig *c, const struct spec_host *host,
                        struct cleat_error **reterr) {
    for (size_t i = 0; i < c->n_mounts; i++) {
        const Runtime__V1__Mount *m = c->mounts[i];
        const char *dest = m->container_path ? m->container_path : "";
        if (m->n_uidmappings || m->n_gidmappings)
            return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                             "mounts[%zu] (%s): uidMappings/gidMappings: idmapped mounts are not supported yet", i,
                             dest);
        if (m->selinux_relabel && spec_host_has(host, SPEC_HOST_SELINUX_FS))
            return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                             "mounts[%zu] (%s): selinux_relabel: cleat does not relabel volumes yet", i, dest);
    }
    return 0;
}

int spec_check_container(const Runtime__V1__ContainerConfig *c, const struct spec_host *host,
                         struct cleat_error **reterr) {
    if (!c)
        return 0;
    const Runtime__V1__LinuxContainerSecurityContext *sc = c->linux ? c->linux->security_context : NULL;
    int r = check_mounts(c, host, reterr);
    if (r >= 0 && sc)
        r = check_selinux("linux.security_context.selinux_options", sc->selinux_options, host, reterr);
    if (r >= 0 && sc)
        r = spec_check_userns_container("linux.security_context.namespace_options", sc->namespace_options, reterr);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    const char *legacy = sc ? sc->apparmor_profile : NULL;
#pragma GCC diagnostic pop
    const char *name;
    if (r >= 0 && sc)
        r = spec_apparmor_profile(sc->apparmor, legacy, sc->privileged, host, &name, reterr);
    return r;
}
