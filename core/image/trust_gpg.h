/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GPG simple signing (signedBy, keyType GPGKeys) through gpgme.
 *
 * A signature is an OpenPGP signed message (RFC 4880 §11.3) whose literal
 * data is the simple-signing payload (trust_payload.h).  It is checked in
 * an ephemeral GnuPG home holding only the requirement's keys (a private
 * directory made under $TMPDIR or /tmp and removed afterwards), so nothing
 * in root's own keyring is trusted by accident and nothing is left behind.
 */
#ifndef CLEAT_CORE_TRUST_GPG_H
#define CLEAT_CORE_TRUST_GPG_H

#include <stddef.h>

#include "trust_policy.h"

/* Bounds on a signature blob from lookaside storage. */
#define GPG_MAX_SIGNATURE_BYTES ((size_t)256 << 10)

/*
 * Check that `data` is an OpenPGP keyring with at least one public key and
 * no secret key.  INVALID_ARGUMENT naming `what` when not; UNAVAILABLE when
 * GnuPG itself cannot run.
 */
int trust_gpg_keys_check(const void *data, size_t len, const char *what, struct cleat_error **reterr);

/*
 * Verify `blob` with the keys of `req` (a signedBy requirement).
 * 1: a valid, unexpired signature by one of them; its payload (malloc'd,
 * NUL-terminated) in *ret_payload.  0: not (why in *ret_why, malloc'd):
 * not a signed message, more than one signature, an unknown or expired or
 * revoked key, a bad signature.  Negative (with *reterr): GnuPG could not run.
 */
int trust_gpg_verify(const struct trust_requirement *req, const void *blob, size_t len, char **ret_payload,
                     size_t *ret_len, char **ret_why, struct cleat_error **reterr);

#endif
