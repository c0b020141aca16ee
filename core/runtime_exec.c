/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ExecSync: a process in a running container with the container's own
 * process settings (user, environment, capabilities, cwd) but the given
 * command, its output captured through pipes.  kubelet's exec probes run
 * through here, so a hung command must not hold a worker past its timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "ids.h"
#include "log.h"
#include "runtime_internal.h"

/* Per stream; more is read and dropped, so the process never blocks on a full pipe. */
#define EXEC_OUTPUT_MAX (16u << 20)
/* After the process exited, how long its output may still take to drain (a child holding the pipe). */
#define DRAIN_NS (200LL * 1000000)
/* How often the runtime is asked about an exec whose exit report has not come. */
#define POLL_NS (100LL * 1000000)

void exec_sync_result_clear(struct exec_sync_result *r) {
    free(r->out);
    free(r->err);
    *r = (struct exec_sync_result){0};
}

/* A terminal exec in a container made without one still needs TERM for clear, top or vi (as containerd gives). */
static void env_default_term(json_t *proc) {
    json_t *env = json_object_get(proc, "env");
    size_t i;
    json_t *v;
    if (!json_is_array(env)) {
        env = json_array();
        json_object_set_new(proc, "env", env);
    }
    json_array_foreach(env, i, v) {
        const char *s = json_string_value(v);
        if (s && strncmp(s, "TERM=", 5) == 0)
            return;
    }
    json_array_append_new(env, json_string("TERM=xterm"));
}

int exec_process_json(struct runtime_service *rs, const char *id, char *const *cmd, size_t n, int tty, char **ret,
                      struct cleat_error **reterr) {
    json_t *spec = NULL;
    int r = container_spec_load(rs, id, &spec, reterr);
    if (r < 0)
        return r;
    json_t *proc = json_object_get(spec, "process");
    json_t *args = json_array();
    for (size_t i = 0; args && i < n; i++)
        json_array_append_new(args, json_string(cmd[i]));
    char *out = NULL;
    if (proc && args) {
        json_object_set(proc, "args", args);
        json_object_set_new(proc, "terminal", json_boolean(tty));
        json_object_del(proc, "consoleSize");
        if (tty)
            env_default_term(proc);
        out = json_dumps(proc, JSON_COMPACT);
    }
    json_decref(args);
    json_decref(spec);
    if (!out)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EINVAL, "cannot make the exec process of container %s", id);
    *ret = out;
    return 0;
}

struct sink {
    int fd;
    char *buf;
    size_t len;
};

