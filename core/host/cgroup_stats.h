/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading a cgroup's usage: CPU, memory, processes and pressure (PSI), from
 * cgroup v1 controller directories, a cgroup2 directory, or both (a hybrid
 * host's v1 controllers plus its cgroup2 mount, which has the PSI files).
 *
 * Every reader takes directories, not a layout, so a test can point it at
 * fixture files or at a cgroup it made.  A file that is not there (a
 * controller the hierarchy lacks, a kernel without PSI) leaves its figure
 * "not available" (its CGS_* bit clear); it is not an error.
 *
 * The figures are what kubelet and cAdvisor mean by them:
 *   cpu_usage_ns      v1 cpuacct.usage; v2 cpu.stat usage_usec * 1000
 *   memory_usage      v1 memory.usage_in_bytes; v2 memory.current
 *   working set       usage - inactive file (v1 memory.stat total_inactive_file,
 *                     v2 inactive_file), 0 when that would be negative
 *   rss               v1 total_rss; v2 anon
 *   page faults       v1 total_pgfault/total_pgmajfault; v2 pgfault/pgmajfault
 *   memory_limit      v1 memory.limit_in_bytes, v2 memory.max; only when set
 *   pids              pids.current; else the lines of cgroup.procs (this cgroup only)
 */
#ifndef CLEAT_CORE_CGROUP_STATS_H
#define CLEAT_CORE_CGROUP_STATS_H

#include <stdint.h>

#include "cgroups.h"
#include "error.h"

#define CGS_CPU (1u << 0)
#define CGS_MEMORY (1u << 1)      /* memory_usage and memory_working_set */
#define CGS_MEMORY_STAT (1u << 2) /* memory_rss, page_faults, major_page_faults */
#define CGS_MEMORY_LIMIT (1u << 3)
#define CGS_PIDS (1u << 4)
#define CGS_PSI_CPU (1u << 5)
#define CGS_PSI_MEMORY (1u << 6)
#define CGS_PSI_IO (1u << 7)

/* One PSI line: "some avg10=0.00 avg60=0.00 avg300=0.00 total=0". */
struct cgroup_psi_line {
    int present;
    double avg10, avg60, avg300;
    uint64_t total; /* microseconds stalled */
};

struct cgroup_psi {
    struct cgroup_psi_line some, full;
};

struct cgroup_stats {
    uint32_t have; /* CGS_* bits of the figures read */
    uint64_t cpu_usage_ns;
    uint64_t memory_usage, memory_working_set, memory_rss, memory_limit;
    uint64_t page_faults, major_page_faults;
    uint64_t pids;
    struct cgroup_psi psi_cpu, psi_memory, psi_io;
};

/* Where one cgroup is in each hierarchy; NULL where there is none. */
struct cgroup_dirs {
    char *cpuacct, *memory, *pids; /* v1 controller directories */
    char *v2;                      /* the cgroup2 directory */
};

/*
 * The directories of hierarchy-relative cgroup `path` ("/kubepods/pod1/c1")
 * on this layout: the v1 cpuacct, memory and pids hierarchies, and the
 * cgroup2 mount (pure v2 or hybrid).  Names only; they may not exist.
 */
int cgroup_dirs_of(const struct cgroup_layout *l, const char *path, struct cgroup_dirs *ret,
                   struct cleat_error **reterr);
void cgroup_dirs_clear(struct cgroup_dirs *d);

/*
 * Read what the directories give: v1 controllers first, then the cgroup2
 * directory for anything still missing (on a hybrid host: PSI).  NOT_FOUND
 * when none of the directories exists (no such cgroup, or it is gone).
 */
int cgroup_stats_read(const struct cgroup_dirs *dirs, struct cgroup_stats *ret, struct cleat_error **reterr);

/* --- parsers, exposed for the unit tests ----------------------------------------- */

/* The value of `key` in "key value" lines (memory.stat, cpu.stat); 0 or -ENOENT. */
int cgroup_parse_keyed(const char *text, const char *key, uint64_t *ret);
/* A *.pressure file; 0, or -EINVAL when it has no "some" line. */
int cgroup_parse_psi(const char *text, struct cgroup_psi *ret);
/* A single number, or "max" (→ UINT64_MAX); 0 or -EINVAL. */
int cgroup_parse_u64(const char *text, uint64_t *ret);

#endif
