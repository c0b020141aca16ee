/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>

#include "shim_call.h"
#include "shim_stats.h"

static uint64_t less(uint64_t a, uint64_t b) {
    return a > b ? a - b : 0;
}

/*
 * A limit as the metrics carry it: "no limit" is a huge number (cgroup v1's PAGE_COUNTER_MAX pages, v2's "max" read
 * as the largest integer), or 0 when the field is missing; both mean none.
 */
static uint64_t limit_or_none(uint64_t v) {
    return v >= (UINT64_C(1) << 62) ? 0 : v;
}

static void from_v1(const Shimv2__CgroupsV1Metrics *m, struct shim_stats *s) {
    if (m->cpu && m->cpu->usage) {
        s->cpu_usage_ns = m->cpu->usage->total;
        s->have |= SHIM_STATS_HAVE_CPU;
    }
    const Shimv2__CgroupsV1MemoryStat *mem = m->memory;
    if (mem && mem->usage) {
        s->memory_usage_bytes = mem->usage->usage;
        s->memory_working_set_bytes = less(mem->usage->usage, mem->total_inactive_file);
        s->memory_rss_bytes = mem->total_rss;
        s->memory_page_faults = mem->total_pg_fault;
        s->memory_major_page_faults = mem->total_pg_maj_fault;
        s->memory_limit_bytes = limit_or_none(mem->usage->limit);
        s->have |= SHIM_STATS_HAVE_MEMORY;
    }
    if (m->pids) {
        s->pids = m->pids->current;
        s->have |= SHIM_STATS_HAVE_PIDS;
    }
}

static void from_v2(const Shimv2__CgroupsV2Metrics *m, struct shim_stats *s) {
    if (m->cpu) {
        s->cpu_usage_ns = m->cpu->usage_usec * 1000;
        s->have |= SHIM_STATS_HAVE_CPU;
    }
    const Shimv2__CgroupsV2MemoryStat *mem = m->memory;
    if (mem) {
        s->memory_usage_bytes = mem->usage;
        s->memory_working_set_bytes = less(mem->usage, mem->inactive_file);
        s->memory_rss_bytes = mem->anon;
        s->memory_page_faults = mem->pgfault;
        s->memory_major_page_faults = mem->pgmajfault;
        s->memory_limit_bytes = limit_or_none(mem->usage_limit);
        s->have |= SHIM_STATS_HAVE_MEMORY;
    }
    if (m->pids) {
        s->pids = m->pids->current;
        s->have |= SHIM_STATS_HAVE_PIDS;
    }
}

int shim_stats_decode(const struct cleat_host *host, const Shimv2__Any *stats, struct shim_stats *ret,
                      struct cleat_error **reterr) {
    if (!stats)
        return cleat_error_set(host, reterr, CLEAT_STATUS_INTERNAL, EPROTO, "the shim's Stats answer has no metrics");
    struct shim_stats s;
    memset(&s, 0, sizeof(s));
    const char *type = stats->type_url;
    if (shim_type_is(type, SHIM_TYPE_CGROUPS_V1_METRICS)) {
        Shimv2__CgroupsV1Metrics *m = shimv2__cgroups_v1_metrics__unpack(NULL, stats->value.len, stats->value.data);
        if (!m)
            goto malformed;
        from_v1(m, &s);
        shimv2__cgroups_v1_metrics__free_unpacked(m, NULL);
    } else if (shim_type_is(type, SHIM_TYPE_CGROUPS_V2_METRICS)) {
        Shimv2__CgroupsV2Metrics *m = shimv2__cgroups_v2_metrics__unpack(NULL, stats->value.len, stats->value.data);
        if (!m)
            goto malformed;
        from_v2(m, &s);
        shimv2__cgroups_v2_metrics__free_unpacked(m, NULL);
    } else {
        return cleat_error_set(host, reterr, CLEAT_STATUS_UNIMPLEMENTED, ENOTSUP,
                               "the shim's Stats answer has metrics of type '%s', which cleat does not read "
                               "(it reads %s and %s)",
                               type, SHIM_TYPE_CGROUPS_V1_METRICS, SHIM_TYPE_CGROUPS_V2_METRICS);
    }
    *ret = s;
    return 0;
malformed:
    return cleat_error_set(host, reterr, CLEAT_STATUS_INTERNAL, EPROTO, "the shim's Stats answer: '%s' does not parse",
                           type);
}
