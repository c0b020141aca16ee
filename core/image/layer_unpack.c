/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unpacking the layers of one pull, several at once.  Each layer goes into
 * an active "extract-" snapshot and is committed under its chain ID.  A
 * snapshot's parent must be committed before the snapshot is, so commits go
 * in order; but with the snapshotter's prepare_ahead a layer can be
 * prepared on the active snapshot of the layer below it and unpacked while
 * that one still is (an overlay upper directory needs nothing of the files
 * below it).  On ext4 much of a pull's time is the kernel allocating the
 * inodes of one layer's files, on the one thread that extracts it: here two
 * `igzip -dc | tar -x` at once took 0.4-0.8 of the time of one after the
 * other, and a pull with two layers at once 0.8-0.9 of one layer at a time
 * (bench/pull.py --unpacks 2,1; the rest is hashing and inflating).
 *
 * A worker takes the next layer in order and:
 *   1. waits until the layer below is prepared and the layer's blob is
 *      fetched, takes the layer's chain lock (a pull of another image with
 *      the same layer waits there) and looks whether the chain snapshot
 *      exists meanwhile: then the layer is done;
 *   2. prepares its extract snapshot on the layer below: on its chain
 *      snapshot if committed, else ahead, on its extract snapshot;
 *   3. unpacks the blob into it, with every check of unpack.h;
 *   4. waits until the layer below is committed, and commits.
 * The first failure stops the others at their next wait; what they made is
 * removed once all have stopped.
 *
 * No deadlock: a worker holds one chain lock at a time, and while it holds
 * it waits only for layers below its own (their commits), never above; the
 * pulls that share a layer share every layer below it.  The lock is taken
 * after the layer's own download: a pull of another image waits for it only
 * while it is unpacked, or while the layers below it are not committed yet.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "plugin_calls.h"
#include "builders.h"
#include "ids.h"
#include "image_internal.h"
#include "image_layers.h"
#include "keyed_lock.h"
#include "layer_target.h"
#include "log.h"
#include "unpack.h"

/* The names of the limits in messages: the setting and its value. */
struct limit_names {
    char bytes[96], ratio[160], free[96];
};

/* The limits of unpacking one layer of ls->p; the image's bytes are ls->budget, shared by all its layers. */
static void layer_limits(struct layers *ls, struct unpack_limits *l, struct limit_names *n) {
    const struct image_unpack_limits *c = &ls->p->svc->limits;
    *l = (struct unpack_limits){.max_bytes = c->max_layer_bytes,
                                .max_bytes_name = n->bytes,
                                .max_ratio = c->max_compression_ratio,
                                .ratio_min_bytes = c->compression_ratio_min_bytes,
                                .max_ratio_name = n->ratio,
                                .min_free_bytes = c->min_free_bytes,
                                .min_free_name = n->free,
                                .shared = &ls->budget};
    snprintf(n->bytes, sizeof(n->bytes), "images.max_layer_bytes (%llu bytes)", (unsigned long long)c->max_layer_bytes);
    snprintf(n->ratio, sizeof(n->ratio),
             "images.max_compression_ratio (%u), applied past "
             "images.compression_ratio_min_bytes (%llu bytes)",
             c->max_compression_ratio, (unsigned long long)c->compression_ratio_min_bytes);
    snprintf(n->free, sizeof(n->free), "images.min_free_bytes (%llu bytes)", (unsigned long long)c->min_free_bytes);
}

/* Wait until layer i's below is at least `stage`: 0, or layers_stopped once the pull failed. */
static int wait_below(struct layers *ls, size_t i, int stage, struct cleat_error **reterr) {
    pthread_mutex_lock(&ls->lock);
    while (i > 0 && ls->u[i - 1].stage < stage && !ls->failed)
        pthread_cond_wait(&ls->changed, &ls->lock);
    int failed = ls->failed;
    pthread_mutex_unlock(&ls->lock);
    return failed ? layers_stopped(reterr) : 0;
}

static void set_stage(struct layers *ls, size_t i, int stage, int leftover) {
    pthread_mutex_lock(&ls->lock);
    ls->u[i].stage = stage;
    ls->u[i].leftover = leftover;
    pthread_cond_broadcast(&ls->changed);
    pthread_mutex_unlock(&ls->lock);
}

