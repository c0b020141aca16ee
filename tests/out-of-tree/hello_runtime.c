/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A runtime plugin written as a third party would: it sees only the
 * installed SDK headers and is built with `pkg-config --cflags --libs
 * cleat-plugin` alone.  It can do nothing but say it is ready and which
 * features it has; every other op is NULL and so answers UNIMPLEMENTED.
 */
#include <errno.h>
#include <stdlib.h>

#include <cleat/runtime.h>

struct hello {
    const struct cleat_host *host;
    const char *greeting;
};

static int hello_init(const struct cleat_host *host, const struct cleat_config *options, void **ret_instance,
                      struct cleat_error **reterr) {
    static const char *const keys[] = {"greeting", NULL};
    struct hello *h;
    int r;
    if (host->config_kind(options) != CLEAT_CONFIG_ABSENT && (r = host->config_check_keys(options, keys, reterr)) < 0)
        return r;
    h = calloc(1, sizeof(*h));
    if (!h) {
        *reterr = host->error_new(CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        return -ENOMEM;
    }
    h->host = host;
    r = host->config_get_string(options, "greeting", "hello", &h->greeting, reterr);
    if (r < 0) {
        free(h);
        return r;
    }
    cleat_log(host, CLEAT_LOG_INFO, "%s from an out-of-tree plugin", h->greeting);
    *ret_instance = h;
    return 0;
}

static void hello_fini(void *instance) {
    free(instance);
}

static int hello_status(void *instance, struct cleat_error **reterr) {
    (void)instance;
    (void)reterr;
    return 0;
}

/* A feature the core reports as the runtime says (user namespaces also need the host to allow them). */
static uint64_t hello_features(void *instance) {
    (void)instance;
    return CLEAT_RUNTIME_FEATURE_RECURSIVE_READ_ONLY_MOUNTS;
}

static const struct cleat_runtime_ops hello_ops = {.status = hello_status, .features = hello_features};

CLEAT_PLUGIN_DEFINE(CLEAT_CONCERN_RUNTIME, "hello-runtime", "1.0", "an out-of-tree example", NULL, hello_init,
                    hello_fini, hello_ops);
