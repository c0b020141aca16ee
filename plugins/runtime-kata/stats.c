/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-kata: a container's usage from the shim's Stats (cgroup v1 or v2
 * metrics, decoded by shim_stats.h).  For a VM runtime that is the only
 * place the figures are: its processes are not in a host cgroup.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "kata.h"
#include "plugin_clock.h"
#include "shim_stats.h"

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
    struct shim_stats m;
    if ((r = shim_stats_decode(k->host, resp->stats, &m, reterr)) == 0) {
        ret->timestamp_ns = now;
        ret->cpu_usage_ns = m.cpu_usage_ns;
        ret->memory_usage_bytes = m.memory_usage_bytes;
        ret->memory_working_set_bytes = m.memory_working_set_bytes;
        ret->memory_rss_bytes = m.memory_rss_bytes;
        ret->memory_page_faults = m.memory_page_faults;
        ret->memory_major_page_faults = m.memory_major_page_faults;
        ret->pids = m.pids;
        if (ret->struct_size >= offsetof(struct cleat_runtime_stats, memory_limit_bytes) + sizeof(uint64_t))
            ret->memory_limit_bytes = m.memory_limit_bytes;
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return r;
}
