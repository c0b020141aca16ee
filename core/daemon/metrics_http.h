/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Prometheus endpoint: a tiny HTTP/1.1 listener on a thread of its own
 * that answers GET /metrics (the counters of metrics.h and the gauges of
 * metrics_gauges.h), one request per connection.  It is off unless
 * `metrics.address` is set.
 */
#ifndef CLEAT_CORE_METRICS_HTTP_H
#define CLEAT_CORE_METRICS_HTTP_H

#include "error.h"

struct daemon;
struct metrics_server;

/*
 * Listen on `address` ("HOST:PORT", "[V6]:PORT" or ":PORT" for every
 * address) and serve GET /metrics from a thread of its own.
 */
int metrics_server_start(struct daemon *d, const char *address, struct metrics_server **ret,
                         struct cleat_error **reterr);
/* Stop the thread and close the socket.  NULL-safe. */
void metrics_server_stop(struct metrics_server *s);

#endif
