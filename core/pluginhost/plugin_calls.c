/* SPDX-License-Identifier: Apache-2.0 */
/* Typed plugin calls: a missing op is UNIMPLEMENTED, in one place (see plugin_calls.h). */
#include "plugin_calls.h"

#include <errno.h>
#include <string.h>

static int missing(const struct plugin_instance *pi, const char *op, struct cleat_error **reterr) {
    return error_set(reterr, CLEAT_STATUS_UNIMPLEMENTED, ENOSYS, "%s '%s' (plugin %s) cannot %s",
                     plugin_concern_name(pi->concern), pi->name, pi->desc ? pi->desc->name : "?", op);
}

int plugin_call_unimplemented(const struct cleat_error *err) {
    return err && error_status(err) == CLEAT_STATUS_UNIMPLEMENTED;
}

uint64_t plugin_runtime_features(const struct plugin_instance *pi) {
    return pi->ops.runtime.features ? pi->ops.runtime.features(pi->instance) : 0;
}

int plugin_runtime_status(struct plugin_instance *pi, struct cleat_error **reterr) {
    if (!pi->ops.runtime.status)
        return missing(pi, "status", reterr);
    return pi->ops.runtime.status(pi->instance, reterr);
}

int plugin_runtime_sandbox_create(struct plugin_instance *pi, const struct cleat_runtime_sandbox *sandbox,
                                  struct cleat_error **reterr) {
    if (!pi->ops.runtime.sandbox_create)
        return missing(pi, "sandbox_create", reterr);
    return pi->ops.runtime.sandbox_create(pi->instance, sandbox, reterr);
}

int plugin_runtime_sandbox_stop(struct plugin_instance *pi, const char *sandbox_id, struct cleat_error **reterr) {
    if (!pi->ops.runtime.sandbox_stop)
        return missing(pi, "sandbox_stop", reterr);
    return pi->ops.runtime.sandbox_stop(pi->instance, sandbox_id, reterr);
}

int plugin_runtime_sandbox_remove(struct plugin_instance *pi, const char *sandbox_id, struct cleat_error **reterr) {
    if (!pi->ops.runtime.sandbox_remove)
        return missing(pi, "sandbox_remove", reterr);
    return pi->ops.runtime.sandbox_remove(pi->instance, sandbox_id, reterr);
}

int plugin_runtime_create(struct plugin_instance *pi, const struct cleat_runtime_container *container,
                          struct cleat_error **reterr) {
    if (!pi->ops.runtime.create)
        return missing(pi, "create", reterr);
    return pi->ops.runtime.create(pi->instance, container, reterr);
}

int plugin_runtime_start(struct plugin_instance *pi, const char *container_id, uint32_t *ret_pid,
                         struct cleat_error **reterr) {
    if (!pi->ops.runtime.start)
        return missing(pi, "start", reterr);
    return pi->ops.runtime.start(pi->instance, container_id, ret_pid, reterr);
}

int plugin_runtime_kill(struct plugin_instance *pi, const char *container_id, const char *exec_id, int32_t signal,
                        uint32_t flags, struct cleat_error **reterr) {
    if (!pi->ops.runtime.kill)
        return missing(pi, "kill", reterr);
    return pi->ops.runtime.kill(pi->instance, container_id, exec_id, signal, flags, reterr);
}

int plugin_runtime_remove(struct plugin_instance *pi, const char *container_id, const char *exec_id,
                          struct cleat_error **reterr) {
    if (!pi->ops.runtime.remove)
        return missing(pi, "remove", reterr);
    return pi->ops.runtime.remove(pi->instance, container_id, exec_id, reterr);
}

int plugin_runtime_state(struct plugin_instance *pi, const char *container_id, const char *exec_id,
                         struct cleat_runtime_state *ret_state, struct cleat_error **reterr) {
    if (!pi->ops.runtime.state)
        return missing(pi, "state", reterr);
    return pi->ops.runtime.state(pi->instance, container_id, exec_id, ret_state, reterr);
}

int plugin_runtime_exec(struct plugin_instance *pi, const struct cleat_runtime_exec *exec, uint32_t *ret_pid,
                        struct cleat_error **reterr) {
    if (!pi->ops.runtime.exec)
        return missing(pi, "exec", reterr);
    return pi->ops.runtime.exec(pi->instance, exec, ret_pid, reterr);
}

int plugin_runtime_resize_pty(struct plugin_instance *pi, const char *container_id, const char *exec_id, uint32_t width,
                              uint32_t height, struct cleat_error **reterr) {
    if (!pi->ops.runtime.resize_pty)
        return missing(pi, "resize_pty", reterr);
    return pi->ops.runtime.resize_pty(pi->instance, container_id, exec_id, width, height, reterr);
}

