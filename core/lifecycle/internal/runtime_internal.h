/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the runtime_*.c files; not an API. */
#ifndef CLEAT_CORE_RUNTIME_INTERNAL_H
#define CLEAT_CORE_RUNTIME_INTERNAL_H

#include <jansson.h>
#include <pthread.h>

#include "cgroups.h"
#include "image_store.h"
#include "clocks.h"
#include "keyed_lock.h"
#include "mount_util.h"
#include "proto_maps.h"
#include "plugin_loader.h"
#include "runtime_service.h"
#include "store.h"

struct stats_cache;

/* An exit a runtime reported (container init: exec_id ""). */
struct exit_entry {
    struct exit_entry *next;
    char container_id[65];
    char *exec_id;
    uint32_t pid;
    int32_t status;
    int oom_killed; /* the OOM killer ended it (the memory cgroup's count, or the runtime's state) */
    int64_t exited_at_ns;
};

struct runtime_service {
    struct runtime_deps deps;
    pthread_mutex_t cidr_mu; /* guards pod_cidr */
    char *pod_cidr;
    char *pods_dir, *containers_dir;
    char *userns_dir;    /* <state>/userns: what pods with their own user namespace reach (runtime_userns.c) */
    int userns_ok;       /* runtime_userns_probe found that they work here */
    char *userns_reason; /* else why not */
    int rro_ok;          /* runtime_rro_probe found that this kernel makes recursive read-only mounts */
    char *rro_reason;    /* else why not */
    int recover_oom;     /* runtime_service_open could not index a container's pod (out of memory) */
    char *seccomp_profile, *pause_binary;
    struct cgroup_layout *cgroups; /* NULL when the host's layout could not be read */
    int systemd_cgroup;
    int64_t min_oom_score_adj;
    struct keyed_locks *locks;
    pthread_mutex_t exit_mu;
    pthread_cond_t exit_cond;
    struct exit_entry *exits;
    struct stats_cache *stats;         /* CPU samples and writable layer usage (stats.h) */
    int64_t stats_period_ns;           /* the collector's period while it runs, else 0 (atomic: stats.c reads it) */
    struct stats_collector *collector; /* its thread, once started (stats_collector.c) */
};

/* CRI ContainerState values, as kept in records. */
#define CSTATE_CREATED 0
#define CSTATE_RUNNING 1
#define CSTATE_EXITED 2
#define CSTATE_UNKNOWN 3

/* Replace a protobuf-c string field of an unpacked record (the old value is freed unless it is the shared ""). */
int record_set_string(char **field, const char *value, struct cleat_error **reterr);

/* Records in and out of the store, through the registry (id: a full ID). */
int sandbox_record_load(struct runtime_service *rs, const char *id, sandbox_record **ret, struct cleat_error **reterr);
int sandbox_record_save(struct runtime_service *rs, const sandbox_record *rec, struct cleat_error **reterr);
int container_record_load(struct runtime_service *rs, const char *id, container_record **ret,
                          struct cleat_error **reterr);
int container_record_save(struct runtime_service *rs, const container_record *rec, struct cleat_error **reterr);
/*
 * The records object_ids names (by ID prefix, and for containers by pod ID
 * prefix), in ID order, read in one store transaction: a NULL-ended array
 * for sandbox_records_free / container_records_free, or, when a is not
 * NULL, array and records in arena a (nothing to free).  One removed
 * between the index and the read is not in it; one that does not unpack is
 * logged and left out.  The records are as stored (no exit applied).
 */
int sandbox_records_list(struct runtime_service *rs, struct arena *a, const char *id_prefix, sandbox_record ***ret,
                         size_t *ret_n, struct cleat_error **reterr);
int container_records_list(struct runtime_service *rs, struct arena *a, const char *id_prefix, const char *pod_prefix,
                           container_record ***ret, size_t *ret_n, struct cleat_error **reterr);
