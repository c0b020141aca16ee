/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net-cni: running one CNI plugin binary.
 *
 * Spawned, watched and reaped as plugin_spawn.h says (posix_spawn, only the
 * stdio fds, reaped by pidfd).  The request config is handed over in a memfd rather than a
 * pipe: no writer to keep alive, no SIGPIPE when a plugin exits without
 * reading it.  The plugin leads its own process group so that a timeout
 * kills the IPAM plugin it delegated to as well.
 */
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni.h"
#include "plugin_clock.h"
#include "plugin_fs.h"
#include "plugin_spawn.h"
#include "plugin_strv.h"

#define NC_STDOUT_MAX (8 * 1024 * 1024)
#define NC_STDERR_MAX (64 * 1024)
#define NC_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

extern char **environ;

char *nc_find_plugin(const struct nc *nc, const char *type) {
    for (size_t i = 0; nc->bin_dirs[i]; i++) {
        char *path = NULL;
        struct stat st;
        if (asprintf(&path, "%s/%s", nc->bin_dirs[i], type) < 0)
            return NULL;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0)
            return path;
        free(path);
    }
    return NULL;
}

/* The daemon's environment without CNI_* (PATH matters: portmap runs iptables), then ours. */
static char **build_env(const struct nc *nc, const struct nc_call *c) {
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 8, sizeof(char *));
    if (!env)
        return NULL;
    size_t k = 0;
    int has_path = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "CNI_", 4) == 0)
            continue;
        has_path |= strncmp(environ[i], "PATH=", 5) == 0;
        env[k++] = strdup(environ[i]);
    }
    const char *names[] = {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"};
    const char *values[] = {c->command, c->container_id, c->netns, c->ifname, c->args, nc->cni_path};
    for (size_t i = 0; i < 6; i++)
        if (asprintf(&env[k++], "%s=%s", names[i], values[i] ? values[i] : "") < 0)
            env[k - 1] = NULL;
    if (!has_path)
        env[k++] = strdup("PATH=" NC_DEFAULT_PATH);
    return plugin_strv_checked(env, k);
}

/* The request config as a memfd at offset 0. */
static int input_fd(const char *input) {
    int fd = memfd_create("cni-config", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = plugin_write_all(fd, input, strlen(input));
    if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
        r = -errno;
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

/* Run the plugin at `path` to its end (or its timeout), with `input` on stdin. */
static int run(const struct nc *nc, const char *path, char **env, const char *input, struct plugin_output *ret) {
    const char *const argv[] = {path, NULL};
    struct plugin_run run = {.argv = argv,
                             .envp = env,
                             .flags = PLUGIN_SPAWN_PGROUP,
                             .timeout_ms = nc->timeout_ms,
                             .stdout_max = NC_STDOUT_MAX,
                             .stderr_max = NC_STDERR_MAX};
    int in = input_fd(input);
    if (in < 0)
        return in;
    int r = plugin_run(&run, in, ret);
    close(in);
    return r;
}

static void trim(char *s) {
    size_t n = s ? strlen(s) : 0;
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

/* The plugin's failure: its CNI error object when it printed one, else what it said on stderr. */
static int plugin_error(struct nc *nc, const char *type, const struct nc_call *c, struct plugin_output *o,
                        struct cleat_error **reterr) {
    _cleanup_json_ json_t *e = json_loads(o->out, 0, NULL);
    const char *msg = json_string_value(json_object_get(e, "msg"));
    const char *details = json_string_value(json_object_get(e, "details"));
    json_int_t code = json_integer_value(json_object_get(e, "code"));
    trim(o->err);
    trim(o->out);
    if (msg && msg[0])
        return cleat_error_set(nc->host, reterr, CLEAT_STATUS_UNKNOWN, 0, "plugin %s failed: %s%s%s", type, msg,
                               details && details[0] ? ": " : "", details && details[0] ? details : "");
    if (json_is_object(e) && code)
        return cleat_error_set(nc->host, reterr, CLEAT_STATUS_UNKNOWN, 0, "plugin %s failed with CNI error code %lld",
                               type, (long long)code);
    const char *text = o->err[0] ? o->err : o->out;
    if (text[0])
        return cleat_error_set(nc->host, reterr, CLEAT_STATUS_UNKNOWN, 0, "plugin %s failed (%s, exit status %d): %s",
                               type, c->command, o->exit_status, text);
    return cleat_error_set(nc->host, reterr, CLEAT_STATUS_UNKNOWN, 0, "plugin %s failed (%s): exit status %d", type,
                           c->command, o->exit_status);
}

int nc_exec(struct nc *nc, const char *type, const struct nc_call *call, const char *input, char **ret_out,
            struct cleat_error **reterr) {
    _cleanup_free_ char *path = nc_find_plugin(nc, type);
    if (!path)
        return cleat_error_set(nc->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOENT, "plugin %s not found in %s",
                               type, nc->cni_path);
    _cleanup_strv_ char **env = build_env(nc, call);
    if (!env)
        return plugin_oom(nc->host, reterr);
    struct plugin_output o;
    int64_t start = plugin_monotonic_ms();
    int r = run(nc, path, env, input, &o);
    if (r == 0 && o.err_len)
        cleat_log(nc->host, CLEAT_LOG_DEBUG, "plugin %s %s %s: stderr: %s", type, call->command,
                  call->container_id ? call->container_id : "", o.err);
    if (r < 0)
        r = cleat_error_set(nc->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot run plugin %s (%s): %s", type, path,
                            strerror(-r));
    else if (o.timed_out)
        r = cleat_error_set(nc->host, reterr, CLEAT_STATUS_DEADLINE_EXCEEDED, ETIMEDOUT,
                            "plugin %s (%s) timed out after %lld s", type, call->command,
                            (long long)(nc->timeout_ms / 1000));
    else if (o.exit_status != 0)
        r = plugin_error(nc, type, call, &o, reterr);
    cleat_log(nc->host, CLEAT_LOG_DEBUG, "plugin %s %s %s: %s in %lld ms", type, call->command,
              call->container_id ? call->container_id : "", r < 0 ? "failed" : "ok",
              (long long)(plugin_monotonic_ms() - start));
    if (r == 0)
        *ret_out = TAKE_PTR(o.out);
    plugin_output_done(&o);
    return r;
}
