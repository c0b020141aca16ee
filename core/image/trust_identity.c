/* SPDX-License-Identifier: Apache-2.0 */
/* signedIdentity rules (see trust_identity.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif

#include "trust_identity.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"
#include "trust_why.h"
#include "image_ref.h"

static void image_ref_freep(struct image_ref **r) {
    image_ref_free(*r);
    *r = NULL;
}
#define _cleanup_ref_ __attribute__((cleanup(image_ref_freep)))

const char *trust_identity_name(enum trust_identity_type type) {
    switch (type) {
    case TRUST_ID_MATCH_REPO_DIGEST_OR_EXACT:
        return "matchRepoDigestOrExact";
    case TRUST_ID_MATCH_EXACT:
        return "matchExact";
    case TRUST_ID_MATCH_REPOSITORY:
        return "matchRepository";
    case TRUST_ID_EXACT_REFERENCE:
        return "exactReference";
    case TRUST_ID_EXACT_REPOSITORY:
        return "exactRepository";
    case TRUST_ID_REMAP:
        return "remapIdentity";
    }
    return "?";
}

static struct image_ref *parse_quiet(const char *s) {
    struct image_ref *r = NULL;
    struct cleat_error *err = NULL;
    if (image_ref_parse(s, &r, &err) < 0)
        r = NULL;
    error_free(err);
    return r;
}

/* Whether `s` itself names a tag (a ':' after its last '/') or a digest, not only a repository. */
static int has_tag_or_digest(const char *s) {
    const char *slash = strrchr(s, '/');
    return strchr(s, '@') != NULL || strchr(slash ? slash : s, ':') != NULL;
}

/* A repository, namespace or host[:port], in the fully expanded form (no normalisation applies). */
static int prefix_valid(const char *s) {
    if (!strchr(s, '/')) {
        /* host[:port]: what a domain may be; image_ref checks it as the domain of "<s>/x". */
        _cleanup_free_ char *probe = NULL;
        if (!*s || asprintf(&probe, "%s/x", s) < 0)
            return 0;
        _cleanup_ref_ struct image_ref *r = parse_quiet(probe);
        return r && strcmp(r->domain, s) == 0;
    }
    _cleanup_ref_ struct image_ref *r = parse_quiet(s);
    _cleanup_free_ char *name = r ? image_ref_name(r) : NULL;
    return name && strcmp(name, s) == 0 && !has_tag_or_digest(s);
}

int trust_identity_validate(const struct trust_identity *id, char **ret_why) {
    *ret_why = NULL;
    switch (id->type) {
    case TRUST_ID_EXACT_REFERENCE: {
        _cleanup_ref_ struct image_ref *r = parse_quiet(id->reference);
        if (!r || !has_tag_or_digest(id->reference))
            return trust_why(ret_why, -EINVAL, "dockerReference '%s' is not a reference with a tag or digest",
                             id->reference);
        return 0;
    }
    case TRUST_ID_EXACT_REPOSITORY: {
        _cleanup_ref_ struct image_ref *r = parse_quiet(id->reference);
        if (!r || has_tag_or_digest(id->reference))
            return trust_why(ret_why, -EINVAL, "dockerRepository '%s' is not a repository name (without tag or digest)",
                             id->reference);
        return 0;
    }
    case TRUST_ID_REMAP:
        if (!prefix_valid(id->prefix))
            return trust_why(ret_why, -EINVAL,
                             "prefix '%s' is not a host[:port], namespace or repository in fully expanded form",
                             id->prefix);
        if (!prefix_valid(id->signed_prefix))
            return trust_why(ret_why, -EINVAL,
                             "signedPrefix '%s' is not a host[:port], namespace or repository in fully expanded form",
                             id->signed_prefix);
        return 0;
    default:
        return 0;
    }
}

/* The image's identity: "name@digest" when it is pinned by digest, else "name:tag". */
static char *identity_string(const struct image_ref *r) {
    _cleanup_free_ char *name = image_ref_name(r);
    char *s = NULL;
    if (!name)
        return NULL;
    if (asprintf(&s, "%s%s%s", name, r->digest ? "@" : ":", r->digest ? r->digest : r->tag) < 0)
        return NULL;
    return s;
}

