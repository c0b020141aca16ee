/* SPDX-License-Identifier: Apache-2.0 */
/* Clocks and sleeping. */
#ifndef CLEAT_PLUGIN_CLOCK_H
#define CLEAT_PLUGIN_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds: for deadlines and durations (never goes back, stops in suspend). */
int64_t plugin_monotonic_ms(void);
/* CLOCK_REALTIME in nanoseconds since the epoch: for times the CRI reports (created_at, exited_at). */
int64_t plugin_realtime_ns(void);
/* Sleep `ms` milliseconds, all of them even when a signal interrupts; nothing for ms <= 0. */
void plugin_sleep_ms(int64_t ms);

#endif
