/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sigstore (cosign) signatures with public keys, through OpenSSL.
 *
 * cosign stores an image's signatures as an OCI manifest under the tag
 * "sha256-<hex>.sig" of the image's repository (<hex>: the signed manifest
 * digest).  Each layer of that manifest is a simple-signing payload
 * (media type application/vnd.dev.cosign.simplesigning.v1+json) and carries
 * its signature, base64, in the annotation dev.cosignproject.cosign/signature.
 * The signature is over the payload bytes: ECDSA (DER) and RSA PKCS#1 v1.5
 * over their SHA-256, or Ed25519 over the bytes themselves.
 */
#ifndef CLEAT_CORE_TRUST_SIGSTORE_H
#define CLEAT_CORE_TRUST_SIGSTORE_H

#include <stddef.h>

#include "trust_policy.h"

#define SIGSTORE_PAYLOAD_MEDIA "application/vnd.dev.cosign.simplesigning.v1+json"
#define SIGSTORE_SIGNATURE_ANNOTATION "dev.cosignproject.cosign/signature"
/* Bounds on what a registry may hand us for a signature. */
#define SIGSTORE_MAX_MANIFEST_BYTES ((size_t)1 << 20)
#define SIGSTORE_MAX_PAYLOAD_BYTES ((size_t)256 << 10)
#define SIGSTORE_MAX_SIGNATURES 64

/*
 * Parse a PEM public key (SubjectPublicKeyInfo, "-----BEGIN PUBLIC KEY-----")
 * into *ret: ECDSA on P-256 or P-384, RSA of at least 2048 bits, or Ed25519.
 * Anything else (a private key, another curve, a certificate) is
 * INVALID_ARGUMENT naming `what` and the key type found.
 */
int trust_sigstore_key_load(const void *pem, size_t len, const char *what, EVP_PKEY **ret, struct cleat_error **reterr);

/* 1 if `sig` is a valid signature of `payload` by `key`, 0 if not (any failure counts as not). */
int trust_sigstore_verify(EVP_PKEY *key, const void *payload, size_t len, const unsigned char *sig, size_t sig_len);

/* One layer of a signature manifest. */
struct sigstore_entry {
    char digest[136];    /* the payload blob's digest */
    long long size;      /* its declared size */
    char *signature_b64; /* the annotation's value */
};

/*
 * Parse a cosign signature manifest (an OCI image manifest) and list its
 * payload layers: those of the simple-signing media type with a signature
 * annotation (others are skipped, as cosign's readers do).  At most
 * SIGSTORE_MAX_SIGNATURES; digests validated, sizes within
 * SIGSTORE_MAX_PAYLOAD_BYTES.  INVALID_ARGUMENT for a document that is not
 * such a manifest.  Free with sigstore_entries_free.
 */
int trust_sigstore_manifest_parse(const char *json, size_t len, struct sigstore_entry **ret, size_t *ret_n,
                                  struct cleat_error **reterr);
void sigstore_entries_free(struct sigstore_entry *e, size_t n);

/* "sha256-<hex>.sig" for "sha256:<hex>" (malloc'd; NULL for another algorithm or no memory). */
char *trust_sigstore_tag(const char *digest);

#endif