/*
 * Pack and add a new record with its name key and the ID of the pod it
 * belongs to (a container's; NULL for a pod): the commit point of a creation.
 */
int record_add(struct runtime_service *rs, enum store_kind kind, const ProtobufCMessage *msg, const char *id,
               const char *name_key, const char *parent, struct cleat_error **reterr);

/* The full ID of a pod (STORE_SANDBOX) or container from an ID or unique prefix; NOT_FOUND names the object. */
int object_resolve(struct runtime_service *rs, enum store_kind kind, const char *id_or_prefix, char id[65],
                   struct cleat_error **reterr);
/* The same for stop and remove, which the CRI makes idempotent: 1 with the ID, 0 when no such object is
 * left (nothing to do), -1 on any other error. */
int object_resolve_present(struct runtime_service *rs, enum store_kind kind, const char *id_or_prefix, char id[65],
                           struct cleat_error **reterr);

/* The runtime instance of the container's pod, or NULL when its handler is not configured (any more). */
struct plugin_instance *container_runtime(struct runtime_service *rs, const container_record *rec);

/* The runtime instance of a handler name ("" = the default); NULL if not configured. */
struct plugin_instance *runtime_instance(struct runtime_service *rs, const char *handler);

/* --- exits (runtime_exits.c) ------------------------------------------ */

/* The on_exit callback of the plugin set. */
void runtime_on_exit(void *ctx, const struct plugin_instance *pi, const char *container_id, const char *exec_id,
                     uint32_t pid, int32_t exit_status, int64_t exited_at_ns);
/* Copy out the recorded exit of a container init (exec_id NULL) or exec; 0 if found, -ENOENT if not. */
int exit_lookup(struct runtime_service *rs, const char *container_id, const char *exec_id, struct exit_entry *ret);
/* Wait until exit_lookup succeeds or deadline_ns (CLOCK_REALTIME) passes; 0 or -ETIMEDOUT. */
int exit_wait(struct runtime_service *rs, const char *container_id, const char *exec_id, int64_t deadline_ns,
              struct exit_entry *ret);
/* Drop every recorded exit of a container (exec_id NULL) or one exec's. */
void exit_forget(struct runtime_service *rs, const char *container_id, const char *exec_id);
/*
 * Record an exit found another way (runtime state at start-up, a runtime that forgot the container);
 * oom_killed as the runtime's state said.  A second exit of the same process is ignored: the first stands.
 */
void exit_record(struct runtime_service *rs, const char *container_id, const char *exec_id, uint32_t pid,
                 int32_t status, int oom_killed, int64_t exited_at_ns);
/*
 * Wait for the exit of a container's init (exec_id NULL) or of an exec until
 * deadline_ns (CLOCK_REALTIME; 0: none).  Exits normally arrive through the
 * runtime's report; the runtime's state is asked as well every poll_ns, in
 * case a report was missed (one that came while the daemon started, before
 * it listened), and an exit found so is recorded.  An init the runtime does
 * not know any more counts as exited with 255.  0 with *ret, or -ETIMEDOUT.
 */
int exit_await(struct runtime_service *rs, struct plugin_instance *rt, const char *container_id, const char *exec_id,
               int64_t deadline_ns, int64_t poll_ns, struct exit_entry *ret);

/*
 * Apply a recorded exit to a RUNNING/CREATED record: state EXITED, exit
 * code, finish time, reason (Completed, Error, OOMKilled).  Returns 1 if
 * the record changed.
 */
int container_apply_exit(struct runtime_service *rs, container_record *rec);
/* The same for a record unpacked into arena a (its old reason is not freed; the new one is a's). */
int container_apply_exit_in(struct runtime_service *rs, container_record *rec, struct arena *a);

/* --- containers, for pods ---------------------------------------------- */

/*
 * IDs of the containers of a pod, or of all containers for a NULL pod_id
 * (malloc'd array of malloc'd IDs).  A pod's are found through the
 * registry's parent index (a binary search), not by reading every record.
 */
