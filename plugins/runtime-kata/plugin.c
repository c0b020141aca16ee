/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-kata: the plugin descriptor, options, init and fini.
 *
 * Options (README.md says more):
 *   shim: /usr/bin/containerd-shim-kata-v2   the shim v2 binary; absolute
 *   relay: <libexec>/cleat/cleat-shim       cleat-shim, run with --relay for each container's stdio (from a
 *                                           build tree, that tree's when none is installed)
 *   binary_name, root, systemd_cgroup       containerd-shim-runc-v2's options (the OCI runtime, its
 *                                           --root, the systemd cgroup driver)
 *   config_path: /etc/kata/configuration.toml   containerd-shim-kata-v2's configuration file
 *   pod_annotations: [io.katacontainers.*]  annotations passed on to the shim (a trailing * is a prefix)
 *   port_forward: netns | none              netns: PortForward connects inside the pod's network namespace on
 *                                           the host (right for containerd-shim-runc-*, the default for them);
 *                                           none: the pod's network is in a guest, PortForward is refused (the
 *                                           default for every other shim: Kata, gVisor)
 *
 * A missing binary does not fail init: status() reports it.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "kata.h"
#include "plugin_config.h"
#include "plugin_fs.h"
#include "plugin_strv.h"
#include "ttrpc_server.h"

#ifndef CLEAT_LIBEXEC_DIR
#error "CLEAT_LIBEXEC_DIR must name the directory cleat-shim is installed in"
#endif

static const char *const kata_keys[] = {"shim",        "relay",           "binary_name",  "root", "systemd_cgroup",
                                        "config_path", "pod_annotations", "port_forward", NULL};

struct options {
    const char *shim, *relay, *binary_name, *root, *config_path, *port_forward;
    int32_t systemd_cgroup;
    const struct cleat_config *annotations; /* a sequence, or NULL */
};

/*
 * cleat-shim where it is installed; when it is not there and this plugin runs from a build tree
 * (BUILD/plugins/runtime-kata/runtime-kata.so), that tree's BUILD/shim/cleat-shim: so that the one-line handler
 * config (`shim:` alone) works from either.
 */
static const char *default_relay(void) {
    static char built[PATH_MAX];
    const char *installed = CLEAT_LIBEXEC_DIR "/cleat-shim";
    Dl_info info;
    if (access(installed, X_OK) == 0 || !dladdr((void *)default_relay, &info) || !info.dli_fname)
        return installed;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", info.dli_fname);
    char *slash = strrchr(dir, '/');
    if (!slash ||
        snprintf(built, sizeof(built), "%.*s/../../shim/cleat-shim", (int)(slash - dir), dir) >= (int)sizeof(built))
        return installed;
    char *real = realpath(built, NULL);
    if (!real || access(real, X_OK) < 0 || strlen(real) >= sizeof(built)) {
        free(real);
        return installed;
    }
    snprintf(built, sizeof(built), "%s", real);
    free(real);
    return built;
}

