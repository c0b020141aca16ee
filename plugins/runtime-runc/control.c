/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-runc: commands on the shim's control socket, BUNDLE/attach.sock
 * (see shim/README.md): one line in, `ok` or `error TEXT` back.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "plugin_shim_control.h"
#include "runc.h"

static int control(struct rr *rr, const char *id, const char *what, const char *line, struct cleat_error **reterr) {
    char bundle[PATH_MAX], reply[1024] = "";
    struct rr_exit e;
    int r = rr_lookup(rr, id, bundle, sizeof(bundle), reterr);
    if (r < 0)
        return r;
    int fd = plugin_shim_control_connect(bundle);
    if (fd < 0) {
        int pidfd = rr_read_exit(bundle, &e) == 0 ? -ESRCH : rr_shim_pidfd(bundle, id, NULL);
        if (pidfd < 0)
            return cleat_error_set(rr->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ESRCH,
                                   "container '%s': %s: container is not running", id, what);
        close(pidfd);
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_UNAVAILABLE, -fd,
                               "container '%s': %s: cannot reach its shim: %s", id, what, strerror(-fd));
    }
    r = plugin_shim_control_exchange(fd, line, reply, sizeof(reply));
    close(fd);
    if (r < 0)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_UNAVAILABLE, -r,
                               "container '%s': %s: no answer from its shim: %s", id, what, strerror(-r));
    if (strcmp(reply, "ok") == 0)
        return 0;
    return cleat_error_set(rr->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EIO, "container '%s': %s: %s", id, what,
                           strncmp(reply, "error ", 6) == 0 ? reply + 6 : reply);
}

int rr_resize_pty(void *instance, const char *id, const char *exec_id, uint32_t width, uint32_t height,
                  struct cleat_error **reterr) {
    char line[64];
    if (exec_id)
        return rr_tty_resize(instance, id, exec_id, width, height, reterr);
    snprintf(line, sizeof(line), "resize %u %u\n", width, height);
    return control(instance, id, "resize", line, reterr);
}

int rr_close_stdin(void *instance, const char *id, const char *exec_id, struct cleat_error **reterr) {
    if (exec_id)
        return rr_tty_close_stdin(instance, id, exec_id, reterr);
    return control(instance, id, "close stdin", "close-stdin\n", reterr);
}

int rr_reopen_log(void *instance, const char *id, struct cleat_error **reterr) {
    return control(instance, id, "reopen log", "reopen\n", reterr);
}

int rr_attach_address(void *instance, const char *id, char *buf, uint64_t size, struct cleat_error **reterr) {
    struct rr *rr = instance;
    char bundle[PATH_MAX];
    int r = rr_lookup(rr, id, bundle, sizeof(bundle), reterr);
    if (r < 0)
        return r;
    int n = snprintf(buf, size, "%s/attach.sock", bundle);
    if (n < 0 || (uint64_t)n >= size)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_OUT_OF_RANGE, ENAMETOOLONG,
                               "container '%s': the attach socket path %s/attach.sock does not fit in %llu bytes", id,
                               bundle, (unsigned long long)size);
    return 0;
}
