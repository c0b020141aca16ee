/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pod CIDR kubelet hands down with UpdateRuntimeConfig: kept in the
 * store's meta table so that a restarted cleatd hands the same one to the
 * network plugin before kubelet says it again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_calls.h"
#include "log.h"
#include "netaddr.h"
#include "runtime_internal.h"

#define META_POD_CIDR "pod_cidr"

/* One CIDR, or a dual-stack pair "v4,v6" as kubelet sends it; no empty parts. */
static int valid_pod_cidr(const char *cidr) {
    const char *comma = strchr(cidr, ',');
    if (!comma)
        return netaddr_is_cidr(cidr, strlen(cidr));
    return netaddr_is_cidr(cidr, (size_t)(comma - cidr)) && netaddr_is_cidr(comma + 1, strlen(comma + 1));
}

static int push_pod_cidr(struct runtime_service *rs, const char *cidr, struct cleat_error **reterr) {
    struct plugin_instance *net = pod_network(rs);
    /* A network plugin without the op has nothing to do with the CIDR. */
    if (!net || !plugin_has_op(net, "update_pod_cidr") || !*cidr)
        return 0;
    int r = plugin_network_update_pod_cidr(net, cidr, reterr);
    return r < 0 ? error_prefix(r, reterr, "network '%s' refused pod CIDR %s", net->name, cidr) : 0;
}

char *runtime_pod_cidr(struct runtime_service *rs) {
    pthread_mutex_lock(&rs->cidr_mu);
    char *c = strdup(rs->pod_cidr ? rs->pod_cidr : "");
    pthread_mutex_unlock(&rs->cidr_mu);
    return c;
}

int runtime_set_pod_cidr(struct runtime_service *rs, const char *cidr, struct cleat_error **reterr) {
    if (*cidr && !valid_pod_cidr(cidr))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "pod CIDR '%s' is not a CIDR (or two, comma-separated)", cidr);
    char *copy = strdup(cidr);
    if (!copy)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    int r = store_meta_set(rs->deps.store, META_POD_CIDR, cidr, reterr);
    if (r < 0) {
        free(copy);
        return r;
    }
    pthread_mutex_lock(&rs->cidr_mu);
    int changed = !rs->pod_cidr || strcmp(rs->pod_cidr, cidr) != 0;
    free(rs->pod_cidr);
    rs->pod_cidr = copy;
    pthread_mutex_unlock(&rs->cidr_mu);
    if (changed)
        log_info("pod CIDR is now '%s'", cidr);
    return push_pod_cidr(rs, cidr, reterr);
}

int pod_cidr_load(struct runtime_service *rs, struct cleat_error **reterr) {
    char *cidr = NULL;
    struct cleat_error *err = NULL;
    int r = store_meta_get(rs->deps.store, META_POD_CIDR, &cidr, &err);
    if (r < 0 && error_status(err) == CLEAT_STATUS_NOT_FOUND) {
        error_free(err);
        return 0;
    }
    if (r < 0) {
        *reterr = err;
        return r;
    }
    rs->pod_cidr = cidr;
    /* A network plugin that cannot take the CIDR now must not keep cleatd from serving. */
    if (push_pod_cidr(rs, cidr, &err) < 0) {
        log_warning("%s", error_message(err));
        error_free(err);
    }
    return 0;
}
