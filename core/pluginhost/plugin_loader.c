/* SPDX-License-Identifier: Apache-2.0 */
#include "plugin_loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <ltdl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_tree.h"
#include "fsutil.h"
#include "log.h"

const char *plugin_concern_name(uint32_t concern) {
    switch (concern) {
    case CLEAT_CONCERN_RUNTIME:
        return "runtime";
    case CLEAT_CONCERN_SNAPSHOTTER:
        return "snapshotter";
    case CLEAT_CONCERN_TRANSPORT:
        return "transport";
    case CLEAT_CONCERN_NETWORK:
        return "network";
    default:
        return "unknown";
    }
}

size_t plugin_ops_size(uint32_t concern) {
    switch (concern) {
    case CLEAT_CONCERN_RUNTIME:
        return sizeof(struct cleat_runtime_ops);
    case CLEAT_CONCERN_SNAPSHOTTER:
        return sizeof(struct cleat_snapshotter_ops);
    case CLEAT_CONCERN_TRANSPORT:
        return sizeof(struct cleat_transport_ops);
    case CLEAT_CONCERN_NETWORK:
        return sizeof(struct cleat_network_ops);
    default:
        return 0;
    }
}

int plugin_check_descriptor(const struct cleat_plugin *d, size_t sym_size, const char *file, uint16_t host_major,
                            uint16_t host_minor, struct cleat_error **reterr) {
    /* Magic, major and minor "protect the rest": nothing past them is read until they match. */
    if (sym_size && sym_size < offsetof(struct cleat_plugin, concern))
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOEXEC,
                         "plugin %s: its cleat_plugin symbol is %zu bytes, too small to be a descriptor", file,
                         sym_size);
    if (d->magic != CLEAT_PLUGIN_MAGIC)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOEXEC,
                         "plugin %s: bad magic 0x%08x in cleat_plugin (expected 0x%08x): not a cleat plugin", file,
                         d->magic, CLEAT_PLUGIN_MAGIC);
    if (d->abi_major != host_major)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOEXEC,
                         "plugin %s was built for plugin ABI %u.%u, but this cleatd speaks ABI %u.%u: a different "
                         "major version cannot be loaded; rebuild the plugin against this cleatd's SDK",
                         file, d->abi_major, d->abi_minor, host_major, host_minor);
    if (d->abi_minor > host_minor)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOEXEC,
                         "plugin %s was built for plugin ABI %u.%u, newer than this cleatd's ABI %u.%u; upgrade "
                         "cleatd or rebuild the plugin against its SDK",
                         file, d->abi_major, d->abi_minor, host_major, host_minor);
    if (d->struct_size < sizeof(struct cleat_plugin) || (sym_size && sym_size < sizeof(struct cleat_plugin)))
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOEXEC,
                         "plugin %s: descriptor struct_size is %u bytes, ABI %u.%u needs %zu", file, d->struct_size,
                         d->abi_major, d->abi_minor, sizeof(struct cleat_plugin));
    if (!d->name || !*d->name)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOEXEC, "plugin %s: descriptor has no name", file);
    if (!d->init || !d->fini)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOEXEC,
                         "plugin %s (%s): descriptor has no %s function", file, d->name, d->init ? "fini" : "init");
    if (!d->ops)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOEXEC, "plugin %s (%s): descriptor has no ops",
                         file, d->name);
    return 0;
}

/* libltdl keeps global state; it is set up once for the process. */
static pthread_once_t ltdl_once = PTHREAD_ONCE_INIT;
static int ltdl_ready;

static void ltdl_setup(void) {
    ltdl_ready = lt_dlinit() == 0;
}

/*
 * libltdl reports any dlopen failure as "file not found"; ask the dynamic
 * linker itself for the real reason (an undefined symbol, a wrong ELF class).
 */
static int explain_dlopen_failure(const char *file, struct cleat_error **reterr) {
    void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    const char *why = h ? lt_dlerror() : dlerror();
    if (h)
        dlclose(h);
    return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOEXEC, "cannot load plugin %s: %s", file,
                     why ? why : "unknown error");
}

