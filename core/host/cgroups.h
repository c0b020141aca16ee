/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host's cgroup layout, and where a pod's or container's cgroup lives.
 *
 * The layout is read from mountinfo, never assumed: a host is
 *   v1      cgroup v1 hierarchies only (each mount names its controllers,
 *           e.g. "cpu", "cpu,cpuacct", or a named one, "name=systemd"),
 *   hybrid  v1 hierarchies plus a cgroup2 mount (systemd's
 *           /sys/fs/cgroup/unified, usually without controllers), or
 *   v2      one cgroup2 mount (usually /sys/fs/cgroup) and no v1 hierarchy.
 * This machine is hybrid with cpu and cpuacct mounted apart, so a controller
 * is looked up by name, never by a guessed "/sys/fs/cgroup/cpu,cpuacct".
 *
 * Cgroup parents: kubelet's CRI cgroup_parent is a cgroupfs path
 * ("/kubepods/burstable/pod1234") with its cgroupfs driver, and with its
 * systemd driver a path of slices that ends in the pod's slice
 * ("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice").
 * Both are accepted by both converters below.  The systemd names follow
 * kubelet (and runc's ExpandSlice): path components joined with '-', each
 * component's own '-' escaped as '_', ".slice" appended; the root is "-.slice".
 */
#ifndef CLEAT_CORE_CGROUPS_H
#define CLEAT_CORE_CGROUPS_H

#include <stddef.h>

#include "error.h"

#define CGROUP_MODE_V1 1
#define CGROUP_MODE_HYBRID 2
#define CGROUP_MODE_V2 3

/* One v1 hierarchy: the first mount of it found in mountinfo. */
struct cgroup_v1_mount {
    char *controllers; /* as in the super options: "cpu", "cpu,cpuacct", "name=systemd" */
    char *mount_point; /* unescaped: "/sys/fs/cgroup/cpu" */
    char *root;        /* the hierarchy's path mounted there; "/" on a host, deeper inside a container */
};

struct cgroup_layout {
    int mode; /* CGROUP_MODE_* */
    size_t n_v1;
    struct cgroup_v1_mount *v1;
    char *v2_mount; /* the first cgroup2 mount point, NULL if there is none */
    char *v2_root;
};

/*
 * Parse mountinfo text (the contents of /proc/<pid>/mountinfo) into a layout.
 * Mount points are unescaped (\040 and the other octal escapes).  A text with
 * no cgroup mount at all is FAILED_PRECONDITION; a malformed cgroup line
 * INVALID_ARGUMENT (other lines are not looked at beyond their type).
 */
int cgroup_layout_parse(const char *mountinfo, struct cgroup_layout **ret, struct cleat_error **reterr);
/* cgroup_layout_parse of /proc/self/mountinfo. */
int cgroup_layout_read(struct cgroup_layout **ret, struct cleat_error **reterr);
/* NULL-safe; returns NULL. */
struct cgroup_layout *cgroup_layout_free(struct cgroup_layout *l);
/* "v1", "hybrid", "v2". */
const char *cgroup_mode_name(int mode);

/* The v1 hierarchy holding `controller` ("cpu", "memory", "name=systemd"), or NULL.  Borrowed from l. */
const struct cgroup_v1_mount *cgroup_layout_get0_v1(const struct cgroup_layout *l, const char *controller);

/*
 * The directory of cgroup `path` (hierarchy-relative, "/kubepods/pod1/c1",
 * see cgroup_dir_of) for `controller`: in its v1 hierarchy, or in the cgroup2
 * mount when controller is NULL or the host is pure v2.  The mount's root is
 * taken off `path` first (inside a container, "/" of the hierarchy is not the
 * mount point).  NOT_FOUND when the host has no such hierarchy or the path
 * lies outside what is mounted.  Only computes the name; nothing is created.
 */
int cgroup_layout_dir(const struct cgroup_layout *l, const char *controller, const char *path, char **ret,
                      struct cleat_error **reterr);

/*
 * The OCI cgroupsPath for a container `id` under CRI cgroup parent `parent`:
 *   systemd:  "<pod slice>:<prefix>:<id>", e.g. "kubepods-burstable-pod1234.slice:cri-cleat:<id>"
 *   cgroupfs: "<parent>/<id>", e.g. "/kubepods/burstable/pod1234/<id>"; a slice-style
 *             parent is expanded ("/kubepods.slice/kubepods-burstable.slice/.../<id>").
 * An empty parent means the root.  INVALID_ARGUMENT for a relative parent,
 * ".." components, a malformed slice name, or an id/prefix with '/' or ':'.
 */
int cgroup_path_systemd(const char *parent, const char *prefix, const char *id, char **ret,
                        struct cleat_error **reterr);
int cgroup_path_cgroupfs(const char *parent, const char *id, char **ret, struct cleat_error **reterr);

/* The pod slice for a parent: "/kubepods/burstable/pod12-34" → "kubepods-burstable-pod12_34.slice". */
int cgroup_parent_to_slice(const char *parent, char **ret, struct cleat_error **reterr);
/* A slice's place in the hierarchy: "a-b.slice" → "/a.slice/a-b.slice"; "-.slice" → "/". */
int cgroup_expand_slice(const char *slice, char **ret, struct cleat_error **reterr);

/*
 * The hierarchy-relative directory for an OCI cgroupsPath made by the
 * functions above: "slice:prefix:name" → "<expanded slice>/<prefix>-<name>.scope"
 * (what runc's systemd driver creates); a cgroupfs path is returned as is.
 */
int cgroup_dir_of(const char *cgroups_path, char **ret, struct cleat_error **reterr);

#endif
