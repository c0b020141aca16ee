/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-kata: containers, each a task in its pod's shim.  Create starts
 * the relay (the container's stdio FIFOs, CRI log, attach), then the task
 * with the rootfs as mounts when the core leaves the mounting to us, then
 * releases the relay (the shim holds the FIFOs now) and starts the waiter.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kata.h"
#include "plugin_fs.h"
#include "plugin_json.h"
#include "plugin_pidfd.h"

static int task_record(struct kata *k, const char *id, const char *sandbox_id, const char *bundle) {
    json_t *j = json_pack("{s:s,s:s}", "sandbox", sandbox_id, "bundle", bundle);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    char name[160];
    snprintf(name, sizeof(name), "%s.json", id);
    int r = text ? kata_record_write(k->tasks_dir, name, text, 1) : -ENOMEM;
    free(text);
    return r;
}

static void task_records_remove(struct kata *k, const char *id) {
    const char *suffixes[] = {".json", ".lost", ".oom"};
    char name[160];
    for (size_t i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "%s%s", id, suffixes[i]);
        kata_record_remove(k->tasks_dir, name);
    }
}

/* The container's annotations that pass the pod_annotations filter go into its config.json too. */
static int pass_annotations(struct kata *k, const struct cleat_runtime_container *c, struct cleat_error **reterr) {
    int any = 0;
    for (const char *const *kv = c->annotations; kv && kv[0] && kv[1] && !any; kv += 2)
        any = kata_annotation_passes(k, kv[0]);
    if (!any)
        return 0;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/config.json", c->bundle_dir);
    _cleanup_free_ char *text = NULL;
    int r = plugin_read_file(path, 16 * 1024 * 1024, &text, NULL);
    _cleanup_json_ json_t *spec = r == 0 ? json_loads(text, 0, NULL) : NULL;
    json_t *a = spec ? json_object_get(spec, "annotations") : NULL;
    if (spec && !json_is_object(a)) {
        a = json_object();
        json_object_set_new(spec, "annotations", a);
    }
    for (const char *const *kv = c->annotations; a && kv && kv[0] && kv[1]; kv += 2)
        if (kata_annotation_passes(k, kv[0]))
            json_object_set_new(a, kv[0], json_string(kv[1]));
    _cleanup_free_ char *out = a ? json_dumps(spec, JSON_COMPACT) : NULL;
    if (out)
        r = plugin_write_file(path, out);
    if (!out || r < 0)
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_INTERNAL, r < 0 ? -r : EINVAL,
                               "container '%s': cannot add annotations to %s", c->id, path);
    return 0;
}

/* The CreateTask request's mounts (borrowed strings), or NULL for none. */
static Shimv2__Mount **rootfs_mounts(const struct cleat_runtime_container *c, Shimv2__Mount *store) {
    if (!c->n_rootfs)
        return NULL;
    Shimv2__Mount **v = calloc(c->n_rootfs, sizeof(*v));
    for (uint64_t i = 0; v && i < c->n_rootfs; i++) {
        shimv2__mount__init(&store[i]);
        store[i].type = (char *)c->rootfs[i].type;
        store[i].source = (char *)c->rootfs[i].source;
        store[i].target = (char *)(c->rootfs[i].target ? c->rootfs[i].target : "");
        store[i].n_options = plugin_strv_len(c->rootfs[i].options);
        store[i].options = (char **)c->rootfs[i].options;
        v[i] = &store[i];
    }
    return v;
}

