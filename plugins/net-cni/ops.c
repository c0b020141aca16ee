/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net-cni: the network ops over a whole plugin list, as libcni runs them.
 *
 *   ADD    plugins in order; each result, converted to the conf's version,
 *          is the next one's prevResult; the last is cached, then reported.
 *          A failure runs DEL over the plugins that were reached, so that
 *          nothing of the half-made network stays (the core tears down too).
 *   DEL    plugins in reverse, with the cached conf, capability arguments
 *          and (from 0.4.0) the cached result as prevResult - what ADD used,
 *          even after the conf changed or cleatd restarted.  Without a cache,
 *          the current conf.  A netns that is gone is passed as "" (as
 *          containerd does): the plugins still release what they hold.
 *          Best effort: every plugin is asked even if one fails; the cache
 *          goes only when all succeeded, so that a retry does it again.
 *   CHECK  (0.4.0 and later, unless disableCheck) the cached result to each.
 *   STATUS a valid conf whose plugin binaries (and IPAM) exist, whose
 *          versions agree (VERSION), and from 1.1.0 each plugin's STATUS.
 */
#include <string.h>
#include <sys/statfs.h>

#include "cni.h"

#define NC_NSFS_MAGIC 0x6e736673

struct list_ctx {
    const json_t *list;
    const char *name, *version;
    const json_t *caps;
    struct nc_call call;
};

static const char *plugin_type(const json_t *list, size_t i) {
    return json_string_value(json_object_get(json_array_get(json_object_get(list, "plugins"), i), "type"));
}

/* Run plugin i of the list with `prev`; its stdout parsed into *ret (when ret is not NULL). */
static int run_one(struct nc *nc, const struct list_ctx *x, size_t i, const json_t *prev, json_t **ret,
                   struct cleat_error **reterr) {
    const json_t *plugin = json_array_get(json_object_get(x->list, "plugins"), i);
    const char *type = plugin_type(x->list, i);
    _cleanup_json_ json_t *req = nc_plugin_request(plugin, x->name, x->version, x->caps, prev);
    _cleanup_free_ char *input = req ? json_dumps(req, JSON_COMPACT) : NULL, *out = NULL;
    if (!input)
        return plugin_oom(nc->host, reterr);
    int r = nc_exec(nc, type, &x->call, input, &out, reterr);
    if (r < 0 || !ret)
        return r;
    json_error_t jerr;
    _cleanup_json_ json_t *res = json_loads(out, 0, &jerr);
    if (!json_is_object(res))
        return cleat_error_set(nc->host, reterr, CLEAT_STATUS_UNKNOWN, EINVAL,
                               "plugin %s returned an invalid result: %s", type, res ? "not a JSON object" : jerr.text);
    if (!(*ret = nc_result_convert(res, x->version)))
        return plugin_oom(nc->host, reterr);
    return 0;
}

static int chained(const char *version) {
    return nc_version_num(version) >= 0x000300;
}

/* DEL of plugins [0, upto) in reverse; all are asked, the first error is returned. */
static int list_del(struct nc *nc, const struct list_ctx *x, const json_t *prev, size_t upto, int skip_missing,
                    struct cleat_error **reterr) {
    int first = 0;
    if (nc_version_num(x->version) < 0x000400)
        prev = NULL; /* prevResult on DEL came with 0.4.0 */
    for (size_t i = upto; i-- > 0;) {
        const char *type = plugin_type(x->list, i);
        if (skip_missing) {
            char *path = nc_find_plugin(nc, type);
            free(path);
            if (!path)
                continue; /* it never ran, so it made nothing */
        }
        struct cleat_error *err = NULL;
        int r = run_one(nc, x, i, prev, NULL, &err);
        if (r < 0 && first == 0) {
            first = r;
            if (reterr)
                *reterr = err;
            else
                nc->host->error_free(err);
        } else if (r < 0) {
            cleat_log(nc->host, CLEAT_LOG_WARNING, "DEL %s: %s", x->call.container_id, nc->host->error_message(err));
            nc->host->error_free(err);
        }
    }
    return first;
}

/* ADD in order; on failure, *ret_reached is how many plugins were run and *ret_partial the last good result. */
static int list_add(struct nc *nc, const struct list_ctx *x, json_t **ret_result, size_t *ret_reached,
                    json_t **ret_partial, struct cleat_error **reterr) {
    json_t *prev = NULL;
    size_t n = json_array_size(json_object_get(x->list, "plugins"));
    for (size_t i = 0; i < n; i++) {
        json_t *res = NULL;
        int r = run_one(nc, x, i, chained(x->version) ? prev : NULL, &res, reterr);
        if (r < 0) {
            *ret_reached = i + 1;
            *ret_partial = prev;
            return r;
        }
        json_decref(prev);
        prev = res;
    }
    *ret_result = prev;
    return 0;
}

/* The pod's netns for DEL: its path while it is a network namespace, else "". */
static const char *del_netns(const char *path) {
    struct statfs sf;
    if (!path || !path[0] || statfs(path, &sf) < 0 || (uint64_t)sf.f_type != NC_NSFS_MAGIC)
        return "";
    return path;
}

