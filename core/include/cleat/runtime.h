/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cleat plugin SDK: the runtime concern.
 *
 * A runtime instance is what a CRI `runtime_handler` (a RuntimeClass) names.
 * It runs pod sandboxes and containers; the core has already built the OCI
 * runtime spec (config.json in the bundle), pinned the pod's namespaces and
 * prepared the root filesystem (mounted it, or, for a runtime that mounts
 * it itself, handed over the snapshotter's mounts).  The shape follows the
 * containerd shim v2 task API (create/start/kill/delete/state/exec/resize/
 * close-io/update/pause/resume/stats) plus its sandbox API, so that both an
 * OCI CLI runtime driven through cleat-shim and a VM runtime speaking shim
 * v2 fit.
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

#include <stddef.h>
#include <stdint.h>

#include <cleat/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Feature bits answered by features().  The first two are reported per
 * handler in the CRI Status; the others tell the core how to drive the
 * runtime.
 */
/*
 * The runtime honours the "rro" option of a bind in config.json: the bind
 * and every mount below it read-only (mount_setattr AT_RECURSIVE).  The CRI
 * Status reports it only where the core also found at start-up that the
 * kernel can, and CreateContainer refuses a recursive read-only mount for
 * a handler without it.
 */
#define CLEAT_RUNTIME_FEATURE_RECURSIVE_READ_ONLY_MOUNTS (UINT64_C(1) << 0)
/*
 * The runtime can run pods with a user namespace of their own.  The core
 * pins the pod's user namespace (with kubelet's maps) and creates the pod's
 * network, IPC and UTS namespaces inside it; config.json (and a pause's
 * spec_json) joins it by path and carries the maps as uidMappings /
 * gidMappings; the core mounts the rootfs and the volumes idmapped where
 * config.json says (a runtime with CLEAT_RUNTIME_FEATURE_ROOTFS_MOUNTS must
 * idmap the rootfs mounts it gets itself); struct cleat_runtime_container
 * io_uid / io_gid (ABI 1.2) name the container's root.  The CRI Status
 * reports the feature only where the core found at start-up that the
 * kernel can idmap an overlay's layers, and RunPodSandbox refuses such
 * pods for a handler without it.
 */
#define CLEAT_RUNTIME_FEATURE_USER_NAMESPACES (UINT64_C(1) << 1)
/*
 * ABI 1.1.  The runtime mounts the container's root filesystem itself (a VM
 * runtime shares the snapshot into its guest; a shim v2 mounts it in the
 * Create request).  The core then never leaves it mounted: `bundle_dir`/rootfs
 * is an empty directory, config.json's root.path is "rootfs" (relative to
 * the bundle), and create() gets the snapshotter's mounts in
 * container->rootfs / n_rootfs.  The runtime unmounts what it mounted by
 * the time remove() returns; the core does not unmount `bundle_dir`/rootfs
 * on remove() nor after a restart.  (The core may mount the snapshot for a
 * moment while it builds config.json, to read /etc/passwd and /etc/group;
 * it is unmounted again before create() is called.)
 */
#define CLEAT_RUNTIME_FEATURE_ROOTFS_MOUNTS (UINT64_C(1) << 2)
/*
 * ABI 1.1.  The runtime runs a sandbox task for every pod (the pod's VM, or
 * a shim v2 sandbox container): sandbox_create() gets `spec_json`, the
 * cleat-pause spec with its rootfs directory, for every pod, not only for a
 * pod that shares one PID namespace.
 */
#define CLEAT_RUNTIME_FEATURE_SANDBOX_TASK (UINT64_C(1) << 3)
/*
 * ABI 1.2.  The pod's processes do not use the pod's network namespace on
 * the host directly (a VM guest with its own network stack, a user-space
 * network stack): a connection made inside that namespace would not reach
 * them.  The core then answers PortForward for the runtime's pods with
 * UNIMPLEMENTED, naming the handler, instead of forwarding into the host
 * side of the pod's network.
 */
#define CLEAT_RUNTIME_FEATURE_GUEST_NETWORK (UINT64_C(1) << 4)

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
    uint32_t flags;         /* CLEAT_SANDBOX_* */
    const char *state_dir;  /* the sandbox's directory under the state dir */
    const char *netns_path; /* pinned namespaces; NULL means the host's */
    const char *ipcns_path;
    const char *utsns_path;
    const char *cgroup_parent;      /* as resolved by the core for the active cgroup driver */
    const char *spec_json;          /* OCI spec of a sandbox process (pause, VM), or NULL */
    const char *const *annotations; /* key, value, key, value, ..., NULL */

    /* --- ABI 1.1: read only when struct_size says they are there ------- */

    /*
     * The pod's resources (LinuxPodSandboxConfig.resources, which kubelet
     * sets to what the pod's containers ask for together) as an OCI
     * runtime-spec `linux.resources` JSON object, the same form update()
     * gets, for a runtime that sizes the sandbox (a VM); NULL when the pod
     * has none.
     */
    const char *resources_json;
    /* The pod's overhead (LinuxPodSandboxConfig.overhead, from its RuntimeClass) in the same form; NULL when none. */
    const char *overhead_json;
};

