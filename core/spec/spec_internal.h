/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between the spec_*.c files; not an API. */
#ifndef CLEAT_CORE_SPEC_INTERNAL_H
#define CLEAT_CORE_SPEC_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "spec.h"

struct spec_user {
    uint32_t uid, gid;
    uint32_t *gids; /* additionalGids, malloc'd */
    size_t n_gids;
};

/* process.user for the container (see spec.h); free ret->gids. */
int spec_user_resolve(const struct spec_input *in, struct spec_user *ret, struct cleat_error **reterr);

/* The container's security context, or NULL. */
const Runtime__V1__LinuxContainerSecurityContext *spec_secctx(const struct spec_input *in);
/* The effective NamespaceOption (container's, else the pod's), or NULL (all POD). */
const Runtime__V1__NamespaceOption *spec_nsopts(const struct spec_input *in);

/* process.capabilities into `process`. */
int spec_add_capabilities(const struct spec_input *in, json_t *process, struct cleat_error **reterr);
/* The "linux" object: namespaces, resources, sysctls, masked/readonly paths, cgroupsPath. */
int spec_add_linux(const struct spec_input *in, json_t *root, struct cleat_error **reterr);
/* linux.devices (and their cgroup rules) after spec_add_linux made linux.resources. */
int spec_add_devices(const struct spec_input *in, json_t *lx, struct cleat_error **reterr);
/*
 * linux.seccomp from the container's SecurityProfile; `caps` is the JSON
 * array of the bounding set's names ("CAP_SYS_ADMIN", ...) that a
 * profile's "requires"/"unless" rules are resolved against.
 */
int spec_add_seccomp(const struct spec_input *in, json_t *caps, json_t *lx, struct cleat_error **reterr);
/* The libseccomp token of an OCI architecture name ("SCMP_ARCH_X86_64"), 0 if libseccomp does not know it. */
uint32_t spec_seccomp_arch(const char *name);
/* "net_admin", "NET_ADMIN", "CAP_NET_ADMIN" → the capability's number, or -1. */
int spec_cap_index(const char *name);
/*
 * userns_options of a pod (mode POD: maps checked with userns_check_maps,
 * and no namespace of the node's) or of a container (the same, without the
 * node's namespaces); `field` prefixes messages.  No side effects.
 */
int spec_check_userns_pod(const char *field, const Runtime__V1__NamespaceOption *o, struct cleat_error **reterr);
int spec_check_userns_container(const char *field, const Runtime__V1__NamespaceOption *o, struct cleat_error **reterr);
/*
 * For a pod with its own user namespace: a "user" entry joining
 * in->userns_path in `namespaces` and the pod's maps as linux.uidMappings
 * and gidMappings; a container's own userns_options must agree with the
 * pod's (INVALID_ARGUMENT otherwise).  Nothing for other pods.
 */
int spec_add_userns(const struct spec_input *in, json_t *lx, json_t *namespaces, struct cleat_error **reterr);
/* The "mounts" array. */
int spec_add_mounts(const struct spec_input *in, json_t *root, struct cleat_error **reterr);
/* Sort a "mounts" array parents first (stable), so that a mount at /a/b is not hidden by a later one at /a. */
void spec_sort_mounts(json_t *mounts);
/* Two absolute paths that differ at most in trailing slashes. */
int spec_same_path(const char *a, const char *b);
/* Set "NAME=value" (`len` bytes) in the env array, replacing an earlier NAME= in place. */
int spec_env_set(json_t *env, const char *kv, size_t len, struct cleat_error **reterr);
/*
 * Resolved CDI edits applied to a built spec (after everything else): env
 * replaces the same name, a device node or mount replaces the one at the
 * same path, hooks and additionalGids are added.
 */
struct cdi_edits;
int spec_apply_cdi(const struct cdi_edits *e, json_t *root, struct cleat_error **reterr);

/* spec_host's paths, each with its real default. */
enum spec_host_path { SPEC_HOST_APPARMOR_FS, SPEC_HOST_APPARMOR_ETC, SPEC_HOST_APPARMOR_PARSER, SPEC_HOST_SELINUX_FS };
const char *spec_host_path(const struct spec_host *host, enum spec_host_path which);
/* Non-zero when that path exists (the security module runs). */
int spec_host_has(const struct spec_host *host, enum spec_host_path which);

/*
 * The AppArmor profile for a SecurityProfile (or, when it is NULL, the
 * deprecated string `legacy`): *ret_name NULL for none, else the profile
 * to set; refusals as spec_check_container says.  No side effects.
 */
int spec_apparmor_profile(const Runtime__V1__SecurityProfile *p, const char *legacy, int privileged,
                          const struct spec_host *host, const char **ret_name, struct cleat_error **reterr);
/* process.apparmorProfile, loading SPEC_APPARMOR_DEFAULT once per process when it is the one. */
int spec_add_apparmor(const struct spec_input *in, json_t *process, struct cleat_error **reterr);
/* The text of SPEC_APPARMOR_DEFAULT for this host (abi 3.0 where the parser has it); malloc'd, NULL on ENOMEM. */
char *spec_apparmor_text(const struct spec_host *host);
/* 1 when `name` is among the kernel's loaded profiles, 0 when not, -errno when the list cannot be read. */
int spec_apparmor_loaded(const struct spec_host *host, const char *name);

/* json_array_append_new / json_object_set_new with the out-of-memory check folded in. */
int spec_oom(struct cleat_error **reterr);
#define SPEC_SET(obj, key, val, reterr)                                                                                \
    do {                                                                                                               \
        if (json_object_set_new((obj), (key), (val)) < 0)                                                              \
            return spec_oom(reterr);                                                                                   \
    } while (0)
#define SPEC_APPEND(arr, val, reterr)                                                                                  \
    do {                                                                                                               \
        if (json_array_append_new((arr), (val)) < 0)                                                                   \
            return spec_oom(reterr);                                                                                   \
    } while (0)

#endif
