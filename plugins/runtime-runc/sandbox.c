/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-runc: pod sandboxes.  The core pins a pod's namespaces itself, so
 * a sandbox needs a process only when the pod shares one PID namespace: its
 * init (cleat-pause), from the spec the core gives.  That process is an
 * ordinary container here, with the sandbox's id and the bundle
 * <sandbox state dir>/pause; the core reads its pid with state(sandbox_id).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "plugin_fs.h"
#include "plugin_pidfd.h"
#include "runc.h"

int rr_sandbox_create(void *instance, const struct cleat_runtime_sandbox *sandbox, struct cleat_error **reterr) {
    struct rr *rr = instance;
    char bundle[PATH_MAX], config[PATH_MAX + 16];
    if (!sandbox->spec_json)
        return 0; /* nothing to run: the pinned namespaces are the sandbox */
    if (!sandbox->state_dir || sandbox->state_dir[0] != '/' ||
        snprintf(bundle, sizeof(bundle), "%s/pause", sandbox->state_dir) >= (int)sizeof(bundle))
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "sandbox '%s': the state dir must be an absolute path of a sane length", sandbox->id);
    snprintf(config, sizeof(config), "%s/config.json", bundle);
    int r = plugin_write_file(config, sandbox->spec_json);
    if (r < 0)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, -r, "sandbox '%s': cannot write %s: %s",
                               sandbox->id, config, strerror(-r));
    if ((r = rr_create(rr, sandbox->id, bundle, NULL, 0, NULL, reterr)) < 0)
        return r;
    const char *words[] = {"start", sandbox->id, NULL};
    if ((r = rr_runc(rr, words, "start", sandbox->id, reterr)) == 0)
        rr_mark_started(bundle, 1);
    else {
        struct cleat_error *err = NULL; /* the start error is the one to report */
        if (rr_sandbox_remove(rr, sandbox->id, &err) < 0) {
            cleat_log(rr->host, CLEAT_LOG_WARNING, "sandbox '%s': cleaning up after a failed start: %s", sandbox->id,
                      rr->host->error_message(err));
            rr->host->error_free(err);
        }
    }
    return r;
}

int rr_sandbox_stop(void *instance, const char *sandbox_id, struct cleat_error **reterr) {
    struct rr *rr = instance;
    char bundle[PATH_MAX];
    struct rr_exit e;
    if (rr_bundle_of(rr, sandbox_id, bundle, sizeof(bundle)) < 0 || rr_read_exit(bundle, &e) == 0)
        return 0; /* no pause process, or it has ended */
    int pidfd = rr_shim_pidfd(bundle, sandbox_id, NULL);
    if (pidfd < 0)
        return 0;
    char signum[16];
    snprintf(signum, sizeof(signum), "%d", SIGKILL);
    const char *words[] = {"kill", sandbox_id, signum, NULL};
    struct plugin_output o;
    int r = rr_runc_raw(rr, words, 0, &o, reterr);
    if (r == 0) {
        if (o.timed_out || (o.exit_status != 0 && !rr_runc_says_gone(&o)))
            r = rr_runc_error(rr, &o, "kill", sandbox_id, reterr);
        plugin_output_done(&o);
    }
    /* Its shim exits once it has recorded the exit: then the pause is stopped for everyone. */
    if (r == 0 && plugin_pidfd_wait(pidfd, RR_SHIM_EXIT_TIMEOUT_MS) != 1)
        r = cleat_error_set(rr->host, reterr, CLEAT_STATUS_DEADLINE_EXCEEDED, ETIMEDOUT,
                            "sandbox '%s': its pause process did not stop within %d s of SIGKILL", sandbox_id,
                            RR_SHIM_EXIT_TIMEOUT_MS / 1000);
    close(pidfd);
    return r;
}

int rr_sandbox_remove(void *instance, const char *sandbox_id, struct cleat_error **reterr) {
    struct rr *rr = instance;
    char bundle[PATH_MAX];
    if (rr_bundle_of(rr, sandbox_id, bundle, sizeof(bundle)) == -ENOENT)
        return 0; /* there was no pause process */
    int r = rr_sandbox_stop(rr, sandbox_id, reterr);
    return r < 0 ? r : rr_remove(rr, sandbox_id, reterr);
}
