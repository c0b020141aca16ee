/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pod and container side of the daemon: what the CRI RuntimeService's
 * lifecycle RPCs do, below the protobuf request/response handling
 * (cri_pods.c, cri_containers.c).
 *
 * Objects: a pod sandbox is a record in the store, a directory
 * <state_dir>/pods/<id>/ (pinned namespaces in ns/, hostname, hosts,
 * resolv.conf, a tmpfs at shm, the pause rootfs when the pod shares one PID
 * namespace) and whatever its runtime instance keeps.  A container is a
 * record, a bundle <state_dir>/containers/<id>/ (config.json, rootfs/ with
 * the snapshot mounted, the shim's files), a snapshot named by its ID, and
 * the runtime's process.
 *
 * Crash safety: the store record is the commit point.  Everything on disk
 * is made first and the record is written last; an object with files but no
 * record is a half-done creation and is removed at start-up
 * (runtime_service_open).  Removal goes the other way round and every step
 * tolerates what is already gone, so an interrupted removal is finished by
 * the next one.
 *
 * Concurrency: every operation on one pod or container holds that object's
 * lock (keyed_lock.h); pod-wide operations take the pod's lock, then the
 * containers'.  Exit reports from runtimes never take those locks (a
 * StopContainer waits for them while holding one); they go into an exit table
 * that readers consult.
 */
#ifndef CLEAT_CORE_RUNTIME_SERVICE_H
#define CLEAT_CORE_RUNTIME_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api.pb-c.h"
#include "error.h"
#include "store.pb-c.h"

struct arena;
struct cdi_registry;
struct config;
struct image_service;
struct plugins;
struct plugin_instance;
struct registry;
struct runtime_service;
struct store;

typedef Cleat__Store__V1__SandboxRecord sandbox_record;
typedef Cleat__Store__V1__ContainerRecord container_record;

/* What a pod or container went through; the CRI's container event types, in our words. */
enum lifecycle_change {
    LIFECYCLE_CREATED,
    LIFECYCLE_STARTED,
    LIFECYCLE_STOPPED, /* stopped, or its process exited however that was noticed */
    LIFECYCLE_DELETED,
};

/*
 * Told after a pod or container changed, on the thread that changed it,
 * without any of the lifecycle's locks held: the GetContainerEvents streams
 * and the metrics listen this way, so that the lifecycle knows nothing of
 * either.  For a pod's own change container_id == pod_id (as the CRI sends
 * it).  An observer must not wait (a slow client must not slow a lifecycle
 * operation) and may read the lifecycle (pod_get, container_get...).
 */
struct lifecycle_observer {
    void (*changed)(void *ctx, struct runtime_service *rs, const char *container_id, const char *pod_id,
                    enum lifecycle_change change);
    void *ctx;
};

#define RUNTIME_MAX_OBSERVERS 4

/*
 * What the lifecycle works with, all owned by the caller and outliving the
 * runtime service: the configuration (state dir, default handler, seccomp
 * profile, pause binary, cgroup driver, stats ages), the loaded plugins
 * (their on_exit is taken over), the store and its registry, the images
 * (for a container's image and snapshot), the CDI spec directories (NULL:
 * a container asking for a CDI device is refused), and the observers of
 * its changes.
 */
struct runtime_deps {
    const struct config *cfg;
    struct plugins *plugins;
    struct store *store;
    struct registry *registry;
    struct image_service *images;
    struct cdi_registry *cdi;
    struct lifecycle_observer observers[RUNTIME_MAX_OBSERVERS];
    size_t n_observers;
};

/*
 * Set up after the plugins and images, then recover what a previous cleatd
 * left (half-made objects are removed, exits missed while it was down are
 * recorded) and hand the persisted pod CIDR to the network plugin.  deps is
 * copied.
 */
int runtime_service_open(const struct runtime_deps *deps, struct runtime_service **ret, struct cleat_error **reterr);
/* NULL-safe.  Containers keep running: they belong to their shims. */
void runtime_service_free(struct runtime_service *rs);

/* --- pods (runtime_pods.c) ---------------------------------------------- */

/*
 * RunPodSandbox.  `handler` "" or NULL: the default handler.  A pod with
 * linux.resources or linux.overhead whose cgroup parent does not exist yet
 * (cgroupfs driver) gets that cgroup made and sized with resources +
 * overhead; RemovePodSandbox removes it (runtime_pod_cgroup.c).
 */
int pod_run(struct runtime_service *rs, const Runtime__V1__PodSandboxConfig *config, const char *handler,
            char ret_id[65], struct cleat_error **reterr);
