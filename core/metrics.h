/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cleatd's own metrics, for Prometheus: counters the code bumps where things
 * happen (RPCs, pulls, plugin errors) and gauges computed when scraped (pods
 * and containers by state, event subscribers).
 *
 * The counters are process-wide (one daemon per process), so the places that
 * count need no handle; each update is a short critical section.  The
 * endpoint (metrics_server_*) is a tiny HTTP/1.1 listener on a thread of its
 * own that answers GET /metrics in the text exposition format 0.0.4, one
 * request per connection.  It is off unless `metrics.address` is set.
 */
#ifndef CLEAT_CORE_METRICS_H
#define CLEAT_CORE_METRICS_H

#include <stdint.h>

#include "error.h"
#include "strbuf.h"

struct daemon;
struct metrics_server;

/* One finished RPC: its full method path, gRPC status code and duration. */
void metrics_rpc_observe(const char *method, int32_t status, int64_t duration_ns);
/* One PullImage that did the work (not one that joined another's): ok or not, and blob bytes fetched. */
void metrics_pull_done(int ok);
void metrics_pull_bytes(uint64_t bytes);
/* A plugin call failed: the instance's concern ("runtime"...), its name and the operation ("create"). */
void metrics_plugin_error(const char *concern, const char *instance, const char *op);

/* Everything in the text format; `d` (may be NULL) for the gauges. */
void metrics_render(struct daemon *d, struct strbuf *out);

/*
 * Listen on `address` ("HOST:PORT", "[V6]:PORT" or ":PORT" for every
 * address) and serve GET /metrics from a thread of its own.
 */
int metrics_server_start(struct daemon *d, const char *address, struct metrics_server **ret,
                         struct cleat_error **reterr);
/* Stop the thread and close the socket.  NULL-safe. */
void metrics_server_stop(struct metrics_server *s);

#endif