static int check_pod(struct nc *nc, const struct cleat_network_pod *pod, struct cleat_error **reterr) {
    const char *id = pod->sandbox_id;
    if (!id || !nc_valid_name(id) || strlen(id) > 128)
        return cleat_error_set(nc->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "'%s' is not a valid CNI container id", id ? id : "");
    return 0;
}

/* ADD failed: take down what the plugins reached, then hand back the ADD's own error. */
static void undo_add(struct nc *nc, struct list_ctx *x, const json_t *partial, size_t reached) {
    struct cleat_error *err = NULL;
    struct list_ctx d = *x;
    d.call.command = "DEL";
    if (list_del(nc, &d, partial, reached, 1, &err) < 0) {
        cleat_log(nc->host, CLEAT_LOG_WARNING, "pod %s: DEL after a failed ADD: %s", x->call.container_id,
                  nc->host->error_message(err));
        nc->host->error_free(err);
    }
}

static int add_and_cache(struct nc *nc, struct nc_conf *conf, struct list_ctx *x, const struct cleat_network_pod *pod,
                         struct cleat_net_result *out, struct cleat_error **reterr) {
    json_t *result = NULL, *partial = NULL;
    size_t reached = 0;
    int r = list_add(nc, x, &result, &reached, &partial, reterr);
    if (r < 0) {
        undo_add(nc, x, partial, reached);
        json_decref(partial);
        return r;
    }
    size_t n = json_array_size(json_object_get(x->list, "plugins"));
    r = nc_cache_write(nc, pod->sandbox_id, x->call.ifname, x->call.netns, x->call.args, conf, x->version, x->caps,
                       result, reterr);
    if (r == 0)
        r = nc_report(nc, result, x->call.ifname, out, reterr);
    if (r < 0) {
        undo_add(nc, x, result, n);
        nc_cache_remove(nc, pod->sandbox_id, x->call.ifname, NULL);
    }
    json_decref(result);
    return r;
}

int nc_setup(void *instance, const struct cleat_network_pod *pod, struct cleat_net_result *ret_result,
             struct cleat_error **reterr) {
    struct nc *nc = instance;
    struct nc_conf *conf = NULL;
    int r = check_pod(nc, pod, reterr);
    if (r == 0)
        r = nc_conf_get(nc, &conf, reterr);
    if (r == 0)
        r = nc_conf_probe(nc, conf, reterr);
    if (r < 0) {
        nc_conf_unref(nc, conf);
        return r;
    }
    char version[32];
    pthread_mutex_lock(&nc->lock);
    snprintf(version, sizeof(version), "%s", conf->version);
    pthread_mutex_unlock(&nc->lock);
    _cleanup_json_ json_t *caps = NULL;
    _cleanup_free_ char *args = nc_cni_args(pod);
    r = args ? nc_capability_args(nc, pod, &caps, reterr) : plugin_oom(nc->host, reterr);
    struct list_ctx x = {.list = conf->list,
                         .name = conf->name,
                         .version = version,
                         .caps = caps,
                         .call = {.command = "ADD",
                                  .container_id = pod->sandbox_id,
                                  .netns = pod->netns_path,
                                  .ifname = nc->ifname,
                                  .args = args}};
    if (r == 0)
        r = add_and_cache(nc, conf, &x, pod, ret_result, reterr);
    nc_conf_unref(nc, conf);
    return r;
}

/* DEL without a cache: the current conf (when there is none, nothing can have been made with one). */
static int teardown_uncached(struct nc *nc, const struct cleat_network_pod *pod, struct list_ctx *x,
                             struct cleat_error **reterr) {
    struct nc_conf *conf = NULL;
    struct cleat_error *err = NULL;
    if (nc_conf_get(nc, &conf, &err) < 0) {
        cleat_log(nc->host, CLEAT_LOG_INFO, "pod %s: no cached CNI result and %s: nothing to tear down",
                  pod->sandbox_id, nc->host->error_message(err));
        nc->host->error_free(err);
        return 0;
    }
    char version[32];
    pthread_mutex_lock(&nc->lock);
    snprintf(version, sizeof(version), "%s", conf->version);
    pthread_mutex_unlock(&nc->lock);
    json_t *caps = NULL;
    if (nc_capability_args(nc, pod, &caps, &err) < 0) { /* a bad annotation must not stop a DEL */
        nc->host->error_free(err);
        caps = json_object();
    }
    x->list = conf->list;
    x->name = conf->name;
    x->version = version;
    x->caps = caps;
    int r = list_del(nc, x, NULL, json_array_size(json_object_get(conf->list, "plugins")), 1, reterr);
    json_decref(caps);
    nc_conf_unref(nc, conf);
    return r;
}