/* Open one shared object and find its checked descriptor. */
static int open_plugin(const char *file, const struct cleat_plugin **ret, struct cleat_error **reterr) {
    pthread_once(&ltdl_once, ltdl_setup);
    if (!ltdl_ready)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EIO, "cannot initialise libltdl");
    lt_dladvise advise;
    if (lt_dladvise_init(&advise) || lt_dladvise_ext(&advise) || lt_dladvise_local(&advise) ||
        lt_dladvise_resident(&advise)) {
        lt_dladvise_destroy(&advise);
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EIO, "cannot set up libltdl: %s", lt_dlerror());
    }
    lt_dlhandle h = lt_dlopenadvise(file, advise);
    lt_dladvise_destroy(&advise);
    if (!h)
        return explain_dlopen_failure(file, reterr);
    const struct cleat_plugin *d = lt_dlsym(h, CLEAT_PLUGIN_SYMBOL);
    if (!d)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOEXEC,
                         "plugin %s exports no '%s' symbol: not a cleat plugin", file, CLEAT_PLUGIN_SYMBOL);
    /* The symbol's size, when the ELF says it, guards the very first reads. */
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    size_t sym_size = 0;
    if (dladdr1(d, &info, (void **)&sym, RTLD_DL_SYMENT) && sym)
        sym_size = sym->st_size;
    int r = plugin_check_descriptor(d, sym_size, file, CLEAT_ABI_MAJOR, CLEAT_ABI_MINOR, reterr);
    if (r < 0)
        return r;
    *ret = d;
    return 0;
}

