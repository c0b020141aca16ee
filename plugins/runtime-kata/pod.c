/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-kata: pods.  One shim per pod sandbox, started with the shim's
 * `start` command in the sandbox bundle (<sandbox state dir>/<sandbox id>,
 * with the cleat-pause spec the core gives and the CRI annotations a VM
 * runtime reads added); the sandbox is the shim's first task.  A bundle is
 * named after its task as in containerd's layout: a shim's `delete` finds
 * the bundle as <its working directory>/../<id>.  The shim writes its
 * own log to the FIFO BUNDLE/log, which a thread of ours drains into
 * cleatd's log (a shim whose log nobody reads would block).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kata.h"
#include "plugin_clock.h"
#include "plugin_fs.h"
#include "plugin_json.h"
#include "plugin_pidfd.h"
#include "plugin_spawn.h"
#include "plugin_strv.h"

extern char **environ;

#define SHIM_OUT_MAX 4096
#define SHIM_ERR_MAX 4096

/* --- the table --------------------------------------------------------------------------------------------------- */

static struct kata_pod *find_locked(struct kata *k, const char *id) {
    for (struct kata_pod *p = k->pods; p; p = p->next)
        if (strcmp(p->id, id) == 0)
            return p;
    return NULL;
}

struct kata_pod *kata_pod_get(struct kata *k, const char *sandbox_id) {
    pthread_mutex_lock(&k->lock);
    struct kata_pod *p = find_locked(k, sandbox_id);
    if (p)
        p->refs++;
    pthread_mutex_unlock(&k->lock);
    return p;
}

static void pod_free(struct kata_pod *p) {
    if (p->log_thread_started) {
        uint64_t one = 1;
        if (write(p->log_wake, &one, sizeof(one)) < 0) { /* cannot fail on an eventfd below its maximum */
        }
        pthread_join(p->log_thread, NULL);
    }
    if (p->log_fd >= 0)
        close(p->log_fd);
    if (p->log_wake >= 0)
        close(p->log_wake);
    if (p->shim_pidfd >= 0)
        close(p->shim_pidfd);
    ttrpc_close(p->client);
    for (size_t i = 0; i < p->n_old; i++)
        ttrpc_close(p->old[i]);
    free(p->old);
    free(p->id);
    free(p->bundle);
    free(p->address);
    free(p);
}

void kata_pod_put(struct kata *k, struct kata_pod *p) {
    if (!p)
        return;
    pthread_mutex_lock(&k->lock);
    int last = --p->refs == 0;
    pthread_mutex_unlock(&k->lock);
    if (last)
        pod_free(p);
}

static void unlink_pod_locked(struct kata *k, struct kata_pod *p) {
    for (struct kata_pod **pp = &k->pods; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            p->refs--; /* the table's */
            return;
        }
}

void kata_pods_free(struct kata *k) {
    while (k->pods) {
        struct kata_pod *p = k->pods;
        k->pods = p->next;
        pod_free(p);
    }
}

/* A new pod (refs 2: the table's and the caller's), in the table. */
static struct kata_pod *pod_new(struct kata *k, const char *id, const char *bundle) {
    struct kata_pod *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->id = strdup(id);
    p->bundle = strdup(bundle);
    p->shim_pidfd = p->log_fd = p->log_wake = -1;
    if (!p->id || !p->bundle) {
        pod_free(p);
        return NULL;
    }
    p->refs = 2;
    pthread_mutex_lock(&k->lock);
    p->next = k->pods;
    k->pods = p;
    pthread_mutex_unlock(&k->lock);
    return p;
}

/* --- the shim's own log ------------------------------------------------------------------------------------------ */

struct log_ctx {
    struct kata *k;
    struct kata_pod *p;
};

static void *log_main(void *arg) {
    struct log_ctx *lc = arg;
    struct kata *k = lc->k;
    struct kata_pod *p = lc->p;
    free(lc);
    char buf[4096];
    size_t len = 0;
    for (;;) {
        struct pollfd fds[2] = {{.fd = p->log_fd, .events = POLLIN}, {.fd = p->log_wake, .events = POLLIN}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[1].revents)
            break;
        ssize_t n = read(p->log_fd, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = '\0';
            cleat_log(k->host, CLEAT_LOG_DEBUG, "pod '%s': shim: %s", p->id, line);
            line = nl + 1;
        }
        len = strlen(line);
        if (len == sizeof(buf) - 1) { /* a line longer than the buffer: log what there is */
            cleat_log(k->host, CLEAT_LOG_DEBUG, "pod '%s': shim: %s", p->id, line);
            len = 0;
        } else {
            memmove(buf, line, len);
        }
    }
    return NULL;
}

