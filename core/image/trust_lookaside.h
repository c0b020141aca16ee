/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where GPG simple signatures are read from: "lookaside" storage,
 * configured as in containers-registries.d(5) by *.yaml files in a
 * directory (default /etc/containers/registries.d):
 *
 *     default-docker: {lookaside: file:///var/lib/containers/sigstore}
 *     docker:
 *       reg.example:5000/team: {lookaside: file:///srv/sigs}
 *
 * The most specific docker scope wins (as policy scopes do), then
 * default-docker, then the built-in file:///var/lib/containers/sigstore.
 * One scope may be configured once across all files.  The older key name
 * "sigstore" means lookaside; the staging keys and use-sigstore-attachments
 * are accepted and mean nothing here (cleat only reads, and looks up
 * sigstore attachments whenever a policy asks for sigstoreSigned).
 *
 * The signatures of image REPO (a docker reference without its domain,
 * "team/app") with manifest digest sha256:HEX are
 * <lookaside>/REPO@sha256=HEX/signature-1, -2, ... up to the first missing
 * one.  Only file:// URLs are read; http(s) lookasides are refused where
 * they would be used, with an error saying so.
 */
#ifndef CLEAT_CORE_TRUST_LOOKASIDE_H
#define CLEAT_CORE_TRUST_LOOKASIDE_H

#include <stddef.h>

struct cleat_error;
struct trust_lookaside;

#define LOOKASIDE_DEFAULT_URL "file:///var/lib/containers/sigstore"
#define LOOKASIDE_MAX_SIGNATURES 64

/* Read every *.yaml in `dir` (absent: nothing configured).  INVALID_ARGUMENT naming file and key. */
int trust_lookaside_load(const char *dir, struct trust_lookaside **ret, struct cleat_error **reterr);
/* NULL-safe. */
void trust_lookaside_free(struct trust_lookaside *l);

/* The lookaside URL for an image whose docker scopes are `candidates` (trust_scope_candidates). Borrowed. */
const char *trust_lookaside_url(const struct trust_lookaside *l, const char *const *candidates);

struct lookaside_blob {
    char *data;
    size_t len;
};

/*
 * Read the signatures of `repo_path` at `digest` from `url`: *ret_n blobs
 * (maybe 0), each at most max_bytes.  An http(s) URL is UNIMPLEMENTED; a
 * signature file that cannot be read (other than missing) is UNAVAILABLE.
 */
int trust_lookaside_read(const char *url, const char *repo_path, const char *digest, size_t max_bytes,
                         struct lookaside_blob **ret, size_t *ret_n, struct cleat_error **reterr);
void lookaside_blobs_free(struct lookaside_blob *b, size_t n);

#endif
