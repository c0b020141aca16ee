/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cleatd's configuration: loading the files and checking the merged tree
 * against the schema.  Every check adds to one list of problems instead of
 * stopping at the first, so that an operator fixes a config in one round.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strdup, reallocarray under -std=c11 */
#endif

#include "cleanup.h"
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cleat/plugin.h>

#include "config_tree.h"
#include "error.h"
#include "strbuf.h"
#include "strlist.h"

static void strv_freep(char ***v) {
    strv_free(*v);
}
#define _cleanup_strv_ __attribute__((cleanup(strv_freep)))
#define _cleanup_tree_ __attribute__((cleanup(config_tree_freep)))
#define _cleanup_config_ __attribute__((cleanup(config_freep)))

#define INSTANCE_NAME_MAX 63

static const char *const top_keys[] = {"version",       "log_level", "socket",      "root_dir",  "state_dir",
                                       "cgroup_driver", "grpc",      "plugin_dirs", "runtime",   "snapshotter",
                                       "transports",    "network",   "images",      "streaming", "stats",
                                       "events",        "metrics",   "cdi",         NULL};
static const char *const grpc_keys[] = {"workers", "max_message_bytes", NULL};
static const char *const images_keys[] = {"max_parallel_downloads",
                                          "max_parallel_unpacks",
                                          "max_layer_bytes",
                                          "max_image_bytes",
                                          "max_compression_ratio",
                                          "compression_ratio_min_bytes",
                                          "min_free_bytes",
                                          "signature_policy",
                                          "registries_d",
                                          "pinned",
                                          "pull_progress_timeout_seconds",
                                          "pull_progress_log_interval_seconds",
                                          NULL};
static const char *const streaming_keys[] = {"address",
                                             "port",
                                             "tls_cert_file",
                                             "tls_key_file",
                                             "token_ttl_seconds",
                                             "max_sessions",
                                             "max_pending_connections",
                                             "request_timeout_seconds",
                                             NULL};
static const char *const stats_keys[] = {"writable_layer_max_age_seconds", "collection_period_seconds", NULL};
static const char *const events_keys[] = {"queue_size", NULL};
static const char *const metrics_keys[] = {"address", NULL};
static const char *const cdi_keys[] = {"spec_dirs", NULL};
static const char *const runtime_keys[] = {"default_handler", "handlers", "seccomp_default_profile", "pause_binary",
                                           NULL};
static const char *const handler_keys[] = {"plugin", "path", "options", NULL};
static const char *const named_keys[] = {"name", "plugin", "path", "options", NULL};
static const char *const transport_keys[] = {"plugin", "path", "schemes", "options", NULL};

static const char *const log_level_names[] = {"error", "warning", "notice", "info", "debug", NULL};
static const int32_t log_level_values[] = {CLEAT_LOG_ERROR, CLEAT_LOG_WARNING, CLEAT_LOG_NOTICE, CLEAT_LOG_INFO,
                                           CLEAT_LOG_DEBUG};
static const char *const cgroup_driver_names[] = {"cgroupfs", "systemd", NULL};

/* ------------------------------------------------------------------------- */
/* small helpers                                                             */

/* Appends a copy of `s` (NULL: no copy, just make sure the list exists). */
static int strv_push(char ***v, const char *s) {
    size_t n = 0;
    while (*v && (*v)[n])
        n++;
    char **nv = reallocarray(*v, n + 2, sizeof(char *));
    if (!nv)
        return -ENOMEM;
    *v = nv;
    nv[n] = NULL;
    if (s && !(nv[n] = strdup(s)))
        return -ENOMEM;
    nv[n + (s != NULL)] = NULL;
    return 0;
}

static bool strv_contains(char *const *v, const char *s) {
    for (; v && *v; v++)
        if (strcmp(*v, s) == 0)
            return true;
    return false;
}

/* "a, b, c" for messages; NULL on allocation failure. */
static char *strv_join(const char *const *v) {
    struct strbuf b = {0};
    for (size_t i = 0; v[i]; i++) {
        if (i > 0)
            strbuf_puts(&b, ", ");
        strbuf_puts(&b, v[i]);
    }
    return strbuf_steal(&b);
}