/* Make (or reuse) the FIFO BUNDLE/log the shim writes its log to, and drain it. */
static int log_start(struct kata *k, struct kata_pod *p) {
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/log", p->bundle);
    if (mkfifo(path, 0600) < 0 && errno != EEXIST)
        return -errno;
    /* O_RDWR: opens without a writer, and never reads EOF while the shim restarts its writer. */
    if ((p->log_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0)
        return -errno;
    struct stat st;
    if (fstat(p->log_fd, &st) < 0 || !S_ISFIFO(st.st_mode))
        return -EINVAL;
    if ((p->log_wake = eventfd(0, EFD_CLOEXEC)) < 0)
        return -errno;
    struct log_ctx *lc = malloc(sizeof(*lc));
    if (!lc)
        return -ENOMEM;
    *lc = (struct log_ctx){k, p};
    int r = pthread_create(&p->log_thread, NULL, log_main, lc);
    if (r != 0) {
        free(lc);
        return -r;
    }
    p->log_thread_started = 1;
    return 0;
}

/* --- the shim process -------------------------------------------------------------------------------------------- */

/* The daemon's environment, with TTRPC_ADDRESS (where the shim forwards events) and GOMAXPROCS set. */
static char **shim_env(const struct kata *k) {
    size_t n = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    char **env = calloc(n + 3, sizeof(char *));
    if (!env)
        return NULL;
    size_t m = 0;
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, "TTRPC_ADDRESS=", 14) != 0 && strncmp(*e, "GOMAXPROCS=", 11) != 0)
            env[m++] = strdup(*e);
    if (asprintf(&env[m++], "TTRPC_ADDRESS=%s", k->events_path) < 0)
        env[m - 1] = NULL;
    /* As containerd starts shims: two threads of Go's runtime are plenty for one pod, and cost less memory. */
    env[m++] = strdup("GOMAXPROCS=2");
    return plugin_strv_checked(env, m);
}

/* Run `SHIM -namespace NS -address EVENTS -publish-binary /bin/false -id ID [-bundle B] VERB` in `cwd`. */
static int run_shim(struct kata *k, const char *id, const char *cwd, const char *verb, int with_bundle,
                    struct plugin_output *o) {
    const char *argv[] = {k->shim,
                          "-namespace",
                          KATA_NAMESPACE,
                          "-address",
                          k->events_path,
                          "-publish-binary",
                          "/bin/false",
                          "-id",
                          id,
                          with_bundle ? "-bundle" : verb,
                          with_bundle ? cwd : NULL,
                          with_bundle ? verb : NULL,
                          NULL};
    _cleanup_strv_ char **env = shim_env(k);
    if (!env)
        return -ENOMEM;
    struct plugin_run run = {.argv = argv,
                             .envp = env,
                             .timeout_ms = KATA_CALL_TIMEOUT_MS,
                             .stdout_max = SHIM_OUT_MAX,
                             .stderr_max = SHIM_ERR_MAX,
                             .cwd = cwd};
    return plugin_run(&run, -1, o);
}

void kata_shim_delete(struct kata *k, const char *id, const char *bundle, int expect_nothing) {
    struct plugin_output o;
    int r = run_shim(k, id, bundle, "delete", 1, &o);
    if (r < 0) {
        cleat_log(k->host, CLEAT_LOG_WARNING, "task '%s': cannot run %s delete: %s", id, k->shim, strerror(-r));
        return;
    }
    if (o.exit_status != 0)
        cleat_log(k->host, expect_nothing ? CLEAT_LOG_DEBUG : CLEAT_LOG_WARNING,
                  "task '%s': %s delete exited with %d: %s", id, k->shim, o.exit_status, o.err);
    plugin_output_done(&o);
}

