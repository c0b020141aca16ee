/* SPDX-License-Identifier: Apache-2.0 */
/*
 * image-docker: the plugin descriptor and the transport ops.
 *
 * resolve() asks each endpoint (mirrors in order, then the registry) for the
 * manifest with HEAD, falling back to GET when HEAD does not give the media
 * type, digest and size; fetch() streams a blob (or a manifest, by digest)
 * into the host's writer, resuming with Range.  A mirror's failure of any
 * kind falls through to the next endpoint; the registry's own answer is
 * final.  The pull's credentials go to the registry the reference names,
 * never to a mirror (mirrors are asked anonymously).
 *
 * The options live in a reference-counted snapshot (struct dk_settings):
 * every resolve() and fetch() holds the one that was current when it
 * started, and reconfigure() (a SIGHUP reload) swaps in a new one, so a
 * call in flight never sees half of the old mirrors and half of the new.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <stdatomic.h>

#include <jansson.h>

#include "docker.h"

/* Docker schema 1 is deliberately absent: it is deprecated and unsigned. */
static const char accept_manifests[] =
    DK_MT_OCI_INDEX ", " DK_MT_DOCKER_LIST ", " DK_MT_OCI_MANIFEST ", " DK_MT_DOCKER_MANIFEST;
static const char *const manifest_types[] = {DK_MT_DOCKER_MANIFEST, DK_MT_DOCKER_LIST, DK_MT_OCI_MANIFEST,
                                             DK_MT_OCI_INDEX};

/* 1 when `mt` (without parameters, in any case) is one of the manifest types. */
static int is_manifest_type(const char *mt) {
    if (!mt)
        return 0;
    size_t len = strcspn(mt, "; \t");
    for (size_t i = 0; i < sizeof(manifest_types) / sizeof(manifest_types[0]); i++)
        if (strlen(manifest_types[i]) == len && strncasecmp(mt, manifest_types[i], len) == 0)
            return 1;
    return 0;
}

/* One version of the options; freed when the instance and the last call holding it let go. */
struct dk_settings {
    atomic_int refs;
    struct dk_config cfg;
};

static void settings_unref(struct dk_settings *s) {
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
        dk_config_done(&s->cfg);
        free(s);
    }
}

struct dk_instance {
    const struct cleat_host *host;
    pthread_mutex_t settings_lock; /* guards the pointer `settings`, not what it points to */
    struct dk_settings *settings;  /* the current options (one reference is the instance's) */
    struct dk_http *http;
    struct dk_token_cache *tokens;
    /*
     * max_concurrent_downloads, as a counting semaphore around fetch().  A
     * reload that lowers it may leave slots_free below zero until enough
     * fetches in flight finish.
     */
    pthread_mutex_t slots_lock;
    pthread_cond_t slots_cond;
    int64_t slots_free;
};

/* A reference to the current options, for one call. */
static struct dk_settings *settings_get(struct dk_instance *inst) {
    pthread_mutex_lock(&inst->settings_lock);
    struct dk_settings *s = inst->settings;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&inst->settings_lock);
    return s;
}

/* Everything one request needs, set up once for all endpoints. */
struct dk_pull {
    struct dk_instance *inst;
    struct dk_settings *settings; /* held for the request */
    const char *reference;
    struct dk_ref ref;
    struct dk_creds creds, anon;
    struct dk_endpoint *eps;
    size_t n_eps;
    char *scope;
};

static void pull_done(struct dk_pull *p) {
    dk_ref_done(&p->ref);
    dk_creds_done(&p->creds);
    dk_creds_done(&p->anon);
    dk_endpoints_free(p->eps, p->n_eps);
    free(p->scope);
    settings_unref(p->settings);
}

static int pull_init(struct dk_instance *inst, const struct cleat_transport_request *request, struct dk_pull *p,
                     struct cleat_error **reterr) {
    const struct cleat_host *host = inst->host;
    *p = (struct dk_pull){.inst = inst, .reference = request ? request->reference : NULL};
    int r;
    if ((r = dk_ref_parse(host, p->reference, &p->ref, reterr)) < 0)
        return r;
    p->settings = settings_get(inst);
    if ((r = dk_creds_init(host, request->auth, &p->creds, reterr)) < 0 ||
        (r = dk_creds_init(host, NULL, &p->anon, reterr)) < 0 ||
        (r = dk_endpoints(host, &p->settings->cfg, p->ref.domain, &p->eps, &p->n_eps, reterr)) < 0) {
        pull_done(p);
        return r;
    }
    if (asprintf(&p->scope, "repository:%s:pull", p->ref.name) < 0) {
        p->scope = NULL;
        pull_done(p);
        return plugin_oom(host, reterr);
    }
    return 0;
}

