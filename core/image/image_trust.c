/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pull's signature check (trust_check.h) and where its signatures come
 * from: cosign attachments fetched through the pull's own transport (same
 * registry, same credentials), GPG signatures from lookaside storage.
 * Signatures are read into memory, never into the content store: a
 * refused pull leaves nothing of them behind, nor does an accepted one.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "builders.h"
#include "cleanup.h"
#include "image_internal.h"
#include "image_ref.h"
#include "log.h"
#include "plugin_calls.h"
#include "trust_check.h"
#include "trust_gpg.h"
#include "trust_lookaside.h"
#include "trust_scope.h"
#include "trust_sigstore.h"

/* A blob fetched into memory, bounded. */
struct mem_blob {
    char *data;
    size_t len, max;
};

static int mem_sink(void *ctx, const void *data, uint64_t len, struct cleat_error **reterr) {
    struct mem_blob *m = ctx;
    if (len > m->max - m->len)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, EFBIG, "more than %zu bytes", m->max);
    char *n = realloc(m->data, m->len + len + 1);
    if (!n)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    memcpy(n + m->len, data, len);
    m->data = n;
    m->len += len;
    m->data[m->len] = '\0';
    return 0;
}

/* Fetch `digest` of `req`'s repository into memory and check it is what it says. */
static int fetch_mem(struct pull *p, const struct cleat_transport_request *req, const char *media, const char *digest,
                     int64_t size, size_t max, struct mem_blob *ret, struct cleat_error **reterr) {
    *ret = (struct mem_blob){.max = max};
    if (size < 0 || (uint64_t)size > max)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EFBIG, "signature blob %s: %lld bytes (at most %zu)",
                         digest, (long long)size, max);
    struct cleat_blob_writer bw = {.sink = mem_sink, .ctx = ret};
    struct cleat_descriptor cd = {.media_type = media, .digest = digest, .size = size};
    int r = plugin_transport_fetch(p->transport, req, &cd, &bw, reterr);
    char got[DIGEST_MAX];
    if (r >= 0 && digest_of_buffer(ret->data ? ret->data : "", ret->len, got) < 0)
        r = error_set(reterr, CLEAT_STATUS_INTERNAL, EIO, "hashing signature blob %s", digest);
    if (r >= 0 && (strcmp(got, digest) != 0 || ret->len != (size_t)size))
        r = error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EBADMSG, "signature blob %s: its content is %s", digest,
                      got);
    if (r < 0) {
        free(ret->data);
        ret->data = NULL;
    }
    return r;
}

struct resolved_sig {
    char digest[DIGEST_MAX];
    char *media;
    int64_t size;
};

static int on_sig_resolved(void *ctx, const char *name, const struct cleat_descriptor *desc) {
    struct resolved_sig *s = ctx;
    if (!desc || !desc->digest || digest_validate(desc->digest, NULL) < 0)
        return -EINVAL;
    snprintf(s->digest, sizeof(s->digest), "%s", desc->digest);
    s->size = desc->size;
    s->media = strdup(desc->media_type ? desc->media_type : "");
    return s->media ? 0 : -ENOMEM;
}

/* One payload layer into a trust_sig. */
static int sigstore_entry_load(struct pull *p, const struct cleat_transport_request *req,
                               const struct sigstore_entry *e, struct trust_sig *s, struct cleat_error **reterr) {
    struct mem_blob payload;
    int r = fetch_mem(p, req, SIGSTORE_PAYLOAD_MEDIA, e->digest, e->size, SIGSTORE_MAX_PAYLOAD_BYTES, &payload, reterr);
    if (r < 0)
        return r;
    size_t n = strlen(e->signature_b64);
    s->payload = payload.data;
    s->payload_len = payload.len;
    s->signature = malloc(3 * (n / 4) + 1);
    if (!s->signature)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    ssize_t len = b64_decode(e->signature_b64, n, s->signature);
    /* Not base64: kept as an empty signature, which verifies with no key (the check says so). */
    s->signature_len = len > 0 ? (size_t)len : 0;
    return 0;
}

