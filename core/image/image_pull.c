/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PullImage: resolve, fetch manifest and config, fetch and unpack layers,
 * record the image.  See image_service.h for the whole picture; the layers
 * are in image_layers.c, the sharing of concurrent pulls is here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin_calls.h"
#include "image_internal.h"
#include "image_ref.h"
#include "log.h"
#include "metrics.h"

#define MAX_MANIFEST_BYTES (4 << 20)
#define MAX_CONFIG_BYTES (8 << 20)

/* Route a reference to the transport configured for its scheme ("" for registries). */
static int pick_transport(struct image_service *svc, const char *scheme, struct plugin_instance **ret,
                          struct cleat_error **reterr) {
    for (size_t i = 0; i < svc->plugins->n; i++) {
        struct plugin_instance *pi = svc->plugins->items[i];
        if (pi->concern != CLEAT_CONCERN_TRANSPORT || !pi->conf->schemes)
            continue;
        for (char **s = pi->conf->schemes; *s; s++)
            if (strcmp(*s, scheme) == 0) {
                *ret = pi;
                return 0;
            }
    }
    return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOENT,
                     *scheme ? "no transport is configured for '%s:' references"
                             : "no transport is configured for registry references%s",
                     scheme);
}

/* The normalised reference, the transport's view of it, and the names to record. */
static int prepare_pull(struct image_service *svc, const char *ref, struct pull *p, struct cleat_error **reterr) {
    char *scheme = NULL;
    const char *rest = NULL;
    int r = image_ref_split_scheme(ref, &scheme, &rest);
    if (r < 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, -r, "image reference '%s' is malformed", ref);
    r = pick_transport(svc, scheme, &p->transport, reterr);
    if (r >= 0 && !*scheme) {
        struct image_ref *parsed = NULL;
        r = image_ref_parse(ref, &parsed, reterr);
        if (r >= 0) {
            p->reference = image_ref_string(parsed);
            p->repo_tag = image_ref_tagged(parsed);
            p->name = image_ref_name(parsed);
            image_ref_free(parsed);
            if (!p->reference || !p->name)
                r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        }
    } else if (r >= 0) {
        /* Local transports name images by their own reference, recorded as given. */
        p->reference = strdup(ref);
        p->repo_tag = strdup(ref);
        if (!p->reference || !p->repo_tag)
            r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    free(scheme);
    return r;
}

static int on_resolved(void *ctx, const char *name, const struct cleat_descriptor *desc) {
    struct pull *p = ctx;
    if (!desc || !desc->digest || !desc->media_type)
        return -EINVAL;
    snprintf(p->target.digest, sizeof(p->target.digest), "%s", desc->digest);
    p->target.media_type = strdup(desc->media_type);
    p->target.size = desc->size;
    return p->target.media_type ? 0 : -ENOMEM;
}

/* Fetch a manifest, index or config blob into the content store and read it. */
static int fetch_small(struct pull *p, const struct descriptor *d, size_t max, char **ret, size_t *ret_len,
                       struct cleat_error **reterr) {
    int r = pull_fetch_blob(p, d, reterr);
    if (r < 0)
        return r;
    return content_read_small(p->svc->content, d->digest, max, ret, ret_len, reterr);
}

/* From the resolved target to one manifest: through an index when it is one. */
static int load_manifest(struct pull *p, struct cleat_error **reterr) {
    char *json = NULL;
    size_t len = 0;
    int kind = 0;
    char *media = NULL;
    struct descriptor current = p->target;
    int r = fetch_small(p, &current, MAX_MANIFEST_BYTES, &json, &len, reterr);
    if (r >= 0)
        r = manifest_kind(current.media_type, json, len, &kind, &media, reterr);
    if (r >= 0 && kind == MANIFEST_KIND_INDEX) {
        struct image_index *idx = NULL;
        const struct descriptor *chosen = NULL;
        r = image_index_parse(json, len, &idx, reterr);
        if (r >= 0)
            r = image_index_select(idx, &p->svc->platform, &chosen, reterr);
        if (r >= 0) {
            p->manifest_desc = *chosen;
            p->manifest_desc.media_type = strdup(chosen->media_type ? chosen->media_type : "");
            p->manifest_desc.urls = NULL;
            p->manifest_desc.annotations = NULL;
            p->manifest_desc.platform = (struct platform){0};
            p->manifest_desc.has_platform = 0;
            free(json);
            json = NULL;
            free(media);
            media = NULL;
            r = fetch_small(p, &p->manifest_desc, MAX_MANIFEST_BYTES, &json, &len, reterr);
            if (r >= 0)
                r = manifest_kind(p->manifest_desc.media_type, json, len, &kind, &media, reterr);
            if (r >= 0 && kind != MANIFEST_KIND_MANIFEST)
                r = error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                              "index %s points at another index (%s); nested indexes are not supported",
                              p->target.digest, p->manifest_desc.digest);
        }
        image_index_free(idx);
    } else if (r >= 0) {
        p->manifest_desc = current;
        p->manifest_desc.media_type = strdup(current.media_type ? current.media_type : "");
    }
    if (r >= 0)
        r = image_manifest_parse(json, len, &p->manifest, reterr);
    if (r >= 0 && media) {
        free(p->manifest_desc.media_type);
        p->manifest_desc.media_type = media;
        media = NULL;
    }
    free(media);
    free(json);
    return r;
}