int nc_teardown(void *instance, const struct cleat_network_pod *pod, struct cleat_error **reterr) {
    struct nc *nc = instance;
    int r = check_pod(nc, pod, reterr);
    if (r < 0)
        return r;
    _cleanup_free_ char *args = nc_cni_args(pod);
    struct list_ctx x = {.call = {.command = "DEL",
                                  .container_id = pod->sandbox_id,
                                  .netns = del_netns(pod->netns_path),
                                  .ifname = nc->ifname,
                                  .args = args}};
    struct nc_cached c = {0};
    struct cleat_error *err = NULL;
    r = nc_cache_read(nc, pod->sandbox_id, nc->ifname, &c, &err);
    if (r < 0 && r != -ENOENT) {
        cleat_log(nc->host, CLEAT_LOG_WARNING, "pod %s: %s; DEL with the current config", pod->sandbox_id,
                  nc->host->error_message(err));
        nc->host->error_free(err);
    }
    if (r < 0) {
        r = teardown_uncached(nc, pod, &x, reterr);
    } else {
        x.list = c.list;
        x.name = json_string_value(json_object_get(c.list, "name"));
        x.version = c.version;
        x.caps = c.caps;
        x.call.ifname = c.ifname;
        r = list_del(nc, &x, c.result, json_array_size(json_object_get(c.list, "plugins")), 0, reterr);
    }
    if (r == 0)
        r = nc_cache_remove(nc, pod->sandbox_id, x.call.ifname, reterr);
    nc_cached_clear(&c);
    return r;
}

int nc_check(void *instance, const struct cleat_network_pod *pod, struct cleat_error **reterr) {
    struct nc *nc = instance;
    struct nc_cached c = {0};
    int r = check_pod(nc, pod, reterr);
    if (r == 0)
        r = nc_cache_read(nc, pod->sandbox_id, nc->ifname, &c, reterr);
    if (r == -ENOENT)
        return cleat_error_set(nc->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT,
                               "pod %s has no CNI result (it was never set up)", pod->sandbox_id);
    if (r < 0)
        return r;
    _cleanup_free_ char *args = nc_cni_args(pod);
    struct list_ctx x = {.list = c.list,
                         .name = json_string_value(json_object_get(c.list, "name")),
                         .version = c.version,
                         .caps = c.caps,
                         .call = {.command = "CHECK",
                                  .container_id = pod->sandbox_id,
                                  .netns = pod->netns_path,
                                  .ifname = c.ifname,
                                  .args = args}};
    size_t n = json_array_size(json_object_get(c.list, "plugins"));
    if (nc_version_num(c.version) >= 0x000400 && !json_is_true(json_object_get(c.list, "disableCheck")))
        for (size_t i = 0; r == 0 && i < n; i++)
            r = run_one(nc, &x, i, c.result, NULL, reterr);
    nc_cached_clear(&c);
    return r;
}

/* Every binary the list needs: each plugin's, and its IPAM's. */
static int binaries_present(struct nc *nc, const struct nc_conf *conf, struct cleat_error **reterr) {
    size_t i;
    const json_t *p;
    json_array_foreach(json_object_get(conf->list, "plugins"), i, p) {
        const char *types[] = {json_string_value(json_object_get(p, "type")),
                               json_string_value(json_object_get(json_object_get(p, "ipam"), "type"))};
        for (size_t k = 0; k < 2; k++) {
            char *path = types[k] && types[k][0] && !strchr(types[k], '/') ? nc_find_plugin(nc, types[k]) : NULL;
            free(path);
            if (types[k] && !path)
                return cleat_error_set(nc->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOENT,
                                       "network '%s' (%s): %splugin %s not found in %s", conf->name, conf->file,
                                       k ? "IPAM " : "", types[k], nc->cni_path);
        }
    }
    return 0;
}

int nc_status(void *instance, struct cleat_error **reterr) {
    struct nc *nc = instance;
    struct nc_conf *conf = NULL;
    int r = nc_conf_get(nc, &conf, reterr);
    if (r == 0)
        r = binaries_present(nc, conf, reterr);
    if (r == 0)
        r = nc_conf_probe(nc, conf, reterr);
    char version[32] = "";
    if (r == 0) {
        pthread_mutex_lock(&nc->lock);
        snprintf(version, sizeof(version), "%s", conf->version);
        pthread_mutex_unlock(&nc->lock);
    }
    if (r == 0 && nc_version_num(version) >= 0x010100) {
        struct list_ctx x = {.list = conf->list, .name = conf->name, .version = version, .call = {.command = "STATUS"}};
        size_t n = json_array_size(json_object_get(conf->list, "plugins"));
        for (size_t i = 0; r == 0 && i < n; i++)
            if ((r = run_one(nc, &x, i, NULL, NULL, reterr)) < 0 && reterr)
                *reterr = nc->host->error_wrap(*reterr, "network '%s' (%s)", conf->name, conf->file);
    }
    nc_conf_unref(nc, conf);
    return r;
}

int nc_update_pod_cidr(void *instance, const char *pod_cidr, struct cleat_error **reterr) {
    struct nc *nc = instance;
    char *copy = pod_cidr && pod_cidr[0] ? strdup(pod_cidr) : NULL;
    if (pod_cidr && pod_cidr[0] && !copy)
        return plugin_oom(nc->host, reterr);
    pthread_mutex_lock(&nc->lock);
    free(nc->pod_cidr);
    nc->pod_cidr = copy;
    pthread_mutex_unlock(&nc->lock);
    return 0;
}