static int read_options(const struct cleat_host *host, const struct cleat_config *options, struct options *o,
                        struct cleat_error **reterr) {
    int r;
    if ((r = host->config_check_keys(options, kata_keys, reterr)) < 0 ||
        (r = plugin_config_path(host, options, "shim", "/usr/bin/containerd-shim-kata-v2", &o->shim, reterr)) < 0 ||
        (r = plugin_config_path(host, options, "relay", default_relay(), &o->relay, reterr)) < 0 ||
        (r = host->config_get_string(options, "binary_name", NULL, &o->binary_name, reterr)) < 0 ||
        (r = plugin_config_path(host, options, "root", NULL, &o->root, reterr)) < 0 ||
        (r = plugin_config_path(host, options, "config_path", NULL, &o->config_path, reterr)) < 0 ||
        (r = host->config_get_bool(options, "systemd_cgroup", 0, &o->systemd_cgroup, reterr)) < 0 ||
        (r = host->config_get_string(options, "port_forward", NULL, &o->port_forward, reterr)) < 0)
        return r;
    if (o->port_forward && strcmp(o->port_forward, "netns") != 0 && strcmp(o->port_forward, "none") != 0)
        return cleat_config_error(host, host->config_get0(options, "port_forward"), reterr,
                                  "'port_forward' must be netns or none");
    if (o->binary_name && !o->binary_name[0])
        return cleat_config_error(host, host->config_get0(options, "binary_name"), reterr,
                                  "'binary_name' must not be empty");
    if (o->config_path && (o->binary_name || o->root || o->systemd_cgroup))
        return cleat_config_error(host, host->config_get0(options, "config_path"), reterr,
                                  "'config_path' (Kata's options) cannot be combined with binary_name, root or "
                                  "systemd_cgroup (containerd-shim-runc-v2's): a shim takes one kind");
    const struct cleat_config *list = host->config_get0(options, "pod_annotations");
    uint32_t kind = host->config_kind(list);
    if (kind != CLEAT_CONFIG_ABSENT && kind != CLEAT_CONFIG_NULL && kind != CLEAT_CONFIG_SEQ)
        return cleat_config_error(host, list, reterr, "'pod_annotations' must be a list of strings");
    o->annotations = kind == CLEAT_CONFIG_SEQ ? list : NULL;
    for (uint64_t i = 0; o->annotations && i < host->config_count(list); i++) {
        const struct cleat_config *item = host->config_at0(list, i);
        const char *s = host->config_scalar0(item);
        if (!s || !s[0] || (strchr(s, '*') && strchr(s, '*') != s + strlen(s) - 1))
            return cleat_config_error(host, item, reterr,
                                      "'pod_annotations' items must be annotation keys, a '*' only at the end");
    }
    return 0;
}

static int kata_validate(const struct cleat_host *host, const struct cleat_config *options,
                         struct cleat_error **reterr) {
    struct options o = {0};
    return read_options(host, options, &o, reterr);
}

static void kata_fini(void *instance) {
    struct kata *k = instance;
    if (!k)
        return;
    pthread_mutex_lock(&k->lock);
    k->stopping = 1;
    int waiting = k->waiters;
    pthread_mutex_unlock(&k->lock);
    ttrpc_server_stop(k->events);
    k->events = NULL;
    if (waiting) {
        /*
         * Waiters blocked in a shim's Wait (the containers outlive cleatd) can only be woken by closing their
         * connection, and a connection may not be closed while a thread may still start a call on it.  cleatd
         * exits right after fini: the instance is left to the exit, not freed under the waiters' feet.
         */
        cleat_log(k->host, CLEAT_LOG_DEBUG, "%d task waiter(s) still follow running tasks; left to the exit", waiting);
        return;
    }
    kata_tasks_free(k);
    kata_pods_free(k);
    free(k->shim);
    free(k->relay);
    free(k->binary_name);
    free(k->root);
    free(k->config_path);
    plugin_strv_free(k->annotation_prefixes);
    free(k->pods_dir);
    free(k->tasks_dir);
    free(k->events_path);
    pthread_cond_destroy(&k->changed);
    pthread_mutex_destroy(&k->lock);
    free(k);
}

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

/*
 * Where the shims forward their events: STATE/events.sock, unless that is too long for a unix socket's address
 * (a shim dials it by path, it cannot go through a directory descriptor as cleatd can).  Then a short name under
 * KATA_EVENTS_FALLBACK_DIR made from a hash of the state dir, so that each instance still has its own.
 */
static int events_socket_path(const char *state, char **ret) {
    struct sockaddr_un sa;
    if (asprintf(ret, "%s/events.sock", state) < 0)
        return -ENOMEM;
    if (strlen(*ret) < sizeof(sa.sun_path))
        return 0;
    free(*ret);
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (const char *c = state; *c; c++)
        h = (h ^ (uint8_t)*c) * 0x100000001b3ULL;
    int r = plugin_mkdir_p(KATA_EVENTS_FALLBACK_DIR, 0700);
    if (r < 0)
        return r;
    return asprintf(ret, "%s/%016llx.sock", KATA_EVENTS_FALLBACK_DIR, (unsigned long long)h) < 0 ? -ENOMEM : 0;
}

/*
 * Whether the pods' network is out of the host's reach (PortForward refused).  containerd-shim-runc-v1/v2 run
 * the pod's processes in its network namespace on the host, so connecting there reaches them; a VM shim (Kata)
 * or a user-space network stack (gVisor) does not, and neither carries port forwarding in its API.
 */