static struct dk_auth_ctx pull_auth(const struct dk_pull *p, size_t i) {
    return (struct dk_auth_ctx){.host = p->inst->host,
                                .http = p->inst->http,
                                .cfg = &p->settings->cfg,
                                .cache = p->inst->tokens,
                                .ep = &p->eps[i],
                                .creds = p->eps[i].mirror ? &p->anon : &p->creds,
                                .scope = p->scope};
}

/* A mirror failed: say so and go on (the error is consumed). */
static void mirror_failed(const struct dk_pull *p, size_t i, struct cleat_error *err) {
    const struct cleat_host *host = p->inst->host;
    cleat_log(host, CLEAT_LOG_WARNING, "mirror %s failed for %s, trying the next: %s", p->eps[i].base, p->reference,
              err ? host->error_message(err) : "unknown error");
    host->error_free(err);
}

/* ------------------------------------------------------------------------- */
/* resolve                                                                   */

struct resolved {
    char *media_type, *digest;
    int64_t size;
};

static void resolved_done(struct resolved *d) {
    free(d->media_type);
    free(d->digest);
    *d = (struct resolved){0};
}

/* The media type of a manifest served with a vague Content-Type, from its own fields. */
static int sniff_media_type(const struct dk_buf *body, const char **ret) {
    json_t *root = json_loadb(body->data ? body->data : "", body->len, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return -EBADMSG;
    }
    const char *mt = json_string_value(json_object_get(root, "mediaType"));
    json_int_t schema = json_integer_value(json_object_get(root, "schemaVersion"));
    int r = 0;
    *ret = NULL;
    for (size_t i = 0; mt && i < sizeof(manifest_types) / sizeof(manifest_types[0]); i++)
        if (strcmp(mt, manifest_types[i]) == 0)
            *ret = manifest_types[i];
    if (*ret)
        ;
    else if (schema == 1)
        r = -EPROTONOSUPPORT;
    else if (schema == 2 && json_is_array(json_object_get(root, "manifests")))
        *ret = DK_MT_OCI_INDEX;
    else if (schema == 2 && json_is_object(json_object_get(root, "config")))
        *ret = DK_MT_OCI_MANIFEST;
    else
        r = -EBADMSG;
    json_decref(root);
    return r;
}

/* The descriptor from a GET: the body decides the digest and size. */
static int describe_body(const struct dk_pull *p, size_t i, const struct dk_http_resp *resp, struct resolved *d,
                         struct cleat_error **reterr) {
    const struct cleat_host *host = p->inst->host;
    const char *mt = is_manifest_type(resp->content_type) ? resp->content_type : NULL;
    int r = mt ? 0 : sniff_media_type(&resp->body, &mt);
    if (r == -EPROTONOSUPPORT)
        return cleat_error_set(host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EPROTONOSUPPORT,
                               "%s at %s is a Docker schema 1 manifest, which is not supported", p->reference,
                               p->eps[i].host);
    if (r < 0)
        return cleat_error_set(host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EBADMSG,
                               "%s at %s: the answer (%s) is not an image manifest or index", p->reference,
                               p->eps[i].host, resp->content_type ? resp->content_type : "no Content-Type");
    _cleanup_free_ char *computed = dk_sha256_digest(resp->body.data ? resp->body.data : "", resp->body.len);
    if (!computed)
        return plugin_oom(host, reterr);
    /* A registry (or mirror) that names a digest its bytes do not have is not to be trusted with this pull. */
    const char *claimed = p->ref.digest ? p->ref.digest : resp->docker_digest;
    if (claimed && strncmp(claimed, "sha256:", 7) == 0 && strcmp(claimed, computed) != 0)
        return cleat_error_set(host, reterr, CLEAT_STATUS_UNAVAILABLE, EBADMSG,
                               "%s at %s: the manifest should be %s but hashes to %s", p->reference, p->eps[i].host,
                               claimed, computed);
    d->media_type = strdup(mt);
    d->digest = strdup(p->ref.digest ? p->ref.digest : computed);
    d->size = (int64_t)resp->body.len;
    return d->media_type && d->digest ? 0 : plugin_oom(host, reterr);
}

