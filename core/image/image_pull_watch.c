/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The monitor of a running pull: progress in the log, and cancellation of a
 * pull that makes no progress (as containerd's image_pull_progress_timeout)
 * or whose callers have all left.
 *
 * Progress is any byte received by any of the pull's downloads, a layer
 * unpacked, or an unpack under way (a big layer unpacks for a while without
 * a byte arriving).  A cancel only sets progress.cancel: the blob writers
 * then refuse bytes and tell the transport (cleat_host.blob_cancelled), the
 * pull's steps check it between them, and the failed pull cleans up after
 * itself as any failed pull does (image_pull), without keeping a partial
 * download for a resume.  What cannot be interrupted (a transport's resolve,
 * an unpack in progress) ends on its own, and the pull stops right after.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "clocks.h"
#include "image_internal.h"
#include "log.h"

#define TICK_NS INT64_C(1000000000)

int pull_check_cancel(struct pull *p, struct cleat_error **reterr) {
    if (!atomic_load(&p->progress.cancel))
        return 0;
    return error_set(reterr, CLEAT_STATUS_CANCELLED, ECANCELED, "the pull was cancelled");
}

static void log_progress(const struct pull_watch *w, int64_t elapsed_ns) {
    struct pull_progress *pr = &w->p->progress;
    unsigned long long bytes = atomic_load(&pr->bytes), total = atomic_load(&pr->total_bytes);
    unsigned done = atomic_load(&pr->layers_done), layers = atomic_load(&pr->layers_total);
    if (layers)
        log_info("pulling %s: %llu of %llu layer bytes received, %u of %u layers done (%.0f s)", w->reference, bytes,
                 total, done, layers, (double)elapsed_ns / 1e9);
    else
        log_info("pulling %s: %llu bytes received, resolving and reading the manifest (%.0f s)", w->reference, bytes,
                 (double)elapsed_ns / 1e9);
}

static void cancel(struct pull_watch *w, int why) {
    int none = PULL_CANCEL_NONE;
    if (!atomic_compare_exchange_strong(&w->p->progress.cancel, &none, why))
        return;
    if (why == PULL_CANCEL_STALLED)
        log_warning("pulling %s: no progress for %u s (images.pull_progress_timeout_seconds): cancelled", w->reference,
                    w->p->svc->progress_timeout_s);
    else
        log_info("pulling %s: every caller's client went away: cancelled", w->reference);
}

/* Wait one tick, or until told to stop; 1 to go on. */
static int tick(struct pull_watch *w) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += 1;
    pthread_mutex_lock(&w->lock);
    while (!w->stop && pthread_cond_timedwait(&w->wake, &w->lock, &until) != ETIMEDOUT)
        ;
    int go_on = !w->stop;
    pthread_mutex_unlock(&w->lock);
    return go_on;
}

static void *watch_main(void *arg) {
    struct pull_watch *w = arg;
    struct pull_progress *pr = &w->p->progress;
    const struct image_service *svc = w->p->svc;
    int64_t start = monotonic_ns(), last_progress = start, last_log = start;
    uint64_t seen_bytes = 0;
    unsigned seen_done = 0;
    while (tick(w)) {
        int64_t now = monotonic_ns();
        uint64_t bytes = atomic_load(&pr->bytes);
        unsigned done = atomic_load(&pr->layers_done);
        if (bytes != seen_bytes || done != seen_done || atomic_load(&pr->unpacking))
            last_progress = now;
        seen_bytes = bytes;
        seen_done = done;
        if (svc->progress_log_interval_s && now - last_log >= (int64_t)svc->progress_log_interval_s * TICK_NS) {
            log_progress(w, now - start);
            last_log = now;
        }
        if (svc->progress_timeout_s && now - last_progress >= (int64_t)svc->progress_timeout_s * TICK_NS)
            cancel(w, PULL_CANCEL_STALLED);
        else if (w->clients_gone && w->clients_gone(w->ctx))
            cancel(w, PULL_CANCEL_CLIENT_GONE);
    }
    return NULL;
}

void pull_watch_start(struct pull_watch *w) {
    const struct image_service *svc = w->p->svc;
    w->started = w->stop = 0;
    if (!svc->progress_timeout_s && !svc->progress_log_interval_s && !w->clients_gone)
        return;
    cond_init_on_clock(&w->wake, CLOCK_MONOTONIC);
    pthread_mutex_init(&w->lock, NULL);
    if (pthread_create(&w->thread, NULL, watch_main, w) == 0) {
        w->started = 1;
        return;
    }
    log_warning("pulling %s: cannot start its monitor: no progress log or timeout for it", w->reference);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
}

void pull_watch_stop(struct pull_watch *w) {
    if (!w->started)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    w->started = 0;
}

int pull_cancel_error(struct pull *p, struct cleat_error **reterr) {
    struct pull_progress *pr = &p->progress;
    int why = atomic_load(&pr->cancel);
    if (why == PULL_CANCEL_NONE)
        return 0;
    if (reterr) {
        error_free(*reterr);
        *reterr = NULL;
    }
    if (why == PULL_CANCEL_CLIENT_GONE)
        return error_set(reterr, CLEAT_STATUS_CANCELLED, ECANCELED,
                         "cancelled: the client went away (%llu bytes had arrived; nothing is kept)",
                         (unsigned long long)atomic_load(&pr->bytes));
    return error_set(reterr, CLEAT_STATUS_DEADLINE_EXCEEDED, ETIMEDOUT,
                     "no progress for %u s (images.pull_progress_timeout_seconds): cancelled after %llu of %llu layer "
                     "bytes and %u of %u layers (nothing is kept)",
                     p->svc->progress_timeout_s, (unsigned long long)atomic_load(&pr->bytes),
                     (unsigned long long)atomic_load(&pr->total_bytes), atomic_load(&pr->layers_done),
                     atomic_load(&pr->layers_total));
}
