/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ListMetricDescriptors, ListPodSandboxMetrics and StreamPodSandboxMetrics: the cAdvisor metrics
 * kubelet serves at /metrics/cadvisor when PodAndContainerStatsFromCRI is on,
 * here for what cleat measures (the same figures as the stats RPCs); and
 * UpdatePodSandboxResources.
 *
 * Every metric carries the labels "id", "name" and "image" (as CRI-O does:
 * kubelet adds the pod's own); network metrics add "interface", filesystem
 * ones "device".  Values are unsigned integers, so seconds are whole seconds.
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

#define RS(ctx) (((struct cri_context *)(ctx))->runtime)

enum metric_id {
    M_CPU_USAGE,
    M_MEM_USAGE,
    M_MEM_WORKING_SET,
    M_MEM_RSS,
    M_PROCESSES,
    M_FS_USAGE,
    M_FS_INODES,
    M_START_TIME,
    M_NET_RX_BYTES,
    M_NET_RX_ERRORS,
    M_NET_TX_BYTES,
    M_NET_TX_ERRORS,
    M_COUNT
};

static const struct {
    const char *name, *help, *extra_label;
    Runtime__V1__MetricType type;
} metrics[M_COUNT] = {
    [M_CPU_USAGE] = {"container_cpu_usage_seconds_total", "Cumulative CPU time consumed in seconds.", NULL,
                     RUNTIME__V1__METRIC_TYPE__COUNTER},
    [M_MEM_USAGE] = {"container_memory_usage_bytes",
                     "Current memory usage in bytes, including all memory regardless of when it was accessed", NULL,
                     RUNTIME__V1__METRIC_TYPE__GAUGE},
    [M_MEM_WORKING_SET] = {"container_memory_working_set_bytes", "Current working set in bytes.", NULL,
                           RUNTIME__V1__METRIC_TYPE__GAUGE},
    [M_MEM_RSS] = {"container_memory_rss", "Size of RSS in bytes.", NULL, RUNTIME__V1__METRIC_TYPE__GAUGE},
    [M_PROCESSES] = {"container_processes", "Number of processes running inside the container.", NULL,
                     RUNTIME__V1__METRIC_TYPE__GAUGE},
    [M_FS_USAGE] = {"container_fs_usage_bytes",
                    "Number of bytes that are consumed by the container on this filesystem.", "device",
                    RUNTIME__V1__METRIC_TYPE__GAUGE},
    [M_FS_INODES] = {"container_fs_inodes_total", "Number of Inodes", "device", RUNTIME__V1__METRIC_TYPE__GAUGE},
    [M_START_TIME] = {"container_start_time_seconds", "Start time of the container since unix epoch in seconds.", NULL,
                      RUNTIME__V1__METRIC_TYPE__GAUGE},
    [M_NET_RX_BYTES] = {"container_network_receive_bytes_total", "Cumulative count of bytes received", "interface",
                        RUNTIME__V1__METRIC_TYPE__COUNTER},
    [M_NET_RX_ERRORS] = {"container_network_receive_errors_total",
                         "Cumulative count of errors encountered while receiving", "interface",
                         RUNTIME__V1__METRIC_TYPE__COUNTER},
    [M_NET_TX_BYTES] = {"container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", "interface",
                        RUNTIME__V1__METRIC_TYPE__COUNTER},
    [M_NET_TX_ERRORS] = {"container_network_transmit_errors_total",
                         "Cumulative count of errors encountered while transmitting", "interface",
                         RUNTIME__V1__METRIC_TYPE__COUNTER},
};

int cri_list_metric_descriptors(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                                struct cleat_error **reterr) {
    struct arena *a = call->arena;
    Runtime__V1__ListMetricDescriptorsResponse *resp = ARENA_NEW(a, Runtime__V1__ListMetricDescriptorsResponse);
    runtime__v1__list_metric_descriptors_response__init(resp);
    resp->descriptors = arena_array(a, M_COUNT, sizeof(*resp->descriptors));
    for (size_t i = 0; i < M_COUNT; i++) {
        Runtime__V1__MetricDescriptor *d = ARENA_NEW(a, Runtime__V1__MetricDescriptor);
        runtime__v1__metric_descriptor__init(d);
        d->name = (char *)metrics[i].name;
        d->help = (char *)metrics[i].help;
        d->label_keys = arena_array(a, 4, sizeof(char *));
        d->label_keys[d->n_label_keys++] = "id";
        d->label_keys[d->n_label_keys++] = "name";
        d->label_keys[d->n_label_keys++] = "image";
        if (metrics[i].extra_label)
            d->label_keys[d->n_label_keys++] = (char *)metrics[i].extra_label;
        resp->descriptors[resp->n_descriptors++] = d;
    }
    *ret = &resp->base;
    return 0;
}

/* A growing list of metrics in the arena. */
struct mlist {
    struct arena *a;
    Runtime__V1__Metric **items;
    size_t n, cap;
    const char *labels[3]; /* id, name, image */
    int64_t ts;
};

static void add(struct mlist *l, enum metric_id id, uint64_t value, const char *extra) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        Runtime__V1__Metric **items = arena_array(l->a, cap, sizeof(*items));
        if (l->n)
            memcpy(items, l->items, l->n * sizeof(*items));
        l->items = items;
        l->cap = cap;
    }
    Runtime__V1__Metric *m = ARENA_NEW(l->a, Runtime__V1__Metric);
    runtime__v1__metric__init(m);
    m->name = (char *)metrics[id].name;
    m->timestamp = l->ts;
    m->metric_type = metrics[id].type;
    m->label_values = arena_array(l->a, 4, sizeof(char *));
    for (size_t i = 0; i < 3; i++)
        m->label_values[m->n_label_values++] = arena_strdup(l->a, l->labels[i] ? l->labels[i] : "");
    if (extra)
        m->label_values[m->n_label_values++] = arena_strdup(l->a, extra);
    m->value = ARENA_NEW(l->a, Runtime__V1__UInt64Value);
    runtime__v1__uint64_value__init(m->value);
    m->value->value = value;
    l->items[l->n++] = m;
}