/* Step 2: the extract snapshot of layer i, on the layer below as it is now; *ahead if that is not committed. */
static int prepare_layer(struct layers *ls, size_t i, struct cleat_mount_list *ml, int *ahead,
                         struct cleat_error **reterr) {
    struct pull *p = ls->p;
    struct plugin_instance *sn = p->svc->snapshotter;
    char rnd[ID_HEX_LEN + 1];
    int r = id_generate(rnd, reterr);
    if (r < 0)
        return r;
    snprintf(ls->u[i].key, sizeof(ls->u[i].key), "extract-%.16s", rnd);
    pthread_mutex_lock(&ls->naming);
    pthread_mutex_lock(&ls->lock);
    int below = i > 0 ? ls->u[i - 1].stage : STAGE_COMMITTED;
    pthread_mutex_unlock(&ls->lock);
    /* naming held: the layer below keeps its key until this prepare is done. */
    const char *parent = i == 0 ? NULL : below == STAGE_COMMITTED ? p->chain_ids[i - 1] : ls->u[i - 1].key;
    *ahead = below != STAGE_COMMITTED;
    if (*ahead)
        r = plugin_snapshotter_prepare_ahead(sn, ls->u[i].key, parent, NULL, ml, reterr);
    else
        r = plugin_snapshotter_prepare(sn, ls->u[i].key, parent, NULL, ml, reterr);
    if (r >= 0)
        set_stage(ls, i, STAGE_PREPARED, 1);
    pthread_mutex_unlock(&ls->naming);
    return r < 0 ? error_prefix(r, reterr, "preparing a snapshot for layer %s", p->manifest->layers[i].digest) : r;
}

/* Step 3: layer i's blob (fetched) into the snapshot whose mounts are ml. */
static int extract_layer(struct layers *ls, size_t i, const struct cleat_mount_list *ml, int ahead,
                         struct unpack_result *res, struct cleat_error **reterr) {
    struct pull *p = ls->p;
    struct plugin_instance *sn = p->svc->snapshotter;
    const struct descriptor *layer = &p->manifest->layers[i];
    struct unpack_limits limits;
    struct limit_names names;
    struct layer_target target;
    int fd = -1;
    layer_limits(ls, &limits, &names);
    int r = layer_target_open(ml, sn->name, &target, reterr);
    if (r < 0)
        return r;
    if (target.mount_fd >= 0)
        limits.min_free_bytes = 0; /* the snapshot's own filesystem: see layer_target.h */
    if (ahead && (target.mount_fd >= 0 || target.t.whiteouts != UNPACK_WHITEOUTS_OVERLAY))
        r = error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                      "snapshotter '%s' answered prepare_ahead with a %s, not an overlay mount with upperdir= "
                      "(cleat/snapshotter.h)",
                      sn->name, target.how);
    if (r >= 0)
        r = content_open_blob(p->svc->content, layer->digest, &fd, reterr);
    atomic_fetch_add(&p->progress.unpacking, 1);
    if (r >= 0)
        r = unpack_layer_into(fd, layer->media_type, p->config->diff_ids[i], &target.t, &limits, res, reterr);
    atomic_fetch_sub(&p->progress.unpacking, 1);
    if (fd >= 0)
        close(fd);
    if (r >= 0)
        log_debug("unpacked layer %zu/%zu %s (%s%s): %llu bytes, %llu entries", i + 1, p->manifest->n_layers,
                  layer->digest, target.how, ahead ? ", ahead of the layer below" : "",
                  (unsigned long long)res->uncompressed_bytes, (unsigned long long)res->entries);
    layer_target_close(&target); /* unmounted before the commit */
    return r;
}

/* Step 4: once the layer below is, commit layer i under its chain ID. */
static int commit_layer(struct layers *ls, size_t i, struct cleat_error **reterr) {
    struct pull *p = ls->p;
    int r = wait_below(ls, i, STAGE_COMMITTED, reterr);
    if (r < 0)
        return r;
    pthread_mutex_lock(&ls->naming);
    r = plugin_snapshotter_commit(p->svc->snapshotter, p->chain_ids[i], ls->u[i].key, NULL, reterr);
    int leftover = r < 0;
    /*
     * Another cleatd on the same root committed it meanwhile (this one's
     * pulls wait on the chain lock): theirs is as good as ours, and ours is
     * removed when the pull ends.
     */
    if (r < 0 && reterr && error_status(*reterr) == CLEAT_STATUS_ALREADY_EXISTS) {
        error_free(*reterr);
        *reterr = NULL;
        r = 0;
    }
    if (r >= 0)
        set_stage(ls, i, STAGE_COMMITTED, leftover);
    pthread_mutex_unlock(&ls->naming);
    return r;
}