CLEAT_STATIC_ASSERT_NAMED(offsetof(struct cleat_runtime_sandbox, annotations) == 96, sandbox_annotations);
CLEAT_STATIC_ASSERT_NAMED(offsetof(struct cleat_runtime_sandbox, resources_json) == 104, sandbox_resources_json);
CLEAT_STATIC_ASSERT_NAMED(offsetof(struct cleat_runtime_sandbox, overhead_json) == 112, sandbox_overhead_json);

/* Container flags. */
#define CLEAT_CONTAINER_STDIN (1u << 0)
#define CLEAT_CONTAINER_STDIN_ONCE (1u << 1)
#define CLEAT_CONTAINER_TTY (1u << 2)

/* A container to create.  Borrowed for the call. */
struct cleat_runtime_container {
    uint64_t struct_size;
    const char *id;
    const char *sandbox_id;
    const char *bundle_dir; /* holds config.json, written by the core */
    /* The snapshotter's mounts for the root filesystem (CLEAT_RUNTIME_FEATURE_ROOTFS_MOUNTS), else none. */
    const struct cleat_mount *rootfs;
    uint64_t n_rootfs;
    const char *log_path; /* CRI log file (absolute), or NULL */
    uint32_t flags;       /* CLEAT_CONTAINER_* */
    uint32_t reserved;
    const char *const *annotations; /* key, value, ..., NULL */

    /* --- ABI 1.2: read only when struct_size says they are there ------- */

    /*
     * The host uid and gid of the container's root when its pod has a user
     * namespace of its own (kubelet's hostUsers: false; config.json then
     * joins it: linux.namespaces "user" with a path, and uidMappings /
     * gidMappings); CLEAT_RUNTIME_NO_ID both for other containers.  A
     * runtime that hands the container pipes or files of its own as stdio
     * gives them to these ids, so that the container's root can open them
     * again (/dev/stdout is /proc/self/fd/1), as it can without a user
     * namespace; nothing else changes.  Only a runtime that advertises
     * CLEAT_RUNTIME_FEATURE_USER_NAMESPACES is given such containers.
     * create() being called twice for an id, a missing id and restarts are
     * as create() says: these fields change nothing there.
     */
    uint32_t io_uid;
    uint32_t io_gid;
};

/* io_uid / io_gid of a container whose pod uses the host's user namespace. */
#define CLEAT_RUNTIME_NO_ID UINT32_C(0xffffffff)

CLEAT_STATIC_ASSERT_NAMED(offsetof(struct cleat_runtime_container, annotations) == 64, container_annotations);
CLEAT_STATIC_ASSERT_NAMED(offsetof(struct cleat_runtime_container, io_uid) == 72, container_io_uid);
CLEAT_STATIC_ASSERT_NAMED(sizeof(struct cleat_runtime_container) == 80, container_size);

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
    /*
     * Non-zero when the OOM killer ended it.  The core gives such an exit the
     * reason OOMKilled, as it does when the container's host memory cgroup
     * counted an OOM kill (which an OOM inside a VM never reaches).
     */
    uint32_t oom_killed;
    int64_t started_at_ns;
    int64_t exited_at_ns;
};

/*
 * ABI 1.1: the usage of a container or of a pod, filled in by stats().  The
 * core sets struct_size and zeroes the rest before the call.  Each figure
 * goes to the CRI as it is (a 0 is reported as 0), so fill every one:
 *   timestamp_ns              when it was measured (CLOCK_REALTIME); 0: the
 *                             core takes the time of the call
 *   cpu_usage_ns              cumulative CPU time (CpuUsage
 *                             usage_core_nano_seconds; the core derives
 *                             usage_nano_cores from two samples)
 *   memory_usage_bytes        MemoryUsage usage_bytes (cgroup v1
 *                             memory.usage_in_bytes, v2 memory.current)
 *   memory_working_set_bytes  usage less the inactive file pages: what
 *                             kubelet evicts by
 *   memory_rss_bytes          anonymous memory (v1 total_rss, v2 anon)
 *   memory_page_faults, memory_major_page_faults
 *                             cumulative (v1 total_pgfault/total_pgmajfault,
 *                             v2 pgfault/pgmajfault)
 *   pids                      processes now (a pod's ProcessUsage)
 *   memory_limit_bytes        (ABI 1.2: write it only when struct_size
 *                             covers it) the memory limit in force; 0 when
 *                             there is none (the core then reports no
 *                             available_bytes, as cAdvisor does)
 */