static int load_config(struct pull *p, struct cleat_error **reterr) {
    char *json = NULL;
    size_t len = 0;
    int r = fetch_small(p, &p->manifest->config, MAX_CONFIG_BYTES, &json, &len, reterr);
    if (r >= 0)
        r = image_config_parse(json, len, &p->config, reterr);
    free(json);
    if (r >= 0 && p->config->n_diff_ids != p->manifest->n_layers)
        r = error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                      "image config %s lists %zu diff_ids for %zu layers", p->manifest->config.digest,
                      p->config->n_diff_ids, p->manifest->n_layers);
    if (r >= 0)
        r = image_chain_ids(p->config->diff_ids, p->config->n_diff_ids, &p->chain_ids, reterr);
    return r;
}

static int run_pull(struct pull *p, char ret_id[DIGEST_MAX], struct cleat_error **reterr) {
    struct cleat_transport_request req = {.struct_size = sizeof(req), .reference = p->reference, .auth = p->auth};
    struct plugin_instance *t = p->transport;
    int r;
    if (!plugin_has_op(t, "resolve") || !plugin_has_op(t, "fetch"))
        return error_set(reterr, CLEAT_STATUS_UNIMPLEMENTED, ENOSYS, "transport '%s' cannot pull", t->name);
    p->req = req;
    r = pull_trust_early(p, reterr);
    if (r < 0)
        return r;
    r = plugin_transport_resolve(t, &p->req, on_resolved, p, reterr);
    if (r >= 0)
        r = pull_check_cancel(p, reterr); /* a resolve cannot be interrupted: stop right after it */
    if (r < 0)
        metrics_plugin_error("transport", t->name, "resolve");
    if (r >= 0 && !p->target.media_type)
        r = error_set(reterr, CLEAT_STATUS_INTERNAL, EPROTO, "transport '%s' resolved nothing", t->name);
    if (r >= 0)
        r = load_manifest(p, reterr);
    if (r >= 0)
        r = pull_trust_check(p, reterr); /* before the config and any layer */
    if (r >= 0)
        r = load_config(p, reterr);
    if (r >= 0)
        r = pull_layers(p, reterr);
    if (r >= 0)
        r = pull_check_cancel(p, reterr);
    if (r >= 0)
        r = pull_record(p, reterr);
    if (r >= 0)
        snprintf(ret_id, DIGEST_MAX, "%s", p->manifest->config.digest);
    return r;
}

/* --- sharing one pull between concurrent callers --------------------------------- */

/* A caller waiting for a pull (on its own stack, linked while it waits). */
struct waiter {
    struct waiter *next;
    const struct image_pull_client *client;
};

struct inflight {
    struct inflight *next;
    struct waiter *waiting; /* the callers, the one running it first (guarded by inflight_lock) */
    char *reference;        /* the sharing key (see inflight_key) */
    int done, waiters;
    int result;
    int32_t status;
    char *message;
    char id[DIGEST_MAX];
};

/*
 * Pulls are shared by reference *and* credentials: a caller with other
 * credentials must not get the outcome of someone else's (say, anonymous
 * and refused) pull.  The key lives only in memory, for the pull's duration.
 */
static char *inflight_key(const char *reference, const struct cleat_auth *a) {
    char *key = NULL;
#define F(x) (a && a->x ? a->x : "")
    if (asprintf(&key, "%s%c%s%c%s%c%s%c%s%c%s", reference, 0x1f, F(username), 0x1f, F(password), 0x1f, F(auth), 0x1f,
                 F(identity_token), 0x1f, F(registry_token)) < 0)
        key = NULL;
#undef F
    return key;
}

static struct inflight *inflight_find(struct image_service *svc, const char *reference) {
    for (struct inflight *f = svc->inflight; f; f = f->next)
        if (strcmp(f->reference, reference) == 0)
            return f;
    return NULL;
}

