/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-runc: a container's record (<state_dir>/containers/<id>, a symlink
 * to its bundle; the id is its name) and what the shim and the runtime leave
 * in the bundle (exit.json, shim.pid, init.pid, exec-<id>.pid).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "plugin_clock.h"
#include "plugin_fs.h"
#include "plugin_pidfd.h"
#include "runc.h"

int rr_valid_id(const char *id) {
    size_t len = id ? strlen(id) : 0;
    if (len == 0 || len > 1024 || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return 0;
    /* runc's own rule (^[\w+-\.]+$); it also keeps ids safe as file names. */
    return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-") == len;
}

int rr_read_pid(const char *path, pid_t *ret) {
    _cleanup_free_ char *text = NULL;
    int r = plugin_read_file(path, 31, &text, NULL);
    if (r == -EFBIG)
        return -EINVAL;
    if (r < 0)
        return r;
    char *end;
    long v = strtol(text, &end, 10); /* an empty file (written, but not yet): 0, refused below */
    if (v <= 0 || v > INT32_MAX || (*end && *end != '\n'))
        return -EINVAL;
    *ret = (pid_t)v;
    return 0;
}

int rr_record_path(const struct rr *rr, const char *id, char *buf, size_t size) {
    int n = snprintf(buf, size, "%s/%s", rr->ctr_dir, id);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int rr_bundle_of(const struct rr *rr, const char *id, char *buf, size_t size) {
    char link[PATH_MAX];
    if (!rr_valid_id(id))
        return -ENOENT; /* no such id could have been created */
    int r = rr_record_path(rr, id, link, sizeof(link));
    if (r < 0)
        return r;
    ssize_t n = readlink(link, buf, size);
    if (n < 0)
        return -errno;
    if ((size_t)n >= size)
        return -ENAMETOOLONG;
    buf[n] = '\0';
    return 0;
}

int rr_lookup(struct rr *rr, const char *id, char *buf, size_t size, struct cleat_error **reterr) {
    int r = rr_bundle_of(rr, id, buf, size);
    if (r == -ENOENT)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT,
                               "container '%s' does not exist in runtime %s", id ? id : "(null)",
                               rr->host->instance_name(rr->host));
    if (r < 0)
        return cleat_error_set(rr->host, reterr, CLEAT_STATUS_INTERNAL, -r,
                               "container '%s': cannot read its record in %s: %s", id, rr->ctr_dir, strerror(-r));
    return 0;
}

int rr_read_exit(const char *bundle, struct rr_exit *ret) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/exit.json", bundle) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    /* Not json_load_file(): its fopen() is not close-on-exec. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    json_error_t jerr;
    json_t *root = json_loadfd(fd, 0, &jerr);
    close(fd);
    if (!root)
        return -EBADMSG;
    json_t *st = json_object_get(root, "exit_status"), *at = json_object_get(root, "exited_at_ns"),
           *pid = json_object_get(root, "pid");
    int r = json_is_integer(st) && json_is_integer(at) ? 0 : -EBADMSG;
    if (r == 0)
        *ret = (struct rr_exit){.exit_status = (int32_t)json_integer_value(st),
                                .exited_at_ns = (int64_t)json_integer_value(at),
                                .pid = (pid_t)json_integer_value(pid)};
    json_decref(root);
    return r;
}

void rr_exit_or_lost(const char *bundle, struct rr_exit *ret) {
    if (rr_read_exit(bundle, ret) == 0)
        return;
    /* The shim died without writing it (SIGKILL): the status is lost, like a
     * containerd task whose shim died; 255 as runc reports unknown exits. */
    char path[PATH_MAX];
    pid_t pid = 0;
    if (snprintf(path, sizeof(path), "%s/init.pid", bundle) < (int)sizeof(path))
        (void)rr_read_pid(path, &pid);
    *ret = (struct rr_exit){.exit_status = 255, .exited_at_ns = plugin_realtime_ns(), .pid = pid};
}

int rr_is_shim_of(int pidfd, pid_t pid, const char *id) {
    return plugin_pidfd_is_command(pidfd, pid, "--id", id, NULL);
}

int rr_shim_pidfd(const char *bundle, const char *id, pid_t *ret_pid) {
    char path[PATH_MAX];
    pid_t pid;
    if (snprintf(path, sizeof(path), "%s/shim.pid", bundle) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    if (rr_read_pid(path, &pid) < 0)
        return -ESRCH;
    int pidfd = plugin_pidfd_open(pid);
    if (pidfd < 0)
        return -ESRCH;
    if (!rr_is_shim_of(pidfd, pid, id)) {
        close(pidfd);
        return -ESRCH;
    }
    if (ret_pid)
        *ret_pid = pid;
    return pidfd;
}
