/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI pod sandbox RPCs: RunPodSandbox, StopPodSandbox,
 * RemovePodSandbox, PodSandboxStatus, ListPodSandbox and StreamPodSandboxes.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "cri.h"
#include "cri_convert.h"
#include "cri_items.h"
#include "heap.h"
#include "pod_ns.h"
#include "runtime_service.h"
#include "spec.h"

#define RS(ctx) (((struct cri_context *)(ctx))->runtime)

int cri_run_pod_sandbox(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                        struct cleat_error **reterr) {
    const Runtime__V1__RunPodSandboxRequest *in = (const void *)req;
    char id[65];
    /* Security settings cleat cannot apply are refused, not dropped. */
    int r = spec_check_pod(in->config, NULL, reterr);
    if (r >= 0)
        r = pod_run(RS(ctx), in->config, in->runtime_handler, id, reterr);
    if (r < 0)
        return r;
    Runtime__V1__RunPodSandboxResponse *resp = ARENA_NEW(call->arena, Runtime__V1__RunPodSandboxResponse);
    runtime__v1__run_pod_sandbox_response__init(resp);
    resp->pod_sandbox_id = arena_strdup(call->arena, id);
    *ret = &resp->base;
    return 0;
}

int cri_stop_pod_sandbox(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                         struct cleat_error **reterr) {
    const Runtime__V1__StopPodSandboxRequest *in = (const void *)req;
    int r = pod_stop(RS(ctx), in->pod_sandbox_id, reterr);
    if (r < 0)
        return r;
    Runtime__V1__StopPodSandboxResponse *resp = ARENA_NEW(call->arena, Runtime__V1__StopPodSandboxResponse);
    runtime__v1__stop_pod_sandbox_response__init(resp);
    *ret = &resp->base;
    return 0;
}

int cri_remove_pod_sandbox(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                           struct cleat_error **reterr) {
    const Runtime__V1__RemovePodSandboxRequest *in = (const void *)req;
    int r = pod_remove(RS(ctx), in->pod_sandbox_id, reterr);
    if (r < 0)
        return r;
    /* What the pod and its containers held (records, caches, buffers) is free now, and kept mapped: hand it back. */
    heap_give_back();
    Runtime__V1__RemovePodSandboxResponse *resp = ARENA_NEW(call->arena, Runtime__V1__RemovePodSandboxResponse);
    runtime__v1__remove_pod_sandbox_response__init(resp);
    *ret = &resp->base;
    return 0;
}

static Runtime__V1__PodSandboxMetadata *metadata(struct arena *a, const sandbox_record *rec) {
    Runtime__V1__PodSandboxMetadata *m = ARENA_NEW(a, Runtime__V1__PodSandboxMetadata);
    runtime__v1__pod_sandbox_metadata__init(m);
    m->name = arena_strdup(a, rec->name);
    m->namespace_ = arena_strdup(a, rec->namespace_);
    m->uid = arena_strdup(a, rec->uid);
    m->attempt = rec->attempt;
    return m;
}

