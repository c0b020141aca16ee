/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net-cni: the pod's addresses from the final ADD result, in the order the
 * CRI wants them (PodSandboxStatus: the first is the primary IP, the rest
 * additional IPs).
 *
 * As containerd's CRI does: only the addresses on the pod's interface
 * (ifname, inside the sandbox) count - a bridge result also lists the
 * host-side bridge and veth - and the primary is the first IPv4 one
 * (ip_pref: ipv4, the default), the first IPv6 one (ipv6), or simply the
 * first one (cni).  The addresses before the primary keep their order,
 * followed by those after it.  A result whose addresses name no interface
 * at all (some plugins omit "interface") is taken whole.
 */
#include <string.h>

#include "cni.h"

/* The interface name of ips[i], or NULL; *in_sandbox says whether it is the container's side. */
static const char *ip_ifname(const json_t *result, const json_t *ip, int *in_sandbox) {
    const json_t *idx = json_object_get(ip, "interface");
    const json_t *ifaces = json_object_get(result, "interfaces");
    *in_sandbox = 0;
    if (!json_is_integer(idx) || json_integer_value(idx) < 0 ||
        (size_t)json_integer_value(idx) >= json_array_size(ifaces))
        return NULL;
    const json_t *iface = json_array_get(ifaces, (size_t)json_integer_value(idx));
    const char *sandbox = json_string_value(json_object_get(iface, "sandbox"));
    *in_sandbox = sandbox && sandbox[0];
    return json_string_value(json_object_get(iface, "name"));
}

static int is_v6(const json_t *ip) {
    const char *a = json_string_value(json_object_get(ip, "address"));
    return a && strchr(a, ':');
}

static int add(struct nc *nc, const json_t *ip, const char *ifname, struct cleat_net_result *out,
               struct cleat_error **reterr) {
    const char *addr = json_string_value(json_object_get(ip, "address"));
    const char *gw = json_string_value(json_object_get(ip, "gateway"));
    if (!addr)
        return cleat_error_set(nc->host, reterr, CLEAT_STATUS_INTERNAL, EINVAL,
                               "the CNI result has an address without \"address\"");
    return nc->host->net_result_add_ip(out, ifname, addr, gw, reterr);
}

int nc_report(struct nc *nc, const json_t *result, const char *ifname, struct cleat_net_result *out,
              struct cleat_error **reterr) {
    /* A 0.1.0/0.2.0 result has ip4/ip6 instead of ips: read it as the newer form. */
    json_t *upgraded = NULL;
    if (!json_object_get(result, "ips") && (json_object_get(result, "ip4") || json_object_get(result, "ip6"))) {
        if (!(upgraded = nc_result_convert(result, "1.0.0")))
            return plugin_oom(nc->host, reterr);
        result = upgraded;
    }
    const json_t *ips = json_object_get(result, "ips");
    size_t n = json_array_size(ips), k = 0;
    const json_t **mine = calloc(n + 1, sizeof(*mine));
    if (!mine) {
        json_decref(upgraded);
        return plugin_oom(nc->host, reterr);
    }
    int any_named = 0;
    for (size_t i = 0; i < n; i++) {
        int sandbox;
        const char *name = ip_ifname(result, json_array_get(ips, i), &sandbox);
        any_named |= name != NULL;
        if (name && sandbox && strcmp(name, ifname) == 0)
            mine[k++] = json_array_get(ips, i);
    }
    if (!k && !any_named)
        for (size_t i = 0; i < n; i++)
            mine[k++] = json_array_get(ips, i);
    size_t primary = 0;
    if (nc->ip_pref != NC_IP_PREF_CNI)
        for (size_t i = 0; i < k; i++)
            if (is_v6(mine[i]) == (nc->ip_pref == NC_IP_PREF_IPV6)) {
                primary = i;
                break;
            }
    int r = k ? add(nc, mine[primary], ifname, out, reterr) : 0;
    for (size_t i = 0; r >= 0 && i < k; i++)
        if (i != primary)
            r = add(nc, mine[i], ifname, out, reterr);
    free(mine);
    json_decref(upgraded);
    return r;
}
