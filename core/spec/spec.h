/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OCI runtime-spec (1.0.2) config.json for a CRI container, built from
 * the ContainerConfig, the pod's PodSandboxConfig and the image's config the
 * way containerd's CRI plugin and kubelet expect.
 *
 * spec_build has no side effects on the host: it only reads the image's
 * /etc/passwd and /etc/group, confined to the rootfs (openat2 with
 * RESOLVE_IN_ROOT, so an image's symlinks cannot point at the host's files),
 * /proc/sys/kernel/cap_last_cap, seccomp profile files, stats device
 * nodes (the host's /dev for privileged containers), and whether AppArmor
 * and SELinux run; it loads cleat's AppArmor profile where AppArmor runs
 * (see process.apparmorProfile below).  Creating missing host paths of
 * bind mounts is the caller's job.
 */
#ifndef CLEAT_CORE_SPEC_H
#define CLEAT_CORE_SPEC_H

#include <stdint.h>

#include "api.pb-c.h"

struct cdi_edits;
struct cleat_error;
struct image_config;

/*
 * Where the host's security modules are looked at; a NULL member (or a
 * NULL struct spec_host *) means the real place.  Tests point them at
 * directories of their own to play a host with AppArmor or SELinux.
 */
struct spec_host {
    const char *apparmor_fs;     /* /sys/kernel/security/apparmor: present = AppArmor on; its "profiles" file */
    const char *apparmor_etc;    /* /etc/apparmor.d: abi/3.0 decides the profile's abi line */
    const char *apparmor_parser; /* apparmor_parser, in PATH */
    const char *selinux_fs;      /* /sys/fs/selinux: present = SELinux on */
};

/* The AppArmor profile RuntimeDefault gives containers on a host with AppArmor. */
#define SPEC_APPARMOR_DEFAULT "cleat-default"

struct spec_input {
    const Runtime__V1__ContainerConfig *container; /* from CreateContainer; required */
    const Runtime__V1__PodSandboxConfig *sandbox;  /* the pod's config; required */
    const struct image_config *image;              /* the image's config, NULL for none */
    const char *container_id, *sandbox_id;         /* required */
    const char *rootfs;                            /* absolute path of the mounted root filesystem; required */
    /*
     * root.path as written into config.json; NULL: `rootfs`.  A runtime that
     * mounts the rootfs itself gets "rootfs" (relative to the bundle), while
     * `rootfs` is where the core has the snapshot mounted for the moment, to
     * read the image's /etc/passwd and /etc/group.
     */
    const char *root_path;
    /*
     * Pinned namespaces to join.  Which namespaces are shared comes from the
     * container's NamespaceOption (else the pod's): NODE → the host's (no
     * entry), POD → join the path given here (NULL: a new one), CONTAINER →
     * a new one.  pid TARGET needs pidns_path = the target container's
     * namespace (INVALID_ARGUMENT otherwise).  UTS follows the network
     * mode (host network means host UTS, as in containerd).
     */
    const char *netns_path, *ipcns_path, *utsns_path, *pidns_path;
    /*
     * The pod's pinned user namespace, required when the pod has its own
     * (userns_options mode POD): the container joins it, with the pod's maps
     * as uidMappings/gidMappings.  Ignored for other pods.
     */
    const char *userns_path;
    /*
     * Where each CRI mount (container->mounts[i]) is bind-mounted from, when
     * not its host_path: an idmapped copy of it the caller made (see
     * mount_apply_idmapped), or for an image volume (Mount.image) the
     * read-only view of the image the caller mounted (required for those);
     * NULL, or a NULL entry: the host_path.
     */
    const char *const *mount_sources;
    const char *cgroups_path; /* linux.cgroupsPath, resolved by the caller; NULL to omit */
    /* Pod files bind-mounted into the container (unless a CRI mount targets the same path); NULL to skip. */
    const char *hostname_file, *resolv_conf, *hosts_file, *shm_path;
    /* The RuntimeDefault seccomp profile (config/seccomp-default.json, installed); NULL: RuntimeDefault fails. */
    const char *seccomp_default_profile;
    /* cleatd's own oom_score_adj: the spec never asks for less (clamped, with a log line). */
    int64_t min_oom_score_adj;
    const struct spec_host *host; /* NULL: the real host */
    /*
     * The container's CDI devices, resolved by the caller from the names
     * spec_cdi_names gives (cdi_registry_resolve); required when it asks for
     * any (FAILED_PRECONDITION otherwise), else NULL.
     */
    const struct cdi_edits *cdi;
};

/*
 * Build config.json for a container; *ret_json is malloc'd compact JSON text.
 *
 * - process.args: CRI command overrides the image Entrypoint and drops its
 *   Cmd; CRI args override Cmd (kubelet/docker semantics).  Neither →
 *   INVALID_ARGUMENT "no command specified".
 * - process.env: PATH default, HOSTNAME, image Env, container envs; a later
 *   NAME= replaces an earlier one in place.
 * - process.cwd: container working_dir, else image WorkingDir, else "/".
 * - process.user: run_as_username, else run_as_user, else image USER
 *   ("uid", "uid:gid", "name", "name:group", ...), resolved against the
 *   rootfs's /etc/passwd and /etc/group; run_as_group overrides the gid.  A
 *   user or group name that is not there is INVALID_ARGUMENT naming it.
 *   additionalGids: the primary gid, the groups listing the user in
 *   /etc/group (not with supplemental_groups_policy Strict), then
 *   supplemental_groups; duplicates dropped.
 * - capabilities: containerd's default set; add/drop ("ALL" and names with
 *   or without CAP_; add ALL first, then drop ALL, then single adds, then
 *   single drops); privileged → every capability of this kernel.
 * - mounts: containerd's defaults, pod files, CRI mounts (rbind,
 *   rprivate/rslave/rshared, ro / rro); a mount replaces a default at the
 *   same destination; sorted parents first.
 * - linux: namespaces, resources, sysctls, masked/readonly paths,
 *   oom_score_adj, cgroupsPath; annotations io.kubernetes.cri.*.
 * - linux.seccomp: RuntimeDefault → seccomp_default_profile, Localhost →
 *   the file at localhost_ref (absolute), Unconfined / unset / privileged →
 *   none.  OCI, Docker (archMap: this host's entry) or cleat profile JSON
 *   (architectures per native host; rules with "requires"/"unless" lists of
 *   capabilities, kept or dropped by the container's bounding set).  Every
 *   syscall and architecture name must be known to libseccomp, actions,
 *   operators and argument indexes valid, and includes/excludes absent:
 *   else INVALID_ARGUMENT naming the profile and the name.  A profile with
 *   architectures for other hosts only: FAILED_PRECONDITION.
 * - linux.devices: CRI devices (a node, or a directory of nodes; permissions
 *   a subset of "rwm", default "rwm") each with a cgroup allow rule;
 *   privileged containers get every device node of the host's /dev (not
 *   pts, shm, mqueue, fd) and an allow-all cgroup rule.
 * - process.apparmorProfile: see spec_check_container; on a host with
 *   AppArmor, RuntimeDefault (or none) is SPEC_APPARMOR_DEFAULT, which
 *   spec_build loads with `apparmor_parser -Kr` the first time a container
 *   needs it in this process (the one side effect on the host; a failed
 *   load is FAILED_PRECONDITION and is tried again by the next container).
 * - a pod with its own user namespace (userns_options mode POD): the
 *   container joins userns_path with the pod's maps (spec_input); a
 *   container whose own userns_options disagree with the pod's (another
 *   mode, other maps) is INVALID_ARGUMENT.
 * - CDI devices (spec_input.cdi), applied last, as containerd does: their
 *   env replaces a variable of the same name in place; a device node
 *   replaces the linux.devices entry at its path and gets a cgroup allow
 *   rule with its permissions (none for "none" and FIFOs); its uid/gid
 *   default to the process's when those are not 0; a mount replaces the
 *   mount at its destination (a mount without a type is a bind mount) and
 *   the mounts are sorted parents first again; hooks are added at their
 *   point (prestart ... poststop); additionalGids are added to
 *   process.user.additionalGids.
 * Not handled yet, and refused by spec_check_container (which spec_build
 * calls first): SELinux labels, per-mount uid/gid mappings.  Image volumes are bind mounts of
 * their mount_sources entry, always read-only.  rlimits beyond
 * containerd's RLIMIT_NOFILE 1024 are not set.
 */
int spec_build(const struct spec_input *in, char **ret_json, struct cleat_error **reterr);

/*
 * The CRI fields of a container cleat cannot apply, refused rather than
 * dropped (no side effects; `host` NULL: the real one):
 * - selinux_options with any part set → FAILED_PRECONDITION (no labels are
 *   set, with or without SELinux); mounts' selinux_relabel → accepted where
 *   the host has no SELinux (nothing to relabel; kubelet sets it on ordinary
 *   volumes), FAILED_PRECONDITION where it has;
 * - namespace_options.userns_options: unset, NODE, or POD with sound maps
 *   (userns_check_maps: the reason in the message) → fine; NODE with
 *   mappings, CONTAINER or TARGET, or bad maps → INVALID_ARGUMENT;
 * - mounts with uidMappings/gidMappings → FAILED_PRECONDITION;
 * - apparmor (or the deprecated apparmor_profile "runtime/default",
 *   "unconfined", "localhost/<name>"; anything else INVALID_ARGUMENT):
 *   Unconfined and RuntimeDefault are always accepted; Localhost on a host
 *   without AppArmor, or naming a profile the kernel has not loaded →
 *   FAILED_PRECONDITION; localhost_ref with another type → INVALID_ARGUMENT.
 * Every message names the field.
 */
int spec_check_container(const Runtime__V1__ContainerConfig *config, const struct spec_host *host,
                         struct cleat_error **reterr);

/* 1 when the container asks for CDI devices: CDI_devices, or an annotation "cdi.k8s.io/...". */
int spec_cdi_requested(const Runtime__V1__ContainerConfig *config);

/*
 * The CDI device names the container asks for: CDI_devices, then the
 * comma-separated values of its annotations "cdi.k8s.io/<key>" (not the
 * pod's: kubelet copies a Pod object's annotations there, and anyone who
 * may create a pod would otherwise pick any device of the node).  *ret is
 * malloc'd, NULL-terminated (free each, then it); duplicates are kept.  A
 * name that is not fully qualified (vendor/class=device) → INVALID_ARGUMENT
 * naming the field and the name.  No side effects.
 */
int spec_cdi_names(const Runtime__V1__ContainerConfig *config, char ***ret, size_t *ret_n, struct cleat_error **reterr);

/*
 * The same for a pod sandbox's linux.security_context: selinux_options,
 * userns_options (as above; mode POD with the node's network, pid or ipc
 * namespace is INVALID_ARGUMENT too) and apparmor.  Whether the pod's
 * runtime handler can run a user namespace is the caller's to check.
 */
int spec_check_pod(const Runtime__V1__PodSandboxConfig *config, const struct spec_host *host,
                   struct cleat_error **reterr);

struct userns_maps;

/* The pod's own user namespace (userns_options with mode POD), or NULL when it uses the node's. */
const Runtime__V1__UserNamespace *spec_pod_userns(const Runtime__V1__PodSandboxConfig *pod);
/* Its maps as userns.h takes them (not checked: spec_check_pod does that); free with spec_userns_maps_free. */
int spec_userns_maps(const Runtime__V1__UserNamespace *u, struct userns_maps *ret, struct cleat_error **reterr);
/* NULL-safe; the maps are empty afterwards, so a second call does nothing. */
void spec_userns_maps_free(struct userns_maps *m);

/* The OCI linux.resources object for UpdateContainerResources (cpu, memory, hugepages, unified); malloc'd JSON. */
int spec_resources_json(const Runtime__V1__LinuxContainerResources *res, char **ret_json, struct cleat_error **reterr);

#endif
