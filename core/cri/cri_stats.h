/* SPDX-License-Identifier: Apache-2.0 */
/* Stats messages shared by the stats RPCs (cri_stats.c) and the pod metrics (cri_metrics.c). */
#ifndef CLEAT_CORE_CRI_STATS_H
#define CLEAT_CORE_CRI_STATS_H

#include "api.pb-c.h"
#include "arena.h"
#include "stats.h"

/* A container's ContainerStats in the arena; *ret_st (may be NULL) gets the figures behind it. */
int cri_container_stats_msg(struct arena *a, struct runtime_service *rs, const container_record *rec,
                            Runtime__V1__ContainerStats **ret, struct object_stats *ret_st,
                            struct cleat_error **reterr);
/* A pod's PodSandboxStats, with the stats of its containers among `all` (every container record). */
int cri_pod_stats_msg(struct arena *a, struct runtime_service *rs, const sandbox_record *rec,
                      container_record *const *all, size_t n_all, Runtime__V1__PodSandboxStats **ret,
                      struct cleat_error **reterr);
/*
 * Sort container records by their pod, then the pods' ranges are found by
 * bisection (cri_pod_containers): a list of every pod's stats compared each
 * pod with every container, 250,000 string compares at 500 pods.
 */
void cri_sort_by_pod(container_record **all, size_t n);
/* In `all` sorted by cri_sort_by_pod: the first of pod_id's containers (*ret_first), and how many there are. */
size_t cri_pod_containers(container_record *const *all, size_t n, const char *pod_id, size_t *ret_first);
/* CpuUsage / MemoryUsage of figures; NULL when the figures have none. */
Runtime__V1__CpuUsage *cri_cpu_usage(struct arena *a, const struct object_stats *st);
Runtime__V1__MemoryUsage *cri_memory_usage(struct arena *a, const struct object_stats *st);

#endif
