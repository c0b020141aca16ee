/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net-cni: the plugin descriptor, options, init and fini.
 *
 * Options (all optional; README.md says more):
 *   conf_dir: /etc/cni/net.d            where the network config is looked for
 *   bin_dirs: [/opt/cni/bin, /usr/lib/cni]   where plugin binaries are looked for, in order
 *   network_name: mynet                 use the config with this name, not the lexically first
 *   cache_dir: <instance root dir>      where ADD results are kept for DEL and CHECK (persistent)
 *   ifname: eth0                        the pod's interface (CNI_IFNAME)
 *   plugin_timeout_seconds: 60          seconds one plugin invocation may take
 *   ip_pref: ipv4                       primary IP of a dual-stack pod: ipv4, ipv6 or cni (as returned)
 *
 * A missing conf dir or plugin binary does not fail init: status() says so
 * (a CNI daemonset installs both after the node starts).
 */
#include <string.h>

#include "cni.h"
#include "plugin_config.h"
#include "plugin_fs.h"
#include "plugin_strv.h"

static const char *const nc_keys[] = {
    "conf_dir", "bin_dirs", "network_name", "cache_dir", "ifname", "plugin_timeout_seconds", "ip_pref", NULL};
static const char *const default_bin_dirs[] = {"/opt/cni/bin", "/usr/lib/cni", NULL};

/* --- options -------------------------------------------------------------------- */

struct options {
    const char *conf_dir, *network_name, *cache_dir, *ifname, *ip_pref;
    const struct cleat_config *bin_dirs; /* a sequence, or NULL for the defaults */
    int64_t timeout_s;
};

static int check_bin_dirs(const struct cleat_host *host, const struct cleat_config *options, struct options *o,
                          struct cleat_error **reterr) {
    const struct cleat_config *dirs = host->config_get0(options, "bin_dirs");
    uint32_t kind = host->config_kind(dirs);
    if (kind == CLEAT_CONFIG_ABSENT || kind == CLEAT_CONFIG_NULL)
        return 0;
    if (kind != CLEAT_CONFIG_SEQ || host->config_count(dirs) == 0)
        return cleat_config_error(host, dirs, reterr, "'bin_dirs' must be a non-empty list of absolute paths");
    for (uint64_t i = 0; i < host->config_count(dirs); i++) {
        const struct cleat_config *item = host->config_at0(dirs, i);
        const char *s = host->config_scalar0(item);
        if (!s || s[0] != '/' || strchr(s, ':'))
            return cleat_config_error(host, item, reterr,
                                      "'bin_dirs' items must be absolute paths without ':', not '%s'", s ? s : "");
    }
    o->bin_dirs = dirs;
    return 0;
}

static int check_strings(const struct cleat_host *host, const struct cleat_config *options, struct options *o,
                         struct cleat_error **reterr) {
    if (o->network_name && !nc_valid_name(o->network_name))
        return cleat_config_error(host, host->config_get0(options, "network_name"), reterr,
                                  "'network_name' '%s' is not a CNI network name", o->network_name);
    if (!o->ifname[0] || strlen(o->ifname) > 15 || strpbrk(o->ifname, "/: \t\n"))
        return cleat_config_error(host, host->config_get0(options, "ifname"), reterr,
                                  "'ifname' '%s' is not an interface name", o->ifname);
    if (strcmp(o->ip_pref, "ipv4") && strcmp(o->ip_pref, "ipv6") && strcmp(o->ip_pref, "cni"))
        return cleat_config_error(host, host->config_get0(options, "ip_pref"), reterr,
                                  "'ip_pref' must be ipv4, ipv6 or cni, not '%s'", o->ip_pref);
    return 0;
}

static int read_options(const struct cleat_host *host, const struct cleat_config *options, struct options *o,
                        struct cleat_error **reterr) {
    int r;
    if ((r = host->config_check_keys(options, nc_keys, reterr)) < 0 ||
        (r = plugin_config_path(host, options, "conf_dir", "/etc/cni/net.d", &o->conf_dir, reterr)) < 0 ||
        (r = plugin_config_path(host, options, "cache_dir", NULL, &o->cache_dir, reterr)) < 0 ||
        (r = host->config_get_string(options, "network_name", NULL, &o->network_name, reterr)) < 0 ||
        (r = host->config_get_string(options, "ifname", "eth0", &o->ifname, reterr)) < 0 ||
        (r = host->config_get_string(options, "ip_pref", "ipv4", &o->ip_pref, reterr)) < 0)
        return r;
    if ((r = host->config_get_int(options, "plugin_timeout_seconds", 60, 1, 3600, &o->timeout_s, reterr)) < 0 ||
        (r = check_bin_dirs(host, options, o, reterr)) < 0)
        return r;
    return check_strings(host, options, o, reterr);
}