static int create_task(struct kata *k, struct kata_task *t, const struct cleat_runtime_container *c,
                       struct cleat_error **reterr) {
    char in[PATH_MAX], out[PATH_MAX], err[PATH_MAX];
    snprintf(in, sizeof(in), "%s/stdin", c->bundle_dir);
    snprintf(out, sizeof(out), "%s/stdout", c->bundle_dir);
    snprintf(err, sizeof(err), "%s/stderr", c->bundle_dir);
    int tty = (c->flags & CLEAT_CONTAINER_TTY) != 0;
    Shimv2__CreateTaskRequest req = SHIMV2__CREATE_TASK_REQUEST__INIT;
    req.id = (char *)c->id;
    req.bundle = (char *)c->bundle_dir;
    req.terminal = tty;
    req.stdin = (c->flags & CLEAT_CONTAINER_STDIN) ? in : (char *)"";
    req.stdout = out;
    req.stderr = tty ? (char *)"" : err;
    Shimv2__Mount *store = c->n_rootfs ? calloc(c->n_rootfs, sizeof(*store)) : NULL;
    req.rootfs = rootfs_mounts(c, store);
    req.n_rootfs = req.rootfs ? c->n_rootfs : 0;
    Shimv2__Any *opts = NULL;
    if ((c->n_rootfs && !req.rootfs) || kata_task_options(k, &opts) < 0) {
        free(req.rootfs);
        free(store);
        return plugin_oom(k->host, reterr);
    }
    req.options = opts;
    Shimv2__CreateTaskResponse *resp = NULL;
    int r = kata_call(k, t, "Create", &req.base, &shimv2__create_task_response__descriptor, (ProtobufCMessage **)&resp,
                      reterr);
    if (r == 0) {
        t->pid = resp->pid;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    kata_any_free(opts);
    free(req.rootfs);
    free(store);
    return r;
}

static void closer_main(struct kata *k, struct kata_task *t) {
    struct cleat_error *err = NULL;
    struct ttrpc_client *c = kata_pod_client(k, t->pod, &err);
    Shimv2__CloseIORequest req = SHIMV2__CLOSE_IOREQUEST__INIT;
    req.id = t->id;
    req.stdin = 1;
    if (c && shim_call(c, "CloseIO", &req.base, NULL, 0, NULL, &err) < 0)
        cleat_log(k->host, CLEAT_LOG_DEBUG, "container '%s': CloseIO: %s", t->id, k->host->error_message(err));
    k->host->error_free(err);
}

/*
 * A shim v2 holds a writer of the container's stdin FIFO of its own until CloseIO, as containerd's clients call it
 * when their input ends; here the relay is the client, and its writer is held from the start until the container's
 * input ends (stdin_once, close_stdin).  So CloseIO is asked for at once: the shim gives up its own writer
 * (runc-v2), or closes the process's input once everything the relay wrote is through (Kata waits for that), and
 * the relay's end is the container's end of input.  It may wait long: a thread of its own.
 */
static int stdin_closer_start(struct kata *k, struct kata_task *t) {
    return kata_task_thread_start(k, t, closer_main, 128 * 1024);
}

int kata_create(void *instance, const struct cleat_runtime_container *c, struct cleat_error **reterr) {
    struct kata *k = instance;
    if (!kata_valid_id(c->id))
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "invalid container id '%s'",
                               c->id ? c->id : "(null)");
    if (!c->bundle_dir || c->bundle_dir[0] != '/' || strlen(c->bundle_dir) > PATH_MAX - 64)
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "container '%s': the bundle must be an absolute path of a sane length", c->id);
    struct kata_pod *p = c->sandbox_id ? kata_pod_get(k, c->sandbox_id) : NULL;
    if (!p)
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT,
                               "container '%s': its sandbox '%s' has no shim here", c->id,
                               c->sandbox_id ? c->sandbox_id : "(null)");
    int r = task_record(k, c->id, c->sandbox_id, c->bundle_dir);
    if (r < 0) {
        kata_pod_put(k, p);
        return cleat_error_set(k->host, reterr, r == -EEXIST ? CLEAT_STATUS_ALREADY_EXISTS : CLEAT_STATUS_INTERNAL, -r,
                               "container '%s': %s", c->id, r == -EEXIST ? "already exists" : strerror(-r));
    }
    pthread_mutex_lock(&k->lock);
    struct kata_task *t = kata_task_add_locked(k, p, c->id, NULL);
    if (t)
        t->refs++;
    pthread_mutex_unlock(&k->lock);
    kata_pod_put(k, p);
    if (!t || !(t->bundle = strdup(c->bundle_dir)))
        r = plugin_oom(k->host, reterr);
    if (r == 0)
        r = pass_annotations(k, c, reterr);
    if (r == 0)
        r = kata_relay_start(k, c, &t->relay_pid, &t->relay_pidfd, reterr);
    /* The relay's pid needs no record of ours: it wrote BUNDLE/shim.pid before it answered. */
    if (r == 0)
        r = create_task(k, t, c, reterr);
    /* The shim has opened the FIFOs: from now on their end means the container's output ended. */
    if (r == 0)
        r = kata_relay_command(k, c->id, c->bundle_dir, "release the log relay", "release\n", reterr);
    if (r == 0 && (r = kata_waiter_start(k, t)) < 0)
        r = cleat_error_set(k->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, -r, "container '%s': no thread: %s",
                            c->id, strerror(-r));
    if (r == 0 && (c->flags & CLEAT_CONTAINER_STDIN) && (r = stdin_closer_start(k, t)) < 0)
        r = cleat_error_set(k->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, -r, "container '%s': no thread: %s",
                            c->id, strerror(-r));
    if (r < 0 && t) {
        Shimv2__DeleteRequest del = SHIMV2__DELETE_REQUEST__INIT;
        del.id = (char *)c->id;
        t->removed = 1;
        kata_call(k, t, "Delete", &del.base, NULL, NULL, NULL);
        kata_relay_kill(k, t);
        pthread_mutex_lock(&k->lock);
        kata_task_unlink_locked(k, t);
        pthread_mutex_unlock(&k->lock);
    }
    if (r < 0)
        task_records_remove(k, c->id);
    kata_task_put(k, t);
    return r;
}

