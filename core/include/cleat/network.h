/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cleat plugin SDK: the network concern.
 *
 * A network instance wires a pod's network namespace (pinned by the core)
 * to the node's network, like a CNI runtime: setup is CNI ADD, teardown is
 * DEL, check is CHECK, status is the CNI 1.1 STATUS verb and decides the
 * CRI NetworkReady condition.  Addresses the pod got are reported with
 * cleat_host.net_result_add_ip(), primary first.
 *
 * teardown() must succeed when called twice, and when the namespace is
 * already gone (it must still release addresses).  Ops may be called
 * concurrently for different pods; NULL ops answer UNIMPLEMENTED.
 */
#ifndef CLEAT_NETWORK_H
#define CLEAT_NETWORK_H

#include <stdint.h>

#include <cleat/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLEAT_PROTO_TCP 0
#define CLEAT_PROTO_UDP 1
#define CLEAT_PROTO_SCTP 2

struct cleat_port_mapping {
    uint32_t protocol; /* CLEAT_PROTO_* */
    int32_t container_port;
    int32_t host_port;
    uint32_t reserved;
    const char *host_ip; /* NULL or "" for all */
};

/* A pod, as its network sees it.  Borrowed for the call. */
struct cleat_network_pod {
    uint64_t struct_size;
    const char *sandbox_id;
    const char *name;
    const char *kube_namespace;
    const char *uid;
    const char *netns_path;
    const char *cgroup_parent;
    const struct cleat_port_mapping *port_mappings;
    uint64_t n_port_mappings;
    const char *const *dns_servers;  /* NULL-terminated, may be NULL */
    const char *const *dns_searches;
    const char *const *dns_options;
    const char *const *labels;       /* key, value, ..., NULL */
    const char *const *annotations;  /* key, value, ..., NULL */
};

struct cleat_network_ops {
    /* 0 when pods can be networked; otherwise an error whose message says why. */
    int (*status)(void *instance, struct cleat_error **reterr);
    int (*setup)(void *instance, const struct cleat_network_pod *pod, struct cleat_net_result *ret_result,
                 struct cleat_error **reterr);
    int (*teardown)(void *instance, const struct cleat_network_pod *pod, struct cleat_error **reterr);
    int (*check)(void *instance, const struct cleat_network_pod *pod, struct cleat_error **reterr);
    /* kubelet pushed the node's pod CIDR (UpdateRuntimeConfig). */
    int (*update_pod_cidr)(void *instance, const char *pod_cidr, struct cleat_error **reterr);
};

#ifdef __cplusplus
}
#endif

#endif /* CLEAT_NETWORK_H */