/* The shim's `start`: the address it prints (its socket), in *ret. */
static int shim_start(struct kata *k, struct kata_pod *p, char **ret, struct cleat_error **reterr) {
    struct plugin_output o;
    int r = run_shim(k, p->id, p->bundle, "start", 0, &o);
    if (r < 0)
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_INTERNAL, -r, "sandbox '%s': cannot run %s: %s", p->id,
                               k->shim, strerror(-r));
    char *out = o.out;
    out[strcspn(out, "\r\n")] = '\0';
    if (o.timed_out)
        r = cleat_error_set(k->host, reterr, CLEAT_STATUS_DEADLINE_EXCEEDED, ETIMEDOUT,
                            "sandbox '%s': %s start did not answer within %d s", p->id, k->shim,
                            KATA_CALL_TIMEOUT_MS / 1000);
    else if (o.exit_status != 0 || !out[0])
        r = cleat_error_set(k->host, reterr, CLEAT_STATUS_INTERNAL, EIO, "sandbox '%s': %s start failed (%d): %.2000s",
                            p->id, k->shim, o.exit_status, o.err[0] ? o.err : "no address printed");
    else if (!(*ret = strdup(out)))
        r = plugin_oom(k->host, reterr);
    plugin_output_done(&o);
    return r;
}

/* The socket file behind a "unix:///path" address (NULL for an abstract one). */
static const char *socket_file(const char *address) {
    if (strncmp(address, "unix://", 7) == 0)
        address += 7;
    return address[0] == '/' ? address : NULL;
}

/* A pidfd of `pid` when it is still the shim of sandbox `id` (its command line has "-id ID"), else -ESRCH. */
static int shim_pidfd(pid_t pid, const char *id) {
    return plugin_pidfd_open_command(pid, "-id", id, NULL);
}

/* Connect, and learn the shim's pid with Connect. */
static int shim_connect(struct kata *k, struct kata_pod *p, int timeout_ms, struct cleat_error **reterr) {
    struct ttrpc_client *c = NULL;
    int r = ttrpc_connect(k->host, p->address, timeout_ms, &c, reterr);
    if (r < 0)
        return r;
    Shimv2__ConnectRequest req = SHIMV2__CONNECT_REQUEST__INIT;
    req.id = p->id;
    Shimv2__ConnectResponse *resp = NULL;
    r = shim_call(c, "Connect", &req.base, &shimv2__connect_response__descriptor, KATA_CALL_TIMEOUT_MS,
                  (ProtobufCMessage **)&resp, reterr);
    if (r < 0) {
        ttrpc_close(c);
        return r;
    }
    p->shim_pid = (pid_t)resp->shim_pid;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    p->shim_pidfd = shim_pidfd(p->shim_pid, p->id);
    p->client = c;
    return 0;
}

static int pod_record(struct kata *k, struct kata_pod *p, int excl) {
    json_t *j = json_pack("{s:s}", "bundle", p->bundle);
    if (j && p->address)
        json_object_set_new(j, "address", json_string(p->address));
    if (j && p->shim_pid > 0)
        json_object_set_new(j, "shim_pid", json_integer(p->shim_pid));
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    char name[160];
    snprintf(name, sizeof(name), "%s.json", p->id);
    int r = text ? kata_record_write(k->pods_dir, name, text, excl) : -ENOMEM;
    free(text);
    return r;
}

int kata_pod_shim_gone(struct kata_pod *p, int timeout_ms) {
    return p->shim_pidfd < 0 || plugin_pidfd_wait(p->shim_pidfd, timeout_ms) != 0;
}

int kata_pod_mark_lost(struct kata *k, struct kata_pod *p) {
    pthread_mutex_lock(&k->lock);
    int first = !p->lost;
    p->lost = 1;
    pthread_mutex_unlock(&k->lock);
    if (!first)
        return 0;
    cleat_log(k->host, CLEAT_LOG_WARNING, "pod '%s': its shim (pid %d) is gone; its containers are reported exited",
              p->id, (int)p->shim_pid);
    /* A killed shim leaves its socket behind; a new shim of the same id would take the name over anyway. */
    const char *file = p->address ? socket_file(p->address) : NULL;
    if (file)
        unlink(file);
    return 1;
}