static void inflight_unlink(struct image_service *svc, struct inflight *f) {
    for (struct inflight **pp = &svc->inflight; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            return;
        }
}

static void inflight_release(struct inflight *f) {
    free(f->reference);
    free(f->message);
    free(f);
}

/* The pull's monitor: non-zero once every caller waiting for it has a client that left. */
struct gone_ctx {
    struct image_service *svc;
    struct inflight *f;
};

static int all_clients_gone(void *ctx) {
    struct gone_ctx *g = ctx;
    int gone = 1;
    pthread_mutex_lock(&g->svc->inflight_lock);
    for (struct waiter *w = g->f->waiting; gone && w; w = w->next)
        gone = w->client && w->client->gone && w->client->gone(w->client->ctx);
    pthread_mutex_unlock(&g->svc->inflight_lock);
    return gone;
}

/* Wait for the pull another caller runs; take its outcome.  Its monitor stops before `done`: `me` may go then. */
static int join_pull(struct image_service *svc, struct inflight *f, struct waiter *me, char ret_id[DIGEST_MAX],
                     struct cleat_error **reterr) {
    me->next = f->waiting;
    f->waiting = me;
    f->waiters++;
    while (!f->done)
        pthread_cond_wait(&svc->inflight_done, &svc->inflight_lock);
    int r = f->result;
    if (r >= 0)
        snprintf(ret_id, DIGEST_MAX, "%s", f->id);
    else
        error_set(reterr, f->status, -r, "%s", f->message ? f->message : "pull failed");
    if (--f->waiters == 0)
        inflight_release(f);
    pthread_mutex_unlock(&svc->inflight_lock);
    return r;
}

int image_pull(struct image_service *svc, const char *ref, const struct cleat_auth *auth,
               const struct image_pull_client *client, char ret_id[DIGEST_MAX], struct cleat_error **reterr) {
    struct pull p = {.svc = svc, .settings = image_settings_get(svc), .auth = auth};
    struct waiter me = {.client = client};
    int r = prepare_pull(svc, ref, &p, reterr);
    if (r < 0) {
        pull_clear(&p);
        return r;
    }
    char *key = inflight_key(p.reference, auth);
    if (!key) {
        pull_clear(&p);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&svc->inflight_lock);
    struct inflight *f = inflight_find(svc, key);
    if (f) {
        free(key);
        pull_clear(&p);
        return join_pull(svc, f, &me, ret_id, reterr); /* unlocks */
    }
    f = calloc(1, sizeof(*f));
    if (!f) {
        pthread_mutex_unlock(&svc->inflight_lock);
        free(key);
        pull_clear(&p);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    f->reference = key; /* the sharing key: reference and credentials */
    f->waiters = 1;
    f->waiting = &me;
    f->next = svc->inflight;
    svc->inflight = f;
    pthread_mutex_unlock(&svc->inflight_lock);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct gone_ctx gone = {.svc = svc, .f = f};
    struct pull_watch watch = {.p = &p, .reference = p.reference, .clients_gone = all_clients_gone, .ctx = &gone};
    pthread_rwlock_rdlock(&svc->gc_lock);
    pull_watch_start(&watch);
    r = run_pull(&p, ret_id, reterr);
    pull_watch_stop(&watch);
    pthread_rwlock_unlock(&svc->gc_lock);
    if (r < 0 && atomic_load(&p.progress.cancel))
        r = pull_cancel_error(&p, reterr); /* the reason, not what the interrupted step said */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    metrics_pull_done(r >= 0);
    if (r < 0) {
        error_prefix(r, reterr, "pulling image '%s'", ref);
        image_gc(svc); /* what only this pull had fetched or unpacked goes */
    } else if (atomic_load(&svc->gc_wanted)) {
        image_gc_soon(svc); /* asked for while this pull ran (image_gc_soon); another pull may take it over */
    }
    if (r >= 0) {
        log_info("pulled %s as %s (%zu layers, %.2f s)", p.reference, ret_id, p.manifest->n_layers,
                 (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    }

    pthread_mutex_lock(&svc->inflight_lock);
    inflight_unlink(svc, f);
    f->done = 1;
    f->result = r;
    if (r >= 0)
        snprintf(f->id, sizeof(f->id), "%s", ret_id);
    else if (reterr && *reterr) {
        f->status = error_status(*reterr);
        f->message = strdup(error_message(*reterr));
    } else {
        f->status = CLEAT_STATUS_INTERNAL;
    }
    pthread_cond_broadcast(&svc->inflight_done);
    if (--f->waiters == 0)
        inflight_release(f);
    pthread_mutex_unlock(&svc->inflight_lock);
    pull_clear(&p);
    return r;
}
