/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layers: fetched in parallel by a few threads while this thread and the
 * helpers of layer_unpack.c unpack each one as soon as it is there, so
 * download and unpack overlap.  Each layer becomes a committed snapshot named
 * by its chain ID; one that exists already (shared with another image) is
 * neither fetched nor unpacked again.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin_calls.h"
#include "builders.h"
#include "image_internal.h"
#include "image_layers.h"
#include "log.h"
#include "metrics.h"

struct sink {
    struct content_writer *w;
    struct pull_progress *progress;
};

static int content_sink(void *ctx, const void *data, uint64_t len, struct cleat_error **reterr) {
    struct sink *s = ctx;
    int r = content_writer_write(s->w, data, (size_t)len, reterr);
    if (r >= 0)
        atomic_fetch_add(&s->progress->bytes, len);
    return r;
}

int pull_fetch_blob(struct pull *p, const struct descriptor *d, struct cleat_error **reterr) {
    struct content_writer *w = NULL;
    int exists = 0;
    if (content_exists(p->svc->content, d->digest, NULL) == 1)
        return 0;
    int r = pull_check_cancel(p, reterr);
    if (r >= 0)
        r = content_writer_open(p->svc->content, d->digest, d->size, &w, &exists, reterr);
    if (r < 0 || exists)
        return r;
    struct sink s = {.w = w, .progress = &p->progress};
    struct cleat_blob_writer bw = {
        .sink = content_sink, .ctx = &s, .offset = content_writer_offset(w), .cancel = &p->progress.cancel};
    struct cleat_descriptor cd = {
        .media_type = d->media_type, .digest = d->digest, .size = d->size, .urls = (const char *const *)d->urls};
    int64_t resumed_at = bw.offset;
    r = plugin_transport_fetch(p->transport, &p->req, &cd, &bw, reterr);
    if (r < 0) {
        metrics_plugin_error("transport", p->transport->name, "fetch");
        /*
         * Keep what arrived so that the next pull resumes, unless the source
         * cannot resume (ESPIPE: it ignores ranges): resuming would fail
         * forever; or the pull was cancelled, which leaves nothing behind.
         */
        int keep = !(reterr && *reterr && error_errno(*reterr) == ESPIPE) && !atomic_load(&p->progress.cancel);
        content_writer_abort(w, keep);
        return error_prefix(r, reterr, "fetching %s", d->digest);
    }
    r = content_writer_commit(w, reterr);
    if (r >= 0 && d->size > resumed_at)
        metrics_pull_bytes((uint64_t)(d->size - resumed_at));
    return r;
}

static void *fetch_worker(void *arg) {
    struct layers *ls = arg;
    pthread_mutex_lock(&ls->lock);
    for (;;) {
        while (ls->next < ls->n && ls->state[ls->next] != LAYER_PENDING)
            ls->next++;
        if (ls->cancelled || ls->next >= ls->n)
            break;
        size_t i = ls->next++;
        ls->state[i] = LAYER_FETCHING;
        pthread_mutex_unlock(&ls->lock);
        struct cleat_error *err = NULL;
        int r = pull_fetch_blob(ls->p, &ls->p->manifest->layers[i], &err);
        pthread_mutex_lock(&ls->lock);
        ls->state[i] = r < 0 ? LAYER_FAILED : LAYER_FETCHED;
        ls->errors[i] = err;
        pthread_cond_broadcast(&ls->changed);
    }
    pthread_mutex_unlock(&ls->lock);
    return NULL;
}

struct exists_ctx {
    int found;
};

static int note_exists(void *ctx, const struct cleat_snapshot_info *info) {
    ((struct exists_ctx *)ctx)->found = 1;
    return 1;
}

int image_snapshot_lookup(struct plugin_instance *sn, const char *key) {
    struct exists_ctx ctx = {0};
    struct cleat_error *err = NULL;
    if (!plugin_has_op(sn, "stat"))
        return -1;
    int r = plugin_snapshotter_stat(sn, key, note_exists, &ctx, &err);
    int missing = r < 0 && error_status(err) == CLEAT_STATUS_NOT_FOUND;
    error_free(err);
    return ctx.found ? 1 : missing ? 0 : -1;
}

int image_snapshot_exists(struct plugin_instance *sn, const char *key) {
    return image_snapshot_lookup(sn, key) == 1;
}

int layers_stopped(struct cleat_error **reterr) {
    return error_set(reterr, CLEAT_STATUS_CANCELLED, ECANCELED, "stopped: another layer failed");
}

int layers_wait_fetched(struct layers *ls, size_t i, struct cleat_error **reterr) {
    pthread_mutex_lock(&ls->lock);
    while ((ls->state[i] == LAYER_PENDING || ls->state[i] == LAYER_FETCHING) && !ls->failed)
        pthread_cond_wait(&ls->changed, &ls->lock);
    int r = 0;
    if (ls->state[i] == LAYER_FAILED) {
        r = -EIO;
        if (reterr) {
            *reterr = ls->errors[i];
            ls->errors[i] = NULL;
        }
    } else if (ls->state[i] != LAYER_FETCHED)
        r = layers_stopped(reterr);
    pthread_mutex_unlock(&ls->lock);
    return r;
}

