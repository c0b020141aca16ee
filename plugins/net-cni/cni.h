/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net-cni: the plugin's internal interfaces.
 *
 *   plugin.c   descriptor, options, init/fini, the ops table
 *   conf.c     finding and validating the network config in conf_dir
 *   version.c  CNI version numbers, VERSION probing, result conversion
 *   exec.c     running one CNI plugin binary (env, stdin, stdout, errors)
 *   args.c     CNI_ARGS and the capability arguments (runtimeConfig)
 *   cache.c    the on-disk result cache DEL and CHECK use
 *   ops.c      ADD / DEL / CHECK / STATUS over a whole plugin list
 *   report.c   which of a result's addresses the pod gets, in what order
 */
#ifndef CLEAT_NET_CNI_H
#define CLEAT_NET_CNI_H

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include <cleat/network.h>
#include <cleat/plugin.h>

#include "plugin_cleanup.h"
#include "plugin_error.h"
#include "plugin_json.h"

#define NC_IP_PREF_IPV4 0
#define NC_IP_PREF_IPV6 1
#define NC_IP_PREF_CNI 2

/* One network configuration list as loaded from conf_dir.  Immutable but for the version, refcounted. */
struct nc_conf {
    int refs;         /* under nc->lock */
    char *file;       /* where it came from */
    char *name;       /* the network's name */
    json_t *list;     /* {name, cniVersion, [cniVersions], plugins: [...], [disableCheck]} */
    char version[32]; /* the cniVersion used; may be lowered by VERSION probing (under nc->lock) */
    int probed;       /* VERSION of every plugin was asked (under nc->lock) */
};

struct nc {
    const struct cleat_host *host;
    char *conf_dir;
    char **bin_dirs; /* NULL-terminated */
    char *cni_path;  /* bin_dirs joined by ':' */
    char *network_name;
    char *cache_dir;
    char *ifname;
    int64_t timeout_ms;
    int ip_pref; /* NC_IP_PREF_* */

    pthread_mutex_t lock; /* everything below */
    uint64_t stamp;       /* fingerprint of conf_dir when `conf`/`conf_error` were made; 0: never */
    struct nc_conf *conf; /* the chosen network, or NULL */
    char *conf_error;     /* why there is none (or what was skipped), or NULL */
    char *pod_cidr;       /* from update_pod_cidr, or NULL */
};

/* --- conf.c ------------------------------------------------------------------- */

/*
 * The current network config (re-reading conf_dir when it changed), with a
 * reference the caller drops with nc_conf_unref().  None: FAILED_PRECONDITION
 * naming the dir and what was wrong with each file.
 */
int nc_conf_get(struct nc *nc, struct nc_conf **ret, struct cleat_error **reterr);
void nc_conf_unref(struct nc *nc, struct nc_conf *conf);
/* The CNI spec's rule for network names: [a-zA-Z0-9][a-zA-Z0-9_.-]*. */
int nc_valid_name(const char *s);
/* A conflist from bytes (a single-plugin conf is wrapped); on failure a message in *ret_msg (free it). */
int nc_conf_parse(const char *data, size_t len, int single_ok, json_t **ret_list, char **ret_msg);

/* --- version.c ---------------------------------------------------------------- */

/* "1.0.0" as 0x010000; -1 if not a version. */
int32_t nc_version_num(const char *v);
/* The highest version of cniVersion/cniVersions we speak, into buf; -1 if none. */
int nc_conf_max_version(const json_t *list, char *buf, size_t size);
/*
 * Ask every plugin of the list for its VERSION and settle conf->version on
 * the highest one both the conf and all plugins support (once per conf).
 */
int nc_conf_probe(struct nc *nc, struct nc_conf *conf, struct cleat_error **reterr);
/* A copy of `result` in the format of `version` (0.3.x/0.4.0: ips have "version"; 1.x: not). */
json_t *nc_result_convert(const json_t *result, const char *version);

/* --- exec.c ------------------------------------------------------------------- */

struct nc_call {
    const char *command; /* ADD, DEL, CHECK, STATUS, VERSION */
    const char *container_id, *netns, *ifname, *args;
};

/* The plugin binary `type` in bin_dirs, malloc'd; NULL if none. */
char *nc_find_plugin(const struct nc *nc, const char *type);
/*
 * Run plugin `type` with `call` and `input` on stdin.  Success: 0 and its
 * stdout in *ret_out (malloc'd, NUL-terminated; may be empty).  Failure:
 * the plugin's CNI error ("plugin bridge failed: <msg>: <details>").
 */
int nc_exec(struct nc *nc, const char *type, const struct nc_call *call, const char *input, char **ret_out,
            struct cleat_error **reterr);

/* --- args.c ------------------------------------------------------------------- */

/* "IgnoreUnknown=1;K8S_POD_NAMESPACE=...;..." malloc'd. */
char *nc_cni_args(const struct cleat_network_pod *pod);
/* The capability arguments a pod offers (portMappings, dns, bandwidth, ...). */
int nc_capability_args(struct nc *nc, const struct cleat_network_pod *pod, json_t **ret, struct cleat_error **reterr);
/* "10M" → 10000000; kubernetes quantities as kubelet reads bandwidth annotations.  -1 if invalid. */
int nc_parse_quantity(const char *s, uint64_t *ret);
/* The per-plugin request config: plugin + name, cniVersion, runtimeConfig, prevResult. */
json_t *nc_plugin_request(const json_t *plugin, const char *name, const char *version, const json_t *caps,
                          const json_t *prev);

/* --- cache.c ------------------------------------------------------------------ */

struct nc_cached {
    json_t *root;         /* owns everything below */
    json_t *list;         /* the conflist used by ADD */
    const char *version;  /* the cniVersion used */
    const json_t *result; /* the final ADD result */
    const json_t *caps;   /* the capability arguments */
    const char *ifname;
};

int nc_cache_write(struct nc *nc, const char *id, const char *ifname, const char *netns, const char *cni_args,
                   const struct nc_conf *conf, const char *version, const json_t *caps, const json_t *result,
                   struct cleat_error **reterr);
/* 0 and *ret filled; -ENOENT when there is none; other errors name the file. */
int nc_cache_read(struct nc *nc, const char *id, const char *ifname, struct nc_cached *ret,
                  struct cleat_error **reterr);
int nc_cache_remove(struct nc *nc, const char *id, const char *ifname, struct cleat_error **reterr);
void nc_cached_clear(struct nc_cached *c);

/* --- ops.c -------------------------------------------------------------------- */

int nc_status(void *instance, struct cleat_error **reterr);
int nc_setup(void *instance, const struct cleat_network_pod *pod, struct cleat_net_result *ret_result,
             struct cleat_error **reterr);
int nc_teardown(void *instance, const struct cleat_network_pod *pod, struct cleat_error **reterr);
int nc_check(void *instance, const struct cleat_network_pod *pod, struct cleat_error **reterr);
int nc_update_pod_cidr(void *instance, const char *pod_cidr, struct cleat_error **reterr);

/* --- report.c ----------------------------------------------------------------- */

/* Hand the pod's addresses in `result` to the host: those on `ifname`, primary first (see ip_pref). */
int nc_report(struct nc *nc, const json_t *result, const char *ifname, struct cleat_net_result *out,
              struct cleat_error **reterr);

#endif