int pod_container_ids(struct runtime_service *rs, const char *pod_id, char ***ret, size_t *ret_n,
                      struct cleat_error **reterr);
/*
 * IDs of kind (malloc'd) that start with id_prefix and, for containers,
 * whose pod's ID starts with pod_prefix (NULL or "" for either: any), by
 * binary searches in the registry: no record is read.
 */
int object_ids(struct runtime_service *rs, enum store_kind kind, const char *id_prefix, const char *pod_prefix,
               char ***ret, size_t *ret_n, struct cleat_error **reterr);
void free_ids(char **ids, size_t n);
/* For a container that is CREATED or RUNNING (RUNNING only with want_running): its record and runtime. */
int live_container(struct runtime_service *rs, const char *id_or_prefix, int want_running, char id[65],
                   container_record **ret, struct plugin_instance **ret_rt, struct cleat_error **reterr);
/* container_stop / container_remove by full ID, for a caller that holds the pod lock. */
int container_stop_id(struct runtime_service *rs, const char *id, int64_t timeout, struct cleat_error **reterr);
int container_remove_id(struct runtime_service *rs, const char *id, struct cleat_error **reterr);
/* Undo a container's files, snapshot and runtime state (every step tolerates what is gone). */
void container_cleanup(struct runtime_service *rs, const char *id, struct plugin_instance *rt, const char *snapshotter);
/* Undo a pod's namespaces, mounts, files and runtime state. */
void pod_cleanup(struct runtime_service *rs, const char *id, struct plugin_instance *rt);

/* --- recursive read-only mounts (runtime_rro.c) ------------------------ */

/* Find out at start-up whether this kernel makes recursive read-only mounts (sets rro_ok / rro_reason). */
void runtime_rro_probe(struct runtime_service *rs);
/* CreateContainer: FAILED_PRECONDITION naming the mount when one asks for recursive_read_only where it cannot be. */
int create_check_rro(struct runtime_service *rs, struct plugin_instance *rt, const Runtime__V1__ContainerConfig *config,
                     struct cleat_error **reterr);

/* --- user namespaces (runtime_userns.c, runtime_userns_probe.c) -------- */

/* <state>/userns/<id>, malloc'd (NULL on ENOMEM). */
char *userns_dir(struct runtime_service *rs, const char *id);
/* Find out at start-up whether pods can have their own user namespace here (sets userns_ok / userns_reason). */
void runtime_userns_probe(struct runtime_service *rs);
/* The host uid and gid of the pod's root, for a pod with its own user namespace; -ENOENT for other pods. */
int runtime_userns_root(const Runtime__V1__PodSandboxConfig *config, uint32_t *ret_uid, uint32_t *ret_gid);
/*
 * Create <state>/userns/<id> (0710, group root_gid) and return its path;
 * ALREADY_EXISTS when it is there.  Remove it with userns_dir_remove.
 */
int userns_dir_create(struct runtime_service *rs, const char *id, uint32_t root_gid, char **ret,
                      struct cleat_error **reterr);
/* Unmount what is mounted in <state>/userns/<id> (rootfs, volumes/N) and remove it; absent is fine. */
void userns_dir_remove(struct runtime_service *rs, const char *id);
/* At start-up: remove the entries of <state>/userns whose pod or container has no record. */
void userns_sweep(struct runtime_service *rs);

/* --- CreateContainer in a pod with its own user namespace (runtime_create_userns.c) --- */

struct create_userns {
    int on;                   /* the pod has its own user namespace (POD_NS_USER) */
    struct mount_idmap idmap; /* its pinned namespace, open, and its root's host ids */
    char *dir;                /* <state>/userns/<container id> */
    char *rootfs;             /* <dir>/rootfs, where the rootfs is mounted idmapped */
    char **volumes;           /* per CRI mount, its idmapped copy <dir>/volumes/<i> (spec_input.mount_sources) */
    size_t n_volumes;
};
#define CREATE_USERNS_INIT                                                                                             \
    {                                                                                                                  \
        .idmap = {.userns_fd = -1 }                                                                                    \
    }

