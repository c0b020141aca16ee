/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cleatd's own counters, for Prometheus: bumped where things happen (RPCs,
 * pulls, plugin errors, pod and container changes) and rendered in the text
 * exposition format 0.0.4.
 *
 * A leaf: it knows no pod, container or daemon.  The counters are
 * process-wide (one daemon per process), so the places that count need no
 * handle; each update is a short critical section.  Gauges computed at
 * scrape time (pods and containers by state) and the HTTP endpoint live in
 * the daemon layer (metrics_gauges.h, metrics_http.h), above what they read.
 */
#ifndef CLEAT_CORE_METRICS_H
#define CLEAT_CORE_METRICS_H

#include <stdint.h>

#include "error.h"
#include "strbuf.h"

/* One finished RPC: its full method path, gRPC status code and duration. */
void metrics_rpc_observe(const char *method, int32_t status, int64_t duration_ns);
/* One PullImage that did the work (not one that joined another's): ok or not, and blob bytes fetched. */
void metrics_pull_done(int ok);
void metrics_pull_bytes(uint64_t bytes);
/* A plugin call failed: the instance's concern ("runtime"...), its name and the operation ("create"). */
void metrics_plugin_error(const char *concern, const char *instance, const char *op);

/*
 * A pod or container changed: object "pod" or "container", change
 * "created", "started", "stopped" or "deleted" (the lifecycle's observers
 * report it).  Other names are ignored.
 */
void metrics_lifecycle_change(const char *object, const char *change);

/* Every counter in the text format, appended to out. */
void metrics_render(struct strbuf *out);
/* The "# HELP" and "# TYPE" lines of one metric, for renderers of other series. */
void metrics_header(struct strbuf *out, const char *name, const char *type, const char *help);

#endif
