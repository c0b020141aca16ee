/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one way the core calls a plugin's ops: a typed function per op that
 * calls it on the instance, or, when the plugin does not have the op (an
 * optional op it left NULL, or an older minor ABI without it), fails with
 * UNIMPLEMENTED naming the instance and the op.  Callers that can do
 * without an op test plugin_call_unimplemented() on the error, or ask
 * plugin_has_op() first; nobody dereferences an op table itself.
 *
 * Each function behaves as the SDK header of its concern documents for the
 * op (called twice, on a missing object, after a restart): this layer adds
 * nothing but the missing-op answer.  `pi` must be an instance of the
 * function's concern.
 */
#ifndef CLEAT_CORE_PLUGIN_CALLS_H
#define CLEAT_CORE_PLUGIN_CALLS_H

#include <stdint.h>

#include "plugin_loader.h"

/* 1 when the error is the missing-op answer of this layer (or the plugin's own UNIMPLEMENTED). */
int plugin_call_unimplemented(const struct cleat_error *err);

/* Whether the instance has the op `name` of its concern ("kill", "usage"...); 0 for an unknown name. */
int plugin_has_op(const struct plugin_instance *pi, const char *name);

/* The runtime's CLEAT_RUNTIME_FEATURE_* bits; 0 when it does not report any. */
uint64_t plugin_runtime_features(const struct plugin_instance *pi);

/* --- runtime (cleat/runtime.h) --- */
int plugin_runtime_status(struct plugin_instance *pi, struct cleat_error **reterr);
int plugin_runtime_sandbox_create(struct plugin_instance *pi, const struct cleat_runtime_sandbox *sandbox,
                                  struct cleat_error **reterr);
int plugin_runtime_sandbox_stop(struct plugin_instance *pi, const char *sandbox_id, struct cleat_error **reterr);
int plugin_runtime_sandbox_remove(struct plugin_instance *pi, const char *sandbox_id, struct cleat_error **reterr);
int plugin_runtime_create(struct plugin_instance *pi, const struct cleat_runtime_container *container,
                          struct cleat_error **reterr);
int plugin_runtime_start(struct plugin_instance *pi, const char *container_id, uint32_t *ret_pid,
                         struct cleat_error **reterr);
int plugin_runtime_kill(struct plugin_instance *pi, const char *container_id, const char *exec_id, int32_t signal,
                        uint32_t flags, struct cleat_error **reterr);
int plugin_runtime_remove(struct plugin_instance *pi, const char *container_id, const char *exec_id,
                          struct cleat_error **reterr);
int plugin_runtime_state(struct plugin_instance *pi, const char *container_id, const char *exec_id,
                         struct cleat_runtime_state *ret_state, struct cleat_error **reterr);
int plugin_runtime_exec(struct plugin_instance *pi, const struct cleat_runtime_exec *exec, uint32_t *ret_pid,
                        struct cleat_error **reterr);
int plugin_runtime_resize_pty(struct plugin_instance *pi, const char *container_id, const char *exec_id, uint32_t width,
                              uint32_t height, struct cleat_error **reterr);
int plugin_runtime_close_stdin(struct plugin_instance *pi, const char *container_id, const char *exec_id,
                               struct cleat_error **reterr);
int plugin_runtime_update(struct plugin_instance *pi, const char *container_id, const char *resources_json,
                          struct cleat_error **reterr);
int plugin_runtime_reopen_log(struct plugin_instance *pi, const char *container_id, struct cleat_error **reterr);
int plugin_runtime_attach_address(struct plugin_instance *pi, const char *container_id, char *buf, uint64_t size,
                                  struct cleat_error **reterr);
/* ABI 1.1: a plugin built for 1.0 lacks these (UNIMPLEMENTED; callers test plugin_has_op first). */
int plugin_runtime_stats(struct plugin_instance *pi, const char *container_id, struct cleat_runtime_stats *ret,
                         struct cleat_error **reterr);
int plugin_runtime_sandbox_update(struct plugin_instance *pi, const char *sandbox_id, const char *resources_json,
                                  struct cleat_error **reterr);
/* --- network (cleat/network.h) --- */
int plugin_network_status(struct plugin_instance *pi, struct cleat_error **reterr);
int plugin_network_setup(struct plugin_instance *pi, const struct cleat_network_pod *pod,
                         struct cleat_net_result *ret_result, struct cleat_error **reterr);
int plugin_network_teardown(struct plugin_instance *pi, const struct cleat_network_pod *pod,
                            struct cleat_error **reterr);
int plugin_network_update_pod_cidr(struct plugin_instance *pi, const char *pod_cidr, struct cleat_error **reterr);
/* --- snapshotter (cleat/snapshotter.h) --- */
int plugin_snapshotter_prepare(struct plugin_instance *pi, const char *key, const char *parent,
                               const char *const *labels, struct cleat_mount_list *ret_mounts,
                               struct cleat_error **reterr);
int plugin_snapshotter_prepare_ahead(struct plugin_instance *pi, const char *key, const char *parent,
                                     const char *const *labels, struct cleat_mount_list *ret_mounts,
                                     struct cleat_error **reterr);
int plugin_snapshotter_view(struct plugin_instance *pi, const char *key, const char *parent, const char *const *labels,
                            struct cleat_mount_list *ret_mounts, struct cleat_error **reterr);
int plugin_snapshotter_commit(struct plugin_instance *pi, const char *name, const char *key, const char *const *labels,
                              struct cleat_error **reterr);
int plugin_snapshotter_remove(struct plugin_instance *pi, const char *key, struct cleat_error **reterr);
int plugin_snapshotter_stat(struct plugin_instance *pi, const char *key, cleat_snapshot_fn fn, void *ctx,
                            struct cleat_error **reterr);
int plugin_snapshotter_walk(struct plugin_instance *pi, cleat_snapshot_fn fn, void *ctx, struct cleat_error **reterr);
int plugin_snapshotter_usage(struct plugin_instance *pi, const char *key, struct cleat_usage *ret_usage,
                             struct cleat_error **reterr);
int plugin_snapshotter_fs_usage(struct plugin_instance *pi, struct cleat_usage *ret_usage, struct cleat_error **reterr);
/* --- transport (cleat/transport.h) --- */
int plugin_transport_resolve(struct plugin_instance *pi, const struct cleat_transport_request *request,
                             cleat_resolved_fn fn, void *ctx, struct cleat_error **reterr);
int plugin_transport_fetch(struct plugin_instance *pi, const struct cleat_transport_request *request,
                           const struct cleat_descriptor *desc, struct cleat_blob_writer *writer,
                           struct cleat_error **reterr);
/* New options for a running transport (ABI 1.4); UNIMPLEMENTED when it cannot take them without a restart. */
int plugin_transport_reconfigure(struct plugin_instance *pi, const struct cleat_config *options,
                                 struct cleat_error **reterr);

/* --- any concern --- */
/*
 * The plugin's validate() on `options` (no side effects), as start-up and
 * --check-config run it; 0 when the plugin has no validate().  The error is
 * prefixed with the instance ("transport 'registry': ...").
 */
int plugin_validate_options(struct plugin_instance *pi, const struct cleat_config *options,
                            struct cleat_error **reterr);

#endif
