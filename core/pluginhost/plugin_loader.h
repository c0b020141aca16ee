/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading plugins and keeping their named instances.
 *
 * Every instance configured in cleat.yaml (runtime handlers, the
 * snapshotter, transports, the network) names a plugin file; the file is
 * opened once with libltdl (local symbol scope, resident: plugins are never
 * unloaded), its `cleat_plugin` descriptor is checked (magic, ABI major and
 * minor, descriptor size, concern) before anything else in it is touched,
 * and then init() is called with the instance's options.  All of this runs
 * on the main thread before any worker starts.
 */
#ifndef CLEAT_CORE_PLUGIN_LOADER_H
#define CLEAT_CORE_PLUGIN_LOADER_H

#include <cleat/network.h>
#include <cleat/plugin.h>
#include <cleat/runtime.h>
#include <cleat/snapshotter.h>
#include <cleat/transport.h>

#include "config.h"
#include "error.h"

struct plugins;

struct plugin_instance {
    uint32_t concern;
    const char *name;                   /* borrowed from the config */
    char *file;                         /* the shared object it came from */
    const struct cleat_plugin *desc;    /* in the shared object */
    const struct config_instance *conf; /* borrowed from the config */
    void *instance;                     /* from desc->init(); NULL until initialised */
    struct cleat_host host;             /* this instance's copy of the host table */
    char *root_dir, *state_dir;
    char *log_prefix;      /* "runtime 'runc'" */
    struct plugins *owner; /* the set this instance belongs to */
    /*
     * The concern's ops, copied into a zeroed table of the host's size:
     * slots past the plugin's ops_size (an older minor) read as NULL.
     */
    union {
        struct cleat_runtime_ops runtime;
        struct cleat_snapshotter_ops snapshotter;
        struct cleat_transport_ops transport;
        struct cleat_network_ops network;
    } ops;
};

/* Called when a runtime reports an exit (cleat_host.runtime_exit). */
typedef void (*plugin_exit_fn)(void *ctx, const struct plugin_instance *pi, const char *container_id,
                               const char *exec_id, uint32_t pid, int32_t exit_status, int64_t exited_at_ns);

struct plugins {
    struct plugin_instance **items;
    size_t n;
    plugin_exit_fn on_exit;
    void *on_exit_ctx;
};

/* How far plugins_load() goes. */
#define PLUGINS_VALIDATE 0 /* open, check the ABI, call validate(): for --check-config, no side effects */
#define PLUGINS_INIT 1     /* ... and create the instances (dirs under root_dir/state_dir, init()) */

/*
 * Load every instance of `cfg`.  On failure nothing stays initialised and
 * the error names the instance, the config location and the file.
 */
int plugins_load(const struct config *cfg, int mode, struct plugins **ret, struct cleat_error **reterr);
/* fini() every instance (in reverse order) and free; shared objects stay mapped.  NULL-safe. */
void plugins_free(struct plugins *p);
/* The instance of `concern` named `name`, or NULL. */
struct plugin_instance *plugins_find(const struct plugins *p, uint32_t concern, const char *name);
/* The first instance of `concern` (the snapshotter, the network), or NULL. */
struct plugin_instance *plugins_first(const struct plugins *p, uint32_t concern);

/*
 * Check a descriptor against the host's ABI; `sym_size` is the size of the
 * exported symbol (0 if unknown).  Names the file and the first field that
 * differs, with both values.  Exposed for the unit tests.
 */
int plugin_check_descriptor(const struct cleat_plugin *desc, size_t sym_size, const char *file, uint16_t host_major,
                            uint16_t host_minor, struct cleat_error **reterr);

/* "runtime", "snapshotter", "transport", "network", or "unknown". */
const char *plugin_concern_name(uint32_t concern);
/* The size of the host's ops table for a concern (0 for an unknown one). */
size_t plugin_ops_size(uint32_t concern);

/* Fill `host` with the host table for instance `pi` (plugin_host.c). */
void plugin_host_init(struct cleat_host *host, struct plugin_instance *pi, struct plugins *owner);

#endif
