/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host table handed to every plugin instance: the only way a plugin
 * reaches cleatd (it links against nothing of ours).
 */
#include <stdarg.h>

#include "builders.h"
#include "config_tree.h"
#include "log.h"
#include "plugin_loader.h"

static struct plugin_instance *instance_of(const struct cleat_host *host) {
    return host->host_data;
}

__attribute__((format(printf, 3, 4))) static void host_log(const struct cleat_host *host, int32_t level,
                                                           const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, instance_of(host)->log_prefix, fmt, ap);
    va_end(ap);
}

/* The SDK's error_free returns nothing; the core's returns NULL. */
static void host_error_free(struct cleat_error *err) {
    error_free(err);
}

static int32_t host_log_enabled(const struct cleat_host *host, int32_t level) {
    return log_enabled(level);
}

static const char *host_root_dir(const struct cleat_host *host) {
    return instance_of(host)->root_dir;
}

static const char *host_state_dir(const struct cleat_host *host) {
    return instance_of(host)->state_dir;
}

static const char *host_instance_name(const struct cleat_host *host) {
    return instance_of(host)->name;
}

static void host_runtime_exit(const struct cleat_host *host, const char *container_id, const char *exec_id,
                              uint32_t pid, int32_t exit_status, int64_t exited_at_ns) {
    struct plugin_instance *pi = instance_of(host);
    log_msg(CLEAT_LOG_DEBUG, pi->log_prefix, "exit of %s%s%s pid %u status %d", container_id ? container_id : "?",
            exec_id ? " exec " : "", exec_id ? exec_id : "", pid, exit_status);
    struct plugins *p = pi->owner;
    if (p && p->on_exit)
        p->on_exit(p->on_exit_ctx, pi, container_id, exec_id, pid, exit_status, exited_at_ns);
}

void plugin_host_init(struct cleat_host *host, struct plugin_instance *pi, struct plugins *owner) {
    pi->owner = owner;
    *host = (struct cleat_host){
        .abi_major = CLEAT_ABI_MAJOR,
        .abi_minor = CLEAT_ABI_MINOR,
        .struct_size = sizeof(struct cleat_host),
        .host_data = pi,
        .log = host_log,
        .log_enabled = host_log_enabled,
        .error_new = error_new,
        .error_wrap = error_wrap,
        .error_free = host_error_free,
        .error_status = error_status,
        .error_errno = error_errno,
        .error_message = error_message,
        .config_kind = config_kind,
        .config_scalar0 = config_scalar0,
        .config_count = config_count,
        .config_key0 = config_key0,
        .config_at0 = config_at0,
        .config_get0 = config_get0,
        .config_where = config_where,
        .config_check_keys = config_check_keys,
        .config_get_string = config_get_string,
        .config_get_int = config_get_int,
        .config_get_bool = config_get_bool,
        .root_dir = host_root_dir,
        .state_dir = host_state_dir,
        .instance_name = host_instance_name,
        .mount_add = mount_list_add,
        .blob_write = blob_writer_write,
        .blob_offset = blob_writer_offset,
        .net_result_add_ip = net_result_add_ip,
        .runtime_exit = host_runtime_exit,
        .error_vnew = error_vnew,
        .blob_cancelled = blob_writer_cancelled,
    };
}