static void container_metrics(struct mlist *l, const container_record *rec, const Runtime__V1__ContainerStats *cs) {
    if (cs->cpu && cs->cpu->usage_core_nano_seconds)
        add(l, M_CPU_USAGE, cs->cpu->usage_core_nano_seconds->value / 1000000000, NULL);
    if (cs->memory) {
        add(l, M_MEM_USAGE, cs->memory->usage_bytes->value, NULL);
        add(l, M_MEM_WORKING_SET, cs->memory->working_set_bytes->value, NULL);
        if (cs->memory->rss_bytes)
            add(l, M_MEM_RSS, cs->memory->rss_bytes->value, NULL);
    }
    if (cs->writable_layer) {
        add(l, M_FS_USAGE, cs->writable_layer->used_bytes->value, cs->writable_layer->fs_id->mountpoint);
        add(l, M_FS_INODES, cs->writable_layer->inodes_used->value, cs->writable_layer->fs_id->mountpoint);
    }
    if (rec->started_at_ns > 0)
        add(l, M_START_TIME, (uint64_t)rec->started_at_ns / 1000000000, NULL);
}

static Runtime__V1__PodSandboxMetrics *pod_metrics(struct arena *a, const sandbox_record *rec,
                                                   const Runtime__V1__PodSandboxStats *ps, container_record *const *all,
                                                   size_t n_all) {
    Runtime__V1__PodSandboxMetrics *pm = ARENA_NEW(a, Runtime__V1__PodSandboxMetrics);
    runtime__v1__pod_sandbox_metrics__init(pm);
    pm->pod_sandbox_id = arena_strdup(a, rec->id);
    struct mlist pl = {.a = a, .labels = {rec->id, rec->name, ""}, .ts = now_ns()};
    const Runtime__V1__LinuxPodSandboxStats *l = ps->linux;
    if (l->process)
        add(&pl, M_PROCESSES, l->process->process_count->value, NULL);
    for (size_t i = 0; l->network && i < l->network->n_interfaces; i++) {
        const Runtime__V1__NetworkInterfaceUsage *f = l->network->interfaces[i];
        add(&pl, M_NET_RX_BYTES, f->rx_bytes->value, f->name);
        add(&pl, M_NET_RX_ERRORS, f->rx_errors->value, f->name);
        add(&pl, M_NET_TX_BYTES, f->tx_bytes->value, f->name);
        add(&pl, M_NET_TX_ERRORS, f->tx_errors->value, f->name);
    }
    pm->metrics = pl.items;
    pm->n_metrics = pl.n;
    pm->container_metrics = arena_array(a, l->n_containers + 1, sizeof(*pm->container_metrics));
    for (size_t i = 0; i < l->n_containers; i++) {
        const Runtime__V1__ContainerStats *cs = l->containers[i];
        const container_record *crec = NULL;
        for (size_t j = 0; j < n_all && !crec; j++)
            crec = strcmp(all[j]->id, cs->attributes->id) == 0 ? all[j] : NULL;
        if (!crec)
            continue;
        Runtime__V1__ContainerMetrics *cm = ARENA_NEW(a, Runtime__V1__ContainerMetrics);
        runtime__v1__container_metrics__init(cm);
        cm->container_id = arena_strdup(a, crec->id);
        struct mlist cl = {.a = a, .labels = {crec->id, crec->name, crec->image_ref}, .ts = pl.ts};
        container_metrics(&cl, crec, cs);
        cm->metrics = cl.items;
        cm->n_metrics = cl.n;
        pm->container_metrics[pm->n_container_metrics++] = cm;
    }
    return pm;
}

