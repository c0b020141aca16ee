/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI stats RPCs: ContainerStats, ListContainerStats,
 * StreamContainerStats, PodSandboxStats, ListPodSandboxStats,
 * StreamPodSandboxStats.  The figures come from stats.h; this file only turns
 * them into messages.  A figure the host cannot give (no such controller, no
 * PSI, a stopped container's gone cgroup) is left out, never sent as 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clocks.h"
#include "api.pb-c.h"
#include "cri.h"
#include "cri_convert.h"
#include "cri_items.h"
#include "cri_stats.h"
#include "log.h"
#include "runtime_service.h"
#include "stats.h"

#define RS(ctx) (((struct cri_context *)(ctx))->runtime)

static Runtime__V1__UInt64Value *u64(struct arena *a, uint64_t v) {
    Runtime__V1__UInt64Value *m = ARENA_NEW(a, Runtime__V1__UInt64Value);
    runtime__v1__uint64_value__init(m);
    m->value = v;
    return m;
}

static Runtime__V1__PsiData *psi_data(struct arena *a, const struct cgroup_psi_line *l) {
    if (!l->present)
        return NULL;
    Runtime__V1__PsiData *m = ARENA_NEW(a, Runtime__V1__PsiData);
    runtime__v1__psi_data__init(m);
    m->total = l->total;
    m->avg10 = l->avg10;
    m->avg60 = l->avg60;
    m->avg300 = l->avg300;
    return m;
}

static Runtime__V1__PsiStats *psi(struct arena *a, const struct cgroup_stats *cg, uint32_t bit,
                                  const struct cgroup_psi *p) {
    if (!(cg->have & bit))
        return NULL;
    Runtime__V1__PsiStats *m = ARENA_NEW(a, Runtime__V1__PsiStats);
    runtime__v1__psi_stats__init(m);
    m->some = psi_data(a, &p->some);
    m->full = psi_data(a, &p->full);
    return m;
}

Runtime__V1__CpuUsage *cri_cpu_usage(struct arena *a, const struct object_stats *st) {
    if (!(st->cg.have & CGS_CPU))
        return NULL;
    Runtime__V1__CpuUsage *m = ARENA_NEW(a, Runtime__V1__CpuUsage);
    runtime__v1__cpu_usage__init(m);
    m->timestamp = st->timestamp_ns;
    m->usage_core_nano_seconds = u64(a, st->cg.cpu_usage_ns);
    if (st->has_nano_cores)
        m->usage_nano_cores = u64(a, st->nano_cores);
    m->psi = psi(a, &st->cg, CGS_PSI_CPU, &st->cg.psi_cpu);
    return m;
}

Runtime__V1__MemoryUsage *cri_memory_usage(struct arena *a, const struct object_stats *st) {
    const struct cgroup_stats *cg = &st->cg;
    if (!(cg->have & CGS_MEMORY))
        return NULL;
    Runtime__V1__MemoryUsage *m = ARENA_NEW(a, Runtime__V1__MemoryUsage);
    runtime__v1__memory_usage__init(m);
    m->timestamp = st->timestamp_ns;
    m->working_set_bytes = u64(a, cg->memory_working_set);
    m->usage_bytes = u64(a, cg->memory_usage);
    /* As cAdvisor: what is left under the limit, only when there is one. */
    if (cg->have & CGS_MEMORY_LIMIT)
        m->available_bytes =
            u64(a, cg->memory_limit > cg->memory_working_set ? cg->memory_limit - cg->memory_working_set : 0);
    if (cg->have & CGS_MEMORY_STAT) {
        m->rss_bytes = u64(a, cg->memory_rss);
        m->page_faults = u64(a, cg->page_faults);
        m->major_page_faults = u64(a, cg->major_page_faults);
    }
    m->psi = psi(a, cg, CGS_PSI_MEMORY, &cg->psi_memory);
    return m;
}

static Runtime__V1__IoUsage *io_usage(struct arena *a, const struct object_stats *st) {
    if (!(st->cg.have & CGS_PSI_IO))
        return NULL;
    Runtime__V1__IoUsage *m = ARENA_NEW(a, Runtime__V1__IoUsage);
    runtime__v1__io_usage__init(m);
    m->timestamp = st->timestamp_ns;
    m->psi = psi(a, &st->cg, CGS_PSI_IO, &st->cg.psi_io);
    return m;
}

static Runtime__V1__FilesystemUsage *layer_usage(struct arena *a, const struct object_stats *st) {
    if (!st->has_layer)
        return NULL;
    Runtime__V1__FilesystemUsage *m = ARENA_NEW(a, Runtime__V1__FilesystemUsage);
    runtime__v1__filesystem_usage__init(m);
    m->timestamp = st->layer_timestamp_ns;
    m->fs_id = ARENA_NEW(a, Runtime__V1__FilesystemIdentifier);
    runtime__v1__filesystem_identifier__init(m->fs_id);
    m->fs_id->mountpoint = arena_strdup(a, st->layer_mountpoint ? st->layer_mountpoint : "");
    m->used_bytes = u64(a, st->layer.bytes > 0 ? (uint64_t)st->layer.bytes : 0);
    m->inodes_used = u64(a, st->layer.inodes > 0 ? (uint64_t)st->layer.inodes : 0);
    return m;
}

static Runtime__V1__ContainerAttributes *container_attributes(struct arena *a, const container_record *rec) {
    Runtime__V1__ContainerAttributes *m = ARENA_NEW(a, Runtime__V1__ContainerAttributes);
    runtime__v1__container_attributes__init(m);
    m->id = arena_strdup(a, rec->id);
    m->metadata = ARENA_NEW(a, Runtime__V1__ContainerMetadata);
    runtime__v1__container_metadata__init(m->metadata);
    m->metadata->name = arena_strdup(a, rec->name);
    m->metadata->attempt = rec->attempt;
    m->labels = cri_map_copy(a, &runtime__v1__container_attributes__labels_entry__descriptor,
                             (void *const *)rec->labels, rec->n_labels, &m->n_labels);
    m->annotations = cri_map_copy(a, &runtime__v1__container_attributes__annotations_entry__descriptor,
                                  (void *const *)rec->annotations, rec->n_annotations, &m->n_annotations);
    return m;
}

int cri_container_stats_msg(struct arena *a, struct runtime_service *rs, const container_record *rec,
                            Runtime__V1__ContainerStats **ret, struct object_stats *ret_st,
                            struct cleat_error **reterr) {
    struct object_stats st;
    int r = stats_container(rs, rec, &st, reterr);
    if (r < 0)
        return r;
    Runtime__V1__ContainerStats *m = ARENA_NEW(a, Runtime__V1__ContainerStats);
    runtime__v1__container_stats__init(m);
    m->attributes = container_attributes(a, rec);
    m->cpu = cri_cpu_usage(a, &st);
    m->memory = cri_memory_usage(a, &st);
    m->io = io_usage(a, &st);
    m->writable_layer = layer_usage(a, &st);
    *ret = m;
    if (ret_st)
        *ret_st = st;
    return 0;
}

int cri_container_stats(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                        struct cleat_error **reterr) {
    const Runtime__V1__ContainerStatsRequest *in = (const void *)req;
    container_record *rec = NULL;
    int r = container_get(RS(ctx), in->container_id, &rec, reterr);
    Runtime__V1__ContainerStatsResponse *resp = ARENA_NEW(call->arena, Runtime__V1__ContainerStatsResponse);
    runtime__v1__container_stats_response__init(resp);
    if (r >= 0)
        r = cri_container_stats_msg(call->arena, RS(ctx), rec, &resp->stats, NULL, reterr);
    container_record_free(rec);
    if (r >= 0)
        *ret = &resp->base;
    return r;
}

/* A list goes on without an object whose stats cannot be read (kubelet's summary needs the others); logged. */
/* 1 when an item was made; else 0, its error logged and freed (one bad object does not fail the whole list). */
static int kept(int r, struct cleat_error *err) {
    if (r < 0)
        log_warning("%s; left out of the list", error_message(err));
    error_free(err);
    return r >= 0;
}

static int stats_filter_matches(const Runtime__V1__ContainerStatsFilter *f, const container_record *rec) {
    if (!f)
        return 1;
    return cri_id_match(f->id, rec->id) && cri_id_match(f->pod_sandbox_id, rec->sandbox_id) &&
           cri_labels_match((void *const *)f->label_selector, f->n_label_selector, (void *const *)rec->labels,
                            rec->n_labels);
}

/*
 * The container stats ListContainerStats and StreamContainerStats answer, into `out`.  The records are
 * read into the call's arena, which outlives every page of a stream.
 */
static int container_stats_to(void *ctx, struct arena *call_arena, const Runtime__V1__ContainerStatsFilter *filter,
                              struct cri_items *out, struct cleat_error **reterr) {
    container_record **recs = NULL;
    size_t n = 0;
    int r = filter ? container_list_in(RS(ctx), call_arena, filter->id, filter->pod_sandbox_id, &recs, &n, reterr)
                   : container_list_in(RS(ctx), call_arena, NULL, NULL, &recs, &n, reterr);
    for (size_t i = 0; r >= 0 && i < n; i++) {
        Runtime__V1__ContainerStats *cs = NULL;
        struct cleat_error *err = NULL;
        if (!stats_filter_matches(filter, recs[i]))
            continue;
        if (kept(cri_container_stats_msg(out->arena, RS(ctx), recs[i], &cs, NULL, &err), err))
            r = cri_items_add(out, &cs->base, reterr);
    }
    return r;
}

int cri_list_container_stats(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                             struct cleat_error **reterr) {
    const Runtime__V1__ListContainerStatsRequest *in = (const void *)req;
    struct cri_items it;
    cri_items_for_list(&it, call->arena);
    int r = container_stats_to(ctx, call->arena, in->filter, &it, reterr);
    Runtime__V1__ListContainerStatsResponse *resp = ARENA_NEW(call->arena, Runtime__V1__ListContainerStatsResponse);
    runtime__v1__list_container_stats_response__init(resp);
    if (r >= 0)
        cri_items_into(&it, &resp->base);
    if ((r = cri_items_end(&it, r, reterr)) >= 0)
        *ret = &resp->base;
    return r;
}

int cri_stream_container_stats(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, struct rpc_stream *stream,
                               struct cleat_error **reterr) {
    const Runtime__V1__StreamContainerStatsRequest *in = (const void *)req;
    struct cri_items it;
    cri_items_for_stream(&it, stream, &runtime__v1__stream_container_stats_response__descriptor);
    return cri_items_end(&it, container_stats_to(ctx, call->arena, in->filter, &it, reterr), reterr);
}

/* --- pods ---------------------------------------------------------------------------- */

/* A pod without a cgroup of its own: the sum of its containers'. */
static void add_container(struct object_stats *sum, const struct object_stats *c) {
    const struct cgroup_stats *cg = &c->cg;
    struct cgroup_stats *s = &sum->cg;
    uint32_t add = cg->have & (CGS_CPU | CGS_MEMORY | CGS_MEMORY_STAT | CGS_PIDS);
    s->have |= add;
    s->cpu_usage_ns += (add & CGS_CPU) ? cg->cpu_usage_ns : 0;
    if (add & CGS_MEMORY) {
        s->memory_usage += cg->memory_usage;
        s->memory_working_set += cg->memory_working_set;
    }
    if (add & CGS_MEMORY_STAT) {
        s->memory_rss += cg->memory_rss;
        s->page_faults += cg->page_faults;
        s->major_page_faults += cg->major_page_faults;
    }
    s->pids += (add & CGS_PIDS) ? cg->pids : 0;
    if (c->has_nano_cores) {
        sum->has_nano_cores = 1;
        sum->nano_cores += c->nano_cores;
    }
}

static Runtime__V1__NetworkInterfaceUsage *iface_msg(struct arena *a, const struct net_iface *f) {
    Runtime__V1__NetworkInterfaceUsage *m = ARENA_NEW(a, Runtime__V1__NetworkInterfaceUsage);
    runtime__v1__network_interface_usage__init(m);
    m->name = arena_strdup(a, f->name);
    m->rx_bytes = u64(a, f->rx_bytes);
    m->rx_errors = u64(a, f->rx_errors);
    m->tx_bytes = u64(a, f->tx_bytes);
    m->tx_errors = u64(a, f->tx_errors);
    return m;
}

/*
 * Every interface of the pod's namespace, "lo" too.  The default is eth0 (the
 * CNI convention kubelet assumes), else the first other than lo, else lo: a
 * pod without a network plugin has only lo, and its traffic is still traffic.
 */
static Runtime__V1__NetworkUsage *network_usage(struct arena *a, struct runtime_service *rs,
                                                const sandbox_record *rec) {
    struct net_iface *ifs = NULL;
    size_t n = 0;
    int64_t ts = 0;
    struct cleat_error *err = NULL;
    if (!stats_pod_has_network(rec)) /* host network: nothing of its own, and no error to build */
        return NULL;
    if (stats_pod_network(rs, rec, &ifs, &n, &ts, &err) < 0) {
        error_free(err);
        return NULL;
    }
    Runtime__V1__NetworkUsage *m = ARENA_NEW(a, Runtime__V1__NetworkUsage);
    runtime__v1__network_usage__init(m);
    m->timestamp = ts;
    m->interfaces = arena_array(a, n + 1, sizeof(*m->interfaces));
    size_t def = n;
    for (size_t i = 0; i < n; i++) {
        m->interfaces[m->n_interfaces++] = iface_msg(a, &ifs[i]);
        if (strcmp(ifs[i].name, "eth0") == 0 || (def == n && strcmp(ifs[i].name, "lo") != 0))
            def = i;
    }
    for (size_t i = 0; def == n && i < n; i++)
        def = strcmp(ifs[i].name, "lo") == 0 ? i : def;
    if (def < n)
        m->default_interface = m->interfaces[def];
    free(ifs);
    return m;
}

static Runtime__V1__PodSandboxAttributes *pod_attributes(struct arena *a, const sandbox_record *rec) {
    Runtime__V1__PodSandboxAttributes *m = ARENA_NEW(a, Runtime__V1__PodSandboxAttributes);
    runtime__v1__pod_sandbox_attributes__init(m);
    m->id = arena_strdup(a, rec->id);
    m->metadata = ARENA_NEW(a, Runtime__V1__PodSandboxMetadata);
    runtime__v1__pod_sandbox_metadata__init(m->metadata);
    m->metadata->name = arena_strdup(a, rec->name);
    m->metadata->namespace_ = arena_strdup(a, rec->namespace_);
    m->metadata->uid = arena_strdup(a, rec->uid);
    m->metadata->attempt = rec->attempt;
    m->labels = cri_map_copy(a, &runtime__v1__pod_sandbox_attributes__labels_entry__descriptor,
                             (void *const *)rec->labels, rec->n_labels, &m->n_labels);
    m->annotations = cri_map_copy(a, &runtime__v1__pod_sandbox_attributes__annotations_entry__descriptor,
                                  (void *const *)rec->annotations, rec->n_annotations, &m->n_annotations);
    return m;
}

static int by_pod(const void *x, const void *y) {
    const container_record *const *a = x, *const *b = y;
    return strcmp((*a)->sandbox_id, (*b)->sandbox_id);
}

void cri_sort_by_pod(container_record **all, size_t n) {
    if (n > 1)
        qsort(all, n, sizeof(*all), by_pod);
}

size_t cri_pod_containers(container_record *const *all, size_t n, const char *pod_id, size_t *ret_first) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(all[mid]->sandbox_id, pod_id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < n && strcmp(all[end]->sandbox_id, pod_id) == 0)
        end++;
    *ret_first = lo;
    return end - lo;
}

