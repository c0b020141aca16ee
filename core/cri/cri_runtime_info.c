/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The runtime-wide RPCs: Version, Status, RuntimeConfig, UpdateRuntimeConfig.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_calls.h"
#include "api.pb-c.h"
#include "config.h"
#include "config_tree.h"
#include "cri.h"
#include "plugin_loader.h"
#include "strbuf.h"

#define CRI_RUNTIME_NAME "cleat"
#define CRI_API_VERSION "v1"

int cri_version(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                struct cleat_error **reterr) {
    Runtime__V1__VersionResponse *resp = ARENA_NEW(call->arena, Runtime__V1__VersionResponse);
    runtime__v1__version_response__init(resp);
    /* `version` is the CRI API version this runtime serves, as containerd and cri-o answer it. */
    resp->version = "0.1.0";
    resp->runtime_name = CRI_RUNTIME_NAME;
    resp->runtime_version = CLEAT_VERSION;
    resp->runtime_api_version = CRI_API_VERSION;
    *ret = &resp->base;
    return 0;
}

static Runtime__V1__RuntimeCondition *condition(struct arena *a, const char *type, int ok, const char *reason,
                                                const char *message) {
    Runtime__V1__RuntimeCondition *c = ARENA_NEW(a, Runtime__V1__RuntimeCondition);
    runtime__v1__runtime_condition__init(c);
    c->type = (char *)type;
    c->status = ok ? 1 : 0;
    c->reason = arena_strdup(a, ok ? "" : reason);
    c->message = arena_strdup(a, ok ? "" : message);
    return c;
}

/* Ready when the default handler is loaded and its status op (if any) says so. */
static Runtime__V1__RuntimeCondition *runtime_condition(struct cri_context *d, struct arena *a) {
    const char *name = d->cfg->default_runtime_handler;
    struct plugin_instance *pi = plugins_find(d->plugins, CLEAT_CONCERN_RUNTIME, name);
    if (!pi)
        return condition(
            a, "RuntimeReady", 0, "RuntimeHandlerNotConfigured",
            arena_printf(a, "the default runtime handler '%s' is not configured in runtime.handlers", name));
    struct cleat_error *err = NULL;
    if (plugin_has_op(pi, "status") && plugin_runtime_status(pi, &err) < 0) {
        Runtime__V1__RuntimeCondition *c =
            condition(a, "RuntimeReady", 0, "RuntimeNotReady",
                      arena_printf(a, "runtime handler '%s': %s", name, err ? error_message(err) : "not ready"));
        error_free(err);
        return c;
    }
    return condition(a, "RuntimeReady", 1, NULL, NULL);
}

static Runtime__V1__RuntimeCondition *network_condition(struct cri_context *d, struct arena *a) {
    struct plugin_instance *pi = plugins_first(d->plugins, CLEAT_CONCERN_NETWORK);
    if (!pi)
        return condition(a, "NetworkReady", 0, "NetworkPluginNotReady",
                         "no network plugin is configured (the `network` section of the cleat config)");
    struct cleat_error *err = NULL;
    if (plugin_has_op(pi, "status") && plugin_network_status(pi, &err) < 0) {
        Runtime__V1__RuntimeCondition *c =
            condition(a, "NetworkReady", 0, "NetworkPluginNotReady",
                      arena_printf(a, "network '%s': %s", pi->name, err ? error_message(err) : "not ready"));
        error_free(err);
        return c;
    }
    return condition(a, "NetworkReady", 1, NULL, NULL);
}

static Runtime__V1__RuntimeHandler *handler_entry(struct cri_context *d, struct arena *a, const char *name,
                                                  struct plugin_instance *pi) {
    Runtime__V1__RuntimeHandler *h = ARENA_NEW(a, Runtime__V1__RuntimeHandler);
    Runtime__V1__RuntimeHandlerFeatures *f = ARENA_NEW(a, Runtime__V1__RuntimeHandlerFeatures);
    runtime__v1__runtime_handler__init(h);
    runtime__v1__runtime_handler_features__init(f);
    /* The runtime's word is not enough: this kernel (and state dir) must allow it too (probed at start-up). */
    f->recursive_read_only_mounts = runtime_rro_supported(d->runtime, pi, NULL) == 0;
    f->user_namespaces = runtime_userns_supported(d->runtime, pi, NULL) == 0;
    h->name = (char *)name;
    h->features = f;
    return h;
}

/*
 * Every configured handler by name; the default one also under the empty
 * name, which is what kubelet asks for when a pod has no RuntimeClass.
 */
static void list_handlers(struct cri_context *d, struct arena *a, Runtime__V1__StatusResponse *resp) {
    resp->runtime_handlers = arena_array(a, d->plugins->n + 1, sizeof(*resp->runtime_handlers));
    struct plugin_instance *def = plugins_find(d->plugins, CLEAT_CONCERN_RUNTIME, d->cfg->default_runtime_handler);
    if (def)
        resp->runtime_handlers[resp->n_runtime_handlers++] = handler_entry(d, a, "", def);
    for (size_t i = 0; i < d->plugins->n; i++)
        if (d->plugins->items[i]->concern == CLEAT_CONCERN_RUNTIME)
            resp->runtime_handlers[resp->n_runtime_handlers++] =
                handler_entry(d, a, d->plugins->items[i]->name, d->plugins->items[i]);
}

