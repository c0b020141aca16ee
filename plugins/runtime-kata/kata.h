/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-kata: any containerd shim v2 (containerd-shim-kata-v2,
 * containerd-shim-runc-v2, ...) driven over ttrpc.  Internal interfaces
 * shared by the plugin's files; nothing here is part of the SDK.
 *
 * The pod model: one shim per pod sandbox, started with the shim's `start`
 * command in the sandbox's bundle; the sandbox itself is the shim's first
 * task (id = sandbox id), every container of the pod a further task in the
 * same shim.  A container's stdio are FIFOs in its bundle served by a
 * cleat-shim in --relay mode, which writes the CRI log and serves attach.
 *
 * What is where (under the instance's state dir, lost on reboot like the
 * shims):
 *
 *   events.sock        the ttrpc events service the shims forward to (under
 *                      KATA_EVENTS_FALLBACK_DIR when that path is too long)
 *   pods/<id>.json     {"bundle", "address", "shim_pid"}: a pod's shim
 *   tasks/<id>.json    {"sandbox", "bundle"}: a container (its relay's pid
 *                      is in BUNDLE/shim.pid, written by the relay itself)
 *   tasks/<id>.lost    {"exit_status", "exited_at_ns"}: its shim died
 *   tasks/<id>.oom     present once the shim reported an OOM kill
 *
 * Every record is written whole (tmp + rename) before the step it makes
 * recoverable, so that a new instance (after cleatd was killed) finds every
 * shim and relay from the records alone.
 *
 * In memory: the pods (their ttrpc connection) and the tasks (a waiter
 * thread each, blocked in the shim's Wait, reports the exit).  One mutex,
 * never held across a call to a shim or any other wait.
 */
#ifndef RUNTIME_KATA_H
#define RUNTIME_KATA_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include <cleat/runtime.h>

#include "plugin_cleanup.h"
#include "plugin_error.h"
#include "shim_call.h"

/* The containerd namespace the shims are started in (what Kata and the CRI plugin of containerd use). */
#define KATA_NAMESPACE "k8s.io"
/* Bounds on waits, so that a hung shim cannot hang a worker forever. */
#define KATA_CALL_TIMEOUT_MS 60000 /* one task API call, or the shim's start command */
#define KATA_DRAIN_TIMEOUT_MS 5000 /* the relay's end (log complete) after the task exited */
#define KATA_SHIM_EXIT_TIMEOUT_MS 5000
/* The events socket when STATE/events.sock is too long for sun_path. */
#define KATA_EVENTS_FALLBACK_DIR "/run/cleat-kata" /* the shim's own exit after Shutdown */

struct kata_pod;
struct kata_task;

struct kata {
    const struct cleat_host *host;
    char *shim;        /* the shim v2 binary, absolute */
    char *relay;       /* cleat-shim, run with --relay */
    char *binary_name; /* runc shim options: the OCI runtime (NULL: the shim's default) */
    char *root;        /* its --root (NULL: the shim's default) */
    int systemd_cgroup;
    int guest_network;          /* the pods' network is in a guest: PortForward refused (port_forward: none) */
    char *config_path;          /* Kata's configuration file (NULL: its default) */
    char **annotation_prefixes; /* annotations passed to the shim: a trailing '*' matches any rest */
    char *pods_dir, *tasks_dir, *events_path;
    struct ttrpc_server *events;

    pthread_mutex_t lock;   /* everything below, and the mutable fields of pods and tasks */
    pthread_cond_t changed; /* broadcast when a task exited or a waiter ended */
    struct kata_pod *pods;
    struct kata_task *tasks;
    int stopping; /* fini: waiters end without reporting */
    int waiters;  /* waiter threads still running */
};

struct kata_pod {
    struct kata_pod *next;
    char *id, *bundle, *address;
    struct ttrpc_client *client; /* NULL once the shim is lost */
    struct ttrpc_client **old;   /* connections replaced by a reconnect, closed at the end */
    size_t n_old;
    pid_t shim_pid;
    int shim_pidfd; /* -1 when unknown or gone */
    int log_fd;     /* our end of BUNDLE/log (the shim's own log), drained by a thread */
    int log_wake;   /* eventfd: the log thread ends */
    pthread_t log_thread;
    int log_thread_started;
    int lost; /* the shim died: every task of it is reported exited */
    int refs;
};

struct kata_task {
    struct kata_task *next;
    char *id;      /* the container (or sandbox) id */
    char *exec_id; /* NULL for the task's init process */
    struct kata_pod *pod;
    char *bundle; /* a container's bundle (the relay's dir); NULL for a sandbox or an exec */
    pid_t relay_pid;
    int relay_pidfd; /* -1 when none or gone */
    /*
     * An exec's: our read end of the stdin pipe the shim opens by path, held until the exit.  The shim opens
     * its reader of that path in a goroutine of its own, after Start may have answered: without a reader of
     * ours in the meantime, the stdin pump's first write would find none (EPIPE) and the input would be lost.
     */
    int stdin_hold;
    uint32_t pid;
    int exited; /* the fields below are final */
    int32_t exit_status;
    int64_t exited_at_ns;
    int oom;
    int removed; /* remove() ran: no exit is reported any more */
    int refs;    /* the table's and the waiter's */
};

/* --- record.c ------------------------------------------------------------ */

/* Ids become file names: [A-Za-z0-9_.+-], not "." or "..", at most 128 bytes. */
int kata_valid_id(const char *id);
/* Write `json` to DIR/NAME whole (tmp + rename + fsync of the dir); excl: EEXIST when it exists. */
int kata_record_write(const char *dir, const char *name, const char *json, int excl);
/* Read DIR/NAME as JSON; NULL when missing or unreadable. */
json_t *kata_record_read(const char *dir, const char *name);
void kata_record_remove(const char *dir, const char *name);

/* --- pod.c --------------------------------------------------------------- */

/* The pod of `sandbox_id` with a reference taken, or NULL. */
struct kata_pod *kata_pod_get(struct kata *k, const char *sandbox_id);
void kata_pod_put(struct kata *k, struct kata_pod *p);
/* The pod's connection, reconnecting once when the old one is dead; NULL (and an error) when the shim is lost. */
struct ttrpc_client *kata_pod_client(struct kata *k, struct kata_pod *p, struct cleat_error **reterr);
/* Bring back a recorded pod after a restart (init): connect, or find its shim lost. */
int kata_pod_recover(struct kata *k, const char *sandbox_id);
/* The shim of `p` is gone: mark it lost, forget its socket; 1 the first time, 0 after. */
int kata_pod_mark_lost(struct kata *k, struct kata_pod *p);
/* 1 when the pod's shim process has ended (or cannot be watched), after waiting at most timeout_ms. */
int kata_pod_shim_gone(struct kata_pod *p, int timeout_ms);
/*
 * Run `SHIM ... -id ID -bundle BUNDLE delete` in BUNDLE: the shim's own cleanup of a task it can no longer delete
 * (its shim died, or the shim never finished creating it).  Failure is only logged (at debug level when
 * expect_nothing: there may well be nothing to clean up).
 */
void kata_shim_delete(struct kata *k, const char *id, const char *bundle, int expect_nothing);
/* Close everything of every pod (fini). */
void kata_pods_free(struct kata *k);

int kata_sandbox_create(void *instance, const struct cleat_runtime_sandbox *sandbox, struct cleat_error **reterr);
int kata_sandbox_stop(void *instance, const char *sandbox_id, struct cleat_error **reterr);
int kata_sandbox_remove(void *instance, const char *sandbox_id, struct cleat_error **reterr);
int kata_sandbox_update(void *instance, const char *sandbox_id, const char *resources_json,
                        struct cleat_error **reterr);

/* --- task.c -------------------------------------------------------------- */

/* A new task in the table (refs 1: the table's), or NULL when out of memory; lock held. */
struct kata_task *kata_task_add_locked(struct kata *k, struct kata_pod *pod, const char *id, const char *exec_id);
/* The task (id, exec_id) with a reference taken, or NULL. */
struct kata_task *kata_task_get(struct kata *k, const char *id, const char *exec_id);
void kata_task_put(struct kata *k, struct kata_task *t);
/* Take the task out of the table (its waiter may still hold it); lock held. */
void kata_task_unlink_locked(struct kata *k, struct kata_task *t);
/* NOT_FOUND for an unknown task. */
int kata_task_lookup(struct kata *k, const char *id, const char *exec_id, struct kata_task **ret,
                     struct cleat_error **reterr);
/*
 * Run body(k, t) in a detached thread holding a reference to the task and counted in k->waiters (fini leaves the
 * instance alone while any runs); when body returns, the count drops and `changed` is broadcast.  0 or -errno
 * (then nothing was taken).
 */
int kata_task_thread_start(struct kata *k, struct kata_task *t, void (*body)(struct kata *k, struct kata_task *t),
                           size_t stack_size);
/* Start the thread that waits for the task's exit and reports it. */
int kata_waiter_start(struct kata *k, struct kata_task *t);
/* Wait until the task has exited (reported by its waiter), at most timeout_ms: 1 when it has. */
int kata_task_wait_exited(struct kata *k, struct kata_task *t, int timeout_ms);
/* The relay is gone or killed (SIGKILL, waited for briefly); the relay's pidfd closed. */
void kata_relay_kill(struct kata *k, struct kata_task *t);
/* Let the relay finish the log (at most KATA_DRAIN_TIMEOUT_MS), then kata_relay_kill. */
void kata_relay_finish(struct kata *k, struct kata_task *t);
/* Map a shim's task status to CLEAT_TASK_*. */
uint32_t kata_status(int shim_status);
/* A task API call on the task's pod; errors name the container and what was asked. */
int kata_call(struct kata *k, struct kata_task *t, const char *method, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp, struct cleat_error **reterr);
/* Every waiter ended (fini). */
void kata_tasks_free(struct kata *k);

/* --- container.c --------------------------------------------------------- */

int kata_create(void *instance, const struct cleat_runtime_container *c, struct cleat_error **reterr);
int kata_remove(void *instance, const char *id, const char *exec_id, struct cleat_error **reterr);
/* Bring back a recorded container after a restart (init). */
int kata_container_recover(struct kata *k, const char *id);

/* --- relay.c ------------------------------------------------------------- */

/* Start `cleat-shim --relay` for a container; its pid in *ret_pid and a pidfd of it in *ret_pidfd. */
int kata_relay_start(struct kata *k, const struct cleat_runtime_container *c, pid_t *ret_pid, int *ret_pidfd,
                     struct cleat_error **reterr);
/* A pidfd of the relay of `id` when process `pid` still is that relay, else -ESRCH. */
int kata_relay_pidfd(pid_t pid, const char *id);
/* The same for a relay whose pid was not recorded: the one BUNDLE/shim.pid names, if it is still that relay. */
int kata_relay_pidfd_in(const char *bundle, const char *id);
/* One command on the relay's control socket BUNDLE/attach.sock ("release\n", "reopen\n", ...). */
int kata_relay_command(struct kata *k, const char *id, const char *bundle, const char *what, const char *line,
                       struct cleat_error **reterr);

/* --- exec.c -------------------------------------------------------------- */

int kata_exec(void *instance, const struct cleat_runtime_exec *exec, uint32_t *ret_pid, struct cleat_error **reterr);

/* --- events.c ------------------------------------------------------------ */

/* The events service (TaskOOM marks the task); ttrpc_events_serve's callback. */
void kata_on_event(void *ctx, const char *topic, const char *ns, const char *type_url, const uint8_t *value,
                   size_t len);

/* --- options.c ----------------------------------------------------------- */

/* The Any of CreateTaskRequest.options for the configured shim options; NULL when none are set. */
int kata_task_options(struct kata *k, Shimv2__Any **ret);
void kata_any_free(Shimv2__Any *any);
/* Whether an annotation key is passed to the shim (pod_annotations). */
int kata_annotation_passes(const struct kata *k, const char *key);

/* --- stats.c ------------------------------------------------------------- */

int kata_stats(void *instance, const char *id, struct cleat_runtime_stats *ret, struct cleat_error **reterr);

extern const struct cleat_runtime_ops kata_ops;

#endif
