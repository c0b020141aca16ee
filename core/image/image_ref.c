/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Docker image references (see image_ref.h), after distribution/reference's
 * grammar:
 *
 *     reference := name [ ":" tag ] [ "@" digest ]
 *     name      := [ domain "/" ] path-component { "/" path-component }
 *     domain    := host [ ":" port ]        (port: 1 to 5 digits, at most 65535)
 *     host      := label { "." label } | "[" ipv6 "]"
 *     label     := [A-Za-z0-9] | [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]
 *     path-component := [a-z0-9]+ { separator [a-z0-9]+ }
 *     separator := "." | "_" | "__" | "-"+
 *     tag       := [\w][\w.-]{0,127}
 *
 * Parsing works on views into the input and allocates only at the end.
 */
#include "image_ref.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "error.h"

#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128
#define REF_MAX_LEN 1024 /* anything longer is certainly invalid; keeps messages bounded */
#define DOCKER_DOMAIN "docker.io"
#define LEGACY_DOCKER_DOMAIN "index.docker.io"
#define OFFICIAL_PREFIX "library/"

/* A view into the input. */
struct span {
    const char *p;
    size_t n;
};

struct parts {
    struct span domain, path, tag, digest;
    int add_library; /* an official image: "library/" goes in front of path */
};

static int is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(char c) {
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static int is_word(char c) {
    return is_alnum(c) || c == '_';
}

static int span_eq(struct span s, const char *lit) {
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

static int span_has(struct span s, char c) {
    return s.n > 0 && memchr(s.p, c, s.n) != NULL;
}

__attribute__((format(printf, 3, 4))) static int ref_invalid(struct cleat_error **reterr, const char *ref,
                                                             const char *fmt, ...) {
    char why[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "invalid image reference '%.300s': %s", ref, why);
}

/* One DNS-ish label: alphanumerics with inner hyphens. */
static int label_valid(const char *p, size_t n) {
    if (n == 0 || !is_alnum(p[0]) || !is_alnum(p[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(p[i]) && p[i] != '-')
            return 0;
    return 1;
}

static int host_valid(struct span h) {
    size_t start = 0;

    if (h.n >= 2 && h.p[0] == '[') { /* IPv6 literal */
        if (h.p[h.n - 1] != ']' || h.n == 2)
            return 0;
        for (size_t i = 1; i < h.n - 1; i++)
            if (!strchr("0123456789abcdefABCDEF:", h.p[i]))
                return 0;
        return 1;
    }
    for (size_t i = 0; i <= h.n; i++) {
        if (i < h.n && h.p[i] != '.')
            continue;
        if (!label_valid(h.p + start, i - start))
            return 0;
        start = i + 1;
    }
    return 1;
}

static int domain_valid(struct span d) {
    const char *close = memchr(d.p, ']', d.n);
    const char *from = close ? close : d.p;
    const char *colon = memchr(from, ':', d.n - (size_t)(from - d.p));
    struct span host = {d.p, colon ? (size_t)(colon - d.p) : d.n};

    if (!host_valid(host))
        return 0;
    if (!colon)
        return 1;
    /* A port is 1 to 5 digits up to 65535, as the registry transport (image-docker) requires too. */
    size_t digits = (size_t)(d.p + d.n - colon - 1);
    unsigned long port = 0;
    if (digits == 0 || digits > 5)
        return 0;
    for (const char *c = colon + 1; c < d.p + d.n; c++) {
        if (*c < '0' || *c > '9')
            return 0;
        port = port * 10 + (unsigned long)(*c - '0');
    }
    return port <= 65535;
}

/* Length of the separator at p ('.', '_', "__" or a run of '-'), 0 if none. */
static size_t separator_len(const char *p, size_t n) {
    size_t i = 0;

    if (n == 0)
        return 0;
    if (p[0] == '.')
        return 1;
    if (p[0] == '_')
        return n > 1 && p[1] == '_' ? 2 : 1;
    while (i < n && p[i] == '-')
        i++;
    return i;
}

static int component_valid(const char *p, size_t n) {
    size_t i = 0;

    for (;;) {
        size_t start = i;
        while (i < n && is_lower_alnum(p[i]))
            i++;
        if (i == start)
            return 0; /* empty, or two separators in a row, or a leading/trailing one */
        if (i == n)
            return 1;
        size_t sep = separator_len(p + i, n - i);
        if (sep == 0)
            return 0;
        i += sep;
    }
}

static int path_valid(struct span path) {
    size_t start = 0;

    for (size_t i = 0; i <= path.n; i++) {
        if (i < path.n && path.p[i] != '/')
            continue;
        if (!component_valid(path.p + start, i - start))
            return 0;
        start = i + 1;
    }
    return 1;
}

static int tag_valid(struct span t) {
    if (t.n == 0 || t.n > TAG_MAX_LEN || !is_word(t.p[0]))
        return 0;
    for (size_t i = 1; i < t.n; i++)
        if (!is_word(t.p[i]) && t.p[i] != '.' && t.p[i] != '-')
            return 0;
    return 1;
}

static int is_image_id(const char *s) {
    size_t n = strlen(s);

    if (n != DIGEST_SHA256_HEX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* Cut "name[:tag]" into domain, path and tag, docker's way (splitDockerDomain). */
static void split_name(struct span left, struct parts *out) {
    const char *slash = memchr(left.p, '/', left.n);
    struct span first = {left.p, slash ? (size_t)(slash - left.p) : 0};
    struct span rest = left;
    const char *colon;

    if (slash && (span_has(first, '.') || span_has(first, ':') || span_eq(first, "localhost"))) {
        out->domain = first;
        rest = (struct span){slash + 1, left.n - first.n - 1};
    } else
        out->domain = (struct span){DOCKER_DOMAIN, strlen(DOCKER_DOMAIN)};
    if (span_eq(out->domain, LEGACY_DOCKER_DOMAIN))
        out->domain = (struct span){DOCKER_DOMAIN, strlen(DOCKER_DOMAIN)};
    colon = memrchr(rest.p, ':', rest.n);
    out->path = (struct span){rest.p, colon ? (size_t)(colon - rest.p) : rest.n};
    if (colon)
        out->tag = (struct span){colon + 1, rest.n - out->path.n - 1};
    out->add_library = span_eq(out->domain, DOCKER_DOMAIN) && !span_has(out->path, '/');
}

static int parts_check(const char *s, const struct parts *pt, struct cleat_error **reterr) {
    const char *library = pt->add_library ? OFFICIAL_PREFIX : "";
    size_t name_len = pt->domain.n + 1 + strlen(library) + pt->path.n;

    for (size_t i = 0; i < pt->path.n; i++)
        if (pt->path.p[i] >= 'A' && pt->path.p[i] <= 'Z')
            return ref_invalid(reterr, s, "repository name '%s%.*s' must be lowercase", library, (int)pt->path.n,
                               pt->path.p);
    if (!domain_valid(pt->domain))
        return ref_invalid(reterr, s, "'%.*s' is not a valid registry host[:port]", (int)pt->domain.n, pt->domain.p);
    if (pt->path.n == 0 || !path_valid(pt->path))
        return ref_invalid(reterr, s,
                           "repository name '%s%.*s' must be lowercase letters and digits separated by '/', '.', "
                           "'_', '__' or '-'",
                           library, (int)pt->path.n, pt->path.p);
    if (pt->tag.p && !tag_valid(pt->tag))
        return ref_invalid(reterr, s, "tag '%.*s' must be 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
                           (int)pt->tag.n, pt->tag.p);
    if (name_len > NAME_MAX_LEN)
        return ref_invalid(reterr, s, "repository name is %zu characters, more than %d", name_len, NAME_MAX_LEN);
    return 0;
}

static char *span_dup(struct span s) {
    return s.p ? strndup(s.p, s.n) : NULL;
}

/* asprintf that returns the string or NULL. */
__attribute__((format(printf, 1, 2))) static char *str_printf(const char *fmt, ...) {
    char *s = NULL;
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vasprintf(&s, fmt, ap);
    va_end(ap);
    return r < 0 ? NULL : s;
}

static int parts_build(const struct parts *pt, struct image_ref **ret, struct cleat_error **reterr) {
    struct image_ref *ref = calloc(1, sizeof(*ref));
    int want_tag = pt->tag.p || !pt->digest.p; /* "latest" unless pinned by digest alone */

    if (ref) {
        ref->domain = span_dup(pt->domain);
        ref->path =
            pt->add_library ? str_printf("%s%.*s", OFFICIAL_PREFIX, (int)pt->path.n, pt->path.p) : span_dup(pt->path);
        ref->tag = pt->tag.p ? span_dup(pt->tag) : want_tag ? strdup("latest") : NULL;
        ref->digest = span_dup(pt->digest);
    }
    if (!ref || !ref->domain || !ref->path || (want_tag && !ref->tag) || (pt->digest.p && !ref->digest)) {
        image_ref_free(ref);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    *ret = ref;
    return 0;
}

int image_ref_parse(const char *s, struct image_ref **ret, struct cleat_error **reterr) {
    struct parts pt = {0};
    const char *at;
    size_t n;
    int r;

    if (!s || !*s)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "empty image reference");
    n = strnlen(s, REF_MAX_LEN + 1);
    if (n > REF_MAX_LEN)
        return ref_invalid(reterr, s, "longer than %d characters", REF_MAX_LEN);
    if (is_image_id(s))
        return ref_invalid(reterr, s, "a 64-character hexadecimal string is an image ID, not a repository name");
    at = strchr(s, '@');
    if (at) {
        r = digest_validate(at + 1, reterr);
        if (r < 0)
            return error_prefix(r, reterr, "image reference '%.300s'", s);
        pt.digest = (struct span){at + 1, strlen(at + 1)};
    }
    split_name((struct span){s, at ? (size_t)(at - s) : n}, &pt);
    r = parts_check(s, &pt, reterr);
    if (r < 0)
        return r;
    return parts_build(&pt, ret, reterr);
}

void image_ref_free(struct image_ref *ref) {
    if (!ref)
        return;
    free(ref->domain);
    free(ref->path);
    free(ref->tag);
    free(ref->digest);
    free(ref);
}

char *image_ref_name(const struct image_ref *ref) {
    return str_printf("%s/%s", ref->domain, ref->path);
}

char *image_ref_string(const struct image_ref *ref) {
    return str_printf("%s/%s%s%s%s%s", ref->domain, ref->path, ref->tag ? ":" : "", ref->tag ? ref->tag : "",
                      ref->digest ? "@" : "", ref->digest ? ref->digest : "");
}

char *image_ref_tagged(const struct image_ref *ref) {
    if (!ref->tag)
        return NULL;
    return str_printf("%s/%s:%s", ref->domain, ref->path, ref->tag);
}

char *image_ref_digested(const struct image_ref *ref, const char *digest) {
    return str_printf("%s/%s@%s", ref->domain, ref->path, digest);
}

/* "5000/..." after the colon: a registry port, not a scheme's path. */
static int looks_like_port(const char *p) {
    const char *d = p;

    while (*d >= '0' && *d <= '9')
        d++;
    return d > p && *d == '/';
}

int image_ref_split_scheme(const char *s, char **ret_scheme, const char **ret_rest) {
    const char *p = s;
    struct image_ref *ref = NULL;
    char *scheme;
    int r;

    if (*p >= 'a' && *p <= 'z')
        while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '+' || *p == '.' || *p == '-')
            p++;
    if (p > s && *p == ':' && !looks_like_port(p + 1)) {
        r = image_ref_parse(s, &ref, NULL);
        image_ref_free(ref);
        if (r == -ENOMEM)
            return r;
        if (r < 0) {
            scheme = strndup(s, (size_t)(p - s));
            if (!scheme)
                return -ENOMEM;
            *ret_scheme = scheme;
            *ret_rest = p + 1;
            return 0;
        }
    }
    scheme = strdup("");
    if (!scheme)
        return -ENOMEM;
    *ret_scheme = scheme;
    *ret_rest = s;
    return 0;
}