static int nc_validate(const struct cleat_host *host, const struct cleat_config *options, struct cleat_error **reterr) {
    struct options o = {0};
    return read_options(host, options, &o, reterr);
}

/* --- instances ------------------------------------------------------------------ */

static void nc_fini(void *instance) {
    struct nc *nc = instance;
    if (!nc)
        return;
    if (nc->conf)
        nc_conf_unref(nc, nc->conf);
    plugin_strv_free(nc->bin_dirs);
    free(nc->cni_path);
    free(nc->conf_dir);
    free(nc->network_name);
    free(nc->cache_dir);
    free(nc->ifname);
    free(nc->conf_error);
    free(nc->pod_cidr);
    pthread_mutex_destroy(&nc->lock);
    free(nc);
}

static int set_bin_dirs(struct nc *nc, const struct options *o) {
    const struct cleat_host *host = nc->host;
    size_t n = o->bin_dirs ? (size_t)host->config_count(o->bin_dirs) : 2, len = 0;
    if (!(nc->bin_dirs = calloc(n + 1, sizeof(char *))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *d = o->bin_dirs ? host->config_scalar0(host->config_at0(o->bin_dirs, i)) : default_bin_dirs[i];
        if (!(nc->bin_dirs[i] = strdup(d)))
            return -ENOMEM;
        len += strlen(d) + 1;
    }
    if (!(nc->cni_path = calloc(1, len + 1)))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(nc->cni_path, ":");
        strcat(nc->cni_path, nc->bin_dirs[i]);
    }
    return 0;
}

static int set_fields(struct nc *nc, const struct options *o, struct cleat_error **reterr) {
    const char *cache = o->cache_dir ? o->cache_dir : nc->host->root_dir(nc->host);
    nc->conf_dir = strdup(o->conf_dir);
    nc->cache_dir = strdup(cache);
    nc->ifname = strdup(o->ifname);
    nc->network_name = o->network_name ? strdup(o->network_name) : NULL;
    nc->timeout_ms = o->timeout_s * 1000;
    nc->ip_pref = !strcmp(o->ip_pref, "ipv6")  ? NC_IP_PREF_IPV6
                  : !strcmp(o->ip_pref, "cni") ? NC_IP_PREF_CNI
                                               : NC_IP_PREF_IPV4;
    if (!nc->conf_dir || !nc->cache_dir || !nc->ifname || (o->network_name && !nc->network_name) ||
        set_bin_dirs(nc, o) < 0)
        return plugin_oom(nc->host, reterr);
    char results[4200];
    snprintf(results, sizeof(results), "%s/results", nc->cache_dir);
    int r = plugin_mkdir_p(results, 0700);
    if (r < 0)
        return cleat_error_set(nc->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot create the CNI cache dir %s: %s",
                               results, strerror(-r));
    return 0;
}

static int nc_init(const struct cleat_host *host, const struct cleat_config *options, void **ret_instance,
                   struct cleat_error **reterr) {
    struct nc *nc = calloc(1, sizeof(*nc));
    if (!nc)
        return plugin_oom(host, reterr);
    nc->host = host;
    pthread_mutex_init(&nc->lock, NULL);
    struct options o = {0};
    int r = read_options(host, options, &o, reterr);
    if (r == 0)
        r = set_fields(nc, &o, reterr);
    if (r < 0) {
        nc_fini(nc);
        return r;
    }
    *ret_instance = nc;
    return 0;
}

static const struct cleat_network_ops nc_ops = {
    .status = nc_status,
    .setup = nc_setup,
    .teardown = nc_teardown,
    .check = nc_check,
    .update_pod_cidr = nc_update_pod_cidr,
};

CLEAT_PLUGIN_DEFINE(CLEAT_CONCERN_NETWORK, "net-cni", "1.0",
                    "CNI networks: conf dir, plugin execution, result cache (CNI spec 0.3.0 to 1.1.0)", nc_validate,
                    nc_init, nc_fini, nc_ops);