static int resolve_at(const struct dk_pull *p, size_t i, const char *path, struct resolved *d,
                      struct cleat_error **reterr) {
    const struct cleat_host *host = p->inst->host;
    struct dk_auth_ctx a = pull_auth(p, i);
    struct dk_call call = {.auth = &a,
                           .kind = "manifest",
                           .name = p->reference,
                           .method = "HEAD",
                           .path = path,
                           .accept = accept_manifests,
                           .body_max = DK_SMALL_BODY_MAX};
    struct dk_http_resp resp;
    struct cleat_error *err = NULL;
    int r = dk_call(&call, &resp, &err);
    if (r == 0) {
        const char *digest = p->ref.digest                         ? p->ref.digest
                             : dk_digest_valid(resp.docker_digest) ? resp.docker_digest
                                                                   : NULL;
        if (is_manifest_type(resp.content_type) && digest && resp.content_length >= 0) {
            d->media_type = strdup(resp.content_type);
            d->digest = strdup(digest);
            d->size = resp.content_length;
            dk_http_resp_done(host, &resp);
            return d->media_type && d->digest ? 0 : plugin_oom(host, reterr);
        }
        dk_http_resp_done(host, &resp);
    } else {
        int32_t status = err ? host->error_status(err) : CLEAT_STATUS_UNKNOWN;
        /*
         * Not there, not reachable, or our credentials refused: a GET would say the same.  Anything
         * else may be HEAD's fault (or the registry's message is in the body HEAD does not have).
         */
        if (status == CLEAT_STATUS_NOT_FOUND || status == CLEAT_STATUS_UNAVAILABLE || r == -EKEYREJECTED ||
            r == -ENOMEM) {
            return plugin_pass_error(host, reterr, err, r);
        }
        cleat_log(host, CLEAT_LOG_DEBUG, "HEAD %s at %s failed (%s), trying GET", p->reference, p->eps[i].host,
                  err ? host->error_message(err) : "?");
        host->error_free(err);
    }
    call.method = "GET";
    call.body_max = DK_MANIFEST_MAX;
    if ((r = dk_call(&call, &resp, reterr)) < 0)
        return r;
    r = describe_body(p, i, &resp, d, reterr);
    dk_http_resp_done(host, &resp);
    return r;
}

/* "domain/name:tag@digest", or "domain/name@digest" without a tag. */
static char *canonical_name(const struct dk_ref *ref, const char *digest) {
    char *s = NULL;
    if (asprintf(&s, "%s/%s%s%s@%s", ref->domain, ref->name, ref->tag ? ":" : "", ref->tag ? ref->tag : "", digest) < 0)
        return NULL;
    return s;
}

static int dk_resolve(void *instance, const struct cleat_transport_request *request, cleat_resolved_fn fn, void *ctx,
                      struct cleat_error **reterr) {
    struct dk_instance *inst = instance;
    const struct cleat_host *host = inst->host;
    struct dk_pull p;
    int r = pull_init(inst, request, &p, reterr);
    if (r < 0)
        return r;
    const char *target = p.ref.digest ? p.ref.digest : p.ref.tag ? p.ref.tag : "latest";
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "/v2/%s/manifests/%s", p.ref.name, target) < 0) {
        pull_done(&p);
        return plugin_oom(host, reterr);
    }
    struct resolved d = {0};
    for (size_t i = 0; i < p.n_eps; i++) {
        struct cleat_error *err = NULL;
        r = resolve_at(&p, i, path, &d, &err);
        if (r == 0)
            break;
        if (p.eps[i].mirror && r != -ENOMEM) {
            mirror_failed(&p, i, err);
            resolved_done(&d);
            continue;
        }
        resolved_done(&d);
        pull_done(&p);
        return plugin_pass_error(host, reterr, err, r);
    }
    _cleanup_free_ char *name = canonical_name(&p.ref, d.digest);
    if (!name) {
        resolved_done(&d);
        pull_done(&p);
        return plugin_oom(host, reterr);
    }
    cleat_log(host, CLEAT_LOG_DEBUG, "resolved %s to %s (%s, %" PRId64 " bytes)", p.reference, d.digest, d.media_type,
              d.size);
    struct cleat_descriptor desc = {.media_type = d.media_type, .digest = d.digest, .size = d.size};
    /* The callback's code comes back unchanged, with an error saying so (it has no way to make one). */
    r = fn(ctx, name, &desc);
    if (r < 0)
        cleat_error_set(host, reterr, r == -ENOMEM ? CLEAT_STATUS_RESOURCE_EXHAUSTED : CLEAT_STATUS_INTERNAL, -r,
                        "%s resolved to %s, which the caller did not take: %s", p.reference, d.digest, strerror(-r));
    resolved_done(&d);
    pull_done(&p);
    return r;
}

