/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI services (runtime.v1 RuntimeService and ImageService) as gRPC
 * method tables.  Every RPC of both services is routed; one that is not
 * built yet has no handler and answers UNIMPLEMENTED.
 */
#ifndef CLEAT_CORE_CRI_H
#define CLEAT_CORE_CRI_H

#include <stddef.h>

#include "daemon.h"
#include "rpc_server.h"

/* Build the method table for both services; free with cri_methods_free(). */
int cri_methods_new(struct daemon *d, struct rpc_method **ret, size_t *ret_n,
                    struct cleat_error **reterr);
void cri_methods_free(struct rpc_method *methods, size_t n);

/* Handlers, one file per group of RPCs. */
int cri_version(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
                ProtobufCMessage **ret, struct cleat_error **reterr);
int cri_status(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
               ProtobufCMessage **ret, struct cleat_error **reterr);
int cri_runtime_config(void *ctx, struct rpc_call *call,
                       const ProtobufCMessage *req, ProtobufCMessage **ret,
                       struct cleat_error **reterr);
int cri_update_runtime_config(void *ctx, struct rpc_call *call,
                              const ProtobufCMessage *req,
                              ProtobufCMessage **ret,
                              struct cleat_error **reterr);

int cri_pull_image(void *ctx, struct rpc_call *call,
                   const ProtobufCMessage *req, ProtobufCMessage **ret,
                   struct cleat_error **reterr);
int cri_list_images(void *ctx, struct rpc_call *call,
                    const ProtobufCMessage *req, ProtobufCMessage **ret,
                    struct cleat_error **reterr);
int cri_image_status(void *ctx, struct rpc_call *call,
                     const ProtobufCMessage *req, ProtobufCMessage **ret,
                     struct cleat_error **reterr);
int cri_remove_image(void *ctx, struct rpc_call *call,
                     const ProtobufCMessage *req, ProtobufCMessage **ret,
                     struct cleat_error **reterr);
int cri_image_fs_info(void *ctx, struct rpc_call *call,
                      const ProtobufCMessage *req, ProtobufCMessage **ret,
                      struct cleat_error **reterr);

/* Pods and containers (cri_pods.c, cri_containers.c). */
int cri_run_pod_sandbox(void *ctx, struct rpc_call *call,
                        const ProtobufCMessage *req, ProtobufCMessage **ret,
                        struct cleat_error **reterr);
int cri_stop_pod_sandbox(void *ctx, struct rpc_call *call,
                         const ProtobufCMessage *req, ProtobufCMessage **ret,
                         struct cleat_error **reterr);
int cri_remove_pod_sandbox(void *ctx, struct rpc_call *call,
                           const ProtobufCMessage *req, ProtobufCMessage **ret,
                           struct cleat_error **reterr);
int cri_pod_sandbox_status(void *ctx, struct rpc_call *call,
                           const ProtobufCMessage *req, ProtobufCMessage **ret,
                           struct cleat_error **reterr);
int cri_list_pod_sandbox(void *ctx, struct rpc_call *call,
                         const ProtobufCMessage *req, ProtobufCMessage **ret,
                         struct cleat_error **reterr);
int cri_create_container(void *ctx, struct rpc_call *call,
                         const ProtobufCMessage *req, ProtobufCMessage **ret,
                         struct cleat_error **reterr);
int cri_start_container(void *ctx, struct rpc_call *call,
                        const ProtobufCMessage *req, ProtobufCMessage **ret,
                        struct cleat_error **reterr);
int cri_stop_container(void *ctx, struct rpc_call *call,
                       const ProtobufCMessage *req, ProtobufCMessage **ret,
                       struct cleat_error **reterr);
int cri_remove_container(void *ctx, struct rpc_call *call,
                         const ProtobufCMessage *req, ProtobufCMessage **ret,
                         struct cleat_error **reterr);
int cri_list_containers(void *ctx, struct rpc_call *call,
                        const ProtobufCMessage *req, ProtobufCMessage **ret,
                        struct cleat_error **reterr);
int cri_container_status(void *ctx, struct rpc_call *call,
                         const ProtobufCMessage *req, ProtobufCMessage **ret,
                         struct cleat_error **reterr);
int cri_update_container_resources(void *ctx, struct rpc_call *call,
                                   const ProtobufCMessage *req,
                                   ProtobufCMessage **ret,
                                   struct cleat_error **reterr);
int cri_reopen_container_log(void *ctx, struct rpc_call *call,
                             const ProtobufCMessage *req,
                             ProtobufCMessage **ret,
                             struct cleat_error **reterr);
int cri_exec_sync(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
                  ProtobufCMessage **ret, struct cleat_error **reterr);

/* Streaming (cri_streaming.c): the URLs of the streaming server. */
int cri_exec(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
             struct cleat_error **reterr);
int cri_attach(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
               struct cleat_error **reterr);
int cri_port_forward(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                     struct cleat_error **reterr);

#endif
