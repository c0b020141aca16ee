/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Making a cgroup, writing its CPU, memory and hugepage limits, and
 * removing it: for a pod's own cgroup when cleat made it (kubelet writes
 * its pod cgroups itself).
 *
 * Each controller is written where the host has it: its v1 hierarchy, or
 * else the cgroup2 mount when that lists it in cgroup.controllers (pure v2,
 * or a hybrid host that binds a controller to cgroup2: this machine's
 * hugetlb).  The file names and values of each version:
 *
 *   cpu       v1 cpu.shares, cpu.cfs_period_us, cpu.cfs_quota_us (-1: none)
 *             v2 cpu.weight (from the shares, as runc converts them),
 *                cpu.max "<quota|max> [<period>]"
 *   memory    v1 memory.limit_in_bytes (-1: none); v2 memory.max (max: none)
 *   hugetlb   v1 hugetlb.<size>.limit_in_bytes; v2 hugetlb.<size>.max,
 *             <size> as the CRI names it ("2MB", "1GB"), which is the
 *             kernel's name too
 *
 * Every writer takes directories, not a layout, so that a test can point
 * it at plain files.
 */
#ifndef CLEAT_CORE_CGROUP_LIMITS_H
#define CLEAT_CORE_CGROUP_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "cgroups.h"
#include "error.h"

#define CGROUP_NO_LIMIT (-1)

struct cgroup_hugepage_limit {
    const char *page_size; /* "2MB" */
    uint64_t bytes;
};

/* What to write; a field left at 0 (shares, period) is not written. */
struct cgroup_limits {
    uint64_t cpu_shares;
    uint64_t cpu_period_us;
    int64_t cpu_quota_us; /* CGROUP_NO_LIMIT: none */
    int64_t memory_bytes; /* CGROUP_NO_LIMIT: none */
    const struct cgroup_hugepage_limit *hugepages;
    size_t n_hugepages;
};

/* Where one cgroup's cpu, memory and hugetlb controllers are (NULL: the host has none), and which are cgroup2. */
struct cgroup_limit_dirs {
    char *cpu, *memory, *hugetlb;
    int cpu_v2, memory_v2, hugetlb_v2;
    char *v2_mount; /* the cgroup2 mount, when a controller is there (its parents' subtree_control) */
};

/* The directories of hierarchy-relative cgroup `path` on this layout (names only; see above). */
int cgroup_limit_dirs_of(const struct cgroup_layout *l, const char *path, struct cgroup_limit_dirs *ret,
                         struct cleat_error **reterr);
void cgroup_limit_dirs_clear(struct cgroup_limit_dirs *d);

/* 1 when the memory directory (else the cpu one) exists: somebody made the cgroup already. */
int cgroup_limit_dirs_exist(const struct cgroup_limit_dirs *d);

/*
 * Make the cpu and memory directories (and their parents), and the hugetlb
 * one `with_hugetlb`.  For a cgroup2 one the controller is enabled
 * (cgroup.subtree_control, "+cpu") in each directory above it, from the
 * mount down, as runc does.  Making them again is fine.
 */
int cgroup_limit_dirs_make(const struct cgroup_limit_dirs *d, int with_hugetlb, struct cleat_error **reterr);

/*
 * Write `lim`.  The kernel's refusal (a memory limit below what is in use:
 * EBUSY; a quota that children exceed: EINVAL) is FAILED_PRECONDITION
 * naming the file and value; files written before it keep their new value.
 * CPU period and quota are written in the order the kernel accepts from the
 * old values.  Writing the same limits again changes nothing.
 */
int cgroup_limits_write(const struct cgroup_limit_dirs *d, const struct cgroup_limits *lim,
                        struct cleat_error **reterr);

/*
 * Remove cgroup `path` from every hierarchy of the layout (rmdir; absent is
 * fine).  A cgroup that still has processes or children stays: EBUSY,
 * naming the first such directory, after the others were tried.
 */
int cgroup_remove(const struct cgroup_layout *l, const char *path, struct cleat_error **reterr);

/* runc's conversion of v1 cpu.shares [2, 262144] to v2 cpu.weight [1, 10000]. */
uint64_t cgroup_shares_to_weight(uint64_t shares);

#endif