int cri_pod_stats_msg(struct arena *a, struct runtime_service *rs, const sandbox_record *rec,
                      container_record *const *all, size_t n_all, Runtime__V1__PodSandboxStats **ret,
                      struct cleat_error **reterr) {
    struct object_stats pod, sum = {.timestamp_ns = now_ns()};
    int r = stats_pod(rs, rec, &pod, reterr);
    if (r < 0)
        return r;
    Runtime__V1__LinuxPodSandboxStats *l = ARENA_NEW(a, Runtime__V1__LinuxPodSandboxStats);
    runtime__v1__linux_pod_sandbox_stats__init(l);
    l->containers = arena_array(a, n_all + 1, sizeof(*l->containers));
    for (size_t i = 0; i < n_all; i++) {
        if (strcmp(all[i]->sandbox_id, rec->id) != 0)
            continue;
        struct object_stats cst;
        struct cleat_error *err = NULL;
        /* One container whose stats cannot be read must not take its whole pod out of kubelet's summary. */
        if (cri_container_stats_msg(a, rs, all[i], &l->containers[l->n_containers], &cst, &err) < 0) {
            log_warning("pod %s: no stats for container %s: %s", rec->id, all[i]->id, error_message(err));
            error_free(err);
            continue;
        }
        l->n_containers++;
        add_container(&sum, &cst);
    }
    const struct object_stats *use = (pod.cg.have & CGS_CPU) ? &pod : &sum;
    l->cpu = cri_cpu_usage(a, use);
    l->memory = cri_memory_usage(a, (pod.cg.have & CGS_MEMORY) ? &pod : &sum);
    l->io = io_usage(a, &pod);
    const struct object_stats *procs = (pod.cg.have & CGS_PIDS) ? &pod : &sum;
    if (procs->cg.have & CGS_PIDS) {
        l->process = ARENA_NEW(a, Runtime__V1__ProcessUsage);
        runtime__v1__process_usage__init(l->process);
        l->process->timestamp = procs->timestamp_ns;
        l->process->process_count = u64(a, procs->cg.pids);
    }
    l->network = network_usage(a, rs, rec);
    Runtime__V1__PodSandboxStats *m = ARENA_NEW(a, Runtime__V1__PodSandboxStats);
    runtime__v1__pod_sandbox_stats__init(m);
    m->attributes = pod_attributes(a, rec);
    m->linux = l;
    *ret = m;
    return 0;
}

