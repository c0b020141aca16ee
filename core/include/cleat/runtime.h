/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cleat plugin SDK: the runtime concern.
 *
 * A runtime instance is what a CRI `runtime_handler` (a RuntimeClass) names.
 * It runs pod sandboxes and containers; the core has already built the OCI
 * runtime spec (config.json in the bundle), pinned the pod's namespaces and
 * prepared the root filesystem mounts.  The shape follows the containerd
 * shim v2 task API (create/start/kill/delete/state/exec/resize/close-io/
 * update/pause/resume) plus its sandbox API, so that both an OCI CLI runtime
 * driven through cleat-shim and a VM runtime speaking shim v2 fit.
 *
 * Exits are reported back with cleat_host.runtime_exit().
 *
 * All ops may be called concurrently from several threads for *different*
 * containers; the core serialises ops on one container.  Every op may be NULL
 * (it then answers UNIMPLEMENTED).  String arguments are borrowed for the
 * duration of the call.  `exec_id` NULL means the container's init process.
 */
#ifndef CLEAT_RUNTIME_H
#define CLEAT_RUNTIME_H

#include <stdint.h>

#include <cleat/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Feature bits answered by features(); reported in the CRI Status. */
#define CLEAT_RUNTIME_FEATURE_RECURSIVE_READ_ONLY_MOUNTS (UINT64_C(1) << 0)
#define CLEAT_RUNTIME_FEATURE_USER_NAMESPACES (UINT64_C(1) << 1)

/* Sandbox flags. */
#define CLEAT_SANDBOX_HOST_NETWORK (1u << 0)
#define CLEAT_SANDBOX_HOST_IPC (1u << 1)
#define CLEAT_SANDBOX_HOST_PID (1u << 2)
#define CLEAT_SANDBOX_SHARED_PID (1u << 3) /* one PID namespace for the whole pod */

/* A pod sandbox as the core has set it up.  Borrowed for the call. */
struct cleat_runtime_sandbox {
    uint64_t struct_size;       /* sizeof as the host built it: check before reading newer fields */
    const char *id;             /* 64 hex characters */
    const char *name;           /* CRI metadata */
    const char *kube_namespace; /* CRI metadata namespace */
    const char *uid;            /* CRI metadata uid */
    uint32_t attempt;
    uint32_t flags;            /* CLEAT_SANDBOX_* */
    const char *state_dir;     /* the sandbox's directory under the state dir */
    const char *netns_path;    /* pinned namespaces; NULL means the host's */
    const char *ipcns_path;
    const char *utsns_path;
    const char *cgroup_parent; /* as resolved by the core for the active cgroup driver */
    const char *spec_json;     /* OCI spec of a sandbox process (pause, VM), or NULL */
    const char *const *annotations; /* key, value, key, value, ..., NULL */
};

/* Container flags. */
#define CLEAT_CONTAINER_STDIN (1u << 0)
#define CLEAT_CONTAINER_STDIN_ONCE (1u << 1)
#define CLEAT_CONTAINER_TTY (1u << 2)

/* A container to create.  Borrowed for the call. */
struct cleat_runtime_container {
    uint64_t struct_size;
    const char *id;
    const char *sandbox_id;
    const char *bundle_dir;          /* holds config.json, written by the core */
    const struct cleat_mount *rootfs; /* root filesystem mounts from the snapshotter */
    uint64_t n_rootfs;
    const char *log_path;            /* CRI log file (absolute), or NULL */
    uint32_t flags;                  /* CLEAT_CONTAINER_* */
    uint32_t reserved;
    const char *const *annotations;  /* key, value, ..., NULL */
};

/* Task statuses. */
#define CLEAT_TASK_UNKNOWN 0
#define CLEAT_TASK_CREATED 1
#define CLEAT_TASK_RUNNING 2
#define CLEAT_TASK_STOPPED 3
#define CLEAT_TASK_PAUSED 4

/* A process's state, filled in by state(). */
struct cleat_runtime_state {
    uint32_t status; /* CLEAT_TASK_* */
    uint32_t pid;
    int32_t exit_status; /* valid when STOPPED: exit code, or 128 + signal */
    uint32_t oom_killed; /* non-zero when the OOM killer ended it */
    int64_t started_at_ns;
    int64_t exited_at_ns;
};

/* A process to start inside a running container. */
struct cleat_runtime_exec {
    uint64_t struct_size;
    const char *container_id;
    const char *exec_id;
    const char *process_json; /* an OCI runtime-spec `process` object */
    int32_t stdin_fd;         /* -1 for none; the host keeps ownership */
    int32_t stdout_fd;
    int32_t stderr_fd;
    uint32_t flags; /* CLEAT_CONTAINER_TTY */
};

/* Kill flags. */
#define CLEAT_KILL_ALL (1u << 0) /* signal every process of the container */

struct cleat_runtime_ops {
    /* 0 when the runtime can run containers; otherwise an error whose message says why. */
    int (*status)(void *instance, struct cleat_error **reterr);
    /* CLEAT_RUNTIME_FEATURE_* bits. */
    uint64_t (*features)(void *instance);

    int (*sandbox_create)(void *instance, const struct cleat_runtime_sandbox *sandbox, struct cleat_error **reterr);
    int (*sandbox_stop)(void *instance, const char *sandbox_id, struct cleat_error **reterr);
    int (*sandbox_remove)(void *instance, const char *sandbox_id, struct cleat_error **reterr);

    /* Create the container (runtime `create`); it does not run user code yet. */
    int (*create)(void *instance, const struct cleat_runtime_container *container, struct cleat_error **reterr);
    /* Start the created container's process; returns its pid. */
    int (*start)(void *instance, const char *container_id, uint32_t *ret_pid, struct cleat_error **reterr);
    int (*kill)(void *instance, const char *container_id, const char *exec_id, int32_t signal, uint32_t flags,
                struct cleat_error **reterr);
    /* Remove a stopped process and its runtime state; NOT_FOUND when it is already gone. */
    int (*remove)(void *instance, const char *container_id, const char *exec_id, struct cleat_error **reterr);
    int (*state)(void *instance, const char *container_id, const char *exec_id, struct cleat_runtime_state *ret_state,
                 struct cleat_error **reterr);
    int (*exec)(void *instance, const struct cleat_runtime_exec *exec, uint32_t *ret_pid, struct cleat_error **reterr);
    int (*resize_pty)(void *instance, const char *container_id, const char *exec_id, uint32_t width, uint32_t height,
                      struct cleat_error **reterr);
    int (*close_stdin)(void *instance, const char *container_id, const char *exec_id, struct cleat_error **reterr);
    /* Apply new resources, an OCI runtime-spec `linux.resources` object as JSON. */
    int (*update)(void *instance, const char *container_id, const char *resources_json, struct cleat_error **reterr);
    int (*pause)(void *instance, const char *container_id, struct cleat_error **reterr);
    int (*resume)(void *instance, const char *container_id, struct cleat_error **reterr);
    /* Close and reopen the container's log file (after kubelet rotated it). */
    int (*reopen_log)(void *instance, const char *container_id, struct cleat_error **reterr);
    /* Write the unix socket path serving attach/resize for a container into buf. */
    int (*attach_address)(void *instance, const char *container_id, char *buf, uint64_t size,
                          struct cleat_error **reterr);
};

#ifdef __cplusplus
}
#endif

#endif /* CLEAT_RUNTIME_H */
