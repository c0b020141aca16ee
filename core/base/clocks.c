/* SPDX-License-Identifier: Apache-2.0 */
#include "clocks.h"

#include <time.h>

static int64_t read_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t now_ns(void) {
    return read_ns(CLOCK_REALTIME);
}

int64_t monotonic_ns(void) {
    return read_ns(CLOCK_MONOTONIC);
}

int64_t monotonic_ms(void) {
    return read_ns(CLOCK_MONOTONIC) / 1000000;
}

void cond_init_on_clock(pthread_cond_t *cond, clockid_t clock) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, clock);
    pthread_cond_init(cond, &ca);
    pthread_condattr_destroy(&ca);
}