struct cleat_runtime_stats {
    uint64_t struct_size;
    int64_t timestamp_ns;
    uint64_t cpu_usage_ns;
    uint64_t memory_usage_bytes;
    uint64_t memory_working_set_bytes;
    uint64_t memory_rss_bytes;
    uint64_t memory_page_faults;
    uint64_t memory_major_page_faults;
    uint64_t pids;
    uint64_t memory_limit_bytes;
};

CLEAT_STATIC_ASSERT_NAMED(sizeof(struct cleat_runtime_stats) == 80, runtime_stats_size);

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

/*
 * The ops.  Common rules, so that each op's comment below says only what is
 * its own:
 *
 *   - Missing object: an id this instance never created, or has removed,
 *     answers NOT_FOUND unless the op says otherwise.  After a restart the
 *     core may call kill(), remove(), sandbox_stop() and sandbox_remove() on
 *     *every* runtime instance with the ids of half-made objects it finds on
 *     disk; an instance must answer NOT_FOUND (or succeed doing nothing) for
 *     ids that are not its own, and touch nothing else.
 *   - Restart: cleatd may be killed (even with SIGKILL) and started again
 *     while containers run.  A new instance must find a container and its
 *     sandbox process from the id alone, so keep what you need under
 *     cleat_host.state_dir() (lost on reboot, like the containers).  From
 *     init() on, report through runtime_exit() the exits of the containers
 *     the previous daemon created too; an exit that happened while no cleatd
 *     ran is found by the core through state().
 *     Exec'd processes need not outlive cleatd: after a restart an exec_id
 *     of the previous daemon may answer NOT_FOUND.
 *   - Exits: the core learns of an exit from runtime_exit() and, as a
 *     fallback while it waits, by polling state(); both must agree.
 */
struct cleat_runtime_ops {
    /*
     * Whether the runtime can run containers now: 0, or an error whose
     * message says why (the binary is missing, say).  Called on every CRI
     * Status (kubelet polls it every few seconds) for the default handler:
     * cheap and without side effects, so calling it again is always fine.
     * It decides RuntimeReady; a failing status does not stop cleatd.
     */
    int (*status)(void *instance, struct cleat_error **reterr);
    /*
     * CLEAT_RUNTIME_FEATURE_* bits, reported per handler in the CRI Status.
     * kubelet trusts them, so only what works on this host.  Called on every
     * Status; must answer the same each time and cannot fail.
     */
    uint64_t (*features)(void *instance);

    /*
     * Make the sandbox of a pod whose namespaces the core has already
     * pinned.  When `spec_json` is set (the pod shares one PID namespace,
     * or for every pod with CLEAT_RUNTIME_FEATURE_SANDBOX_TASK) run that
     * process (cleat-pause) so that state(sandbox->id) gives its pid and
     * its exit is reported with the sandbox id; when it is NULL there may
     * be nothing to do.  `resources_json` and `overhead_json` say how big
     * the pod is, for a runtime that sizes its sandbox.  The core calls it
     * once per new sandbox id, never twice for one; when there is a process
     * to run, an id in use answers ALREADY_EXISTS.  On failure leave nothing behind: the core
     * does not call sandbox_remove() for a sandbox whose create failed.
     */
    int (*sandbox_create)(void *instance, const struct cleat_runtime_sandbox *sandbox, struct cleat_error **reterr);
    /*
     * Stop the sandbox's processes (the pause), keeping what sandbox_remove()
     * releases.  Returns only once they are gone.  Succeeds when they have
     * stopped already or there never was one, so a second call (kubelet
     * repeats StopPodSandbox) is a success.  An unknown id: 0 or NOT_FOUND
     * (the core takes both as done).  Works after a restart.
     */
    int (*sandbox_stop)(void *instance, const char *sandbox_id, struct cleat_error **reterr);
    /*
     * Release everything the sandbox holds in this runtime, stopping it
     * first if need be.  A second call, or an unknown id, is 0 or NOT_FOUND
     * (both count as done).  Works after a restart.
     */
    int (*sandbox_remove)(void *instance, const char *sandbox_id, struct cleat_error **reterr);

