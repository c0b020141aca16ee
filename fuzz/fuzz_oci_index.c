/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An OCI layout's index.json and oci-layout marker (image-oci's index.c,
 * compiled in), as a directory or an archive resolves a reference against
 * them: untagged, by tag, and by digest.
 *
 * Invariants: the descriptor handed on has a media type, a valid digest
 * (the one asked for, when asked by digest), a size >= 0 and string urls;
 * its urls come from the document (together no longer than it); its name
 * is the layout's path with the reference's tag or digest.
 */
#include "fuzz.h"
#include "oci.h"

#define LAYOUT "/layouts/x"
#define DIGEST "sha256:0000000000000000000000000000000000000000000000000000000000000000"

struct lookup {
    const struct oci_ref *ref;
    size_t size; /* of index.json */
};

static int resolved(void *ctx, const char *name, const struct cleat_descriptor *desc) {
    const struct lookup *l = ctx;
    const struct oci_ref *ref = l->ref;
    FUZZ_CHECK(desc->media_type && oci_digest_valid(desc->digest) && desc->size >= 0);
    size_t urls_len = 0;
    for (size_t i = 0; desc->urls && desc->urls[i]; i++)
        urls_len += strlen(desc->urls[i]);
    FUZZ_CHECK(urls_len <= l->size);
    FUZZ_CHECK(strncmp(name, "oci:" LAYOUT, strlen("oci:" LAYOUT)) == 0);
    const char *rest = name + strlen("oci:" LAYOUT);
    if (ref->tag)
        FUZZ_CHECK(rest[0] == ':' && strcmp(rest + 1, ref->tag) == 0);
    if (ref->digest)
        FUZZ_CHECK(strcmp(desc->digest, ref->digest) == 0 && rest[0] == '@' && strcmp(rest + 1, ref->digest) == 0);
    if (!ref->tag && !ref->digest)
        FUZZ_CHECK(!rest[0] || (rest[0] == ':' && oci_tag_valid(rest + 1)));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct oci oci = {.host = fuzz_host(), .lock = PTHREAD_MUTEX_INITIALIZER};
    const char *text = (const char *)data;
    struct cleat_error *err = NULL;
    if (oci_check_layout_file(&oci, LAYOUT "/oci-layout", text, size, &err) < 0)
        oci.host->error_free(err);
    const struct oci_ref refs[] = {
        {.kind = OCI_KIND_LAYOUT, .path = LAYOUT},
        {.kind = OCI_KIND_LAYOUT, .path = LAYOUT, .tag = "latest"},
        {.kind = OCI_KIND_LAYOUT, .path = LAYOUT, .tag = "v1.0"},
        {.kind = OCI_KIND_LAYOUT, .path = LAYOUT, .digest = DIGEST},
    };
    for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
        struct lookup l = {&refs[i], size};
        err = NULL;
        if (oci_index_resolve(&oci, &refs[i], LAYOUT "/index.json", text, size, resolved, &l, &err) < 0) {
            FUZZ_CHECK(err && oci.host->error_message(err));
            oci.host->error_free(err);
        }
    }
    return 0;
}