/*
 * After a `runtime create` killed half-way (the shim cancels its Create when cleatd's connection drops), the
 * container's cgroup may exist with no runtime state naming it, so no delete removes it.  Remove it where it is
 * empty, in every hierarchy: rmdir(2) refuses a cgroup that still has processes or children.  Only a cgroupfs
 * path ("/parent/name"); a systemd driver's "slice:prefix:name" is a transient unit systemd removes itself.
 */
static void remove_empty_cgroup(const char *bundle) {
    char path[PATH_MAX];
    _cleanup_free_ char *text = NULL;
    snprintf(path, sizeof(path), "%s/config.json", bundle);
    if (plugin_read_file(path, 16 * 1024 * 1024, &text, NULL) < 0)
        return;
    _cleanup_json_ json_t *spec = json_loads(text, 0, NULL);
    const char *cg = json_string_value(json_object_get(json_object_get(spec, "linux"), "cgroupsPath"));
    if (!cg || cg[0] != '/' || strstr(cg, "/../") || strstr(cg, "/./"))
        return;
    _cleanup_strv_ char **hierarchies = NULL;
    if (plugin_list_dir(AT_FDCWD, "/sys/fs/cgroup", &hierarchies) < 0)
        return;
    snprintf(path, sizeof(path), "/sys/fs/cgroup%s", cg);
    rmdir(path); /* cgroup v2 alone */
    for (char **h = hierarchies; *h; h++)
        if (snprintf(path, sizeof(path), "/sys/fs/cgroup/%s%s", *h, cg) < (int)sizeof(path))
            rmdir(path);
}

/* Remove a record whose pod is not known (its shim record was lost): end its relay, drop the files. */
static int remove_orphan(struct kata *k, const char *id, struct cleat_error **reterr) {
    char name[160];
    snprintf(name, sizeof(name), "%s.json", id);
    _cleanup_json_ json_t *rec = kata_valid_id(id) ? kata_record_read(k->tasks_dir, name) : NULL;
    if (!rec)
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "container '%s' not found", id);
    const char *bundle = json_string_value(json_object_get(rec, "bundle"));
    if (bundle) {
        kata_shim_delete(k, id, bundle, 1);
        remove_empty_cgroup(bundle);
    }
    int fd = bundle ? kata_relay_pidfd_in(bundle, id) : -ESRCH;
    if (fd >= 0) {
        plugin_pidfd_signal(fd, SIGKILL);
        close(fd);
    }
    task_records_remove(k, id);
    return 0;
}

