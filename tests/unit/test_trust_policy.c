/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image signature policy without a registry: parsing (every kind of bad
 * file), scope lookup, signedIdentity rules, payloads, keys made here with
 * OpenSSL, and trust_check over signatures handed in directly.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base64.h"
#include "error.h"
#include "testutil.h"
#include "trust_check.h"
#include "trust_identity.h"
#include "trust_payload.h"
#include "trust_policy.h"
#include "trust_scope.h"
#include "trust_sigstore.h"

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DIGEST_A "sha256:" HEX_A
#define DIGEST_B "sha256:" HEX_B

static char dir[256];
static char pub_path[300]; /* a P-256 public key written by the setup */
static EVP_PKEY *signer;   /* its private half */

static struct trust_policy *parse_ok(const char *json) {
    struct trust_policy *p = NULL;
    struct cleat_error *err = NULL;
    int r = trust_policy_parse("/test/policy.json", json, strlen(json), &p, &err);
    check(r, err);
    return p;
}

static void parse_bad(const char *json, const char *needle) {
    struct trust_policy *p = NULL;
    struct cleat_error *err = NULL;
    int r = trust_policy_parse("/test/policy.json", json, strlen(json), &p, &err);
    if (r >= 0)
        fail_msg("accepted: %s", json);
    expect_error(r, &err, CLEAT_STATUS_INVALID_ARGUMENT, needle);
    assert_null(p);
}

static int setup(void **state) {
    temp_dir(dir, sizeof(dir), "trust");
    signer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(signer);
    snprintf(pub_path, sizeof(pub_path), "%s/p256.pub", dir);
    FILE *f = fopen(pub_path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PUBKEY(f, signer), 1);
    fclose(f);
    return 0;
}

static int teardown(void **state) {
    EVP_PKEY_free(signer);
    rm_rf(dir);
    return 0;
}

/* --- parsing ---------------------------------------------------------------- */

