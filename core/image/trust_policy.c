/* SPDX-License-Identifier: Apache-2.0 */
/*
 * containers-policy.json(5) parsing and scope lookup (see trust_policy.h).
 * Strict as the format asks: every object's members are checked against the
 * list its type allows, so a typo is an error instead of a silently weaker
 * policy.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif

#include "trust_policy.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "cleanup.h"
#include "digest.h"
#include "error.h"
#include "fsutil.h"
#include "strbuf.h"
#include "trust_gpg.h"
#include "trust_identity.h"
#include "trust_scope.h"
#include "trust_sigstore.h"

#define POLICY_MAX_BYTES ((size_t)4 << 20)
#define KEY_MAX_BYTES ((size_t)1 << 20)

/* The parse of one file: where problems are reported. */
struct ctx {
    const char *path;
    struct cleat_error **reterr;
};

__attribute__((format(printf, 3, 4))) static int fail(struct ctx *c, const char *where, const char *fmt, ...) {
    char why[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return error_set(c->reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "signature policy %s: %s%s%s", c->path, where,
                     *where ? ": " : "", why);
}

static int oom(struct ctx *c) {
    return error_set(c->reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
}

const char *trust_req_name(enum trust_req_type type) {
    switch (type) {
    case TRUST_REQ_ACCEPT_ANYTHING:
        return "insecureAcceptAnything";
    case TRUST_REQ_REJECT:
        return "reject";
    case TRUST_REQ_SIGSTORE:
        return "sigstoreSigned";
    case TRUST_REQ_GPG:
        return "signedBy";
    }
    return "?";
}

/* Every member of `obj` is in `allowed`; else the first stranger is reported. */
static int check_members(struct ctx *c, const char *where, json_t *obj, const char *const *allowed) {
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        int ok = 0;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(k, allowed[i]) == 0;
        if (!ok)
            return fail(c, where, "unknown field \"%s\"", k);
    }
    return 0;
}

static int get_string(struct ctx *c, const char *where, json_t *obj, const char *key, int required, const char **ret) {
    json_t *v = json_object_get(obj, key);
    *ret = NULL;
    if (!v && !required)
        return 0;
    if (!json_is_string(v) || !*json_string_value(v))
        return fail(c, where, "\"%s\" must be a non-empty string", key);
    *ret = json_string_value(v);
    return 0;
}

/* --- signedIdentity ------------------------------------------------------- */

static int identity_parse(struct ctx *c, const char *where, json_t *obj, struct trust_identity *id) {
    static const char *const simple[] = {"type", NULL};
    static const char *const exact_ref[] = {"type", "dockerReference", NULL};
    static const char *const exact_repo[] = {"type", "dockerRepository", NULL};
    static const char *const remap[] = {"type", "prefix", "signedPrefix", NULL};
    _cleanup_free_ char *at = NULL;
    if (asprintf(&at, "%s.signedIdentity", where) < 0)
        return oom(c);
    if (!json_is_object(obj))
        return fail(c, at, "must be an object");
    const char *type = NULL, *a = NULL, *b = NULL;
    int r = get_string(c, at, obj, "type", 1, &type);
    if (r < 0)
        return r;
    const char *const *allowed = simple;
    if (strcmp(type, "matchRepoDigestOrExact") == 0)
        id->type = TRUST_ID_MATCH_REPO_DIGEST_OR_EXACT;
    else if (strcmp(type, "matchExact") == 0)
        id->type = TRUST_ID_MATCH_EXACT;
    else if (strcmp(type, "matchRepository") == 0)
        id->type = TRUST_ID_MATCH_REPOSITORY;
    else if (strcmp(type, "exactReference") == 0) {
        id->type = TRUST_ID_EXACT_REFERENCE;
        allowed = exact_ref;
        r = get_string(c, at, obj, "dockerReference", 1, &a);
    } else if (strcmp(type, "exactRepository") == 0) {
        id->type = TRUST_ID_EXACT_REPOSITORY;
        allowed = exact_repo;
        r = get_string(c, at, obj, "dockerRepository", 1, &a);
    } else if (strcmp(type, "remapIdentity") == 0) {
        id->type = TRUST_ID_REMAP;
        allowed = remap;
        r = get_string(c, at, obj, "prefix", 1, &a);
        if (r >= 0)
            r = get_string(c, at, obj, "signedPrefix", 1, &b);
    } else
        return fail(c, at, "unknown signedIdentity type \"%s\"", type);
    if (r >= 0)
        r = check_members(c, at, obj, allowed);
    if (r < 0)
        return r;
    if (id->type == TRUST_ID_REMAP) {
        id->prefix = strdup(a);
        id->signed_prefix = strdup(b);
        if (!id->prefix || !id->signed_prefix)
            return oom(c);
    } else if (a && !(id->reference = strdup(a)))
        return oom(c);
    _cleanup_free_ char *why = NULL;
    if (trust_identity_validate(id, &why) < 0)
        return fail(c, at, "%s", why ? why : "invalid");
    return 0;
}

/* --- keys ----------------------------------------------------------------- */

static int key_add(struct ctx *c, struct trust_requirement *req, char *source, unsigned char *data, size_t len) {
    struct trust_key *v = reallocarray(req->keys, req->n_keys + 1, sizeof(*v));
    if (!v) {
        free(source);
        free(data);
        return oom(c);
    }
    req->keys = v;
    v[req->n_keys++] = (struct trust_key){.source = source, .data = data, .len = len};
    return 0;
}

static int key_from_path(struct ctx *c, const char *where, struct trust_requirement *req, const char *path) {
    char *data = NULL, *source = NULL;
    size_t len = 0;
    struct cleat_error *err = NULL;
    if (path[0] != '/')
        return fail(c, where, "key file '%s' must be an absolute path", path);
    if (read_file(path, KEY_MAX_BYTES, &data, &len, &err) < 0) {
        int r = fail(c, where, "reading key file: %s", error_message(err));
        error_free(err);
        return r;
    }
    if (asprintf(&source, "keyPath %s", path) < 0) {
        free(data);
        return oom(c);
    }
    return key_add(c, req, source, (unsigned char *)data, len);
}

static int key_from_data(struct ctx *c, const char *where, struct trust_requirement *req, const char *b64,
                         const char *field) {
    size_t n = strlen(b64);
    unsigned char *data = malloc(3 * (n / 4) + 1);
    char *source = strdup(field);
    ssize_t len = data ? b64_decode(b64, n, data) : -1;
    if (!data || !source) {
        free(data);
        free(source);
        return oom(c);
    }
    if (len <= 0) {
        free(data);
        free(source);
        return fail(c, where, "\"%s\" is not base64", field);
    }
    data[len] = '\0';
    return key_add(c, req, source, data, (size_t)len);
}

/* keyPath | keyPaths | keyData (| keyDatas for sigstore): exactly one. */
static int keys_parse(struct ctx *c, const char *where, json_t *obj, struct trust_requirement *req) {
    json_t *path = json_object_get(obj, "keyPath"), *paths = json_object_get(obj, "keyPaths");
    json_t *data = json_object_get(obj, "keyData"), *datas = json_object_get(obj, "keyDatas");
    if ((path != NULL) + (paths != NULL) + (data != NULL) + (datas != NULL) != 1)
        return fail(c, where, "exactly one of keyPath, keyPaths, keyData%s must be set",
                    req->type == TRUST_REQ_SIGSTORE ? ", keyDatas" : "");
    const char *s = NULL;
    int r = 0;
    if (path && (r = get_string(c, where, obj, "keyPath", 1, &s)) >= 0)
        r = key_from_path(c, where, req, s);
    if (data && (r = get_string(c, where, obj, "keyData", 1, &s)) >= 0)
        r = key_from_data(c, where, req, s, "keyData");
    json_t *list = paths ? paths : datas;
    if (list && (!json_is_array(list) || json_array_size(list) == 0))
        return fail(c, where, "\"%s\" must be a non-empty array of strings", paths ? "keyPaths" : "keyDatas");
    for (size_t i = 0; list && r >= 0 && i < json_array_size(list); i++) {
        const char *item = json_string_value(json_array_get(list, i));
        if (!item || !*item)
            return fail(c, where, "\"%s\" must be a non-empty array of strings", paths ? "keyPaths" : "keyDatas");
        r = paths ? key_from_path(c, where, req, item) : key_from_data(c, where, req, item, "keyDatas");
    }
    return r;
}

/* sigstoreSigned keys become OpenSSL public keys now, so a bad one fails the start. */
static int sigstore_keys_load(struct ctx *c, const char *where, struct trust_requirement *req) {
    for (size_t i = 0; i < req->n_keys; i++) {
        struct trust_key *k = &req->keys[i];
        _cleanup_free_ char *what = NULL;
        if (asprintf(&what, "signature policy %s: %s: %s", c->path, where, k->source) < 0)
            return oom(c);
        int r = trust_sigstore_key_load(k->data, k->len, what, &k->pkey, c->reterr);
        if (r < 0)
            return r;
    }
    return 0;
}

/* --- requirements --------------------------------------------------------- */

static int sigstore_parse(struct ctx *c, const char *where, json_t *obj, struct trust_requirement *req) {
    static const char *const allowed[] = {"type", "keyPath", "keyPaths", "keyData", "keyDatas", "signedIdentity", NULL};
    static const char *const keyless[] = {
        "fulcio", "rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData", "rekorPublicKeyDatas", "pki",
        NULL};
    for (size_t i = 0; keyless[i]; i++)
        if (json_object_get(obj, keyless[i]))
            return fail(c, where,
                        "sigstoreSigned with \"%s\" (keyless Fulcio/Rekor verification) is not supported by cleat; "
                        "use keyPath, keyPaths or keyData with a public key",
                        keyless[i]);
    int r = check_members(c, where, obj, allowed);
    if (r >= 0)
        r = keys_parse(c, where, obj, req);
    if (r >= 0)
        r = sigstore_keys_load(c, where, req);
    return r;
}

static int gpg_parse(struct ctx *c, const char *where, json_t *obj, struct trust_requirement *req) {
    static const char *const allowed[] = {"type", "keyType", "keyPath", "keyPaths", "keyData", "signedIdentity", NULL};
    const char *key_type = NULL;
    int r = check_members(c, where, obj, allowed);
    if (r >= 0)
        r = get_string(c, where, obj, "keyType", 1, &key_type);
    if (r >= 0 && strcmp(key_type, "GPGKeys") != 0)
        return fail(c, where, "keyType \"%s\" is not supported: signedBy takes GPGKeys", key_type);
    if (r >= 0)
        r = keys_parse(c, where, obj, req);
    for (size_t i = 0; r >= 0 && i < req->n_keys; i++) {
        _cleanup_free_ char *what = NULL;
        if (asprintf(&what, "signature policy %s: %s: %s", c->path, where, req->keys[i].source) < 0)
            return oom(c);
        r = trust_gpg_keys_check(req->keys[i].data, req->keys[i].len, what, c->reterr);
    }
    return r;
}

static int req_parse(struct ctx *c, const char *where, json_t *obj, struct trust_requirement *req) {
    static const char *const simple[] = {"type", NULL};
    const char *type = NULL;
    if (!json_is_object(obj))
        return fail(c, where, "a requirement must be an object");
    int r = get_string(c, where, obj, "type", 1, &type);
    if (r < 0)
        return r;
    if (strcmp(type, "insecureAcceptAnything") == 0 || strcmp(type, "reject") == 0) {
        req->type = strcmp(type, "reject") == 0 ? TRUST_REQ_REJECT : TRUST_REQ_ACCEPT_ANYTHING;
        return check_members(c, where, obj, simple);
    }
    if (strcmp(type, "sigstoreSigned") == 0)
        req->type = TRUST_REQ_SIGSTORE;
    else if (strcmp(type, "signedBy") == 0)
        req->type = TRUST_REQ_GPG;
    else if (strcmp(type, "signedBaseLayer") == 0)
        return fail(c, where, "requirement type \"signedBaseLayer\" is not supported by cleat");
    else
        return fail(c, where,
                    "unknown requirement type \"%s\" (known: insecureAcceptAnything, reject, sigstoreSigned, signedBy)",
                    type);
    json_t *ident = json_object_get(obj, "signedIdentity");
    if (ident && (r = identity_parse(c, where, ident, &req->identity)) < 0)
        return r;
    return req->type == TRUST_REQ_SIGSTORE ? sigstore_parse(c, where, obj, req) : gpg_parse(c, where, obj, req);
}

static void reqs_clear(struct trust_reqs *reqs) {
    for (size_t i = 0; reqs->items && i < reqs->n; i++) {
        struct trust_requirement *q = &reqs->items[i];
        for (size_t k = 0; k < q->n_keys; k++) {
            free(q->keys[k].source);
            free(q->keys[k].data);
            EVP_PKEY_free(q->keys[k].pkey);
        }
        free(q->keys);
        free(q->identity.reference);
        free(q->identity.prefix);
        free(q->identity.signed_prefix);
    }
    free(reqs->items);
    *reqs = (struct trust_reqs){0};
}

static int reqs_parse(struct ctx *c, const char *where, json_t *arr, struct trust_reqs *ret) {
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return fail(c, where, "must be a non-empty array of requirements");
    size_t n = json_array_size(arr);
    ret->items = calloc(n, sizeof(*ret->items));
    if (!ret->items)
        return oom(c);
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *at = NULL;
        if (asprintf(&at, "%s[%zu]", where, i) < 0)
            return oom(c);
        ret->n = i + 1; /* what reqs_clear frees, also when this one fails half-way */
        int r = req_parse(c, at, json_array_get(arr, i), &ret->items[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

/* --- transports ----------------------------------------------------------- */

static int transport_parse(struct ctx *c, const char *name, json_t *obj, struct trust_transport *t) {
    _cleanup_free_ char *where = NULL;
    if (asprintf(&where, "transports.%s", name) < 0 || !(t->name = strdup(name)))
        return oom(c);
    if (!json_is_object(obj))
        return fail(c, where, "must be an object of scopes");
    t->scopes = calloc(json_object_size(obj) + 1, sizeof(*t->scopes));
    if (!t->scopes)
        return oom(c);
    const char *scope;
    json_t *v;
    json_object_foreach(obj, scope, v) {
        _cleanup_free_ char *at = NULL;
        _cleanup_free_ char *why = NULL;
        if (asprintf(&at, "%s[\"%s\"]", where, scope) < 0)
            return oom(c);
        if (*scope && trust_scope_validate(name, scope, &why) < 0)
            return fail(c, at, "%s", why ? why : "invalid scope");
        struct trust_scope *s = &t->scopes[t->n++];
        if (!(s->scope = strdup(scope)))
            return oom(c);
        int r = reqs_parse(c, at, v, &s->reqs);
        if (r < 0)
            return r;
    }
    return 0;
}

static int policy_parse(struct ctx *c, json_t *root, struct trust_policy *p) {
    static const char *const top[] = {"default", "transports", NULL};
    if (!json_is_object(root))
        return fail(c, "", "the document must be a JSON object");
    int r = check_members(c, "", root, top);
    if (r < 0)
        return r;
    json_t *def = json_object_get(root, "default");
    if (!def)
        return fail(c, "", "\"default\" is required (the requirements of images no scope matches)");
    if ((r = reqs_parse(c, "default", def, &p->def)) < 0)
        return r;
    json_t *transports = json_object_get(root, "transports");
    if (!transports)
        return 0;
    if (!json_is_object(transports))
        return fail(c, "transports", "must be an object");
    p->transports = calloc(json_object_size(transports) + 1, sizeof(*p->transports));
    if (!p->transports)
        return oom(c);
    const char *name;
    json_t *v;
    json_object_foreach(transports, name, v) {
        if ((r = transport_parse(c, name, v, &p->transports[p->n++])) < 0)
            return r;
    }
    return 0;
}

int trust_policy_parse(const char *path, const char *json, size_t len, struct trust_policy **ret,
                       struct cleat_error **reterr) {
    struct ctx c = {.path = path, .reterr = reterr};
    json_error_t jerr;
    json_auto_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fail(&c, "", "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    struct trust_policy *p = calloc(1, sizeof(*p));
    if (!p || !(p->path = strdup(path))) {
        free(p);
        return oom(&c);
    }
    int r = policy_parse(&c, root, p);
    if (r < 0) {
        trust_policy_free(p);
        return r;
    }
    *ret = p;
    return 0;
}

int trust_policy_load(const char *path, struct trust_policy **ret, struct cleat_error **reterr) {
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    int r = read_file(path, POLICY_MAX_BYTES, &data, &len, reterr);
    if (r < 0)
        return error_prefix(r, reterr, "signature policy");
    r = trust_policy_parse(path, data, len, ret, reterr);
    if (r >= 0 && digest_of_buffer(data ? data : "", len, (*ret)->digest) < 0)
        (*ret)->digest[0] = '\0'; /* unknown: a reload then counts the file as changed */
    return r;
}

void trust_policy_free(struct trust_policy *p) {
    if (!p)
        return;
    reqs_clear(&p->def);
    for (size_t i = 0; p->transports && i < p->n; i++) {
        struct trust_transport *t = &p->transports[i];
        for (size_t k = 0; t->scopes && k < t->n; k++) {
            free(t->scopes[k].scope);
            reqs_clear(&t->scopes[k].reqs);
        }
        free(t->scopes);
        free(t->name);
    }
    free(p->transports);
    free(p->path);
    free(p);
}

static const struct trust_reqs *scope_find(const struct trust_transport *t, const char *scope) {
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->scopes[i].scope, scope) == 0)
            return &t->scopes[i].reqs;
    return NULL;
}

const struct trust_reqs *trust_policy_lookup(const struct trust_policy *p, const char *transport,
                                             const char *const *candidates, char **ret_scope) {
    const struct trust_transport *t = NULL;
    for (size_t i = 0; i < p->n && !t; i++)
        if (strcmp(p->transports[i].name, transport) == 0)
            t = &p->transports[i];
    *ret_scope = NULL;
    for (size_t i = 0; t && candidates && candidates[i]; i++) {
        const struct trust_reqs *reqs = scope_find(t, candidates[i]);
        if (reqs) {
            if (asprintf(ret_scope, "%s scope \"%s\"", transport, candidates[i]) < 0)
                *ret_scope = NULL;
            return reqs;
        }
    }
    const struct trust_reqs *reqs = t ? scope_find(t, "") : NULL;
    if (reqs) {
        if (asprintf(ret_scope, "%s default", transport) < 0)
            *ret_scope = NULL;
        return reqs;
    }
    *ret_scope = strdup("default");
    return &p->def;
}
