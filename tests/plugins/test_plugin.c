/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test plugins.  Built once per variant (TP_* macro, see CMakeLists.txt):
 * the good ones implement a little real behaviour driven by their options so
 * that the tests can observe the host calling them; the bad ones are wrong in
 * exactly one way each, to exercise one refusal of the loader.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cleat/network.h>
#include <cleat/runtime.h>
#include <cleat/snapshotter.h>
#include <cleat/transport.h>

/* Each variant uses only its concern's ops; the others are compiled but unused. */
#define TP_OP __attribute__((unused)) static

struct tp_instance {
    const struct cleat_host *host;
    int32_t ready;
    int32_t rro;
    int32_t userns;
    const char *reason;
};

static const char *const tp_keys[] = {"ready", "reason", "recursive_read_only_mounts", "user_namespaces", NULL};

static int tp_validate(const struct cleat_host *host, const struct cleat_config *options, struct cleat_error **reterr) {
    if (host->config_kind(options) == CLEAT_CONFIG_ABSENT)
        return 0;
    return host->config_check_keys(options, tp_keys, reterr);
}

TP_OP int tp_init(const struct cleat_host *host, const struct cleat_config *options, void **ret_instance,
                  struct cleat_error **reterr) {
#ifdef TP_FAILING_INIT
    (void)options;
    (void)ret_instance;
    *reterr = host->error_new(CLEAT_STATUS_FAILED_PRECONDITION, ENODEV, "the test device is missing");
    return -ENODEV;
#else
    int r = tp_validate(host, options, reterr);
    if (r < 0)
        return r;
    struct tp_instance *tp = calloc(1, sizeof(*tp));
    if (!tp) {
        *reterr = host->error_new(CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        return -ENOMEM;
    }
    tp->host = host;
    if ((r = host->config_get_bool(options, "ready", 1, &tp->ready, reterr)) < 0 ||
        (r = host->config_get_string(options, "reason", "the test plugin was told not to be ready", &tp->reason,
                                     reterr)) < 0 ||
        (r = host->config_get_bool(options, "recursive_read_only_mounts", 0, &tp->rro, reterr)) < 0 ||
        (r = host->config_get_bool(options, "user_namespaces", 0, &tp->userns, reterr)) < 0) {
        free(tp);
        return r;
    }
    cleat_log(host, CLEAT_LOG_INFO, "test plugin instance '%s' ready=%d", host->instance_name(host), (int)tp->ready);
    *ret_instance = tp;
    return 0;
#endif
}

TP_OP void tp_fini(void *instance) {
    free(instance);
}

TP_OP int tp_status(void *instance, struct cleat_error **reterr) {
    struct tp_instance *tp = instance;
    if (tp->ready)
        return 0;
    *reterr = tp->host->error_new(CLEAT_STATUS_UNAVAILABLE, EAGAIN, "%s", tp->reason);
    return -EAGAIN;
}

TP_OP uint64_t tp_features(void *instance) {
    struct tp_instance *tp = instance;
    return (tp->rro ? CLEAT_RUNTIME_FEATURE_RECURSIVE_READ_ONLY_MOUNTS : 0) |
           (tp->userns ? CLEAT_RUNTIME_FEATURE_USER_NAMESPACES : 0);
}

/* Records the pod CIDR where a test can read it: <state_dir>/pod_cidr. */
TP_OP int tp_update_pod_cidr(void *instance, const char *cidr, struct cleat_error **reterr) {
    struct tp_instance *tp = instance;
    char path[4096];
    snprintf(path, sizeof(path), "%s/pod_cidr", tp->host->state_dir(tp->host));
    FILE *f = fopen(path, "we");
    if (!f) {
        *reterr = tp->host->error_new(CLEAT_STATUS_INTERNAL, errno, "cannot write %s: %s", path, strerror(errno));
        return -errno;
    }
    fprintf(f, "%s\n", cidr);
    fclose(f);
    return 0;
}

#if defined(TP_NETWORK)
/* A network hook a test can watch: <state_dir>/<setup|teardown>-<pod id> holds the netns path. */
static int tp_note(struct tp_instance *tp, const char *what, const struct cleat_network_pod *pod,
                   struct cleat_error **reterr) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s-%s", tp->host->state_dir(tp->host), what, pod->sandbox_id);
    FILE *f = fopen(path, "we");
    if (!f) {
        *reterr = tp->host->error_new(CLEAT_STATUS_INTERNAL, errno, "cannot write %s: %s", path, strerror(errno));
        return -errno;
    }
    fprintf(f, "%s\n", pod->netns_path ? pod->netns_path : "");
    fclose(f);
    return 0;
}

/*
 * Gives every pod 10.88.0.5/16 and fd00::5/64, except a pod named "fail-net",
 * whose setup fails, and one named "slow-net", whose setup takes 5 s (for a
 * test to kill cleatd in the middle of RunPodSandbox).
 */
