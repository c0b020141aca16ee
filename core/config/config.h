/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config: cleatd's settings -- the schema of cleat.yaml, its validation, and
 * loading the embedded defaults, the main file and the drop-ins.
 *
 * Load order, later wins (merge rules in config_tree.h):
 *   1. the embedded defaults (config/cleat.yaml.in, built into cleatd);
 *   2. the main file, /etc/cleat/cleat.yaml unless another is named;
 *   3. every *.yaml file in the drop-in directory, /etc/cleat/cleat.d unless
 *      another is named, in strcmp() order of their names.
 * A key that a file deletes with an explicit null falls back to its embedded
 * default, if it has one; so `log_level:` means "the default level".
 */
#ifndef CLEAT_CORE_CONFIG_H
#define CLEAT_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <cleat/config.h>
#include <cleat/error.h>

#define CONFIG_MAIN_PATH "/etc/cleat/cleat.yaml"
#define CONFIG_DROPIN_DIR "/etc/cleat/cleat.d"
/* Where podman, skopeo and cri-o read their signature policy and registries.d: used when the config names none. */
#define CONFIG_DEFAULT_SIGNATURE_POLICY "/etc/containers/policy.json"
#define CONFIG_DEFAULT_REGISTRIES_D "/etc/containers/registries.d"
/* The file name of the embedded defaults in locations ("<built-in defaults>:12:3: ..."). */
#define CONFIG_DEFAULTS_NAME "<built-in defaults>"

/* Generated at build time from config/cleat.yaml.in. */
extern const char cleat_default_config[];
extern const size_t cleat_default_config_len;

/* One plugin instance from the config. */
struct config_instance {
    uint32_t concern;                   /* CLEAT_CONCERN_* (plugin.h) */
    char *name;                         /* the instance name: the map key, or `name` for snapshotter/network */
    char *plugin;                       /* the plugin name; its file is <plugin>.so in plugin_dirs */
    char *path;                         /* an explicit, absolute file path, or NULL */
    char **schemes;                     /* transports only (else NULL): NULL-terminated; "" = registry refs */
    const struct cleat_config *options; /* the `options:` map, or NULL; borrowed from the tree */
    const struct cleat_config *node;    /* the instance's own node, for error locations */
};

struct config {
    struct cleat_config *tree;              /* the merged effective tree (owned; instances borrow from it) */
    uint32_t version;                       /* always 1 */
    int32_t log_level;                      /* CLEAT_LOG_* */
    char *socket_path;                      /* absolute */
    char *root_dir;                         /* absolute */
    char *state_dir;                        /* absolute */
    char *cgroup_driver;                    /* "cgroupfs" or "systemd" */
    uint32_t grpc_workers;                  /* 1..256 */
    uint64_t grpc_max_message_bytes;        /* 4 KiB..1 GiB */
    uint32_t images_max_parallel_downloads; /* layers fetched at once by one pull, 1..64 */
    uint32_t images_max_parallel_unpacks;   /* layers unpacked at once by one pull, 1..64 */
    /* Unpacking limits (0: none): against decompression bombs and full disks. */
    uint64_t images_max_layer_bytes;             /* one layer's uncompressed tar */
    uint64_t images_max_image_bytes;             /* the layers one pull unpacks, together */
    uint32_t images_max_compression_ratio;       /* uncompressed / compressed bytes of a layer, 0..1000000 */
    uint64_t images_compression_ratio_min_bytes; /* ... checked once a layer has unpacked this much */
    uint64_t images_min_free_bytes;              /* free space the snapshot filesystem keeps */
    char *images_signature_policy; /* the containers-policy.json pulls are checked against, or NULL for none */
    char *images_registries_d;     /* containers-registries.d: where GPG signatures are looked up */
    char **images_pinned;          /* NULL-terminated: references (or IDs) of images reported as pinned */
    uint32_t images_pull_progress_timeout_seconds;      /* a pull with no new byte for this long fails; 0: never */
    uint32_t images_pull_progress_log_interval_seconds; /* a running pull logs its progress this often; 0: never */
    uint32_t stats_writable_layer_max_age_seconds; /* a writable layer's usage is measured again after this, 0..3600 */
    uint32_t stats_collection_period_seconds; /* live containers and pods are measured this often; 0: on each call */
    uint32_t events_queue_size;    /* events a GetContainerEvents subscriber may lag behind before it is dropped */
    char *metrics_address;         /* the Prometheus endpoint's HOST:PORT, "" for none */
    char **cdi_spec_dirs;          /* NULL-terminated, absolute: CDI spec directories, a later one winning */
    char **plugin_dirs;            /* NULL-terminated, absolute paths */
    char *default_runtime_handler; /* one of the runtime handlers, when there are any */
    char *seccomp_default_profile; /* the RuntimeDefault seccomp profile, absolute */
    char *pause_binary;            /* cleat-pause, the init of pods sharing one PID namespace, absolute */
    /* The streaming server (Exec, Attach, PortForward URLs). */
    char *streaming_address;       /* an IPv4 or IPv6 literal */
    uint32_t streaming_port;       /* 0..65535; 0: ephemeral */
    char *streaming_tls_cert_file; /* absolute, or NULL for plain HTTP (set with the key) */
    char *streaming_tls_key_file;
    int64_t streaming_token_ttl_seconds;        /* 1..86400 */
    uint32_t streaming_max_sessions;            /* 1..4096 */
    uint32_t streaming_max_pending;             /* connections without a complete request yet, 1..65536 */
    uint32_t streaming_request_timeout_seconds; /* for the TLS handshake and the request head, 1..60 */
    /* Runtime handlers (in file order), then the snapshotter, transports, network. */
    struct config_instance *instances;
    size_t n_instances;
    char **sources; /* NULL-terminated: the files read, in merge order (not the embedded defaults) */
};

/*
 * Load and validate the configuration.  `main_path` NULL means
 * CONFIG_MAIN_PATH, which may be absent; a path given explicitly must exist.
 * `dropin_dir` NULL means CONFIG_DROPIN_DIR; an absent directory is fine
 * either way.  Of its files, those whose names end in ".yaml" and do not
 * start with "." are read.  On failure *reterr says every problem found, one
 * "FILE:LINE:COLUMN: message" line each.
 */
int config_load(const char *main_path, const char *dropin_dir, struct config **ret, struct cleat_error **reterr);

/*
 * Check a merged tree against the schema and build the settings from it.
 * Takes ownership of `tree` (it becomes ret->tree; freed on failure).
 * Reports every problem, as config_load() does.
 */
int config_from_tree(struct cleat_config *tree, struct config **ret, struct cleat_error **reterr);

/* Free a config; NULL-safe. */
void config_free(struct config *config);
static inline void config_freep(struct config **config) {
    config_free(*config);
}

#endif /* CLEAT_CORE_CONFIG_H */
