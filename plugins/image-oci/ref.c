/* SPDX-License-Identifier: Apache-2.0 */
/*
 * References, in the syntax of skopeo and containers/image:
 *
 *     oci:PATH[:TAG]    oci:PATH@sha256:<hex>
 *     oci-archive:PATH[:TAG]    oci-archive:PATH@sha256:<hex>
 *
 * PATH may itself contain ':' and '@' in any but its last component: the
 * tag or digest is whatever follows the first '@', else the last ':', after
 * the last '/'.  PATH must be absolute: cleatd's working directory means
 * nothing to whoever asks for the pull.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "oci.h"

#define OCI_PREFIX "oci:"
#define OCI_ARCHIVE_PREFIX "oci-archive:"
#define OCI_TAG_MAX 255

const char *oci_scheme(int kind) {
    return kind == OCI_KIND_ARCHIVE ? "oci-archive" : "oci";
}

static int is_lower_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[n] == '\0';
}

int oci_digest_valid(const char *digest) {
    if (strncmp(digest, "sha256:", 7) == 0)
        return is_lower_hex(digest + 7, 64);
    if (strncmp(digest, "sha512:", 7) == 0)
        return is_lower_hex(digest + 7, 128);
    return 0;
}

int oci_tag_valid(const char *tag) {
    size_t n = strlen(tag);
    if (n == 0 || n > OCI_TAG_MAX)
        return 0;
    return strspn(tag, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-") == n;
}

char *oci_blob_name(const char *digest) {
    if (!oci_digest_valid(digest))
        return NULL;
    char *name = NULL;
    /* "sha256:hex" -> "blobs/sha256/hex" */
    if (asprintf(&name, "blobs/%.6s/%s", digest, digest + 7) < 0)
        return NULL;
    return name;
}

/* Copy an absolute path without empty and "." components or a trailing '/'; ".." stays, as the kernel reads it. */
static char *path_tidy(const char *p, size_t len) {
    char *out = malloc(len + 2);
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        while (i < len && p[i] == '/')
            i++;
        size_t start = i;
        while (i < len && p[i] != '/')
            i++;
        size_t clen = i - start;
        if (clen == 0 || (clen == 1 && p[start] == '.'))
            continue;
        out[n++] = '/';
        memcpy(out + n, p + start, clen);
        n += clen;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    return out;
}

void oci_ref_done(struct oci_ref *ref) {
    free(ref->path);
    free(ref->tag);
    free(ref->digest);
    *ref = (struct oci_ref){0};
}

/* Split `rest` (after the scheme) into path and tag or digest. */
static int ref_split(const struct oci *oci, const char *reference, const char *rest, struct oci_ref *ref,
                     struct cleat_error **reterr) {
    if (rest[0] != '/')
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "image reference '%s': the path must be absolute", reference);
    const char *last = strrchr(rest, '/');
    const char *at = strchr(last, '@');
    const char *colon = at ? NULL : strrchr(last, ':');
    const char *end = at ? at : colon ? colon : rest + strlen(rest);
    if (at && !oci_digest_valid(at + 1))
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "image reference '%s': invalid digest '%s': expected sha256:<64 hex digits> or "
                               "sha512:<128 hex digits>",
                               reference, at + 1);
    if (colon && !oci_tag_valid(colon + 1))
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "image reference '%s': invalid tag '%s': use 1 to %d of A-Z, a-z, 0-9, '.', '_', '+' "
                               "and '-'",
                               reference, colon + 1, OCI_TAG_MAX);
    ref->path = path_tidy(rest, (size_t)(end - rest));
    ref->digest = at ? strdup(at + 1) : NULL;
    ref->tag = colon ? strdup(colon + 1) : NULL;
    if (!ref->path || (at && !ref->digest) || (colon && !ref->tag)) {
        oci_ref_done(ref);
        return plugin_oom(oci->host, reterr);
    }
    return 0;
}

int oci_ref_parse(const struct oci *oci, const char *reference, struct oci_ref *ret, struct cleat_error **reterr) {
    struct oci_ref ref = {.kind = OCI_KIND_UNKNOWN};
    const char *rest = reference;
    if (strncmp(reference, OCI_ARCHIVE_PREFIX, strlen(OCI_ARCHIVE_PREFIX)) == 0) {
        ref.kind = OCI_KIND_ARCHIVE;
        rest += strlen(OCI_ARCHIVE_PREFIX);
    } else if (strncmp(reference, OCI_PREFIX, strlen(OCI_PREFIX)) == 0) {
        ref.kind = OCI_KIND_LAYOUT;
        rest += strlen(OCI_PREFIX);
    }
    int r = ref_split(oci, reference, rest, &ref, reterr);
    if (r < 0)
        return r;
    *ret = ref;
    return 0;
}
