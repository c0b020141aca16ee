/* SPDX-License-Identifier: Apache-2.0 */
/* Sigstore public keys, signatures and signature manifests (see trust_sigstore.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif

#include "trust_sigstore.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "error.h"

#define MIN_RSA_BITS 2048

/* The curve of an EC key ("prime256v1", "secp384r1"), into buf. */
static int ec_curve(EVP_PKEY *k, char *buf, size_t size) {
    size_t len = 0;
    return EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, buf, size, &len) == 1 ? 0 : -1;
}

static int key_check(EVP_PKEY *k, const char *what, struct cleat_error **reterr) {
    char curve[64] = "";
    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_EC:
        if (ec_curve(k, curve, sizeof(curve)) == 0 &&
            (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "secp384r1") == 0))
            return 0;
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "%s: an ECDSA key on curve %s; sigstoreSigned takes P-256 or P-384", what,
                         *curve ? curve : "(unknown)");
    case EVP_PKEY_RSA:
        if (EVP_PKEY_get_bits(k) >= MIN_RSA_BITS)
            return 0;
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "%s: an RSA key of %d bits; at least %d are needed", what, EVP_PKEY_get_bits(k), MIN_RSA_BITS);
    case EVP_PKEY_ED25519:
        return 0;
    default:
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "%s: a %s key; sigstoreSigned takes ECDSA P-256/P-384, RSA or Ed25519 public keys", what,
                         OBJ_nid2sn(EVP_PKEY_get_base_id(k)));
    }
}

int trust_sigstore_key_load(const void *pem, size_t len, const char *what, EVP_PKEY **ret,
                            struct cleat_error **reterr) {
    if (len > INT32_MAX)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EFBIG, "%s: too big for a public key", what);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    EVP_PKEY *k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!k)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "%s: not a PEM public key (-----BEGIN PUBLIC KEY-----)", what);
    int r = key_check(k, what, reterr);
    if (r < 0) {
        EVP_PKEY_free(k);
        return r;
    }
    *ret = k;
    return 0;
}

int trust_sigstore_verify(EVP_PKEY *key, const void *payload, size_t len, const unsigned char *sig, size_t sig_len) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return 0;
    /* Ed25519 signs the message itself; the others its SHA-256, as cosign does for every key type. */
    const EVP_MD *md = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
    int ok =
        EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) == 1 && EVP_DigestVerify(ctx, sig, sig_len, payload, len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

char *trust_sigstore_tag(const char *digest) {
    char *s = NULL;
    if (strncmp(digest, "sha256:", 7) != 0 || digest_validate(digest, NULL) < 0)
        return NULL;
    if (asprintf(&s, "sha256-%s.sig", digest + 7) < 0)
        return NULL;
    return s;
}

void sigstore_entries_free(struct sigstore_entry *e, size_t n) {
    for (size_t i = 0; e && i < n; i++)
        free(e[i].signature_b64);
    free(e);
}

/* One layer: the payload descriptor and its signature, or 0 to skip it (not a signature layer). */
static int entry_parse(json_t *layer, size_t i, struct sigstore_entry *e, struct cleat_error **reterr) {
    const char *media = json_string_value(json_object_get(layer, "mediaType"));
    const char *digest = json_string_value(json_object_get(layer, "digest"));
    json_t *size = json_object_get(layer, "size");
    const char *sig =
        json_string_value(json_object_get(json_object_get(layer, "annotations"), SIGSTORE_SIGNATURE_ANNOTATION));
    if (!media || strcmp(media, SIGSTORE_PAYLOAD_MEDIA) != 0 || !sig)
        return 0;
    if (!digest || digest_validate(digest, NULL) < 0 || !json_is_integer(size) || json_integer_value(size) < 0 ||
        (uint64_t)json_integer_value(size) > SIGSTORE_MAX_PAYLOAD_BYTES)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "signature manifest: layer %zu has no valid digest and size (at most %zu bytes)", i,
                         SIGSTORE_MAX_PAYLOAD_BYTES);
    snprintf(e->digest, sizeof(e->digest), "%s", digest);
    e->size = json_integer_value(size);
    e->signature_b64 = strdup(sig);
    if (!e->signature_b64)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    return 1;
}

int trust_sigstore_manifest_parse(const char *json, size_t len, struct sigstore_entry **ret, size_t *ret_n,
                                  struct cleat_error **reterr) {
    json_error_t jerr;
    json_auto_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "signature manifest: %s", jerr.text);
    json_t *layers = json_object_get(root, "layers");
    if (!json_is_object(root) || !json_is_array(layers))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "signature manifest: not an image manifest with layers");
    size_t n = json_array_size(layers);
    struct sigstore_entry *v = calloc(n ? n : 1, sizeof(*v));
    if (!v)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    size_t got = 0;
    for (size_t i = 0; i < n; i++) {
        int r = got < SIGSTORE_MAX_SIGNATURES ? entry_parse(json_array_get(layers, i), i, &v[got], reterr) : 0;
        if (r < 0) {
            sigstore_entries_free(v, got + 1);
            return r;
        }
        got += (size_t)r;
    }
    *ret = v;
    *ret_n = got;
    return 0;
}
