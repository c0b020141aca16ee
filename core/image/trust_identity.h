/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signedIdentity rules of containers-policy.json(5): does the docker
 * reference a signature claims fit the image being pulled?
 *
 * The image identity is the normalised docker reference being pulled
 * ("reg:5000/ns/app:1", or "reg:5000/ns/app@sha256:..." when pulled by
 * digest); the claimed one is read from a verified signature payload and
 * normalised the same way ("busybox:1" equals "docker.io/library/busybox:1").
 *
 *   matchExact              the claim equals the image identity
 *   matchRepoDigestOrExact  a tagged image: equal; by digest: same repository
 *   matchRepository         same repository
 *   exactReference R        the claim equals R
 *   exactRepository R       the claim is in repository R
 *   remapIdentity P → S     the image identity with prefix P replaced by S
 *                           (when it has that prefix), then matchRepoDigestOrExact
 */
#ifndef CLEAT_CORE_TRUST_IDENTITY_H
#define CLEAT_CORE_TRUST_IDENTITY_H

#include "trust_policy.h"

/*
 * Check the fields of a parsed rule: exactReference a normalised reference
 * with a tag or digest, exactRepository a normalised repository without,
 * remapIdentity prefixes that are host[:port], a namespace or a repository
 * in fully expanded form.  0, or -EINVAL with *ret_why (malloc'd) saying why.
 */
int trust_identity_validate(const struct trust_identity *id, char **ret_why);

/*
 * 1 if `claimed` satisfies the rule for `image`, 0 if not (then *ret_why,
 * malloc'd, says what differs), -ENOMEM.  A claimed reference that does not
 * parse never matches.  The rule must have passed trust_identity_validate().
 */
int trust_identity_match(const struct trust_identity *id, const char *image, const char *claimed, char **ret_why);

/* The rule's name as the file spells it ("matchRepository"). */
const char *trust_identity_name(enum trust_identity_type type);

#endif
