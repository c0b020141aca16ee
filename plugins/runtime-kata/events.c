/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-kata: the events the shims forward.  Exits come from Wait (no
 * exit is lost while cleatd is down that way); what only an event says is
 * an OOM kill, which a VM's cgroups do not show on the host: TaskOOM marks
 * the container, and state() reports it (OOMKilled), also after a restart.
 */
#include <stdio.h>
#include <string.h>

#include "kata.h"

void kata_on_event(void *ctx, const char *topic, const char *ns, const char *type_url, const uint8_t *value,
                   size_t len) {
    struct kata *k = ctx;
    (void)topic;
    (void)ns;
    if (!type_url || !shim_type_is(type_url, SHIM_TYPE_TASK_OOM))
        return;
    Shimv2__TaskOOM *ev = shimv2__task_oom__unpack(NULL, len, value);
    if (!ev)
        return;
    struct kata_task *t = ev->container_id ? kata_task_get(k, ev->container_id, NULL) : NULL;
    if (t) {
        pthread_mutex_lock(&k->lock);
        t->oom = 1;
        pthread_mutex_unlock(&k->lock);
        char name[160];
        snprintf(name, sizeof(name), "%s.oom", t->id);
        if (t->bundle && kata_record_write(k->tasks_dir, name, "{}", 0) < 0)
            cleat_log(k->host, CLEAT_LOG_WARNING, "container '%s': cannot record its OOM kill", t->id);
        kata_task_put(k, t);
    }
    shimv2__task_oom__free_unpacked(ev, NULL);
}
