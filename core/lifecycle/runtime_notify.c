/* SPDX-License-Identifier: Apache-2.0 */
/* Telling the observers of the lifecycle (runtime_deps) what changed. */
#include <stdio.h>

#include "runtime_internal.h"

void runtime_notify(struct runtime_service *rs, const char *container_id, const char *pod_id,
                    enum lifecycle_change change) {
    if (rs->deps.n_observers == 0)
        return;
    char pod[65] = "";
    if (pod_id) {
        snprintf(pod, sizeof(pod), "%s", pod_id);
    } else { /* an exit: is it a container's (not a pause's), and whose? */
        container_record *rec = NULL;
        struct cleat_error *err = NULL;
        int r = container_record_load(rs, container_id, &rec, &err);
        if (r >= 0)
            snprintf(pod, sizeof(pod), "%s", rec->sandbox_id);
        container_record_free(rec);
        error_free(err);
        if (r < 0)
            return;
    }
    for (size_t i = 0; i < rs->deps.n_observers; i++)
        rs->deps.observers[i].changed(rs->deps.observers[i].ctx, rs, container_id, pod, change);
}
