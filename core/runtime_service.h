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

#include "api.pb-c.h"
#include "error.h"
#include "store.pb-c.h"

struct daemon;
struct runtime_service;

typedef Cleat__Store__V1__SandboxRecord sandbox_record;
typedef Cleat__Store__V1__ContainerRecord container_record;

/* Set up after the daemon's plugins and images, then recover what a previous cleatd left. */
int runtime_service_open(struct daemon *d, struct runtime_service **ret, struct cleat_error **reterr);
/* NULL-safe.  Containers keep running: they belong to their shims. */
void runtime_service_free(struct runtime_service *rs);

/* --- pods (runtime_pods.c) ---------------------------------------------- */

/* RunPodSandbox.  `handler` "" or NULL: the default handler. */
int pod_run(struct runtime_service *rs, const Runtime__V1__PodSandboxConfig *config, const char *handler,
            char ret_id[65], struct cleat_error **reterr);
/* StopPodSandbox: kill the pod's containers, free its network and namespaces.  Idempotent; an unknown ID is success. */
int pod_stop(struct runtime_service *rs, const char *id_or_prefix, struct cleat_error **reterr);
/* RemovePodSandbox: stop, remove every container, then the pod.  An unknown ID is success. */
int pod_remove(struct runtime_service *rs, const char *id_or_prefix, struct cleat_error **reterr);
/* A copy of the pod's record; free with sandbox_record_free(). */
int pod_get(struct runtime_service *rs, const char *id_or_prefix, sandbox_record **ret, struct cleat_error **reterr);
/* Copies of every pod's record. */
int pod_list(struct runtime_service *rs, sandbox_record ***ret, size_t *ret_n, struct cleat_error **reterr);
/*
 * UpdatePodSandboxResources: validate the pod's new overhead and resources
 * (either may be NULL) and record them in its stored config.  kubelet owns
 * and has already resized the pod cgroup; nothing is applied here.
 */
int pod_update_resources(struct runtime_service *rs, const char *id_or_prefix,
                         const Runtime__V1__LinuxContainerResources *overhead,
                         const Runtime__V1__LinuxContainerResources *resources, struct cleat_error **reterr);
/* The pod's state dir (<state_dir>/pods/<id>), malloc'd. */
char *pod_dir(struct runtime_service *rs, const char *id);
void sandbox_record_free(sandbox_record *rec);
void sandbox_records_free(sandbox_record **recs, size_t n);

/* --- containers (runtime_containers.c) --------------------------------- */

int container_create(struct runtime_service *rs, const char *pod_id_or_prefix, const Runtime__V1__ContainerConfig *config,
                     char ret_id[65], struct cleat_error **reterr);
int container_start(struct runtime_service *rs, const char *id_or_prefix, struct cleat_error **reterr);
/* Stop signal, then SIGKILL after `timeout` seconds (0: at once).  An exited container is success. */
int container_stop(struct runtime_service *rs, const char *id_or_prefix, int64_t timeout, struct cleat_error **reterr);
/* Kill if needed and remove.  An unknown ID is success. */
int container_remove(struct runtime_service *rs, const char *id_or_prefix, struct cleat_error **reterr);
/* A copy of the record with any exit the runtime reported applied. */
int container_get(struct runtime_service *rs, const char *id_or_prefix, container_record **ret,
                  struct cleat_error **reterr);
int container_list(struct runtime_service *rs, container_record ***ret, size_t *ret_n, struct cleat_error **reterr);
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
