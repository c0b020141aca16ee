/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simple-signing payload both signature kinds carry
 * (containers-signature(5)):
 *
 *     {"critical": {"type": "atomic container signature",
 *                   "image": {"docker-manifest-digest": "sha256:..."},
 *                   "identity": {"docker-reference": "reg/app:1"}},
 *      "optional": {...}}
 *
 * Parsed only after its signature verified, and strictly: any unknown
 * member in the top level or under critical, a wrong type, a duplicated key
 * refuses the payload.  Members of optional are ignored.
 */
#ifndef CLEAT_CORE_TRUST_PAYLOAD_H
#define CLEAT_CORE_TRUST_PAYLOAD_H

#include <stddef.h>

struct cleat_error;

#define PAYLOAD_TYPE_GPG "atomic container signature"
#define PAYLOAD_TYPE_COSIGN "cosign container image signature"

struct trust_payload {
    char *digest;    /* critical.image.docker-manifest-digest */
    char *reference; /* critical.identity.docker-reference */
};

/*
 * Parse `json` as a payload whose critical.type must be `type`.  cosign
 * writes "optional": null, so null is accepted for the cosign type only.
 * INVALID_ARGUMENT naming the member at fault.
 */
int trust_payload_parse(const char *json, size_t len, const char *type, struct trust_payload *ret,
                        struct cleat_error **reterr);
void trust_payload_clear(struct trust_payload *p);

#endif
