/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Content digests: "<algorithm>:<hex>", as in the OCI image spec.
 *
 * Two algorithms are recognised as syntax: sha256 (64 lowercase hex) and
 * sha512 (128 lowercase hex).  Only sha256 is computed: it is what every
 * registry and image tool produces.  A sha512 digest is valid to carry around
 * (in a reference, in an index) but writing or verifying content addressed by
 * it fails with UNIMPLEMENTED (see digest_check_computable).
 */
#ifndef CLEAT_CORE_DIGEST_H
#define CLEAT_CORE_DIGEST_H

#include <stddef.h>

struct cleat_error;

/* Room for the longest digest: "sha512:" + 128 hex + NUL. */
#define DIGEST_MAX 136
/* Length of the hex part of a sha256 digest. */
#define DIGEST_SHA256_HEX 64

/*
 * 0 if `digest` is "sha256:<64 lowercase hex>" or "sha512:<128 lowercase hex>";
 * otherwise INVALID_ARGUMENT naming the (truncated) string.  NULL is invalid.
 */
int digest_validate(const char *digest, struct cleat_error **reterr);

/*
 * 0 if content addressed by `digest` can be hashed here (sha256); a valid
 * digest of another algorithm is UNIMPLEMENTED, an invalid one INVALID_ARGUMENT.
 */
int digest_check_computable(const char *digest, struct cleat_error **reterr);

/* The algorithm's length in a valid digest ("sha256:..." → 6). */
size_t digest_algorithm_len(const char *digest);
/* The hex part of a valid digest: a pointer just past the ':'. */
const char *digest_hex(const char *digest);

/*
 * A streaming hasher.  digester_new() takes the algorithm name ("sha256") and
 * returns NULL if it is not computable here or memory ran out.
 */
struct digester;
struct digester *digester_new(const char *algorithm);
void digester_update(struct digester *d, const void *data, size_t len);
/*
 * Write "<algorithm>:<hex>" into ret and reset the digester for new content.
 * If OpenSSL failed at any point, ret is "" (which matches no digest).
 */
void digester_final(struct digester *d, char ret[DIGEST_MAX]);
/* NULL-safe. */
void digester_free(struct digester *d);

/* The sha256 digest of a buffer into ret; 0, or -ENOMEM / -EIO (ret is then ""). */
int digest_of_buffer(const void *data, size_t len, char ret[DIGEST_MAX]);

#endif
