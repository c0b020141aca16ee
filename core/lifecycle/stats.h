/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container and pod usage, below the CRI messages (cri_stats.c builds those):
 * cgroup figures (cgroup_stats.h), or the runtime's own when it has the
 * stats op (a VM's usage is not in a host cgroup), a CPU rate in nano-cores,
 * the writable layer's disk use, and a pod's network counters.
 *
 * The CPU rate is the usage difference over the interval since the previous
 * sample of the same object, so the cache keeps one sample per container and
 * pod.  A sample taken less than STATS_MIN_INTERVAL_NS after the previous one
 * reuses the previous rate instead of dividing by a tiny interval; the first
 * sample of an object has no rate (the field is left out, as containerd does).
 *
 * The writable layer is measured through the snapshotter's usage op, which
 * walks the layer; a measurement is reused until it is older than the
 * configured maximum age (stats.writable_layer_max_age_seconds).
 *
 * With a collection period (stats.collection_period_seconds), a thread
 * (stats_collector_start) measures every live container and ready pod each
 * period and keeps the result; stats_container and stats_pod answer with
 * it while it is younger than two periods, and measure in the call only
 * what it has not measured yet (a new container) or an object no longer
 * live; what a call measures is kept as well, for the calls after it.  A
 * list of 500 containers then reads no cgroup file: reading them took
 * ~0.25 ms a container.
 *
 * Thread-safe; no lock is held across a plugin call or a cgroup read.
 */
#ifndef CLEAT_CORE_STATS_H
#define CLEAT_CORE_STATS_H

#include <net/if.h>
#include <stdint.h>

#include <cleat/snapshotter.h>

#include "cgroup_stats.h"
#include "runtime_service.h"

#define STATS_MIN_INTERVAL_NS (100LL * 1000000)

struct stats_cache;

struct stats_cache *stats_cache_new(int64_t writable_layer_max_age_ns);
/* NULL-safe. */
void stats_cache_free(struct stats_cache *c);
/* Drop what is kept of a container or pod (it was removed); the cache shrinks as its objects go. */
void stats_cache_forget(struct stats_cache *c, const char *id);
/* The bytes the cache holds for its entries (for the tests: that they come back after churn). */
size_t stats_cache_bytes(struct stats_cache *c);
/*
 * Note a CPU sample (cumulative ns at ts_ns, CLOCK_REALTIME) of `id`; 1 with
 * the rate in *ret_nano_cores when there is one, else 0.
 */
int stats_cache_cpu_rate(struct stats_cache *c, const char *id, int64_t ts_ns, uint64_t usage_ns,
                         uint64_t *ret_nano_cores);

/* What is known of one container or pod at one moment. */
struct object_stats {
    int64_t timestamp_ns;
    struct cgroup_stats cg; /* cg.have == 0: no cgroup to read (not running, or gone) */
    int has_nano_cores;
    uint64_t nano_cores;
    int has_layer; /* containers: the writable layer was measured */
    struct cleat_usage layer;
    int64_t layer_timestamp_ns;
    const char *layer_mountpoint; /* the snapshotter's root dir (borrowed; lives as long as the daemon) */
};

/* Keep *st as the latest whole measurement of `id` (replacing the one before). */
void stats_cache_keep(struct stats_cache *c, const char *id, const struct object_stats *st);
/* Forget the measurement kept of `id` (its limits changed): the next call measures it. */
void stats_cache_drop_kept(struct stats_cache *c, const char *id);
/* The measurement kept of `id` when it was taken at since_ns or later: 1 and *ret; else 0. */
int stats_cache_kept(struct stats_cache *c, const char *id, int64_t since_ns, struct object_stats *ret);

/*
 * A container's figures; CPU, memory and process ones only while it is
 * created or running: from its runtime when that measures usage itself (the
 * stats op of ABI 1.1, e.g. a VM), else from its host cgroup.  The
 * collector's while they are recent (see above).
 */
int stats_container(struct runtime_service *rs, const container_record *rec, struct object_stats *ret,
                    struct cleat_error **reterr);
/* The same, measured now whatever was kept (the writable layer's figure reused while not too old). */
int stats_measure_container(struct runtime_service *rs, const container_record *rec, struct object_stats *ret,
                            struct cleat_error **reterr);
/*
 * The collector's measurement, taken each period_ns: as stats_measure_container,
 * but the layer is walked again once its figure is older than
 * writable_layer_max_age_seconds less one period, so that what the calls
 * serve until the next round is not too old for them to serve.
 */
int stats_collect_container(struct runtime_service *rs, const container_record *rec, int64_t period_ns,
                            struct object_stats *ret, struct cleat_error **reterr);
/*
 * A ready pod's figures: from its runtime when that measures usage itself
 * (asked with the pod's sandbox id), else its cgroup parent's when the pod
 * has one of its own (a non-empty parent).  When neither gives any (the
 * runtime answers NOT_FOUND, or no parent), *ret is left without them and
 * the caller sums its containers'.  The collector's while they are recent.
 */
int stats_pod(struct runtime_service *rs, const sandbox_record *rec, struct object_stats *ret,
              struct cleat_error **reterr);
/* The same, measured now whatever was kept. */
int stats_measure_pod(struct runtime_service *rs, const sandbox_record *rec, struct object_stats *ret,
                      struct cleat_error **reterr);

/*
 * Start the collector thread of rs (stats.collection_period_seconds; none
 * when it is 0).  Called once the runtime service is open; the thread uses
 * the plugins and the image service, so stats_collector_stop must come
 * before either is freed.  Starting twice is refused with INTERNAL.
 */
int stats_collector_start(struct runtime_service *rs, struct cleat_error **reterr);
/* Stop and join it (its round in progress ends first); harmless when none runs. */
void stats_collector_stop(struct runtime_service *rs);

/* One interface's counters in a pod's network namespace (/proc/net/dev). */
struct net_iface {
    char name[IF_NAMESIZE + 1];
    uint64_t rx_bytes, rx_errors, tx_bytes, tx_errors;
};

/* 1 when the pod is ready and has a network namespace of its own (not the host's): it has counters to read. */
int stats_pod_has_network(const sandbox_record *rec);
/*
 * The interfaces of the pod's pinned network namespace and when they were
 * read (*ret_ts_ns, CLOCK_REALTIME): the collector's reading while it is
 * younger than two periods, else read now (and kept, when a collector runs).
 * NOT_FOUND when the pod has no namespace of its own (host network, or
 * stopped).  *ret is malloc'd.
 */
int stats_pod_network(struct runtime_service *rs, const sandbox_record *rec, struct net_iface **ret, size_t *ret_n,
                      int64_t *ret_ts_ns, struct cleat_error **reterr);
/*
 * The same, read now from a thread that joins the namespace (pod_ns_run_in):
 * the collector's own reading.  A thread per pod per call is why the calls
 * do not do this themselves at every poll.
 */
int stats_measure_pod_network(struct runtime_service *rs, const sandbox_record *rec, struct net_iface **ret,
                              size_t *ret_n, struct cleat_error **reterr);
/* Keep a pod's interfaces (copied) as read at ts_ns; out of memory keeps nothing. */
void stats_cache_keep_net(struct stats_cache *c, const char *id, int64_t ts_ns, const struct net_iface *ifs, size_t n);
/* A malloc'd copy of the interfaces kept of `id` when read at since_ns or later: 1 and *ret...; else 0. */
int stats_cache_net(struct stats_cache *c, const char *id, int64_t since_ns, struct net_iface **ret, size_t *ret_n,
                    int64_t *ret_ts_ns);
/* /proc/net/dev text → interfaces (malloc'd); -EINVAL when a line does not parse. */
int stats_parse_net_dev(const char *text, struct net_iface **ret, size_t *ret_n);

#endif
