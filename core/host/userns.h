/* SPDX-License-Identifier: Apache-2.0 */
/*
 * User namespace id mappings: checking the ranges a pod asks for, mapping
 * an id through them, and writing them into a new user namespace.
 *
 * A range maps `length` ids from `inside` (as the pod sees them) to
 * `outside` (the host's ids), as /proc/<pid>/uid_map has them.  Pure
 * functions apart from userns_write_maps; no state.
 */
#ifndef CLEAT_CORE_USERNS_H
#define CLEAT_CORE_USERNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* The most ranges one map may hold (the kernel's UID_GID_MAP_MAX_EXTENTS). */
#define USERNS_MAX_RANGES 340

struct userns_range {
    uint32_t inside, outside, length;
};

/* A pod's uid and gid maps. */
struct userns_maps {
    const struct userns_range *uids;
    size_t n_uids;
    const struct userns_range *gids;
    size_t n_gids;
};

/*
 * Check one map (`what` names it in messages, e.g. "userns_options.uids"):
 * 1 to USERNS_MAX_RANGES ranges, none empty, none running past id
 * 4294967294 on either side (the kernel refuses a range that wraps, and
 * (uint32_t)-1 is no id), no two overlapping inside nor outside, id 0
 * inside mapped (the pod's root must be someone), and the host's id 0 not
 * mapped (that would make the pod's user the host's root).  No side
 * effects; INVALID_ARGUMENT naming the first bad range and the reason.
 */
int userns_check_ranges(const char *what, const struct userns_range *r, size_t n, struct cleat_error **reterr);

/* Both maps of a pod, as userns_check_ranges says, with `what` "<field>.uids" and "<field>.gids". */
int userns_check_maps(const char *field, const struct userns_maps *m, struct cleat_error **reterr);

/* The host id of `inside` through the map: 0 with *ret_outside, or -ENOENT when it is not mapped. */
int userns_to_host(const struct userns_range *r, size_t n, uint32_t inside, uint32_t *ret_outside);

/*
 * The map as the kernel's uid_map/gid_map file takes it: one
 * "inside outside length\n" line per range; malloc'd, NULL on ENOMEM.
 */
char *userns_map_text(const struct userns_range *r, size_t n);

/*
 * Write both maps into the user namespace of process `pid` (which made it
 * and has no maps yet): /proc/<pid>/uid_map, then gid_map.  setgroups(2) is
 * left allowed, as the writer holds CAP_SETGID in the parent namespace.
 * Each map can be written once: a second call fails (EPERM).  INTERNAL with
 * the kernel's errno otherwise.
 */
int userns_write_maps(pid_t pid, const struct userns_maps *m, struct cleat_error **reterr);

#endif
