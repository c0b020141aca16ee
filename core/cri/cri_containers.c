/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI container RPCs: CreateContainer, StartContainer, StopContainer,
 * RemoveContainer, ListContainers, StreamContainers, ContainerStatus,
 * UpdateContainerResources, ReopenContainerLog, ExecSync.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "cri.h"
#include "cri_convert.h"
#include "cri_items.h"
#include "runtime_service.h"
#include "spec.h"

#define RS(ctx) (((struct cri_context *)(ctx))->runtime)

/* Responses without fields share one shape: init the message of `desc` in the arena. */
static ProtobufCMessage *empty(struct arena *a, const ProtobufCMessageDescriptor *desc) {
    ProtobufCMessage *m = arena_alloc(a, desc->sizeof_message);
    protobuf_c_message_init(desc, m);
    return m;
}

int cri_create_container(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                         struct cleat_error **reterr) {
    const Runtime__V1__CreateContainerRequest *in = (const void *)req;
    char id[65];
    /* What cleat cannot apply is refused before anything is made (spec_build checks it again). */
    int r = spec_check_container(in->config, NULL, reterr);
    if (r >= 0)
        r = container_create(RS(ctx), in->pod_sandbox_id, in->config, id, reterr);
    if (r < 0)
        return r;
    Runtime__V1__CreateContainerResponse *resp = ARENA_NEW(call->arena, Runtime__V1__CreateContainerResponse);
    runtime__v1__create_container_response__init(resp);
    resp->container_id = arena_strdup(call->arena, id);
    *ret = &resp->base;
    return 0;
}

int cri_start_container(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                        struct cleat_error **reterr) {
    const Runtime__V1__StartContainerRequest *in = (const void *)req;
    int r = container_start(RS(ctx), in->container_id, reterr);
    if (r >= 0)
        *ret = empty(call->arena, &runtime__v1__start_container_response__descriptor);
    return r;
}

int cri_stop_container(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                       struct cleat_error **reterr) {
    const Runtime__V1__StopContainerRequest *in = (const void *)req;
    int r = container_stop(RS(ctx), in->container_id, in->timeout, reterr);
    if (r >= 0)
        *ret = empty(call->arena, &runtime__v1__stop_container_response__descriptor);
    return r;
}

int cri_remove_container(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                         struct cleat_error **reterr) {
    const Runtime__V1__RemoveContainerRequest *in = (const void *)req;
    int r = container_remove(RS(ctx), in->container_id, reterr);
    if (r >= 0)
        *ret = empty(call->arena, &runtime__v1__remove_container_response__descriptor);
    return r;
}

int cri_reopen_container_log(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                             struct cleat_error **reterr) {
    const Runtime__V1__ReopenContainerLogRequest *in = (const void *)req;
    int r = container_reopen_log(RS(ctx), in->container_id, reterr);
    if (r >= 0)
        *ret = empty(call->arena, &runtime__v1__reopen_container_log_response__descriptor);
    return r;
}

int cri_update_container_resources(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
                                   ProtobufCMessage **ret, struct cleat_error **reterr) {
    const Runtime__V1__UpdateContainerResourcesRequest *in = (const void *)req;
    int r = container_update_resources(RS(ctx), in->container_id, in->linux, reterr);
    if (r >= 0)
        *ret = empty(call->arena, &runtime__v1__update_container_resources_response__descriptor);
    return r;
}

int cri_exec_sync(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                  struct cleat_error **reterr) {
    const Runtime__V1__ExecSyncRequest *in = (const void *)req;
    struct exec_sync_result res = {0};
    int r = container_exec_sync(RS(ctx), in->container_id, in->cmd, in->n_cmd, in->timeout, &res, reterr);
    if (r < 0)
        return r;
    Runtime__V1__ExecSyncResponse *resp = ARENA_NEW(call->arena, Runtime__V1__ExecSyncResponse);
    runtime__v1__exec_sync_response__init(resp);
    resp->stdout.len = res.out_len;
    resp->stdout.data = (uint8_t *)arena_adopt(call->arena, res.out, "");
    resp->stderr.len = res.err_len;
    resp->stderr.data = (uint8_t *)arena_adopt(call->arena, res.err, "");
    resp->exit_code = res.exit_code;
    *ret = &resp->base;
    return 0;
}

static Runtime__V1__ContainerConfig *config_of(struct arena *a, const container_record *rec) {
    return (Runtime__V1__ContainerConfig *)cri_unpack_to_arena(a, &runtime__v1__container_config__descriptor,
                                                               rec->cri_config.len, rec->cri_config.data);
}