struct ttrpc_client *kata_pod_client(struct kata *k, struct kata_pod *p, struct cleat_error **reterr) {
    pthread_mutex_lock(&k->lock);
    struct ttrpc_client *c = p->lost || k->stopping ? NULL : p->client;
    int lost = p->lost;
    pthread_mutex_unlock(&k->lock);
    if (lost || !c) {
        cleat_error_set(k->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ESRCH, "pod '%s': its shim %s", p->id,
                        lost ? "is gone" : "is not connected");
        return NULL;
    }
    if (ttrpc_alive(c) || kata_pod_shim_gone(p, 0))
        return c;
    /* The connection broke but the shim runs: connect again; the old client lives on until the pod goes. */
    struct ttrpc_client *n = NULL;
    if (ttrpc_connect(k->host, p->address, 2000, &n, reterr) < 0)
        return NULL;
    pthread_mutex_lock(&k->lock);
    struct ttrpc_client **old = realloc(p->old, (p->n_old + 1) * sizeof(*old));
    if (old && p->client == c) {
        p->old = old;
        p->old[p->n_old++] = c;
        p->client = n;
        n = NULL;
    } else if (old) {
        p->old = old;
    }
    c = p->client;
    pthread_mutex_unlock(&k->lock);
    ttrpc_close(n); /* another thread reconnected first */
    return c;
}

/* --- sandbox ops ------------------------------------------------------------------------------------------------- */

/* The sandbox spec the shim reads from BUNDLE/config.json: the core's, with the CRI annotations a VM runtime needs. */
static char *sandbox_spec(struct kata *k, const struct cleat_runtime_sandbox *sb) {
    json_t *spec = json_loads(sb->spec_json, 0, NULL);
    json_t *a = spec ? json_object_get(spec, "annotations") : NULL;
    if (spec && !json_is_object(a)) {
        a = json_object();
        json_object_set_new(spec, "annotations", a);
    }
    if (!a) {
        json_decref(spec);
        return NULL;
    }
    for (const char *const *kv = sb->annotations; kv && kv[0] && kv[1]; kv += 2)
        if (kata_annotation_passes(k, kv[0]))
            json_object_set_new(a, kv[0], json_string(kv[1]));
    json_object_set_new(a, "io.kubernetes.cri.container-type", json_string("sandbox"));
    json_object_set_new(a, "io.kubernetes.cri.sandbox-id", json_string(sb->id));
    if (sb->name)
        json_object_set_new(a, "io.kubernetes.cri.sandbox-name", json_string(sb->name));
    if (sb->kube_namespace)
        json_object_set_new(a, "io.kubernetes.cri.sandbox-namespace", json_string(sb->kube_namespace));
    if (sb->uid)
        json_object_set_new(a, "io.kubernetes.cri.sandbox-uid", json_string(sb->uid));
    char *text = json_dumps(spec, JSON_COMPACT);
    json_decref(spec);
    return text;
}

