/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cleat plugin SDK: the plugin descriptor and the host table.
 *
 * A plugin is a shared object that exports exactly one data symbol,
 * `cleat_plugin`, of type `const struct cleat_plugin` (use CLEAT_PLUGIN_DEFINE).
 * It names the plugin's concern (runtime, snapshotter, transport or network),
 * its name and version, the SDK ABI it was built against, an init/fini pair
 * that creates and destroys *instances*, and the concern's ops table.  One
 * plugin file can be instantiated several times with different options (the
 * runtime handlers `runc` and `crun` from one runtime-runc.so).
 *
 * The plugin never references a symbol of cleatd: everything it needs from
 * the host (logging, errors, config, builders, events) comes through the
 * `const struct cleat_host *` given to init().  Build plugins with
 * `-fvisibility=hidden -Wl,-z,defs -Wl,-z,now` (pkg-config cleat-plugin says
 * so); only `cleat_plugin` is exported.
 *
 * ABI rules (checked by the host before anything else is read):
 *   - `magic` must be CLEAT_PLUGIN_MAGIC;
 *   - a different `abi_major` is refused;
 *   - an `abi_minor` newer than the host's is refused;
 *   - an older `abi_minor` is accepted: ops slots past the plugin's
 *     `ops_size` read as NULL, and a NULL op answers UNIMPLEMENTED.
 * Within one major, fields and ops are only ever appended.  Plugins are
 * loaded once, at start-up, and never unloaded.
 *
 * Changelog of the ABI (newest first):
 *   1.5  2026-12-08  snapshotter: prepare_ahead, so that the core unpacks
 *                    the layers of an image in parallel (an overlay upper
 *                    directory needs nothing of its parent's files).
 *   1.4  2026-12-08  transport: reconfigure, so that a transport takes new
 *                    options (registry mirrors, TLS files) when cleatd
 *                    reloads its configuration on SIGHUP, without a restart.
 *   1.3  2026-12-07  host table: blob_cancelled, so that a transport
 *                    blocked on a stalled download stops when the core
 *                    cancels the pull (no progress, or its client left).
 *   1.2  2026-12-07  runtime: struct cleat_runtime_container gains io_uid
 *                    and io_gid (the host ids of the root of a pod with its
 *                    own user namespace); CLEAT_RUNTIME_FEATURE_USER_NAMESPACES
 *                    says what a runtime that sets it is given;
 *                    CLEAT_RUNTIME_FEATURE_GUEST_NETWORK, and struct
 *                    cleat_runtime_stats gains memory_limit_bytes.
 *   1.1  2026-12-06  runtime: feature bits ROOTFS_MOUNTS and SANDBOX_TASK,
 *                    struct cleat_runtime_sandbox gains resources_json and
 *                    overhead_json, struct cleat_runtime_ops gains stats
 *                    (with struct cleat_runtime_stats) and sandbox_update:
 *                    what a containerd shim v2 runtime (a VM) needs.
 *   1.0  2026-11-22  first version: descriptor, host table (error_vnew
 *                    appended before release), runtime, snapshotter,
 *                    transport and network ops.
 */
#ifndef CLEAT_PLUGIN_H
#define CLEAT_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cleat/config.h>
#include <cleat/error.h>
#include <cleat/mount.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLEAT_PLUGIN_MAGIC 0x434c4541u /* "CLEA" */
#define CLEAT_ABI_MAJOR 1
#define CLEAT_ABI_MINOR 5

/* The name of the one symbol a plugin exports. */
#define CLEAT_PLUGIN_SYMBOL "cleat_plugin"

/* Concerns, the `concern` field of the descriptor. */
#define CLEAT_CONCERN_RUNTIME 1
#define CLEAT_CONCERN_SNAPSHOTTER 2
#define CLEAT_CONCERN_TRANSPORT 3
#define CLEAT_CONCERN_NETWORK 4

/* Log levels: syslog priorities, so that journald can read them as is. */
#define CLEAT_LOG_ERROR 3
#define CLEAT_LOG_WARNING 4
#define CLEAT_LOG_NOTICE 5
#define CLEAT_LOG_INFO 6
#define CLEAT_LOG_DEBUG 7

#if defined(__GNUC__)
#define CLEAT_PLUGIN_EXPORT __attribute__((visibility("default")))
#define CLEAT_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CLEAT_PLUGIN_EXPORT
#define CLEAT_PRINTF(fmt, args)
#endif

/* A compile-time check that works in C99, C11 and C++ alike. */
#define CLEAT_STATIC_ASSERT_(cond, line) typedef char cleat_static_assert_##line[(cond) ? 1 : -1]
#define CLEAT_STATIC_ASSERT__(cond, line) CLEAT_STATIC_ASSERT_(cond, line)
#define CLEAT_STATIC_ASSERT(cond) CLEAT_STATIC_ASSERT__(cond, __LINE__)
/* The same with a name of its own, for the other SDK headers: their line numbers may meet plugin.h's. */
#define CLEAT_STATIC_ASSERT_NAMED(cond, name) typedef char cleat_static_assert_##name[(cond) ? 1 : -1]

/* Host-owned builders that plugins append to; see the concern headers. */
struct cleat_mount_list;
struct cleat_blob_writer;
struct cleat_net_result;

/*
 * The host table.  Every instance gets its own copy (so that `log` can name
 * the instance); pass the pointer you were given back to the functions that
 * take one.  The table outlives the instance.  A plugin built against an
 * older minor sees a prefix of this struct; check `struct_size` before using
 * a member added in a later minor.
 */
struct cleat_host {
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t struct_size;
    void *host_data; /* the host's own; do not touch */

    /* --- logging ------------------------------------------------------- */

    /* Log a message at `level` (CLEAT_LOG_*), prefixed with the instance name. */
    void (*log)(const struct cleat_host *host, int32_t level, const char *fmt, ...) CLEAT_PRINTF(3, 4);
    /* Non-zero when a message at `level` would be written (skip costly formatting). */
    int32_t (*log_enabled)(const struct cleat_host *host, int32_t level);

    /* --- errors (see error.h) ------------------------------------------ */

    /* A new error with a status (CLEAT_STATUS_*), an errno (0 if none) and a message. */
    struct cleat_error *(*error_new)(int32_t status, int32_t errnum, const char *fmt, ...)CLEAT_PRINTF(3, 4);
    /* Prefix `err`'s message with context ("<context>: <message>"); returns err.  NULL-safe. */
    struct cleat_error *(*error_wrap)(struct cleat_error *err, const char *fmt, ...)CLEAT_PRINTF(2, 3);
    /* Free an error; NULL-safe. */
    void (*error_free)(struct cleat_error *err);
    /* Read an error's status, errno and message (borrowed, valid until freed or wrapped). */
    int32_t (*error_status)(const struct cleat_error *err);
    int32_t (*error_errno)(const struct cleat_error *err);
    const char *(*error_message)(const struct cleat_error *err);

    /* --- configuration (see config.h) ---------------------------------- */

    /* The kind of a node: CLEAT_CONFIG_ABSENT/NULL/SCALAR/MAP/SEQ. */
    uint32_t (*config_kind)(const struct cleat_config *node);
    /* The text of a scalar node, or NULL for any other kind. */
    const char *(*config_scalar0)(const struct cleat_config *node);
    /* The number of entries of a map or sequence; 0 for other kinds. */
    uint64_t (*config_count)(const struct cleat_config *node);
    /* The key of a map's `index`th entry (in file order), or NULL. */
    const char *(*config_key0)(const struct cleat_config *node, uint64_t index);
    /* A map's value or a sequence's item at `index`, or NULL. */
    const struct cleat_config *(*config_at0)(const struct cleat_config *node, uint64_t index);
    /* A map's value for `key`, or NULL when absent or `node` is not a map. */
    const struct cleat_config *(*config_get0)(const struct cleat_config *node, const char *key);
    /* Writes "file:line:column" of a node into buf (always NUL-terminated); returns its length. */
    int32_t (*config_where)(const struct cleat_config *node, char *buf, uint64_t size);
    /*
     * Fails with INVALID_ARGUMENT, naming file:line:column, when `node` is not a
     * map or has a key not in the NULL-terminated `allowed` list.  Unknown keys
     * are errors in cleat, never silently ignored.
     */
    int (*config_check_keys)(const struct cleat_config *node, const char *const *allowed, struct cleat_error **reterr);
    /*
     * Typed getters for the value of `key` in map `node`.  An absent key (or
     * explicit null) yields the default; a value of the wrong type or out of
     * range fails with INVALID_ARGUMENT naming file:line:column.  Strings are
     * borrowed from the tree.  Booleans accept true/false/yes/no/on/off.
     */
    int (*config_get_string)(const struct cleat_config *node, const char *key, const char *def, const char **ret,
                             struct cleat_error **reterr);
    int (*config_get_int)(const struct cleat_config *node, const char *key, int64_t def, int64_t min, int64_t max,
                          int64_t *ret, struct cleat_error **reterr);
    int (*config_get_bool)(const struct cleat_config *node, const char *key, int32_t def, int32_t *ret,
                           struct cleat_error **reterr);

    /* --- places on disk ------------------------------------------------ */

    /* This instance's persistent directory (<root_dir>/plugins/<concern>/<instance>), created. */
    const char *(*root_dir)(const struct cleat_host *host);
    /* This instance's volatile directory (<state_dir>/plugins/<concern>/<instance>), created. */
    const char *(*state_dir)(const struct cleat_host *host);
    /* The instance's name as configured (e.g. the runtime handler name). */
    const char *(*instance_name)(const struct cleat_host *host);

    /* --- builders ------------------------------------------------------ */

    /* Append a mount (options NULL-terminated, may be NULL) to a host-owned list. */
    int (*mount_add)(struct cleat_mount_list *list, const char *type, const char *source, const char *target,
                     const char *const *options, struct cleat_error **reterr);
    /* Append bytes to a blob being fetched; the host hashes and verifies them. */
    int (*blob_write)(struct cleat_blob_writer *writer, const void *data, uint64_t len, struct cleat_error **reterr);
    /* Bytes already in the writer (non-zero when the host resumes a partial download). */
    uint64_t (*blob_offset)(const struct cleat_blob_writer *writer);
    /* Record an address (CIDR form, "10.1.0.5/24" or "fd00::5/64") a pod got on `ifname`. */
    int (*net_result_add_ip)(struct cleat_net_result *result, const char *ifname, const char *address,
                             const char *gateway, struct cleat_error **reterr);

    /* --- events -------------------------------------------------------- */

    /*
     * A runtime reports that a container's init process (exec_id NULL) or an
     * exec'd process exited.  May be called from any thread of the plugin.
     */
    void (*runtime_exit)(const struct cleat_host *host, const char *container_id, const char *exec_id, uint32_t pid,
                         int32_t exit_status, int64_t exited_at_ns);

    /* --- errors, continued --------------------------------------------- */

    /* error_new() with a va_list, for a plugin's own printf-like helpers (see cleat_error_set). */
    struct cleat_error *(*error_vnew)(int32_t status, int32_t errnum, const char *fmt, va_list ap)CLEAT_PRINTF(3, 0);

    /* --- builders, continued (ABI 1.3) --------------------------------- */

    /*
     * Non-zero once the host no longer wants the blob `writer` fetches: the
     * pull was cancelled (no progress for too long, or its client went
     * away).  blob_write() then fails too, but a transport waiting for bytes
     * that do not come should poll this (about once a second) and return at
     * once, with any error: the core reports its own reason.  Cheap, safe
     * from any thread.
     */
    int32_t (*blob_cancelled)(const struct cleat_blob_writer *writer);
};

/*
 * The descriptor.  The first four fields "protect the rest": the host reads
 * them before anything else and refuses the plugin if they do not match.
 */
struct cleat_plugin {
    uint32_t magic;       /* CLEAT_PLUGIN_MAGIC */
    uint16_t abi_major;   /* CLEAT_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;   /* CLEAT_ABI_MINOR the plugin was built with */
    uint32_t struct_size; /* sizeof(struct cleat_plugin) as the plugin saw it */
    uint32_t concern;     /* CLEAT_CONCERN_* */
    const char *name;     /* e.g. "runtime-runc"; [a-z0-9-]+ */
    const char *version;  /* the plugin's own version, free-form */
    const char *description;

    /*
     * Optional (may be NULL): check `options` without side effects, for
     * `cleatd --check-config`.  Unknown keys must be reported.
     */
    int (*validate)(const struct cleat_host *host, const struct cleat_config *options, struct cleat_error **reterr);
    /*
     * Create an instance from its `options` subtree.  `host` and `options`
     * stay valid until fini().  Called once per configured instance, before
     * cleatd serves any request, from the main thread.  It also runs after a
     * crash of cleatd: pick up what the previous instance left under
     * root_dir()/state_dir() and clear what an interrupted operation left
     * half-made.  Fail (a clear error) rather than start without what the
     * options ask for; cleatd then does not start.
     */
    int (*init)(const struct cleat_host *host, const struct cleat_config *options, void **ret_instance,
                struct cleat_error **reterr);
    /*
     * Destroy an instance made by init(); called once, at a clean shutdown,
     * never after a crash: nothing may depend on it having run.  It must not
     * stop containers, pods or networks, which outlive cleatd.
     */
    void (*fini)(void *instance);

    /* The concern's ops table (struct cleat_runtime_ops, ...), and its sizeof. */
    const void *ops;
    uint64_t ops_size;
};

CLEAT_STATIC_ASSERT(offsetof(struct cleat_plugin, magic) == 0);
CLEAT_STATIC_ASSERT(offsetof(struct cleat_plugin, abi_major) == 4);
CLEAT_STATIC_ASSERT(offsetof(struct cleat_plugin, abi_minor) == 6);
CLEAT_STATIC_ASSERT(offsetof(struct cleat_plugin, struct_size) == 8);
CLEAT_STATIC_ASSERT(offsetof(struct cleat_plugin, concern) == 12);
CLEAT_STATIC_ASSERT(offsetof(struct cleat_plugin, name) == 16);
CLEAT_STATIC_ASSERT(offsetof(struct cleat_plugin, validate) == 40);
CLEAT_STATIC_ASSERT(offsetof(struct cleat_plugin, ops) == 64);
CLEAT_STATIC_ASSERT(sizeof(struct cleat_plugin) == 72 + sizeof(uint64_t));
CLEAT_STATIC_ASSERT(offsetof(struct cleat_host, host_data) == 8);
CLEAT_STATIC_ASSERT(offsetof(struct cleat_host, log) == 16);

/*
 * Define the exported descriptor.  Positional, so that it compiles as C and
 * as C++.  `ops_` is the name of a static ops table of the concern's type.
 */
#define CLEAT_PLUGIN_DEFINE(concern_, name_, version_, description_, validate_, init_, fini_, ops_)                    \
    CLEAT_PLUGIN_EXPORT extern const struct cleat_plugin cleat_plugin;                                                 \
    const struct cleat_plugin cleat_plugin = {CLEAT_PLUGIN_MAGIC,                                                      \
                                              CLEAT_ABI_MAJOR,                                                         \
                                              CLEAT_ABI_MINOR,                                                         \
                                              (uint32_t)sizeof(struct cleat_plugin),                                   \
                                              (concern_),                                                              \
                                              (name_),                                                                 \
                                              (version_),                                                              \
                                              (description_),                                                          \
                                              (validate_),                                                             \
                                              (init_),                                                                 \
                                              (fini_),                                                                 \
                                              &(ops_),                                                                 \
                                              (uint64_t)sizeof(ops_)}

/* Convenience: log through the host table. */
#define cleat_log(host, level, ...) ((host)->log((host), (level), __VA_ARGS__))

/*
 * Convenience: the usual failure path of an op in one call.  Sets *reterr
 * (when reterr is not NULL) to a new error and returns the negative errno to
 * hand back, -(errnum ? errnum : EINVAL) with EINVAL as 22.
 */
static inline int cleat_error_vset(const struct cleat_host *host, struct cleat_error **reterr, int32_t status,
                                   int32_t errnum, const char *fmt, va_list ap) CLEAT_PRINTF(5, 0);
static inline int cleat_error_vset(const struct cleat_host *host, struct cleat_error **reterr, int32_t status,
                                   int32_t errnum, const char *fmt, va_list ap) {
    if (reterr)
        *reterr = host->error_vnew(status, errnum, fmt, ap);
    return errnum > 0 ? -errnum : -22;
}

static inline int cleat_error_set(const struct cleat_host *host, struct cleat_error **reterr, int32_t status,
                                  int32_t errnum, const char *fmt, ...) CLEAT_PRINTF(5, 6);
static inline int cleat_error_set(const struct cleat_host *host, struct cleat_error **reterr, int32_t status,
                                  int32_t errnum, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = cleat_error_vset(host, reterr, status, errnum, fmt, ap);
    va_end(ap);
    return r;
}

/*
 * Convenience: refuse an option.  INVALID_ARGUMENT whose message starts with
 * the config file, line and column of `node` (the value at fault), so that
 * plugin options are reported like the core's own settings.  Returns -EINVAL.
 */
static inline int cleat_config_error(const struct cleat_host *host, const struct cleat_config *node,
                                     struct cleat_error **reterr, const char *fmt, ...) CLEAT_PRINTF(4, 5);
static inline int cleat_config_error(const struct cleat_host *host, const struct cleat_config *node,
                                     struct cleat_error **reterr, const char *fmt, ...) {
    char where[256], msg[512];
    va_list ap;
    host->config_where(node, where, sizeof(where));
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cleat_error_set(host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, 22 /* EINVAL */, "%s: %s", where, msg);
}

#ifdef __cplusplus
}
#endif

#endif /* CLEAT_PLUGIN_H */