static Runtime__V1__ContainerMetadata *metadata(struct arena *a, const container_record *rec) {
    Runtime__V1__ContainerMetadata *m = ARENA_NEW(a, Runtime__V1__ContainerMetadata);
    runtime__v1__container_metadata__init(m);
    m->name = arena_strdup(a, rec->name);
    m->attempt = rec->attempt;
    return m;
}

static Runtime__V1__ImageSpec *image_spec(struct arena *a, const container_record *rec,
                                          const Runtime__V1__ContainerConfig *cfg) {
    Runtime__V1__ImageSpec *s;
    if (cfg && cfg->image) {
        s = cfg->image;
    } else {
        s = ARENA_NEW(a, Runtime__V1__ImageSpec);
        runtime__v1__image_spec__init(s);
    }
    s->image = arena_strdup(a, rec->image);
    return s;
}

/* The spec the container runs with, or NULL when its bundle is gone (status still answers). */
static json_t *runtime_spec(struct runtime_service *rs, const char *id) {
    json_t *spec = NULL;
    struct cleat_error *err = NULL;
    container_spec_load(rs, id, &spec, &err);
    error_free(err);
    return spec;
}

/* process.user of the spec, as the CRI's ContainerUser. */
static Runtime__V1__ContainerUser *user_of(struct arena *a, json_t *spec) {
    json_t *u = json_object_get(json_object_get(spec, "process"), "user");
    if (!u)
        return NULL;
    Runtime__V1__ContainerUser *cu = ARENA_NEW(a, Runtime__V1__ContainerUser);
    runtime__v1__container_user__init(cu);
    Runtime__V1__LinuxContainerUser *lu = ARENA_NEW(a, Runtime__V1__LinuxContainerUser);
    runtime__v1__linux_container_user__init(lu);
    lu->uid = json_integer_value(json_object_get(u, "uid"));
    lu->gid = json_integer_value(json_object_get(u, "gid"));
    json_t *gids = json_object_get(u, "additionalGids");
    lu->n_supplemental_groups = json_array_size(gids);
    lu->supplemental_groups = arena_array(a, lu->n_supplemental_groups + 1, sizeof(int64_t));
    for (size_t i = 0; i < lu->n_supplemental_groups; i++)
        lu->supplemental_groups[i] = json_integer_value(json_array_get(gids, i));
    cu->linux = lu;
    return cu;
}

static char *container_verbose(struct arena *a, struct runtime_service *rs, const container_record *rec, json_t *spec) {
    char *dir = container_dir(rs, rec->id);
    json_t *info =
        json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s?, s:s, s:O?}", "id", rec->id, "sandboxID", rec->sandbox_id, "pid",
                  (json_int_t)(rec->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING ? rec->pid : 0),
                  "snapshotKey", rec->id, "snapshotter", rec->snapshotter, "cgroupsPath", rec->cgroups_path, "bundle",
                  dir, "imageID", rec->image_id, "runtimeSpec", spec);
    free(dir);
    char *text = info ? json_dumps(info, JSON_COMPACT) : NULL;
    json_decref(info);
    return arena_adopt(a, text, "{}");
}

Runtime__V1__ContainerStatus *cri_container_status_build(struct arena *a, const container_record *rec, json_t *spec) {
    Runtime__V1__ContainerConfig *cfg = config_of(a, rec);
    Runtime__V1__ContainerStatus *st = ARENA_NEW(a, Runtime__V1__ContainerStatus);
    runtime__v1__container_status__init(st);
    st->id = arena_strdup(a, rec->id);
    st->metadata = metadata(a, rec);
    st->state = rec->state;
    st->created_at = rec->created_at_ns;
    st->started_at = rec->started_at_ns;
    st->finished_at = rec->finished_at_ns;
    st->exit_code = rec->exit_code;
    st->image = image_spec(a, rec, cfg);
    st->image_ref = arena_strdup(a, rec->image_ref);
    st->image_id = arena_strdup(a, rec->image_id);
    st->reason = arena_strdup(a, rec->reason);
    st->message = arena_strdup(a, rec->message);
    st->log_path = arena_strdup(a, rec->log_path);
    st->labels = cri_map_copy(a, &runtime__v1__container_status__labels_entry__descriptor, (void *const *)rec->labels,
                              rec->n_labels, &st->n_labels);
    st->annotations = cri_map_copy(a, &runtime__v1__container_status__annotations_entry__descriptor,
                                   (void *const *)rec->annotations, rec->n_annotations, &st->n_annotations);
    if (cfg) {
        st->n_mounts = cfg->n_mounts;
        st->mounts = cfg->mounts;
        st->stop_signal = cfg->stop_signal;
        if (cfg->linux && cfg->linux->resources) {
            st->resources = ARENA_NEW(a, Runtime__V1__ContainerResources);
            runtime__v1__container_resources__init(st->resources);
            st->resources->linux = cfg->linux->resources;
        }
    }
    st->user = user_of(a, spec);
    return st;
}