/*
 * The container's execs go with it.  Each is held across its unlink and put after: the table's reference may be
 * the last one (its waiter and stdin pump are done), and then the put frees it.
 */
static void forget_execs(struct kata *k, const char *id) {
    for (;;) {
        pthread_mutex_lock(&k->lock);
        struct kata_task *t = k->tasks;
        while (t && !(t->exec_id && strcmp(t->id, id) == 0))
            t = t->next;
        if (t) {
            t->removed = 1;
            t->refs++;
            kata_task_unlink_locked(k, t);
        }
        pthread_mutex_unlock(&k->lock);
        if (!t)
            return;
        kata_task_put(k, t);
    }
}

static int remove_exec(struct kata *k, const char *id, const char *exec_id, struct cleat_error **reterr) {
    struct kata_task *t = NULL;
    int r = kata_task_lookup(k, id, exec_id, &t, reterr);
    if (r < 0)
        return r;
    pthread_mutex_lock(&k->lock);
    int exited = t->exited, lost = t->pod->lost;
    pthread_mutex_unlock(&k->lock);
    if (!exited && !lost) {
        kata_task_put(k, t);
        return cleat_error_set(k->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EBUSY,
                               "container '%s' exec '%s' is running", id, exec_id);
    }
    Shimv2__DeleteRequest del = SHIMV2__DELETE_REQUEST__INIT;
    del.id = t->id;
    del.exec_id = t->exec_id;
    if (!lost)
        kata_call(k, t, "Delete", &del.base, NULL, NULL, NULL); /* NOT_FOUND: the shim forgot it with its task */
    pthread_mutex_lock(&k->lock);
    t->removed = 1;
    kata_task_unlink_locked(k, t);
    pthread_mutex_unlock(&k->lock);
    kata_task_put(k, t);
    return 0;
}

