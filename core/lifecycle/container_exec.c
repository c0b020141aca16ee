/* SPDX-License-Identifier: Apache-2.0 */
/* Starting, following and ending an exec in a container (see container_exec.h). */
#include "plugin_calls.h"
#include "container_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ids.h"
#include "log.h"
#include "runtime_internal.h"

/* How often the runtime is asked about an exec whose exit report has not come. */
#define POLL_NS (100LL * 1000000)
/* How long an exec may take to go after SIGKILL before it is given up on. */
#define KILL_WAIT_NS (5000LL * 1000000)

struct container_exec {
    struct runtime_service *rs;
    struct plugin_instance *rt;
    char id[65];
    char exec_id[ID_HEX_LEN + 1];
    int exited;
    int32_t status;
};

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

static int exec_process_json(struct runtime_service *rs, const char *id, char *const *cmd, size_t n, int tty,
                             char **ret, struct cleat_error **reterr) {
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

/* Our end non-blocking; both close-on-exec. */
static int make_pipe(int p[2], int ours) {
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    fcntl(p[ours], F_SETFL, O_NONBLOCK);
    return 0;
}

static void close_fd(int *fd) {
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

int container_exec_start(struct runtime_service *rs, const char *id_or_prefix, const struct container_exec_options *o,
                         struct container_exec **ret, struct container_exec_io *ret_io, struct cleat_error **reterr) {
    *ret = NULL;
    *ret_io = (struct container_exec_io){.in_fd = -1, .out_fd = -1, .err_fd = -1};
    if (!o->n_cmd || !o->cmd[0] || !*o->cmd[0])
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "an exec needs a command");
    struct container_exec *x = calloc(1, sizeof(*x));
    if (!x)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    x->rs = rs;
    container_record *rec = NULL;
    char *proc = NULL;
    int r = live_container(rs, id_or_prefix, 1, x->id, &rec, &x->rt, reterr);
    container_record_free(rec);
    if (r >= 0)
        r = exec_process_json(rs, x->id, o->cmd, o->n_cmd, o->tty, &proc, reterr);
    if (r >= 0)
        r = id_generate(x->exec_id, reterr);
    if (r < 0) {
        free(proc);
        free(x);
        return r;
    }
    x->exec_id[16] = '\0'; /* short, like containerd's: it names files in the bundle */
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    if ((o->in && (r = make_pipe(in, 1)) < 0) || (o->out && (r = make_pipe(out, 0)) < 0) ||
        (o->err && !o->tty && (r = make_pipe(err, 0)) < 0)) {
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, -r, "pipe: %s", strerror(-r));
    } else {
        struct cleat_runtime_exec ex = {.struct_size = sizeof(ex),
                                        .container_id = x->id,
                                        .exec_id = x->exec_id,
                                        .process_json = proc,
                                        .stdin_fd = in[0],
                                        .stdout_fd = out[1],
                                        .stderr_fd = err[1],
                                        .flags = o->tty ? CLEAT_CONTAINER_TTY : 0};
        uint32_t pid = 0;
        r = plugin_runtime_exec(x->rt, &ex, &pid, reterr);
    }
    free(proc);
    /* The process's ends belong to the runtime now (or to nobody). */
    close_fd(&in[0]);
    close_fd(&out[1]);
    close_fd(&err[1]);
    if (r < 0) {
        close_fd(&in[1]);
        close_fd(&out[0]);
        close_fd(&err[0]);
        free(x);
        return r;
    }
    *ret_io = (struct container_exec_io){.in_fd = in[1], .out_fd = out[0], .err_fd = err[0]};
    *ret = x;
    return 0;
}

const char *container_exec_container_id(const struct container_exec *x) {
    return x->id;
}

const char *container_exec_id(const struct container_exec *x) {
    return x->exec_id;
}

int container_exec_poll(struct container_exec *x, int64_t deadline_ns, int32_t *ret_status) {
    if (!x->exited) {
        struct exit_entry e = {0};
        int r = deadline_ns ? exit_await(x->rs, x->rt, x->id, x->exec_id, deadline_ns, POLL_NS, &e)
                            : exit_lookup(x->rs, x->id, x->exec_id, &e);
        if (r < 0)
            return 0;
        x->exited = 1;
        x->status = e.status;
    }
    *ret_status = x->status;
    return 1;
}

int container_exec_resize(struct container_exec *x, uint32_t width, uint32_t height, struct cleat_error **reterr) {
    if (x->exited)
        return error_set(reterr, CLEAT_STATUS_NOT_FOUND, ESRCH, "exec %s in container %s has exited", x->exec_id,
                         x->id);
    return plugin_runtime_resize_pty(x->rt, x->id, x->exec_id, width, height, reterr);
}

void container_exec_end(struct container_exec *x) {
    if (!x)
        return;
    struct cleat_error *e = NULL;
    int32_t status = 0;
    if (!container_exec_poll(x, 0, &status)) { /* still running: nobody follows it any more */
        if (plugin_has_op(x->rt, "kill") && plugin_runtime_kill(x->rt, x->id, x->exec_id, SIGKILL, 0, &e) < 0)
            log_warning("container %s exec %s: kill: %s", x->id, x->exec_id, error_message(e));
        error_free(e);
        e = NULL;
        if (!container_exec_poll(x, now_ns() + KILL_WAIT_NS, &status))
            log_warning("container %s exec %s: no exit 5s after SIGKILL", x->id, x->exec_id);
    }
    if (plugin_has_op(x->rt, "remove") && plugin_runtime_remove(x->rt, x->id, x->exec_id, &e) < 0 &&
        error_status(e) != CLEAT_STATUS_NOT_FOUND)
        log_warning("container %s exec %s: %s", x->id, x->exec_id, error_message(e));
    error_free(e);
    exit_forget(x->rs, x->id, x->exec_id);
    free(x);
}

int container_attach_resize(struct runtime_service *rs, const char *id_or_prefix, uint32_t width, uint32_t height,
                            struct cleat_error **reterr) {
    char id[65];
    container_record *rec = NULL;
    struct plugin_instance *rt = NULL;
    int r = live_container(rs, id_or_prefix, 1, id, &rec, &rt, reterr);
    container_record_free(rec);
    return r < 0 ? r : plugin_runtime_resize_pty(rt, id, NULL, width, height, reterr);
}

int container_attach_address(struct runtime_service *rs, const char *id_or_prefix, char ret_id[65], char *addr,
                             size_t addr_size, struct cleat_error **reterr) {
    container_record *rec = NULL;
    struct plugin_instance *rt = NULL;
    int r = live_container(rs, id_or_prefix, 1, ret_id, &rec, &rt, reterr);
    container_record_free(rec);
    if (r >= 0)
        r = plugin_runtime_attach_address(rt, ret_id, addr, addr_size, reterr);
    return r;
}
