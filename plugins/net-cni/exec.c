/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net-cni: running one CNI plugin binary.
 *
 * From a threaded daemon: posix_spawn (never a bare fork), every fd of ours
 * close-on-exec and, for the fds someone else may have leaked, closefrom(3)
 * in the child.  The request config is handed over in a memfd rather than a
 * pipe: no writer to keep alive, no SIGPIPE when a plugin exits without
 * reading it.  The plugin runs in its own process group so that a timeout
 * kills the IPAM plugin it delegated to as well; it is reaped through its
 * pidfd only (other children of the daemon are not ours to wait for).
 * runtime-runc's spawn.c does the same for the OCI runtime and the shim:
 * plugins may not share code yet, so each keeps its own copy.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cni.h"

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
    for (size_t i = 0; i < k; i++)
        if (!env[i]) {
            for (size_t j = 0; j < k; j++)
                free(env[j]);
            free(env);
            return NULL;
        }
    return env;
}

static void free_env(char **env) {
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* The request config as a memfd at offset 0. */
static int input_fd(const char *input) {
    int fd = memfd_create("cni-config", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = strlen(input), off = 0;
    while (off < len) {
        ssize_t n = write(fd, input + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int r = -errno;
            close(fd);
            return r;
        }
        off += (size_t)n;
    }
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static int spawn(const char *path, char **env, const int fds[3], pid_t *ret_pid) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    char *argv[] = {(char *)path, NULL};
    int r;
    if ((r = posix_spawn_file_actions_init(&fa)) != 0)
        return -r;
    if ((r = posix_spawnattr_init(&attr)) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return -r;
    }
    sigemptyset(&none);
    sigfillset(&all);
    for (int i = 0; i < 3 && r == 0; i++)
        r = posix_spawn_file_actions_adddup2(&fa, fds[i], i);
    if (r == 0)
        r = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (r == 0)
        r = posix_spawnattr_setsigmask(&attr, &none);
    if (r == 0)
        r = posix_spawnattr_setsigdefault(&attr, &all);
    if (r == 0)
        r = posix_spawnattr_setpgroup(&attr, 0);
    if (r == 0)
        r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    if (r == 0)
        r = posix_spawn(ret_pid, path, &fa, &attr, argv, env);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return -r;
}

struct out {
    int fd;
    char *buf;
    size_t len, max;
};

/* One read into o (beyond max, bytes are read and dropped): 1 read, 0 EOF, -EAGAIN nothing now. */
static int drain(struct out *o) {
    char chunk[8192];
    ssize_t n = read(o->fd, chunk, sizeof(chunk));
    if (n < 0)
        return errno == EINTR ? 1 : -errno;
    if (n == 0)
        return 0;
    size_t keep = o->len + (size_t)n <= o->max ? (size_t)n : o->max - o->len;
    if (keep) {
        char *nb = realloc(o->buf, o->len + keep + 1);
        if (!nb)
            return -ENOMEM;
        o->buf = nb;
        memcpy(o->buf + o->len, chunk, keep);
        o->len += keep;
        o->buf[o->len] = '\0';
    }
    return 1;
}

/* Read stdout and stderr until the plugin exits (then what the pipes hold) or the deadline passes. */
static int pump(struct out o[2], int pidfd, int64_t deadline, int *timed_out) {
    for (int exited = 0; !exited;) {
        struct pollfd p[3] = {{.fd = o[0].fd, .events = POLLIN}, {.fd = o[1].fd, .events = POLLIN},
                              {.fd = pidfd, .events = POLLIN}};
        int64_t left = deadline - nc_monotonic_ms();
        if (left <= 0) {
            *timed_out = 1;
            return 0;
        }
        int n = poll(p, 3, (int)left);
        if (n < 0 && errno != EINTR)
            return -errno;
        exited = n > 0 && (p[2].revents & POLLIN);
        for (int i = 0; i < 2; i++) {
            if (o[i].fd < 0 || !(p[i].revents || exited))
                continue;
            int r;
            if (exited) {
                /* A grandchild (a daemonised IPAM) may hold the write end: only what is there now. */
                fcntl(o[i].fd, F_SETFL, O_NONBLOCK);
                while ((r = drain(&o[i])) > 0)
                    ;
            } else {
                r = drain(&o[i]);
            }
            if (r < 0 && r != -EAGAIN)
                return r;
            if (r == 0) {
                close(o[i].fd);
                o[i].fd = -1;
            }
        }
    }
    return 0;
}

static int reap(int pidfd, int *status) {
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0)
        if (errno != EINTR)
            return -errno;
    *status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
    return 0;
}

struct run {
    struct out o[2];
    int status, timed_out;
};

static int run(const char *path, char **env, const char *input, int64_t timeout_ms, struct run *ret) {
    int in = input_fd(input), po[2] = {-1, -1}, pe[2] = {-1, -1}, r = in < 0 ? in : 0;
    if (r == 0 && (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0))
        r = -errno;
    pid_t pid = 0;
    if (r == 0)
        r = spawn(path, env, (int[3]){in, po[1], pe[1]}, &pid);
    int fds[] = {in, po[1], pe[1]};
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    ret->o[0] = (struct out){.fd = po[0], .max = NC_STDOUT_MAX};
    ret->o[1] = (struct out){.fd = pe[0], .max = NC_STDERR_MAX};
    int pidfd = r == 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    if (r == 0 && pidfd < 0) {
        r = -errno;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0); /* no pidfd: the kernel is too old; ours by pid then */
    }
    if (r == 0) {
        r = pump(ret->o, pidfd, nc_monotonic_ms() + timeout_ms, &ret->timed_out);
        if (r < 0 || ret->timed_out)
            kill(-pid, SIGKILL); /* the group: the plugin and whatever it delegated to */
        int rr = reap(pidfd, &ret->status);
        r = r < 0 ? r : rr;
    }
    if (pidfd >= 0)
        close(pidfd);
    for (int i = 0; i < 2; i++)
        if (ret->o[i].fd >= 0)
            close(ret->o[i].fd);
    return r;
}

