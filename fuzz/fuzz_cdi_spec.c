/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CDI spec files (core/cdi): the whole input read as a JSON spec and as a
 * YAML one, then each device's edits (and the spec's) merged as a
 * container asking for all of them would get them; and the input as a
 * device name.
 *
 * Invariants: a spec that parses has a valid kind, at least one device,
 * each with a valid name, absolute paths where the spec wants them, hooks at
 * a known point, no additional GID 0; merging never breaks (host device
 * nodes the input names are only stat()ed) and, when it succeeds, gives
 * entries that each name a device they came from.
 */
#include "cdi_name.h"
#include "cdi_spec.h"
#include "error.h"
#include "fuzz.h"

static void check_edits(const struct cdi_edits *e) {
    for (size_t i = 0; i < e->n_nodes; i++)
        FUZZ_CHECK(e->nodes[i].path[0] == '/' && e->nodes[i].host_path[0] == '/');
    for (size_t i = 0; i < e->n_mounts; i++)
        FUZZ_CHECK(e->mounts[i].container_path[0] == '/' && e->mounts[i].options != NULL);
    for (size_t i = 0; i < e->n_hooks; i++)
        FUZZ_CHECK(e->hooks[i].path[0] == '/' && e->hooks[i].point < CDI_HOOK_POINTS);
    for (size_t i = 0; i < e->n_gids; i++)
        FUZZ_CHECK(e->gids[i] != 0);
}

static void merge_all(const struct cdi_spec *s) {
    struct cdi_edits merged = {0};
    struct cleat_error *err = NULL;
    int r = cdi_edits_append(&merged, &s->edits, "fuzz.example/spec=all", &err);
    for (size_t i = 0; r >= 0 && i < s->n_devices; i++)
        r = cdi_edits_append(&merged, &s->devices[i].edits, s->devices[i].name, &err);
    FUZZ_CHECK((r < 0) == (err != NULL));
    error_free(err);
    if (r >= 0)
        for (size_t i = 0; i < merged.n_env; i++)
            FUZZ_CHECK(merged.env[i].origin < merged.n_origins);
    cdi_edits_clear(&merged);
}

static void spec(const uint8_t *data, size_t size, int yaml) {
    struct cdi_spec *s = NULL;
    struct cleat_error *err = NULL;
    if (cdi_spec_parse(yaml ? "fuzz.yaml" : "fuzz.json", (const char *)data, size, yaml, &s, &err) < 0) {
        FUZZ_CHECK(err != NULL && s == NULL);
        error_free(err);
        return;
    }
    FUZZ_CHECK(cdi_kind_check(s->kind, NULL, NULL, 0) == 0 && s->n_devices > 0);
    check_edits(&s->edits);
    for (size_t i = 0; i < s->n_devices; i++) {
        FUZZ_CHECK(cdi_device_name_check(s->devices[i].name, NULL, 0) == 0);
        check_edits(&s->devices[i].edits);
    }
    merge_all(s);
    cdi_spec_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    spec(data, size, 0);
    spec(data, size, 1);
    char *name = fuzz_text(data, size);
    size_t klen = 0;
    if (name && cdi_name_check(name, &klen, NULL, 0) == 0)
        FUZZ_CHECK(name[klen] == '=');
    free(name);
    return 0;
}