int plugin_runtime_close_stdin(struct plugin_instance *pi, const char *container_id, const char *exec_id,
                               struct cleat_error **reterr) {
    if (!pi->ops.runtime.close_stdin)
        return missing(pi, "close_stdin", reterr);
    return pi->ops.runtime.close_stdin(pi->instance, container_id, exec_id, reterr);
}

int plugin_runtime_update(struct plugin_instance *pi, const char *container_id, const char *resources_json,
                          struct cleat_error **reterr) {
    if (!pi->ops.runtime.update)
        return missing(pi, "update", reterr);
    return pi->ops.runtime.update(pi->instance, container_id, resources_json, reterr);
}

int plugin_runtime_reopen_log(struct plugin_instance *pi, const char *container_id, struct cleat_error **reterr) {
    if (!pi->ops.runtime.reopen_log)
        return missing(pi, "reopen_log", reterr);
    return pi->ops.runtime.reopen_log(pi->instance, container_id, reterr);
}

int plugin_runtime_attach_address(struct plugin_instance *pi, const char *container_id, char *buf, uint64_t size,
                                  struct cleat_error **reterr) {
    if (!pi->ops.runtime.attach_address)
        return missing(pi, "attach_address", reterr);
    return pi->ops.runtime.attach_address(pi->instance, container_id, buf, size, reterr);
}

int plugin_runtime_stats(struct plugin_instance *pi, const char *container_id, struct cleat_runtime_stats *ret,
                         struct cleat_error **reterr) {
    if (!pi->ops.runtime.stats)
        return missing(pi, "stats", reterr);
    return pi->ops.runtime.stats(pi->instance, container_id, ret, reterr);
}

int plugin_runtime_sandbox_update(struct plugin_instance *pi, const char *sandbox_id, const char *resources_json,
                                  struct cleat_error **reterr) {
    if (!pi->ops.runtime.sandbox_update)
        return missing(pi, "sandbox_update", reterr);
    return pi->ops.runtime.sandbox_update(pi->instance, sandbox_id, resources_json, reterr);
}

int plugin_network_status(struct plugin_instance *pi, struct cleat_error **reterr) {
    if (!pi->ops.network.status)
        return missing(pi, "status", reterr);
    return pi->ops.network.status(pi->instance, reterr);
}

int plugin_network_setup(struct plugin_instance *pi, const struct cleat_network_pod *pod,
                         struct cleat_net_result *ret_result, struct cleat_error **reterr) {
    if (!pi->ops.network.setup)
        return missing(pi, "setup", reterr);
    return pi->ops.network.setup(pi->instance, pod, ret_result, reterr);
}

int plugin_network_teardown(struct plugin_instance *pi, const struct cleat_network_pod *pod,
                            struct cleat_error **reterr) {
    if (!pi->ops.network.teardown)
        return missing(pi, "teardown", reterr);
    return pi->ops.network.teardown(pi->instance, pod, reterr);
}

int plugin_network_update_pod_cidr(struct plugin_instance *pi, const char *pod_cidr, struct cleat_error **reterr) {
    if (!pi->ops.network.update_pod_cidr)
        return missing(pi, "update_pod_cidr", reterr);
    return pi->ops.network.update_pod_cidr(pi->instance, pod_cidr, reterr);
}

int plugin_snapshotter_prepare(struct plugin_instance *pi, const char *key, const char *parent,
                               const char *const *labels, struct cleat_mount_list *ret_mounts,
                               struct cleat_error **reterr) {
    if (!pi->ops.snapshotter.prepare)
        return missing(pi, "prepare", reterr);
    return pi->ops.snapshotter.prepare(pi->instance, key, parent, labels, ret_mounts, reterr);
}

int plugin_snapshotter_prepare_ahead(struct plugin_instance *pi, const char *key, const char *parent,
                                     const char *const *labels, struct cleat_mount_list *ret_mounts,
                                     struct cleat_error **reterr) {
    if (!pi->ops.snapshotter.prepare_ahead)
        return missing(pi, "prepare_ahead", reterr);
    return pi->ops.snapshotter.prepare_ahead(pi->instance, key, parent, labels, ret_mounts, reterr);
}

int plugin_snapshotter_view(struct plugin_instance *pi, const char *key, const char *parent, const char *const *labels,
                            struct cleat_mount_list *ret_mounts, struct cleat_error **reterr) {
    if (!pi->ops.snapshotter.view)
        return missing(pi, "view", reterr);
    return pi->ops.snapshotter.view(pi->instance, key, parent, labels, ret_mounts, reterr);
}

