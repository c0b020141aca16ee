/* SPDX-License-Identifier: Apache-2.0 */
/* What the image service's files share; not for the rest of the core. */
#ifndef CLEAT_CORE_IMAGE_INTERNAL_H
#define CLEAT_CORE_IMAGE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "image_manifest.h"
#include "image_service.h"
#include "trust_lookaside.h"
#include "trust_policy.h"

struct keyed_locks;

struct inflight;

/*
 * The image settings a SIGHUP reload may change (image_settings.c), as one
 * reference-counted snapshot: a pull holds the one current when it started
 * for its whole run, so a reload never changes the policy under it.
 */
struct image_settings {
    atomic_int refs;
    struct trust_policy *policy;       /* NULL: every image is accepted */
    struct trust_lookaside *lookaside; /* where GPG signatures are read (with a policy only) */
    char **pinned;                     /* images.pinned, checked (image_pins.c); NULL-terminated */
};
/* A reference to the current settings; release with image_settings_unref(). */
struct image_settings *image_settings_get(struct image_service *svc);

struct image_service {
    struct plugins *plugins;
    struct registry *reg;
    struct store *store;
    struct content_store *content;
    struct image_store *images;
    struct plugin_instance *snapshotter;
    struct platform platform; /* what indexes are resolved for */
    uint32_t max_parallel;    /* downloads per pull */
    uint32_t max_unpacks;     /* unpacks per pull (with the snapshotter's prepare_ahead) */
    /*
     * One lock per layer (chain ID) being unpacked, held from its prepare to
     * its commit: a pull of another image with the same layer waits, then
     * finds it committed, instead of unpacking it too.
     */
    struct keyed_locks *chain_locks;
    uint32_t progress_timeout_s, progress_log_interval_s; /* images.pull_progress_*_seconds (0: off) */
    struct image_unpack_limits limits;
    pthread_mutex_t settings_lock;   /* guards the pointer `settings` (image_settings.c) */
    struct image_settings *settings; /* what a reload may change; one reference is the service's */
    /*
     * Pulls hold this shared for their whole run; garbage collection takes it
     * exclusively, so it never removes what a pull has fetched but not yet
     * recorded.  Writers are preferred so a stream of pulls cannot starve GC.
     */
    pthread_rwlock_t gc_lock;
    atomic_int gc_wanted; /* image_gc_soon() found a pull running: a pull collects once it is done */
    pthread_mutex_t inflight_lock;
    pthread_cond_t inflight_done;
    struct inflight *inflight;
};

/* How far one pull is, read by its monitor (image_pull_watch.c) while the pull's threads update it. */
struct pull_progress {
    atomic_uint_least64_t bytes;       /* blob bytes this pull received */
    atomic_uint_least64_t total_bytes; /* of the layers it fetches, once the manifest is read */
    atomic_uint layers_total, layers_done;
    atomic_int unpacking; /* layers being unpacked: no byte arrives, yet the pull moves */
    atomic_int cancel;    /* PULL_CANCEL_*: stop (blob writers refuse bytes, transports are told) */
};

enum { PULL_CANCEL_NONE, PULL_CANCEL_STALLED, PULL_CANCEL_CLIENT_GONE };

/* One pull in progress. */
struct pull {
    struct image_service *svc;
    struct image_settings *settings; /* held for the pull: its signature policy */
    const struct cleat_auth *auth;
    struct plugin_instance *transport;
    struct cleat_transport_request req;
    char *reference;                 /* what the transport is asked for */
    char *repo_tag;                  /* recorded as a repo tag (NULL: by digest only) */
    char *name;                      /* registry repository name, for the repo digest (NULL for local transports) */
    struct descriptor target;        /* what the reference resolved to */
    struct descriptor manifest_desc; /* the manifest (the target itself, or chosen from its index) */
    struct image_manifest *manifest;
    struct image_config *config;
    char **chain_ids;
    struct pull_progress progress;
};

/* CANCELLED when the pull has been cancelled (its monitor's reason replaces this error later), else 0. */
int pull_check_cancel(struct pull *p, struct cleat_error **reterr);

/*
 * The monitor of one pull (image_pull_watch.c), a thread that wakes every
 * second while the pull runs: it logs the progress every
 * progress_log_interval_s, and cancels the pull (progress.cancel) when no
 * byte arrived and no layer was unpacked for progress_timeout_s, or when
 * clients_gone() says that every caller waiting for the pull has left.
 */
struct pull_watch {
    struct pull *p;
    const char *reference;
    int (*clients_gone)(void *ctx); /* may be NULL */
    void *ctx;
    pthread_t thread;
    int started, stop;
    pthread_mutex_t lock;
    pthread_cond_t wake;
};
/* Start the monitor (nothing to watch: no thread); a failure to start a thread only loses the watching. */
void pull_watch_start(struct pull_watch *w);
/* Stop and join it; after this nobody calls clients_gone any more.  A second call does nothing. */
void pull_watch_stop(struct pull_watch *w);
/* The error of a pull its monitor cancelled (replacing what the step it interrupted said), or 0. */
int pull_cancel_error(struct pull *p, struct cleat_error **reterr);

/* Fetch one blob into the content store unless it is there already. */
int pull_fetch_blob(struct pull *p, const struct descriptor *d, struct cleat_error **reterr);
/* Fetch and unpack (in parallel, committed in order) the layers whose chain snapshots do not exist yet. */
int pull_layers(struct pull *p, struct cleat_error **reterr);
/* Write the image record with its references. */
int pull_record(struct pull *p, struct cleat_error **reterr);
void pull_clear(struct pull *p);

/*
 * The signature policy (image_trust.c).  pull_trust_early(), before
 * anything is fetched, refuses what a reject requirement covers;
 * pull_trust_check(), once the manifest (and index) are read and before the
 * config and layers are, runs the whole check.  Both answer 0 without a policy.
 */
int pull_trust_early(struct pull *p, struct cleat_error **reterr);
int pull_trust_check(struct pull *p, struct cleat_error **reterr);

/* Check and copy images.pinned (image_pins.c); INVALID_ARGUMENT naming a bad entry. */
int image_pins_copy(const char *const *pinned, char ***ret, struct cleat_error **reterr);

/*
 * Whether the snapshotter has a snapshot named `key`: 1 it has, 0 it says
 * NOT_FOUND, -1 it cannot tell (no stat op, or another error).
 */
int image_snapshot_lookup(struct plugin_instance *sn, const char *key);
/* Non-zero if the snapshotter has a snapshot named `key` (image_snapshot_lookup() said 1). */
int image_snapshot_exists(struct plugin_instance *sn, const char *key);

#endif
