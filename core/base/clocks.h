/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The clocks the core reads, in one place: wall time for what is recorded
 * or shown (CRI timestamps, exits, deadlines that travel with records) and
 * monotonic time for measuring and for timeouts that must not jump.
 */
#ifndef CLEAT_CORE_CLOCKS_H
#define CLEAT_CORE_CLOCKS_H

#include <stdint.h>

/* CLOCK_REALTIME in nanoseconds since the epoch. */
int64_t now_ns(void);
/* CLOCK_MONOTONIC in nanoseconds, and in milliseconds. */
int64_t monotonic_ns(void);
int64_t monotonic_ms(void);

#endif