/* Open the pod's user namespace and make the container's <state>/userns/<id> (rootfs mount point in it). */
int create_userns_prepare(struct runtime_service *rs, const char *id, const sandbox_record *pod,
                          const Runtime__V1__PodSandboxConfig *pod_config, struct create_userns *u,
                          struct cleat_error **reterr);
/*
 * An idmapped copy of each CRI mount's host path, for the container to
 * bind-mount instead; a file system that cannot be idmapped is
 * FAILED_PRECONDITION naming the mount.  What was mounted stays for
 * userns_dir_remove to undo (container_cleanup).
 */
int create_userns_volumes(const Runtime__V1__ContainerConfig *config, struct create_userns *u,
                          struct cleat_error **reterr);
/* Free what u holds (the mounts stay); a second call does nothing. */
void create_userns_done(struct create_userns *u);

/* --- image volumes (runtime_image_volumes.c) -------------------------- */

struct image_volumes {
    size_t n;              /* the container's CRI mounts */
    int any;               /* at least one of them is an image volume */
    image_record **images; /* per mount: the image it mounts, NULL for other mounts */
    char **sources;        /* per mount: the path bind-mounted into the container (image_volumes_mount), or NULL */
};

/* Non-zero when a CRI mount is an image volume (Mount.image names an image). */
int image_volume_is(const Runtime__V1__Mount *m);
/*
 * The image volumes' fields, before anything is made: image_sub_path
 * relative and without "..", no host path as well, private propagation,
 * and no image_sub_path on other mounts.  INVALID_ARGUMENT naming the mount.
 */
int image_volumes_validate(const Runtime__V1__ContainerConfig *config, struct cleat_error **reterr);
/* Look up the images the mounts name (NOT_FOUND naming the mount and image: nothing is made). */
int image_volumes_find(struct runtime_service *rs, const Runtime__V1__ContainerConfig *config, struct image_volumes *iv,
                       struct cleat_error **reterr);
/*
 * Make and mount each volume's view at <container_dir>/volumes/<i> (through
 * idmap when not NULL) and resolve its image_sub_path inside it into
 * iv->sources[i]; a sub path that cannot be reached is INVALID_ARGUMENT.
 * On failure what was made stays for image_volumes_remove (container_cleanup).
 */
int image_volumes_mount(struct runtime_service *rs, const char *id, const char *container_dir,
                        const Runtime__V1__ContainerConfig *config, struct image_volumes *iv,
                        const struct mount_idmap *idmap, struct cleat_error **reterr);
/* Free what iv holds (the mounts and views stay); a second call does nothing. */
void image_volumes_done(struct image_volumes *iv);
/*
 * Unmount <container_dir>/volumes (when container_dir is not NULL) and remove
 * every view of container `id` from every snapshotter; absent is fine, so
 * it may run twice.  Layers that only the views kept go (image_gc_soon).
 */
void image_volumes_remove(struct runtime_service *rs, const char *id, const char *container_dir);
/* At start-up: remove the views of containers that have no record (a crash mid-create or mid-remove). */
void image_volumes_sweep(struct runtime_service *rs);

/* --- the pod's files (runtime_pod_files.c) ----------------------------- */

/* Who owns the pod's files: with `set`, the host ids of the root of a pod with its own user namespace. */
struct pod_files_owner {
    int set;
    uint32_t uid, gid;
};
/*
 * hostname, hosts, resolv.conf into dir; shm tmpfs at dir/shm unless the pod uses the host's IPC.  With
 * owner->set they are the pod's root's, so that it sees them as its own (the pod dir stays cleatd's).
 */
int pod_files_create(const char *dir, const Runtime__V1__PodSandboxConfig *config, const char *hostname,
                     int host_network, int host_ipc, const struct pod_files_owner *owner, struct cleat_error **reterr);
