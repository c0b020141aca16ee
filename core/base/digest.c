/* SPDX-License-Identifier: Apache-2.0 */
/* Digest syntax and a sha256 streaming hasher over OpenSSL's EVP interface. */
#include "digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

struct digester {
    EVP_MD_CTX *ctx;
    const EVP_MD *md;
    const char *algorithm;
    int failed; /* OpenSSL failed: digester_final yields "" */
};

static int is_lower_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[n] == '\0';
}

/* The hex length an algorithm's digest has, 0 for an unknown algorithm. */
static size_t hex_len_of(const char *digest) {
    if (strncmp(digest, "sha256:", 7) == 0)
        return DIGEST_SHA256_HEX;
    if (strncmp(digest, "sha512:", 7) == 0)
        return 128;
    return 0;
}

int digest_validate(const char *digest, struct cleat_error **reterr) {
    size_t n;

    if (!digest)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "missing digest");
    n = hex_len_of(digest);
    if (n == 0 || strnlen(digest + 7, n + 1) != n || !is_lower_hex(digest + 7, n))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "invalid digest '%.150s': expected sha256:<64 lowercase hex> or sha512:<128 lowercase hex>",
                         digest);
    return 0;
}

int digest_check_computable(const char *digest, struct cleat_error **reterr) {
    int r = digest_validate(digest, reterr);

    if (r < 0)
        return r;
    if (strncmp(digest, "sha256:", 7) != 0)
        return error_set(reterr, CLEAT_STATUS_UNIMPLEMENTED, ENOTSUP,
                         "digest %.150s: only sha256 content can be stored and verified", digest);
    return 0;
}

size_t digest_algorithm_len(const char *digest) {
    const char *colon = strchr(digest, ':');
    return colon ? (size_t)(colon - digest) : 0;
}

const char *digest_hex(const char *digest) {
    const char *colon = strchr(digest, ':');
    return colon ? colon + 1 : digest + strlen(digest);
}

struct digester *digester_new(const char *algorithm) {
    struct digester *d;

    if (!algorithm || strcmp(algorithm, "sha256") != 0)
        return NULL;
    d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->md = EVP_sha256();
    d->algorithm = "sha256";
    d->ctx = EVP_MD_CTX_new();
    if (!d->ctx || EVP_DigestInit_ex(d->ctx, d->md, NULL) != 1) {
        digester_free(d);
        return NULL;
    }
    return d;
}

void digester_update(struct digester *d, const void *data, size_t len) {
    if (len > 0 && !d->failed && EVP_DigestUpdate(d->ctx, data, len) != 1)
        d->failed = 1;
}

void digester_final(struct digester *d, char ret[DIGEST_MAX]) {
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    size_t off;

    ret[0] = '\0';
    if (d->failed || EVP_DigestFinal_ex(d->ctx, md, &n) != 1)
        d->failed = 1;
    else if (strlen(d->algorithm) + 1 + 2 * (size_t)n < DIGEST_MAX) {
        off = (size_t)snprintf(ret, DIGEST_MAX, "%s:", d->algorithm);
        for (unsigned int i = 0; i < n; i++) {
            ret[off++] = hex[md[i] >> 4];
            ret[off++] = hex[md[i] & 0xf];
        }
        ret[off] = '\0';
    }
    /* Ready for the next content (if this fails, every later digest is ""). */
    d->failed = EVP_DigestInit_ex(d->ctx, d->md, NULL) != 1;
}

void digester_free(struct digester *d) {
    if (!d)
        return;
    EVP_MD_CTX_free(d->ctx);
    free(d);
}

int digest_of_buffer(const void *data, size_t len, char ret[DIGEST_MAX]) {
    struct digester *d = digester_new("sha256");

    ret[0] = '\0';
    if (!d)
        return -ENOMEM;
    digester_update(d, data, len);
    digester_final(d, ret);
    digester_free(d);
    return ret[0] ? 0 : -EIO;
}
