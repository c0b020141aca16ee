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
    const char *const *dns_servers; /* NULL-terminated, may be NULL */
    const char *const *dns_searches;
    const char *const *dns_options;
    const char *const *labels;      /* key, value, ..., NULL */
    const char *const *annotations; /* key, value, ..., NULL */
};

/*
 * The core uses the first network instance configured (there is one, or
 * none).  Restart: cleatd may be killed and started again at any moment, and
 * the network config may change meanwhile; whatever teardown() needs to undo
 * a setup() must therefore be kept on disk (under cleat_host.root_dir()) by
 * setup() before it returns success.
 */
struct cleat_network_ops {
    /*
     * 0 when pods can be networked; otherwise an error whose message says
     * why (no config yet, a plugin binary missing).  It decides the CRI
     * NetworkReady condition and is called on every CRI Status, so it must
     * be cheap, free of side effects, and look again each time: a config a
     * network add-on installs later must turn it ready without a restart.
     */
    int (*status)(void *instance, struct cleat_error **reterr);
    /*
     * Connect the pod's network namespace (`pod->netns_path`) and report its
     * addresses into ret_result with cleat_host.net_result_add_ip(), primary
     * first.  The core calls it once per new sandbox id, never for a
     * host-network pod; it need not succeed when called again for a pod
     * that is set up.  On failure the core calls teardown() for the same pod
     * at once, so a setup may leave work for it, but it should undo what it
     * can itself.  Before returning success it records what teardown() will
     * need (see above).
     */
    int (*setup)(void *instance, const struct cleat_network_pod *pod, struct cleat_net_result *ret_result,
                 struct cleat_error **reterr);
    /*
     * Undo setup(): release the pod's addresses, ports and interfaces.  It
     * undoes what setup() did as setup() recorded it, even after a restart
     * and after the config changed.  A second call succeeds; a pod that was
     * never set up (nothing recorded, no config) succeeds doing nothing; a
     * namespace that is already gone is no excuse to keep an address.  When
     * it fails, the StopPodSandbox that asked fails and kubelet's next one
     * calls it again, so keep the record until every part succeeded.  After
     * a restart the core also calls it for half-made pods it finds on disk.
     */
    int (*teardown)(void *instance, const struct cleat_network_pod *pod, struct cleat_error **reterr);
    /*
     * Verify that the pod's network is still as setup() left it, changing
     * nothing (CNI CHECK); 0 when it is, or when the network cannot check.
     * A pod that was never set up is NOT_FOUND.  Free of side effects, so it
     * may be called any number of times, also after a restart.  The core
     * does not call it yet.
     */
    int (*check)(void *instance, const struct cleat_network_pod *pod, struct cleat_error **reterr);
    /*
     * kubelet pushed the node's pod CIDR (UpdateRuntimeConfig): one CIDR, or
     * an IPv4 and an IPv6 one joined by a comma; the core has checked the
     * syntax.  It applies to pods set up from now on.  kubelet sends the same
     * value again and again, and the core passes the stored value again at
     * every start, so a repeated call must be cheap and change nothing.  A
     * failure at start is logged and cleatd serves anyway.
     */
    int (*update_pod_cidr)(void *instance, const char *pod_cidr, struct cleat_error **reterr);
};

#ifdef __cplusplus
}
#endif

#endif /* CLEAT_NETWORK_H */