static int guest_network(const struct options *o) {
    if (o->port_forward)
        return strcmp(o->port_forward, "none") == 0;
    const char *base = strrchr(o->shim, '/');
    base = base ? base + 1 : o->shim;
    return strncmp(base, "containerd-shim-runc-", strlen("containerd-shim-runc-")) != 0;
}

static int set_options(struct kata *k, const struct options *o, struct cleat_error **reterr) {
    const char *state = k->host->state_dir(k->host);
    uint64_t n = o->annotations ? k->host->config_count(o->annotations) : 0;
    char **prefixes = calloc(n + 1, sizeof(char *));
    for (uint64_t i = 0; prefixes && i < n; i++)
        prefixes[i] = strdup(k->host->config_scalar0(k->host->config_at0(o->annotations, i)));
    k->annotation_prefixes = plugin_strv_checked(prefixes, n);
    k->shim = strdup(o->shim);
    k->relay = strdup(o->relay);
    k->binary_name = dup_or_null(o->binary_name);
    k->root = dup_or_null(o->root);
    k->config_path = dup_or_null(o->config_path);
    k->systemd_cgroup = o->systemd_cgroup;
    k->guest_network = guest_network(o);
    if (asprintf(&k->pods_dir, "%s/pods", state) < 0)
        k->pods_dir = NULL;
    if (asprintf(&k->tasks_dir, "%s/tasks", state) < 0)
        k->tasks_dir = NULL;
    if (events_socket_path(state, &k->events_path) < 0)
        k->events_path = NULL;
    if (!k->annotation_prefixes || !k->shim || !k->relay || (o->binary_name && !k->binary_name) ||
        (o->root && !k->root) || (o->config_path && !k->config_path) || !k->pods_dir || !k->tasks_dir ||
        !k->events_path)
        return plugin_oom(k->host, reterr);
    int r;
    if ((r = plugin_mkdir_p(k->pods_dir, 0700)) < 0 || (r = plugin_mkdir_p(k->tasks_dir, 0700)) < 0)
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot create %s or %s: %s", k->pods_dir,
                               k->tasks_dir, strerror(-r));
    return 0;
}

/* The record names in `dir` ending in `suffix`, the suffix cut off. */
static char **recorded(const char *dir, const char *suffix) {
    char **names = NULL;
    if (plugin_list_dir(AT_FDCWD, dir, &names) < 0)
        return NULL;
    size_t n = 0, len = strlen(suffix);
    for (char **p = names; *p; p++) {
        size_t l = strlen(*p);
        if ((*p)[0] != '.' && l > len && strcmp(*p + l - len, suffix) == 0) {
            (*p)[l - len] = '\0';
            names[n++] = *p;
        } else {
            free(*p);
        }
    }
    names[n] = NULL;
    return names;
}

/* After a restart: reconnect to every recorded shim, then follow every recorded container again. */
static int rescan(struct kata *k) {
    _cleanup_strv_ char **pods = recorded(k->pods_dir, ".json");
    _cleanup_strv_ char **tasks = recorded(k->tasks_dir, ".json");
    for (char **p = pods; p && *p; p++)
        kata_pod_recover(k, *p);
    for (char **t = tasks; t && *t; t++)
        kata_container_recover(k, *t);
    return 0;
}

static int kata_init(const struct cleat_host *host, const struct cleat_config *options, void **ret_instance,
                     struct cleat_error **reterr) {
    struct kata *k = calloc(1, sizeof(*k));
    if (!k)
        return plugin_oom(host, reterr);
    k->host = host;
    pthread_mutex_init(&k->lock, NULL);
    pthread_cond_init(&k->changed, NULL);
    struct options o = {0};
    int r = read_options(host, options, &o, reterr);
    if (r == 0)
        r = set_options(k, &o, reterr);
    if (r == 0)
        r = ttrpc_events_serve(host, k->events_path, kata_on_event, k, &k->events, reterr);
    if (r == 0)
        r = rescan(k);
    if (r < 0) {
        kata_fini(k);
        return r;
    }
    *ret_instance = k;
    return 0;
}

CLEAT_PLUGIN_DEFINE(CLEAT_CONCERN_RUNTIME, "runtime-kata", "1.0",
                    "VM runtimes (Kata Containers) and any containerd shim v2, over the ttrpc task API", kata_validate,
                    kata_init, kata_fini, kata_ops);