static void trim(char *s) {
    size_t n = s ? strlen(s) : 0;
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

/* The plugin's failure: its CNI error object when it printed one, else what it said on stderr. */
static int plugin_error(struct nc *nc, const char *type, const struct nc_call *c, struct run *rn,
                        struct cleat_error **reterr) {
    nc_cleanup_json json_t *e = rn->o[0].buf ? json_loads(rn->o[0].buf, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(e, "msg"));
    const char *details = json_string_value(json_object_get(e, "details"));
    json_int_t code = json_integer_value(json_object_get(e, "code"));
    trim(rn->o[1].buf);
    trim(rn->o[0].buf);
    if (msg && msg[0])
        return nc_fail(nc, reterr, CLEAT_STATUS_UNKNOWN, 0, "plugin %s failed: %s%s%s", type, msg,
                       details && details[0] ? ": " : "", details && details[0] ? details : "");
    if (json_is_object(e) && code)
        return nc_fail(nc, reterr, CLEAT_STATUS_UNKNOWN, 0, "plugin %s failed with CNI error code %lld", type,
                       (long long)code);
    const char *text = rn->o[1].len ? rn->o[1].buf : rn->o[0].len ? rn->o[0].buf : NULL;
    if (text && text[0])
        return nc_fail(nc, reterr, CLEAT_STATUS_UNKNOWN, 0, "plugin %s failed (%s, exit status %d): %s", type,
                       c->command, rn->status, text);
    return nc_fail(nc, reterr, CLEAT_STATUS_UNKNOWN, 0, "plugin %s failed (%s): exit status %d", type, c->command,
                   rn->status);
}

int nc_exec(struct nc *nc, const char *type, const struct nc_call *call, const char *input, char **ret_out,
            struct cleat_error **reterr) {
    nc_cleanup_free char *path = nc_find_plugin(nc, type);
    if (!path)
        return nc_fail(nc, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOENT, "plugin %s not found in %s", type,
                       nc->cni_path);
    char **env = build_env(nc, call);
    if (!env)
        return nc_fail(nc, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    struct run rn = {.status = 0};
    int64_t start = nc_monotonic_ms();
    int r = run(path, env, input, nc->timeout_ms, &rn);
    free_env(env);
    if (rn.o[1].len)
        cleat_log(nc->host, CLEAT_LOG_DEBUG, "plugin %s %s %s: stderr: %s", type, call->command,
                  call->container_id ? call->container_id : "", rn.o[1].buf);
    if (r < 0)
        r = nc_fail(nc, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot run plugin %s (%s): %s", type, path, strerror(-r));
    else if (rn.timed_out)
        r = nc_fail(nc, reterr, CLEAT_STATUS_DEADLINE_EXCEEDED, ETIMEDOUT, "plugin %s (%s) timed out after %lld s",
                    type, call->command, (long long)(nc->timeout_ms / 1000));
    else if (rn.status != 0)
        r = plugin_error(nc, type, call, &rn, reterr);
    cleat_log(nc->host, CLEAT_LOG_DEBUG, "plugin %s %s %s: %s in %lld ms", type, call->command,
              call->container_id ? call->container_id : "", r < 0 ? "failed" : "ok",
              (long long)(nc_monotonic_ms() - start));
    free(rn.o[1].buf);
    if (r < 0) {
        free(rn.o[0].buf);
        return r;
    }
    *ret_out = rn.o[0].buf ? rn.o[0].buf : strdup("");
    return *ret_out ? 0 : nc_fail(nc, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
}