int plugin_snapshotter_commit(struct plugin_instance *pi, const char *name, const char *key, const char *const *labels,
                              struct cleat_error **reterr) {
    if (!pi->ops.snapshotter.commit)
        return missing(pi, "commit", reterr);
    return pi->ops.snapshotter.commit(pi->instance, name, key, labels, reterr);
}

int plugin_snapshotter_remove(struct plugin_instance *pi, const char *key, struct cleat_error **reterr) {
    if (!pi->ops.snapshotter.remove)
        return missing(pi, "remove", reterr);
    return pi->ops.snapshotter.remove(pi->instance, key, reterr);
}

int plugin_snapshotter_stat(struct plugin_instance *pi, const char *key, cleat_snapshot_fn fn, void *ctx,
                            struct cleat_error **reterr) {
    if (!pi->ops.snapshotter.stat)
        return missing(pi, "stat", reterr);
    return pi->ops.snapshotter.stat(pi->instance, key, fn, ctx, reterr);
}

int plugin_snapshotter_walk(struct plugin_instance *pi, cleat_snapshot_fn fn, void *ctx, struct cleat_error **reterr) {
    if (!pi->ops.snapshotter.walk)
        return missing(pi, "walk", reterr);
    return pi->ops.snapshotter.walk(pi->instance, fn, ctx, reterr);
}

int plugin_snapshotter_usage(struct plugin_instance *pi, const char *key, struct cleat_usage *ret_usage,
                             struct cleat_error **reterr) {
    if (!pi->ops.snapshotter.usage)
        return missing(pi, "usage", reterr);
    return pi->ops.snapshotter.usage(pi->instance, key, ret_usage, reterr);
}

int plugin_snapshotter_fs_usage(struct plugin_instance *pi, struct cleat_usage *ret_usage,
                                struct cleat_error **reterr) {
    if (!pi->ops.snapshotter.fs_usage)
        return missing(pi, "fs_usage", reterr);
    return pi->ops.snapshotter.fs_usage(pi->instance, ret_usage, reterr);
}

int plugin_transport_resolve(struct plugin_instance *pi, const struct cleat_transport_request *request,
                             cleat_resolved_fn fn, void *ctx, struct cleat_error **reterr) {
    if (!pi->ops.transport.resolve)
        return missing(pi, "resolve", reterr);
    return pi->ops.transport.resolve(pi->instance, request, fn, ctx, reterr);
}

int plugin_transport_fetch(struct plugin_instance *pi, const struct cleat_transport_request *request,
                           const struct cleat_descriptor *desc, struct cleat_blob_writer *writer,
                           struct cleat_error **reterr) {
    if (!pi->ops.transport.fetch)
        return missing(pi, "fetch", reterr);
    return pi->ops.transport.fetch(pi->instance, request, desc, writer, reterr);
}

int plugin_transport_reconfigure(struct plugin_instance *pi, const struct cleat_config *options,
                                 struct cleat_error **reterr) {
    if (!pi->ops.transport.reconfigure)
        return missing(pi, "reconfigure", reterr);
    return pi->ops.transport.reconfigure(pi->instance, options, reterr);
}

int plugin_validate_options(struct plugin_instance *pi, const struct cleat_config *options,
                            struct cleat_error **reterr) {
    if (!pi->desc || !pi->desc->validate)
        return 0;
    int r = pi->desc->validate(&pi->host, options, reterr);
    return r < 0 ? error_prefix(r, reterr, "%s", pi->log_prefix) : 0;
}

