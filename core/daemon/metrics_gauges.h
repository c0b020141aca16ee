/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Gauges read at scrape time: pods and containers by state (from the
 * lifecycle's records) and the GetContainerEvents subscribers.  They live
 * here, above the lifecycle and the event hub, so that the counters
 * (metrics.h) stay a leaf every layer may bump.
 */
#ifndef CLEAT_CORE_METRICS_GAUGES_H
#define CLEAT_CORE_METRICS_GAUGES_H

#include "strbuf.h"

struct daemon;

/* Append the gauges in the text format.  NULL d, or one without a runtime yet: nothing. */
void metrics_render_gauges(struct daemon *d, struct strbuf *out);

#endif
