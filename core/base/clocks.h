/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The clocks the core reads, in one place: wall time for what is recorded
 * or shown (CRI timestamps, exits, deadlines that travel with records) and
 * monotonic time for measuring and for timeouts that must not jump.
 */
#ifndef CLEAT_CORE_CLOCKS_H
#define CLEAT_CORE_CLOCKS_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* CLOCK_REALTIME in nanoseconds since the epoch. */
int64_t now_ns(void);
/* CLOCK_MONOTONIC in nanoseconds, and in milliseconds. */
int64_t monotonic_ns(void);
int64_t monotonic_ms(void);
/*
 * Initialise `cond` so that pthread_cond_timedwait() takes its deadline on
 * `clock` (CLOCK_MONOTONIC for waits a clock set back must not stretch,
 * CLOCK_REALTIME for deadlines in wall time).  Once per condition variable.
 */
void cond_init_on_clock(pthread_cond_t *cond, clockid_t clock);

#endif