/* ------------------------------------------------------------------------- */
/* fetch                                                                     */

static void slot_acquire(struct dk_instance *inst) {
    pthread_mutex_lock(&inst->slots_lock);
    while (inst->slots_free <= 0)
        pthread_cond_wait(&inst->slots_cond, &inst->slots_lock);
    inst->slots_free--;
    pthread_mutex_unlock(&inst->slots_lock);
}

static void slot_release(struct dk_instance *inst) {
    pthread_mutex_lock(&inst->slots_lock);
    inst->slots_free++;
    pthread_cond_signal(&inst->slots_cond);
    pthread_mutex_unlock(&inst->slots_lock);
}

static int fetch_from(const struct dk_pull *p, const struct cleat_descriptor *desc, struct cleat_blob_writer *writer,
                      const char *path, struct cleat_error **reterr) {
    const struct cleat_host *host = p->inst->host;
    int manifest = is_manifest_type(desc->media_type);
    int r = 0;
    for (size_t i = 0; i < p->n_eps; i++) {
        struct dk_auth_ctx a = pull_auth(p, i);
        int32_t fatal = 0;
        struct dk_call call = {.auth = &a,
                               .kind = manifest ? "manifest" : "blob",
                               .name = desc->digest,
                               .method = "GET",
                               .path = path,
                               .accept = manifest ? accept_manifests : NULL,
                               .writer = writer,
                               .body_max = DK_SMALL_BODY_MAX,
                               .ret_fatal = &fatal};
        struct dk_http_resp resp;
        struct cleat_error *err = NULL;
        r = dk_call(&call, &resp, &err);
        if (r == 0) {
            dk_http_resp_done(host, &resp);
            return 0;
        }
        if (p->eps[i].mirror && !fatal && r != -ENOMEM) {
            mirror_failed(p, i, err);
            continue;
        }
        if (err && reterr)
            *reterr = host->error_wrap(err, "%s", p->reference);
        else
            host->error_free(err);
        return r;
    }
    return r;
}

static int dk_fetch(void *instance, const struct cleat_transport_request *request, const struct cleat_descriptor *desc,
                    struct cleat_blob_writer *writer, struct cleat_error **reterr) {
    struct dk_instance *inst = instance;
    const struct cleat_host *host = inst->host;
    if (!desc || !dk_digest_valid(desc->digest))
        return cleat_error_set(host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "cannot fetch '%s': not a sha256 or sha512 digest",
                               desc && desc->digest ? desc->digest : "");
    if (desc->size >= 0 && host->blob_offset(writer) == (uint64_t)desc->size && desc->size > 0)
        return 0; /* a resumed download that was already complete */
    struct dk_pull p;
    int r = pull_init(inst, request, &p, reterr);
    if (r < 0)
        return r;
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "/v2/%s/%s/%s", p.ref.name, is_manifest_type(desc->media_type) ? "manifests" : "blobs",
                 desc->digest) < 0) {
        pull_done(&p);
        return plugin_oom(host, reterr);
    }
    slot_acquire(inst);
    r = fetch_from(&p, desc, writer, path, reterr);
    slot_release(inst);
    pull_done(&p);
    return r;
}

/* ------------------------------------------------------------------------- */
/* the instance                                                              */

