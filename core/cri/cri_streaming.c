/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI streaming RPCs: Exec, Attach and PortForward validate the request
 * and return the URL of the streaming server (stream_server.h) where the
 * client then runs it.  Validation is done here, so that kubelet gets a gRPC
 * error instead of a URL that can only fail.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "cri.h"
#include "cri_convert.h"
#include "pod_ns.h"
#include "runtime_service.h"
#include "stream_server.h"

#define D(ctx) ((struct cri_context *)(ctx))

static int check_streams(int in, int out, int err, int tty, struct cleat_error **reterr) {
    if (!in && !out && !err)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "one of stdin, stdout and stderr must be requested");
    if (tty && err)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "tty and stderr cannot both be requested: a terminal has one output");
    return 0;
}

/* The container must exist and run; its full ID into id, and whether it was created with stdin_once. */
static int running_container(struct cri_context *d, const char *id_or_prefix, char id[65], int *ret_stdin_once,
                             struct cleat_error **reterr) {
    container_record *rec = NULL;
    int r = container_get_running(d->runtime, id_or_prefix, &rec, reterr);
    if (r >= 0)
        snprintf(id, 65, "%s", rec->id);
    if (r >= 0 && ret_stdin_once) {
        Runtime__V1__ContainerConfig *cfg =
            runtime__v1__container_config__unpack(NULL, rec->cri_config.len, rec->cri_config.data);
        *ret_stdin_once = cfg && cfg->stdin_once;
        if (cfg)
            runtime__v1__container_config__free_unpacked(cfg, NULL);
    }
    container_record_free(rec);
    return r;
}

static int url_response(struct rpc_call *call, struct cri_context *d, struct stream_request *req,
                        const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret, struct cleat_error **reterr) {
    char *url = NULL;
    if (!d->streaming) {
        stream_request_free(req);
        return error_set(reterr, CLEAT_STATUS_UNAVAILABLE, ENOTCONN, "the streaming server is not running");
    }
    int r = stream_server_register(d->streaming, req, &url, reterr);
    if (r < 0)
        return r;
    /* Exec, Attach and PortForward responses are all { string url = 1; }. */
    Runtime__V1__ExecResponse *resp = arena_alloc(call->arena, desc->sizeof_message);
    protobuf_c_message_init(desc, resp);
    resp->url = arena_adopt(call->arena, url, "");
    *ret = &resp->base;
    return 0;
}

static struct stream_request *request_new(enum stream_kind kind, const char *id, struct cleat_error **reterr) {
    struct stream_request *req = calloc(1, sizeof(*req));
    if (!req) {
        error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        return NULL;
    }
    req->kind = kind;
    snprintf(req->id, sizeof(req->id), "%s", id);
    return req;
}

int cri_exec(void *ctx, struct rpc_call *call, const ProtobufCMessage *msg, ProtobufCMessage **ret,
             struct cleat_error **reterr) {
    const Runtime__V1__ExecRequest *in = (const void *)msg;
    char id[65];
    if (!in->n_cmd || !in->cmd[0][0])
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "Exec needs a command");
    int r = check_streams(in->stdin, in->stdout, in->stderr, in->tty, reterr);
    if (r >= 0)
        r = running_container(D(ctx), in->container_id, id, NULL, reterr);
    struct stream_request *req = r >= 0 ? request_new(STREAM_EXEC, id, reterr) : NULL;
    if (!req)
        return r < 0 ? r : -ENOMEM;
    req->tty = in->tty;
    req->in = in->stdin;
    req->out = in->stdout;
    req->err = in->stderr;
    if (!(req->cmd = calloc(in->n_cmd + 1, sizeof(char *))))
        r = -ENOMEM;
    for (size_t i = 0; r >= 0 && i < in->n_cmd; i++)
        if (!(req->cmd[i] = strdup(in->cmd[i])))
            r = -ENOMEM;
    if (r < 0) {
        stream_request_free(req);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    return url_response(call, D(ctx), req, &runtime__v1__exec_response__descriptor, ret, reterr);
}

int cri_attach(void *ctx, struct rpc_call *call, const ProtobufCMessage *msg, ProtobufCMessage **ret,
               struct cleat_error **reterr) {
    const Runtime__V1__AttachRequest *in = (const void *)msg;
    char id[65];
    int stdin_once = 0;
    int r = check_streams(in->stdin, in->stdout, in->stderr, in->tty, reterr);
    if (r >= 0)
        r = running_container(D(ctx), in->container_id, id, &stdin_once, reterr);
    struct stream_request *req = r >= 0 ? request_new(STREAM_ATTACH, id, reterr) : NULL;
    if (!req)
        return r < 0 ? r : -ENOMEM;
    req->tty = in->tty;
    req->in = in->stdin;
    req->out = in->stdout;
    req->err = in->stderr;
    req->stdin_once = stdin_once;
    return url_response(call, D(ctx), req, &runtime__v1__attach_response__descriptor, ret, reterr);
}

int cri_port_forward(void *ctx, struct rpc_call *call, const ProtobufCMessage *msg, ProtobufCMessage **ret,
                     struct cleat_error **reterr) {
    const Runtime__V1__PortForwardRequest *in = (const void *)msg;
    struct runtime_service *rs = D(ctx)->runtime;
    for (size_t i = 0; i < in->n_port; i++)
        if (in->port[i] < 1 || in->port[i] > 65535)
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "port %d is not a TCP port",
                             (int)in->port[i]);
    sandbox_record *pod = NULL;
    int r = pod_get(rs, in->pod_sandbox_id, &pod, reterr);
    if (r < 0)
        return r;
    if (pod->state != 0) { /* SANDBOX_READY */
        r = error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL, "pod sandbox %s is not ready", pod->id);
        sandbox_record_free(pod);
        return r;
    }
    if ((r = pod_port_forward_check(rs, pod, reterr)) < 0) {
        sandbox_record_free(pod);
        return r;
    }
    struct stream_request *req = request_new(STREAM_PORTFORWARD, pod->id, reterr);
    char *dir = req && (pod->pinned_namespaces & POD_NS_NET) ? pod_dir(rs, pod->id) : NULL;
    sandbox_record_free(pod);
    if (!req)
        return -ENOMEM;
    if (dir && asprintf(&req->netns, "%s/ns/net", dir) < 0)
        req->netns = NULL, r = -ENOMEM;
    free(dir);
    if (r >= 0 && in->n_port && !(req->ports = calloc(in->n_port, sizeof(int32_t))))
        r = -ENOMEM;
    for (size_t i = 0; r >= 0 && i < in->n_port; i++)
        req->ports[req->n_ports++] = in->port[i];
    if (r < 0) {
        stream_request_free(req);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    return url_response(call, D(ctx), req, &runtime__v1__port_forward_response__descriptor, ret, reterr);
}