static bool valid_name(const char *s) {
    size_t len = strlen(s);
    if (len == 0 || len > INSTANCE_NAME_MAX || !strchr("abcdefghijklmnopqrstuvwxyz0123456789", s[0]))
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

/* RFC 3986 scheme syntax, or "" for plain registry references. */
static bool valid_scheme(const char *s) {
    if (s[0] == '\0')
        return true;
    if (!strchr("abcdefghijklmnopqrstuvwxyz", s[0]))
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+.-") == strlen(s);
}

/* ------------------------------------------------------------------------- */
/* typed reads that collect problems instead of returning them               */

struct checker {
    struct config_diag diag;
    struct config *config;
};

static void check_keys(struct checker *k, const struct cleat_config *node, const char *const *allowed) {
    struct cleat_error *err = NULL;
    if (config_check_keys(node, allowed, &err) < 0)
        config_diag_add_error(&k->diag, err);
}

/* True for a map; null or absent is false without a complaint, anything else is a problem. */
static bool want_map(struct checker *k, const struct cleat_config *value, const char *key) {
    uint32_t kind = config_kind(value);
    if (kind != CLEAT_CONFIG_MAP && kind != CLEAT_CONFIG_NULL && kind != CLEAT_CONFIG_ABSENT)
        config_diag_add_at(&k->diag, value, "'%s' must be a map, not %s", key, config_tree_kind_name(kind));
    return kind == CLEAT_CONFIG_MAP;
}

/* The string at `key` in `map`, or NULL (absent, null, or a problem already reported). */
static const char *read_string(struct checker *k, const struct cleat_config *map, const char *key) {
    struct cleat_error *err = NULL;
    const char *s = NULL;
    if (config_get_string(map, key, NULL, &s, &err) < 0)
        config_diag_add_error(&k->diag, err);
    return s;
}

/* `where` is the node a missing value is reported at (a block map starts at its first key, so not that). */
static const char *read_required(struct checker *k, const struct cleat_config *map, const char *key,
                                 const struct cleat_config *where) {
    const char *s = read_string(k, map, key);
    const struct cleat_config *v = config_get0(map, key);
    if (!s && (config_kind(v) == CLEAT_CONFIG_ABSENT || config_kind(v) == CLEAT_CONFIG_NULL))
        config_diag_add_at(&k->diag, where ? where : map, "'%s' is required", key);
    return s;
}

/* strdup that records allocation failure in the checker, so callers need not. */
static char *dup_str(struct checker *k, const char *s) {
    char *c = s ? strdup(s) : NULL;
    if (s && !c)
        config_diag_add(&k->diag, NULL); /* out of memory */
    return c;
}

/* An absolute path; absent (or deleted with null) means `def`, which may be NULL. */
static char *read_path(struct checker *k, const struct cleat_config *map, const char *key, const char *def) {
    const char *s = read_string(k, map, key);
    if (!s && config_kind(config_get0(map, key)) <= CLEAT_CONFIG_NULL)
        s = def;
    if (s && s[0] != '/') {
        config_diag_add_at(&k->diag, config_get0(map, key), "'%s' must be an absolute path, not '%s'", key, s);
        return NULL;
    }
    return dup_str(k, s);
}

/* The index of the value at `key` in `names`; `def` when absent; -1 for a problem already reported. */
static int read_enum(struct checker *k, const struct cleat_config *map, const char *key, const char *const *names,
                     int def) {
    if (config_kind(config_get0(map, key)) <= CLEAT_CONFIG_NULL)
        return def;
    const char *s = read_required(k, map, key, NULL);
    if (!s)
        return -1;
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    _cleanup_free_ char *list = strv_join(names);
    config_diag_add_at(&k->diag, config_get0(map, key), "'%s' must be one of %s, not '%s'", key, list ? list : "...",
                       s);
    return -1;
}

static int64_t read_int(struct checker *k, const struct cleat_config *map, const char *key, int64_t def, int64_t min,
                        int64_t max) {
    struct cleat_error *err = NULL;
    int64_t v = def;
    if (config_get_int(map, key, def, min, max, &v, &err) < 0)
        config_diag_add_error(&k->diag, err);
    return v;
}

/* ------------------------------------------------------------------------- */
/* plugin instances                                                          */

static struct config_instance *instance_new(struct checker *k) {
    struct config *c = k->config;
    struct config_instance *v = reallocarray(c->instances, c->n_instances + 1, sizeof(*v));
    if (!v) {
        config_diag_add(&k->diag, NULL); /* out of memory */
        return NULL;
    }
    c->instances = v;
    v = &c->instances[c->n_instances++];
    *v = (struct config_instance){0};
    return v;
}

static void instance_clear(struct config_instance *i) {
    free(i->name);
    free(i->plugin);
    free(i->path);
    strv_free(i->schemes);
}

static void check_name(struct checker *k, const struct cleat_config *where, const char *what, const char *name) {
    if (!valid_name(name))
        config_diag_add_at(&k->diag, where,
                           "invalid %s name '%s': use a-z, 0-9, '.', '_' and '-', starting with a letter or digit, "
                           "at most %d characters",
                           what, name, INSTANCE_NAME_MAX);
}

/*
 * The fields all instances share.  `key` is the instance's key in its parent
 * map; it names the instance (runtime handlers, transports) unless
 * `name_key`, then `name:` does, defaulting to the plugin's name (snapshotter,
 * network).
 */
static struct config_instance *read_instance(struct checker *k, uint32_t concern, const char *what,
                                             const struct cleat_config *key, bool name_key,
                                             const struct cleat_config *node, const char *const *keys) {
    if (!want_map(k, node, config_scalar0(key)))
        return NULL;
    check_keys(k, node, keys);
    const char *plugin = read_required(k, node, "plugin", key);
    if (plugin)
        check_name(k, config_get0(node, "plugin"), "plugin", plugin);
    const char *name = name_key ? read_string(k, node, "name") : config_scalar0(key);
    if (name)
        check_name(k, name_key ? config_get0(node, "name") : key, what, name);
    char *path = read_path(k, node, "path", NULL);
    const struct cleat_config *options = config_get0(node, "options");
    bool has_options = want_map(k, options, "options");

    struct config_instance *i = instance_new(k);
    if (!i) {
        free(path);
        return NULL;
    }
    *i = (struct config_instance){.concern = concern,
                                  .name = dup_str(k, name ? name : plugin),
                                  .plugin = dup_str(k, plugin),
                                  .path = path,
                                  .options = has_options ? options : NULL,
                                  .node = node};
    return i;
}

static void check_runtime(struct checker *k, const struct cleat_config *runtime) {
    check_keys(k, runtime, runtime_keys);
    const struct cleat_config *handlers = config_get0(runtime, "handlers");
    if (want_map(k, handlers, "handlers"))
        for (uint64_t i = 0; i < config_count(handlers); i++)
            read_instance(k, CLEAT_CONCERN_RUNTIME, "runtime handler", config_tree_key_at(handlers, i), false,
                          config_at0(handlers, i), handler_keys);

    k->config->seccomp_default_profile =
        read_path(k, runtime, "seccomp_default_profile", CLEAT_DATA_DIR "/seccomp-default.json");
    k->config->pause_binary = read_path(k, runtime, "pause_binary", CLEAT_LIBEXEC_DIR "/cleat-pause");
    const char *def = read_string(k, runtime, "default_handler");
    k->config->default_runtime_handler = dup_str(k, def);
    if (!def || config_count(handlers) == 0 || config_get0(handlers, def))
        return;
    _cleanup_free_ const char **names = calloc(config_count(handlers) + 1, sizeof(char *));
    for (uint64_t i = 0; names && i < config_count(handlers); i++)
        names[i] = config_key0(handlers, i);
    _cleanup_free_ char *list = names ? strv_join(names) : NULL;
    config_diag_add_at(&k->diag, config_get0(runtime, "default_handler"),
                       "default_handler '%s' is not one of the runtime handlers (%s)", def, list ? list : "...");
}

/* The scheme's node in an earlier transport, to say where it was claimed first. */
static const struct cleat_config *find_scheme(const struct config_instance *t, const char *scheme) {
    const struct cleat_config *schemes = config_get0(t->node, "schemes");
    for (uint64_t i = 0; i < config_count(schemes); i++)
        if (config_scalar0(config_at0(schemes, i)) && strcmp(config_scalar0(config_at0(schemes, i)), scheme) == 0)
            return config_at0(schemes, i);
    return t->node;
}

static void check_scheme(struct checker *k, struct config_instance *t, const struct cleat_config *item) {
    const char *s = config_scalar0(item);
    if (!s) {
        config_diag_add_at(&k->diag, item, "a scheme must be a string, not %s",
                           config_tree_kind_name(config_kind(item)));
        return;
    }
    if (!valid_scheme(s)) {
        config_diag_add_at(&k->diag, item,
                           "invalid scheme '%s': use a-z, 0-9, '+', '.' and '-', starting with a letter, without "
                           "the ':' (or \"\" for registry references)",
                           s);
        return;
    }
    if (strv_contains(t->schemes, s)) {
        config_diag_add_at(&k->diag, item, "scheme '%s' is listed twice in transport '%s'", s, t->name);
        return;
    }
    const struct config_instance *all = k->config->instances;
    for (size_t i = 0; &all[i] != t; i++) {
        if (all[i].concern != CLEAT_CONCERN_TRANSPORT || !strv_contains(all[i].schemes, s))
            continue;
        const struct cleat_config *first = find_scheme(&all[i], s);
        config_diag_add_at(&k->diag, item,
                           "scheme '%s' of transport '%s' is already served by transport '%s' (%s:%" PRIu32 ":%" PRIu32
                           ")",
                           s, t->name, all[i].name, first->file, first->line, first->column);
        return;
    }
    if (strv_push(&t->schemes, s) < 0)
        config_diag_add(&k->diag, NULL); /* out of memory */
}

static void check_transports(struct checker *k, const struct cleat_config *transports) {
    for (uint64_t i = 0; i < config_count(transports); i++) {
        struct config_instance *t =
            read_instance(k, CLEAT_CONCERN_TRANSPORT, "transport", config_tree_key_at(transports, i), false,
                          config_at0(transports, i), transport_keys);
        if (!t || !t->name)
            continue;
        if (strv_push(&t->schemes, NULL) < 0)
            config_diag_add(&k->diag, NULL); /* out of memory */
        const struct cleat_config *schemes = config_get0(t->node, "schemes");
        uint32_t kind = config_kind(schemes);
        if (kind != CLEAT_CONFIG_SEQ && kind != CLEAT_CONFIG_NULL && kind != CLEAT_CONFIG_ABSENT)
            config_diag_add_at(&k->diag, schemes, "'schemes' must be a list, not %s", config_tree_kind_name(kind));
        for (uint64_t j = 0; j < config_count(schemes) && kind == CLEAT_CONFIG_SEQ; j++)
            check_scheme(k, t, config_at0(schemes, j));
    }
}

/* ------------------------------------------------------------------------- */
/* the top level                                                             */

static void check_plugin_dirs(struct checker *k, const struct cleat_config *dirs) {
    uint32_t kind = config_kind(dirs);
    if (strv_push(&k->config->plugin_dirs, NULL) < 0)
        config_diag_add(&k->diag, NULL); /* out of memory */
    if (kind != CLEAT_CONFIG_SEQ && kind != CLEAT_CONFIG_NULL && kind != CLEAT_CONFIG_ABSENT)
        config_diag_add_at(&k->diag, dirs, "'plugin_dirs' must be a list, not %s", config_tree_kind_name(kind));
    for (uint64_t i = 0; i < config_count(dirs) && kind == CLEAT_CONFIG_SEQ; i++) {
        const struct cleat_config *item = config_at0(dirs, i);
        const char *s = config_scalar0(item);
        if (!s)
            config_diag_add_at(&k->diag, item, "a plugin directory must be a string, not %s",
                               config_tree_kind_name(config_kind(item)));
        else if (s[0] != '/')
            config_diag_add_at(&k->diag, item, "a plugin directory must be an absolute path, not '%s'", s);
        else if (strv_push(&k->config->plugin_dirs, s) < 0)
            config_diag_add(&k->diag, NULL); /* out of memory */
    }
}

/* An absolute path, or "" (or absent) for none: NULL. */
static char *read_optional_path(struct checker *k, const struct cleat_config *map, const char *key) {
    const char *s = read_string(k, map, key);
    if (!s || !*s)
        return NULL;
    if (s[0] != '/') {
        config_diag_add_at(&k->diag, config_get0(map, key), "'%s' must be an absolute path or \"\", not '%s'", key, s);
        return NULL;
    }
    return dup_str(k, s);
}

static void check_streaming(struct checker *k, const struct cleat_config *streaming) {
    struct config *c = k->config;
    if (!want_map(k, streaming, "streaming"))
        streaming = NULL;
    check_keys(k, streaming, streaming_keys);
    const char *addr = read_string(k, streaming, "address");
    unsigned char buf[sizeof(struct in6_addr)];
    if (addr && inet_pton(AF_INET, addr, buf) != 1 && inet_pton(AF_INET6, addr, buf) != 1)
        config_diag_add_at(&k->diag, config_get0(streaming, "address"),
                           "'address' must be an IPv4 or IPv6 address, not '%s'", addr);
    c->streaming_address = dup_str(k, addr ? addr : "127.0.0.1");
    c->streaming_port = (uint32_t)read_int(k, streaming, "port", 0, 0, 65535);
    c->streaming_tls_cert_file = read_optional_path(k, streaming, "tls_cert_file");
    c->streaming_tls_key_file = read_optional_path(k, streaming, "tls_key_file");
    if (!c->streaming_tls_cert_file != !c->streaming_tls_key_file)
        config_diag_add_at(&k->diag, streaming, "'tls_cert_file' and 'tls_key_file' must be set together");
    c->streaming_token_ttl_seconds = read_int(k, streaming, "token_ttl_seconds", 60, 1, 86400);
    c->streaming_max_sessions = (uint32_t)read_int(k, streaming, "max_sessions", 128, 1, 4096);
    c->streaming_max_pending = (uint32_t)read_int(k, streaming, "max_pending_connections", 1024, 1, 65536);
    c->streaming_request_timeout_seconds = (uint32_t)read_int(k, streaming, "request_timeout_seconds", 5, 1, 60);
}

/* "HOST:PORT" with a numeric port 1..65535 (HOST an address, "[v6]", or empty for every address), or "". */
static bool valid_listen_address(const char *s) {
    size_t len = strlen(s), colon = len;
    while (colon > 0 && s[colon - 1] != ':')
        colon--;
    if (len == 0)
        return true;
    if (colon == 0 || colon == len || len - colon > 5)
        return false;
    long port = 0;
    for (size_t i = colon; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        port = port * 10 + (s[i] - '0');
    }
    return port >= 1 && port <= 65535 && (s[0] != '[' || (colon >= 2 && s[colon - 2] == ']'));
}

/* stats, events and metrics: each a map of its own. */
static void check_observability(struct checker *k, const struct cleat_config *tree) {
    struct config *c = k->config;
    const struct cleat_config *stats = config_get0(tree, "stats");
    if (!want_map(k, stats, "stats"))
        stats = NULL;
    check_keys(k, stats, stats_keys);
    c->stats_writable_layer_max_age_seconds =
        (uint32_t)read_int(k, stats, "writable_layer_max_age_seconds", 10, 0, 3600);
    c->stats_collection_period_seconds = (uint32_t)read_int(k, stats, "collection_period_seconds", 10, 0, 3600);

    const struct cleat_config *events = config_get0(tree, "events");
    if (!want_map(k, events, "events"))
        events = NULL;
    check_keys(k, events, events_keys);
    c->events_queue_size = (uint32_t)read_int(k, events, "queue_size", 256, 1, 65536);

    const struct cleat_config *metrics = config_get0(tree, "metrics");
    if (!want_map(k, metrics, "metrics"))
        metrics = NULL;
    check_keys(k, metrics, metrics_keys);
    const char *addr = read_string(k, metrics, "address");
    if (addr && !valid_listen_address(addr))
        config_diag_add_at(&k->diag, config_get0(metrics, "address"),
                           "metrics address '%s' is not HOST:PORT (e.g. 127.0.0.1:9464, [::1]:9464, :9464) or \"\"",
                           addr);
    c->metrics_address = dup_str(k, addr ? addr : "");
}

/*
 * What a pull may unpack (see cleat.yaml.in for why these defaults): sizes
 * in bytes up to 2^62, 0 for no limit.
 */
static void check_unpack_limits(struct checker *k, const struct cleat_config *images) {
    struct config *c = k->config;
    const int64_t max = INT64_C(1) << 62;
    c->images_max_layer_bytes = (uint64_t)read_int(k, images, "max_layer_bytes", INT64_C(64) << 30, 0, max);
    c->images_max_image_bytes = (uint64_t)read_int(k, images, "max_image_bytes", INT64_C(128) << 30, 0, max);
    c->images_max_compression_ratio = (uint32_t)read_int(k, images, "max_compression_ratio", 100, 0, 1000000);
    c->images_compression_ratio_min_bytes =
        (uint64_t)read_int(k, images, "compression_ratio_min_bytes", INT64_C(256) << 20, 0, max);
    c->images_min_free_bytes = (uint64_t)read_int(k, images, "min_free_bytes", INT64_C(1) << 30, 0, max);
}

/*
 * images.signature_policy: a containers-policy.json file.  Unset (or null):
 * CONFIG_DEFAULT_SIGNATURE_POLICY when that file exists, else none, so a
 * node with podman's or skopeo's policy gets it and one without accepts
 * every image as before.  "" says no policy even when that file exists.
 */
static void check_signature_policy(struct checker *k, const struct cleat_config *images) {
    struct config *c = k->config;
    const char *s = read_string(k, images, "signature_policy");
    if (s && *s)
        c->images_signature_policy = read_path(k, images, "signature_policy", NULL);
    else if (!s && config_kind(config_get0(images, "signature_policy")) <= CLEAT_CONFIG_NULL &&
             access(CONFIG_DEFAULT_SIGNATURE_POLICY, F_OK) == 0)
        c->images_signature_policy = dup_str(k, CONFIG_DEFAULT_SIGNATURE_POLICY);
    c->images_registries_d = read_path(k, images, "registries_d", CONFIG_DEFAULT_REGISTRIES_D);
}

/*
 * images.pinned: the references (or "sha256:" IDs) of images reported as
 * pinned, a list of non-empty strings.  Whether each is a well-formed
 * reference is the image service's to say (it knows the syntax).
 */
static void check_pinned(struct checker *k, const struct cleat_config *images) {
    const struct cleat_config *list = config_get0(images, "pinned");
    uint32_t kind = config_kind(list);
    if (strv_push(&k->config->images_pinned, NULL) < 0)
        config_diag_add(&k->diag, NULL); /* out of memory */
    if (kind != CLEAT_CONFIG_SEQ && kind != CLEAT_CONFIG_NULL && kind != CLEAT_CONFIG_ABSENT)
        config_diag_add_at(&k->diag, list, "'pinned' must be a list of image references, not %s",
                           config_tree_kind_name(kind));
    for (uint64_t i = 0; i < config_count(list) && kind == CLEAT_CONFIG_SEQ; i++) {
        const struct cleat_config *item = config_at0(list, i);
        const char *s = config_scalar0(item);
        if (!s || !*s)
            config_diag_add_at(&k->diag, item, "a pinned image must be a non-empty reference, not %s",
                               s ? "''" : config_tree_kind_name(config_kind(item)));
        else if (strv_push(&k->config->images_pinned, s) < 0)
            config_diag_add(&k->diag, NULL); /* out of memory */
    }
}

/* How long pulls may go without progress, and how often they say how far they are (0: never). */
static void check_pull_progress(struct checker *k, const struct cleat_config *images) {
    struct config *c = k->config;
    c->images_pull_progress_timeout_seconds =
        (uint32_t)read_int(k, images, "pull_progress_timeout_seconds", 300, 0, 86400);
    c->images_pull_progress_log_interval_seconds =
        (uint32_t)read_int(k, images, "pull_progress_log_interval_seconds", 30, 0, 86400);
}

/*
 * cdi.spec_dirs: where CDI spec files are read, later directories winning;
 * absolute paths.  Absent or null: /etc/cdi and /var/run/cdi, as every CDI
 * runtime has them; [] reads none.
 */
static void check_cdi(struct checker *k, const struct cleat_config *tree) {
    const struct cleat_config *cdi = config_get0(tree, "cdi");
    if (!want_map(k, cdi, "cdi"))
        cdi = NULL;
    check_keys(k, cdi, cdi_keys);
    const struct cleat_config *list = config_get0(cdi, "spec_dirs");
    uint32_t kind = config_kind(list);
    if (strv_push(&k->config->cdi_spec_dirs, NULL) < 0)
        config_diag_add(&k->diag, NULL); /* out of memory */
    if (kind == CLEAT_CONFIG_NULL || kind == CLEAT_CONFIG_ABSENT) {
        if (strv_push(&k->config->cdi_spec_dirs, "/etc/cdi") < 0 ||
            strv_push(&k->config->cdi_spec_dirs, "/var/run/cdi") < 0)
            config_diag_add(&k->diag, NULL);
        return;
    }
    if (kind != CLEAT_CONFIG_SEQ)
        config_diag_add_at(&k->diag, list, "'spec_dirs' must be a list of directories, not %s",
                           config_tree_kind_name(kind));
    for (uint64_t i = 0; i < config_count(list) && kind == CLEAT_CONFIG_SEQ; i++) {
        const struct cleat_config *item = config_at0(list, i);
        const char *s = config_scalar0(item);
        if (!s || s[0] != '/')
            config_diag_add_at(&k->diag, item, "a CDI spec directory must be an absolute path, not %s",
                               s ? s : config_tree_kind_name(config_kind(item)));
        else if (strv_push(&k->config->cdi_spec_dirs, s) < 0)
            config_diag_add(&k->diag, NULL); /* out of memory */
    }
}

static void check_settings(struct checker *k, const struct cleat_config *tree) {
    struct config *c = k->config;

    int64_t version = read_int(k, tree, "version", 1, INT64_MIN, INT64_MAX);
    if (version != 1)
        config_diag_add_at(&k->diag, config_get0(tree, "version"),
                           "unsupported config version %lld; this cleatd reads version 1", (long long)version);
    c->version = 1;
    /*
     * A setting deleted with null falls back to these, which equal the
     * embedded defaults (test_load_null_resets_to_default holds them to it).
     */
    int level = read_enum(k, tree, "log_level", log_level_names, 3 /* info */);
    c->log_level = level >= 0 ? log_level_values[level] : CLEAT_LOG_INFO;
    c->socket_path = read_path(k, tree, "socket", "/run/cleat/cleat.sock");
    c->root_dir = read_path(k, tree, "root_dir", "/var/lib/cleat");
    c->state_dir = read_path(k, tree, "state_dir", "/run/cleat");
    int driver = read_enum(k, tree, "cgroup_driver", cgroup_driver_names, 0 /* cgroupfs */);
    c->cgroup_driver = dup_str(k, driver >= 0 ? cgroup_driver_names[driver] : NULL);

    const struct cleat_config *grpc = config_get0(tree, "grpc");
    if (!want_map(k, grpc, "grpc"))
        grpc = NULL; /* reported once; the getters would say it again */
    check_keys(k, grpc, grpc_keys);
    c->grpc_workers = (uint32_t)read_int(k, grpc, "workers", 8, 1, 256);
    c->grpc_max_message_bytes = (uint64_t)read_int(k, grpc, "max_message_bytes", 16 << 20, 4 << 10, 1 << 30);

    const struct cleat_config *images = config_get0(tree, "images");
    if (!want_map(k, images, "images"))
        images = NULL;
    check_keys(k, images, images_keys);
    c->images_max_parallel_downloads = (uint32_t)read_int(k, images, "max_parallel_downloads", 3, 1, 64);
    c->images_max_parallel_unpacks = (uint32_t)read_int(k, images, "max_parallel_unpacks", 2, 1, 64);
    check_unpack_limits(k, images);
    check_signature_policy(k, images);
    check_pinned(k, images);
    check_pull_progress(k, images);
    check_plugin_dirs(k, config_get0(tree, "plugin_dirs"));
    check_streaming(k, config_get0(tree, "streaming"));
    check_observability(k, tree);
    check_cdi(k, tree);
}

/* The snapshotter or the network: one instance, or null for none. */
static void check_single(struct checker *k, const struct cleat_config *tree, const char *key, uint32_t concern) {
    for (uint64_t i = 0; i < config_count(tree); i++)
        if (strcmp(config_key0(tree, i), key) == 0 && config_kind(config_at0(tree, i)) != CLEAT_CONFIG_NULL)
            read_instance(k, concern, key, config_tree_key_at(tree, i), true, config_at0(tree, i), named_keys);
}

static void check_tree(struct checker *k, const struct cleat_config *tree) {
    check_keys(k, tree, top_keys);
    check_settings(k, tree);

    const struct cleat_config *runtime = config_get0(tree, "runtime");
    if (want_map(k, runtime, "runtime"))
        check_runtime(k, runtime);
    check_single(k, tree, "snapshotter", CLEAT_CONCERN_SNAPSHOTTER);
    const struct cleat_config *transports = config_get0(tree, "transports");
    if (want_map(k, transports, "transports"))
        check_transports(k, transports);
    check_single(k, tree, "network", CLEAT_CONCERN_NETWORK);
}

int config_from_tree(struct cleat_config *tree, struct config **ret, struct cleat_error **reterr) {
    _cleanup_tree_ struct cleat_config *t = tree;
    _cleanup_config_ struct config *c = calloc(1, sizeof(*c));
    if (!c)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, ENOMEM, "out of memory");

    struct checker k = {.config = c};
    check_tree(&k, t);
    int r = config_diag_finish(&k.diag, reterr);
    if (r < 0)
        return r;
    c->tree = TAKE_PTR(t);
    *ret = TAKE_PTR(c);
    return 0;
}

