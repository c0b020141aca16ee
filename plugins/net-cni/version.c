/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net-cni: CNI spec versions.
 *
 * A config names the versions it conforms to (cniVersion, and since 1.1
 * also cniVersions); the runtime uses the highest one it speaks, and may
 * lower it to what every plugin of the list answers to VERSION.  Results
 * change shape between versions: 0.1.0/0.2.0 have ip4/ip6 objects, 0.3.x and
 * 0.4.0 an "ips" list whose items carry "version": "4"|"6", 1.x the same list
 * without it.  A result is converted to the conf's version before it is
 * handed to the next plugin as prevResult, as libcni does.
 */
#include <string.h>

#include "cni.h"

#define NC_VERSION_MIN 0x000100 /* 0.1.0 */
#define NC_VERSION_MAX 0x0101ff /* 1.1.x */

int32_t nc_version_num(const char *v) {
    unsigned a, b, c;
    int n = 0;
    if (!v || sscanf(v, "%3u.%3u.%3u%n", &a, &b, &c, &n) != 3 || v[n] != '\0' || a > 255 || b > 255 || c > 255 ||
        !(v[0] >= '0' && v[0] <= '9'))
        return -1;
    return (int32_t)(a << 16 | b << 8 | c);
}

static int spoken(int32_t n) {
    return n >= NC_VERSION_MIN && n <= NC_VERSION_MAX;
}

int nc_conf_max_version(const json_t *list, char *buf, size_t size) {
    const char *best = json_string_value(json_object_get(list, "cniVersion"));
    int32_t bn = spoken(nc_version_num(best)) ? nc_version_num(best) : -1;
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(list, "cniVersions"), i, v) {
        int32_t n = nc_version_num(json_string_value(v));
        if (spoken(n) && n > bn) {
            bn = n;
            best = json_string_value(v);
        }
    }
    if (bn < 0)
        return -1;
    snprintf(buf, size, "%s", best);
    return 0;
}

/* Whether plugin `type` says it supports version `n`: 1 yes, 0 no, -1 it did not answer. */
static int plugin_supports(struct nc *nc, const char *type, const char *asked, int32_t n, char **ret_list) {
    _cleanup_free_ char *input = NULL, *out = NULL;
    struct cleat_error *err = NULL;
    struct nc_call call = {.command = "VERSION"};
    if (asprintf(&input, "{\"cniVersion\":\"%s\"}", asked) < 0)
        return -1;
    if (nc_exec(nc, type, &call, input, &out, &err) < 0) {
        cleat_log(nc->host, CLEAT_LOG_DEBUG, "VERSION of plugin %s: %s", type, nc->host->error_message(err));
        nc->host->error_free(err);
        return -1;
    }
    _cleanup_json_ json_t *root = json_loads(out, 0, NULL);
    const json_t *versions = json_object_get(root, "supportedVersions");
    if (!json_is_array(versions))
        return -1;
    if (ret_list)
        *ret_list = json_dumps(versions, JSON_COMPACT);
    size_t i;
    const json_t *v;
    json_array_foreach(versions, i, v) if (nc_version_num(json_string_value(v)) == n) return 1;
    return 0;
}

/* Does every plugin of the list support version `n` (named `v`)?  A plugin that cannot tell is given the benefit. */
static int all_support(struct nc *nc, const json_t *list, const char *v, int32_t n, char **ret_msg) {
    size_t i;
    const json_t *p;
    json_array_foreach(json_object_get(list, "plugins"), i, p) {
        const char *type = json_string_value(json_object_get(p, "type"));
        char *supported = NULL;
        if (plugin_supports(nc, type, v, n, &supported) == 0) {
            free(*ret_msg);
            if (asprintf(ret_msg, "plugin %s supports CNI versions %s", type, supported ? supported : "?") < 0)
                *ret_msg = NULL;
            free(supported);
            return 0;
        }
        free(supported);
    }
    return 1;
}

int nc_conf_probe(struct nc *nc, struct nc_conf *conf, struct cleat_error **reterr) {
    pthread_mutex_lock(&nc->lock);
    int probed = conf->probed;
    pthread_mutex_unlock(&nc->lock);
    if (probed)
        return 0;
    /* Candidates, highest first: cniVersion and cniVersions that we speak. */
    json_t *cands = json_array();
    json_array_append(cands, json_object_get(conf->list, "cniVersion"));
    json_array_extend(cands, json_object_get(conf->list, "cniVersions"));
    char *msg = NULL, best[32] = "";
    int32_t best_n = -1, tried = -1;
    for (;;) {
        int32_t next = -1;
        const char *nv = NULL;
        size_t i;
        const json_t *v;
        json_array_foreach(cands, i, v) {
            int32_t n = nc_version_num(json_string_value(v));
            if (spoken(n) && n > next && (tried < 0 || n < tried)) {
                next = n;
                nv = json_string_value(v);
            }
        }
        if (next < 0)
            break;
        tried = next;
        if (all_support(nc, conf->list, nv, next, &msg)) {
            best_n = next;
            snprintf(best, sizeof(best), "%s", nv);
            break;
        }
    }
    json_decref(cands);
    if (best_n < 0) {
        int r = cleat_error_set(nc->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                                "network '%s' (%s): no CNI version that the config and all its plugins support: %s",
                                conf->name, conf->file, msg ? msg : "?");
        free(msg);
        return r;
    }
    free(msg);
    pthread_mutex_lock(&nc->lock);
    snprintf(conf->version, sizeof(conf->version), "%s", best);
    conf->probed = 1;
    pthread_mutex_unlock(&nc->lock);
    return 0;
}

/* 0.1.0/0.2.0 {ip4: {ip, gateway, routes}, ip6: ...} → ips/routes. */
static void upgrade_legacy(json_t *res) {
    const char *keys[] = {"ip4", "ip6"};
    json_t *ips = json_array(), *routes = json_object_get(res, "routes");
    if (!routes)
        json_object_set_new(res, "routes", routes = json_array());
    for (size_t i = 0; i < 2; i++) {
        json_t *o = json_object_get(res, keys[i]);
        if (!json_is_object(o))
            continue;
        json_t *ip = json_object();
        json_object_set(ip, "address", json_object_get(o, "ip"));
        if (json_object_get(o, "gateway"))
            json_object_set(ip, "gateway", json_object_get(o, "gateway"));
        json_array_append_new(ips, ip);
        if (json_is_array(routes))
            json_array_extend(routes, json_object_get(o, "routes"));
        json_object_del(res, keys[i]);
    }
    json_object_set_new(res, "ips", ips);
}

json_t *nc_result_convert(const json_t *result, const char *version) {
    json_t *res = json_deep_copy(result);
    int32_t to = nc_version_num(version);
    if (!json_is_object(res)) {
        json_decref(res);
        return NULL;
    }
    json_object_set_new(res, "cniVersion", json_string(version));
    if (to < 0x000300)
        return res; /* nothing is chained before 0.3.0 */
    if (!json_object_get(res, "ips") && (json_object_get(res, "ip4") || json_object_get(res, "ip6")))
        upgrade_legacy(res);
    size_t i;
    json_t *ip;
    json_array_foreach(json_object_get(res, "ips"), i, ip) {
        if (!json_is_object(ip))
            continue;
        if (to >= 0x010000) {
            json_object_del(ip, "version");
        } else if (!json_object_get(ip, "version")) {
            const char *a = json_string_value(json_object_get(ip, "address"));
            json_object_set_new(ip, "version", json_string(a && strchr(a, ':') ? "6" : "4"));
        }
    }
    return res;
}