/* Steps 1 to 4 for layer i. */
static int unpack_layer_at(struct layers *ls, size_t i, struct cleat_error **reterr) {
    struct pull *p = ls->p;
    struct plugin_instance *sn = p->svc->snapshotter;
    int r = wait_below(ls, i, STAGE_PREPARED, reterr);
    if (r >= 0)
        r = layers_wait_fetched(ls, i, reterr);
    if (r >= 0)
        r = pull_check_cancel(p, reterr);
    if (r < 0)
        return r; /* the download's error names the layer */
    /* Waiting for another pull to unpack the layer is progress for the pull's monitor. */
    atomic_fetch_add(&p->progress.unpacking, 1);
    struct keyed_lock *chain_lock = keyed_lock_acquire(p->svc->chain_locks, p->chain_ids[i]);
    atomic_fetch_sub(&p->progress.unpacking, 1);
    if (!chain_lock)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    int ahead = 0;
    struct unpack_result res = {0};
    if (image_snapshot_exists(sn, p->chain_ids[i])) {
        log_debug("layer %zu/%zu %s: committed meanwhile by another pull", i + 1, p->manifest->n_layers,
                  p->manifest->layers[i].digest);
        set_stage(ls, i, STAGE_COMMITTED, 0);
    } else {
        struct cleat_mount_list *ml = mount_list_new();
        r = ml ? prepare_layer(ls, i, ml, &ahead, reterr)
               : error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        if (r >= 0)
            r = extract_layer(ls, i, ml, ahead, &res, reterr);
        mount_list_free(ml);
        if (r >= 0)
            r = commit_layer(ls, i, reterr);
    }
    keyed_lock_release(chain_lock);
    if (r < 0)
        return error_prefix(r, reterr, "unpacking layer %s", p->manifest->layers[i].digest);
    atomic_fetch_add(&p->progress.layers_done, 1);
    return 0;
}

/* Take the next layer to unpack, in order: its index, or n when none is left or the pull failed. */
static size_t take_next(struct layers *ls) {
    pthread_mutex_lock(&ls->lock);
    while (ls->next_unpack < ls->n && ls->state[ls->next_unpack] == LAYER_SKIP)
        ls->next_unpack++;
    size_t i = ls->failed ? ls->n : ls->next_unpack;
    if (i < ls->n)
        ls->next_unpack++;
    pthread_mutex_unlock(&ls->lock);
    return i;
}

static void *unpack_worker(void *arg) {
    struct layers *ls = arg;
    for (size_t i; (i = take_next(ls)) < ls->n;) {
        struct cleat_error *err = NULL;
        if (unpack_layer_at(ls, i, &err) >= 0)
            continue;
        pthread_mutex_lock(&ls->lock);
        ls->u[i].failed = 1;
        ls->u[i].err = err;
        ls->failed = 1;
        ls->cancelled = 1; /* the downloads too */
        pthread_cond_broadcast(&ls->changed);
        pthread_mutex_unlock(&ls->lock);
        break;
    }
    return NULL;
}

/* Remove what is left of the extract snapshots, top down: a child before the parent it was prepared ahead on. */
static void remove_leftovers(struct layers *ls) {
    for (size_t i = ls->n; i-- > 0;) {
        if (!ls->u[i].leftover)
            continue;
        struct cleat_error *e = NULL;
        if (plugin_snapshotter_remove(ls->p->svc->snapshotter, ls->u[i].key, &e) < 0 &&
            error_status(e) != CLEAT_STATUS_NOT_FOUND)
            log_warning("cannot remove snapshot %s of a pull: %s (cleatd removes extract snapshots at its start)",
                        ls->u[i].key, error_message(e));
        error_free(e);
    }
}

/*
 * The error to report: the lowest layer's that failed for a reason of its
 * own; one that only stopped because another failed says CANCELLED, which
 * tells nothing.
 */
static int first_error(struct layers *ls, struct cleat_error **reterr) {
    size_t pick = ls->n;
    for (size_t i = 0; i < ls->n; i++)
        if (ls->u[i].failed && (pick == ls->n || (error_status(ls->u[pick].err) == CLEAT_STATUS_CANCELLED &&
                                                  error_status(ls->u[i].err) != CLEAT_STATUS_CANCELLED)))
            pick = i;
    if (pick == ls->n)
        return 0;
    if (reterr) {
        *reterr = ls->u[pick].err;
        ls->u[pick].err = NULL;
    }
    return -EIO;
}

int layers_unpack(struct layers *ls, struct cleat_error **reterr) {
    struct image_service *svc = ls->p->svc;
    size_t missing = 0, started = 0;
    for (size_t i = 0; i < ls->n; i++)
        missing += ls->state[i] != LAYER_SKIP;
    size_t n_threads = plugin_has_op(svc->snapshotter, "prepare_ahead") ? svc->max_unpacks : 1;
    if (n_threads > missing)
        n_threads = missing;
    pthread_t *helpers = n_threads > 1 ? calloc(n_threads - 1, sizeof(*helpers)) : NULL;
    for (; helpers && started < n_threads - 1; started++)
        if (pthread_create(&helpers[started], NULL, unpack_worker, ls) != 0)
            break; /* fewer helpers: slower, not wrong */
    unpack_worker(ls);
    for (size_t t = 0; t < started; t++)
        pthread_join(helpers[t], NULL);
    free(helpers);
    remove_leftovers(ls);
    int r = first_error(ls, reterr);
    for (size_t i = 0; i < ls->n; i++)
        error_free(ls->u[i].err);
    return r;
}
