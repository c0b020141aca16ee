/* SPDX-License-Identifier: Apache-2.0 */
/*
 * image-docker: registry authentication.
 *
 * Requests go out anonymously (or with a cached bearer token).  A 401 names
 * the scheme in WWW-Authenticate:
 *   Basic               -> the pull's username/password;
 *   Bearer realm=...    -> the docker token flow: GET realm?service=&scope=
 *                          (with Basic credentials if any), or, with an
 *                          identity token, the OAuth2 POST grant_type=refresh_token;
 *                          the answer's `token` / `access_token` is then sent
 *                          as "Authorization: Bearer".
 * A CRI registry_token is a bearer token already and is sent as is.
 *
 * Tokens are cached per (host, scope, identity) until shortly before they
 * expire; the identity is a hash of the credentials, so one pull's token is
 * never handed to a pull with other (or no) credentials.  No secret is ever
 * logged.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "docker.h"
#include "plugin_clock.h"

/* ------------------------------------------------------------------------- */
/* WWW-Authenticate                                                          */

static const char *skip_blanks(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == ',')
        p++;
    return p;
}

/* One auth-param at p: name=token or name="quoted"; advances p. 0 when there is none (next challenge). */
static int next_param(const char **pp, char **name, char **value) {
    const char *p = skip_blanks(*pp);
    size_t n = strcspn(p, "= \t,");
    if (n == 0 || p[n] != '=')
        return 0;
    const char *v = p + n + 1;
    char *val;
    if (*v == '"') {
        val = malloc(strlen(v));
        if (!val)
            return -ENOMEM;
        size_t o = 0;
        for (v++; *v && *v != '"'; v++) {
            if (*v == '\\' && v[1])
                v++;
            val[o++] = *v;
        }
        val[o] = '\0';
        if (*v == '"')
            v++;
    } else {
        size_t vn = strcspn(v, " \t,");
        val = strndup(v, vn);
        if (!val)
            return -ENOMEM;
        v += vn;
    }
    *name = strndup(p, n);
    if (!*name) {
        free(val);
        return -ENOMEM;
    }
    *value = val;
    *pp = v;
    return 1;
}