static int same_repository(const struct image_ref *a, const struct image_ref *b) {
    return strcmp(a->domain, b->domain) == 0 && strcmp(a->path, b->path) == 0;
}

/* The claimed reference as written after normalisation (tag and digest both, when it has both). */
static int exact_match(const struct image_ref *img, const struct image_ref *sig) {
    _cleanup_free_ char *a = identity_string(img);
    _cleanup_free_ char *b = image_ref_string(sig);
    if (!a || !b)
        return -ENOMEM;
    return strcmp(a, b) == 0;
}

static int repo_digest_or_exact(const struct image_ref *img, const struct image_ref *sig) {
    return img->digest ? same_repository(img, sig) : exact_match(img, sig);
}

/* "prefix" matches the name `name` itself or a path under it. */
static int name_has_prefix(const char *name, const char *prefix) {
    size_t n = strlen(prefix);
    return strncmp(name, prefix, n) == 0 && (name[n] == '\0' || name[n] == '/');
}

/* The image reference with P replaced by S when its name starts with P; else a copy. */
static int remap(const struct trust_identity *id, const struct image_ref *img, struct image_ref **ret) {
    _cleanup_free_ char *ident = identity_string(img);
    _cleanup_free_ char *name = image_ref_name(img);
    if (!ident || !name)
        return -ENOMEM;
    _cleanup_free_ char *mapped = NULL;
    const char *use = ident;
    if (name_has_prefix(name, id->prefix)) {
        if (asprintf(&mapped, "%s%s", id->signed_prefix, ident + strlen(id->prefix)) < 0)
            return -ENOMEM;
        use = mapped;
    }
    *ret = parse_quiet(use);
    return *ret ? 0 : -EINVAL;
}

static int match_parsed(const struct trust_identity *id, const struct image_ref *img, const struct image_ref *sig) {
    switch (id->type) {
    case TRUST_ID_MATCH_EXACT:
        return exact_match(img, sig);
    case TRUST_ID_MATCH_REPO_DIGEST_OR_EXACT:
        return repo_digest_or_exact(img, sig);
    case TRUST_ID_MATCH_REPOSITORY:
        return same_repository(img, sig);
    case TRUST_ID_EXACT_REFERENCE: {
        _cleanup_ref_ struct image_ref *want = parse_quiet(id->reference);
        _cleanup_free_ char *a = want ? image_ref_string(want) : NULL;
        _cleanup_free_ char *b = image_ref_string(sig);
        if (!a || !b)
            return -ENOMEM;
        return strcmp(a, b) == 0;
    }
    case TRUST_ID_EXACT_REPOSITORY: {
        _cleanup_ref_ struct image_ref *want = parse_quiet(id->reference);
        return want ? same_repository(want, sig) : 0;
    }
    case TRUST_ID_REMAP: {
        _cleanup_ref_ struct image_ref *mapped = NULL;
        int r = remap(id, img, &mapped);
        if (r == -EINVAL)
            return 0; /* the remapped name is not a valid reference: nothing can match it */
        return r < 0 ? r : repo_digest_or_exact(mapped, sig);
    }
    }
    return 0;
}

int trust_identity_match(const struct trust_identity *id, const char *image, const char *claimed, char **ret_why) {
    *ret_why = NULL;
    _cleanup_ref_ struct image_ref *img = parse_quiet(image);
    _cleanup_ref_ struct image_ref *sig = parse_quiet(claimed);
    if (!img) {
        trust_why(ret_why, -EINVAL, "the image reference '%s' is not a docker reference", image);
        return 0;
    }
    if (!sig) {
        trust_why(ret_why, -EINVAL, "the signature claims '%s', which is not a docker reference", claimed);
        return 0;
    }
    int r = match_parsed(id, img, sig);
    if (r == 0) {
        _cleanup_free_ char *ident = identity_string(img);
        trust_why(ret_why, -EINVAL, "the signature claims '%s', which does not fit image '%s'", claimed,
                  ident ? ident : image);
        if (*ret_why) {
            _cleanup_free_ char *base = *ret_why;
            if (asprintf(ret_why, "%s under signedIdentity %s", base, trust_identity_name(id->type)) < 0)
                *ret_why = NULL;
        }
    }
    return r;
}