void config_free(struct config *c) {
    if (!c)
        return;
    for (size_t i = 0; i < c->n_instances; i++)
        instance_clear(&c->instances[i]);
    free(c->instances);
    free(c->socket_path);
    free(c->root_dir);
    free(c->state_dir);
    free(c->cgroup_driver);
    free(c->default_runtime_handler);
    free(c->seccomp_default_profile);
    free(c->pause_binary);
    free(c->streaming_address);
    free(c->streaming_tls_cert_file);
    free(c->streaming_tls_key_file);
    free(c->metrics_address);
    free(c->images_signature_policy);
    free(c->images_registries_d);
    strv_free(c->images_pinned);
    strv_free(c->cdi_spec_dirs);
    strv_free(c->plugin_dirs);
    strv_free(c->sources);
    config_tree_free(c->tree);
    free(c);
}

/* ------------------------------------------------------------------------- */
/* loading                                                                   */

static int load_file(struct cleat_config *tree, const char *path, bool may_be_absent, char ***sources,
                     struct cleat_error **reterr) {
    struct cleat_config *file = NULL;
    _cleanup_error_ struct cleat_error *err = NULL;
    int r = config_tree_parse_file(path, &file, &err);
    if (r == -ENOENT && may_be_absent)
        return 0;
    if (r < 0) {
        if (reterr)
            *reterr = TAKE_PTR(err);
        return r;
    }
    if (strv_push(sources, path) < 0) {
        config_tree_free(file);
        return error_set(reterr, CLEAT_STATUS_INTERNAL, ENOMEM, "out of memory");
    }
    return config_tree_merge(tree, file, reterr);
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_dropin_name(const char *name) {
    size_t len = strlen(name);
    return name[0] != '.' && len > 5 && strcmp(name + len - 5, ".yaml") == 0;
}

/* The drop-in file names in `dir`, sorted; an empty list when it does not exist. */
static int list_dropins(const char *dir, char ***ret, struct cleat_error **reterr) {
    _cleanup_strv_ char **names = NULL;
    _cleanup_dir_ DIR *d = opendir(dir);
    if (!d && errno != ENOENT)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "%s: %s", dir, strerror(errno));
    if (strv_push(&names, NULL) < 0)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, ENOMEM, "out of memory");

    size_t n = 0;
    for (struct dirent *de; d && (errno = 0, de = readdir(d));) {
        if (!is_dropin_name(de->d_name))
            continue;
        if (strv_push(&names, de->d_name) < 0)
            return error_set(reterr, CLEAT_STATUS_INTERNAL, ENOMEM, "out of memory");
        n++;
    }
    if (d && errno != 0)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "%s: %s", dir, strerror(errno));
    qsort(names, n, sizeof(char *), compare_names);
    *ret = TAKE_PTR(names);
    return 0;
}

