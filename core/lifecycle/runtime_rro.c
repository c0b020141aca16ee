/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Recursive read-only mounts (CRI Mount.recursive_read_only, kubelet's
 * recursiveReadOnly: Enabled): the runtime makes a bind and every mount
 * below it read-only.  kubelet sends such a mount only to a handler whose
 * Status features say recursive_read_only_mounts, and trusts that word; so
 * the word is given only where the runtime says it can (its features bit)
 * and this kernel can (probed once at start-up), and CreateContainer
 * refuses such a mount everywhere else instead of making it writable below
 * its top.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mount_util.h"
#include "plugin_calls.h"
#include "runtime_internal.h"

void runtime_rro_probe(struct runtime_service *rs) {
    struct cleat_error *err = NULL;
    int r = mount_recursive_ro_probe(rs->containers_dir, &err);
    rs->rro_ok = r >= 0;
    if (r >= 0) {
        log_info("recursive read-only mounts: this kernel can make them");
    } else {
        rs->rro_reason = strdup(error_message(err));
        log_notice("recursive read-only mounts: not here: %s", error_message(err));
    }
    error_free(err);
}

int runtime_rro_supported(struct runtime_service *rs, struct plugin_instance *rt, struct cleat_error **reterr) {
    if (!rt || !(plugin_runtime_features(rt) & CLEAT_RUNTIME_FEATURE_RECURSIVE_READ_ONLY_MOUNTS))
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                         "the runtime handler \"%s\" cannot make recursive read-only mounts", rt ? rt->name : "");
    if (!rs->rro_ok)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                         "recursive read-only mounts cannot be made on this node: %s",
                         rs->rro_reason ? rs->rro_reason : "out of memory");
    return 0;
}

int create_check_rro(struct runtime_service *rs, struct plugin_instance *rt, const Runtime__V1__ContainerConfig *config,
                     struct cleat_error **reterr) {
    for (size_t i = 0; i < config->n_mounts; i++) {
        const Runtime__V1__Mount *m = config->mounts[i];
        if (!m->recursive_read_only)
            continue;
        int r = runtime_rro_supported(rs, rt, reterr);
        if (r < 0)
            return error_prefix(r, reterr, "mount %s: recursive_read_only", m->container_path);
    }
    return 0;
}