/*
 * The OCI spec of the pause process for a pod sharing one PID namespace (rootfs made under dir/pause; with
 * POD_NS_USER in `pinned`, under <state>/userns/<id>/ of group root_gid, and the pause joins the pod's user
 * namespace).
 */
int pod_pause_spec(struct runtime_service *rs, const char *id, const char *dir,
                   const Runtime__V1__PodSandboxConfig *config, uint32_t pinned, uint32_t root_gid, char **ret_json,
                   struct cleat_error **reterr);

/* --- the pod's network (runtime_pod_net.c) ----------------------------- */

/* The network plugin instance, or NULL when none is configured. */
struct plugin_instance *pod_network(struct runtime_service *rs);
/* Set up the pod's network in its pinned netns; *ret_ips (malloc'd, primary first) may be empty. */
int pod_network_setup(struct runtime_service *rs, const char *id, const Runtime__V1__PodSandboxConfig *config,
                      char ***ret_ips, size_t *ret_n, struct cleat_error **reterr);
/* Tear it down; the plugin makes this idempotent. */
int pod_network_teardown(struct runtime_service *rs, const char *id, const Runtime__V1__PodSandboxConfig *config,
                         struct cleat_error **reterr);
/* Tear down the network of a pod that has no record (a crash before RunPodSandbox committed), from the
 * config saved in its dir before setup; 0 when it never had one. */
int pod_network_teardown_leftover(struct runtime_service *rs, const char *id, struct cleat_error **reterr);

/*
 * A pod or container changed: tell the observers (runtime_deps).  pod_id
 * NULL: look it up (and say nothing when container_id is no container, e.g.
 * a pod's pause).  Call it without holding exit_mu or an object's lock.
 */
void runtime_notify(struct runtime_service *rs, const char *container_id, const char *pod_id,
                    enum lifecycle_change change);

/* Hand the persisted pod CIDR to the network plugin (runtime_service_open). */
int pod_cidr_load(struct runtime_service *rs, struct cleat_error **reterr);

/* "SIGTERM", "TERM", "15", "SIGRTMIN+3" → the number; -1 if it is not a signal. */
int signal_parse(const char *s);

/* linux.cgroupsPath of a container or pause `id` under the pod's cgroup parent, for the active driver. */
int runtime_cgroups_path(struct runtime_service *rs, const char *parent, const char *id, char **ret,
                         struct cleat_error **reterr);

/* --- the pod's own cgroup (runtime_pod_cgroup.c) ------------------------ */

/* INVALID_ARGUMENT naming linux.resources or linux.overhead when one cannot be applied (runtime_pod_resources.c). */
int pod_resources_check(const Runtime__V1__PodSandboxConfig *c, struct cleat_error **reterr);

/* The pod's own cgroup, hierarchy-relative: the directory its containers' cgroups go in ("/" without a parent). */
int pod_cgroup_path(struct runtime_service *rs, const char *parent, char **ret, struct cleat_error **reterr);
/*
 * RunPodSandbox: when the pod asks for resources (or has an overhead) and
 * its cgroup does not exist (cgroupfs driver), make it and write resources
 * + overhead into it: *ret_owned = 1, and the pod owns it from now on.  A
 * cgroup that exists, or no resources, is left alone (*ret_owned = 0).  On
 * failure nothing is left made.
 */
int pod_cgroup_claim(struct runtime_service *rs, const Runtime__V1__PodSandboxConfig *c, int *ret_owned,
                     struct cleat_error **reterr);
/* Write the resources + overhead of `c` into the pod's own cgroup again (an owned one: after an update). */
int pod_cgroup_resize(struct runtime_service *rs, const Runtime__V1__PodSandboxConfig *c, struct cleat_error **reterr);
/* Remove an owned pod cgroup from every hierarchy; one still in use stays, with a warning.  Absent is fine. */
void pod_cgroup_release(struct runtime_service *rs, const Runtime__V1__PodSandboxConfig *c);

#endif