TP_OP int tp_net_setup(void *instance, const struct cleat_network_pod *pod, struct cleat_net_result *ret_result,
                       struct cleat_error **reterr) {
    struct tp_instance *tp = instance;
    int r = tp_note(tp, "setup", pod, reterr);
    if (r < 0)
        return r;
    if (strcmp(pod->name, "slow-net") == 0)
        sleep(5);
    if (strcmp(pod->name, "fail-net") == 0) {
        *reterr = tp->host->error_new(CLEAT_STATUS_INTERNAL, EIO, "test network: no addresses left");
        return -EIO;
    }
    r = tp->host->net_result_add_ip(ret_result, "eth0", "10.88.0.5/16", "10.88.0.1", reterr);
    return r < 0 ? r : tp->host->net_result_add_ip(ret_result, "eth0", "fd00::5/64", NULL, reterr);
}

TP_OP int tp_net_teardown(void *instance, const struct cleat_network_pod *pod, struct cleat_error **reterr) {
    return tp_note(instance, "teardown", pod, reterr);
}

__attribute__((unused)) static const struct cleat_network_ops tp_ops = {tp_status, tp_net_setup, tp_net_teardown, NULL,
                                                                        tp_update_pod_cidr};
#define TP_CONCERN CLEAT_CONCERN_NETWORK
#elif defined(TP_SNAPSHOTTER)
__attribute__((unused)) static const struct cleat_snapshotter_ops tp_ops = {.prepare = NULL};
#define TP_CONCERN CLEAT_CONCERN_SNAPSHOTTER
#elif defined(TP_TRANSPORT)
__attribute__((unused)) static const struct cleat_transport_ops tp_ops = {.resolve = NULL};
#define TP_CONCERN CLEAT_CONCERN_TRANSPORT
#elif defined(TP_ABI_1_0)
/*
 * Built as if against ABI 1.0: its descriptor says 1.0 and its table ends
 * where 1.1 appended stats.  What lies past that end in its memory (here:
 * functions that fail the test if called) must never be read by the host.
 */
static int tp_past_the_end(void *instance) {
    (void)instance;
    abort();
}
TP_OP int tp_never_stats(void *instance, const char *id, struct cleat_runtime_stats *ret, struct cleat_error **reterr) {
    (void)id;
    (void)ret;
    (void)reterr;
    return tp_past_the_end(instance);
}
TP_OP int tp_never_update(void *instance, const char *id, const char *json, struct cleat_error **reterr) {
    (void)id;
    (void)json;
    (void)reterr;
    return tp_past_the_end(instance);
}
__attribute__((unused)) static const struct cleat_runtime_ops tp_ops = {
    .status = tp_status, .features = tp_features, .stats = tp_never_stats, .sandbox_update = tp_never_update};
#define TP_CONCERN CLEAT_CONCERN_RUNTIME
#define TP_OPS_SIZE offsetof(struct cleat_runtime_ops, stats)
#else
__attribute__((unused)) static const struct cleat_runtime_ops tp_ops = {.status = tp_status, .features = tp_features};
#define TP_CONCERN CLEAT_CONCERN_RUNTIME
#endif

#if defined(TP_UNDEFINED_SYMBOL)
/* Exists nowhere: loading must fail with the dynamic linker's own words. */
extern int cleat_test_symbol_that_does_not_exist(void);
int (*volatile tp_keep_reference)(void) = cleat_test_symbol_that_does_not_exist;
#endif

#ifndef TP_NO_SYMBOL
CLEAT_PLUGIN_EXPORT extern const struct cleat_plugin cleat_plugin;
const struct cleat_plugin cleat_plugin = {
#ifdef TP_BAD_MAGIC
    0xdeadbeefu,
#else
    CLEAT_PLUGIN_MAGIC,
#endif
#ifdef TP_OTHER_MAJOR
    CLEAT_ABI_MAJOR + 1,
#else
    CLEAT_ABI_MAJOR,
#endif
#ifdef TP_NEWER_MINOR
    CLEAT_ABI_MINOR + 1,
#elif defined(TP_ABI_1_0)
    0,
#else
    CLEAT_ABI_MINOR,
#endif
#ifdef TP_SMALL_STRUCT
    (uint32_t)offsetof(struct cleat_plugin, validate),
#else
    (uint32_t)sizeof(struct cleat_plugin),
#endif
    TP_CONCERN,
    "test-plugin",
    "0.0.1",
    "a plugin for cleat's own tests",
    tp_validate,
    tp_init,
    tp_fini,
    &tp_ops,
#ifdef TP_SHORT_OPS
    /* As if built against an older minor that only knew status and features. */
    offsetof(struct cleat_runtime_ops, sandbox_create),
#elif defined(TP_OPS_SIZE)
    TP_OPS_SIZE,
#else
    sizeof(tp_ops),
#endif
};
#else
/* A plugin that forgot its descriptor: it exports something else. */
CLEAT_PLUGIN_EXPORT int cleat_plugin_typo = 1;
#endif