static int dk_validate(const struct cleat_host *host, const struct cleat_config *options, struct cleat_error **reterr) {
    struct dk_config cfg;
    int r = dk_config_parse(host, options, &cfg, reterr);
    if (r == 0)
        dk_config_done(&cfg);
    return r;
}

static void dk_fini(void *instance) {
    struct dk_instance *inst = instance;
    if (!inst)
        return;
    dk_http_free(inst->http);
    dk_token_cache_free(inst->tokens);
    settings_unref(inst->settings);
    pthread_cond_destroy(&inst->slots_cond);
    pthread_mutex_destroy(&inst->slots_lock);
    pthread_mutex_destroy(&inst->settings_lock);
    free(inst);
}

/* A new settings snapshot from `options`, with the instance's reference. */
static int settings_new(const struct cleat_host *host, const struct cleat_config *options, struct dk_settings **ret,
                        struct cleat_error **reterr) {
    struct dk_settings *s = calloc(1, sizeof(*s));
    if (!s)
        return plugin_oom(host, reterr);
    int r = dk_config_parse(host, options, &s->cfg, reterr);
    if (r < 0) {
        free(s);
        return r;
    }
    atomic_init(&s->refs, 1);
    *ret = s;
    return 0;
}

static void log_settings(const struct cleat_host *host, const char *what, const struct dk_config *cfg) {
    cleat_log(host, CLEAT_LOG_INFO,
              "registry transport %s: %" PRId64 " concurrent downloads, %" PRId64 " retries, %zu registries configured",
              what, cfg->max_concurrent_downloads, cfg->retries, cfg->n_registries);
}

/*
 * New options: pulls that start from now on use them; those in flight keep
 * the snapshot they hold.  The token cache stays: its entries are keyed by
 * registry, scope and credentials, none of which the options change.
 */
static int dk_reconfigure(void *instance, const struct cleat_config *options, struct cleat_error **reterr) {
    struct dk_instance *inst = instance;
    struct dk_settings *s = NULL;
    int r = settings_new(inst->host, options, &s, reterr);
    if (r < 0)
        return r;
    pthread_mutex_lock(&inst->settings_lock);
    struct dk_settings *old = inst->settings;
    inst->settings = s;
    pthread_mutex_unlock(&inst->settings_lock);

    pthread_mutex_lock(&inst->slots_lock);
    inst->slots_free += s->cfg.max_concurrent_downloads - old->cfg.max_concurrent_downloads;
    pthread_cond_broadcast(&inst->slots_cond);
    pthread_mutex_unlock(&inst->slots_lock);
    log_settings(inst->host, "reconfigured", &s->cfg);
    settings_unref(old);
    return 0;
}

static int dk_init(const struct cleat_host *host, const struct cleat_config *options, void **ret_instance,
                   struct cleat_error **reterr) {
    struct dk_instance *inst = calloc(1, sizeof(*inst));
    if (!inst)
        return plugin_oom(host, reterr);
    inst->host = host;
    pthread_mutex_init(&inst->slots_lock, NULL);
    pthread_cond_init(&inst->slots_cond, NULL);
    pthread_mutex_init(&inst->settings_lock, NULL);
    int r = settings_new(host, options, &inst->settings, reterr);
    if (r < 0) {
        dk_fini(inst);
        return r;
    }
    inst->slots_free = inst->settings->cfg.max_concurrent_downloads;
    if ((r = dk_http_new(host, &inst->http, reterr)) < 0) {
        dk_fini(inst);
        return r;
    }
    if (!(inst->tokens = dk_token_cache_new())) {
        dk_fini(inst);
        return plugin_oom(host, reterr);
    }
    log_settings(host, "ready", &inst->settings->cfg);
    *ret_instance = inst;
    return 0;
}

static const struct cleat_transport_ops dk_ops = {
    .resolve = dk_resolve,
    .fetch = dk_fetch,
    .reconfigure = dk_reconfigure,
};

CLEAT_PLUGIN_DEFINE(CLEAT_CONCERN_TRANSPORT, "image-docker", "0.1.0",
                    "registry transport: Docker Registry HTTP API v2 / OCI distribution, over libcurl", dk_validate,
                    dk_init, dk_fini, dk_ops);
