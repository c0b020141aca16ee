/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image signature policy: a containers-policy.json(5) file, the format
 * podman, skopeo and cri-o read, parsed strictly (an unknown or duplicated
 * field, an unknown requirement type or a requirement cleat cannot check
 * is an error naming it) into requirements per transport and scope.
 *
 *     {"default": [REQ...],
 *      "transports": {"docker": {"": [REQ...], "reg:5000/ns/repo": [REQ...]},
 *                     "oci": {"/srv/images": [REQ...]}}}
 *
 * Requirements: insecureAcceptAnything, reject, sigstoreSigned (public keys
 * in PEM: ECDSA P-256/P-384, RSA, Ed25519) and signedBy (keyType GPGKeys,
 * OpenPGP keyrings).  Keys are read when the policy is loaded, so a missing
 * or unreadable key file fails the start, not the first pull.  Keyless
 * sigstore (fulcio, rekorPublicKey*, pki) is refused by name.
 *
 * Transports other than docker, oci and oci-archive (dir, atomic...) are
 * accepted and their requirements checked, as other readers of the file do;
 * cleat never looks them up.
 */
#ifndef CLEAT_CORE_TRUST_POLICY_H
#define CLEAT_CORE_TRUST_POLICY_H

#include <stddef.h>

#include "digest.h"

struct cleat_error;
typedef struct evp_pkey_st EVP_PKEY;

enum trust_req_type {
    TRUST_REQ_ACCEPT_ANYTHING, /* insecureAcceptAnything */
    TRUST_REQ_REJECT,          /* reject */
    TRUST_REQ_SIGSTORE,        /* sigstoreSigned */
    TRUST_REQ_GPG,             /* signedBy */
};

enum trust_identity_type {
    TRUST_ID_MATCH_REPO_DIGEST_OR_EXACT, /* the default */
    TRUST_ID_MATCH_EXACT,
    TRUST_ID_MATCH_REPOSITORY,
    TRUST_ID_EXACT_REFERENCE,
    TRUST_ID_EXACT_REPOSITORY,
    TRUST_ID_REMAP,
};

/* signedIdentity: what the docker-reference a signature claims must be. */
struct trust_identity {
    enum trust_identity_type type;
    char *reference;     /* exactReference: a tagged or digested reference; exactRepository: a repository */
    char *prefix;        /* remapIdentity */
    char *signed_prefix; /* remapIdentity */
};

/* A key blob as the policy names it: a keyPath file's bytes or decoded keyData. */
struct trust_key {
    char *source;        /* "keyPath /etc/pki/k.pub", "keyData" (for messages) */
    unsigned char *data; /* NUL-terminated for convenience */
    size_t len;
    EVP_PKEY *pkey; /* sigstoreSigned: the parsed public key */
};

struct trust_requirement {
    enum trust_req_type type;
    struct trust_key *keys; /* signed requirements: at least one */
    size_t n_keys;
    struct trust_identity identity;
};

struct trust_reqs {
    struct trust_requirement *items; /* never empty */
    size_t n;
};

struct trust_scope {
    char *scope; /* "" for the transport's default */
    struct trust_reqs reqs;
};

struct trust_transport {
    char *name;
    struct trust_scope *scopes;
    size_t n;
};

struct trust_policy {
    char *path;              /* the file it was read from (for messages) */
    char digest[DIGEST_MAX]; /* of the file's bytes (trust_policy_load; "" from trust_policy_parse) */
    struct trust_reqs def;
    struct trust_transport *transports;
    size_t n;
};

/* The requirement's name as the file spells it ("sigstoreSigned"). */
const char *trust_req_name(enum trust_req_type type);

/*
 * Parse a policy document; `path` is used in messages and to say where it
 * came from.  INVALID_ARGUMENT naming the field (as a JSON path like
 * transports.docker["reg/x"][0].keyPath) and the rule broken; a key file that
 * cannot be read or is not a usable public key is INVALID_ARGUMENT too.
 */
int trust_policy_parse(const char *path, const char *json, size_t len, struct trust_policy **ret,
                       struct cleat_error **reterr);
/* Read and parse the file at `path` (at most 4 MiB); a missing file is NOT_FOUND. */
int trust_policy_load(const char *path, struct trust_policy **ret, struct cleat_error **reterr);
/* NULL-safe. */
void trust_policy_free(struct trust_policy *p);

/*
 * The requirements that apply: those of the first of `candidates` (most
 * specific first, NULL-terminated) that is a scope of `transport`, else the
 * transport's "" scope, else the global default.  Never NULL.  *ret_scope
 * describes where they came from for messages ("docker scope
 * \"reg:5000/ns\"", "docker default", "default"); it is malloc'd (NULL when
 * memory ran out).
 */
const struct trust_reqs *trust_policy_lookup(const struct trust_policy *p, const char *transport,
                                             const char *const *candidates, char **ret_scope);

#endif
