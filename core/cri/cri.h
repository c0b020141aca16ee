/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI services (runtime.v1 RuntimeService and ImageService) as gRPC
 * method tables.  Every RPC of both services is routed; one that is not
 * built yet has no handler and answers UNIMPLEMENTED.
 */
#ifndef CLEAT_CORE_CRI_H
#define CLEAT_CORE_CRI_H

#include <stddef.h>

#include <jansson.h>

#include "api.pb-c.h"
#include "rpc_server.h"
#include "runtime_service.h"

struct config;
struct event_hub;
struct image_service;
struct plugins;
struct runtime_service;
struct stream_server;

/*
 * What the CRI handlers reach, each through its ctx pointer: owned by the
 * daemon, which fills it once everything is open and keeps it until the
 * server is gone.
 */
struct cri_context {
    const struct config *cfg;
    struct plugins *plugins;
    struct image_service *images;
    struct runtime_service *runtime; /* pods and containers */
    struct stream_server *streaming; /* Exec, Attach, PortForward URLs */
    struct event_hub *events;        /* GetContainerEvents (events.h) */
};

/*
 * The lifecycle observer that turns pod and container changes into
 * GetContainerEvents events on `hub` (built only while somebody subscribes).
 */
struct lifecycle_observer cri_events_observer(struct event_hub *hub);

/* Build the method table for both services; free with cri_methods_free(). */
int cri_methods_new(struct cri_context *ctx, struct rpc_method **ret, size_t *ret_n, struct cleat_error **reterr);
void cri_methods_free(struct rpc_method *methods, size_t n);

/*
 * Handlers, one file per group of RPCs.  Each Stream* RPC answers what its
 * List* twin answers, in pages (cri_items.h).
 */
int cri_version(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                struct cleat_error **reterr);
int cri_status(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
               struct cleat_error **reterr);
int cri_runtime_config(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                       struct cleat_error **reterr);
int cri_update_runtime_config(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                              struct cleat_error **reterr);

int cri_pull_image(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                   struct cleat_error **reterr);
int cri_list_images(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                    struct cleat_error **reterr);
int cri_stream_images(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, struct rpc_stream *stream,
                      struct cleat_error **reterr);
int cri_image_status(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                     struct cleat_error **reterr);
int cri_remove_image(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                     struct cleat_error **reterr);
int cri_image_fs_info(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                      struct cleat_error **reterr);

/* Pods and containers (cri_pods.c, cri_containers.c). */
int cri_run_pod_sandbox(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                        struct cleat_error **reterr);
int cri_stop_pod_sandbox(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                         struct cleat_error **reterr);
int cri_remove_pod_sandbox(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                           struct cleat_error **reterr);
int cri_pod_sandbox_status(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                           struct cleat_error **reterr);
int cri_list_pod_sandbox(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                         struct cleat_error **reterr);
int cri_stream_pod_sandboxes(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, struct rpc_stream *stream,
                             struct cleat_error **reterr);
int cri_create_container(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                         struct cleat_error **reterr);
int cri_start_container(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                        struct cleat_error **reterr);
int cri_stop_container(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                       struct cleat_error **reterr);
int cri_remove_container(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                         struct cleat_error **reterr);
int cri_list_containers(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                        struct cleat_error **reterr);
int cri_stream_containers(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, struct rpc_stream *stream,
                          struct cleat_error **reterr);
int cri_container_status(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                         struct cleat_error **reterr);
int cri_update_container_resources(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
                                   ProtobufCMessage **ret, struct cleat_error **reterr);
int cri_reopen_container_log(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                             struct cleat_error **reterr);
int cri_exec_sync(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                  struct cleat_error **reterr);

/* Streaming (cri_streaming.c): the URLs of the streaming server. */
int cri_exec(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
             struct cleat_error **reterr);
int cri_attach(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
               struct cleat_error **reterr);
int cri_port_forward(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                     struct cleat_error **reterr);
/* Status builders shared by the status RPCs and the container events (cri_events.c). */
Runtime__V1__PodSandboxStatus *cri_pod_status_build(struct arena *a, const sandbox_record *rec,
                                                    Runtime__V1__PodSandboxConfig **ret_cfg);
/* `spec`: the container's OCI spec (cri_container_spec), or NULL. */
Runtime__V1__ContainerStatus *cri_container_status_build(struct arena *a, const container_record *rec, json_t *spec);
/* The OCI spec the container runs with, or NULL when its bundle is gone; json_decref it. */
json_t *cri_container_spec(struct runtime_service *rs, const char *id);

/* Stats, metrics and UpdatePodSandboxResources (cri_stats.c, cri_metrics.c). */
int cri_container_stats(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                        struct cleat_error **reterr);
int cri_list_container_stats(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                             struct cleat_error **reterr);
int cri_stream_container_stats(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, struct rpc_stream *stream,
                               struct cleat_error **reterr);
int cri_pod_sandbox_stats(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                          struct cleat_error **reterr);
int cri_list_pod_sandbox_stats(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                               struct cleat_error **reterr);
int cri_stream_pod_sandbox_stats(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
                                 struct rpc_stream *stream, struct cleat_error **reterr);
int cri_list_metric_descriptors(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                                struct cleat_error **reterr);
int cri_list_pod_sandbox_metrics(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                                 struct cleat_error **reterr);
int cri_stream_pod_sandbox_metrics(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
                                   struct rpc_stream *stream, struct cleat_error **reterr);
int cri_update_pod_sandbox_resources(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
                                     ProtobufCMessage **ret, struct cleat_error **reterr);

/* GetContainerEvents (cri_events.c). */
int cri_get_container_events(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, struct rpc_stream *stream,
                             struct cleat_error **reterr);

#endif
