/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A task's resource usage as the CRI reports it, from what a shim's Stats
 * call answers: cgroup v1 or v2 metrics in an Any (a VM runtime reports
 * the guest's cgroup the same way).  The figures are taken as containerd's
 * CRI takes them, and as cleat reads a host cgroup (core/host/cgroup_stats.c):
 *   cpu_usage_ns              v1 cpu.usage.total; v2 cpu.usage_usec * 1000
 *   memory_usage_bytes        v1 memory.usage.usage; v2 memory.usage
 *   memory_working_set_bytes  usage less inactive file pages (v1 total_inactive_file), never below 0
 *   memory_rss_bytes          v1 total_rss; v2 anon
 *   memory_page_faults        v1 total_pg_fault; v2 pgfault
 *   memory_major_page_faults  v1 total_pg_maj_fault; v2 pgmajfault
 *   pids                      pids.current
 * A part the shim left out reads 0, and its SHIM_STATS_HAVE_* bit is clear.
 */
#ifndef CLEAT_KATA_SHIM_STATS_H
#define CLEAT_KATA_SHIM_STATS_H

#include <stdint.h>

#include <cleat/plugin.h>

#include "shimv2.pb-c.h"

#define SHIM_STATS_HAVE_CPU 1u
#define SHIM_STATS_HAVE_MEMORY 2u
#define SHIM_STATS_HAVE_PIDS 4u

struct shim_stats {
    uint32_t have; /* SHIM_STATS_HAVE_* */
    uint64_t cpu_usage_ns;
    uint64_t memory_usage_bytes, memory_working_set_bytes, memory_rss_bytes;
    uint64_t memory_page_faults, memory_major_page_faults;
    uint64_t pids;
    uint64_t memory_limit_bytes; /* 0: no limit */
};

/*
 * Decode StatsResponse.stats into *ret (zeroed first).  Errors: INTERNAL
 * when there are no metrics or they do not parse, UNIMPLEMENTED for a type
 * other than io.containerd.cgroups.v1.Metrics / v2.Metrics (named in the
 * message).  *ret is untouched on failure.
 */
int shim_stats_decode(const struct cleat_host *host, const Shimv2__Any *stats, struct shim_stats *ret,
                      struct cleat_error **reterr);

#endif
