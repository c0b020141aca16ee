/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stats collector: a thread that measures every live container and
 * ready pod once a period (stats.collection_period_seconds) and keeps the
 * figures in the sample cache, from which the stats calls answer (stats.h).
 * kubelet asks for the stats of every container every few seconds; at 500
 * containers a list that read the cgroups answered in ~100 ms, and one that
 * reads memory answers in a few.  The CPU rate is then taken over the
 * collector's own interval.
 */
#include "stats.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clocks.h"
#include "log.h"
#include "runtime_internal.h"

struct stats_collector {
    struct runtime_service *rs;
    int64_t period_ns;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC: a clock set back must not stall it */
    int stop;
};

static void collect_containers(struct runtime_service *rs, int64_t period_ns) {
    container_record **all = NULL;
    size_t n = 0;
    struct cleat_error *err = NULL;
    if (container_list(rs, NULL, NULL, &all, &n, &err) < 0) {
        log_warning("stats collector: listing the containers: %s", error_message(err));
        error_free(err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct object_stats st;
        if (all[i]->state != CSTATE_RUNNING && all[i]->state != CSTATE_CREATED)
            continue;
        if (stats_collect_container(rs, all[i], period_ns, &st, &err) >= 0)
            stats_cache_keep(rs->stats, all[i]->id, &st);
        else /* the call measures it itself, and says why it cannot */
            log_debug("stats collector: %s", error_message(err));
        error_free(err);
        err = NULL;
    }
    container_records_free(all, n);
}

/* A pod's interface counters, read in its namespace by a thread of its own: the calls then need none. */
static void collect_network(struct runtime_service *rs, const sandbox_record *pod) {
    struct net_iface *ifs = NULL;
    size_t n = 0;
    struct cleat_error *err = NULL;
    int64_t ts = now_ns();
    if (!stats_pod_has_network(pod))
        return;
    if (stats_measure_pod_network(rs, pod, &ifs, &n, &err) >= 0)
        stats_cache_keep_net(rs->stats, pod->id, ts, ifs, n);
    else
        log_debug("stats collector: %s", error_message(err));
    error_free(err);
    free(ifs);
}

static void collect_pods(struct runtime_service *rs) {
    sandbox_record **pods = NULL;
    size_t n = 0;
    struct cleat_error *err = NULL;
    if (pod_list(rs, NULL, &pods, &n, &err) < 0) {
        log_warning("stats collector: listing the pods: %s", error_message(err));
        error_free(err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct object_stats st;
        if (pods[i]->state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
            continue;
        if (stats_measure_pod(rs, pods[i], &st, &err) >= 0)
            stats_cache_keep(rs->stats, pods[i]->id, &st);
        else
            log_debug("stats collector: %s", error_message(err));
        error_free(err);
        err = NULL;
        collect_network(rs, pods[i]);
    }
    sandbox_records_free(pods, n);
}

/* Until stop: a round, then wait out the rest of the period (a slow round starts the next at once). */
static void *collect(void *arg) {
    struct stats_collector *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        pthread_mutex_unlock(&c->mu);
        int64_t started = monotonic_ns();
        collect_containers(c->rs, c->period_ns);
        collect_pods(c->rs);
        int64_t next = started + c->period_ns;
        struct timespec at = {.tv_sec = next / 1000000000, .tv_nsec = next % 1000000000};
        pthread_mutex_lock(&c->mu);
        while (!c->stop && pthread_cond_timedwait(&c->cond, &c->mu, &at) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int stats_collector_start(struct runtime_service *rs, struct cleat_error **reterr) {
    int64_t period = (int64_t)rs->deps.cfg->stats_collection_period_seconds * 1000000000;
    if (rs->collector)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EALREADY, "the stats collector runs already");
    if (period <= 0)
        return 0;
    struct stats_collector *c = calloc(1, sizeof(*c));
    if (!c)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    c->rs = rs;
    c->period_ns = period;
    pthread_mutex_init(&c->mu, NULL);
    cond_init_on_clock(&c->cond, CLOCK_MONOTONIC);
    int e = pthread_create(&c->thread, NULL, collect, c);
    if (e != 0) {
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return error_set(reterr, CLEAT_STATUS_INTERNAL, e, "cannot start the stats collector: %s", strerror(e));
    }
    rs->collector = c;
    __atomic_store_n(&rs->stats_period_ns, period, __ATOMIC_RELAXED);
    return 0;
}

void stats_collector_stop(struct runtime_service *rs) {
    struct stats_collector *c = rs ? rs->collector : NULL;
    if (!c)
        return;
    __atomic_store_n(&rs->stats_period_ns, 0, __ATOMIC_RELAXED); /* the calls measure again themselves */
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->mu);
    free(c);
    rs->collector = NULL;
}
