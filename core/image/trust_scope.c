/* SPDX-License-Identifier: Apache-2.0 */
/* Policy scopes per transport (see trust_scope.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, strndup */
#endif

#include "trust_scope.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"
#include "trust_why.h"
#include "image_ref.h"

#define MAX_SCOPES 64

void trust_scopes_free(char **scopes) {
    for (size_t i = 0; scopes && scopes[i]; i++)
        free(scopes[i]);
    free(scopes);
}

struct list {
    char **v;
    size_t n;
    int failed;
};

/* Takes `s` (NULL: allocation failed). */
static void push(struct list *l, char *s) {
    if (!s || l->n + 1 >= MAX_SCOPES) {
        l->failed |= !s;
        free(s);
        return;
    }
    l->v[l->n++] = s;
    l->v[l->n] = NULL;
}

static int is_oci(const char *transport) {
    return strcmp(transport, "oci") == 0 || strcmp(transport, "oci-archive") == 0;
}

/* "reg:5000", "reg:5000/ns", "reg:5000/ns/app", "...:tag", "...@sha256:...", "*.example.com". */
static int docker_scope_valid(const char *scope) {
    if (strncmp(scope, "*.", 2) == 0) {
        const char *rest = scope + 2;
        return *rest &&
               strspn(rest, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == strlen(rest);
    }
    struct image_ref *r = NULL;
    struct cleat_error *err = NULL;
    int ok = 0;
    if (!strchr(scope, '/')) {
        /* A registry host[:port]: valid as the domain of a reference. */
        _cleanup_free_ char *probe = NULL;
        if (asprintf(&probe, "%s/x", scope) >= 0 && image_ref_parse(probe, &r, &err) >= 0)
            ok = strcmp(r->domain, scope) == 0;
    } else if (image_ref_parse(scope, &r, &err) >= 0) {
        /* Fully expanded: normalisation must not change it ("busybox" is not a scope). */
        _cleanup_free_ char *name = image_ref_name(r);
        _cleanup_free_ char *full = image_ref_string(r);
        ok = (name && strcmp(name, scope) == 0) || (full && strcmp(full, scope) == 0);
    }
    image_ref_free(r);
    error_free(err);
    return ok;
}

int trust_scope_validate(const char *transport, const char *scope, char **ret_why) {
    *ret_why = NULL;
    if (strcmp(transport, "docker") == 0) {
        if (!docker_scope_valid(scope))
            return trust_why(ret_why, -EINVAL,
                             "'%s' is not a docker scope: a registry host[:port], a namespace, a repository or an "
                             "image in fully expanded form (docker.io/library/busybox, not busybox), or *.DOMAIN",
                             scope);
        return 0;
    }
    if (is_oci(transport)) {
        if (scope[0] != '/')
            return trust_why(ret_why, -EINVAL, "'%s' is not an absolute path", scope);
        if (strcmp(scope, "/") == 0)
            return trust_why(ret_why, -EINVAL, "'%s' is not allowed: use the transport's default scope \"\"", scope);
        return 0;
    }
    return 0;
}

static int docker_candidates(const char *reference, struct list *l) {
    struct image_ref *r = NULL;
    struct cleat_error *err = NULL;
    if (image_ref_parse(reference, &r, &err) < 0) {
        error_free(err);
        return -EINVAL;
    }
    _cleanup_free_ char *name = image_ref_name(r);
    if (!name) {
        image_ref_free(r);
        return -ENOMEM;
    }
    char *s = NULL;
    if (r->digest)
        push(l, asprintf(&s, "%s@%s", name, r->digest) < 0 ? NULL : s);
    if (r->tag)
        push(l, asprintf(&s, "%s:%s", name, r->tag) < 0 ? NULL : s);
    /* The repository, then each namespace, then the registry. */
    for (size_t len = strlen(name); len > 0;) {
        push(l, strndup(name, len));
        char *slash = memrchr(name, '/', len);
        len = slash ? (size_t)(slash - name) : 0;
    }
    /* Wildcard domains of the host without its port: a.b.example.com → *.b.example.com, *.example.com, *.com. */
    _cleanup_free_ char *host = strdup(r->domain);
    image_ref_free(r);
    if (!host)
        return -ENOMEM;
    char *colon = host[0] == '[' ? NULL : strchr(host, ':');
    if (colon)
        *colon = '\0';
    for (char *dot = strchr(host, '.'); dot && dot[1]; dot = strchr(dot + 1, '.'))
        push(l, asprintf(&s, "*%s", dot) < 0 ? NULL : s);
    return 0;
}

static int oci_candidates(const char *reference, struct list *l) {
    if (reference[0] != '/')
        return -EINVAL;
    /* PATH[:TAG] or PATH@DIGEST, with the tag or digest after the last '/' (as image-oci reads it). */
    const char *last = strrchr(reference, '/');
    const char *at = strchr(last, '@');
    const char *colon = at ? NULL : strrchr(last, ':');
    const char *end = at ? at : colon ? colon : reference + strlen(reference);
    _cleanup_free_ char *given = strndup(reference, (size_t)(end - reference));
    if (!given)
        return -ENOMEM;
    char resolved[PATH_MAX];
    const char *path = realpath(given, resolved) ? resolved : given;
    char *s = NULL;
    if (colon)
        push(l, asprintf(&s, "%s%s", path, colon) < 0 ? NULL : s);
    for (size_t len = strlen(path); len > 1;) {
        push(l, strndup(path, len));
        char *slash = memrchr(path, '/', len);
        len = slash ? (size_t)(slash - path) : 0;
    }
    return 0;
}

int trust_scope_candidates(const char *transport, const char *reference, char ***ret) {
    struct list l = {.v = calloc(MAX_SCOPES, sizeof(char *))};
    if (!l.v)
        return -ENOMEM;
    int r = 0;
    if (strcmp(transport, "docker") == 0)
        r = docker_candidates(reference, &l);
    else if (is_oci(transport))
        r = oci_candidates(reference, &l);
    if (r == 0 && l.failed)
        r = -ENOMEM;
    if (r < 0) {
        trust_scopes_free(l.v);
        return r;
    }
    *ret = l.v;
    return 0;
}