int plugin_has_op(const struct plugin_instance *pi, const char *name) {
    if (pi->concern == CLEAT_CONCERN_RUNTIME && strcmp(name, "status") == 0)
        return pi->ops.runtime.status != NULL;
    if (pi->concern == CLEAT_CONCERN_RUNTIME && strcmp(name, "sandbox_create") == 0)
        return pi->ops.runtime.sandbox_create != NULL;
    if (pi->concern == CLEAT_CONCERN_RUNTIME && strcmp(name, "sandbox_stop") == 0)
        return pi->ops.runtime.sandbox_stop != NULL;
    if (pi->concern == CLEAT_CONCERN_RUNTIME && strcmp(name, "sandbox_remove") == 0)
        return pi->ops.runtime.sandbox_remove != NULL;
    if (pi->concern == CLEAT_CONCERN_RUNTIME && strcmp(name, "create") == 0)
        return pi->ops.runtime.create != NULL;
    if (pi->concern == CLEAT_CONCERN_RUNTIME && strcmp(name, "start") == 0)
        return pi->ops.runtime.start != NULL;
    if (pi->concern == CLEAT_CONCERN_RUNTIME && strcmp(name, "kill") == 0)
        return pi->ops.runtime.kill != NULL;
    if (pi->concern == CLEAT_CONCERN_RUNTIME && strcmp(name, "remove") == 0)
        return pi->ops.runtime.remove != NULL;
    if (pi->concern == CLEAT_CONCERN_RUNTIME && strcmp(name, "state") == 0)
        return pi->ops.runtime.state != NULL;
    if (pi->concern == CLEAT_CONCERN_RUNTIME && strcmp(name, "exec") == 0)
        return pi->ops.runtime.exec != NULL;
    if (pi->concern == CLEAT_CONCERN_RUNTIME && strcmp(name, "resize_pty") == 0)
        return pi->ops.runtime.resize_pty != NULL;
    if (pi->concern == CLEAT_CONCERN_RUNTIME && strcmp(name, "close_stdin") == 0)
        return pi->ops.runtime.close_stdin != NULL;
    if (pi->concern == CLEAT_CONCERN_RUNTIME && strcmp(name, "update") == 0)
        return pi->ops.runtime.update != NULL;
    if (pi->concern == CLEAT_CONCERN_RUNTIME && strcmp(name, "reopen_log") == 0)
        return pi->ops.runtime.reopen_log != NULL;
    if (pi->concern == CLEAT_CONCERN_RUNTIME && strcmp(name, "attach_address") == 0)
        return pi->ops.runtime.attach_address != NULL;
    if (pi->concern == CLEAT_CONCERN_RUNTIME && strcmp(name, "stats") == 0)
        return pi->ops.runtime.stats != NULL;
    if (pi->concern == CLEAT_CONCERN_RUNTIME && strcmp(name, "sandbox_update") == 0)
        return pi->ops.runtime.sandbox_update != NULL;
    if (pi->concern == CLEAT_CONCERN_NETWORK && strcmp(name, "status") == 0)
        return pi->ops.network.status != NULL;
    if (pi->concern == CLEAT_CONCERN_NETWORK && strcmp(name, "setup") == 0)
        return pi->ops.network.setup != NULL;
    if (pi->concern == CLEAT_CONCERN_NETWORK && strcmp(name, "teardown") == 0)
        return pi->ops.network.teardown != NULL;
    if (pi->concern == CLEAT_CONCERN_NETWORK && strcmp(name, "update_pod_cidr") == 0)
        return pi->ops.network.update_pod_cidr != NULL;
    if (pi->concern == CLEAT_CONCERN_SNAPSHOTTER && strcmp(name, "prepare") == 0)
        return pi->ops.snapshotter.prepare != NULL;
    if (pi->concern == CLEAT_CONCERN_SNAPSHOTTER && strcmp(name, "prepare_ahead") == 0)
        return pi->ops.snapshotter.prepare_ahead != NULL;
    if (pi->concern == CLEAT_CONCERN_SNAPSHOTTER && strcmp(name, "view") == 0)
        return pi->ops.snapshotter.view != NULL;
    if (pi->concern == CLEAT_CONCERN_SNAPSHOTTER && strcmp(name, "commit") == 0)
        return pi->ops.snapshotter.commit != NULL;
    if (pi->concern == CLEAT_CONCERN_SNAPSHOTTER && strcmp(name, "remove") == 0)
        return pi->ops.snapshotter.remove != NULL;
    if (pi->concern == CLEAT_CONCERN_SNAPSHOTTER && strcmp(name, "stat") == 0)
        return pi->ops.snapshotter.stat != NULL;
    if (pi->concern == CLEAT_CONCERN_SNAPSHOTTER && strcmp(name, "walk") == 0)
        return pi->ops.snapshotter.walk != NULL;
    if (pi->concern == CLEAT_CONCERN_SNAPSHOTTER && strcmp(name, "usage") == 0)
        return pi->ops.snapshotter.usage != NULL;
    if (pi->concern == CLEAT_CONCERN_SNAPSHOTTER && strcmp(name, "fs_usage") == 0)
        return pi->ops.snapshotter.fs_usage != NULL;
    if (pi->concern == CLEAT_CONCERN_TRANSPORT && strcmp(name, "resolve") == 0)
        return pi->ops.transport.resolve != NULL;
    if (pi->concern == CLEAT_CONCERN_TRANSPORT && strcmp(name, "fetch") == 0)
        return pi->ops.transport.fetch != NULL;
    if (pi->concern == CLEAT_CONCERN_TRANSPORT && strcmp(name, "reconfigure") == 0)
        return pi->ops.transport.reconfigure != NULL;
    return 0;
}