int cri_pod_sandbox_stats(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                          struct cleat_error **reterr) {
    const Runtime__V1__PodSandboxStatsRequest *in = (const void *)req;
    sandbox_record *rec = NULL;
    container_record **all = NULL;
    size_t n = 0;
    int r = pod_get(RS(ctx), in->pod_sandbox_id, &rec, reterr);
    if (r >= 0)
        r = container_list(RS(ctx), NULL, rec->id, &all, &n, reterr);
    Runtime__V1__PodSandboxStatsResponse *resp = ARENA_NEW(call->arena, Runtime__V1__PodSandboxStatsResponse);
    runtime__v1__pod_sandbox_stats_response__init(resp);
    if (r >= 0)
        r = cri_pod_stats_msg(call->arena, RS(ctx), rec, all, n, &resp->stats, reterr);
    container_records_free(all, n);
    sandbox_record_free(rec);
    if (r >= 0)
        *ret = &resp->base;
    return r;
}

/* As containerd: stats of the pods that run; a stopped pod has nothing to measure. */
static int pod_stats_wanted(const Runtime__V1__PodSandboxStatsFilter *f, const sandbox_record *p) {
    return p->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY &&
           (!f || (cri_id_match(f->id, p->id) && cri_labels_match((void *const *)f->label_selector, f->n_label_selector,
                                                                  (void *const *)p->labels, p->n_labels)));
}

