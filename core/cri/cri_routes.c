/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Routing: the gRPC method table is generated from the protobuf-c service
 * descriptors, so that every RPC of the contract is routed (and answers
 * UNIMPLEMENTED until it has a handler) without a list to keep in sync.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "cri.h"

struct route {
    const char *name; /* the RPC's name in the proto */
    rpc_unary_fn unary;
    rpc_stream_fn stream;
};

static const struct route runtime_routes[] = {
    {"Version", cri_version, NULL},
    {"Status", cri_status, NULL},
    {"RuntimeConfig", cri_runtime_config, NULL},
    {"UpdateRuntimeConfig", cri_update_runtime_config, NULL},
    {"RunPodSandbox", cri_run_pod_sandbox, NULL},
    {"StopPodSandbox", cri_stop_pod_sandbox, NULL},
    {"RemovePodSandbox", cri_remove_pod_sandbox, NULL},
    {"PodSandboxStatus", cri_pod_sandbox_status, NULL},
    {"ListPodSandbox", cri_list_pod_sandbox, NULL},
    {"StreamPodSandboxes", NULL, cri_stream_pod_sandboxes},
    {"CreateContainer", cri_create_container, NULL},
    {"StartContainer", cri_start_container, NULL},
    {"StopContainer", cri_stop_container, NULL},
    {"RemoveContainer", cri_remove_container, NULL},
    {"ListContainers", cri_list_containers, NULL},
    {"StreamContainers", NULL, cri_stream_containers},
    {"ContainerStatus", cri_container_status, NULL},
    {"UpdateContainerResources", cri_update_container_resources, NULL},
    {"ReopenContainerLog", cri_reopen_container_log, NULL},
    {"ExecSync", cri_exec_sync, NULL},
    {"Exec", cri_exec, NULL},
    {"Attach", cri_attach, NULL},
    {"PortForward", cri_port_forward, NULL},
    {"ContainerStats", cri_container_stats, NULL},
    {"ListContainerStats", cri_list_container_stats, NULL},
    {"StreamContainerStats", NULL, cri_stream_container_stats},
    {"PodSandboxStats", cri_pod_sandbox_stats, NULL},
    {"ListPodSandboxStats", cri_list_pod_sandbox_stats, NULL},
    {"StreamPodSandboxStats", NULL, cri_stream_pod_sandbox_stats},
    {"ListMetricDescriptors", cri_list_metric_descriptors, NULL},
    {"ListPodSandboxMetrics", cri_list_pod_sandbox_metrics, NULL},
    {"StreamPodSandboxMetrics", NULL, cri_stream_pod_sandbox_metrics},
    {"UpdatePodSandboxResources", cri_update_pod_sandbox_resources, NULL},
    {"GetContainerEvents", NULL, cri_get_container_events},
};

static const struct route image_routes[] = {
    {"PullImage", cri_pull_image, NULL},       {"ListImages", cri_list_images, NULL},
    {"StreamImages", NULL, cri_stream_images}, {"ImageStatus", cri_image_status, NULL},
    {"RemoveImage", cri_remove_image, NULL},   {"ImageFsInfo", cri_image_fs_info, NULL},
};

static const struct route *find_route(const struct route *routes, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(routes[i].name, name) == 0)
            return &routes[i];
    return NULL;
}

static int add_service(const ProtobufCServiceDescriptor *svc, const struct route *routes, size_t n_routes,
                       struct cri_context *d, struct rpc_method *out, size_t *n, struct cleat_error **reterr) {
    for (unsigned i = 0; i < svc->n_methods; i++) {
        const ProtobufCMethodDescriptor *md = &svc->methods[i];
        struct rpc_method *m = &out[(*n)++];
        char *path = NULL;
        if (asprintf(&path, "/%s/%s", svc->name, md->name) < 0)
            return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        const struct route *r = find_route(routes, n_routes, md->name);
        *m = (struct rpc_method){.path = path, .input = md->input, .output = md->output, .ctx = d};
        if (r) {
            m->unary = r->unary;
            m->stream = r->stream;
        }
    }
    return 0;
}

int cri_methods_new(struct cri_context *d, struct rpc_method **ret, size_t *ret_n, struct cleat_error **reterr) {
    const ProtobufCServiceDescriptor *rt = &runtime__v1__runtime_service__descriptor;
    const ProtobufCServiceDescriptor *img = &runtime__v1__image_service__descriptor;
    struct rpc_method *methods = calloc(rt->n_methods + img->n_methods, sizeof(*methods));
    size_t n = 0;
    if (!methods)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    int r = add_service(rt, runtime_routes, sizeof(runtime_routes) / sizeof(runtime_routes[0]), d, methods, &n, reterr);
    if (r >= 0)
        r = add_service(img, image_routes, sizeof(image_routes) / sizeof(image_routes[0]), d, methods, &n, reterr);
    if (r < 0) {
        cri_methods_free(methods, n);
        return r;
    }
    *ret = methods;
    *ret_n = n;
    return 0;
}

void cri_methods_free(struct rpc_method *methods, size_t n) {
    for (size_t i = 0; methods && i < n; i++)
        free((char *)methods[i].path);
    free(methods);
}
