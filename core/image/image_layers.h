/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The layers of one pull, shared by the threads that fetch them
 * (image_layers.c) and the threads that unpack them (layer_unpack.c).
 * Everything below `lock` is guarded by it unless it says otherwise.
 */
#ifndef CLEAT_CORE_IMAGE_LAYERS_H
#define CLEAT_CORE_IMAGE_LAYERS_H

#include <pthread.h>
#include <stddef.h>

#include "unpack_types.h"

struct cleat_error;
struct pull;

/* Where a layer's blob is: SKIP for a layer whose chain snapshot existed when the pull began. */
enum { LAYER_SKIP, LAYER_PENDING, LAYER_FETCHING, LAYER_FETCHED, LAYER_FAILED };

/*
 * Where a layer's snapshot is: WAITING (nothing yet), PREPARED (the active
 * snapshot `key` exists, a layer above may be prepared on it), COMMITTED
 * (its chain snapshot exists: committed by this pull or another, or SKIP).
 */
enum { STAGE_WAITING, STAGE_PREPARED, STAGE_COMMITTED };

/* "extract-" and 16 hex digits. */
#define EXTRACT_KEY_SIZE 32

struct layer_unpack {
    int stage;                  /* STAGE_* */
    int leftover;               /* `key` exists and is not committed: removed when the pull ends */
    char key[EXTRACT_KEY_SIZE]; /* set before stage becomes PREPARED, then constant */
    struct cleat_error *err;    /* why unpacking this layer failed (owned) */
    int failed;                 /* it failed (err may be NULL on out of memory) */
};

struct layers {
    struct pull *p;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* any change below */
    size_t n;
    /* Fetching. */
    int *state; /* LAYER_* */
    struct cleat_error **errors;
    size_t next;
    int cancelled; /* download threads take no more layers */
    /* Unpacking. */
    struct layer_unpack *u;
    size_t next_unpack;
    int failed; /* a layer failed: the others stop at their next wait */
    /*
     * Held across a prepare that names the layer below by its extract key
     * and across a commit that renames one, so that a prepare never names a
     * key that a commit is taking away.  Taken before `lock`.
     */
    pthread_mutex_t naming;
    struct unpack_budget budget; /* images.max_image_bytes, for all the layers of the pull together */
    char budget_name[96];        /* its name in messages */
};

/*
 * What a layer's thread answers when it stops because another layer failed:
 * CANCELLED, which says nothing of its own (layers_unpack reports the other's).
 */
int layers_stopped(struct cleat_error **reterr);

/*
 * Wait until layer i is fetched: 0; its error if it failed; CANCELLED
 * (without an error: another layer's is the one to report) once
 * ls->failed is set.
 */
int layers_wait_fetched(struct layers *ls, size_t i, struct cleat_error **reterr);

/*
 * Unpack every layer that is not SKIP, up to svc->max_unpacks at once when
 * the snapshotter has prepare_ahead (one after another otherwise), on this
 * thread and helpers it starts; each is committed under its chain ID in
 * order, after the one below it.  Returns when all are committed, or when
 * one failed and the others have stopped: then the error of the lowest
 * layer that failed, and every extract snapshot the pull made is removed
 * (top down, so that no parent is removed before its child).
 */
int layers_unpack(struct layers *ls, struct cleat_error **reterr);

#endif
