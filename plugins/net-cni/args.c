/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net-cni: what a pod tells its plugins.
 *
 * CNI_ARGS carries the Kubernetes identity of the pod, as kubelet's runtimes
 * set it.  Capability arguments go into a plugin's runtimeConfig only when
 * the plugin declares the capability (CNI CONVENTIONS.md):
 *
 *   portMappings  the pod's port mappings with a hostPort (portmap)
 *   ipRanges      the node's pod CIDR(s) from UpdateRuntimeConfig (host-local)
 *   bandwidth     kubernetes.io/{ingress,egress}-bandwidth annotations (bandwidth)
 *   dns           the pod's DNS config
 *   ips, mac      cni.cleat.io/ips (comma-separated) and cni.cleat.io/mac annotations
 *   cgroupPath    the pod's cgroup parent
 */
#include <ctype.h>
#include <string.h>

#include "cni.h"

#define ANN_INGRESS "kubernetes.io/ingress-bandwidth"
#define ANN_EGRESS "kubernetes.io/egress-bandwidth"
#define ANN_IPS "cni.cleat.io/ips"
#define ANN_MAC "cni.cleat.io/mac"

char *nc_cni_args(const struct cleat_network_pod *pod) {
    char *s = NULL;
    if (asprintf(&s,
                 "IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=%s",
                 pod->kube_namespace ? pod->kube_namespace : "", pod->name ? pod->name : "",
                 pod->sandbox_id ? pod->sandbox_id : "", pod->uid ? pod->uid : "") < 0)
        return NULL;
    return s;
}

static const char *annotation(const struct cleat_network_pod *pod, const char *key) {
    for (size_t i = 0; pod->annotations && pod->annotations[i] && pod->annotations[i + 1]; i += 2)
        if (strcmp(pod->annotations[i], key) == 0)
            return pod->annotations[i + 1];
    return NULL;
}

static int round_up(long double x, uint64_t *ret) {
    if (x < 0 || x >= 18446744073709551615.0L)
        return -1;
    /* Decimal fractions are not exact in binary: 1.1 * 1e6 must stay 1100000, not round up to 1100001. */
    uint64_t near = (uint64_t)(x + 0.5L), u = (uint64_t)x;
    long double d = x - (long double)near;
    *ret = (d < 1e-6L && d > -1e-6L) ? near : (long double)u < x ? u + 1 : u;
    return 0;
}

/*
 * A Kubernetes quantity ("10M", "1.5Gi", "100k", "1e6", "500m") rounded up
 * to a whole number, as resource.Quantity.Value() reads it.
 */
int nc_parse_quantity(const char *s, uint64_t *ret) {
    static const struct {
        const char *suffix;
        long double mult;
    } units[] = {{"Ki", 1024.0L},
                 {"Mi", 1048576.0L},
                 {"Gi", 1073741824.0L},
                 {"Ti", 1099511627776.0L},
                 {"Pi", 1125899906842624.0L},
                 {"Ei", 1152921504606846976.0L},
                 {"n", 1e-9L},
                 {"u", 1e-6L},
                 {"m", 1e-3L},
                 {"k", 1e3L},
                 {"M", 1e6L},
                 {"G", 1e9L},
                 {"T", 1e12L},
                 {"P", 1e15L},
                 {"E", 1e18L},
                 {"", 1.0L}};
    const char *p = s;
    long double v = 0, frac = 0.1L;
    int digits = 0;
    if (*p == '+')
        p++;
    for (; isdigit((unsigned char)*p); p++, digits++)
        v = v * 10 + (*p - '0');
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++, digits++, frac /= 10)
            v += (*p - '0') * frac;
    if (!digits)
        return -1;
    if ((*p == 'e' || *p == 'E') && (isdigit((unsigned char)p[1]) || p[1] == '-' || p[1] == '+')) {
        char *end;
        long e = strtol(p + 1, &end, 10);
        if (*end || e < -30 || e > 30)
            return -1;
        for (; e > 0; e--)
            v *= 10;
        for (; e < 0; e++)
            v /= 10;
        return round_up(v, ret);
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(p, units[i].suffix) == 0)
            return round_up(v * units[i].mult, ret);
    return -1;
}

static const char *proto_name(uint32_t p) {
    return p == CLEAT_PROTO_UDP ? "udp" : p == CLEAT_PROTO_SCTP ? "sctp" : "tcp";
}

