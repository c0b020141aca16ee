/* SPDX-License-Identifier: Apache-2.0 */
/* Evaluating the signature policy for one image (see trust_check.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif

#include "trust_check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"
#include "trust_gpg.h"
#include "trust_identity.h"
#include "trust_payload.h"
#include "trust_scope.h"
#include "trust_sigstore.h"

void trust_sigs_free(struct trust_sig *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].payload);
        free(v[i].signature);
    }
    free(v);
}

/* Signatures fetched so far, per digest and kind (a check asks each source once). */
struct fetched {
    int loaded;
    struct trust_sig *v;
    size_t n;
};

struct check {
    const struct trust_policy *p;
    const struct trust_image *img;
    const struct trust_sources *src;
    struct fetched sigstore[2], gpg[2];
};

static void check_clear(struct check *c) {
    for (int i = 0; i < 2; i++) {
        trust_sigs_free(c->sigstore[i].v, c->sigstore[i].n);
        trust_sigs_free(c->gpg[i].v, c->gpg[i].n);
    }
}

static int oom(struct cleat_error **reterr) {
    return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
}

static const struct trust_reqs *lookup(const struct trust_policy *p, const struct trust_image *img, char **ret_scope,
                                       struct cleat_error **reterr) {
    char **cands = NULL;
    /* A reference that gives no scopes (it does not parse) still gets the transport's and the global defaults. */
    if (trust_scope_candidates(img->transport, img->reference, &cands) == -ENOMEM) {
        oom(reterr);
        return NULL;
    }
    const struct trust_reqs *reqs = trust_policy_lookup(p, img->transport, (const char *const *)cands, ret_scope);
    trust_scopes_free(cands);
    if (!*ret_scope) {
        oom(reterr);
        return NULL;
    }
    return reqs;
}

static int refuse(const struct check *c, const char *scope, size_t i, size_t n, const struct trust_requirement *q,
                  const char *why, struct cleat_error **reterr) {
    return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EPERM,
                     "image %s refused by signature policy %s: %s, requirement %zu of %zu (%s): %s", c->img->reference,
                     c->p->path, scope, i + 1, n, trust_req_name(q->type), why ? why : "out of memory");
}

int trust_check_early(const struct trust_policy *p, const struct trust_image *img, struct cleat_error **reterr) {
    _cleanup_free_ char *scope = NULL;
    const struct trust_reqs *reqs = lookup(p, img, &scope, reterr);
    if (!reqs)
        return -ENOMEM;
    struct check c = {.p = p, .img = img};
    for (size_t i = 0; i < reqs->n; i++)
        if (reqs->items[i].type == TRUST_REQ_REJECT)
            return refuse(&c, scope, i, reqs->n, &reqs->items[i], "the policy rejects every image here", reterr);
    return 0;
}

static int n_digests(const struct trust_image *img) {
    return img->digests[1] && strcmp(img->digests[1], img->digests[0]) != 0 ? 2 : 1;
}

static int fetch(struct check *c, int gpg, int d, struct cleat_error **reterr) {
    struct fetched *f = gpg ? &c->gpg[d] : &c->sigstore[d];
    if (f->loaded)
        return 0;
    int r = (gpg ? c->src->gpg : c->src->sigstore)(c->src->ctx, c->img->digests[d], &f->v, &f->n, reterr);
    if (r < 0)
        return r;
    f->loaded = 1;
    return 0;
}

static int digest_is_ours(const struct trust_image *img, const char *digest) {
    for (int d = 0; d < n_digests(img); d++)
        if (strcmp(img->digests[d], digest) == 0)
            return 1;
    return 0;
}

/* A verified payload: does it name this image, under an identity the rule accepts?  1, or 0 with *why. */
static int payload_fits(const struct check *c, const struct trust_requirement *q, const char *json, size_t len,
                        const char *type, char **why) {
    struct trust_payload pl = {0};
    struct cleat_error *err = NULL;
    int r;
    if (trust_payload_parse(json, len, type, &pl, &err) < 0) {
        r = asprintf(why, "%s", error_message(err)) < 0 ? -ENOMEM : 0;
    } else if (!digest_is_ours(c->img, pl.digest)) {
        r = asprintf(why, "the signature is for %s, not for %s%s%s", pl.digest, c->img->digests[0],
                     n_digests(c->img) > 1 ? " or " : "", n_digests(c->img) > 1 ? c->img->digests[1] : "") < 0
                ? -ENOMEM
                : 0;
    } else {
        r = trust_identity_match(&q->identity, c->img->reference, pl.reference, why);
    }
    error_free(err);
    trust_payload_clear(&pl);
    return r;
}