/* The plugin's file: `path:` if given, else <dir>/<plugin>.so in the first plugin dir that has it. */
static int find_plugin_file(const struct config *cfg, const struct config_instance *ci, char **ret,
                            struct cleat_error **reterr) {
    if (ci->path) {
        if (access(ci->path, R_OK) < 0)
            return error_set(reterr, CLEAT_STATUS_NOT_FOUND, errno, "plugin file %s: %s", ci->path, strerror(errno));
        *ret = strdup(ci->path);
        return *ret ? 0 : error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    size_t searched_len = 0;
    char searched[1024] = "";
    for (char **dir = cfg->plugin_dirs; dir && *dir; dir++) {
        char *file = NULL;
        if (asprintf(&file, "%s/%s.so", *dir, ci->plugin) < 0)
            return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        if (access(file, R_OK) == 0) {
            *ret = file;
            return 0;
        }
        free(file);
        if (searched_len < sizeof(searched))
            searched_len += (size_t)snprintf(searched + searched_len, sizeof(searched) - searched_len, "%s%s",
                                             searched_len ? ", " : "", *dir);
    }
    return error_set(reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "plugin '%s' not found (searched %s)", ci->plugin,
                     searched_len ? searched : "no plugin_dirs");
}

static void instance_free(struct plugin_instance *pi) {
    if (!pi)
        return;
    if (pi->instance && pi->desc)
        pi->desc->fini(pi->instance);
    free(pi->file);
    free(pi->root_dir);
    free(pi->state_dir);
    free(pi->log_prefix);
    free(pi);
}

static int make_instance_dirs(const struct config *cfg, struct plugin_instance *pi, struct cleat_error **reterr) {
    const char *concern = plugin_concern_name(pi->concern);
    if (asprintf(&pi->root_dir, "%s/plugins/%s/%s", cfg->root_dir, concern, pi->name) < 0 ||
        asprintf(&pi->state_dir, "%s/plugins/%s/%s", cfg->state_dir, concern, pi->name) < 0)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    int r = mkdir_p(pi->root_dir, 0700, reterr);
    return r < 0 ? r : mkdir_p(pi->state_dir, 0700, reterr);
}

static int load_instance(const struct config *cfg, const struct config_instance *ci, int mode, struct plugins *owner,
                         struct plugin_instance **ret, struct cleat_error **reterr) {
    struct plugin_instance *pi = calloc(1, sizeof(*pi));
    if (!pi || asprintf(&pi->log_prefix, "%s '%s'", plugin_concern_name(ci->concern), ci->name) < 0) {
        free(pi);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    pi->concern = ci->concern;
    pi->name = ci->name;
    pi->conf = ci;
    plugin_host_init(&pi->host, pi, owner);
    int r = find_plugin_file(cfg, ci, &pi->file, reterr);
    if (r >= 0)
        r = open_plugin(pi->file, &pi->desc, reterr);
    if (r >= 0 && pi->desc->concern != ci->concern)
        r = error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                      "plugin %s (%s) is a %s plugin, but it is configured as a %s", pi->file, pi->desc->name,
                      plugin_concern_name(pi->desc->concern), plugin_concern_name(ci->concern));
    if (r >= 0) {
        /* An older minor's table is shorter: the rest stays NULL (UNIMPLEMENTED). */
        size_t n = pi->desc->ops_size < sizeof(pi->ops) ? (size_t)pi->desc->ops_size : sizeof(pi->ops);
        if (n > plugin_ops_size(ci->concern))
            n = plugin_ops_size(ci->concern);
        memcpy(&pi->ops, pi->desc->ops, n);
    }
    if (r >= 0 && pi->desc->validate)
        r = pi->desc->validate(&pi->host, ci->options, reterr);
    if (r >= 0 && mode == PLUGINS_INIT) {
        r = make_instance_dirs(cfg, pi, reterr);
        if (r >= 0) {
            r = pi->desc->init(&pi->host, ci->options, &pi->instance, reterr);
            if (r < 0)
                pi->instance = NULL;
        }
    }
    if (r < 0) {
        char where[256];
        config_where(ci->node, where, sizeof(where));
        instance_free(pi);
        return error_prefix(r, reterr, "%s: %s '%s'", where, plugin_concern_name(ci->concern), ci->name);
    }
    log_msg(CLEAT_LOG_INFO, pi->log_prefix, "%s plugin %s %s from %s", mode == PLUGINS_INIT ? "loaded" : "checked",
            pi->desc->name, pi->desc->version ? pi->desc->version : "", pi->file);
    *ret = pi;
    return 0;
}

int plugins_load(const struct config *cfg, int mode, struct plugins **ret, struct cleat_error **reterr) {
    struct plugins *p = calloc(1, sizeof(*p));
    if (!p || !(p->items = calloc(cfg->n_instances + 1, sizeof(*p->items)))) {
        free(p);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < cfg->n_instances; i++) {
        const struct config_instance *ci = &cfg->instances[i];
        if (plugins_find(p, ci->concern, ci->name)) {
            char where[256];
            config_where(ci->node, where, sizeof(where));
            plugins_free(p);
            return error_set(reterr, CLEAT_STATUS_ALREADY_EXISTS, EEXIST, "%s: duplicate %s instance name '%s'", where,
                             plugin_concern_name(ci->concern), ci->name);
        }
        int r = load_instance(cfg, ci, mode, p, &p->items[p->n], reterr);
        if (r < 0) {
            plugins_free(p);
            return r;
        }
        p->n++;
    }
    *ret = p;
    return 0;
}

void plugins_free(struct plugins *p) {
    if (!p)
        return;
    while (p->n > 0)
        instance_free(p->items[--p->n]);
    free(p->items);
    free(p);
}

struct plugin_instance *plugins_find(const struct plugins *p, uint32_t concern, const char *name) {
    for (size_t i = 0; p && i < p->n; i++)
        if (p->items[i]->concern == concern && strcmp(p->items[i]->name, name) == 0)
            return p->items[i];
    return NULL;
}

struct plugin_instance *plugins_first(const struct plugins *p, uint32_t concern) {
    for (size_t i = 0; p && i < p->n; i++)
        if (p->items[i]->concern == concern)
            return p->items[i];
    return NULL;
}
