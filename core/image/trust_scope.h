/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy scopes (containers-policy.json(5)) per transport: which scope
 * names a policy may use, and which ones apply to an image, most specific
 * first.
 *
 * docker: the image ("reg:5000/ns/app:1" or "...@sha256:..."), its
 *   repository, each enclosing namespace, the registry host[:port], then
 *   wildcard domains of the host ("*.example.com" for "a.example.com").
 * oci, oci-archive: "PATH:TAG" (when tagged), PATH, then each parent
 *   directory up to but not including "/"; PATH with symlinks resolved when
 *   it exists, as the scopes must be written without them.
 */
#ifndef CLEAT_CORE_TRUST_SCOPE_H
#define CLEAT_CORE_TRUST_SCOPE_H

/*
 * 0 if `scope` is a valid non-default scope of `transport`, or -EINVAL
 * with *ret_why (malloc'd) saying why.  Scopes of transports cleat does not
 * know are not checked.
 */
int trust_scope_validate(const char *transport, const char *scope, char **ret_why);

/*
 * The scopes of the image that `reference` names, most specific first:
 * a NULL-terminated malloc'd array (free with trust_scopes_free).  For
 * docker, `reference` is a normalised docker reference; for oci and
 * oci-archive, what follows the scheme ("/srv/layout:1.0").  0, -EINVAL
 * for a reference that does not parse, -ENOMEM.
 */
int trust_scope_candidates(const char *transport, const char *reference, char ***ret);
void trust_scopes_free(char **scopes);

#endif
