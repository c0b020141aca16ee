/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where a pulled layer is unpacked, decided by the mounts the snapshotter
 * gave for the active snapshot it is unpacked into (prepare on the parent
 * layer).  Only the mounts decide, not the snapshotter's name, so that any
 * snapshotter, in tree or not, gets the right path:
 *
 *   - one overlay mount with an upperdir= option: the fast path.  The layer
 *     goes straight into the upper directory, its whiteouts as overlayfs
 *     whiteouts (UNPACK_WHITEOUTS_OVERLAY); nothing is mounted.  The layers
 *     below stay where they are, in lowerdir=.  (storage-overlay.)
 *   - one bind mount: its source directory is the snapshot's whole tree,
 *     the parent's files included (a directory snapshotter copies them; for
 *     storage-overlay it is a base layer, with nothing below).  The layer
 *     goes straight into it with its whiteouts applied
 *     (UNPACK_WHITEOUTS_APPLY); nothing is mounted.  On a base layer the
 *     two modes give the same view, so storage-overlay sees no change; on
 *     a directory with a parent's files only APPLY is right (a whiteout
 *     device would show in the container as a file).
 *   - one mount of anything else (a block device with a filesystem on it,
 *     `{type: ext4, source: /dev/mapper/...}`, as storage-devmapper gives;
 *     an overlay without upperdir=, which cannot be written, is refused by
 *     the kernel when written to): the containerd way.  The mount is made
 *     detached (mount_detached: attached nowhere, so nothing propagates and
 *     a crash leaves no mount), nosuid, nodev and noexec on top of its own
 *     options; the layer is applied onto the whole mounted filesystem
 *     (UNPACK_WHITEOUTS_APPLY); layer_target_close unmounts it before the
 *     snapshot is committed.  The free-space reserve
 *     (images.min_free_bytes) is not checked there: that filesystem is the
 *     snapshot's own, bounded by its own size (running out is ENOSPC,
 *     RESOURCE_EXHAUSTED), not the node's shared one the reserve protects.
 *   - more than one mount, or none: FAILED_PRECONDITION naming the
 *     snapshotter.
 */
#ifndef CLEAT_CORE_LAYER_TARGET_H
#define CLEAT_CORE_LAYER_TARGET_H

#include "builders.h"
#include "unpack_types.h"

struct cleat_error;

struct layer_target {
    struct unpack_target t;
    int mount_fd;    /* the detached mount, or -1 */
    const char *how; /* for the log: "overlay upper dir", "directory", "mounted <type>" */
    char how_buf[64];
};

/*
 * Choose and open the target for the mounts ml of an active snapshot of
 * `snapshotter` (for messages).  *ret borrows ml's strings: keep ml until
 * layer_target_close.  On failure nothing is left to close.
 */
int layer_target_open(const struct cleat_mount_list *ml, const char *snapshotter, struct layer_target *ret,
                      struct cleat_error **reterr);
/* Unmount what layer_target_open mounted (if anything); a second call does nothing. */
void layer_target_close(struct layer_target *t);

#endif
