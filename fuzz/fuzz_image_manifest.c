/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Manifests, indexes and image configs (core/image/image_manifest.c) as a pull
 * reads them from a registry or an archive (image_pull.c): the document's
 * kind, then the index (and the platform choice from it) or the manifest,
 * then the config and its chain IDs.  Every input goes through all three
 * parsers: one document being taken for another is what an attacker tries.
 *
 * Invariants: whatever parses holds only valid digests, sizes >= 0, at most
 * MANIFEST_MAX_ENTRIES entries; manifest_kind agrees with the parser that
 * takes the document; the chosen index entry is one of its manifests for
 * the platform asked; chain IDs are valid digests, the first one diff_ids[0].
 */
#include "digest.h"
#include "error.h"
#include "fuzz.h"
#include "image_manifest.h"

static void check_descriptor(const struct descriptor *d) {
    FUZZ_CHECK(d->media_type && digest_validate(d->digest, NULL) == 0 && d->size >= 0);
    FUZZ_CHECK(!d->has_platform || (d->platform.os && d->platform.architecture));
}

static void select_from(const struct image_index *idx, const char *os, const char *arch, const char *variant) {
    struct platform want = {.os = (char *)os, .architecture = (char *)arch, .variant = (char *)variant};
    const struct descriptor *chosen = NULL;
    struct cleat_error *err = NULL;
    if (image_index_select(idx, &want, &chosen, &err) == 0) {
        FUZZ_CHECK(chosen >= idx->manifests && chosen < idx->manifests + idx->n && chosen->has_platform);
        FUZZ_CHECK(media_is_manifest(chosen->media_type) || media_is_index(chosen->media_type));
    } else {
        FUZZ_CHECK(err && error_message(err));
        error_free(err);
    }
}

static void try_index(const char *json, size_t len, int kind) {
    struct image_index *idx = NULL;
    if (image_index_parse(json, len, &idx, NULL) < 0)
        return;
    FUZZ_CHECK(kind != MANIFEST_KIND_MANIFEST || !idx->media_type);
    FUZZ_CHECK(idx->n <= MANIFEST_MAX_ENTRIES);
    for (size_t i = 0; i < idx->n; i++)
        check_descriptor(&idx->manifests[i]);
    struct platform host;
    FUZZ_CHECK(platform_host(&host) == 0);
    select_from(idx, host.os, host.architecture, host.variant);
    platform_clear(&host);
    select_from(idx, "linux", "arm", "v6");
    select_from(idx, "linux", "arm64", NULL);
    select_from(idx, "windows", "amd64", NULL);
    image_index_free(idx);
}

static void try_manifest(const char *json, size_t len, int kind) {
    struct image_manifest *m = NULL;
    if (image_manifest_parse(json, len, &m, NULL) < 0)
        return;
    FUZZ_CHECK(kind != MANIFEST_KIND_INDEX || !m->media_type);
    FUZZ_CHECK(m->n_layers <= MANIFEST_MAX_ENTRIES);
    check_descriptor(&m->config);
    for (size_t i = 0; i < m->n_layers; i++) {
        check_descriptor(&m->layers[i]);
        FUZZ_CHECK(layer_media_known(m->layers[i].media_type) && layer_media_compression(m->layers[i].media_type) >= 0);
    }
    image_manifest_free(m);
}

static void try_config(const char *json, size_t len) {
    struct image_config *c = NULL;
    if (image_config_parse(json, len, &c, NULL) < 0)
        return;
    FUZZ_CHECK(c->n_diff_ids <= MANIFEST_MAX_ENTRIES);
    for (size_t i = 0; i < c->n_diff_ids; i++)
        FUZZ_CHECK(c->diff_ids && c->diff_ids[i]);
    char **chain = NULL;
    if (image_chain_ids(c->diff_ids, c->n_diff_ids, &chain, NULL) == 0) {
        for (size_t i = 0; i < c->n_diff_ids; i++)
            FUZZ_CHECK(chain[i] && digest_validate(chain[i], NULL) == 0);
        FUZZ_CHECK(chain[c->n_diff_ids] == NULL);
        FUZZ_CHECK(c->n_diff_ids == 0 || strcmp(chain[0], c->diff_ids[0]) == 0);
        strv_free(chain);
    }
    image_config_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *json = (const char *)data;
    int kind = 0;
    char *media = NULL;
    struct cleat_error *err = NULL;
    if (manifest_kind(NULL, json, size, &kind, &media, &err) == 0) {
        FUZZ_CHECK((kind == MANIFEST_KIND_MANIFEST && media_is_manifest(media)) ||
                   (kind == MANIFEST_KIND_INDEX && media_is_index(media)));
        free(media);
    } else {
        FUZZ_CHECK(err && error_status(err) == CLEAT_STATUS_INVALID_ARGUMENT);
        error_free(err);
    }
    try_index(json, size, kind);
    try_manifest(json, size, kind);
    try_config(json, size);
    return 0;
}