int kata_remove(void *instance, const char *id, const char *exec_id, struct cleat_error **reterr) {
    struct kata *k = instance;
    if (exec_id)
        return remove_exec(k, id, exec_id, reterr);
    struct kata_task *t = kata_task_get(k, id, NULL);
    if (!t)
        return remove_orphan(k, id, reterr);
    pthread_mutex_lock(&k->lock);
    int lost = t->pod->lost, exited = t->exited, shim_unknown = 0;
    pthread_mutex_unlock(&k->lock);
    int r = 0;
    if (!lost && !exited) {
        Shimv2__StateRequest sreq = SHIMV2__STATE_REQUEST__INIT;
        sreq.id = t->id;
        Shimv2__StateResponse *st = NULL;
        struct cleat_error *err = NULL;
        r = kata_call(k, t, "State", &sreq.base, &shimv2__state_response__descriptor, (ProtobufCMessage **)&st, &err);
        uint32_t status = r == 0 ? kata_status(st->status) : CLEAT_TASK_UNKNOWN;
        cleat_log(k->host, CLEAT_LOG_DEBUG, "container '%s': remove: its task is %s", id,
                  r == 0 ? (status == CLEAT_TASK_CREATED   ? "created"
                            : status == CLEAT_TASK_STOPPED ? "stopped"
                                                           : "busy")
                         : k->host->error_message(err));
        if (st)
            protobuf_c_message_free_unpacked(&st->base, NULL);
        if (r < 0 && k->host->error_status(err) != CLEAT_STATUS_NOT_FOUND) {
            kata_task_put(k, t);
            return plugin_pass_error(k->host, reterr, err, r);
        }
        shim_unknown = r < 0;
        k->host->error_free(err);
        r = 0;
        if (status == CLEAT_TASK_RUNNING || status == CLEAT_TASK_PAUSED) {
            kata_task_put(k, t);
            return cleat_error_set(k->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EBUSY,
                                   "container '%s' is %s: stop it before removing it", id,
                                   status == CLEAT_TASK_RUNNING ? "running" : "paused");
        }
    }
    pthread_mutex_lock(&k->lock);
    t->removed = 1;
    pthread_mutex_unlock(&k->lock);
    if (!lost) {
        Shimv2__DeleteRequest del = SHIMV2__DELETE_REQUEST__INIT;
        del.id = t->id;
        struct cleat_error *err = NULL;
        r = kata_call(k, t, "Delete", &del.base, &shimv2__delete_response__descriptor, NULL, &err);
        if (r < 0)
            cleat_log(k->host, CLEAT_LOG_DEBUG, "container '%s': remove: %s", id, k->host->error_message(err));
        if (r < 0 && k->host->error_status(err) != CLEAT_STATUS_NOT_FOUND) {
            pthread_mutex_lock(&k->lock);
            t->removed = 0;
            pthread_mutex_unlock(&k->lock);
            kata_task_put(k, t);
            return plugin_pass_error(k->host, reterr, err, r);
        }
        k->host->error_free(err);
        r = 0;
    }
    /*
     * A task the shim does not know, though we made it: cleatd was killed while the shim created it, and the
     * shim gave up half-way (its request was cancelled with the connection).  Its own cleanup ends what runs.
     */
    if (!lost && shim_unknown && t->bundle) {
        kata_shim_delete(k, t->id, t->bundle, 1);
        remove_empty_cgroup(t->bundle);
    }
    /* The relay ends by itself once the output ended; one still there (a created task) is ended here. */
    kata_relay_finish(k, t);
    forget_execs(k, id);
    pthread_mutex_lock(&k->lock);
    kata_task_unlink_locked(k, t);
    pthread_mutex_unlock(&k->lock);
    kata_task_put(k, t);
    task_records_remove(k, id);
    return 0;
}

int kata_container_recover(struct kata *k, const char *id) {
    char name[160];
    snprintf(name, sizeof(name), "%s.json", id);
    _cleanup_json_ json_t *rec = kata_valid_id(id) ? kata_record_read(k->tasks_dir, name) : NULL;
    const char *sandbox = json_string_value(json_object_get(rec, "sandbox"));
    const char *bundle = json_string_value(json_object_get(rec, "bundle"));
    struct kata_pod *p = sandbox ? kata_pod_get(k, sandbox) : NULL;
    if (!p || !bundle) {
        cleat_log(k->host, CLEAT_LOG_WARNING, "container record %s/%s names no known pod; left for remove()",
                  k->tasks_dir, name);
        kata_pod_put(k, p);
        return 0;
    }
    pthread_mutex_lock(&k->lock);
    struct kata_task *t = kata_task_add_locked(k, p, id, NULL);
    if (t)
        t->refs++;
    pthread_mutex_unlock(&k->lock);
    kata_pod_put(k, p);
    if (!t)
        return -ENOMEM;
    t->bundle = strdup(bundle);
    t->relay_pidfd = kata_relay_pidfd_in(bundle, id);
    if (t->relay_pidfd < 0)
        t->relay_pidfd = -1;
    snprintf(name, sizeof(name), "%s.oom", id);
    _cleanup_json_ json_t *oom = kata_record_read(k->tasks_dir, name);
    t->oom = oom != NULL;
    snprintf(name, sizeof(name), "%s.lost", id);
    _cleanup_json_ json_t *lost = kata_record_read(k->tasks_dir, name);
    if (lost) { /* its shim died before: the exit recorded then is final */
        t->exited = 1;
        t->exit_status = (int32_t)json_integer_value(json_object_get(lost, "exit_status"));
        t->exited_at_ns = json_integer_value(json_object_get(lost, "exited_at_ns"));
    } else {
        kata_waiter_start(k, t);
    }
    kata_task_put(k, t);
    return 0;
}
