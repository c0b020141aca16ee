/* SPDX-License-Identifier: Apache-2.0 */
/* The gauges of the metrics endpoint, computed at each scrape (see metrics_gauges.h). */
#include "metrics_gauges.h"

#include "daemon.h"
#include "events.h"
#include "metrics.h"
#include "runtime_service.h"

void metrics_render_gauges(struct daemon *d, struct strbuf *out) {
    if (!d || !d->runtime)
        return;
    sandbox_record **pods = NULL;
    container_record **ctrs = NULL;
    size_t n_pods = 0, n_ctrs = 0;
    struct cleat_error *err = NULL;
    uint64_t ready = 0, notready = 0, by_state[4] = {0};
    if (pod_list(d->runtime, NULL, &pods, &n_pods, &err) >= 0)
        for (size_t i = 0; i < n_pods; i++)
            pods[i]->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY ? ready++ : notready++;
    error_free(err);
    err = NULL;
    if (container_list(d->runtime, NULL, NULL, &ctrs, &n_ctrs, &err) >= 0)
        for (size_t i = 0; i < n_ctrs; i++)
            by_state[ctrs[i]->state < 4 ? ctrs[i]->state : RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN]++;
    error_free(err);
    sandbox_records_free(pods, n_pods);
    container_records_free(ctrs, n_ctrs);
    metrics_header(out, "cleat_pods", "gauge", "Pod sandboxes by state.");
    strbuf_printf(out, "cleat_pods{state=\"ready\"} %llu\ncleat_pods{state=\"notready\"} %llu\n",
                  (unsigned long long)ready, (unsigned long long)notready);
    metrics_header(out, "cleat_containers", "gauge", "Containers by state.");
    static const char *const names[4] = {"created", "running", "exited", "unknown"};
    for (size_t s = 0; s < 4; s++)
        strbuf_printf(out, "cleat_containers{state=\"%s\"} %llu\n", names[s], (unsigned long long)by_state[s]);
    if (d->events) {
        uint64_t published = 0, dropped = 0;
        event_hub_counts(d->events, &published, &dropped);
        metrics_header(out, "cleat_container_event_subscribers", "gauge", "GetContainerEvents streams open.");
        strbuf_printf(out, "cleat_container_event_subscribers %zu\n", event_hub_subscribers(d->events));
        metrics_header(out, "cleat_container_events_total", "counter", "Container events published.");
        strbuf_printf(out, "cleat_container_events_total %llu\n", (unsigned long long)published);
        metrics_header(out, "cleat_container_event_subscribers_dropped_total", "counter",
                       "GetContainerEvents subscribers dropped for falling behind.");
        strbuf_printf(out, "cleat_container_event_subscribers_dropped_total %llu\n", (unsigned long long)dropped);
    }
}