static char *pod_verbose(struct arena *a, struct runtime_service *rs, const sandbox_record *rec,
                         const Runtime__V1__PodSandboxConfig *cfg) {
    char *dir = pod_dir(rs, rec->id);
    json_t *ns = json_object();
    static const struct {
        uint32_t bit;
        const char *name;
    } pins[] = {{POD_NS_NET, "net"}, {POD_NS_IPC, "ipc"}, {POD_NS_UTS, "uts"}};
    for (size_t i = 0; dir && i < 3; i++)
        if ((rec->pinned_namespaces & pins[i].bit) && rec->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
            json_object_set_new(ns, pins[i].name, json_sprintf("%s/ns/%s", dir, pins[i].name));
    json_t *info =
        json_pack("{s:s, s:I, s:s, s:s?, s:o, s:b, s:s?}", "id", rec->id, "pid", (json_int_t)pod_pause_pid(rs, rec),
                  "runtimeHandler", rec->runtime_handler, "stateDir", dir, "namespaces", ns, "sharedPid",
                  (int)rec->shared_pid, "cgroupParent", cfg && cfg->linux ? cfg->linux->cgroup_parent : NULL);
    free(dir);
    char *text = info ? json_dumps(info, JSON_COMPACT) : NULL;
    json_decref(info);
    return arena_adopt(a, text, "{}");
}

Runtime__V1__PodSandboxStatus *cri_pod_status_build(struct arena *a, const sandbox_record *rec,
                                                    Runtime__V1__PodSandboxConfig **ret_cfg) {
    Runtime__V1__PodSandboxConfig *cfg = (Runtime__V1__PodSandboxConfig *)cri_unpack_to_arena(
        a, &runtime__v1__pod_sandbox_config__descriptor, rec->cri_config.len, rec->cri_config.data);
    if (ret_cfg)
        *ret_cfg = cfg;
    Runtime__V1__PodSandboxStatus *st = ARENA_NEW(a, Runtime__V1__PodSandboxStatus);
    runtime__v1__pod_sandbox_status__init(st);
    st->id = arena_strdup(a, rec->id);
    st->metadata = metadata(a, rec);
    st->state = rec->state;
    st->created_at = rec->created_at_ns;
    st->runtime_handler = arena_strdup(a, rec->runtime_handler);
    st->labels = cri_map_copy(a, &runtime__v1__pod_sandbox_status__labels_entry__descriptor, (void *const *)rec->labels,
                              rec->n_labels, &st->n_labels);
    st->annotations = cri_map_copy(a, &runtime__v1__pod_sandbox_status__annotations_entry__descriptor,
                                   (void *const *)rec->annotations, rec->n_annotations, &st->n_annotations);
    st->network = ARENA_NEW(a, Runtime__V1__PodSandboxNetworkStatus);
    runtime__v1__pod_sandbox_network_status__init(st->network);
    st->network->ip = arena_strdup(a, rec->n_ips ? rec->ips[0] : "");
    if (rec->n_ips > 1) {
        st->network->n_additional_ips = rec->n_ips - 1;
        st->network->additional_ips = arena_array(a, rec->n_ips, sizeof(*st->network->additional_ips));
        for (size_t i = 1; i < rec->n_ips; i++) {
            Runtime__V1__PodIP *ip = ARENA_NEW(a, Runtime__V1__PodIP);
            runtime__v1__pod_ip__init(ip);
            ip->ip = arena_strdup(a, rec->ips[i]);
            st->network->additional_ips[i - 1] = ip;
        }
    }
    st->linux = ARENA_NEW(a, Runtime__V1__LinuxPodSandboxStatus);
    runtime__v1__linux_pod_sandbox_status__init(st->linux);
    st->linux->namespaces = ARENA_NEW(a, Runtime__V1__Namespace);
    runtime__v1__namespace__init(st->linux->namespaces);
    if (cfg && cfg->linux && cfg->linux->security_context && cfg->linux->security_context->namespace_options) {
        st->linux->namespaces->options = cfg->linux->security_context->namespace_options;
    } else {
        st->linux->namespaces->options = ARENA_NEW(a, Runtime__V1__NamespaceOption);
        runtime__v1__namespace_option__init(st->linux->namespaces->options);
    }
    return st;
}

int cri_pod_sandbox_status(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                           struct cleat_error **reterr) {
    const Runtime__V1__PodSandboxStatusRequest *in = (const void *)req;
    struct arena *a = call->arena;
    sandbox_record *rec = NULL;
    int r = pod_get(RS(ctx), in->pod_sandbox_id, &rec, reterr);
    if (r < 0)
        return r;
    Runtime__V1__PodSandboxConfig *cfg = NULL;
    Runtime__V1__PodSandboxStatus *st = cri_pod_status_build(a, rec, &cfg);
    Runtime__V1__PodSandboxStatusResponse *resp = ARENA_NEW(a, Runtime__V1__PodSandboxStatusResponse);
    runtime__v1__pod_sandbox_status_response__init(resp);
    resp->status = st;
    if (in->verbose) {
        resp->n_info = 1;
        resp->info = cri_info_entry(a, &runtime__v1__pod_sandbox_status_response__info_entry__descriptor,
                                    pod_verbose(a, RS(ctx), rec, cfg));
    }
    sandbox_record_free(rec);
    *ret = &resp->base;
    return 0;
}

static int pod_matches(const Runtime__V1__PodSandboxFilter *f, const sandbox_record *rec) {
    if (!f)
        return 1;
    if (!cri_id_match(f->id, rec->id))
        return 0;
    if (f->state && (uint32_t)f->state->state != rec->state)
        return 0;
    return cri_labels_match((void *const *)f->label_selector, f->n_label_selector, (void *const *)rec->labels,
                            rec->n_labels);
}

static Runtime__V1__PodSandbox *pod_message(struct arena *a, const sandbox_record *rec) {
    Runtime__V1__PodSandbox *p = ARENA_NEW(a, Runtime__V1__PodSandbox);
    runtime__v1__pod_sandbox__init(p);
    p->id = arena_strdup(a, rec->id);
    p->metadata = metadata(a, rec);
    p->state = rec->state;
    p->created_at = rec->created_at_ns;
    p->runtime_handler = arena_strdup(a, rec->runtime_handler);
    p->labels = cri_map_copy(a, &runtime__v1__pod_sandbox__labels_entry__descriptor, (void *const *)rec->labels,
                             rec->n_labels, &p->n_labels);
    p->annotations = cri_map_copy(a, &runtime__v1__pod_sandbox__annotations_entry__descriptor,
                                  (void *const *)rec->annotations, rec->n_annotations, &p->n_annotations);
    return p;
}

/* The pods ListPodSandbox and StreamPodSandboxes answer, into `out`. */
static int pods_to(void *ctx, const Runtime__V1__PodSandboxFilter *filter, struct cri_items *out,
                   struct cleat_error **reterr) {
    sandbox_record **recs = NULL;
    size_t n = 0;
    int r = pod_list(RS(ctx), filter ? filter->id : NULL, &recs, &n, reterr);
    for (size_t i = 0; r >= 0 && i < n; i++)
        if (pod_matches(filter, recs[i]))
            r = cri_items_add(out, &pod_message(out->arena, recs[i])->base, reterr);
    sandbox_records_free(recs, n);
    return r;
}

int cri_list_pod_sandbox(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                         struct cleat_error **reterr) {
    const Runtime__V1__ListPodSandboxRequest *in = (const void *)req;
    struct cri_items it;
    cri_items_for_list(&it, call->arena);
    int r = pods_to(ctx, in->filter, &it, reterr);
    Runtime__V1__ListPodSandboxResponse *resp = ARENA_NEW(call->arena, Runtime__V1__ListPodSandboxResponse);
    runtime__v1__list_pod_sandbox_response__init(resp);
    if (r >= 0)
        cri_items_into(&it, &resp->base);
    if ((r = cri_items_end(&it, r, reterr)) >= 0)
        *ret = &resp->base;
    return r;
}

int cri_stream_pod_sandboxes(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, struct rpc_stream *stream,
                             struct cleat_error **reterr) {
    const Runtime__V1__StreamPodSandboxesRequest *in = (const void *)req;
    struct cri_items it;
    cri_items_for_stream(&it, stream, &runtime__v1__stream_pod_sandboxes_response__descriptor);
    return cri_items_end(&it, pods_to(ctx, in->filter, &it, reterr), reterr);
}
