/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cleat plugin SDK: mounts, the currency between snapshotters and runtimes.
 *
 * As in containerd, a snapshotter answers "how do I mount this snapshot" with
 * a list of mounts, and a runtime performs them; neither knows the other.
 *
 * Mounts a plugin *receives* are plain borrowed arrays (struct cleat_mount).
 * Mounts a plugin *produces* are appended to a host-owned list
 * (struct cleat_mount_list) with cleat_host.mount_add(), so that no array
 * allocated by a plugin ever crosses the boundary.
 */
#ifndef CLEAT_MOUNT_H
#define CLEAT_MOUNT_H

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque, host-owned list of mounts that a plugin appends to. */
struct cleat_mount_list;

/*
 * One mount, borrowed.  `type` is a mount(2) filesystem type ("overlay",
 * "bind", "tmpfs"...); `options` is a NULL-terminated list in mount(8) form
 * ("ro", "lowerdir=...").  `target` is relative to the container's root and
 * may be NULL for a root filesystem mount.
 */
struct cleat_mount {
    const char *type;
    const char *source;
    const char *target;
    const char *const *options;
};

#ifdef __cplusplus
}
#endif

#endif /* CLEAT_MOUNT_H */
