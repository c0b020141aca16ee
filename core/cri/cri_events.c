/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container events for kubelet's evented PLEG: GetContainerEvents streams,
 * fed by an observer of the lifecycle (cri_events_observer), which hears
 * when a pod or container was created, started, stopped (its init exited,
 * however that was noticed) or deleted.
 *
 * An event carries what the PLEG would otherwise poll for: the pod's status
 * and the statuses of all the pod's containers, as containerd sends them.
 * It is built once, at the moment of the change, only when somebody
 * subscribes, and handed to the hub (events.h), which never waits for a
 * subscriber: lifecycle operations do not slow down for a slow client.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clocks.h"
#include "api.pb-c.h"
#include "config.h"
#include "cri.h"
#include "cri_convert.h"
#include "events.h"
#include "log.h"
#include "runtime_service.h"

/* How often a stream with nothing to send checks whether its client is still there. */
#define IDLE_CHECK_MS 250

static void add_container_statuses(struct arena *a, struct runtime_service *rs, const char *pod_id,
                                   Runtime__V1__ContainerEventResponse *ev) {
    container_record **recs = NULL;
    size_t n = 0;
    struct cleat_error *err = NULL;
    if (pod_containers(rs, pod_id, &recs, &n, &err) < 0) {
        error_free(err);
        return;
    }
    ev->containers_statuses = arena_array(a, n + 1, sizeof(*ev->containers_statuses));
    for (size_t i = 0; i < n; i++) {
        json_t *spec = cri_container_spec(rs, recs[i]->id);
        ev->containers_statuses[ev->n_containers_statuses++] = cri_container_status_build(a, recs[i], spec);
        json_decref(spec);
    }
    container_records_free(recs, n);
}

static const Runtime__V1__ContainerEventType event_types[] = {
    [LIFECYCLE_CREATED] = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT,
    [LIFECYCLE_STARTED] = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT,
    [LIFECYCLE_STOPPED] = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT,
    [LIFECYCLE_DELETED] = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT,
};

static void publish_change(void *ctx, struct runtime_service *rs, const char *container_id, const char *pod_id,
                           enum lifecycle_change change) {
    struct event_hub *hub = ctx;
    if (event_hub_subscribers(hub) == 0)
        return;
    struct arena *a = arena_new();
    Runtime__V1__ContainerEventResponse ev = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;
    ev.container_id = (char *)container_id;
    ev.container_event_type = event_types[change];
    ev.created_at = now_ns();
    sandbox_record *prec = NULL;
    struct cleat_error *err = NULL;
    if (pod_get(rs, pod_id, &prec, &err) >= 0)
        ev.pod_sandbox_status = cri_pod_status_build(a, prec, NULL);
    error_free(err);
    add_container_statuses(a, rs, pod_id, &ev);
    size_t len = runtime__v1__container_event_response__get_packed_size(&ev);
    uint8_t *buf = arena_alloc(a, len + 1);
    runtime__v1__container_event_response__pack(&ev, buf);
    event_hub_publish(hub, buf, len);
    sandbox_record_free(prec);
    arena_free(a);
}

struct lifecycle_observer cri_events_observer(struct event_hub *hub) {
    return (struct lifecycle_observer){.changed = publish_change, .ctx = hub};
}

/* One queued event onto the stream; <0 when the client is gone. */
static int send_event(struct rpc_stream *stream, const void *data, size_t len, struct cleat_error **reterr) {
    struct arena *a = arena_new();
    ProtobufCMessage *m = cri_unpack_to_arena(a, &runtime__v1__container_event_response__descriptor, len, data);
    int r = m ? rpc_stream_send(stream, m, reterr)
              : error_set(reterr, CLEAT_STATUS_INTERNAL, EPROTO, "a queued container event does not parse");
    arena_free(a);
    return r;
}

int cri_get_container_events(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, struct rpc_stream *stream,
                             struct cleat_error **reterr) {
    struct cri_context *d = ctx;
    struct event_sub *sub = d->events ? event_hub_subscribe(d->events) : NULL;
    if (!sub)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "cannot subscribe to container events");
    log_debug("GetContainerEvents: a subscriber joined (%zu now)", event_hub_subscribers(d->events));
    int r = 0;
    while (r >= 0 && !rpc_stream_closed(stream)) {
        void *data = NULL;
        size_t len = 0;
        int n = event_sub_next(d->events, sub, IDLE_CHECK_MS, &data, &len);
        if (n == -EPIPE) {
            log_warning("GetContainerEvents: a subscriber fell more than %u events behind and is dropped",
                        d->cfg->events_queue_size);
            r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOBUFS,
                          "this subscriber fell more than %u events behind; subscribe again and relist",
                          d->cfg->events_queue_size);
        } else if (n < 0) {
            r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, -n, "cannot take the next container event");
        } else if (n > 0) {
            r = send_event(stream, data, len, reterr);
            free(data);
        }
    }
    event_hub_unsubscribe(d->events, sub);
    return r;
}
