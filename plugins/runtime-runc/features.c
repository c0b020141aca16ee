/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the configured OCI runtime can do, from its own word: `RUNTIME
 * features` prints the runtime-spec "features" document (runc >= 1.1, crun
 * >= 1.8).  Recursive read-only mounts are claimed only when its
 * mountOptions list "rro"; a runtime without the subcommand (older runc,
 * other runtimes) makes no such claim.  Asked once, when the instance is
 * made, so that features() answers the same for the instance's life.
 */
#include <jansson.h>
#include <string.h>

#include "plugin_json.h"
#include "runc.h"

/* The bits the runtime's features document earns; 0 for one we could not read. */
static uint64_t bits_of(const char *doc) {
    _cleanup_json_ json_t *root = json_loads(doc, 0, NULL);
    json_t *opts = json_object_get(root, "mountOptions");
    size_t i;
    json_t *v;
    json_array_foreach(opts, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), "rro") == 0)
            return CLEAT_RUNTIME_FEATURE_RECURSIVE_READ_ONLY_MOUNTS;
    }
    return 0;
}

void rr_probe_features(struct rr *rr) {
    static const char *const words[] = {"features", NULL};
    struct plugin_output o = {0};
    rr->features = 0;
    if (rr_runc_raw(rr, words, 1, &o, NULL) < 0)
        return; /* not runnable (a missing binary): status() says why */
    if (!o.timed_out && o.exit_status == 0)
        rr->features = bits_of(o.out);
    plugin_output_done(&o);
}