static void test_parse_and_lookup_most_specific(void **state) {
    char json[2048];
    snprintf(json, sizeof(json),
             "{\"default\": [{\"type\": \"reject\"}], \"transports\": {\"docker\": {"
             "\"\": [{\"type\": \"insecureAcceptAnything\"}],"
             "\"reg:5000\": [{\"type\": \"reject\"}],"
             "\"reg:5000/team\": [{\"type\": \"sigstoreSigned\", \"keyPath\": \"%s\"}],"
             "\"reg:5000/team/app:1\": [{\"type\": \"insecureAcceptAnything\"}, {\"type\": \"reject\"}],"
             "\"*.example.com\": [{\"type\": \"insecureAcceptAnything\"}]},"
             "\"oci\": {\"/srv/images\": [{\"type\": \"reject\"}]},"
             "\"dir\": {\"/any\": [{\"type\": \"insecureAcceptAnything\"}]}}}",
             pub_path);
    struct trust_policy *p = parse_ok(json);
    struct {
        const char *transport, *ref, *scope;
        size_t n;
    } cases[] = {
        {"docker", "reg:5000/team/app:1", "docker scope \"reg:5000/team/app:1\"", 2},
        {"docker", "reg:5000/team/app:2", "docker scope \"reg:5000/team\"", 1},
        {"docker", "reg:5000/team/app@" DIGEST_A, "docker scope \"reg:5000/team\"", 1},
        {"docker", "reg:5000/other/x:1", "docker scope \"reg:5000\"", 1},
        {"docker", "reg:5001/team/app:1", "docker default", 1},
        {"docker", "a.b.example.com/x:1", "docker scope \"*.example.com\"", 1},
        {"oci", "/srv/images/busybox:1", "oci scope \"/srv/images\"", 1},
        {"oci", "/elsewhere/x", "default", 1},
        {"oci-archive", "/srv/images/x.tar", "default", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char **cands = NULL;
        assert_int_equal(trust_scope_candidates(cases[i].transport, cases[i].ref, &cands), 0);
        char *scope = NULL;
        const struct trust_reqs *reqs = trust_policy_lookup(p, cases[i].transport, (const char *const *)cands, &scope);
        assert_string_equal(scope, cases[i].scope);
        assert_int_equal(reqs->n, cases[i].n);
        free(scope);
        trust_scopes_free(cands);
    }
    trust_policy_free(p);
}

static void test_candidates(void **state) {
    char **c = NULL;
    assert_int_equal(trust_scope_candidates("docker", "reg.example.com:5000/a/b/c:1", &c), 0);
    const char *want[] = {"reg.example.com:5000/a/b/c:1",
                          "reg.example.com:5000/a/b/c",
                          "reg.example.com:5000/a/b",
                          "reg.example.com:5000/a",
                          "reg.example.com:5000",
                          "*.example.com",
                          "*.com",
                          NULL};
    for (size_t i = 0; want[i]; i++)
        assert_string_equal(c[i], want[i]);
    assert_null(c[7]);
    trust_scopes_free(c);
    assert_int_equal(trust_scope_candidates("docker", "busybox", &c), 0);
    assert_string_equal(c[0], "docker.io/library/busybox:latest");
    assert_string_equal(c[1], "docker.io/library/busybox");
    trust_scopes_free(c);
    assert_int_equal(trust_scope_candidates("oci", "/nonexistent-cleat/a/b:t", &c), 0);
    assert_string_equal(c[0], "/nonexistent-cleat/a/b:t");
    assert_string_equal(c[1], "/nonexistent-cleat/a/b");
    assert_string_equal(c[2], "/nonexistent-cleat/a");
    assert_string_equal(c[3], "/nonexistent-cleat");
    assert_null(c[4]);
    trust_scopes_free(c);
    assert_int_equal(trust_scope_candidates("docker", "UPPER/case", &c), -EINVAL);
    assert_int_equal(trust_scope_candidates("oci", "relative/x", &c), -EINVAL);
}

static void test_bad_files(void **state) {
    char keyed[512];
    struct {
        const char *json, *needle;
    } cases[] = {
        {"", "line 1"},
        {"[]", "must be a JSON object"},
        {"{}", "\"default\" is required"},
        {"{\"default\": []}", "default: must be a non-empty array"},
        {"{\"default\": [{\"type\": \"reject\"}], \"extra\": 1}", "unknown field \"extra\""},
        {"{\"default\": [{\"type\": \"reject\"}], \"default\": [{\"type\": \"reject\"}]}", "duplicate"},
        {"{\"default\": [{\"type\": \"frobnicate\"}]}", "default[0]: unknown requirement type \"frobnicate\""},
        {"{\"default\": [{\"type\": \"signedBaseLayer\"}]}", "\"signedBaseLayer\" is not supported"},
        {"{\"default\": [{}]}", "\"type\" must be a non-empty string"},
        {"{\"default\": [\"reject\"]}", "a requirement must be an object"},
        {"{\"default\": [{\"type\": \"reject\", \"keyPath\": \"/k\"}]}", "unknown field \"keyPath\""},
        {"{\"default\": [{\"type\": \"sigstoreSigned\"}]}", "exactly one of keyPath"},
        {"{\"default\": [{\"type\": \"sigstoreSigned\", \"keyPath\": \"relative.pub\"}]}", "must be an absolute path"},
        {"{\"default\": [{\"type\": \"sigstoreSigned\", \"keyPath\": \"/nonexistent/k.pub\"}]}",
         "cannot open /nonexistent/k.pub"},
        {"{\"default\": [{\"type\": \"sigstoreSigned\", \"keyData\": \"!!\"}]}", "\"keyData\" is not base64"},
        {"{\"default\": [{\"type\": \"sigstoreSigned\", \"keyData\": \"aGVsbG8=\"}]}", "not a PEM public key"},
        {"{\"default\": [{\"type\": \"sigstoreSigned\", \"keyPaths\": []}]}", "non-empty array"},
        {"{\"default\": [{\"type\": \"sigstoreSigned\", \"fulcio\": {}}]}", "\"fulcio\" (keyless"},
        {"{\"default\": [{\"type\": \"sigstoreSigned\", \"rekorPublicKeyPath\": \"/r\"}]}", "rekorPublicKeyPath"},
        {"{\"default\": [{\"type\": \"sigstoreSigned\", \"pki\": {}}]}", "\"pki\""},
        {"{\"default\": [{\"type\": \"signedBy\", \"keyType\": \"X509Certificates\", \"keyPath\": \"/k\"}]}",
         "keyType \"X509Certificates\" is not supported"},
        {"{\"default\": [{\"type\": \"signedBy\", \"keyPath\": \"/k\"}]}", "\"keyType\" must be"},
        {"{\"transports\": {}, \"default\": [{\"type\": \"reject\"}, 3]}", "default[1]"},
        {"{\"default\": [{\"type\": \"reject\"}], \"transports\": {\"docker\": {\"busybox\": [{\"type\": "
         "\"reject\"}]}}}",
         "transports.docker[\"busybox\"]: 'busybox' is not a docker scope"},
        {"{\"default\": [{\"type\": \"reject\"}], \"transports\": {\"docker\": {\"reg.example/x:1\": []}}}",
         "transports.docker[\"reg.example/x:1\"]: must be a non-empty array"},
        {"{\"default\": [{\"type\": \"reject\"}], \"transports\": {\"oci\": {\"rel/dir\": [{\"type\": \"reject\"}]}}}",
         "not an absolute path"},
        {"{\"default\": [{\"type\": \"reject\"}], \"transports\": {\"oci\": {\"/\": [{\"type\": \"reject\"}]}}}",
         "use the transport's default scope"},
        {"{\"default\": [{\"type\": \"reject\"}], \"transports\": {\"docker\": []}}", "must be an object of scopes"},
        {"{\"default\": [{\"type\": \"reject\"}], \"transports\": []}", "transports: must be an object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        parse_bad(cases[i].json, cases[i].needle);
    /* signedIdentity problems, with a usable key so that only the identity is at fault. */
    const char *idents[][2] = {
        {"{\"type\": \"matchSomething\"}", "unknown signedIdentity type \"matchSomething\""},
        {"{\"type\": \"matchExact\", \"dockerReference\": \"x\"}", "unknown field \"dockerReference\""},
        {"{\"type\": \"exactReference\"}", "\"dockerReference\" must be"},
        {"{\"type\": \"exactReference\", \"dockerReference\": \"reg/app\"}", "not a reference with a tag or digest"},
        {"{\"type\": \"exactRepository\", \"dockerRepository\": \"reg/app:1\"}", "is not a repository name"},
        {"{\"type\": \"remapIdentity\", \"prefix\": \"reg/app\"}", "\"signedPrefix\" must be"},
        {"{\"type\": \"remapIdentity\", \"prefix\": \"busybox/x\", \"signedPrefix\": \"reg\"}",
         "prefix 'busybox/x' is not"},
        {"{\"type\": \"remapIdentity\", \"prefix\": \"reg.example/a\", \"signedPrefix\": \"reg.example/a:1\"}",
         "signedPrefix 'reg.example/a:1'"},
        {"\"matchExact\"", "signedIdentity: must be an object"},
    };
    for (size_t i = 0; i < sizeof(idents) / sizeof(idents[0]); i++) {
        snprintf(keyed, sizeof(keyed),
                 "{\"default\": [{\"type\": \"sigstoreSigned\", \"keyPath\": \"%s\", \"signedIdentity\": %s}]}",
                 pub_path, idents[i][0]);
        parse_bad(keyed, idents[i][1]);
    }
}

static void test_key_kinds(void **state) {
    struct {
        const char *type, *param;
        int ok;
        const char *needle;
    } kinds[] = {
        {"EC", "P-384", 1, NULL},
        {"EC", "P-521", 0, "curve secp521r1"},
        {"ED25519", NULL, 1, NULL},
        {"ED448", NULL, 0, "a ED448 key"},
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        EVP_PKEY *k = kinds[i].param ? EVP_PKEY_Q_keygen(NULL, NULL, kinds[i].type, kinds[i].param)
                                     : EVP_PKEY_Q_keygen(NULL, NULL, kinds[i].type);
        assert_non_null(k);
        BIO *b = BIO_new(BIO_s_mem());
        assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
        char *pem = NULL;
        long n = BIO_get_mem_data(b, &pem);
        EVP_PKEY *loaded = NULL;
        struct cleat_error *err = NULL;
        int r = trust_sigstore_key_load(pem, (size_t)n, "k", &loaded, &err);
        if (kinds[i].ok)
            check(r, err);
        else
            expect_error(r, &err, CLEAT_STATUS_INVALID_ARGUMENT, kinds[i].needle);
        EVP_PKEY_free(loaded);
        BIO_free(b);
        EVP_PKEY_free(k);
    }
    /* RSA below 2048 bits is refused. */
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, rsa);
    char *pem = NULL;
    long n = BIO_get_mem_data(b, &pem);
    EVP_PKEY *loaded = NULL;
    struct cleat_error *err = NULL;
    expect_error(trust_sigstore_key_load(pem, (size_t)n, "k", &loaded, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "1024 bits");
    BIO_free(b);
    EVP_PKEY_free(rsa);
}

/* --- identity rules ----------------------------------------------------------- */

static void test_identity_rules(void **state) {
    struct {
        enum trust_identity_type type;
        const char *ref, *prefix, *signed_prefix;
        const char *image, *claimed;
        int match;
    } cases[] = {
        {TRUST_ID_MATCH_EXACT, NULL, NULL, NULL, "reg/app:1", "reg/app:1", 1},
        {TRUST_ID_MATCH_EXACT, NULL, NULL, NULL, "reg/app:1", "reg/app:2", 0},
        {TRUST_ID_MATCH_EXACT, NULL, NULL, NULL, "reg/app@" DIGEST_A, "reg/app:1", 0},
        {TRUST_ID_MATCH_EXACT, NULL, NULL, NULL, "busybox", "docker.io/library/busybox:latest", 1},
        {TRUST_ID_MATCH_REPO_DIGEST_OR_EXACT, NULL, NULL, NULL, "reg/app:1", "reg/app:1", 1},
        {TRUST_ID_MATCH_REPO_DIGEST_OR_EXACT, NULL, NULL, NULL, "reg/app:1", "reg/app", 0},
        {TRUST_ID_MATCH_REPO_DIGEST_OR_EXACT, NULL, NULL, NULL, "reg/app@" DIGEST_A, "reg/app:7", 1},
        {TRUST_ID_MATCH_REPO_DIGEST_OR_EXACT, NULL, NULL, NULL, "reg/app@" DIGEST_A, "reg/other:7", 0},
        {TRUST_ID_MATCH_REPOSITORY, NULL, NULL, NULL, "reg/app:1", "reg/app:2", 1},
        {TRUST_ID_MATCH_REPOSITORY, NULL, NULL, NULL, "reg/app:1", "reg/app", 1},
        {TRUST_ID_MATCH_REPOSITORY, NULL, NULL, NULL, "reg/app:1", "reg2/app", 0},
        {TRUST_ID_EXACT_REFERENCE, "up.example/app:1", NULL, NULL, "mirror/app:9", "up.example/app:1", 1},
        {TRUST_ID_EXACT_REFERENCE, "up.example/app:1", NULL, NULL, "mirror/app:9", "up.example/app:2", 0},
        {TRUST_ID_EXACT_REPOSITORY, "up.example/app", NULL, NULL, "mirror/app:9", "up.example/app:3", 1},
        {TRUST_ID_EXACT_REPOSITORY, "up.example/app", NULL, NULL, "mirror/app:9", "up.example/other:3", 0},
        {TRUST_ID_REMAP, NULL, "mirror:5000/vendor", "vendor.example", "mirror:5000/vendor/a/b:1",
         "vendor.example/a/b:1", 1},
        {TRUST_ID_REMAP, NULL, "mirror:5000/vendor", "vendor.example", "mirror:5000/vendor/a/b:1",
         "vendor.example/a/b:2", 0},
        {TRUST_ID_REMAP, NULL, "mirror:5000/vendor", "vendor.example", "mirror:5000/vendor/a/b@" DIGEST_A,
         "vendor.example/a/b:2", 1},
        /* "vendorx" is not under the "vendor" namespace: no remapping, so the image's own name must match. */
        {TRUST_ID_REMAP, NULL, "mirror:5000/vendor", "vendor.example", "mirror:5000/vendorx/a:1",
         "vendor.example/x/a:1", 0},
        {TRUST_ID_REMAP, NULL, "mirror:5000/vendor", "vendor.example", "mirror:5000/vendorx/a:1",
         "mirror:5000/vendorx/a:1", 1},
        {TRUST_ID_MATCH_REPOSITORY, NULL, NULL, NULL, "reg/app:1", "NOT A REFERENCE", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct trust_identity id = {.type = cases[i].type,
                                    .reference = (char *)cases[i].ref,
                                    .prefix = (char *)cases[i].prefix,
                                    .signed_prefix = (char *)cases[i].signed_prefix};
        char *why = NULL;
        assert_int_equal(trust_identity_validate(&id, &why), 0);
        int r = trust_identity_match(&id, cases[i].image, cases[i].claimed, &why);
        if (r != cases[i].match)
            fail_msg("case %zu: %s vs %s under %s: %d (%s)", i, cases[i].image, cases[i].claimed,
                     trust_identity_name(id.type), r, why ? why : "");
        if (!r)
            assert_non_null(why);
        free(why);
    }
}

/* --- payloads ----------------------------------------------------------------- */

static void test_payloads(void **state) {
    const char *good = "{\"critical\": {\"type\": \"cosign container image signature\", \"image\": "
                       "{\"docker-manifest-digest\": \"" DIGEST_A "\"}, \"identity\": {\"docker-reference\": "
                       "\"reg/app\"}}, \"optional\": null}";
    struct trust_payload p = {0};
    struct cleat_error *err = NULL;
    int r = trust_payload_parse(good, strlen(good), PAYLOAD_TYPE_COSIGN, &p, &err);
    check(r, err);
    assert_string_equal(p.digest, DIGEST_A);
    assert_string_equal(p.reference, "reg/app");
    trust_payload_clear(&p);
    /* The GPG format wants an object in optional, and its own type. */
    expect_error(trust_payload_parse(good, strlen(good), PAYLOAD_TYPE_GPG, &p, &err), &err,
                 CLEAT_STATUS_INVALID_ARGUMENT, "optional is not an object");
    struct {
        const char *json, *needle;
    } bad[] = {
        {"{\"critical\": {}, \"optional\": {}, \"more\": 1}", "the document has missing or unknown members"},
        {"{\"critical\": {\"type\": \"cosign container image signature\", \"image\": {\"docker-manifest-digest\": "
         "\"" DIGEST_A "\"}, \"identity\": {\"docker-reference\": \"r\"}, \"x\": 1}, \"optional\": {}}",
         "critical has missing or unknown members"},
        {"{\"critical\": {\"type\": \"atomic container signature\", \"image\": {\"docker-manifest-digest\": "
         "\"" DIGEST_A "\"}, \"identity\": {\"docker-reference\": \"r\"}}, \"optional\": {}}",
         "critical.type is not"},
        {"{\"critical\": {\"type\": \"cosign container image signature\", \"image\": {\"docker-manifest-digest\": "
         "\"sha256:12\"}, \"identity\": {\"docker-reference\": \"r\"}}, \"optional\": {}}",
         "docker-manifest-digest is not a digest"},
        {"{\"critical\": {\"type\": \"cosign container image signature\", \"image\": {\"docker-manifest-digest\": "
         "\"" DIGEST_A "\", \"more\": 1}, \"identity\": {\"docker-reference\": \"r\"}}, \"optional\": {}}",
         "critical.image has"},
        {"{\"critical\": {\"type\": \"cosign container image signature\", \"image\": {\"docker-manifest-digest\": "
         "\"" DIGEST_A "\"}, \"identity\": {\"docker-reference\": 5}}, \"optional\": {}}",
         "docker-reference is not a string"},
        {"not json", "signature payload"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_error(trust_payload_parse(bad[i].json, strlen(bad[i].json), PAYLOAD_TYPE_COSIGN, &p, &err), &err,
                     CLEAT_STATUS_INVALID_ARGUMENT, bad[i].needle);
}

/* --- trust_check over signatures handed in ------------------------------------ */

struct fake_store {
    const char *digest; /* the digest signatures are stored for */
    const char *payload_digest, *identity;
    int corrupt;
    int calls;
};

static int fake_sigstore(void *ctx, const char *digest, struct trust_sig **ret, size_t *ret_n,
                         struct cleat_error **reterr) {
    struct fake_store *s = ctx;
    s->calls++;
    *ret = NULL;
    *ret_n = 0;
    if (!s->digest || strcmp(digest, s->digest) != 0)
        return 0;
    struct trust_sig *v = calloc(1, sizeof(*v));
    assert_int_equal(asprintf(&v->payload,
                              "{\"critical\":{\"identity\":{\"docker-reference\":\"%s\"},\"image\":{\"docker-"
                              "manifest-digest\":\"%s\"},\"type\":\"cosign container image signature\"},"
                              "\"optional\":null}",
                              s->identity, s->payload_digest ? s->payload_digest : digest) > 0,
                     1);
    v->payload_len = strlen(v->payload);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, signer), 1);
    assert_int_equal(EVP_DigestSign(md, NULL, &v->signature_len, (unsigned char *)v->payload, v->payload_len), 1);
    v->signature = malloc(v->signature_len);
    assert_int_equal(EVP_DigestSign(md, v->signature, &v->signature_len, (unsigned char *)v->payload, v->payload_len),
                     1);
    EVP_MD_CTX_free(md);
    if (s->corrupt)
        v->signature[v->signature_len / 2] ^= 0x55;
    *ret = v;
    *ret_n = 1;
    return 0;
}

static int no_gpg(void *ctx, const char *digest, struct trust_sig **ret, size_t *ret_n, struct cleat_error **reterr) {
    fail_msg("no signedBy requirement here");
    return -1;
}

static void run_check(const char *ref, const char *d0, const char *d1, struct fake_store *s, const char *needle) {
    char json[1024];
    snprintf(json, sizeof(json),
             "{\"default\": [{\"type\": \"reject\"}], \"transports\": {\"docker\": {\"reg.example/app\": "
             "[{\"type\": \"insecureAcceptAnything\"}, {\"type\": \"sigstoreSigned\", \"keyPath\": \"%s\", "
             "\"signedIdentity\": {\"type\": \"matchRepository\"}}]}}}",
             pub_path);
    struct trust_policy *p = parse_ok(json);
    struct trust_image img = {.transport = "docker", .reference = ref, .digests = {d0, d1}};
    struct trust_sources src = {.sigstore = fake_sigstore, .gpg = no_gpg, .ctx = s};
    struct cleat_error *err = NULL;
    int r = trust_check(p, &img, &src, &err);
    if (needle)
        expect_error(r, &err, CLEAT_STATUS_FAILED_PRECONDITION, needle);
    else
        check(r, err);
    trust_policy_free(p);
}

static void test_check(void **state) {
    struct fake_store s = {.digest = DIGEST_A, .identity = "reg.example/app"};
    run_check("reg.example/app:1", DIGEST_A, NULL, &s, NULL);
    /* An index (A) and its platform manifest (B): a signature of either will do, each source asked once per digest. */
    s = (struct fake_store){.digest = DIGEST_B, .identity = "reg.example/app"};
    run_check("reg.example/app:1", DIGEST_A, DIGEST_B, &s, NULL);
    assert_int_equal(s.calls, 2);
    s = (struct fake_store){.digest = NULL};
    run_check("reg.example/app:1", DIGEST_A, DIGEST_B, &s,
              "image reg.example/app:1 refused by signature policy /test/policy.json: docker scope "
              "\"reg.example/app\", requirement "
              "2 of 2 (sigstoreSigned): no sigstore signature of " DIGEST_A " or " DIGEST_B " was found");
    s = (struct fake_store){.digest = DIGEST_A, .identity = "reg.example/app", .corrupt = 1};
    run_check("reg.example/app:1", DIGEST_A, NULL, &s, "does not verify with the requirement's key");
    s = (struct fake_store){.digest = DIGEST_A, .identity = "reg.example/app", .payload_digest = DIGEST_B};
    run_check("reg.example/app:1", DIGEST_A, NULL, &s, "the signature is for " DIGEST_B ", not for " DIGEST_A);
    s = (struct fake_store){.digest = DIGEST_A, .identity = "reg.example/elsewhere"};
    run_check("reg.example/app:1", DIGEST_A, NULL, &s, "claims 'reg.example/elsewhere'");
    /* Another repository falls to the default: reject, refused before anything is asked for. */
    s = (struct fake_store){.digest = DIGEST_A, .identity = "reg.example/app"};
    run_check("reg.example/zzz:1", DIGEST_A, NULL, &s, "default, requirement 1 of 1 (reject)");
    assert_int_equal(s.calls, 0);
}

static void test_check_early_and_other_transports(void **state) {
    char json[1024];
    snprintf(json, sizeof(json),
             "{\"default\": [{\"type\": \"insecureAcceptAnything\"}], \"transports\": {\"docker\": "
             "{\"reg.example/bad\": [{\"type\": \"reject\"}]}, \"oci\": {\"\": [{\"type\": \"sigstoreSigned\", "
             "\"keyPath\": \"%s\"}]}}}",
             pub_path);
    struct trust_policy *p = parse_ok(json);
    struct cleat_error *err = NULL;
    struct trust_image bad = {.transport = "docker", .reference = "reg.example/bad:1"};
    expect_error(trust_check_early(p, &bad, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION,
                 "docker scope \"reg.example/bad\", requirement 1 of 1 (reject)");
    struct trust_image good = {.transport = "docker", .reference = "reg.example/good:1"};
    int r = trust_check_early(p, &good, &err);
    check(r, err);
    /* Local layouts carry no signatures: a signed requirement for them cannot be met. */
    struct fake_store s = {0};
    struct trust_sources src = {.sigstore = fake_sigstore, .gpg = no_gpg, .ctx = &s};
    struct trust_image oci = {.transport = "oci", .reference = "/srv/x:1", .digests = {DIGEST_A}};
    expect_error(trust_check(p, &oci, &src, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION,
                 "oci default, requirement 1 of 1 (sigstoreSigned): the oci transport carries no signatures");
    assert_int_equal(s.calls, 0);
    trust_policy_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_lookup_most_specific),
        cmocka_unit_test(test_candidates),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_key_kinds),
        cmocka_unit_test(test_identity_rules),
        cmocka_unit_test(test_payloads),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_check_early_and_other_transports),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