/* Create and start the sandbox task; its waiter follows it. */
static int sandbox_task(struct kata *k, struct kata_pod *p, struct cleat_error **reterr) {
    Shimv2__CreateTaskRequest req = SHIMV2__CREATE_TASK_REQUEST__INIT;
    req.id = p->id;
    req.bundle = p->bundle;
    Shimv2__Any *opts = NULL;
    if (kata_task_options(k, &opts) < 0)
        return plugin_oom(k->host, reterr);
    req.options = opts;
    pthread_mutex_lock(&k->lock);
    struct kata_task *t = kata_task_add_locked(k, p, p->id, NULL);
    if (t)
        t->refs++;
    pthread_mutex_unlock(&k->lock);
    if (!t) {
        kata_any_free(opts);
        return plugin_oom(k->host, reterr);
    }
    int r = kata_call(k, t, "Create", &req.base, &shimv2__create_task_response__descriptor, NULL, reterr);
    kata_any_free(opts);
    Shimv2__StartRequest start = SHIMV2__START_REQUEST__INIT;
    start.id = p->id;
    Shimv2__StartResponse *resp = NULL;
    if (r == 0 && (r = kata_call(k, t, "Start", &start.base, &shimv2__start_response__descriptor,
                                 (ProtobufCMessage **)&resp, reterr)) == 0) {
        t->pid = resp->pid;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    if (r == 0 && (r = kata_waiter_start(k, t)) < 0)
        r = cleat_error_set(k->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, -r, "sandbox '%s': no thread: %s", p->id,
                            strerror(-r));
    if (r < 0) {
        pthread_mutex_lock(&k->lock);
        kata_task_unlink_locked(k, t);
        pthread_mutex_unlock(&k->lock);
    }
    kata_task_put(k, t);
    return r;
}

/* The shim is gone: its socket file, the pod's record and its place in the table go too. */
static void forget_pod(struct kata *k, struct kata_pod *p) {
    const char *file = p->address ? socket_file(p->address) : NULL;
    if (file && unlink(file) == 0)
        cleat_log(k->host, CLEAT_LOG_DEBUG, "pod '%s': removed its shim's socket %s", p->id, file);
    char name[160];
    snprintf(name, sizeof(name), "%s.json", p->id);
    kata_record_remove(k->pods_dir, name);
    pthread_mutex_lock(&k->lock);
    unlink_pod_locked(k, p);
    pthread_mutex_unlock(&k->lock);
}

/* Undo a sandbox_create that got as far as it got: no shim, socket or record stays. */
static void undo_create(struct kata *k, struct kata_pod *p) {
    if (p->client) {
        Shimv2__DeleteRequest del = SHIMV2__DELETE_REQUEST__INIT;
        del.id = p->id;
        shim_call(p->client, "Delete", &del.base, NULL, KATA_CALL_TIMEOUT_MS, NULL, NULL);
        Shimv2__ShutdownRequest sd = SHIMV2__SHUTDOWN_REQUEST__INIT;
        sd.id = p->id;
        sd.now = 1;
        shim_call(p->client, "Shutdown", &sd.base, NULL, KATA_CALL_TIMEOUT_MS, NULL, NULL);
    }
    if (p->shim_pidfd >= 0 && plugin_pidfd_wait(p->shim_pidfd, KATA_SHIM_EXIT_TIMEOUT_MS) == 0)
        plugin_pidfd_signal(p->shim_pidfd, SIGKILL);
    if (!p->client)
        kata_shim_delete(k, p->id, p->bundle, 1);
    forget_pod(k, p);
}

int kata_sandbox_create(void *instance, const struct cleat_runtime_sandbox *sb, struct cleat_error **reterr) {
    struct kata *k = instance;
    char bundle[PATH_MAX], config[PATH_MAX + 16];
    if (!kata_valid_id(sb->id))
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "invalid sandbox id '%s'",
                               sb->id ? sb->id : "(null)");
    if (!sb->spec_json)
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                               "sandbox '%s': runtime-kata needs the sandbox's spec from the core (SANDBOX_TASK)",
                               sb->id);
    if (!sb->state_dir || sb->state_dir[0] != '/' ||
        snprintf(bundle, sizeof(bundle), "%s/%s", sb->state_dir, sb->id) >= (int)sizeof(bundle))
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "sandbox '%s': the state dir must be an absolute path of a sane length", sb->id);
    _cleanup_free_ char *spec = sandbox_spec(k, sb);
    if (!spec)
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "sandbox '%s': the sandbox spec is not a JSON object", sb->id);
    snprintf(config, sizeof(config), "%s/config.json", bundle);
    int r = plugin_mkdir_p(bundle, 0700);
    if (r == 0)
        r = plugin_write_file(config, spec);
    if (r < 0)
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_INTERNAL, -r, "sandbox '%s': cannot write %s: %s", sb->id,
                               config, strerror(-r));
    struct kata_pod *p = pod_new(k, sb->id, bundle);
    if (!p)
        return plugin_oom(k->host, reterr);
    /* The record before the shim: a cleatd killed meanwhile finds the shim again (BUNDLE/address). */
    if ((r = pod_record(k, p, 1)) < 0) {
        pthread_mutex_lock(&k->lock);
        unlink_pod_locked(k, p);
        pthread_mutex_unlock(&k->lock);
        kata_pod_put(k, p);
        return cleat_error_set(k->host, reterr, r == -EEXIST ? CLEAT_STATUS_ALREADY_EXISTS : CLEAT_STATUS_INTERNAL, -r,
                               "sandbox '%s': %s", sb->id, r == -EEXIST ? "already exists" : strerror(-r));
    }
    if ((r = log_start(k, p)) < 0)
        r = cleat_error_set(k->host, reterr, CLEAT_STATUS_INTERNAL, -r, "sandbox '%s': the shim's log FIFO: %s", sb->id,
                            strerror(-r));
    if (r == 0)
        r = shim_start(k, p, &p->address, reterr);
    if (r == 0)
        r = shim_connect(k, p, KATA_CALL_TIMEOUT_MS, reterr);
    if (r == 0 && (r = pod_record(k, p, 0)) < 0)
        r = cleat_error_set(k->host, reterr, CLEAT_STATUS_INTERNAL, -r, "sandbox '%s': cannot record its shim: %s",
                            sb->id, strerror(-r));
    if (r == 0)
        r = sandbox_task(k, p, reterr);
    if (r < 0)
        undo_create(k, p);
    kata_pod_put(k, p);
    return r;
}

