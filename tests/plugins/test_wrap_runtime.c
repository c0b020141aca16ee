/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-wrap-runtime: runtime-runc behind the ABI 1.1 behaviours of a
 * containerd shim v2 runtime, so that the core's side of them is tested
 * end to end against real runc (tests/e2e/test_runtime_abi_1_1.py).
 *
 * It loads runtime-runc.so itself (option `plugin`), creates a runtime-runc
 * instance with the options under `options` and this instance's host table,
 * and forwards every op to it, adding what a shim v2 runtime does:
 *
 *   features   ROOTFS_MOUNTS and SANDBOX_TASK on top of runc's;
 *   create     mounts the snapshotter's mounts at <bundle>/rootfs itself
 *              (as a shim v2's Create does), after checking and noting
 *              what the core handed over; remove() unmounts it again;
 *   stats      measures the container's (or the pod's sandbox task's) init
 *              process through /proc, as a VM runtime measures inside its
 *              guest, not the host cgroup the core would read;
 *   state      reports oom_killed for a container SIGKILLed while it has
 *              the annotation `cleat.test/vm-oom: "true"`, standing in for
 *              an OOM inside a VM that no host cgroup counts;
 *   sandbox_update, and sandbox_create's resources, are noted.
 *
 * Notes are JSON files under <state_dir>/wrap/, for the tests to read:
 * create-<id>.json, sandbox-<id>.json, sandbox-update-<id>.json,
 * stats-<id>.json (the figures of the last stats() call), and
 * resize-<id>.log (one "exec width height" line per resize_pty()).
 */
#include <dlfcn.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cleat/runtime.h>

#include "plugin_clock.h"
#include "plugin_error.h"
#include "plugin_fs.h"
#include "plugin_json.h"

#define VM_OOM_ANNOTATION "cleat.test/vm-oom"

struct wrap {
    const struct cleat_host *host;
    const struct cleat_plugin *inner;
    struct cleat_runtime_ops ops; /* runtime-runc's, copied into a zeroed table of our size */
    void *instance;               /* runtime-runc's instance */
    char dir[PATH_MAX];           /* <state_dir>/wrap */
};

static const char *const wrap_keys[] = {"plugin", "options", NULL};

/* A path made with printf; -ENAMETOOLONG rather than a cut one. */
static int path_of(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int path_of(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Open runtime-runc.so and check its descriptor as the host would. */
static int load_inner(struct wrap *w, const struct cleat_config *options, struct cleat_error **reterr) {
    const char *file = NULL;
    int r = w->host->config_get_string(options, "plugin", NULL, &file, reterr);
    if (r < 0)
        return r;
    if (!file)
        return cleat_error_set(w->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "option 'plugin' (the runtime-runc.so to wrap) is required");
    void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL); /* never closed: plugins are not unloaded */
    const struct cleat_plugin *d = h ? dlsym(h, CLEAT_PLUGIN_SYMBOL) : NULL;
    if (!d)
        return cleat_error_set(w->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOEXEC, "cannot load %s: %s", file,
                               dlerror());
    if (d->magic != CLEAT_PLUGIN_MAGIC || d->abi_major != CLEAT_ABI_MAJOR || d->abi_minor > CLEAT_ABI_MINOR ||
        d->concern != CLEAT_CONCERN_RUNTIME)
        return cleat_error_set(w->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOEXEC,
                               "%s is not a runtime plugin of this ABI", file);
    w->inner = d;
    memcpy(&w->ops, d->ops, d->ops_size < sizeof(w->ops) ? (size_t)d->ops_size : sizeof(w->ops));
    return 0;
}

static int wrap_validate(const struct cleat_host *host, const struct cleat_config *options,
                         struct cleat_error **reterr) {
    return host->config_check_keys(options, wrap_keys, reterr);
}

static void wrap_fini(void *instance) {
    struct wrap *w = instance;
    if (w->instance)
        w->inner->fini(w->instance);
    free(w);
}

static int wrap_init(const struct cleat_host *host, const struct cleat_config *options, void **ret_instance,
                     struct cleat_error **reterr) {
    struct wrap *w = calloc(1, sizeof(*w));
    if (!w)
        return plugin_oom(host, reterr);
    w->host = host;
    int r = path_of(w->dir, sizeof(w->dir), "%s/wrap", host->state_dir(host));
    r = r < 0 ? cleat_error_set(host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, -r, "state dir too long")
              : wrap_validate(host, options, reterr);
    if (r >= 0)
        r = load_inner(w, options, reterr);
    const struct cleat_config *inner_options = r >= 0 ? host->config_get0(options, "options") : NULL;
    if (r >= 0 && w->inner->validate)
        r = w->inner->validate(host, inner_options, reterr);
    if (r >= 0)
        r = w->inner->init(host, inner_options, &w->instance, reterr);
    if (r >= 0 && (r = plugin_mkdir_p(w->dir, 0700)) < 0)
        r = cleat_error_set(host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot create %s: %s", w->dir, strerror(-r));
    if (r < 0) {
        wrap_fini(w);
        return r;
    }
    *ret_instance = w;
    return 0;
}

/* --- notes --------------------------------------------------------------- */

static int note_path(const struct wrap *w, const char *what, const char *id, const char *ext, char *buf, size_t size) {
    return path_of(buf, size, "%s/%s-%s.%s", w->dir, what, id, ext);
}

/* Write a note (steals `j`); a note that cannot be written fails the op, so no test passes without it. */
static int note(struct wrap *w, const char *what, const char *id, json_t *j, struct cleat_error **reterr) {
    char path[PATH_MAX];
    int r = note_path(w, what, id, "json", path, sizeof(path));
    char *text = j && r >= 0 ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (r >= 0)
        r = text ? plugin_write_file(path, text) : -ENOMEM;
    free(text);
    return r < 0
               ? cleat_error_set(w->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot write %s: %s", path, strerror(-r))
               : 0;
}

static json_t *json_or_null(const char *text) {
    return text ? json_loads(text, 0, NULL) : json_null();
}

/* --- the rootfs, mounted here as a shim v2 does ------------------------------------ */

static int is_mount_point(const char *path) {
    struct stat a, b;
    char parent[PATH_MAX];
    return path_of(parent, sizeof(parent), "%s/..", path) == 0 && stat(path, &a) == 0 && stat(parent, &b) == 0 &&
           a.st_dev != b.st_dev;
}

static int is_empty_dir(const char *path) {
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n == 0;
}

/* One mount: "bind"/"rbind" and "ro" as flags, every other option as filesystem data. */
static int mount_one(const struct cleat_mount *m, const char *target) {
    unsigned long flags = strcmp(m->type, "bind") == 0 ? MS_BIND : 0;
    char data[8192] = "";
    size_t len = 0;
    for (const char *const *o = m->options; o && *o; o++) {
        if (strcmp(*o, "bind") == 0 || strcmp(*o, "rbind") == 0)
            flags |= MS_BIND | (strcmp(*o, "rbind") == 0 ? MS_REC : 0);
        else if (strcmp(*o, "ro") == 0)
            flags |= MS_RDONLY;
        else if (strcmp(*o, "rw") != 0)
            len +=
                (size_t)snprintf(data + len, len < sizeof(data) ? sizeof(data) - len : 0, "%s%s", len ? "," : "", *o);
    }
    if (len >= sizeof(data))
        return -E2BIG;
    if (mount(m->source, target, m->type, flags & ~MS_RDONLY, (flags & MS_BIND) ? NULL : data) < 0)
        return -errno;
    if ((flags & MS_BIND) && (flags & MS_RDONLY) &&
        mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
        int e = errno;
        umount2(target, MNT_DETACH);
        return -e;
    }
    return 0;
}

static void unmount_rootfs(const char *bundle) {
    char rootfs[PATH_MAX];
    if (path_of(rootfs, sizeof(rootfs), "%s/rootfs", bundle) < 0)
        return;
    while (umount2(rootfs, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
        ;
}

/* What the core handed over, as the tests check it: mounts, an empty unmounted rootfs, root.path. */
static int note_create(struct wrap *w, const struct cleat_runtime_container *c, const char *rootfs,
                       struct cleat_error **reterr) {
    char path[PATH_MAX];
    _cleanup_json_ json_t *spec =
        path_of(path, sizeof(path), "%s/config.json", c->bundle_dir) == 0 ? json_load_file(path, 0, NULL) : NULL;
    json_t *mounts = json_array();
    for (uint64_t i = 0; i < c->n_rootfs; i++) {
        json_t *opts = json_array();
        for (const char *const *o = c->rootfs[i].options; o && *o; o++)
            json_array_append_new(opts, json_string(*o));
        json_array_append_new(mounts, json_pack("{s:s,s:s?,s:o}", "type", c->rootfs[i].type, "source",
                                                c->rootfs[i].source, "options", opts));
    }
    json_t *root_path = json_object_get(json_object_get(spec, "root"), "path");
    return note(w, "create", c->id,
                json_pack("{s:o,s:b,s:b,s:O?}", "mounts", mounts, "rootfs_empty", is_empty_dir(rootfs),
                          "rootfs_mounted", is_mount_point(rootfs), "root_path", root_path),
                reterr);
}

static int wrap_create(void *instance, const struct cleat_runtime_container *c, struct cleat_error **reterr) {
    struct wrap *w = instance;
    char rootfs[PATH_MAX];
    int r = path_of(rootfs, sizeof(rootfs), "%s/rootfs", c->bundle_dir);
    if (r < 0)
        return cleat_error_set(w->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, -r, "bundle dir too long");
    r = note_create(w, c, rootfs, reterr);
    if (r < 0)
        return r;
    if (c->n_rootfs == 0)
        return cleat_error_set(w->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "container '%s': no rootfs mounts to mount", c->id);
    for (uint64_t i = 0; i < c->n_rootfs && r >= 0; i++)
        if ((r = mount_one(&c->rootfs[i], rootfs)) < 0)
            r = cleat_error_set(w->host, reterr, CLEAT_STATUS_INTERNAL, -r, "container '%s': mounting its rootfs: %s",
                                c->id, strerror(-r));
    for (const char *const *a = c->annotations; r >= 0 && a && a[0] && a[1]; a += 2)
        if (strcmp(a[0], VM_OOM_ANNOTATION) == 0 && strcmp(a[1], "true") == 0) {
            char path[PATH_MAX];
            if ((r = note_path(w, "vm-oom", c->id, "flag", path, sizeof(path))) < 0 ||
                (r = plugin_write_file(path, "")) < 0)
                r = cleat_error_set(w->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot write %s", path);
        }
    if (r >= 0)
        r = w->ops.create(w->instance, c, reterr);
    if (r < 0)
        unmount_rootfs(c->bundle_dir);
    return r;
}

/* The bundle of a container, from runtime-runc's record (so that remove() finds it after a restart too). */
static int bundle_of(struct wrap *w, const char *id, char *buf, size_t size) {
    char link[PATH_MAX];
    if (path_of(link, sizeof(link), "%s/containers/%s", w->host->state_dir(w->host), id) < 0)
        return -ENAMETOOLONG;
    ssize_t n = readlink(link, buf, size - 1);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    return 0;
}

static int wrap_remove(void *instance, const char *id, const char *exec_id, struct cleat_error **reterr) {
    struct wrap *w = instance;
    char bundle[PATH_MAX];
    int have = !exec_id && bundle_of(w, id, bundle, sizeof(bundle)) == 0;
    int r = w->ops.remove(w->instance, id, exec_id, reterr);
    if (have && r >= 0)
        unmount_rootfs(bundle);
    return r;
}

/* --- state (the VM's OOM), stats, sandboxes, resize ------------------------------------ */

static int wrap_state(void *instance, const char *id, const char *exec_id, struct cleat_runtime_state *ret,
                      struct cleat_error **reterr) {
    struct wrap *w = instance;
    int r = w->ops.state(w->instance, id, exec_id, ret, reterr);
    char flag[PATH_MAX];
    if (r >= 0 && note_path(w, "vm-oom", id, "flag", flag, sizeof(flag)) == 0 && !exec_id &&
        ret->status == CLEAT_TASK_STOPPED && ret->exit_status == 128 + SIGKILL && access(flag, F_OK) == 0)
        ret->oom_killed = 1;
    return r;
}

/* utime+stime, minflt, majflt of /proc/<pid>/stat; VmRSS of /proc/<pid>/status. */
static int proc_figures(uint32_t pid, struct cleat_runtime_stats *s) {
    char path[64], *text = NULL;
    snprintf(path, sizeof(path), "/proc/%u/stat", pid);
    int r = plugin_read_file(path, 4096, &text, NULL);
    const char *p = r >= 0 ? strrchr(text, ')') : NULL;
    unsigned long long minflt = 0, majflt = 0, utime = 0, stime = 0, rss_kb = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %llu %*u %llu %*u %llu %llu", &minflt, &majflt, &utime,
                     &stime) != 4) {
        free(text);
        return r < 0 ? r : -EINVAL;
    }
    free(text);
    snprintf(path, sizeof(path), "/proc/%u/status", pid);
    if ((r = plugin_read_file(path, 16384, &text, NULL)) < 0)
        return r;
    const char *vm = strstr(text, "\nVmRSS:");
    if (vm)
        sscanf(vm + 7, "%llu", &rss_kb);
    free(text);
    long tick = sysconf(_SC_CLK_TCK);
    s->timestamp_ns = plugin_realtime_ns();
    s->cpu_usage_ns = (utime + stime) * (1000000000ULL / (unsigned long long)(tick > 0 ? tick : 100));
    s->memory_usage_bytes = s->memory_working_set_bytes = s->memory_rss_bytes = rss_kb * 1024;
    s->memory_page_faults = minflt + majflt;
    s->memory_major_page_faults = majflt;
    s->pids = 1;
    return 0;
}

static int wrap_stats(void *instance, const char *id, struct cleat_runtime_stats *ret, struct cleat_error **reterr) {
    struct wrap *w = instance;
    struct cleat_runtime_state st = {0};
    int r = w->ops.state(w->instance, id, NULL, &st, reterr);
    if (r < 0)
        return r;
    if (st.status != CLEAT_TASK_RUNNING || !st.pid || (r = proc_figures(st.pid, ret)) < 0)
        return cleat_error_set(w->host, reterr, CLEAT_STATUS_NOT_FOUND, ESRCH, "'%s' has no running process", id);
    return note(
        w, "stats", id,
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "timestamp_ns", (json_int_t)ret->timestamp_ns, "cpu_usage_ns",
                  (json_int_t)ret->cpu_usage_ns, "memory_usage_bytes", (json_int_t)ret->memory_usage_bytes,
                  "memory_working_set_bytes", (json_int_t)ret->memory_working_set_bytes, "memory_rss_bytes",
                  (json_int_t)ret->memory_rss_bytes, "memory_page_faults", (json_int_t)ret->memory_page_faults,
                  "memory_major_page_faults", (json_int_t)ret->memory_major_page_faults, "pids", (json_int_t)ret->pids),
        reterr);
}

static int wrap_sandbox_create(void *instance, const struct cleat_runtime_sandbox *sb, struct cleat_error **reterr) {
    struct wrap *w = instance;
    int new_fields = sb->struct_size >= offsetof(struct cleat_runtime_sandbox, overhead_json) + sizeof(char *);
    int r = note(w, "sandbox", sb->id,
                 json_pack("{s:b,s:o,s:o}", "spec", sb->spec_json != NULL, "resources",
                           json_or_null(new_fields ? sb->resources_json : NULL), "overhead",
                           json_or_null(new_fields ? sb->overhead_json : NULL)),
                 reterr);
    return r < 0 ? r : w->ops.sandbox_create(w->instance, sb, reterr);
}

static int wrap_sandbox_update(void *instance, const char *id, const char *resources_json,
                               struct cleat_error **reterr) {
    struct wrap *w = instance;
    char path[PATH_MAX];
    if (note_path(w, "sandbox", id, "json", path, sizeof(path)) < 0 || access(path, F_OK) < 0)
        return cleat_error_set(w->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "sandbox '%s' does not exist", id);
    return note(w, "sandbox-update", id, json_pack("{s:o}", "resources", json_or_null(resources_json)), reterr);
}

static int wrap_sandbox_remove(void *instance, const char *id, struct cleat_error **reterr) {
    struct wrap *w = instance;
    int r = w->ops.sandbox_remove(w->instance, id, reterr);
    char path[PATH_MAX];
    if (r >= 0 && note_path(w, "sandbox", id, "json", path, sizeof(path)) == 0)
        unlink(path);
    return r;
}

static int wrap_resize_pty(void *instance, const char *id, const char *exec_id, uint32_t width, uint32_t height,
                           struct cleat_error **reterr) {
    struct wrap *w = instance;
    char path[PATH_MAX], line[128];
    int fd = note_path(w, "resize", id, "log", path, sizeof(path)) == 0
                 ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)
                 : -1;
    int n = snprintf(line, sizeof(line), "%s %u %u\n", exec_id ? exec_id : "-", width, height);
    if (fd < 0 || plugin_write_all(fd, line, (size_t)n) < 0) {
        if (fd >= 0)
            close(fd);
        return cleat_error_set(w->host, reterr, CLEAT_STATUS_INTERNAL, EIO, "cannot write %s", path);
    }
    close(fd);
    return w->ops.resize_pty(w->instance, id, exec_id, width, height, reterr);
}

/* --- the rest is runtime-runc's ------------------------------------------------------------ */

static uint64_t wrap_features(void *instance) {
    struct wrap *w = instance;
    return w->ops.features(w->instance) | CLEAT_RUNTIME_FEATURE_ROOTFS_MOUNTS | CLEAT_RUNTIME_FEATURE_SANDBOX_TASK;
}

static int wrap_status(void *instance, struct cleat_error **reterr) {
    struct wrap *w = instance;
    return w->ops.status(w->instance, reterr);
}

static int wrap_sandbox_stop(void *instance, const char *id, struct cleat_error **reterr) {
    struct wrap *w = instance;
    return w->ops.sandbox_stop(w->instance, id, reterr);
}

static int wrap_start(void *instance, const char *id, uint32_t *ret_pid, struct cleat_error **reterr) {
    struct wrap *w = instance;
    return w->ops.start(w->instance, id, ret_pid, reterr);
}

static int wrap_kill(void *instance, const char *id, const char *exec_id, int32_t sig, uint32_t flags,
                     struct cleat_error **reterr) {
    struct wrap *w = instance;
    return w->ops.kill(w->instance, id, exec_id, sig, flags, reterr);
}

static int wrap_exec(void *instance, const struct cleat_runtime_exec *x, uint32_t *ret_pid,
                     struct cleat_error **reterr) {
    struct wrap *w = instance;
    return w->ops.exec(w->instance, x, ret_pid, reterr);
}

static int wrap_close_stdin(void *instance, const char *id, const char *exec_id, struct cleat_error **reterr) {
    struct wrap *w = instance;
    return w->ops.close_stdin(w->instance, id, exec_id, reterr);
}

static int wrap_update(void *instance, const char *id, const char *json, struct cleat_error **reterr) {
    struct wrap *w = instance;
    return w->ops.update(w->instance, id, json, reterr);
}

static int wrap_reopen_log(void *instance, const char *id, struct cleat_error **reterr) {
    struct wrap *w = instance;
    return w->ops.reopen_log(w->instance, id, reterr);
}

static int wrap_attach_address(void *instance, const char *id, char *buf, uint64_t size, struct cleat_error **reterr) {
    struct wrap *w = instance;
    return w->ops.attach_address(w->instance, id, buf, size, reterr);
}

static const struct cleat_runtime_ops wrap_ops = {
    .status = wrap_status,
    .features = wrap_features,
    .sandbox_create = wrap_sandbox_create,
    .sandbox_stop = wrap_sandbox_stop,
    .sandbox_remove = wrap_sandbox_remove,
    .create = wrap_create,
    .start = wrap_start,
    .kill = wrap_kill,
    .remove = wrap_remove,
    .state = wrap_state,
    .exec = wrap_exec,
    .resize_pty = wrap_resize_pty,
    .close_stdin = wrap_close_stdin,
    .update = wrap_update,
    .reopen_log = wrap_reopen_log,
    .attach_address = wrap_attach_address,
    .stats = wrap_stats,
    .sandbox_update = wrap_sandbox_update,
};

CLEAT_PLUGIN_DEFINE(CLEAT_CONCERN_RUNTIME, "test-wrap-runtime", "0.0.1",
                    "runtime-runc behind the ABI 1.1 behaviours of a shim v2 runtime, for cleat's own tests",
                    wrap_validate, wrap_init, wrap_fini, wrap_ops);