    /*
     * Create the container (runtime `create`); it does not run user code
     * yet, start() does.  The core has written config.json into
     * `bundle_dir` and already mounted the root filesystem at its
     * root.path, and `rootfs` is empty (n_rootfs 0); with
     * CLEAT_RUNTIME_FEATURE_ROOTFS_MOUNTS the runtime mounts `rootfs` at
     * `bundle_dir`/rootfs itself (see there), and on failure unmounts it
     * again.  An id that exists already answers ALREADY_EXISTS and changes
     * nothing.  On failure leave nothing behind: the core calls no remove()
     * after a failed create.  The bundle dir is the core's; the runtime may write files in
     * it but never removes it.  What create() records must let every other
     * op find the container after a restart.
     */
    int (*create)(void *instance, const struct cleat_runtime_container *container, struct cleat_error **reterr);
    /*
     * Start the created container's process; returns its pid.  Only a
     * container in CREATED can start: a second call, or one on a container
     * that has stopped, fails with FAILED_PRECONDITION and runs nothing
     * again.  Missing: NOT_FOUND.  On failure the core reports the container
     * as exited with reason StartError.
     */
    int (*start)(void *instance, const char *container_id, uint32_t *ret_pid, struct cleat_error **reterr);
    /*
     * Send `signal` to the container's init (exec_id NULL), to every process
     * of the container (CLEAT_KILL_ALL), or to an exec'd process.  Returns
     * once the signal is sent, not when the process has exited (that comes
     * through runtime_exit()).  A process that has already stopped is a
     * success, so calling it twice is fine.  A signal out of range is
     * INVALID_ARGUMENT.  Missing: NOT_FOUND, which the core takes as "gone,
     * exit status unknown" (it records 255).  Works after a restart for the
     * container's init.
     */
    int (*kill)(void *instance, const char *container_id, const char *exec_id, int32_t signal, uint32_t flags,
                struct cleat_error **reterr);
    /*
     * Remove a stopped process and its runtime state: the container (exec_id
     * NULL: everything the runtime holds for it, with the rootfs it mounted
     * under CLEAT_RUNTIME_FEATURE_ROOTFS_MOUNTS; a container still CREATED
     * is killed first) or one exec'd process.  A running or paused one is
     * FAILED_PRECONDITION.  After this no exit is reported for it.  Missing,
     * or removed already, is NOT_FOUND, which the core takes as done, so a
     * second call is harmless.  Works after a restart.
     */
    int (*remove)(void *instance, const char *container_id, const char *exec_id, struct cleat_error **reterr);
    /*
     * Fill *ret_state for the container's init (exec_id NULL; for a sandbox
     * id, its pause process) or an exec'd process.  No side effects, so it
     * may be called any number of times.  Missing: NOT_FOUND.  After a
     * restart it must report what happened meanwhile: STOPPED with the real
     * exit status and time for a process that ended while cleatd was away;
     * when the runtime lost track of the process (its monitor died with no
     * record of the exit) STOPPED with status 255.  STOPPED must come only
     * once the status is final and the container's log is complete.
     */
    int (*state)(void *instance, const char *container_id, const char *exec_id, struct cleat_runtime_state *ret_state,
                 struct cleat_error **reterr);
    /*
     * Start `exec->process_json` in the running container under the new
     * `exec_id`, with the given fds as its stdio (dup them if you keep them:
     * the host closes its own after the call); returns its pid.  Its exit
     * is reported with runtime_exit() and its exec_id.  An exec_id in use is
     * ALREADY_EXISTS; a container that does not run is FAILED_PRECONDITION;
     * a missing one NOT_FOUND.  A command that cannot be started (no such
     * file) may show as an exit with status 255 rather than as an error.
     */
    int (*exec)(void *instance, const struct cleat_runtime_exec *exec, uint32_t *ret_pid, struct cleat_error **reterr);
    /*
     * Set the window size of the terminal of the container (exec_id NULL;
     * the core also calls it for a CRI Attach with a TTY) or of a TTY exec.
     * The last call wins; calling it again is fine.  No terminal, or one
     * already closed, is FAILED_PRECONDITION.  Missing: NOT_FOUND.  The
     * container's works after a restart.
     */
    int (*resize_pty)(void *instance, const char *container_id, const char *exec_id, uint32_t width, uint32_t height,
                      struct cleat_error **reterr);
    /*
     * Close the stdin of the container (exec_id NULL) or of an exec'd
     * process, after the input already written has been delivered, so that
     * its reader sees end-of-file.  Closing what is closed (or was never
     * open) succeeds.  A container that does not run is FAILED_PRECONDITION;
     * missing: NOT_FOUND.
     */
    int (*close_stdin)(void *instance, const char *container_id, const char *exec_id, struct cleat_error **reterr);
    /*
     * Apply new resources, an OCI runtime-spec `linux.resources` object as
     * JSON, to a created or running container.  Applying the same resources
     * twice is a success.  A container that has stopped is
     * FAILED_PRECONDITION; missing: NOT_FOUND.  Works after a restart.
     */
    int (*update)(void *instance, const char *container_id, const char *resources_json, struct cleat_error **reterr);
    /*
     * Freeze (pause) and thaw (resume) every process of a running
     * container.  The core does not call these yet (the CRI has no RPC for
     * them).  Pausing a paused container, or resuming one that runs, is what
     * the runtime says (runc: FAILED_PRECONDITION); missing: NOT_FOUND.
     */
    int (*pause)(void *instance, const char *container_id, struct cleat_error **reterr);
    int (*resume)(void *instance, const char *container_id, struct cleat_error **reterr);
    /*
     * Close and reopen the container's log file (after kubelet rotated it),
     * so that new output goes to a file at the log path again.  Reopening
     * twice is fine.  A container that does not run is FAILED_PRECONDITION;
     * if the reopen fails, the output must go on to the old file and the
     * error say why.  Missing: NOT_FOUND.  Works after a restart.
     */
    int (*reopen_log)(void *instance, const char *container_id, struct cleat_error **reterr);
    /*
     * Write into buf the unix socket path that serves attach for a
     * container, speaking the cleat-shim control protocol (shim/README.md).
     * The core resizes an attached terminal with resize_pty(), not through
     * this socket.  The same answer every time, also after a restart; a
     * path longer than `size` is OUT_OF_RANGE.  Missing: NOT_FOUND.
     */
    int (*attach_address)(void *instance, const char *container_id, char *buf, uint64_t size,
                          struct cleat_error **reterr);