int kata_sandbox_stop(void *instance, const char *sandbox_id, struct cleat_error **reterr) {
    struct kata *k = instance;
    struct kata_task *t = kata_task_get(k, sandbox_id, NULL);
    if (!t)
        return 0; /* no such sandbox here, or its task is gone already */
    int r = 0;
    pthread_mutex_lock(&k->lock);
    int exited = t->exited;
    pthread_mutex_unlock(&k->lock);
    if (!exited) {
        Shimv2__KillRequest req = SHIMV2__KILL_REQUEST__INIT;
        req.id = t->id;
        req.signal = SIGKILL;
        struct cleat_error *err = NULL;
        r = kata_call(k, t, "Kill", &req.base, NULL, NULL, &err);
        if (r < 0 && (k->host->error_status(err) == CLEAT_STATUS_NOT_FOUND ||
                      k->host->error_status(err) == CLEAT_STATUS_FAILED_PRECONDITION)) {
            k->host->error_free(err); /* stopped already, or its shim is gone (the waiter reports it) */
            err = NULL;
            r = 0;
        }
        if (r < 0)
            plugin_pass_error(k->host, reterr, err, r);
        else if (!kata_task_wait_exited(k, t, KATA_CALL_TIMEOUT_MS))
            r = cleat_error_set(k->host, reterr, CLEAT_STATUS_DEADLINE_EXCEEDED, ETIMEDOUT,
                                "sandbox '%s': its task did not stop within %d s of SIGKILL", sandbox_id,
                                KATA_CALL_TIMEOUT_MS / 1000);
    }
    kata_task_put(k, t);
    return r;
}

/* Remove every task of the pod still known (containers the core did not remove): the shim goes next. */
static void remove_leftovers(struct kata *k, struct kata_pod *p) {
    for (;;) {
        char *id = NULL;
        pthread_mutex_lock(&k->lock);
        for (struct kata_task *t = k->tasks; t && !id; t = t->next)
            if (t->pod == p && !t->exec_id && strcmp(t->id, p->id) != 0)
                id = strdup(t->id);
        pthread_mutex_unlock(&k->lock);
        if (!id)
            return;
        struct kata_task *t = kata_task_get(k, id, NULL);
        if (t) {
            Shimv2__KillRequest req = SHIMV2__KILL_REQUEST__INIT;
            req.id = id;
            req.signal = SIGKILL;
            req.all = 1;
            kata_call(k, t, "Kill", &req.base, NULL, NULL, NULL);
            kata_task_wait_exited(k, t, KATA_SHIM_EXIT_TIMEOUT_MS);
            kata_task_put(k, t);
        }
        if (kata_remove(k, id, NULL, NULL) < 0) {
            pthread_mutex_lock(&k->lock); /* forget it anyway: the shim and its tasks go now */
            struct kata_task *u = NULL;
            for (u = k->tasks; u && !(u->pod == p && !u->exec_id && strcmp(u->id, id) == 0); u = u->next)
                ;
            if (u)
                kata_task_unlink_locked(k, u);
            pthread_mutex_unlock(&k->lock);
        }
        free(id);
    }
}

int kata_sandbox_remove(void *instance, const char *sandbox_id, struct cleat_error **reterr) {
    struct kata *k = instance;
    struct kata_pod *p = kata_pod_get(k, sandbox_id);
    if (!p)
        return 0;
    int r = kata_sandbox_stop(k, sandbox_id, reterr);
    if (r < 0) {
        kata_pod_put(k, p);
        return r;
    }
    remove_leftovers(k, p);
    struct kata_task *t = kata_task_get(k, sandbox_id, NULL);
    if (t) {
        pthread_mutex_lock(&k->lock);
        t->removed = 1;
        int lost = p->lost;
        pthread_mutex_unlock(&k->lock);
        if (!lost) {
            Shimv2__DeleteRequest del = SHIMV2__DELETE_REQUEST__INIT;
            del.id = t->id;
            kata_call(k, t, "Delete", &del.base, NULL, NULL, NULL);
        }
        pthread_mutex_lock(&k->lock);
        kata_task_unlink_locked(k, t);
        pthread_mutex_unlock(&k->lock);
        kata_task_put(k, t);
    }
    struct cleat_error *err = NULL;
    struct ttrpc_client *c = kata_pod_client(k, p, &err);
    k->host->error_free(err);
    if (c) {
        Shimv2__ShutdownRequest sd = SHIMV2__SHUTDOWN_REQUEST__INIT;
        sd.id = p->id;
        sd.now = 1;
        shim_call(c, "Shutdown", &sd.base, NULL, KATA_CALL_TIMEOUT_MS, NULL, NULL); /* the shim exits: no answer */
    }
    if (!kata_pod_shim_gone(p, KATA_SHIM_EXIT_TIMEOUT_MS)) {
        cleat_log(k->host, CLEAT_LOG_WARNING, "pod '%s': its shim did not exit after Shutdown; killing it", p->id);
        plugin_pidfd_signal(p->shim_pidfd, SIGKILL);
        plugin_pidfd_wait(p->shim_pidfd, 1000);
    }
    forget_pod(k, p);
    kata_pod_put(k, p);
    cleat_log(k->host, CLEAT_LOG_DEBUG, "pod '%s': its shim is gone", sandbox_id);
    return 0;
}

