/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pod's network through the configured network plugin (net-cni): set
 * up once the pod's network namespace is pinned, torn down before the pin
 * goes.  A pod on the host's network, or a daemon without a network
 * plugin, keeps the loopback-only namespace (or the host's).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin_calls.h"
#include "builders.h"
#include "fsutil.h"
#include "log.h"
#include "metrics.h"
#include "runtime_internal.h"

/*
 * The pod's CRI config, kept next to its pins from before the network is
 * set up until the pod dir goes: a crash between setup and the store
 * record leaves no record to say what to tear down, but this file does.
 */
#define NET_CONFIG_FILE "network-config.pb"

struct net_call {
    struct cleat_network_pod pod;
    struct cleat_port_mapping *ports;
    const char **labels, **annotations, **servers, **searches, **options;
    char netns[4200];
};

static void net_call_clear(struct net_call *c) {
    free(c->ports);
    free(c->labels);
    free(c->annotations);
    free(c->servers);
    free(c->searches);
    free(c->options);
}

/* protobuf-c repeated strings carry a count; the SDK's lists end with NULL. */
static const char **strv(char *const *v, size_t n) {
    const char **out = calloc(n + 1, sizeof(*out));
    for (size_t i = 0; out && i < n; i++)
        out[i] = v[i];
    return out;
}

static int net_call_init(struct runtime_service *rs, const char *id, const Runtime__V1__PodSandboxConfig *config,
                         struct net_call *c, struct cleat_error **reterr) {
    *c = (struct net_call){0};
    char *dir = pod_dir(rs, id);
    if (!dir)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    snprintf(c->netns, sizeof(c->netns), "%s/ns/net", dir);
    free(dir);
    c->ports = calloc(config->n_port_mappings + 1, sizeof(*c->ports));
    c->labels = kv_flatten((void *const *)config->labels, config->n_labels);
    c->annotations = kv_flatten((void *const *)config->annotations, config->n_annotations);
    const Runtime__V1__DNSConfig *dns = config->dns_config;
    c->servers = strv(dns ? dns->servers : NULL, dns ? dns->n_servers : 0);
    c->searches = strv(dns ? dns->searches : NULL, dns ? dns->n_searches : 0);
    c->options = strv(dns ? dns->options : NULL, dns ? dns->n_options : 0);
    if (!c->ports || !c->labels || !c->annotations || !c->servers || !c->searches || !c->options) {
        net_call_clear(c);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < config->n_port_mappings; i++) {
        const Runtime__V1__PortMapping *pm = config->port_mappings[i];
        c->ports[i] = (struct cleat_port_mapping){.protocol = (uint32_t)pm->protocol,
                                                  .container_port = pm->container_port,
                                                  .host_port = pm->host_port,
                                                  .host_ip = pm->host_ip};
    }
    c->pod = (struct cleat_network_pod){
        .struct_size = sizeof(c->pod),
        .sandbox_id = id,
        .name = config->metadata->name,
        .kube_namespace = config->metadata->namespace_,
        .uid = config->metadata->uid,
        .netns_path = c->netns,
        .cgroup_parent = config->linux ? config->linux->cgroup_parent : NULL,
        .port_mappings = c->ports,
        .n_port_mappings = config->n_port_mappings,
        .dns_servers = c->servers,
        .dns_searches = c->searches,
        .dns_options = c->options,
        .labels = c->labels,
        .annotations = c->annotations,
    };
    return 0;
}

static int net_config_save(struct runtime_service *rs, const char *id, const Runtime__V1__PodSandboxConfig *config,
                           struct cleat_error **reterr) {
    char *dir = pod_dir(rs, id);
    size_t len = protobuf_c_message_get_packed_size(&config->base);
    uint8_t *buf = malloc(len ? len : 1);
    char path[4200];
    int r;
    if (!dir || !buf) {
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    } else {
        protobuf_c_message_pack(&config->base, buf);
        snprintf(path, sizeof(path), "%s/%s", dir, NET_CONFIG_FILE);
        r = write_file_atomic(path, buf, len, 0600, reterr);
    }
    free(buf);
    free(dir);
    return r;
}

struct plugin_instance *pod_network(struct runtime_service *rs) {
    return plugins_first(rs->deps.plugins, CLEAT_CONCERN_NETWORK);
}

int pod_network_setup(struct runtime_service *rs, const char *id, const Runtime__V1__PodSandboxConfig *config,
                      char ***ret_ips, size_t *ret_n, struct cleat_error **reterr) {
    *ret_ips = NULL;
    *ret_n = 0;
    struct plugin_instance *net = pod_network(rs);
    if (!net || !plugin_has_op(net, "setup"))
        return 0;
    struct net_call c;
    int r = net_call_init(rs, id, config, &c, reterr);
    if (r < 0)
        return r;
    r = net_config_save(rs, id, config, reterr);
    if (r < 0) {
        net_call_clear(&c);
        return r;
    }
    struct cleat_net_result *res = net_result_new();
    if (!res)
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    if (r >= 0 && (r = plugin_network_setup(net, &c.pod, res, reterr)) < 0)
        metrics_plugin_error("network", net->name, "setup");
    if (r < 0) {
        /* Whatever the plugin made before it failed goes again. */
        struct cleat_error *err = NULL;
        if (plugin_has_op(net, "teardown") && plugin_network_teardown(net, &c.pod, &err) < 0)
            log_warning("pod %s: network teardown after a failed setup: %s", id, error_message(err));
        error_free(err);
        r = error_prefix(r, reterr, "cannot set up the network of pod %s", id);
    } else if (res->n) {
        char **ips = calloc(res->n, sizeof(*ips));
        for (size_t i = 0; ips && i < res->n; i++) {
            /* The CRI wants bare addresses, the plugin reports CIDR notation. */
            ips[i] = strdup(res->ips[i].address);
            char *slash = ips[i] ? strchr(ips[i], '/') : NULL;
            if (slash)
                *slash = '\0';
        }
        *ret_ips = ips;
        *ret_n = ips ? res->n : 0;
    }
    net_result_free(res);
    net_call_clear(&c);
    return r;
}

int pod_network_teardown(struct runtime_service *rs, const char *id, const Runtime__V1__PodSandboxConfig *config,
                         struct cleat_error **reterr) {
    struct plugin_instance *net = pod_network(rs);
    if (!net || !plugin_has_op(net, "teardown"))
        return 0;
    struct net_call c;
    int r = net_call_init(rs, id, config, &c, reterr);
    if (r >= 0 && (r = plugin_network_teardown(net, &c.pod, reterr)) < 0)
        metrics_plugin_error("network", net->name, "teardown");
    net_call_clear(&c);
    return r < 0 ? error_prefix(r, reterr, "cannot tear down the network of pod %s", id) : r;
}

int pod_network_teardown_leftover(struct runtime_service *rs, const char *id, struct cleat_error **reterr) {
    struct plugin_instance *net = pod_network(rs);
    char *dir = pod_dir(rs, id);
    if (!dir)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, NET_CONFIG_FILE);
    free(dir);
    char *data = NULL;
    size_t len = 0;
    if (!net || access(path, F_OK) < 0)
        return 0; /* no network was ever set up for it */
    int r = read_file(path, 16u << 20, &data, &len, reterr);
    if (r < 0)
        return r;
    Runtime__V1__PodSandboxConfig *cfg = runtime__v1__pod_sandbox_config__unpack(NULL, len, (const uint8_t *)data);
    free(data);
    if (!cfg)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EINVAL, "%s is corrupt", path);
    r = pod_network_teardown(rs, id, cfg, reterr);
    runtime__v1__pod_sandbox_config__free_unpacked(cfg, NULL);
    return r;
}