json_t *cri_container_spec(struct runtime_service *rs, const char *id) {
    return runtime_spec(rs, id);
}

int cri_container_status(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                         struct cleat_error **reterr) {
    const Runtime__V1__ContainerStatusRequest *in = (const void *)req;
    struct arena *a = call->arena;
    container_record *rec = NULL;
    int r = container_get(RS(ctx), in->container_id, &rec, reterr);
    if (r < 0)
        return r;
    json_t *spec = runtime_spec(RS(ctx), rec->id);
    Runtime__V1__ContainerStatus *st = cri_container_status_build(a, rec, spec);
    Runtime__V1__ContainerStatusResponse *resp = ARENA_NEW(a, Runtime__V1__ContainerStatusResponse);
    runtime__v1__container_status_response__init(resp);
    resp->status = st;
    if (in->verbose) {
        resp->n_info = 1;
        resp->info = cri_info_entry(a, &runtime__v1__container_status_response__info_entry__descriptor,
                                    container_verbose(a, RS(ctx), rec, spec));
    }
    json_decref(spec);
    container_record_free(rec);
    *ret = &resp->base;
    return 0;
}

static int container_matches(const Runtime__V1__ContainerFilter *f, const container_record *rec) {
    if (!f)
        return 1;
    if (!cri_id_match(f->id, rec->id) || !cri_id_match(f->pod_sandbox_id, rec->sandbox_id))
        return 0;
    if (f->state && (uint32_t)f->state->state != rec->state)
        return 0;
    return cri_labels_match((void *const *)f->label_selector, f->n_label_selector, (void *const *)rec->labels,
                            rec->n_labels);
}

static Runtime__V1__Container *container_message(struct arena *a, const container_record *rec) {
    Runtime__V1__Container *c = ARENA_NEW(a, Runtime__V1__Container);
    runtime__v1__container__init(c);
    c->id = arena_strdup(a, rec->id);
    c->pod_sandbox_id = arena_strdup(a, rec->sandbox_id);
    c->metadata = metadata(a, rec);
    c->image = image_spec(a, rec, NULL);
    c->image_ref = arena_strdup(a, rec->image_ref);
    c->image_id = arena_strdup(a, rec->image_id);
    c->state = rec->state;
    c->created_at = rec->created_at_ns;
    c->labels = cri_map_copy(a, &runtime__v1__container__labels_entry__descriptor, (void *const *)rec->labels,
                             rec->n_labels, &c->n_labels);
    c->annotations = cri_map_copy(a, &runtime__v1__container__annotations_entry__descriptor,
                                  (void *const *)rec->annotations, rec->n_annotations, &c->n_annotations);
    return c;
}

/* The containers ListContainers and StreamContainers answer, into `out`. */
static int containers_to(void *ctx, const Runtime__V1__ContainerFilter *filter, struct cri_items *out,
                         struct cleat_error **reterr) {
    container_record **recs = NULL;
    size_t n = 0;
    int r = filter ? container_list(RS(ctx), filter->id, filter->pod_sandbox_id, &recs, &n, reterr)
                   : container_list(RS(ctx), NULL, NULL, &recs, &n, reterr);
    for (size_t i = 0; r >= 0 && i < n; i++)
        if (container_matches(filter, recs[i]))
            r = cri_items_add(out, &container_message(out->arena, recs[i])->base, reterr);
    container_records_free(recs, n);
    return r;
}

int cri_list_containers(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                        struct cleat_error **reterr) {
    const Runtime__V1__ListContainersRequest *in = (const void *)req;
    struct cri_items it;
    cri_items_for_list(&it, call->arena);
    int r = containers_to(ctx, in->filter, &it, reterr);
    Runtime__V1__ListContainersResponse *resp = ARENA_NEW(call->arena, Runtime__V1__ListContainersResponse);
    runtime__v1__list_containers_response__init(resp);
    if (r >= 0)
        cri_items_into(&it, &resp->base);
    if ((r = cri_items_end(&it, r, reterr)) >= 0)
        *ret = &resp->base;
    return r;
}

int cri_stream_containers(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, struct rpc_stream *stream,
                          struct cleat_error **reterr) {
    const Runtime__V1__StreamContainersRequest *in = (const void *)req;
    struct cri_items it;
    cri_items_for_stream(&it, stream, &runtime__v1__stream_containers_response__descriptor);
    return cri_items_end(&it, containers_to(ctx, in->filter, &it, reterr), reterr);
}