int kata_sandbox_update(void *instance, const char *sandbox_id, const char *resources_json,
                        struct cleat_error **reterr) {
    struct kata *k = instance;
    struct kata_task *t = NULL;
    int r = kata_task_lookup(k, sandbox_id, NULL, &t, reterr);
    if (r < 0)
        return r;
    Shimv2__UpdateTaskRequest req = SHIMV2__UPDATE_TASK_REQUEST__INIT;
    Shimv2__Any any = SHIMV2__ANY__INIT;
    any.type_url = (char *)SHIM_TYPE_OCI_LINUX_RESOURCES;
    any.value.data = (uint8_t *)(resources_json ? resources_json : "{}");
    any.value.len = strlen((const char *)any.value.data);
    req.id = t->id;
    req.resources = &any;
    r = kata_call(k, t, "Update", &req.base, NULL, NULL, reterr);
    kata_task_put(k, t);
    return r;
}

/* --- after a restart --------------------------------------------------------------------------------------------- */

int kata_pod_recover(struct kata *k, const char *sandbox_id) {
    char name[160];
    snprintf(name, sizeof(name), "%s.json", sandbox_id);
    _cleanup_json_ json_t *rec = kata_record_read(k->pods_dir, name);
    const char *bundle = json_string_value(json_object_get(rec, "bundle"));
    if (!kata_valid_id(sandbox_id) || !bundle) {
        cleat_log(k->host, CLEAT_LOG_WARNING, "pod record %s/%s is unreadable; left alone", k->pods_dir, name);
        return 0;
    }
    struct kata_pod *p = pod_new(k, sandbox_id, bundle);
    if (!p)
        return -ENOMEM;
    const char *address = json_string_value(json_object_get(rec, "address"));
    char path[PATH_MAX];
    _cleanup_free_ char *written = NULL;
    snprintf(path, sizeof(path), "%s/address", bundle);
    if (!address && plugin_read_file(path, 4096, &written, NULL) == 0) {
        written[strcspn(written, "\r\n")] = '\0';
        address = written; /* killed between the shim's start and our record: the shim wrote it there */
    }
    p->address = address ? strdup(address) : NULL;
    if (log_start(k, p) < 0)
        cleat_log(k->host, CLEAT_LOG_WARNING, "pod '%s': cannot drain its shim's log %s/log", p->id, bundle);
    struct cleat_error *err = NULL;
    if (!p->address || shim_connect(k, p, 2000, &err) < 0) {
        cleat_log(k->host, CLEAT_LOG_WARNING, "pod '%s': its shim does not answer: %s", p->id,
                  err ? k->host->error_message(err) : "its address was never recorded");
        k->host->error_free(err);
        kata_pod_mark_lost(k, p);
    } else if (!json_object_get(rec, "address") ||
               json_integer_value(json_object_get(rec, "shim_pid")) != p->shim_pid) {
        pod_record(k, p, 0);
    }
    /* The sandbox task: its waiter reports its exit (or NOT_FOUND: it was never made, nothing to report). */
    pthread_mutex_lock(&k->lock);
    struct kata_task *t = kata_task_add_locked(k, p, p->id, NULL);
    pthread_mutex_unlock(&k->lock);
    if (t)
        kata_waiter_start(k, t);
    kata_pod_put(k, p);
    return 0;
}