static int load_dropins(struct cleat_config *tree, const char *dir, char ***sources, struct cleat_error **reterr) {
    _cleanup_strv_ char **names = NULL;
    int r = list_dropins(dir, &names, reterr);
    for (size_t i = 0; r >= 0 && names[i]; i++) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, names[i]) < 0)
            return error_set(reterr, CLEAT_STATUS_INTERNAL, ENOMEM, "out of memory");
        r = load_file(tree, path, false, sources, reterr);
    }
    return r;
}

int config_load(const char *main_path, const char *dropin_dir, struct config **ret, struct cleat_error **reterr) {
    _cleanup_tree_ struct cleat_config *defaults = NULL;
    _cleanup_strv_ char **sources = NULL;
    struct config *c = NULL;

    /*
     * Each file is merged onto the defaults in turn, so an explicit null
     * deletes what came before it: `transports: {oci: null}` drops a default
     * transport.  A deleted setting falls back to the schema's own default.
     */
    int r = config_tree_parse_string(CONFIG_DEFAULTS_NAME, cleat_default_config, cleat_default_config_len, &defaults,
                                     reterr);
    if (r >= 0 && strv_push(&sources, NULL) < 0)
        r = error_set(reterr, CLEAT_STATUS_INTERNAL, ENOMEM, "out of memory");
    if (r >= 0)
        r = load_file(defaults, main_path ? main_path : CONFIG_MAIN_PATH, !main_path, &sources, reterr);
    if (r >= 0)
        r = load_dropins(defaults, dropin_dir ? dropin_dir : CONFIG_DROPIN_DIR, &sources, reterr);
    if (r >= 0)
        r = config_from_tree(TAKE_PTR(defaults), &c, reterr);
    if (r < 0)
        return r;
    c->sources = TAKE_PTR(sources);
    *ret = c;
    return 0;
}