    /* --- ABI 1.1: NULL in a plugin built for 1.0 ----------------------- */

    /*
     * Fill *ret (struct cleat_runtime_stats) with the usage the runtime
     * measures itself, for a runtime whose containers are not in a host
     * cgroup the core can read (a VM).  NULL: the core reads the host
     * cgroups.  When set, ContainerStats comes from it, and so do the pod's
     * stats: the core asks with the sandbox id for the whole pod (its VM),
     * and when that answers NOT_FOUND it sums the pod's containers.  Called
     * for created and running containers, from several threads at once,
     * often (kubelet's summary every few seconds): cheap and without side
     * effects, so calling it again is fine.  A container that stopped
     * meanwhile, or a missing id: NOT_FOUND (the core then reports no CPU
     * and memory figures for it).  Works after a restart.
     */
    int (*stats)(void *instance, const char *container_id, struct cleat_runtime_stats *ret,
                 struct cleat_error **reterr);
    /*
     * Apply a pod's new resources (UpdatePodSandboxResources: kubelet
     * resized the pod in place), an OCI runtime-spec `linux.resources`
     * object as JSON, to its sandbox (a VM's size).  NULL: the core only
     * records them, as kubelet has resized the host's pod cgroup itself.
     * On failure the RPC fails and the core records nothing.  The same
     * resources twice is a success; a sandbox the runtime runs nothing for
     * may succeed doing nothing.  A stopped sandbox: FAILED_PRECONDITION;
     * missing: NOT_FOUND.  Works after a restart.
     */
    int (*sandbox_update)(void *instance, const char *sandbox_id, const char *resources_json,
                          struct cleat_error **reterr);
};

/* Appended only: an ABI 1.0 table ends where stats begins. */
CLEAT_STATIC_ASSERT_NAMED(offsetof(struct cleat_runtime_ops, stats) == 18 * sizeof(void *), runtime_ops_stats);
CLEAT_STATIC_ASSERT_NAMED(offsetof(struct cleat_runtime_ops, sandbox_update) == 19 * sizeof(void *),
                          runtime_ops_sandbox_update);

#ifdef __cplusplus
}
#endif

#endif /* CLEAT_RUNTIME_H */
