/* SPDX-License-Identifier: Apache-2.0 */
/*
 * image-docker: a normalised docker reference split into domain, repository,
 * tag and digest.  Every part is checked against the distribution grammar
 * because each ends up in a URL path: a name with '?', '#', '%' or ".." must
 * never reach the registry.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "docker.h"

static int is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int dk_digest_valid(const char *d) {
    if (!d)
        return 0;
    if (strncmp(d, "sha256:", 7) == 0)
        return strlen(d + 7) == 64 && is_hex(d + 7, 64);
    if (strncmp(d, "sha512:", 7) == 0)
        return strlen(d + 7) == 128 && is_hex(d + 7, 128);
    return 0;
}

char *dk_sha256_digest(const void *data, size_t len) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL))
        return NULL;
    char *out = malloc(sizeof("sha256:") + 2 * mdlen);
    if (!out)
        return NULL;
    char *p = stpcpy(out, "sha256:");
    for (unsigned int i = 0; i < mdlen; i++)
        p += sprintf(p, "%02x", md[i]);
    return out;
}

/* host[:port] or [v6]:port, with DNS-ish characters only. */
static int domain_valid(const char *s, size_t n) {
    if (n == 0 || n > 255)
        return 0;
    size_t i = 0;
    if (s[0] == '[') {
        while (i < n && s[i] != ']')
            if (!strchr("[0123456789abcdefABCDEF:.", s[i++]))
                return 0;
        if (i == n)
            return 0;
        i++;
    } else {
        for (; i < n && s[i] != ':'; i++)
            if (!(is_lower_alnum(s[i]) || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '.' || s[i] == '-'))
                return 0;
    }
    if (i == n)
        return 1;
    if (s[i] != ':' || i + 1 == n || n - i - 1 > 5)
        return 0;
    for (i++; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* Path components: [a-z0-9]+ joined by '.', '_', '__' or '-'s. */
static int name_valid(const char *s, size_t n) {
    if (n == 0 || n > 255)
        return 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '/') {
            if (!is_lower_alnum(s[i]) && !strchr("._-", s[i]))
                return 0;
            continue;
        }
        /* one component [start, i) */
        if (i == start || !is_lower_alnum(s[start]) || !is_lower_alnum(s[i - 1]))
            return 0;
        for (size_t j = start; j + 1 < i; j++)
            if (s[j] == '.' && s[j + 1] == '.')
                return 0;
        start = i + 1;
    }
    return 1;
}

static int tag_valid(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(is_lower_alnum(s[i]) || (s[i] >= 'A' && s[i] <= 'Z') || strchr("._-", s[i])))
            return 0;
    return 1;
}

static int invalid(const struct cleat_host *host, struct cleat_error **reterr, const char *reference, const char *why) {
    return cleat_error_set(host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "invalid image reference '%s': %s",
                           reference, why);
}

int dk_ref_parse(const struct cleat_host *host, const char *reference, struct dk_ref *ref,
                 struct cleat_error **reterr) {
    *ref = (struct dk_ref){0};
    if (!reference || !*reference)
        return invalid(host, reterr, "", "it is empty");
    const char *slash = strchr(reference, '/');
    if (!slash)
        return invalid(host, reterr, reference, "it has no registry domain");
    if (!domain_valid(reference, (size_t)(slash - reference)))
        return invalid(host, reterr, reference, "the registry domain is not host[:port]");

    const char *rest = slash + 1;
    const char *at = strchr(rest, '@');
    size_t name_end = at ? (size_t)(at - rest) : strlen(rest);
    /* A tag is after the last ':' that comes after the last '/'. */
    const char *last_slash = memrchr(rest, '/', name_end);
    const char *base = last_slash ? last_slash + 1 : rest;
    const char *colon = memchr(base, ':', name_end - (size_t)(base - rest));
    size_t repo_len = colon ? (size_t)(colon - rest) : name_end;
    if (!name_valid(rest, repo_len))
        return invalid(host, reterr, reference, "the repository name is not lower-case [a-z0-9] components");
    if (at && !dk_digest_valid(at + 1))
        return invalid(host, reterr, reference, "the digest is not sha256:<64 hex> or sha512:<128 hex>");

    ref->domain = strndup(reference, (size_t)(slash - reference));
    ref->name = strndup(rest, repo_len);
    if (colon)
        ref->tag = strndup(colon + 1, name_end - repo_len - 1);
    if (at)
        ref->digest = strdup(at + 1);
    if (!ref->domain || !ref->name || (colon && !ref->tag) || (at && !ref->digest)) {
        dk_ref_done(ref);
        return plugin_oom(host, reterr);
    }
    if (ref->tag && !tag_valid(ref->tag)) {
        dk_ref_done(ref);
        return invalid(host, reterr, reference, "the tag is not [A-Za-z0-9_.-], at most 128 characters");
    }
    return 0;
}

void dk_ref_done(struct dk_ref *ref) {
    free(ref->domain);
    free(ref->name);
    free(ref->tag);
    free(ref->digest);
    *ref = (struct dk_ref){0};
}
