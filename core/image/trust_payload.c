/* SPDX-License-Identifier: Apache-2.0 */
/* Simple-signing payloads (see trust_payload.h). */
#include "trust_payload.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "error.h"

/* `obj` is an object whose members are exactly `keys` (NULL-terminated); what is wrong, else NULL. */
static const char *only_keys(json_t *obj, const char *const *keys) {
    const char *k;
    json_t *v;
    if (!json_is_object(obj))
        return "is not an object";
    size_t n = 0;
    while (keys[n])
        n++;
    if (json_object_size(obj) != n)
        return "has missing or unknown members";
    json_object_foreach(obj, k, v) {
        int known = 0;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(k, keys[i]) == 0;
        if (!known)
            return "has an unknown member";
    }
    return NULL;
}

static int bad(struct cleat_error **reterr, const char *member, const char *why) {
    return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "signature payload: %s %s", member, why);
}

int trust_payload_parse(const char *json, size_t len, const char *type, struct trust_payload *ret,
                        struct cleat_error **reterr) {
    static const char *const top[] = {"critical", "optional", NULL};
    static const char *const critical_keys[] = {"type", "image", "identity", NULL};
    static const char *const image_keys[] = {"docker-manifest-digest", NULL};
    static const char *const identity_keys[] = {"docker-reference", NULL};
    json_error_t jerr;
    json_auto_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *why;
    if (!root)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "signature payload: %s", jerr.text);
    if ((why = only_keys(root, top)))
        return bad(reterr, "the document", why);
    json_t *optional = json_object_get(root, "optional");
    if (!json_is_object(optional) && !(json_is_null(optional) && strcmp(type, PAYLOAD_TYPE_COSIGN) == 0))
        return bad(reterr, "optional", "is not an object");
    json_t *critical = json_object_get(root, "critical");
    if ((why = only_keys(critical, critical_keys)))
        return bad(reterr, "critical", why);
    const char *t = json_string_value(json_object_get(critical, "type"));
    if (!t || strcmp(t, type) != 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "signature payload: critical.type is not \"%s\"", type);
    json_t *image = json_object_get(critical, "image");
    if ((why = only_keys(image, image_keys)))
        return bad(reterr, "critical.image", why);
    json_t *identity = json_object_get(critical, "identity");
    if ((why = only_keys(identity, identity_keys)))
        return bad(reterr, "critical.identity", why);
    const char *digest = json_string_value(json_object_get(image, "docker-manifest-digest"));
    const char *reference = json_string_value(json_object_get(identity, "docker-reference"));
    if (!digest || digest_validate(digest, NULL) < 0)
        return bad(reterr, "critical.image.docker-manifest-digest", "is not a digest");
    if (!reference)
        return bad(reterr, "critical.identity.docker-reference", "is not a string");
    struct trust_payload p = {.digest = strdup(digest), .reference = strdup(reference)};
    if (!p.digest || !p.reference) {
        trust_payload_clear(&p);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    *ret = p;
    return 0;
}

void trust_payload_clear(struct trust_payload *p) {
    free(p->digest);
    free(p->reference);
    p->digest = p->reference = NULL;
}
