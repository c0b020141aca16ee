/* SPDX-License-Identifier: Apache-2.0 */
/* Manifests, indexes, configs (fixtures in tests/unit/image/), platform selection and chain IDs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "digest.h"
#include "error.h"
#include "image_manifest.h"
#include "strbuf.h"

#define DIFF0 "sha256:d45fe94714c2649d9d1bfbce7cc2a04c14cc51a207c716e6e8949a8cc58032e1"
#define DIFF1 "sha256:0697c0f434f8672811eb1b52d443d0d4cb616fa58e4d10b25e91471b7f45a665"
#define DIFF2 "sha256:a9485d17c39b521f9de31b558df98f81dd72a9c7498f57f27b74356ea150fbd9"
/* printf '%s %s' DIFF0 DIFF1 | sha256sum, and so on (computed outside this code). */
#define CHAIN1 "sha256:dafff197c858a859996b5f55723ab0b500cabd84f86b38cea07148080c426856"
#define CHAIN2 "sha256:8cef6c4704fa40cfa904a9c29485b9bcd1c26852f1f55c0758cdf39e00ca9059"
#define HEX64 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct doc {
    char *s;
    size_t len;
};

static struct doc fixture(const char *name) {
    char path[512];
    struct doc d = {0};
    FILE *f;
    long n;

    snprintf(path, sizeof(path), "%s/image/%s", CLEAT_TEST_DATA_DIR, name);
    f = fopen(path, "re");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    d.s = malloc((size_t)n + 1);
    assert_non_null(d.s);
    assert_int_equal(fread(d.s, 1, (size_t)n, f), (size_t)n);
    d.s[n] = '\0';
    d.len = (size_t)n;
    fclose(f);
    return d;
}

/* manifest_kind of a string, expecting success. */
static void expect_kind(const char *hint, const char *json, int kind, const char *media_type) {
    struct cleat_error *err = NULL;
    char *mt = NULL;
    int k = 0;

    check(manifest_kind(hint, json, strlen(json), &k, &mt, &err), err);
    assert_int_equal(k, kind);
    assert_string_equal(mt, media_type);
    free(mt);
}

