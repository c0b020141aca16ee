/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Deciding whether the signature policy accepts an image.
 *
 * Every requirement of the scope that applies must be satisfied:
 * insecureAcceptAnything always is, reject never is, sigstoreSigned and
 * signedBy when at least one signature of the image verifies with one of
 * the requirement's keys, names one of the image's digests and claims an
 * identity its signedIdentity rule accepts.
 *
 * An image may be signed under either of its digests: the one its
 * reference names (a manifest, or an index) and, when that is an index, the
 * platform manifest chosen from it (cosign users sign either).  Signatures
 * come from `trust_sources`, which the pull implements with the transport
 * and lookaside storage; here nothing is fetched, so every rule is tested
 * without a registry.
 */
#ifndef CLEAT_CORE_TRUST_CHECK_H
#define CLEAT_CORE_TRUST_CHECK_H

#include <stddef.h>

#include "trust_policy.h"

struct trust_image {
    const char *transport;  /* "docker", "oci", "oci-archive" (others use the default only) */
    const char *reference;  /* docker: the normalised reference pulled; oci*: PATH[:TAG] after the scheme */
    const char *digests[2]; /* what the reference names, then the platform manifest (NULL when the same) */
};

/* A signature as stored: for sigstore a payload and its detached signature; for GPG one signed blob. */
struct trust_sig {
    char *payload;
    size_t payload_len;
    unsigned char *signature; /* sigstore only */
    size_t signature_len;
};

void trust_sigs_free(struct trust_sig *v, size_t n);

struct trust_sources {
    /*
     * The signatures stored for `digest` (0 of them is not an error); each
     * called at most once per digest and kind during one trust_check().  A
     * failure (the registry is unreachable) fails the check with that error.
     */
    int (*sigstore)(void *ctx, const char *digest, struct trust_sig **ret, size_t *ret_n, struct cleat_error **reterr);
    int (*gpg)(void *ctx, const char *digest, struct trust_sig **ret, size_t *ret_n, struct cleat_error **reterr);
    void *ctx;
};

/*
 * Before anything is fetched: FAILED_PRECONDITION if the scope's
 * requirements include reject (no signature could change that), else 0.
 */
int trust_check_early(const struct trust_policy *p, const struct trust_image *img, struct cleat_error **reterr);

/*
 * The whole check, once the digests are known.  0: accepted.
 * FAILED_PRECONDITION: refused, the message naming the image, the policy
 * file, the scope, the requirement (its index and type) and why, e.g.
 *   image reg/app:1 refused by signature policy /etc/containers/policy.json:
 *   docker scope "reg/app", requirement 1 (sigstoreSigned): no signature ...
 * Other errors are the sources' own.
 */
int trust_check(const struct trust_policy *p, const struct trust_image *img, const struct trust_sources *src,
                struct cleat_error **reterr);

#endif