/* cosign: the manifest tagged sha256-<hex>.sig in the image's repository, and its payload layers. */
static int sigstore_source(void *ctx, const char *digest, struct trust_sig **ret, size_t *ret_n,
                           struct cleat_error **reterr) {
    struct pull *p = ctx;
    _cleanup_free_ char *tag = trust_sigstore_tag(digest);
    _cleanup_free_ char *ref = NULL;
    *ret = NULL;
    *ret_n = 0;
    if (!tag)
        return 0; /* cosign tags only sha256 digests */
    if (asprintf(&ref, "%s:%s", p->name, tag) < 0)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    struct cleat_transport_request req = {.struct_size = sizeof(req), .reference = ref, .auth = p->auth};
    struct resolved_sig rs = {0};
    struct cleat_error *err = NULL;
    int r = plugin_transport_resolve(p->transport, &req, on_sig_resolved, &rs, &err);
    if (r < 0 && error_status(err) == CLEAT_STATUS_NOT_FOUND) {
        log_debug("no sigstore signatures at %s", ref);
        error_free(err);
        free(rs.media);
        return 0;
    }
    if (r < 0) {
        free(rs.media);
        if (reterr)
            *reterr = err;
        else
            error_free(err);
        return error_prefix(r, reterr, "looking up signatures %s", ref);
    }
    struct mem_blob m;
    r = fetch_mem(p, &req, rs.media, rs.digest, rs.size, SIGSTORE_MAX_MANIFEST_BYTES, &m, reterr);
    free(rs.media);
    struct sigstore_entry *entries = NULL;
    size_t n = 0;
    if (r >= 0)
        r = trust_sigstore_manifest_parse(m.data, m.len, &entries, &n, reterr);
    free(m.data);
    struct trust_sig *v = r >= 0 ? calloc(n ? n : 1, sizeof(*v)) : NULL;
    if (r >= 0 && !v)
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    for (size_t i = 0; r >= 0 && i < n; i++)
        r = sigstore_entry_load(p, &req, &entries[i], &v[i], reterr);
    sigstore_entries_free(entries, n);
    if (r < 0) {
        trust_sigs_free(v, n);
        return error_prefix(r, reterr, "reading signatures %s", ref);
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

/* GPG: the lookaside files of this repository and digest. */
static int gpg_source(void *ctx, const char *digest, struct trust_sig **ret, size_t *ret_n,
                      struct cleat_error **reterr) {
    struct pull *p = ctx;
    char **cands = NULL;
    struct image_ref *parsed = NULL;
    *ret = NULL;
    *ret_n = 0;
    int r = image_ref_parse(p->reference, &parsed, reterr);
    if (r >= 0 && trust_scope_candidates("docker", p->reference, &cands) < 0)
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    const char *url = r >= 0 ? trust_lookaside_url(p->settings->lookaside, (const char *const *)cands) : NULL;
    struct lookaside_blob *blobs = NULL;
    size_t n = 0;
    if (r >= 0 && !url)
        log_debug("no lookaside is configured for %s", p->reference);
    else if (r >= 0)
        r = trust_lookaside_read(url, parsed->path, digest, GPG_MAX_SIGNATURE_BYTES, &blobs, &n, reterr);
    trust_scopes_free(cands);
    image_ref_free(parsed);
    struct trust_sig *v = r >= 0 && n ? calloc(n, sizeof(*v)) : NULL;
    if (r >= 0 && n && !v)
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    for (size_t i = 0; r >= 0 && i < n; i++) {
        v[i].payload = TAKE_PTR(blobs[i].data);
        v[i].payload_len = blobs[i].len;
    }
    lookaside_blobs_free(blobs, n);
    if (r < 0) {
        trust_sigs_free(v, n);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

/* The transport's policy name and the reference its scopes are read from. */
static void pull_image(const struct pull *p, struct trust_image *img) {
    const char *ref = p->reference;
    *img = (struct trust_image){.transport = "docker", .reference = ref};
    if (!p->name) {
        /* Local transports: "oci:/dir:tag", "oci-archive:/f.tar" (image_pull.c keeps the reference as given). */
        const char *colon = strchr(ref, ':');
        img->transport = strncmp(ref, "oci-archive:", 12) == 0 ? "oci-archive" : "oci";
        img->reference = colon ? colon + 1 : ref;
        if (strncmp(ref, "oci:", 4) != 0 && strncmp(ref, "oci-archive:", 12) != 0)
            img->transport = "other"; /* a scheme with no policy transport: only the global default applies */
    }
}

int pull_trust_early(struct pull *p, struct cleat_error **reterr) {
    const struct trust_policy *policy = p->settings->policy;
    if (!policy)
        return 0;
    struct trust_image img;
    pull_image(p, &img);
    return trust_check_early(policy, &img, reterr);
}

int pull_trust_check(struct pull *p, struct cleat_error **reterr) {
    const struct trust_policy *policy = p->settings->policy;
    if (!policy)
        return 0;
    struct trust_image img;
    pull_image(p, &img);
    img.digests[0] = p->target.digest;
    img.digests[1] = p->manifest_desc.digest;
    struct trust_sources src = {.sigstore = sigstore_source, .gpg = gpg_source, .ctx = p};
    int r = trust_check(policy, &img, &src, reterr);
    if (r >= 0)
        log_debug("signature policy %s accepts %s (%s)", policy->path, p->reference, p->manifest_desc.digest);
    return r;
}