/* StopPodSandbox: kill the pod's containers, free its network and namespaces.  Idempotent; an unknown ID is success. */
int pod_stop(struct runtime_service *rs, const char *id_or_prefix, struct cleat_error **reterr);
/* RemovePodSandbox: stop, remove every container, then the pod.  An unknown ID is success. */
int pod_remove(struct runtime_service *rs, const char *id_or_prefix, struct cleat_error **reterr);
/* A copy of the pod's record; free with sandbox_record_free(). */
int pod_get(struct runtime_service *rs, const char *id_or_prefix, sandbox_record **ret, struct cleat_error **reterr);
/*
 * Copies of the records of the pods whose ID starts with id_prefix (NULL or
 * "": every pod), found by a binary search: a filter naming one pod costs
 * one record read, not one per pod.
 */
int pod_list(struct runtime_service *rs, const char *id_prefix, sandbox_record ***ret, size_t *ret_n,
             struct cleat_error **reterr);
/*
 * The same, array and records unpacked into arena a, which frees them (never
 * sandbox_records_free them): for an RPC's call arena, so that a list of
 * every pod costs no malloc and free per record field.  A NULL a is pod_list.
 */
int pod_list_in(struct runtime_service *rs, struct arena *a, const char *id_prefix, sandbox_record ***ret,
                size_t *ret_n, struct cleat_error **reterr);
/*
 * UpdatePodSandboxResources: validate the pod's new overhead and resources
 * (either may be NULL) and record them in its stored config.  A pod cgroup
 * that existed at RunPodSandbox is kubelet's, which has already resized it;
 * one cleat made (a pod with resources whose cgroup parent did not exist,
 * cgroupfs driver) gets the new resources + overhead written.  A runtime
 * with the sandbox_update op (a VM sized by its pod) gets the new resources
 * first (not a change of the overhead alone).  When either fails, so does
 * this, and nothing is recorded (cgroup files written before the failing
 * one keep their new values).  Calling it again with the same values does
 * the same again.
 */
int pod_update_resources(struct runtime_service *rs, const char *id_or_prefix,
                         const Runtime__V1__LinuxContainerResources *overhead,
                         const Runtime__V1__LinuxContainerResources *resources, struct cleat_error **reterr);
/* The pid of the pod's pause process while it runs (a pod sharing one PID namespace, or any pod of a runtime
 * with CLEAT_RUNTIME_FEATURE_SANDBOX_TASK), else 0. */
uint32_t pod_pause_pid(struct runtime_service *rs, const sandbox_record *rec);
/*
 * Whether PortForward can reach the pod's processes from the host side of
 * its network: 0 if so, UNIMPLEMENTED naming the handler when the pod's
 * runtime keeps its network in a guest (CLEAT_RUNTIME_FEATURE_GUEST_NETWORK),
 * FAILED_PRECONDITION when the pod's handler is no longer configured.  Asks
 * nothing of the runtime but its feature bits; the same answer every time.
 */
int pod_port_forward_check(struct runtime_service *rs, const sandbox_record *rec, struct cleat_error **reterr);
/*
 * Copies of the records of a pod's containers (full pod ID), each with any
 * exit the runtime reported applied; free with container_records_free().
 * A pod without containers, or an unknown pod, gives none.
 */
int pod_containers(struct runtime_service *rs, const char *pod_id, container_record ***ret, size_t *ret_n,
                   struct cleat_error **reterr);
/* The pod's state dir (<state_dir>/pods/<id>), malloc'd. */
char *pod_dir(struct runtime_service *rs, const char *id);
void sandbox_record_free(sandbox_record *rec);
void sandbox_records_free(sandbox_record **recs, size_t n);

/*
 * Whether the runtime handler `rt` can run pods with their own user
 * namespace (kubelet's hostUsers: false): the runtime says so
 * (CLEAT_RUNTIME_FEATURE_USER_NAMESPACES) and the start-up probe found that
 * this kernel and the state dir allow it.  0, or FAILED_PRECONDITION saying
 * why not.  No side effects; the answer stays the same until a restart.
 */
int runtime_userns_supported(struct runtime_service *rs, struct plugin_instance *rt, struct cleat_error **reterr);

/*
 * Whether containers can mount images (CRI Mount.image): the snapshotter
 * images are unpacked with makes views and can list and remove them.  The
 * CRI has no Status field for it (api.proto's RuntimeFeatures has none), so
 * the verbose Status info reports it.  No side effects.
 */
