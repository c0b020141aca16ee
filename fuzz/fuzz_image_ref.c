/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image references (core/image/image_ref.c) as a pull takes them (image_pull.c):
 * the transport scheme split off, the reference normalised, and the
 * normalised string handed to the registry transport, which parses it again
 * (image-docker's dk_ref_parse, compiled in).
 *
 * Invariants: a reference that parses is a fixed point of normalisation (its
 * string parses to the same parts and the same string); the transport
 * accepts every normalised reference and splits it into the same domain,
 * repository, tag and digest; split_scheme's rest is a suffix of the input.
 */
#include <errno.h>

#include "docker.h"
#include "error.h"
#include "fuzz.h"
#include "image_ref.h"

static void check_split(const char *s) {
    char *scheme = NULL;
    const char *rest = NULL;
    FUZZ_CHECK(image_ref_split_scheme(s, &scheme, &rest) == 0);
    size_t sl = strlen(scheme);
    FUZZ_CHECK(sl ? rest == s + sl + 1 && s[sl] == ':' && strncmp(s, scheme, sl) == 0 : rest == s);
    free(scheme);
}

static void check_same(const struct image_ref *a, const struct image_ref *b) {
    FUZZ_CHECK(strcmp(a->domain, b->domain) == 0 && strcmp(a->path, b->path) == 0);
    FUZZ_CHECK(fuzz_streq(a->tag, b->tag) && fuzz_streq(a->digest, b->digest));
}

/* What the registry transport makes of the normalised string. */
static void check_transport(const struct image_ref *ref, const char *normal) {
    struct dk_ref dk;
    struct cleat_error *err = NULL;
    if (dk_ref_parse(fuzz_host(), normal, &dk, &err) < 0) {
        fprintf(stderr, "the transport refuses '%s': %s\n", normal, error_message(err));
        FUZZ_CHECK(!"a normalised reference the registry transport refuses");
    }
    FUZZ_CHECK(strcmp(dk.domain, ref->domain) == 0 && strcmp(dk.name, ref->path) == 0);
    FUZZ_CHECK(fuzz_streq(dk.tag, ref->tag) && fuzz_streq(dk.digest, ref->digest));
    dk_ref_done(&dk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fuzz_text(data, size);
    if (!s)
        return 0;
    check_split(s);
    struct image_ref *ref = NULL, *again = NULL;
    struct cleat_error *err = NULL;
    if (image_ref_parse(s, &ref, &err) < 0) {
        FUZZ_CHECK(err && error_status(err) == CLEAT_STATUS_INVALID_ARGUMENT);
        error_free(err);
        free(s);
        return 0;
    }
    FUZZ_CHECK(ref->tag || ref->digest);
    char *normal = image_ref_string(ref), *name = image_ref_name(ref), *tagged = image_ref_tagged(ref);
    FUZZ_CHECK(normal && name && (tagged || !ref->tag));
    FUZZ_CHECK(strncmp(normal, name, strlen(name)) == 0 && (!tagged || strncmp(normal, tagged, strlen(tagged)) == 0));
    FUZZ_CHECK(image_ref_parse(normal, &again, NULL) == 0);
    check_same(ref, again);
    char *normal2 = image_ref_string(again);
    FUZZ_CHECK(normal2 && strcmp(normal, normal2) == 0);
    check_transport(ref, normal);
    free(normal2);
    free(normal);
    free(name);
    free(tagged);
    image_ref_free(again);
    image_ref_free(ref);
    free(s);
    return 0;
}