static char *plugins_json(struct cri_context *d, struct arena *a) {
    struct strbuf b = {0};
    strbuf_puts(&b, "[");
    for (size_t i = 0; i < d->plugins->n; i++) {
        const struct plugin_instance *pi = d->plugins->items[i];
        strbuf_printf(&b, "%s{\"concern\":\"%s\",\"name\":", i ? "," : "", plugin_concern_name(pi->concern));
        strbuf_json_string(&b, pi->name);
        strbuf_puts(&b, ",\"plugin\":");
        strbuf_json_string(&b, pi->desc->name);
        strbuf_puts(&b, ",\"version\":");
        strbuf_json_string(&b, pi->desc->version);
        strbuf_printf(&b, ",\"abi\":\"%u.%u\",\"file\":", pi->desc->abi_major, pi->desc->abi_minor);
        strbuf_json_string(&b, pi->file);
        strbuf_puts(&b, "}");
    }
    strbuf_puts(&b, "]");
    return arena_adopt(a, strbuf_steal(&b), "[]");
}

static void add_info(struct arena *a, Runtime__V1__StatusResponse *resp, const char *key, char *value) {
    Runtime__V1__StatusResponse__InfoEntry *e = ARENA_NEW(a, Runtime__V1__StatusResponse__InfoEntry);
    runtime__v1__status_response__info_entry__init(e);
    e->key = (char *)key;
    e->value = value;
    resp->info[resp->n_info++] = e;
}

/* `verbose` info: every value is JSON, as crictl info expects. */
static void verbose_info(struct cri_context *d, struct arena *a, Runtime__V1__StatusResponse *resp) {
    resp->info = arena_array(a, 5, sizeof(*resp->info));
    add_info(a, resp, "config", arena_adopt(a, config_tree_to_json(d->cfg->tree), "{}"));
    add_info(a, resp, "plugins", plugins_json(d, a));
    char *cidr = runtime_pod_cidr(d->runtime);
    struct strbuf b = {0};
    strbuf_json_string(&b, cidr ? cidr : "");
    add_info(a, resp, "podCIDR", arena_adopt(a, strbuf_steal(&b), "\"\""));
    free(cidr);
    add_info(a, resp, "version", arena_printf(a, "\"%s\"", CLEAT_VERSION));
    /* What the CRI's feature fields cannot say (api.proto has no image volume flag). */
    add_info(a, resp, "features",
             arena_printf(a, "{\"imageVolumes\":%s}", runtime_image_volumes_supported(d->runtime) ? "true" : "false"));
}

int cri_status(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
               struct cleat_error **reterr) {
    struct cri_context *d = ctx;
    struct arena *a = call->arena;
    const Runtime__V1__StatusRequest *in = (const Runtime__V1__StatusRequest *)req;
    Runtime__V1__StatusResponse *resp = ARENA_NEW(a, Runtime__V1__StatusResponse);
    Runtime__V1__RuntimeStatus *st = ARENA_NEW(a, Runtime__V1__RuntimeStatus);
    Runtime__V1__RuntimeFeatures *features = ARENA_NEW(a, Runtime__V1__RuntimeFeatures);
    runtime__v1__status_response__init(resp);
    runtime__v1__runtime_status__init(st);
    runtime__v1__runtime_features__init(features);
    st->conditions = arena_array(a, 2, sizeof(*st->conditions));
    st->conditions[st->n_conditions++] = runtime_condition(d, a);
    st->conditions[st->n_conditions++] = network_condition(d, a);
    resp->status = st;
    list_handlers(d, a, resp);
    /*
     * SupplementalGroupsPolicy Strict: the spec builder then gives the process only its group and the
     * groups asked for, none from the image's /etc/group (spec_user.c), whatever the handler, and
     * ContainerStatus.user says which it got.  Not claimed: a pod with its own user namespace on the host's
     * network is refused (spec_check_pod), so user_namespaces_host_network is false.
     */
    features->supplemental_groups_policy = 1;
    resp->features = features;
    if (in->verbose)
        verbose_info(d, a, resp);
    *ret = &resp->base;
    return 0;
}

int cri_runtime_config(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                       struct cleat_error **reterr) {
    struct cri_context *d = ctx;
    Runtime__V1__RuntimeConfigResponse *resp = ARENA_NEW(call->arena, Runtime__V1__RuntimeConfigResponse);
    Runtime__V1__LinuxRuntimeConfiguration *linux_cfg = ARENA_NEW(call->arena, Runtime__V1__LinuxRuntimeConfiguration);
    runtime__v1__runtime_config_response__init(resp);
    runtime__v1__linux_runtime_configuration__init(linux_cfg);
    linux_cfg->cgroup_driver = strcmp(d->cfg->cgroup_driver, "systemd") == 0 ? RUNTIME__V1__CGROUP_DRIVER__SYSTEMD
                                                                             : RUNTIME__V1__CGROUP_DRIVER__CGROUPFS;
    resp->linux = linux_cfg;
    *ret = &resp->base;
    return 0;
}

int cri_update_runtime_config(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                              struct cleat_error **reterr) {
    struct cri_context *d = ctx;
    const Runtime__V1__UpdateRuntimeConfigRequest *in = (const Runtime__V1__UpdateRuntimeConfigRequest *)req;
    /* Like containerd: a request without a pod CIDR changes nothing (kubelet sends it repeatedly). */
    if (in->runtime_config && in->runtime_config->network_config && in->runtime_config->network_config->pod_cidr &&
        *in->runtime_config->network_config->pod_cidr) {
        int r = runtime_set_pod_cidr(d->runtime, in->runtime_config->network_config->pod_cidr, reterr);
        if (r < 0)
            return r;
    }
    Runtime__V1__UpdateRuntimeConfigResponse *resp = ARENA_NEW(call->arena, Runtime__V1__UpdateRuntimeConfigResponse);
    runtime__v1__update_runtime_config_response__init(resp);
    *ret = &resp->base;
    return 0;
}