int runtime_image_volumes_supported(struct runtime_service *rs);

/*
 * Whether the runtime handler `rt` makes recursive read-only mounts (CRI
 * Mount.recursive_read_only): the runtime says so
 * (CLEAT_RUNTIME_FEATURE_RECURSIVE_READ_ONLY_MOUNTS) and the start-up probe
 * found that this kernel can (mount_setattr AT_RECURSIVE).  0, or
 * FAILED_PRECONDITION saying why not.  No side effects; the kernel's part
 * stays the same until a restart.
 */
int runtime_rro_supported(struct runtime_service *rs, struct plugin_instance *rt, struct cleat_error **reterr);

/* The pod CIDR kubelet last gave (UpdateRuntimeConfig), malloc'd ("" if none), or NULL on OOM. */
char *runtime_pod_cidr(struct runtime_service *rs);
/*
 * UpdateRuntimeConfig: validate (one CIDR or a "v4,v6" pair; "" clears it),
 * persist, and hand it to the network plugin.  Setting the same value again
 * hands it on again; after a restart the persisted value is handed on at open.
 */
int runtime_set_pod_cidr(struct runtime_service *rs, const char *cidr, struct cleat_error **reterr);

/* --- containers (runtime_containers.c) --------------------------------- */

int container_create(struct runtime_service *rs, const char *pod_id_or_prefix,
                     const Runtime__V1__ContainerConfig *config, char ret_id[65], struct cleat_error **reterr);
int container_start(struct runtime_service *rs, const char *id_or_prefix, struct cleat_error **reterr);
/* Stop signal, then SIGKILL after `timeout` seconds (0: at once).  An exited container is success. */
int container_stop(struct runtime_service *rs, const char *id_or_prefix, int64_t timeout, struct cleat_error **reterr);
/* Kill if needed and remove.  An unknown ID is success. */
int container_remove(struct runtime_service *rs, const char *id_or_prefix, struct cleat_error **reterr);
/* A copy of the record with any exit the runtime reported applied. */
int container_get(struct runtime_service *rs, const char *id_or_prefix, container_record **ret,
                  struct cleat_error **reterr);
/*
 * Copies of the records (exits applied) of the containers whose ID starts
 * with id_prefix and whose pod's ID starts with pod_prefix (NULL or "" for
 * either: any), found through the registry's indexes: a filter naming one
 * container or one pod reads only those records.
 */
int container_list(struct runtime_service *rs, const char *id_prefix, const char *pod_prefix, container_record ***ret,
                   size_t *ret_n, struct cleat_error **reterr);
/* The same in arena a, as pod_list_in (never container_records_free them); a NULL a is container_list. */
int container_list_in(struct runtime_service *rs, struct arena *a, const char *id_prefix, const char *pod_prefix,
                      container_record ***ret, size_t *ret_n, struct cleat_error **reterr);
/* container_get for a container that must be RUNNING: FAILED_PRECONDITION otherwise, or when its runtime is gone. */
int container_get_running(struct runtime_service *rs, const char *id_or_prefix, container_record **ret,
                          struct cleat_error **reterr);
/* The OCI spec the container was created with (its bundle's config.json), parsed; NOT_FOUND once it is gone. */
int container_spec_load(struct runtime_service *rs, const char *id, json_t **ret, struct cleat_error **reterr);
int container_update_resources(struct runtime_service *rs, const char *id_or_prefix,
                               const Runtime__V1__LinuxContainerResources *res, struct cleat_error **reterr);
int container_reopen_log(struct runtime_service *rs, const char *id_or_prefix, struct cleat_error **reterr);
/* The bundle dir (<state_dir>/containers/<id>), malloc'd. */
char *container_dir(struct runtime_service *rs, const char *id);
void container_record_free(container_record *rec);
void container_records_free(container_record **recs, size_t n);

/* --- exec (runtime_exec.c) ---------------------------------------------- */

struct exec_sync_result {
    char *out, *err; /* malloc'd, NUL-terminated; cut at the cap */
    size_t out_len, err_len;
    int32_t exit_code;
};

/* ExecSync: run cmd in the container, capture output (each stream capped), DEADLINE_EXCEEDED after timeout s (0: none). */
int container_exec_sync(struct runtime_service *rs, const char *id_or_prefix, char *const *cmd, size_t n_cmd,
                        int64_t timeout, struct exec_sync_result *ret, struct cleat_error **reterr);
void exec_sync_result_clear(struct exec_sync_result *r);

#endif