static void expect_kind_error(const char *hint, const char *json, const char *needle) {
    struct cleat_error *err = NULL;
    char *mt = NULL;
    int k = 0;

    expect_error(manifest_kind(hint, json, strlen(json), &k, &mt, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, needle);
    assert_null(mt);
}

static void expect_manifest_error(const char *json, const char *needle) {
    struct cleat_error *err = NULL;
    struct image_manifest *m = NULL;

    expect_error(image_manifest_parse(json, strlen(json), &m, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, needle);
    assert_null(m);
}

/* ---- manifests ---- */

static void test_docker_manifest(void **state) {
    struct doc d = fixture("docker_manifest.json");
    struct cleat_error *err = NULL;
    struct image_manifest *m = NULL;
    char *mt = NULL;
    int kind = 0;

    check(manifest_kind(NULL, d.s, d.len, &kind, &mt, &err), err);
    assert_int_equal(kind, MANIFEST_KIND_MANIFEST);
    assert_string_equal(mt, MEDIA_DOCKER_MANIFEST);
    free(mt);
    check(image_manifest_parse(d.s, d.len, &m, &err), err);
    assert_string_equal(m->media_type, MEDIA_DOCKER_MANIFEST);
    assert_string_equal(m->config.media_type, MEDIA_DOCKER_CONFIG);
    assert_int_equal(m->config.size, 1469);
    assert_int_equal(digest_validate(m->config.digest, NULL), 0);
    assert_int_equal(m->n_layers, 3);
    assert_int_equal(m->layers[0].size, 2811321);
    assert_int_equal(m->layers[1].size, 0);
    assert_null(m->layers[0].urls);
    assert_string_equal(m->layers[2].media_type, MEDIA_DOCKER_LAYER_FOREIGN);
    assert_non_null(m->layers[2].urls);
    assert_string_equal(m->layers[2].urls[1], "https://example.com/b");
    assert_null(m->layers[2].urls[2]);
    assert_int_equal(layer_media_compression(m->layers[0].media_type), LAYER_COMPRESSION_GZIP);
    assert_true(layer_media_foreign(m->layers[2].media_type));
    assert_false(layer_media_foreign(m->layers[0].media_type));
    image_manifest_free(m);
    free(d.s);
}

static void test_oci_manifest(void **state) {
    struct doc d = fixture("oci_manifest.json");
    struct cleat_error *err = NULL;
    struct image_manifest *m = NULL;

    /* The registry's Content-Type, with a parameter. */
    expect_kind("application/vnd.oci.image.manifest.v1+json; charset=utf-8", d.s, MANIFEST_KIND_MANIFEST,
                MEDIA_OCI_MANIFEST);
    check(image_manifest_parse(d.s, d.len, &m, &err), err);
    assert_string_equal(m->config.media_type, MEDIA_OCI_CONFIG);
    assert_int_equal(m->n_layers, 3);
    assert_int_equal(layer_media_compression(m->layers[0].media_type), LAYER_COMPRESSION_GZIP);
    assert_int_equal(layer_media_compression(m->layers[1].media_type), LAYER_COMPRESSION_ZSTD);
    assert_int_equal(layer_media_compression(m->layers[2].media_type), LAYER_COMPRESSION_NONE);
    assert_non_null(m->layers[2].annotations);
    assert_string_equal(m->layers[2].annotations[0], "org.opencontainers.image.title");
    assert_string_equal(m->layers[2].annotations[1], "layer.tar");
    assert_null(m->layers[2].annotations[2]);
    image_manifest_free(m);
    free(d.s);
    assert_int_equal(layer_media_compression("application/x-tar"), -1);
    assert_true(layer_media_known(MEDIA_OCI_LAYER_ND_ZSTD));
    assert_true(layer_media_foreign(MEDIA_OCI_LAYER_ND_GZIP));
    assert_false(layer_media_known(NULL));
}

static void test_bad_fixtures(void **state) {
    static const struct {
        const char *file, *needle;
    } cases[] = {
        {"schema1_signed.json", "schema 1 manifests are not supported"},
        {"unknown_media.json", "unexpected mediaType 'application/vnd.example.thing.v1+json'"},
        {"malformed.json", "not valid JSON"},
        {"negative_size.json", "manifest: layer 1: \"size\" must be an integer >= 0"},
        {"bad_digest.json", "manifest: layer 0: invalid digest 'sha256:ABCDEF"},
        {"unknown_layer.json", "layer 2: unknown layer media type 'application/vnd.example.layer.v1.tar'"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct doc d = fixture(cases[i].file);
        expect_manifest_error(d.s, cases[i].needle);
        free(d.s);
    }
}

static void test_kind(void **state) {
    struct doc s1 = fixture("schema1_signed.json"), unk = fixture("unknown_media.json");
    struct doc mal = fixture("malformed.json"), idx = fixture("oci_index.json");
    const char *bare = "{\"schemaVersion\":2,\"config\":{},\"layers\":[]}";

    expect_kind_error(NULL, s1.s, "schema 1 manifests are not supported (deprecated by docker); push the image again");
    expect_kind_error(MEDIA_DOCKER_SCHEMA1_SIGNED, "{}", "schema 1");
    expect_kind_error(MEDIA_DOCKER_SCHEMA1, "{\"schemaVersion\":2}", "schema 1");
    expect_kind_error(NULL, "{\"fsLayers\":[]}", "schema 1");
    expect_kind_error(NULL, unk.s, "unsupported manifest media type 'application/vnd.example.thing.v1+json'");
    expect_kind_error("application/vnd.example.other+json", "{\"layers\":[]}", "'application/vnd.example.other+json'");
    expect_kind_error(NULL, mal.s, "not valid JSON");
    expect_kind_error(NULL, "[]", "not a JSON object");
    expect_kind_error(NULL, "{}", "neither an image manifest nor an index");
    expect_kind_error(NULL, "{\"schemaVersion\":3,\"layers\":[]}", "schemaVersion");
    expect_kind_error(NULL, "{\"mediaType\":5}", "\"mediaType\" is not a string");
    expect_kind_error(MEDIA_OCI_INDEX, "{\"mediaType\":\"" MEDIA_DOCKER_MANIFEST "\"}", "announced");
    /* Structure, hint, document. */
    expect_kind(NULL, idx.s, MANIFEST_KIND_INDEX, MEDIA_OCI_INDEX);
    expect_kind("", bare, MANIFEST_KIND_MANIFEST, MEDIA_OCI_MANIFEST);
    expect_kind("application/json", bare, MANIFEST_KIND_MANIFEST, MEDIA_OCI_MANIFEST);
    expect_kind(MEDIA_DOCKER_MANIFEST, bare, MANIFEST_KIND_MANIFEST, MEDIA_DOCKER_MANIFEST);
    expect_kind("text/plain", "{\"mediaType\":\"" MEDIA_DOCKER_LIST "\"}", MANIFEST_KIND_INDEX, MEDIA_DOCKER_LIST);
    expect_kind("application/vnd.whatever", "{\"mediaType\":\"" MEDIA_OCI_INDEX "\"}", MANIFEST_KIND_INDEX,
                MEDIA_OCI_INDEX);
    expect_kind(" " MEDIA_DOCKER_LIST " ", "{\"manifests\":[]}", MANIFEST_KIND_INDEX, MEDIA_DOCKER_LIST);
    free(s1.s);
    free(unk.s);
    free(mal.s);
    free(idx.s);
}

static void test_manifest_edge_cases(void **state) {
    struct cleat_error *err = NULL;
    struct image_manifest *m = NULL;
    const char *zero = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MEDIA_OCI_CONFIG
                       "\",\"digest\":\"sha256:" HEX64 "\",\"size\":2},\"layers\":[]}";

    check(image_manifest_parse(zero, strlen(zero), &m, &err), err);
    assert_int_equal(m->n_layers, 0);
    assert_null(m->media_type);
    image_manifest_free(m);
    image_manifest_free(NULL);

    expect_manifest_error("{\"schemaVersion\":2,\"layers\":[]}", "missing \"config\"");
    expect_manifest_error("{\"config\":{\"mediaType\":\"" MEDIA_OCI_CONFIG "\",\"digest\":\"sha256:" HEX64
                          "\",\"size\":2}}",
                          "missing \"layers\"");
    expect_manifest_error("{\"config\":{\"mediaType\":\"" MEDIA_OCI_CONFIG "\",\"digest\":\"sha256:" HEX64
                          "\",\"size\":2},\"layers\":{}}",
                          "\"layers\" is not an array");
    expect_manifest_error("{\"config\":{\"mediaType\":\"application/vnd.cncf.helm.config.v1+json\",\"digest\":"
                          "\"sha256:" HEX64 "\",\"size\":2},\"layers\":[]}",
                          "not a container image config");
    expect_manifest_error("{\"config\":{\"mediaType\":\"" MEDIA_OCI_CONFIG "\",\"digest\":\"sha256:" HEX64
                          "\",\"size\":2},\"layers\":[{\"mediaType\":\"" MEDIA_OCI_LAYER_GZIP
                          "+encrypted\",\"digest\":\"sha256:" HEX64 "\",\"size\":1}]}",
                          "encrypted layers are not supported");
    expect_manifest_error("{\"config\":{\"mediaType\":\"" MEDIA_OCI_CONFIG "\",\"digest\":\"sha256:" HEX64
                          "\",\"size\":2.5},\"layers\":[]}",
                          "\"size\" must be an integer");
    expect_manifest_error("{\"config\":{\"mediaType\":\"" MEDIA_OCI_CONFIG "\",\"size\":2},\"layers\":[]}",
                          "missing digest");
    expect_manifest_error("{\"config\":{\"digest\":\"sha256:" HEX64 "\",\"size\":2},\"layers\":[]}",
                          "config: missing \"mediaType\"");
    expect_manifest_error("{\"config\":1,\"layers\":[]}", "config is not a descriptor object");
    expect_manifest_error("{\"mediaType\":\"" MEDIA_OCI_INDEX "\",\"manifests\":[]}", "unexpected mediaType");
    /* Duplicate keys: two parsers could read two different manifests out of one digest. */
    expect_manifest_error("{\"layers\":[],\"layers\":[]}", "duplicate");
    expect_manifest_error("{\"schemaVersion\":1}", "schema 1");
}

/* A manifest with n layers. */
static char *many_layers(size_t n) {
    struct strbuf b = {0};

    strbuf_puts(&b, "{\"config\":{\"mediaType\":\"" MEDIA_OCI_CONFIG "\",\"digest\":\"sha256:" HEX64
                    "\",\"size\":2},\"layers\":[");
    for (size_t i = 0; i < n; i++)
        strbuf_printf(&b, "%s{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"size\":%zu}", i ? "," : "",
                      MEDIA_OCI_LAYER_GZIP, HEX64, i);
    strbuf_puts(&b, "]}");
    assert_false(b.failed);
    return strbuf_steal(&b);
}

static void test_limits(void **state) {
    struct cleat_error *err = NULL;
    struct image_manifest *m = NULL;
    char *ok = many_layers(MANIFEST_MAX_ENTRIES), *over = many_layers(MANIFEST_MAX_ENTRIES + 1);
    char *huge = malloc(MANIFEST_MAX_BYTES + 2);
    int kind;
    char *mt = NULL;

    check(image_manifest_parse(ok, strlen(ok), &m, &err), err);
    assert_int_equal(m->n_layers, MANIFEST_MAX_ENTRIES);
    image_manifest_free(m);
    m = NULL;
    expect_manifest_error(over, "\"layers\" has 10001 entries, more than 10000");
    assert_non_null(huge);
    memset(huge, ' ', MANIFEST_MAX_BYTES + 1);
    huge[0] = '{';
    huge[MANIFEST_MAX_BYTES] = '}';
    huge[MANIFEST_MAX_BYTES + 1] = '\0';
    expect_error(image_manifest_parse(huge, MANIFEST_MAX_BYTES + 1, &m, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "more than the 4194304 allowed");
    expect_error(manifest_kind(NULL, huge, MANIFEST_MAX_BYTES + 1, &kind, &mt, &err), &err,
                 CLEAT_STATUS_INVALID_ARGUMENT, "more than");
    free(ok);
    free(over);
    free(huge);
}

/* ---- indexes and platforms ---- */

static const struct descriptor *select_ok(const struct image_index *idx, const char *os, const char *arch,
                                          const char *variant) {
    struct platform want = {(char *)os, (char *)arch, (char *)variant, NULL};
    const struct descriptor *d = NULL;
    struct cleat_error *err = NULL;

    check(image_index_select(idx, &want, &d, &err), err);
    return d;
}

static void test_docker_list(void **state) {
    struct doc d = fixture("docker_list.json");
    struct cleat_error *err = NULL;
    struct image_index *idx = NULL;
    const struct descriptor *sel = NULL;
    struct platform want = {"linux", "riscv64", NULL, NULL};

    expect_kind(NULL, d.s, MANIFEST_KIND_INDEX, MEDIA_DOCKER_LIST);
    check(image_index_parse(d.s, d.len, &idx, &err), err);
    assert_string_equal(idx->media_type, MEDIA_DOCKER_LIST);
    assert_int_equal(idx->n, 8);
    assert_true(idx->manifests[7].has_platform);
    assert_string_equal(idx->manifests[7].platform.os_version, "10.0.17763.5206");
    assert_ptr_equal(select_ok(idx, "linux", "amd64", NULL), &idx->manifests[0]);
    assert_ptr_equal(select_ok(idx, "linux", "x86_64", NULL), &idx->manifests[0]);
    assert_ptr_equal(select_ok(idx, "Linux", "AMD64", NULL), &idx->manifests[0]);
    assert_ptr_equal(select_ok(idx, "linux", "arm", "v6"), &idx->manifests[1]);
    assert_ptr_equal(select_ok(idx, "linux", "arm", "v7"), &idx->manifests[2]);
    assert_ptr_equal(select_ok(idx, "linux", "arm", "7"), &idx->manifests[2]);
    assert_ptr_equal(select_ok(idx, "linux", "arm", NULL), &idx->manifests[2]); /* arm means arm/v7 */
    assert_ptr_equal(select_ok(idx, "linux", "armhf", NULL), &idx->manifests[2]);
    assert_ptr_equal(select_ok(idx, "linux", "arm", "v8"), &idx->manifests[2]); /* nearest lower variant */
    assert_ptr_equal(select_ok(idx, "linux", "arm64", "v8"), &idx->manifests[3]);
    assert_ptr_equal(select_ok(idx, "linux", "arm64", NULL), &idx->manifests[3]); /* ≈ v8 */
    assert_ptr_equal(select_ok(idx, "linux", "aarch64", NULL), &idx->manifests[3]);
    assert_ptr_equal(select_ok(idx, "linux", "386", NULL), &idx->manifests[4]);
    assert_ptr_equal(select_ok(idx, "linux", "i386", NULL), &idx->manifests[4]);
    assert_ptr_equal(select_ok(idx, "linux", "s390x", NULL), &idx->manifests[6]);
    assert_ptr_equal(select_ok(idx, "windows", "amd64", NULL), &idx->manifests[7]);
    expect_error(image_index_select(idx, &want, &sel, &err), &err, CLEAT_STATUS_NOT_FOUND,
                 "no manifest for linux/riscv64 in index (available: linux/amd64, linux/arm/v6, linux/arm/v7, "
                 "linux/arm64/v8, linux/386, linux/ppc64le, linux/s390x, windows/amd64)");
    want = (struct platform){"linux", "arm", "v5", NULL};
    expect_error(image_index_select(idx, &want, &sel, &err), &err, CLEAT_STATUS_NOT_FOUND,
                 "no manifest for linux/arm/v5");
    assert_null(sel);
    assert_ptr_equal(select_ok(idx, "linux", "arm64", "v9"), &idx->manifests[3]); /* v8 runs on v9 */
    image_index_free(idx);
    free(d.s);
}

static void test_oci_index(void **state) {
    struct doc d = fixture("oci_index.json");
    struct cleat_error *err = NULL;
    struct image_index *idx = NULL;
    const struct descriptor *sel = NULL;
    struct platform want = {"linux", "ppc64le", NULL, NULL};

    check(image_index_parse(d.s, d.len, &idx, &err), err);
    assert_null(idx->media_type);
    assert_int_equal(idx->n, 7);
    assert_false(idx->manifests[5].has_platform);
    assert_string_equal(idx->manifests[4].annotations[2], "vnd.docker.reference.type");
    assert_ptr_equal(select_ok(idx, "linux", "amd64", NULL), &idx->manifests[1]);
    assert_ptr_equal(select_ok(idx, "linux", "arm64", "v8"), &idx->manifests[2]);
    assert_ptr_equal(select_ok(idx, "linux", "arm64", NULL), &idx->manifests[2]);
    assert_ptr_equal(select_ok(idx, "linux", "arm", "v7"), &idx->manifests[3]); /* exact beats v5 listed first */
    assert_ptr_equal(select_ok(idx, "linux", "arm", "v6"), &idx->manifests[0]); /* v5 runs on v6 */
    assert_ptr_equal(select_ok(idx, "linux", "arm", "v5"), &idx->manifests[0]);
    expect_error(image_index_select(idx, &want, &sel, &err), &err, CLEAT_STATUS_NOT_FOUND,
                 "(available: linux/arm/v5, linux/amd64, linux/arm64, linux/arm/v7, unknown/unknown, linux/amd64)");
    image_index_free(idx);
    image_index_free(NULL);
    free(d.s);
}

static void test_index_edge_cases(void **state) {
    struct cleat_error *err = NULL;
    struct image_index *idx = NULL;
    /* A non-image entry first for the same platform: skipped. */
    const char *art = "{\"manifests\":[{\"mediaType\":\"application/vnd.in-toto+json\",\"digest\":\"sha256:" HEX64
                      "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
                      "{\"mediaType\":\"" MEDIA_OCI_INDEX "\",\"digest\":\"sha256:" HEX64
                      "\",\"size\":2,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\",\"variant\":\"v1\"}}]}";
    /* amd64 levels: a v1 host cannot run v3; a v3 host takes v2 before nothing. */
    const char *levels =
        "{\"manifests\":[{\"mediaType\":\"" MEDIA_OCI_MANIFEST "\",\"digest\":\"sha256:" HEX64
        "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\",\"variant\":\"v3\"}},"
        "{\"mediaType\":\"" MEDIA_OCI_MANIFEST "\",\"digest\":\"sha256:" HEX64
        "\",\"size\":2,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\",\"variant\":\"v2\"}}]}";
    struct platform v1 = {"linux", "amd64", NULL, NULL};
    const struct descriptor *sel = NULL;

    check(image_index_parse(art, strlen(art), &idx, &err), err);
    assert_ptr_equal(select_ok(idx, "linux", "amd64", NULL), &idx->manifests[1]);
    image_index_free(idx);
    check(image_index_parse(levels, strlen(levels), &idx, &err), err);
    expect_error(image_index_select(idx, &v1, &sel, &err), &err, CLEAT_STATUS_NOT_FOUND, "linux/amd64/v3");
    assert_ptr_equal(select_ok(idx, "linux", "amd64", "v3"), &idx->manifests[0]);
    assert_ptr_equal(select_ok(idx, "linux", "amd64", "v4"), &idx->manifests[0]);
    assert_ptr_equal(select_ok(idx, "linux", "amd64", "v2"), &idx->manifests[1]);
    image_index_free(idx);
    idx = NULL;

    expect_error(image_index_parse("{}", 2, &idx, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "missing \"manifests\"");
    const char *wrong = "{\"mediaType\":\"" MEDIA_OCI_MANIFEST "\",\"manifests\":[]}";
    expect_error(image_index_parse(wrong, strlen(wrong), &idx, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "unexpected mediaType");
    const char *noarch = "{\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"sha256:" HEX64
                         "\",\"size\":1,\"platform\":{\"os\":\"linux\"}}]}";
    expect_error(image_index_parse(noarch, strlen(noarch), &idx, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "index: manifest 0: platform without \"os\" and \"architecture\"");
    const char *badann =
        "{\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"sha256:" HEX64 "\",\"size\":1,\"annotations\":{\"k\":1}}]}";
    expect_error(image_index_parse(badann, strlen(badann), &idx, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "\"annotations\".\"k\" is not a string");
    const char *badurl =
        "{\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"sha256:" HEX64 "\",\"size\":1,\"urls\":[\"a\",2]}]}";
    expect_error(image_index_parse(badurl, strlen(badurl), &idx, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "\"urls\"[1] is not a string");
    assert_null(idx);
}

static void test_platform_host(void **state) {
    struct platform p = {0};
    char *s;

    assert_int_equal(platform_host(&p), 0);
    assert_string_equal(p.os, "linux");
#if defined(__x86_64__)
    assert_string_equal(p.architecture, "amd64");
    assert_null(p.variant);
#elif defined(__aarch64__)
    assert_string_equal(p.architecture, "arm64");
    assert_string_equal(p.variant, "v8");
#endif
    s = platform_format(&p);
    assert_non_null(s);
    assert_true(strncmp(s, "linux/", 6) == 0);
    free(s);
    platform_clear(&p);
    assert_null(p.os);
    platform_clear(NULL);
}

/* ---- configs ---- */

static int strv_contains(char **v, const char *s) {
    for (; v && *v; v++)
        if (strcmp(*v, s) == 0)
            return 1;
    return 0;
}

/* The value of key in a k, v, ... list. */
static const char *kv_get(char **v, const char *key) {
    for (; v && v[0] && v[1]; v += 2)
        if (strcmp(v[0], key) == 0)
            return v[1];
    return NULL;
}

static size_t strv_len(char **v) {
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

static void test_config(void **state) {
    struct doc d = fixture("config.json");
    struct cleat_error *err = NULL;
    struct image_config *c = NULL;

    check(image_config_parse(d.s, d.len, &c, &err), err);
    assert_string_equal(c->os, "linux");
    assert_string_equal(c->architecture, "arm64");
    assert_string_equal(c->variant, "v8");
    assert_string_equal(c->author, "Jane Doe <jane@example.com>");
    assert_int_equal(c->created_ns, 1682944496123456789LL);
    assert_string_equal(c->user, "1000:1000");
    assert_int_equal(strv_len(c->env), 2);
    assert_string_equal(c->env[1], "LANG=C.UTF-8");
    assert_int_equal(strv_len(c->entrypoint), 1);
    assert_string_equal(c->entrypoint[0], "/docker-entrypoint.sh");
    assert_int_equal(strv_len(c->cmd), 3);
    assert_string_equal(c->cmd[2], "daemon off;");
    assert_string_equal(c->working_dir, "/srv");
    assert_string_equal(c->stop_signal, "SIGQUIT");
    assert_int_equal(strv_len(c->labels), 4);
    assert_string_equal(kv_get(c->labels, "maintainer"), "NGINX Docker Maintainers");
    assert_string_equal(kv_get(c->labels, "org.opencontainers.image.version"), "1.25");
    assert_int_equal(strv_len(c->exposed_ports), 2);
    assert_true(strv_contains(c->exposed_ports, "8080/tcp") && strv_contains(c->exposed_ports, "53/udp"));
    assert_int_equal(strv_len(c->volumes), 1);
    assert_string_equal(c->volumes[0], "/var/cache/nginx");
    assert_int_equal(c->n_diff_ids, 3);
    assert_string_equal(c->diff_ids[0], DIFF0);
    assert_string_equal(c->diff_ids[2], DIFF2);
    assert_null(c->diff_ids[3]);
    image_config_free(c);
    free(d.s);
}

static struct image_config *config_ok(const char *json) {
    struct cleat_error *err = NULL;
    struct image_config *c = NULL;

    check(image_config_parse(json, strlen(json), &c, &err), err);
    return c;
}

static void expect_config_error(const char *json, const char *needle) {
    struct cleat_error *err = NULL;
    struct image_config *c = NULL;

    expect_error(image_config_parse(json, strlen(json), &c, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, needle);
    assert_null(c);
}

static void test_config_edge_cases(void **state) {
    struct image_config *c = config_ok("{}");

    assert_null(c->user);
    assert_null(c->entrypoint);
    assert_null(c->env);
    assert_int_equal(c->n_diff_ids, 0);
    assert_int_equal(c->created_ns, 0);
    image_config_free(c);
    image_config_free(NULL);

    c = config_ok("{\"config\":{\"Entrypoint\":[],\"Cmd\":null,\"Env\":[],\"Labels\":null,\"User\":\"\"},"
                  "\"created\":\"0001-01-01T00:00:00Z\"}");
    assert_non_null(c->entrypoint); /* set, and empty: different from unset */
    assert_null(c->entrypoint[0]);
    assert_null(c->cmd);
    assert_null(c->env);
    assert_null(c->labels);
    assert_string_equal(c->user, "");
    assert_int_equal(c->created_ns, 0); /* Go's zero time: outside int64 nanoseconds */
    image_config_free(c);

    c = config_ok("{\"created\":\"2023-05-01T14:34:56+02:00\"}");
    assert_int_equal(c->created_ns, 1682944496000000000LL);
    image_config_free(c);
    c = config_ok("{\"created\":\"1970-01-01T00:00:00.5Z\",\"rootfs\":{\"diff_ids\":[]}}");
    assert_int_equal(c->created_ns, 500000000);
    image_config_free(c);
    c = config_ok("{\"created\":\"1969-12-31T23:59:59-00:30\"}");
    assert_int_equal(c->created_ns, 1799LL * 1000000000LL);
    image_config_free(c);

    expect_config_error("{\"created\":\"yesterday\"}", "RFC 3339");
    expect_config_error("{\"created\":\"2023-13-01T00:00:00Z\"}", "RFC 3339");
    expect_config_error("{\"created\":\"2023-05-01T00:00:00\"}", "RFC 3339");
    expect_config_error("{\"created\":\"2023-05-01T00:00:00.Z\"}", "RFC 3339");
    expect_config_error("{\"config\":{\"Env\":[\"A=1\",2]}}", "\"Env\"[1] is not a string");
    expect_config_error("{\"config\":{\"Cmd\":\"sh\"}}", "\"Cmd\" is not an array");
    expect_config_error("{\"config\":{\"User\":1000}}", "\"User\" is not a string");
    expect_config_error("{\"config\":{\"Labels\":{\"a\":1}}}", "\"Labels\".\"a\" is not a string");
    expect_config_error("{\"config\":[]}", "\"config\" is not an object");
    expect_config_error("{\"rootfs\":{\"type\":\"squashfs\"}}", "unsupported type 'squashfs'");
    expect_config_error("{\"rootfs\":{\"diff_ids\":[\"" DIFF0 "\",\"sha256:nope\"]}}", "diff_ids[1]: invalid digest");
    expect_config_error("{\"os\":\"linux\",\"os\":\"linux\"}", "duplicate");
    expect_config_error("nope", "not valid JSON");
}

/* ---- chain IDs ---- */

static void test_chain_ids(void **state) {
    char *const diffs[] = {DIFF0, DIFF1, DIFF2};
    struct cleat_error *err = NULL;
    char **chain = NULL, buf[300], expect[DIGEST_MAX];

    check(image_chain_ids(diffs, 3, &chain, &err), err);
    assert_string_equal(chain[0], DIFF0);
    assert_string_equal(chain[1], CHAIN1);
    assert_string_equal(chain[2], CHAIN2);
    assert_null(chain[3]);
    /* The same, spelled out through digest_of_buffer. */
    snprintf(buf, sizeof(buf), "%s %s", DIFF0, DIFF1);
    assert_int_equal(digest_of_buffer(buf, strlen(buf), expect), 0);
    assert_string_equal(chain[1], expect);
    strv_free(chain);

    check(image_chain_ids(diffs, 1, &chain, &err), err);
    assert_string_equal(chain[0], DIFF0);
    assert_null(chain[1]);
    strv_free(chain);
    check(image_chain_ids(NULL, 0, &chain, &err), err);
    assert_null(chain[0]);
    strv_free(chain);
    strv_free(NULL);

    char *const bad[] = {DIFF0, "sha256:zz"};
    chain = NULL;
    expect_error(image_chain_ids(bad, 2, &chain, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "layer 1 diff_id");
    assert_null(chain);
}

static void test_descriptor_clear(void **state) {
    struct descriptor d = {0};

    descriptor_clear(&d);
    descriptor_clear(NULL);
    d.media_type = strdup("x");
    d.platform.os = strdup("linux");
    d.urls = calloc(2, sizeof(char *));
    assert_non_null(d.urls);
    d.urls[0] = strdup("u");
    descriptor_clear(&d);
    assert_null(d.media_type);
    assert_null(d.urls);
    assert_null(d.platform.os);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docker_manifest),
        cmocka_unit_test(test_oci_manifest),
        cmocka_unit_test(test_bad_fixtures),
        cmocka_unit_test(test_kind),
        cmocka_unit_test(test_manifest_edge_cases),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_docker_list),
        cmocka_unit_test(test_oci_index),
        cmocka_unit_test(test_index_edge_cases),
        cmocka_unit_test(test_platform_host),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_config_edge_cases),
        cmocka_unit_test(test_chain_ids),
        cmocka_unit_test(test_descriptor_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
