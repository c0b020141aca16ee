/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image references, normalised the way docker and containerd do it
 * (github.com/distribution/reference, ParseNormalizedNamed):
 *
 *     busybox                  → docker.io/library/busybox:latest
 *     user/x                   → docker.io/user/x:latest
 *     index.docker.io/x        → docker.io/library/x:latest
 *     localhost:5000/x:1       → localhost:5000/x:1
 *     x@sha256:<hex>           → docker.io/library/x@sha256:<hex>  (no default tag)
 *
 * The first path component is a domain when it contains '.' or ':' or is
 * "localhost"; its port, if any, is 1 to 5 digits up to 65535.  Repository path components are lowercase [a-z0-9]+ joined by
 * one of '.', '_', "__" or a run of '-'; a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127};
 * the digest must pass digest_validate; the name (domain/path) is at most
 * 255 characters.  Uppercase in the repository is refused, as is a bare
 * 64-hex string (it would read as an image ID).
 */
#ifndef CLEAT_CORE_IMAGE_REF_H
#define CLEAT_CORE_IMAGE_REF_H

struct cleat_error;

struct image_ref {
    char *domain; /* "docker.io", "localhost:5000", "[::1]:5000" */
    char *path;   /* "library/busybox" */
    char *tag;    /* NULL when the reference has a digest and no tag */
    char *digest; /* NULL when not pinned */
};

/* Parse and normalise `s`; INVALID_ARGUMENT (naming s and the rule broken) if it is not a reference. */
int image_ref_parse(const char *s, struct image_ref **ret, struct cleat_error **reterr);
/* NULL-safe. */
void image_ref_free(struct image_ref *ref);

/* The strings below are malloc'd; NULL only when memory ran out (or as documented). */

/* "docker.io/library/busybox" */
char *image_ref_name(const struct image_ref *ref);
/* "docker.io/library/busybox:latest", "name@sha256:...", "name:tag@sha256:..." */
char *image_ref_string(const struct image_ref *ref);
/* "name:tag", or NULL when the reference has no tag. */
char *image_ref_tagged(const struct image_ref *ref);
/* "name@<digest>": the repo digest form, for any digest (e.g. the manifest's). */
char *image_ref_digested(const struct image_ref *ref, const char *digest);

/*
 * Split a transport scheme off a reference:
 *     "oci:/x"               → "oci", "/x"
 *     "oci-archive:/f.tar:t" → "oci-archive", "/f.tar:t"
 *     "busybox:1", "localhost:5000/x", "host:5000/a:b" → "", s
 * A scheme is [a-z][a-z0-9+.-]* then ':', unless what follows looks like a
 * port ("host:5000/...") or the whole string is a valid docker reference
 * (so "oci:layout" is the image docker.io/library/oci:layout).
 * *ret_scheme is malloc'd ("" when none), *ret_rest points into s.
 * 0, or -ENOMEM (outputs untouched).
 */
int image_ref_split_scheme(const char *s, char **ret_scheme, const char **ret_rest);

#endif