/* Download with n_threads threads while this one unpacks; then stop and join the downloads. */
static int run_layers(struct layers *ls, pthread_t *threads, size_t n_threads, struct cleat_error **reterr) {
    size_t started = 0;
    int r = 0;
    for (; started < n_threads; started++)
        if (pthread_create(&threads[started], NULL, fetch_worker, ls) != 0)
            break;
    if (started == 0 && n_threads > 0)
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, EAGAIN, "cannot start a download thread");
    if (r >= 0)
        r = layers_unpack(ls, reterr);
    pthread_mutex_lock(&ls->lock);
    ls->cancelled = 1;
    pthread_mutex_unlock(&ls->lock);
    for (size_t t = 0; t < started; t++)
        pthread_join(threads[t], NULL);
    return r;
}

/*
 * A compressed blob is at most a little larger than what it unpacks to (the
 * framing of stored blocks: gzip adds 5 bytes per 64 KiB, zstd 3 per 128 KiB):
 * one that is larger than the limit and that much cannot pass it, so it is
 * refused before it is downloaded.
 */
static int check_blob_sizes(struct pull *p, const int *state, struct cleat_error **reterr) {
    uint64_t max = p->svc->limits.max_layer_bytes;
    for (size_t i = 0; max && i < p->manifest->n_layers; i++) {
        const struct descriptor *d = &p->manifest->layers[i];
        uint64_t size = d->size > 0 ? (uint64_t)d->size : 0;
        if (state[i] != LAYER_SKIP && size > max + max / 64 + (1u << 20))
            return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, EFBIG,
                             "layer %s: its blob of %llu bytes unpacks to more than images.max_layer_bytes "
                             "(%llu bytes) allows",
                             d->digest, (unsigned long long)size, (unsigned long long)max);
    }
    return 0;
}

int pull_layers(struct pull *p, struct cleat_error **reterr) {
    struct plugin_instance *sn = p->svc->snapshotter;
    size_t n = p->manifest->n_layers, missing = 0;
    if (!sn)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOENT,
                         "no snapshotter is configured (the `snapshotter` section of the cleat config)");
    if (!plugin_has_op(sn, "prepare") || !plugin_has_op(sn, "commit") || !plugin_has_op(sn, "remove") ||
        !plugin_has_op(sn, "stat"))
        return error_set(reterr, CLEAT_STATUS_UNIMPLEMENTED, ENOSYS, "snapshotter '%s' cannot unpack images", sn->name);
    struct layers ls = {.p = p, .n = n, .budget = {.max = p->svc->limits.max_image_bytes, .name = ls.budget_name}};
    snprintf(ls.budget_name, sizeof(ls.budget_name), "images.max_image_bytes (%llu bytes for the image)",
             (unsigned long long)ls.budget.max);
    ls.state = calloc(n + 1, sizeof(*ls.state));
    ls.errors = calloc(n + 1, sizeof(*ls.errors));
    ls.u = calloc(n + 1, sizeof(*ls.u));
    pthread_t *threads = calloc(p->svc->max_parallel + 1, sizeof(*threads));
    if (!ls.state || !ls.errors || !ls.u || !threads) {
        free(ls.state);
        free(ls.errors);
        free(ls.u);
        free(threads);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    /* From the top: once a chain exists, everything below it does too. */
    size_t have = n;
    while (have > 0 && !image_snapshot_exists(sn, p->chain_ids[have - 1]))
        have--;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        ls.state[i] = i < have ? LAYER_SKIP : LAYER_PENDING;
        ls.u[i].stage = i < have ? STAGE_COMMITTED : STAGE_WAITING;
        missing += i >= have;
        total += i >= have && p->manifest->layers[i].size > 0 ? (uint64_t)p->manifest->layers[i].size : 0;
    }
    atomic_store(&p->progress.total_bytes, total);
    atomic_store(&p->progress.layers_total, (unsigned)missing);
    pthread_mutex_init(&ls.lock, NULL);
    pthread_mutex_init(&ls.naming, NULL);
    pthread_cond_init(&ls.changed, NULL);
    size_t n_threads = missing < p->svc->max_parallel ? missing : p->svc->max_parallel;
    int r = check_blob_sizes(p, ls.state, reterr);
    if (r >= 0)
        r = run_layers(&ls, threads, n_threads, reterr);
    for (size_t i = 0; i < n; i++)
        error_free(ls.errors[i]);
    pthread_mutex_destroy(&ls.lock);
    pthread_mutex_destroy(&ls.naming);
    pthread_cond_destroy(&ls.changed);
    free(ls.state);
    free(ls.errors);
    free(ls.u);
    free(threads);
    return r;
}