/* Read what is there; 1 at EOF. */
static int drain(struct sink *s) {
    char chunk[16384];
    for (;;) {
        ssize_t n = read(s->fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 0 : 1;
        if (n == 0)
            return 1;
        size_t keep = s->len < EXEC_OUTPUT_MAX ? EXEC_OUTPUT_MAX - s->len : 0;
        if ((size_t)n < keep)
            keep = (size_t)n;
        if (keep) {
            char *b = realloc(s->buf, s->len + keep + 1);
            if (!b)
                return 1;
            s->buf = b;
            memcpy(b + s->len, chunk, keep);
            s->len += keep;
            b[s->len] = '\0';
        }
    }
}

/* Collect output until both pipes close (or shortly after the exit), or the deadline; -ETIMEDOUT then. */
static int collect(struct runtime_service *rs, const char *id, const char *exec_id, struct sink *s, int64_t deadline) {
    int open_fds = 2;
    int64_t exited_at = 0;
    while (open_fds) {
        struct pollfd p[2];
        nfds_t n = 0;
        for (int i = 0; i < 2; i++)
            if (s[i].fd >= 0)
                p[n++] = (struct pollfd){.fd = s[i].fd, .events = POLLIN};
        int64_t now = now_ns();
        if (deadline && now >= deadline)
            return -ETIMEDOUT;
        if (exited_at && now - exited_at > DRAIN_NS)
            break;
        poll(p, n, 50);
        for (int i = 0; i < 2; i++)
            if (s[i].fd >= 0 && drain(&s[i])) {
                close(s[i].fd);
                s[i].fd = -1;
                open_fds--;
            }
        if (!exited_at && exit_lookup(rs, id, exec_id, &(struct exit_entry){0}) == 0)
            exited_at = now_ns();
    }
    return 0;
}

int container_exec_sync(struct runtime_service *rs, const char *id_or_prefix, char *const *cmd, size_t n_cmd,
                        int64_t timeout, struct exec_sync_result *ret, struct cleat_error **reterr) {
    if (!n_cmd || !cmd[0] || !*cmd[0])
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "ExecSync needs a command");
    if (timeout < 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "a negative timeout");
    char id[65], exec_id[ID_HEX_LEN + 1];
    container_record *rec = NULL;
    struct plugin_instance *rt = NULL;
    char *proc = NULL;
    int r = live_container(rs, id_or_prefix, 1, id, &rec, &rt, reterr);
    container_record_free(rec);
    if (r >= 0 && !rt->ops.runtime.exec)
        r = error_set(reterr, CLEAT_STATUS_UNIMPLEMENTED, ENOSYS, "the runtime cannot exec");
    if (r >= 0)
        r = exec_process_json(rs, id, cmd, n_cmd, 0, &proc, reterr);
    if (r >= 0)
        r = id_generate(exec_id, reterr);
    if (r < 0) {
        free(proc);
        return r;
    }
    exec_id[16] = '\0'; /* short, like containerd's: it names files in the bundle */
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, errno, "pipe: %s", strerror(errno));
        goto out;
    }
    struct cleat_runtime_exec ex = {.struct_size = sizeof(ex), .container_id = id, .exec_id = exec_id,
                                    .process_json = proc, .stdin_fd = -1, .stdout_fd = out[1], .stderr_fd = err[1]};
    uint32_t pid = 0;
    r = rt->ops.runtime.exec(rt->instance, &ex, &pid, reterr);
    close(out[1]);
    close(err[1]);
    out[1] = err[1] = -1;
    if (r < 0)
        goto out;
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(err[0], F_SETFL, O_NONBLOCK);
    struct sink s[2] = {{.fd = out[0]}, {.fd = err[0]}};
    out[0] = err[0] = -1;
    if (timeout > 366LL * 86400) /* keeps the deadline inside int64 nanoseconds */
        timeout = 366LL * 86400;
    int64_t deadline = timeout ? now_ns() + timeout * 1000000000LL : 0;
    struct exit_entry exit = {.status = -1};
    r = collect(rs, id, exec_id, s, deadline);
    if (r >= 0)
        r = exit_await(rs, rt, id, exec_id, deadline, POLL_NS, &exit);
    if (r < 0) {
        struct cleat_error *e = NULL;
        if (rt->ops.runtime.kill && rt->ops.runtime.kill(rt->instance, id, exec_id, SIGKILL, 0, &e) < 0)
            log_warning("container %s exec %s: %s", id, exec_id, error_message(e));
        error_free(e);
        exit_await(rs, rt, id, exec_id, now_ns() + 5000000000LL, POLL_NS, &exit);
        r = error_set(reterr, CLEAT_STATUS_DEADLINE_EXCEEDED, ETIMEDOUT, "command timed out after %llds",
                      (long long)timeout);
    }
    for (int i = 0; i < 2; i++)
        if (s[i].fd >= 0)
            close(s[i].fd);
    if (r >= 0) {
        *ret = (struct exec_sync_result){.out = s[0].buf, .out_len = s[0].len, .err = s[1].buf, .err_len = s[1].len,
                                         .exit_code = exit.status};
    } else {
        free(s[0].buf);
        free(s[1].buf);
    }
    struct cleat_error *e = NULL;
    if (rt->ops.runtime.remove && rt->ops.runtime.remove(rt->instance, id, exec_id, &e) < 0 &&
        error_status(e) != CLEAT_STATUS_NOT_FOUND)
        log_warning("container %s exec %s: %s", id, exec_id, error_message(e));
    error_free(e);
    exit_forget(rs, id, exec_id);
out:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            close(out[i]);
        if (err[i] >= 0)
            close(err[i]);
    }
    free(proc);
    return r;
}
