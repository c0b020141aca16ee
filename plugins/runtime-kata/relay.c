/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-kata: a container's stdio.  `cleat-shim --relay` makes the FIFOs
 * BUNDLE/stdin, stdout, stderr that the shim v2 opens, writes the CRI log,
 * and serves attach and log reopening on BUNDLE/attach.sock
 * (shim/README.md).  It outlives cleatd, like the shim v2 itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kata.h"
#include "plugin_fs.h"
#include "plugin_pidfd.h"
#include "plugin_shim_control.h"
#include "plugin_spawn.h"
#include "plugin_strv.h"

#define RELAY_ERR_MAX 4096

int kata_relay_pidfd(pid_t pid, const char *id) {
    return plugin_pidfd_open_command(pid, "--id", id, "--relay");
}

int kata_relay_pidfd_in(const char *bundle, const char *id) {
    char path[PATH_MAX];
    _cleanup_free_ char *text = NULL;
    if (snprintf(path, sizeof(path), "%s/shim.pid", bundle) >= (int)sizeof(path) ||
        plugin_read_file(path, 64, &text, NULL) < 0)
        return -ESRCH;
    return kata_relay_pidfd((pid_t)atoi(text), id);
}

int kata_relay_start(struct kata *k, const struct cleat_runtime_container *c, pid_t *ret_pid, int *ret_pidfd,
                     struct cleat_error **reterr) {
    char **argv = calloc(12, sizeof(char *));
    if (!argv)
        return plugin_oom(k->host, reterr);
    size_t n = 0;
    const char *fixed[] = {k->relay, "--relay", "--id", c->id, "--bundle", c->bundle_dir};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        argv[n++] = strdup(fixed[i]);
    if (c->log_path) {
        argv[n++] = strdup("--log-path");
        argv[n++] = strdup(c->log_path);
    }
    if (c->flags & CLEAT_CONTAINER_STDIN)
        argv[n++] = strdup("--stdin");
    if (c->flags & CLEAT_CONTAINER_TTY)
        argv[n++] = strdup("--tty");
    _cleanup_strv_ char **args = plugin_strv_checked(argv, n);
    if (!args)
        return plugin_oom(k->host, reterr);
    struct plugin_run run = {.argv = (const char *const *)args,
                             .timeout_ms = KATA_CALL_TIMEOUT_MS,
                             .stdout_max = 256,
                             .stderr_max = RELAY_ERR_MAX};
    struct plugin_output o;
    int r = plugin_run(&run, -1, &o);
    if (r < 0)
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_INTERNAL, -r, "container '%s': cannot run %s: %s", c->id,
                               k->relay, strerror(-r));
    int pid = 0, unused = 0;
    if (o.timed_out || o.exit_status != 0) {
        o.err[strcspn(o.err, "\n")] = '\0';
        r = cleat_error_set(k->host, reterr, CLEAT_STATUS_INTERNAL, EIO, "container '%s': the log relay failed: %s",
                            c->id,
                            o.err[0]      ? o.err
                            : o.timed_out ? "no answer"
                                          : "no message");
    } else if (sscanf(o.out, "%d %d", &pid, &unused) != 2 || pid <= 0) {
        r = cleat_error_set(k->host, reterr, CLEAT_STATUS_INTERNAL, EPROTO,
                            "container '%s': %s reported '%.100s', not 'PID 0'", c->id, k->relay, o.out);
    }
    plugin_output_done(&o);
    if (r < 0)
        return r;
    *ret_pid = pid;
    *ret_pidfd = kata_relay_pidfd(pid, c->id);
    return 0;
}

int kata_relay_command(struct kata *k, const char *id, const char *bundle, const char *what, const char *line,
                       struct cleat_error **reterr) {
    char reply[1024];
    int fd = plugin_shim_control_connect(bundle);
    if (fd < 0)
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, -fd,
                               "container '%s': %s: its log relay is not running (%s)", id, what, strerror(-fd));
    int r = plugin_shim_control_exchange(fd, line, reply, sizeof(reply));
    close(fd);
    if (r < 0)
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_UNAVAILABLE, -r,
                               "container '%s': %s: no answer from its log relay: %s", id, what, strerror(-r));
    if (strcmp(reply, "ok") == 0)
        return 0;
    return cleat_error_set(k->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EIO, "container '%s': %s: %s", id, what,
                           strncmp(reply, "error ", 6) == 0 ? reply + 6 : reply);
}
