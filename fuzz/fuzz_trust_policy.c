/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image signature policy's parsers of outside bytes (core/image/trust_*):
 * a containers-policy.json document, a simple-signing payload (read from a
 * signature after it verified), and a cosign signature manifest (from a
 * registry, before anything verified), each given the whole input.
 *
 * Invariants: a policy that parses has a non-empty default, every scope's
 * requirements are non-empty, every signed requirement has keys (sigstore
 * ones parsed into OpenSSL keys), and lookups always answer; a payload that
 * parses has a valid digest and a reference; a signature manifest's entries
 * have valid digests, bounded sizes and signatures.
 */
#include "digest.h"
#include "error.h"
#include "fuzz.h"
#include "trust_payload.h"
#include "trust_policy.h"
#include "trust_sigstore.h"

static void check_reqs(const struct trust_reqs *reqs) {
    FUZZ_CHECK(reqs->n > 0);
    for (size_t i = 0; i < reqs->n; i++) {
        const struct trust_requirement *q = &reqs->items[i];
        if (q->type == TRUST_REQ_SIGSTORE || q->type == TRUST_REQ_GPG)
            FUZZ_CHECK(q->n_keys > 0);
        for (size_t k = 0; q->type == TRUST_REQ_SIGSTORE && k < q->n_keys; k++)
            FUZZ_CHECK(q->keys[k].pkey != NULL);
    }
}

static void policy(const uint8_t *data, size_t size) {
    struct trust_policy *p = NULL;
    struct cleat_error *err = NULL;
    if (trust_policy_parse("/fuzz/policy.json", (const char *)data, size, &p, &err) < 0) {
        FUZZ_CHECK(err != NULL && p == NULL);
        error_free(err);
        return;
    }
    check_reqs(&p->def);
    for (size_t t = 0; t < p->n; t++)
        for (size_t s = 0; s < p->transports[t].n; s++)
            check_reqs(&p->transports[t].scopes[s].reqs);
    const char *const cands[] = {"reg.example/a/b:1", "reg.example/a/b", "reg.example", NULL};
    char *scope = NULL;
    const struct trust_reqs *reqs = trust_policy_lookup(p, "docker", cands, &scope);
    FUZZ_CHECK(reqs != NULL && scope != NULL);
    free(scope);
    trust_policy_free(p);
}

static void payload(const uint8_t *data, size_t size) {
    struct trust_payload pl = {0};
    struct cleat_error *err = NULL;
    if (trust_payload_parse((const char *)data, size, PAYLOAD_TYPE_COSIGN, &pl, &err) < 0) {
        error_free(err);
        return;
    }
    FUZZ_CHECK(digest_validate(pl.digest, NULL) == 0 && pl.reference != NULL);
    trust_payload_clear(&pl);
}

static void sig_manifest(const uint8_t *data, size_t size) {
    struct sigstore_entry *e = NULL;
    size_t n = 0;
    struct cleat_error *err = NULL;
    if (trust_sigstore_manifest_parse((const char *)data, size, &e, &n, &err) < 0) {
        error_free(err);
        return;
    }
    FUZZ_CHECK(n <= SIGSTORE_MAX_SIGNATURES);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(digest_validate(e[i].digest, NULL) == 0 && e[i].size >= 0 &&
                   (size_t)e[i].size <= SIGSTORE_MAX_PAYLOAD_BYTES && e[i].signature_b64 != NULL);
    sigstore_entries_free(e, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    policy(data, size);
    payload(data, size);
    sig_manifest(data, size);
    return 0;
}
