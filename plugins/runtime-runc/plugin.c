/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-runc: the plugin descriptor, options, init and fini.
 *
 * Options (all optional):
 *   binary: /usr/bin/runc          the OCI runtime (runc, crun, ...); absolute
 *   root: /run/cleat/runc          its --root; default <instance state dir>/root
 *   runtime_args: [--debug]        global options placed before every subcommand
 *   systemd_cgroup: false          add --systemd-cgroup to every invocation
 *   shim: <libexec>/cleat/cleat-shim   the shim; absolute
 *
 * A missing binary or shim does not fail init: status() reports it, so that
 * the CRI Status says why the runtime is not ready.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "plugin_config.h"
#include "plugin_fs.h"
#include "plugin_strv.h"
#include "runc.h"

#ifndef CLEAT_LIBEXEC_DIR
#error "CLEAT_LIBEXEC_DIR must name the directory cleat-shim is installed in"
#endif

static const char *const rr_keys[] = {"binary", "root", "runtime_args", "systemd_cgroup", "shim", NULL};

struct options {
    const char *binary, *root, *shim;
    int32_t systemd_cgroup;
    const struct cleat_config *args; /* a sequence, or NULL */
};

static int read_options(const struct cleat_host *host, const struct cleat_config *options, struct options *o,
                        struct cleat_error **reterr) {
    int r;
    if ((r = host->config_check_keys(options, rr_keys, reterr)) < 0 ||
        (r = plugin_config_path(host, options, "binary", "/usr/bin/runc", &o->binary, reterr)) < 0 ||
        (r = plugin_config_path(host, options, "root", NULL, &o->root, reterr)) < 0 ||
        (r = plugin_config_path(host, options, "shim", CLEAT_LIBEXEC_DIR "/cleat-shim", &o->shim, reterr)) < 0 ||
        (r = host->config_get_bool(options, "systemd_cgroup", 0, &o->systemd_cgroup, reterr)) < 0)
        return r;
    const struct cleat_config *args = host->config_get0(options, "runtime_args");
    uint32_t kind = host->config_kind(args);
    if (kind != CLEAT_CONFIG_ABSENT && kind != CLEAT_CONFIG_NULL && kind != CLEAT_CONFIG_SEQ)
        return cleat_config_error(host, args, reterr, "'runtime_args' must be a list of strings");
    o->args = kind == CLEAT_CONFIG_SEQ ? args : NULL;
    for (uint64_t i = 0; o->args && i < host->config_count(args); i++) {
        const struct cleat_config *item = host->config_at0(args, i);
        const char *s = host->config_scalar0(item);
        if (!s || !s[0])
            return cleat_config_error(host, item, reterr, "'runtime_args' items must be non-empty strings");
    }
    return 0;
}

static int rr_validate(const struct cleat_host *host, const struct cleat_config *options, struct cleat_error **reterr) {
    struct options o = {0};
    return read_options(host, options, &o, reterr);
}

/* --root ROOT [--systemd-cgroup] [runtime_args...]: the shim gets all but the first two as --runtime-arg. */
static int build_global(struct rr *rr, const struct options *o) {
    uint64_t nargs = o->args ? rr->host->config_count(o->args) : 0;
    char **global = calloc(3 + nargs + 1, sizeof(char *));
    if (!global)
        return -ENOMEM;
    size_t n = 0;
    global[n++] = strdup("--root");
    global[n++] = strdup(rr->root);
    if (o->systemd_cgroup)
        global[n++] = strdup("--systemd-cgroup");
    for (uint64_t i = 0; i < nargs; i++)
        global[n++] = strdup(rr->host->config_scalar0(rr->host->config_at0(o->args, i)));
    if (!(rr->global = plugin_strv_checked(global, n)))
        return -ENOMEM;
    rr->nglobal = n;
    return 0;
}

static void rr_fini(void *instance) {
    struct rr *rr = instance;
    if (!rr)
        return;
    rr_tty_stop_all(rr);
    rr_monitor_stop(rr);
    plugin_strv_free(rr->global);
    free(rr->binary);
    free(rr->root);
    free(rr->shim);
    free(rr->ctr_dir);
    pthread_cond_destroy(&rr->ttys_done);
    pthread_mutex_destroy(&rr->lock);
    free(rr);
}

/* Re-watch the shims of recorded containers that still run, so that their exits are reported after a restart. */
static int rescan(struct rr *rr, struct cleat_error **reterr) {
    DIR *d = opendir(rr->ctr_dir);
    if (!d)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, errno, "cannot read %s: %s", rr->ctr_dir,
                               strerror(errno));
    struct dirent *de;
    int r = 0;
    while (r == 0 && (de = readdir(d))) {
        char bundle[PATH_MAX];
        struct rr_exit e;
        pid_t pid;
        if (de->d_name[0] == '.' || rr_bundle_of(rr, de->d_name, bundle, sizeof(bundle)) < 0 ||
            rr_read_exit(bundle, &e) == 0)
            continue; /* finished ones are the core's to reconcile, with state() */
        int pidfd = rr_shim_pidfd(bundle, de->d_name, &pid);
        if (pidfd >= 0 && (r = rr_watch_shim(rr, de->d_name, bundle, pid, pidfd)) < 0)
            r = cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, -r,
                                "container '%s': cannot watch its shim: %s", de->d_name, strerror(-r));
    }
    closedir(d);
    return r;
}

static int set_paths(struct rr *rr, const struct options *o, struct cleat_error **reterr) {
    const char *state = rr->host->state_dir(rr->host);
    int r = 0;
    rr->binary = strdup(o->binary);
    rr->shim = strdup(o->shim);
    if (o->root)
        rr->root = strdup(o->root);
    else if (asprintf(&rr->root, "%s/root", state) < 0)
        rr->root = NULL;
    if (asprintf(&rr->ctr_dir, "%s/containers", state) < 0)
        rr->ctr_dir = NULL;
    if (!rr->binary || !rr->shim || !rr->root || !rr->ctr_dir || build_global(rr, o) < 0)
        return plugin_oom(rr->host, reterr);
    if ((r = plugin_mkdir_p(rr->root, 0700)) < 0 || (r = plugin_mkdir_p(rr->ctr_dir, 0700)) < 0)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot create %s or %s: %s", rr->root,
                               rr->ctr_dir, strerror(-r));
    return 0;
}

static int rr_init(const struct cleat_host *host, const struct cleat_config *options, void **ret_instance,
                   struct cleat_error **reterr) {
    struct rr *rr = calloc(1, sizeof(*rr));
    if (!rr)
        return plugin_oom(host, reterr);
    rr->host = host;
    rr->epfd = rr->wakefd = -1;
    pthread_mutex_init(&rr->lock, NULL);
    pthread_cond_init(&rr->ttys_done, NULL);
    struct options o = {0};
    int r = read_options(host, options, &o, reterr);
    if (r == 0)
        r = set_paths(rr, &o, reterr);
    if (r == 0)
        r = rescan(rr, reterr);
    if (r == 0)
        rr_probe_features(rr);
    if (r < 0) {
        rr_fini(rr);
        return r;
    }
    *ret_instance = rr;
    return 0;
}

CLEAT_PLUGIN_DEFINE(CLEAT_CONCERN_RUNTIME, "runtime-runc", "1.0",
                    "OCI CLI runtimes (runc, crun) driven through cleat-shim", rr_validate, rr_init, rr_fini, rr_ops);