/* One sigstore signature: 1 accepted, 0 not (with *why). */
static int sigstore_one(const struct check *c, const struct trust_requirement *q, const struct trust_sig *s,
                        char **why) {
    int ok = 0;
    for (size_t k = 0; k < q->n_keys && !ok; k++)
        ok = trust_sigstore_verify(q->keys[k].pkey, s->payload, s->payload_len, s->signature, s->signature_len);
    if (!ok)
        return asprintf(why, "a signature does not verify with the requirement's key%s", q->n_keys > 1 ? "s" : "") < 0
                   ? -ENOMEM
                   : 0;
    return payload_fits(c, q, s->payload, s->payload_len, PAYLOAD_TYPE_COSIGN, why);
}

/* One GPG signature blob: 1 accepted, 0 not (with *why), negative when GnuPG failed. */
static int gpg_one(const struct check *c, const struct trust_requirement *q, const struct trust_sig *s, char **why,
                   struct cleat_error **reterr) {
    _cleanup_free_ char *payload = NULL;
    size_t len = 0;
    int r = trust_gpg_verify(q, s->payload, s->payload_len, &payload, &len, why, reterr);
    if (r <= 0)
        return r;
    return payload_fits(c, q, payload, len, PAYLOAD_TYPE_GPG, why);
}

/* A signed requirement: 1 satisfied, 0 not (with *why), negative on errors. */
static int signed_ok(struct check *c, const struct trust_requirement *q, char **why, struct cleat_error **reterr) {
    int gpg = q->type == TRUST_REQ_GPG;
    size_t seen = 0;
    if (strcmp(c->img->transport, "docker") != 0)
        return asprintf(why, "the %s transport carries no signatures", c->img->transport) < 0 ? -ENOMEM : 0;
    for (int d = 0; d < n_digests(c->img); d++) {
        int r = fetch(c, gpg, d, reterr);
        if (r < 0)
            return r;
        struct fetched *f = gpg ? &c->gpg[d] : &c->sigstore[d];
        for (size_t i = 0; i < f->n; i++, seen++) {
            free(*why);
            *why = NULL;
            r = gpg ? gpg_one(c, q, &f->v[i], why, reterr) : sigstore_one(c, q, &f->v[i], why);
            if (r != 0)
                return r;
        }
    }
    if (seen == 0)
        return asprintf(why, "no %s signature of %s%s%s was found", gpg ? "GPG (lookaside)" : "sigstore",
                        c->img->digests[0], n_digests(c->img) > 1 ? " or " : "",
                        n_digests(c->img) > 1 ? c->img->digests[1] : "") < 0
                   ? -ENOMEM
                   : 0;
    return 0;
}

static int requirement_ok(struct check *c, const struct trust_requirement *q, char **why, struct cleat_error **reterr) {
    switch (q->type) {
    case TRUST_REQ_ACCEPT_ANYTHING:
        return 1;
    case TRUST_REQ_REJECT:
        return asprintf(why, "the policy rejects every image here") < 0 ? -ENOMEM : 0;
    case TRUST_REQ_SIGSTORE:
    case TRUST_REQ_GPG:
        return signed_ok(c, q, why, reterr);
    }
    return 0;
}

int trust_check(const struct trust_policy *p, const struct trust_image *img, const struct trust_sources *src,
                struct cleat_error **reterr) {
    _cleanup_free_ char *scope = NULL;
    const struct trust_reqs *reqs = lookup(p, img, &scope, reterr);
    if (!reqs)
        return -ENOMEM;
    struct check c = {.p = p, .img = img, .src = src};
    int r = 0;
    for (size_t i = 0; i < reqs->n && r >= 0; i++) {
        _cleanup_free_ char *why = NULL;
        r = requirement_ok(&c, &reqs->items[i], &why, reterr);
        if (r == -ENOMEM && !(reterr && *reterr))
            r = oom(reterr);
        else if (r == 0)
            r = refuse(&c, scope, i, reqs->n, &reqs->items[i], why, reterr);
    }
    check_clear(&c);
    return r < 0 ? r : 0;
}