/* The pods' metrics ListPodSandboxMetrics and StreamPodSandboxMetrics answer (of the pods that run), into `out`. */
static int pod_metrics_to(void *ctx, struct cri_items *out, struct cleat_error **reterr) {
    sandbox_record **pods = NULL;
    container_record **all = NULL;
    size_t n_pods = 0, n = 0;
    int r = pod_list(RS(ctx), NULL, &pods, &n_pods, reterr);
    if (r >= 0)
        r = container_list(RS(ctx), NULL, NULL, &all, &n, reterr);
    if (r >= 0)
        cri_sort_by_pod(all, n);
    for (size_t i = 0; r >= 0 && i < n_pods; i++) {
        if (pods[i]->state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
            continue;
        Runtime__V1__PodSandboxStats *ps = NULL;
        struct cleat_error *err = NULL;
        size_t first = 0, own = cri_pod_containers(all, n, pods[i]->id, &first);
        if (cri_pod_stats_msg(out->arena, RS(ctx), pods[i], all + first, own, &ps, &err) >= 0)
            r = cri_items_add(out, &pod_metrics(out->arena, pods[i], ps, all + first, own)->base, reterr);
        else
            log_warning("%s; left out of the pod metrics", error_message(err));
        error_free(err);
    }
    container_records_free(all, n);
    sandbox_records_free(pods, n_pods);
    return r;
}

int cri_list_pod_sandbox_metrics(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                                 struct cleat_error **reterr) {
    struct cri_items it;
    cri_items_for_list(&it, call->arena);
    int r = pod_metrics_to(ctx, &it, reterr);
    Runtime__V1__ListPodSandboxMetricsResponse *resp =
        ARENA_NEW(call->arena, Runtime__V1__ListPodSandboxMetricsResponse);
    runtime__v1__list_pod_sandbox_metrics_response__init(resp);
    if (r >= 0)
        cri_items_into(&it, &resp->base);
    if ((r = cri_items_end(&it, r, reterr)) >= 0)
        *ret = &resp->base;
    return r;
}

int cri_stream_pod_sandbox_metrics(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
                                   struct rpc_stream *stream, struct cleat_error **reterr) {
    struct cri_items it;
    cri_items_for_stream(&it, stream, &runtime__v1__stream_pod_sandbox_metrics_response__descriptor);
    return cri_items_end(&it, pod_metrics_to(ctx, &it, reterr), reterr);
}

int cri_update_pod_sandbox_resources(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
                                     ProtobufCMessage **ret, struct cleat_error **reterr) {
    const Runtime__V1__UpdatePodSandboxResourcesRequest *in = (const void *)req;
    int r = pod_update_resources(RS(ctx), in->pod_sandbox_id, in->overhead, in->resources, reterr);
    if (r < 0)
        return r;
    Runtime__V1__UpdatePodSandboxResourcesResponse *resp =
        ARENA_NEW(call->arena, Runtime__V1__UpdatePodSandboxResourcesResponse);
    runtime__v1__update_pod_sandbox_resources_response__init(resp);
    *ret = &resp->base;
    return 0;
}
