/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-kata: a container's or a pod's usage from the shim's Stats, which
 * answers the cgroup metrics of the task as containerd's cgroups packages
 * define them: v1 (io.containerd.cgroups.v1.Metrics) or v2
 * (io.containerd.cgroups.v2.Metrics).  For a VM runtime that is the only
 * place the figures are: its processes are not in a host cgroup.
 */
#include <errno.h>
#include <string.h>

#include "kata.h"
#include "plugin_clock.h"

static void from_v1(const Shimv2__CgroupsV1Metrics *m, struct cleat_runtime_stats *ret) {
    if (m->cpu && m->cpu->usage)
        ret->cpu_usage_ns = m->cpu->usage->total;
    if (m->memory) {
        const Shimv2__CgroupsV1MemoryStat *mem = m->memory;
        uint64_t usage = mem->usage ? mem->usage->usage : 0;
        ret->memory_usage_bytes = usage;
        ret->memory_working_set_bytes = usage > mem->total_inactive_file ? usage - mem->total_inactive_file : 0;
        ret->memory_rss_bytes = mem->total_rss;
        ret->memory_page_faults = mem->total_pg_fault;
        ret->memory_major_page_faults = mem->total_pg_maj_fault;
    }
    if (m->pids)
        ret->pids = m->pids->current;
}

static void from_v2(const Shimv2__CgroupsV2Metrics *m, struct cleat_runtime_stats *ret) {
    if (m->cpu)
        ret->cpu_usage_ns = m->cpu->usage_usec * 1000;
    if (m->memory) {
        const Shimv2__CgroupsV2MemoryStat *mem = m->memory;
        ret->memory_usage_bytes = mem->usage;
        ret->memory_working_set_bytes = mem->usage > mem->inactive_file ? mem->usage - mem->inactive_file : 0;
        ret->memory_rss_bytes = mem->anon;
        ret->memory_page_faults = mem->pgfault;
        ret->memory_major_page_faults = mem->pgmajfault;
    }
    if (m->pids)
        ret->pids = m->pids->current;
}

int kata_stats(void *instance, const char *id, struct cleat_runtime_stats *ret, struct cleat_error **reterr) {
    struct kata *k = instance;
    struct kata_task *t = NULL;
    int r = kata_task_lookup(k, id, NULL, &t, reterr);
    if (r < 0)
        return r;
    pthread_mutex_lock(&k->lock);
    int stopped = t->exited || t->pod->lost;
    pthread_mutex_unlock(&k->lock);
    if (strcmp(t->id, t->pod->id) == 0) {
        /*
         * The sandbox task is the pod's pause (or its VM's agent side), not the whole pod: the pod's usage is its
         * containers' sum, which the core makes when the sandbox answers NOT_FOUND.
         */
        kata_task_put(k, t);
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT,
                               "pod '%s': its usage is the sum of its containers'", id);
    }
    if (stopped) {
        kata_task_put(k, t);
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_NOT_FOUND, ESRCH, "container '%s' has stopped", id);
    }
    Shimv2__StatsRequest req = SHIMV2__STATS_REQUEST__INIT;
    req.id = t->id;
    Shimv2__StatsResponse *resp = NULL;
    int64_t now = plugin_realtime_ns();
    r = kata_call(k, t, "Stats", &req.base, &shimv2__stats_response__descriptor, (ProtobufCMessage **)&resp, reterr);
    kata_task_put(k, t);
    if (r < 0)
        return r;
    const Shimv2__Any *any = resp->stats;
    const char *type = any && any->type_url ? any->type_url : "";
    ret->timestamp_ns = now;
    if (shim_type_is(type, SHIM_TYPE_CGROUPS_V1_METRICS)) {
        Shimv2__CgroupsV1Metrics *m = shimv2__cgroups_v1_metrics__unpack(NULL, any->value.len, any->value.data);
        if (m) {
            from_v1(m, ret);
            shimv2__cgroups_v1_metrics__free_unpacked(m, NULL);
        } else {
            r = -EPROTO;
        }
    } else if (shim_type_is(type, SHIM_TYPE_CGROUPS_V2_METRICS)) {
        Shimv2__CgroupsV2Metrics *m = shimv2__cgroups_v2_metrics__unpack(NULL, any->value.len, any->value.data);
        if (m) {
            from_v2(m, ret);
            shimv2__cgroups_v2_metrics__free_unpacked(m, NULL);
        } else {
            r = -EPROTO;
        }
    } else {
        r = -EPROTONOSUPPORT;
    }
    if (r < 0)
        r = cleat_error_set(k->host, reterr, CLEAT_STATUS_INTERNAL, -r, "container '%s': the shim's stats are %s '%s'",
                            id, r == -EPROTO ? "not a valid" : "of an unknown type", type);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return r;
}