static json_t *port_mappings(const struct cleat_network_pod *pod) {
    json_t *a = json_array();
    for (uint64_t i = 0; a && i < pod->n_port_mappings; i++) {
        const struct cleat_port_mapping *m = &pod->port_mappings[i];
        if (m->host_port <= 0)
            continue;
        json_t *o = json_pack("{s:i, s:i, s:s}", "hostPort", (int)m->host_port, "containerPort", (int)m->container_port,
                              "protocol", proto_name(m->protocol));
        if (o && m->host_ip && m->host_ip[0])
            json_object_set_new(o, "hostIP", json_string(m->host_ip));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *strings(const char *const *v) {
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *dns(const struct cleat_network_pod *pod) {
    json_t *o = json_object();
    const char *keys[] = {"servers", "searches", "options"};
    const char *const *vals[] = {pod->dns_servers, pod->dns_searches, pod->dns_options};
    for (size_t i = 0; i < 3; i++)
        if (vals[i] && vals[i][0])
            json_object_set_new(o, keys[i], strings(vals[i]));
    return o;
}

/* "a, b,c" → ["a","b","c"]; kind is "subnet" for ipRanges ([[{subnet}], ...]) or NULL for plain strings. */
static json_t *split_list(const char *s, const char *kind) {
    json_t *a = json_array();
    char *copy = strdup(s), *save = NULL;
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*t))
            t++;
        size_t n = strlen(t);
        while (n && isspace((unsigned char)t[n - 1]))
            t[--n] = '\0';
        if (!n)
            continue;
        json_array_append_new(a, kind ? json_pack("[{s:s}]", kind, t) : json_string(t));
    }
    free(copy);
    return a;
}

/* kubelet's rule for the bandwidth annotations: a quantity between 1k and 1P bits per second. */
static int bandwidth_rate(struct nc *nc, const char *key, const char *v, uint64_t *ret, struct cleat_error **reterr) {
    if (nc_parse_quantity(v, ret) < 0)
        return cleat_error_set(nc->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "annotation %s: '%s' is not a quantity", key, v);
    if (*ret < 1000 || *ret > 1000000000000000ull)
        return cleat_error_set(nc->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "annotation %s: '%s' is not between 1k and 1P (bits per second)", key, v);
    return 0;
}

/* As containerd: the rate from the annotation, the burst unlimited (2^32 - 1 bits). */
static int bandwidth(struct nc *nc, const struct cleat_network_pod *pod, json_t *caps, struct cleat_error **reterr) {
    const char *in = annotation(pod, ANN_INGRESS), *out = annotation(pod, ANN_EGRESS);
    uint64_t rate;
    int r;
    if (!in && !out)
        return 0;
    json_t *bw = json_object();
    json_object_set_new(caps, "bandwidth", bw);
    if (in) {
        if ((r = bandwidth_rate(nc, ANN_INGRESS, in, &rate, reterr)) < 0)
            return r;
        json_object_set_new(bw, "ingressRate", json_integer((json_int_t)rate));
        json_object_set_new(bw, "ingressBurst", json_integer(4294967295));
    }
    if (out) {
        if ((r = bandwidth_rate(nc, ANN_EGRESS, out, &rate, reterr)) < 0)
            return r;
        json_object_set_new(bw, "egressRate", json_integer((json_int_t)rate));
        json_object_set_new(bw, "egressBurst", json_integer(4294967295));
    }
    return 0;
}

int nc_capability_args(struct nc *nc, const struct cleat_network_pod *pod, json_t **ret, struct cleat_error **reterr) {
    json_t *caps = json_object();
    json_object_set_new(caps, "portMappings", port_mappings(pod));
    json_object_set_new(caps, "dns", dns(pod));
    pthread_mutex_lock(&nc->lock);
    if (nc->pod_cidr && nc->pod_cidr[0])
        json_object_set_new(caps, "ipRanges", split_list(nc->pod_cidr, "subnet"));
    pthread_mutex_unlock(&nc->lock);
    const char *ips = annotation(pod, ANN_IPS), *mac = annotation(pod, ANN_MAC);
    if (ips && ips[0])
        json_object_set_new(caps, "ips", split_list(ips, NULL));
    if (mac && mac[0])
        json_object_set_new(caps, "mac", json_string(mac));
    if (pod->cgroup_parent && pod->cgroup_parent[0])
        json_object_set_new(caps, "cgroupPath", json_string(pod->cgroup_parent));
    int r = bandwidth(nc, pod, caps, reterr);
    if (r < 0) {
        json_decref(caps);
        return r;
    }
    *ret = caps;
    return 0;
}

json_t *nc_plugin_request(const json_t *plugin, const char *name, const char *version, const json_t *caps,
                          const json_t *prev) {
    json_t *req = json_deep_copy(plugin);
    if (!req)
        return NULL;
    json_object_set_new(req, "name", json_string(name));
    json_object_set_new(req, "cniVersion", json_string(version));
    json_t *rc = json_object();
    const char *key;
    json_t *on;
    json_object_foreach(json_object_get(plugin, "capabilities"), key, on) {
        json_t *arg = json_object_get(caps, key);
        if (json_is_true(on) && arg)
            json_object_set(rc, key, arg);
    }
    if (json_object_size(rc))
        json_object_set(req, "runtimeConfig", rc);
    json_decref(rc);
    json_object_del(req, "capabilities"); /* the spec: "must not be set" in a request */
    if (prev)
        json_object_set_new(req, "prevResult", json_deep_copy(prev));
    return req;
}