int dk_challenge_parse(const char *value, struct dk_challenge *ret) {
    *ret = (struct dk_challenge){0};
    if (!value)
        return -EINVAL;
    const char *p = skip_blanks(value);
    size_t n = strcspn(p, " \t");
    if (n == 0)
        return -EINVAL;
    ret->scheme = strndup(p, n);
    if (!ret->scheme)
        return -ENOMEM;
    for (char *c = ret->scheme; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    p += n;
    for (;;) {
        char *name = NULL, *val = NULL;
        int r = next_param(&p, &name, &val);
        if (r <= 0) {
            if (r < 0)
                dk_challenge_done(ret);
            return r;
        }
        char **slot = strcasecmp(name, "realm") == 0     ? &ret->realm
                      : strcasecmp(name, "service") == 0 ? &ret->service
                      : strcasecmp(name, "scope") == 0   ? &ret->scope
                      : strcasecmp(name, "error") == 0   ? &ret->error
                                                         : NULL;
        free(name);
        if (slot && !*slot)
            *slot = val;
        else
            free(val);
    }
}

void dk_challenge_done(struct dk_challenge *c) {
    free(c->scheme);
    free(c->realm);
    free(c->service);
    free(c->scope);
    free(c->error);
    *c = (struct dk_challenge){0};
}

/* ------------------------------------------------------------------------- */
/* credentials                                                               */

static int nonempty(const char *s) {
    return s && *s;
}

/* Decode the CRI `auth` field, base64 "user:password". */
static int decode_auth(const char *b64, char **user, char **pass) {
    size_t n = strlen(b64);
    _cleanup_free_ char *padded = malloc(n + 4);
    _cleanup_free_ unsigned char *out = malloc(n + 4);
    if (!padded || !out)
        return -ENOMEM;
    memcpy(padded, b64, n);
    while (n % 4)
        padded[n++] = '=';
    padded[n] = '\0';
    int len = EVP_DecodeBlock(out, (unsigned char *)padded, (int)n);
    if (len < 0)
        return -EINVAL;
    for (size_t i = n; i > 0 && padded[i - 1] == '='; i--)
        len--; /* EVP_DecodeBlock counts the padding as zero bytes */
    out[len] = '\0';
    char *colon = memchr(out, ':', (size_t)len);
    if (!colon || colon == (char *)out || strlen((char *)out) != (size_t)len)
        return -EINVAL;
    *user = strndup((char *)out, (size_t)(colon - (char *)out));
    *pass = strdup(colon + 1);
    explicit_bzero(out, (size_t)len);
    return *user && *pass ? 0 : -ENOMEM;
}

int dk_creds_init(const struct cleat_host *host, const struct cleat_auth *auth, struct dk_creds *ret,
                  struct cleat_error **reterr) {
    *ret = (struct dk_creds){0};
    int r = 0;
    if (auth && nonempty(auth->username)) {
        ret->username = strdup(auth->username);
        ret->password = strdup(auth->password ? auth->password : "");
        r = ret->username && ret->password ? 0 : -ENOMEM;
    } else if (auth && nonempty(auth->auth)) {
        r = decode_auth(auth->auth, &ret->username, &ret->password);
    }
    if (r < 0) {
        dk_creds_done(ret);
        if (r == -ENOMEM)
            return plugin_oom(host, reterr);
        return cleat_error_set(host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "the pull's auth field is not base64 \"username:password\"");
    }
    ret->identity_token = auth && nonempty(auth->identity_token) ? auth->identity_token : NULL;
    ret->registry_token = auth && nonempty(auth->registry_token) ? auth->registry_token : NULL;

    /* The cache key: a hash over every credential, with the field boundaries kept. */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    const char *parts[] = {ret->username, ret->password, ret->identity_token, ret->registry_token};
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (size_t i = 0; ok && i < 4; i++)
        ok = EVP_DigestUpdate(md, parts[i] ? parts[i] : "", parts[i] ? strlen(parts[i]) + 1 : 0) &&
             EVP_DigestUpdate(md, "|", 1);
    ok = ok && EVP_DigestFinal_ex(md, d, &dlen) && dlen == 32;
    EVP_MD_CTX_free(md);
    if (!ok) {
        dk_creds_done(ret);
        return cleat_error_set(host, reterr, CLEAT_STATUS_INTERNAL, EIO, "cannot hash the credentials");
    }
    for (unsigned int i = 0; i < dlen; i++)
        sprintf(ret->key + 2 * i, "%02x", d[i]);
    return 0;
}

void dk_creds_done(struct dk_creds *c) {
    if (c->password)
        explicit_bzero(c->password, strlen(c->password));
    free(c->username);
    free(c->password);
    *c = (struct dk_creds){0};
}

char *dk_basic_header(const struct dk_creds *creds) {
    if (!creds->username)
        return NULL;
    _cleanup_free_ char *plain = NULL;
    int n = asprintf(&plain, "%s:%s", creds->username, creds->password);
    if (n < 0)
        return NULL;
    char *out = malloc(sizeof("Basic ") + 4 * ((size_t)n + 2) / 3 + 1);
    if (out) {
        memcpy(out, "Basic ", 6);
        EVP_EncodeBlock((unsigned char *)out + 6, (unsigned char *)plain, n);
    }
    explicit_bzero(plain, (size_t)n);
    return out;
}

/* ------------------------------------------------------------------------- */
/* the token cache                                                           */

struct token {
    char *host, *scope, *header; /* header: "Bearer ..." */
    char key[65];
    double expires; /* CLOCK_MONOTONIC seconds */
};

struct dk_token_cache {
    pthread_mutex_t lock;
    struct token *items;
    size_t n, cap;
};

/* Seconds on the monotonic clock: token lifetimes are kept in seconds. */
static double now_mono(void) {
    return (double)plugin_monotonic_ms() / 1000;
}

struct dk_token_cache *dk_token_cache_new(void) {
    struct dk_token_cache *c = calloc(1, sizeof(*c));
    if (c)
        pthread_mutex_init(&c->lock, NULL);
    return c;
}

static void token_clear(struct token *t) {
    if (t->header)
        explicit_bzero(t->header, strlen(t->header));
    free(t->host);
    free(t->scope);
    free(t->header);
}

void dk_token_cache_free(struct dk_token_cache *c) {
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        token_clear(&c->items[i]);
    free(c->items);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Index of the entry, or -1; drops expired entries on the way.  Called locked. */
static ssize_t token_find(struct dk_token_cache *c, const char *host, const char *scope, const char *key) {
    double now = now_mono();
    for (size_t i = 0; i < c->n;) {
        if (c->items[i].expires <= now) {
            token_clear(&c->items[i]);
            c->items[i] = c->items[--c->n];
            continue;
        }
        if (strcmp(c->items[i].host, host) == 0 && strcmp(c->items[i].scope, scope) == 0 &&
            strcmp(c->items[i].key, key) == 0)
            return (ssize_t)i;
        i++;
    }
    return -1;
}

char *dk_token_lookup(struct dk_token_cache *c, const char *host, const char *scope, const struct dk_creds *creds) {
    pthread_mutex_lock(&c->lock);
    ssize_t i = token_find(c, host, scope, creds->key);
    char *out = i >= 0 ? strdup(c->items[i].header) : NULL;
    pthread_mutex_unlock(&c->lock);
    return out;
}

void dk_token_forget(struct dk_token_cache *c, const char *host, const char *scope, const struct dk_creds *creds) {
    pthread_mutex_lock(&c->lock);
    ssize_t i = token_find(c, host, scope, creds->key);
    if (i >= 0) {
        token_clear(&c->items[i]);
        c->items[i] = c->items[--c->n];
    }
    pthread_mutex_unlock(&c->lock);
}

void dk_token_store(struct dk_token_cache *c, const char *host, const char *scope, const struct dk_creds *creds,
                    const char *header, double lifetime) {
    struct token t = {.host = strdup(host), .scope = strdup(scope), .header = strdup(header)};
    memcpy(t.key, creds->key, sizeof(t.key));
    if (!t.host || !t.scope || !t.header) {
        token_clear(&t); /* out of memory: just do not cache */
        return;
    }
    pthread_mutex_lock(&c->lock);
    t.expires = now_mono() + lifetime;
    ssize_t i = token_find(c, host, scope, creds->key);
    if (i >= 0) {
        token_clear(&c->items[i]);
        c->items[i] = t;
    } else if (c->n < c->cap) {
        c->items[c->n++] = t;
    } else {
        size_t cap = c->cap ? 2 * c->cap : 8;
        struct token *items = reallocarray(c->items, cap, sizeof(*items));
        if (items) {
            c->items = items;
            c->cap = cap;
            c->items[c->n++] = t;
        } else {
            token_clear(&t);
        }
    }
    pthread_mutex_unlock(&c->lock);
}