/* The pod stats ListPodSandboxStats and StreamPodSandboxStats answer, into `out`; records as container_stats_to. */
static int pod_stats_to(void *ctx, struct arena *call_arena, const Runtime__V1__PodSandboxStatsFilter *filter,
                        struct cri_items *out, struct cleat_error **reterr) {
    sandbox_record **pods = NULL;
    container_record **all = NULL;
    size_t n_pods = 0, n = 0;
    int r = pod_list_in(RS(ctx), call_arena, filter ? filter->id : NULL, &pods, &n_pods, reterr);
    /* Every container when every pod is asked for; else only the one pod's (the filter's usual case). */
    const char *pod_prefix = n_pods == 1 ? pods[0]->id : NULL;
    if (r >= 0)
        r = container_list_in(RS(ctx), call_arena, NULL, pod_prefix, &all, &n, reterr);
    if (r >= 0)
        cri_sort_by_pod(all, n);
    for (size_t i = 0; r >= 0 && i < n_pods; i++) {
        Runtime__V1__PodSandboxStats *ps = NULL;
        struct cleat_error *err = NULL;
        size_t first = 0, own = cri_pod_containers(all, n, pods[i]->id, &first);
        if (pod_stats_wanted(filter, pods[i]) &&
            kept(cri_pod_stats_msg(out->arena, RS(ctx), pods[i], all + first, own, &ps, &err), err))
            r = cri_items_add(out, &ps->base, reterr);
    }
    return r;
}

int cri_list_pod_sandbox_stats(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                               struct cleat_error **reterr) {
    const Runtime__V1__ListPodSandboxStatsRequest *in = (const void *)req;
    struct cri_items it;
    cri_items_for_list(&it, call->arena);
    int r = pod_stats_to(ctx, call->arena, in->filter, &it, reterr);
    Runtime__V1__ListPodSandboxStatsResponse *resp = ARENA_NEW(call->arena, Runtime__V1__ListPodSandboxStatsResponse);
    runtime__v1__list_pod_sandbox_stats_response__init(resp);
    if (r >= 0)
        cri_items_into(&it, &resp->base);
    if ((r = cri_items_end(&it, r, reterr)) >= 0)
        *ret = &resp->base;
    return r;
}

int cri_stream_pod_sandbox_stats(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
                                 struct rpc_stream *stream, struct cleat_error **reterr) {
    const Runtime__V1__StreamPodSandboxStatsRequest *in = (const void *)req;
    struct cri_items it;
    cri_items_for_stream(&it, stream, &runtime__v1__stream_pod_sandbox_stats_response__descriptor);
    return cri_items_end(&it, pod_stats_to(ctx, call->arena, in->filter, &it, reterr), reterr);
}
