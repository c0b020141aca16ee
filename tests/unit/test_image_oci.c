/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image-oci transport, loaded through the real plugin loader, against
 * layouts and archives this test writes (blobs named by their real sha256):
 * resolving by tag, by digest and without either; the errors an operator
 * reads; fetching whole, resumed, missing and concurrently; the same from
 * oci-archive tarballs (plain, pax with "./" names, gzip); and layouts made
 * by umoci (and packed by skopeo) when those tools are installed; a FIFO or
 * device node where a file is expected refused without being opened.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "builders.h"
#include "config.h"
#include "config_tree.h"
#include "error.h"
#include "plugin_loader.h"

#define PLUGIN_FILE CLEAT_TEST_PLUGIN_DIR "/../../plugins/image-oci/image-oci.so"
#define MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"
#define LAYER_SIZE (((size_t)3 << 20) + 4321) /* several 1 MiB chunks and a ragged end */

struct blob {
    char digest[80]; /* "sha256:<hex>" */
    char *data;
    size_t len;
};

struct world {
    char dir[64];
    struct config *cfg;
    struct plugins *plugins;
    struct plugin_instance *pi;
    struct blob config, layer, m1, m2;
    char two[128], single[128], tar[128], pax[128], tgz[128];
};

/* --- helpers -------------------------------------------------------------- */

static int have(const char *tool) {
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

static void write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* "sha256:<hex>" of a file, by coreutils. */
static void sha256_file(const char *path, char out[80]) {
    char cmd[512], hex[65] = "";
    snprintf(cmd, sizeof(cmd), "sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%64s", hex), 1);
    assert_int_equal(pclose(p), 0);
    assert_int_equal(strlen(hex), 64);
    snprintf(out, 80, "sha256:%s", hex);
}

static void sha256_bytes(struct world *w, const void *data, size_t len, char out[80]) {
    char path[128];
    snprintf(path, sizeof(path), "%s/hash.tmp", w->dir);
    write_file(path, data, len);
    sha256_file(path, out);
    unlink(path);
}

static void blob_make(struct world *w, struct blob *b, char *data, size_t len) {
    b->data = data;
    b->len = len;
    sha256_bytes(w, data, len, b->digest);
}

static void blob_put(const char *layout, const struct blob *b) {
    char path[256];
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", layout, b->digest + 7);
    write_file(path, b->data, b->len);
}

static char *text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *text(const char *fmt, ...) {
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    assert_true(vasprintf(&s, fmt, ap) > 0);
    va_end(ap);
    return s;
}

/* A layout at <dir>/<name> with every blob, the given index.json and oci-layout text. */
static void layout_make(struct world *w, char *out, size_t size, const char *name, const char *marker,
                        const char *index) {
    snprintf(out, size, "%s/%s", w->dir, name);
    run_cmd("mkdir -p '%s/blobs/sha256'", out);
    char path[256];
    if (marker) {
        snprintf(path, sizeof(path), "%s/oci-layout", out);
        write_file(path, marker, strlen(marker));
    }
    if (index) {
        snprintf(path, sizeof(path), "%s/index.json", out);
        write_file(path, index, strlen(index));
    }
    const struct blob *all[] = {&w->config, &w->layer, &w->m1, &w->m2};
    for (size_t i = 0; i < 4; i++)
        blob_put(out, all[i]);
}

static char *manifest_desc(const struct blob *m, const char *tag) {
    if (!tag)
        return text("{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}", MANIFEST_TYPE, m->digest, m->len);
    return text("{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,"
                "\"annotations\":{\"org.opencontainers.image.ref.name\":\"%s\"}}",
                MANIFEST_TYPE, m->digest, m->len, tag);
}

/* --- the world: fixtures and the loaded plugin ---------------------------- */

static void make_blobs(struct world *w) {
    char *layer = malloc(LAYER_SIZE);
    assert_non_null(layer);
    uint32_t x = 2463534242u; /* xorshift32: incompressible enough, reproducible */
    for (size_t i = 0; i < LAYER_SIZE; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        layer[i] = (char)x;
    }
    blob_make(w, &w->layer, layer, LAYER_SIZE);
    char *config = text("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
                        "\"diff_ids\":[\"%s\"]},\"config\":{\"Cmd\":[\"/bin/sh\"]}}",
                        w->layer.digest);
    blob_make(w, &w->config, config, strlen(config));
    for (int i = 1; i <= 2; i++) {
        char *m = text("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
                       "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},"
                       "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\","
                       "\"size\":%zu}],\"annotations\":{\"n\":\"%d\"}}",
                       MANIFEST_TYPE, w->config.digest, w->config.len, w->layer.digest, w->layer.len, i);
        blob_make(w, i == 1 ? &w->m1 : &w->m2, m, strlen(m));
    }
}

static const char *const marker = "{\"imageLayoutVersion\":\"1.0.0\"}";

static void make_layouts(struct world *w) {
    char *d1 = manifest_desc(&w->m1, "1.0"), *d2 = manifest_desc(&w->m2, "2.0"), *u1 = manifest_desc(&w->m1, NULL);
    char *two = text("{\"schemaVersion\":2,\"manifests\":[%s,%s]}", d1, d2);
    char *single = text("{\"schemaVersion\":2,\"manifests\":[%s]}", u1);
    char scratch[128];
    layout_make(w, w->two, sizeof(w->two), "two", marker, two);
    layout_make(w, w->single, sizeof(w->single), "single", marker, single);
    layout_make(w, scratch, sizeof(scratch), "no-marker", NULL, two);
    layout_make(w, scratch, sizeof(scratch), "v2", "{\"imageLayoutVersion\":\"2.0.0\"}", two);
    layout_make(w, scratch, sizeof(scratch), "corrupt", marker, "{\"schemaVersion\":2,\"manifests\":[");
    free(d1), free(d2), free(u1), free(two), free(single);

    /* The same layout as archives: GNU format; pax headers on every entry with "./" names; gzip, index last. */
    snprintf(w->tar, sizeof(w->tar), "%s/two.tar", w->dir);
    snprintf(w->pax, sizeof(w->pax), "%s/two-pax.tar", w->dir);
    snprintf(w->tgz, sizeof(w->tgz), "%s/two.tar.gz", w->dir);
    run_cmd("tar -C '%s' -cf '%s' oci-layout index.json blobs", w->two, w->tar);
    run_cmd("tar --format=pax --pax-option=cleat.test:=x -C '%s' -cf '%s' .", w->two, w->pax);
    run_cmd("tar -C '%s' -czf '%s' blobs oci-layout index.json", w->two, w->tgz);
}

static struct config *make_config(struct world *w, const char *sub, const char *options) {
    char *yaml = text("root_dir: %s/%s/root\nstate_dir: %s/%s/state\nsocket: %s/s.sock\n"
                      "snapshotter: null\ntransports:\n  registry: null\n  oci:\n    plugin: image-oci\n    path: %s\n "
                      "   schemes: [oci, oci-archive]\n%s",
                      w->dir, sub, w->dir, sub, w->dir, PLUGIN_FILE, options ? options : "");
    struct config *cfg = config_over_defaults(yaml);
    free(yaml);
    return cfg;
}

static int world_setup(void **state) {
    struct world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    strcpy(w->dir, "/tmp/cleat-oci-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    make_blobs(w);
    make_layouts(w);
    w->cfg = make_config(w, "main", NULL);
    struct cleat_error *err = NULL;
    if (plugins_load(w->cfg, PLUGINS_INIT, &w->plugins, &err) < 0)
        fail_msg("load: %s", error_message(err));
    w->pi = plugins_find(w->plugins, CLEAT_CONCERN_TRANSPORT, "oci");
    assert_non_null(w->pi);
    assert_string_equal(w->pi->desc->name, "image-oci");
    *state = w;
    return 0;
}

static int world_teardown(void **state) {
    struct world *w = *state;
    plugins_free(w->plugins);
    config_free(w->cfg);
    run_cmd("rm -rf '%s'", w->dir);
    free(w->config.data), free(w->layer.data), free(w->m1.data), free(w->m2.data);
    free(w);
    return 0;
}

/* --- calling the plugin --------------------------------------------------- */

struct resolved {
    char *name, *media_type, *digest;
    int64_t size;
    int calls;
};

static int on_resolved(void *ctx, const char *name, const struct cleat_descriptor *desc) {
    struct resolved *r = ctx;
    r->calls++;
    r->name = strdup(name);
    r->media_type = strdup(desc->media_type);
    r->digest = strdup(desc->digest);
    r->size = desc->size;
    return 0;
}

static void resolved_done(struct resolved *r) {
    free(r->name), free(r->media_type), free(r->digest);
    *r = (struct resolved){0};
}

static int resolve(struct world *w, const char *reference, struct resolved *out, struct cleat_error **err) {
    struct cleat_transport_request req = {.struct_size = sizeof(req), .reference = reference};
    *out = (struct resolved){0};
    return w->pi->ops.transport.resolve(w->pi->instance, &req, on_resolved, out, err);
}

/* Resolve `reference`; it must name `m` as `name`. */
static void expect_resolves(struct world *w, const char *reference, const struct blob *m, const char *name) {
    struct resolved r;
    struct cleat_error *err = NULL;
    if (resolve(w, reference, &r, &err) < 0)
        fail_msg("resolve %s: %s", reference, error_message(err));
    assert_int_equal(r.calls, 1);
    assert_string_equal(r.name, name);
    assert_string_equal(r.digest, m->digest);
    assert_string_equal(r.media_type, MANIFEST_TYPE);
    assert_int_equal(r.size, (int64_t)m->len);
    resolved_done(&r);
}

/* Resolve `reference`; it must fail with `status` and a message containing every needle. */
static void expect_resolve_error(struct world *w, const char *reference, int32_t status, ...) {
    struct resolved r;
    struct cleat_error *err = NULL;
    assert_true(resolve(w, reference, &r, &err) < 0);
    assert_int_equal(r.calls, 0);
    assert_non_null(err);
    const char *msg = error_message(err);
    if (error_status(err) != status)
        fail_msg("%s: status %d, not %d: %s", reference, error_status(err), status, msg);
    va_list ap;
    va_start(ap, status);
    for (const char *needle; (needle = va_arg(ap, const char *));)
        if (!strstr(msg, needle))
            fail_msg("%s: message lacks '%s': %s", reference, needle, msg);
    va_end(ap);
    error_free(err);
}

struct sink {
    char *data;
    size_t len, cap;
    int fail; /* answer every write with an error */
};

static int sink_write(void *ctx, const void *data, uint64_t len, struct cleat_error **reterr) {
    struct sink *s = ctx;
    if (s->fail) {
        *reterr = error_new(CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOSPC, "the content store is full");
        return -ENOSPC;
    }
    if (s->len + len > s->cap) {
        s->cap = (s->len + len) * 2;
        s->data = realloc(s->data, s->cap);
        if (!s->data)
            return -ENOMEM;
    }
    memcpy(s->data + s->len, data, len);
    s->len += len;
    return 0;
}

/* Fetch `b` through `reference` into `s`, as if `resume` bytes had been written before. */
static int fetch(struct world *w, const char *reference, const struct blob *b, int64_t size, uint64_t resume,
                 struct sink *s, struct cleat_error **err) {
    if (resume)
        assert_int_equal(sink_write(s, b->data, resume, err), 0);
    struct cleat_blob_writer writer = {.sink = sink_write, .ctx = s, .offset = resume};
    struct cleat_descriptor desc = {.media_type = "application/octet-stream", .digest = b->digest, .size = size};
    struct cleat_transport_request req = {.struct_size = sizeof(req), .reference = reference};
    int r = w->pi->ops.transport.fetch(w->pi->instance, &req, &desc, &writer, err);
    if (r == 0 && writer.offset != s->len)
        return -EPROTO;
    return r;
}

static void expect_fetches(struct world *w, const char *reference, const struct blob *b, uint64_t resume) {
    struct sink s = {0};
    struct cleat_error *err = NULL;
    if (fetch(w, reference, b, (int64_t)b->len, resume, &s, &err) < 0)
        fail_msg("fetch %s from %s: %s", b->digest, reference, err ? error_message(err) : "?");
    assert_int_equal(s.len, b->len);
    assert_memory_equal(s.data, b->data, b->len);
    free(s.data);
}

static void expect_fetch_error(struct world *w, const char *reference, const struct blob *b, int64_t size,
                               int32_t status, const char *needle) {
    struct sink s = {0};
    struct cleat_error *err = NULL;
    assert_true(fetch(w, reference, b, size, 0, &s, &err) < 0);
    assert_non_null(err);
    if (error_status(err) != status || !strstr(error_message(err), needle))
        fail_msg("fetch from %s: want status %d and '%s', got %d: %s", reference, status, needle, error_status(err),
                 error_message(err));
    error_free(err);
    free(s.data);
}

/* --- layouts: resolve ----------------------------------------------------- */

static void test_resolve_by_tag(void **state) {
    struct world *w = *state;
    char ref[512], name[256];
    snprintf(ref, sizeof(ref), "oci:%s:2.0", w->two);
    expect_resolves(w, ref, &w->m2, ref);
    /* The path is tidied in the name: doubled and trailing slashes, "." components. */
    snprintf(ref, sizeof(ref), "oci:%s//./:1.0", w->two);
    snprintf(name, sizeof(name), "oci:%s:1.0", w->two);
    expect_resolves(w, ref, &w->m1, name);
}

static void test_resolve_by_digest(void **state) {
    struct world *w = *state;
    char ref[512];
    snprintf(ref, sizeof(ref), "oci:%s@%s", w->two, w->m2.digest);
    expect_resolves(w, ref, &w->m2, ref);
    snprintf(ref, sizeof(ref), "oci:%s@sha256:%064d", w->two, 0);
    expect_resolve_error(w, ref, CLEAT_STATUS_NOT_FOUND, "no manifest with digest sha256:000", "index.json", NULL);
}

static void test_resolve_single_untagged(void **state) {
    struct world *w = *state;
    char ref[512];
    snprintf(ref, sizeof(ref), "oci:%s", w->single);
    expect_resolves(w, ref, &w->m1, ref);
    /* A tag asked of an index without any. */
    snprintf(ref, sizeof(ref), "oci:%s:latest", w->single);
    expect_resolve_error(w, ref, CLEAT_STATUS_NOT_FOUND, "no image tagged 'latest'", "no manifest has a tag", NULL);
}

static void test_resolve_ambiguous(void **state) {
    struct world *w = *state;
    char ref[512], one[256], two[256];
    snprintf(ref, sizeof(ref), "oci:%s", w->two);
    snprintf(one, sizeof(one), "oci:%s:1.0", w->two);
    snprintf(two, sizeof(two), "oci:%s:2.0", w->two);
    expect_resolve_error(w, ref, CLEAT_STATUS_INVALID_ARGUMENT, "lists 2 manifests", one, two, NULL);
}

static void test_resolve_missing_tag(void **state) {
    struct world *w = *state;
    char ref[512];
    snprintf(ref, sizeof(ref), "oci:%s:3.0", w->two);
    expect_resolve_error(w, ref, CLEAT_STATUS_NOT_FOUND, w->two, "no image tagged '3.0'", "available tags: 1.0, 2.0",
                         NULL);
}

static void test_resolve_not_a_layout(void **state) {
    struct world *w = *state;
    char ref[512], path[128];
    snprintf(path, sizeof(path), "%s/nowhere", w->dir);
    snprintf(ref, sizeof(ref), "oci:%s:1.0", path);
    expect_resolve_error(w, ref, CLEAT_STATUS_NOT_FOUND, path, "No such file", NULL);
    snprintf(ref, sizeof(ref), "oci:%s/no-marker:1.0", w->dir);
    expect_resolve_error(w, ref, CLEAT_STATUS_FAILED_PRECONDITION, "no-marker is not an OCI image layout",
                         "no oci-layout file", NULL);
    snprintf(ref, sizeof(ref), "oci:%s/v2:1.0", w->dir);
    expect_resolve_error(w, ref, CLEAT_STATUS_FAILED_PRECONDITION, "imageLayoutVersion '2.0.0' is not supported", NULL);
    snprintf(ref, sizeof(ref), "oci:%s/corrupt:1.0", w->dir);
    expect_resolve_error(w, ref, CLEAT_STATUS_FAILED_PRECONDITION, "corrupt/index.json is corrupt", NULL);
    /* A tarball named with oci: is pointed at oci-archive:. */
    snprintf(ref, sizeof(ref), "oci:%s", w->tar);
    expect_resolve_error(w, ref, CLEAT_STATUS_FAILED_PRECONDITION, "use oci-archive:", NULL);
}

static void test_bad_references(void **state) {
    struct world *w = *state;
    expect_resolve_error(w, "oci:srv/img:1.0", CLEAT_STATUS_INVALID_ARGUMENT, "must be absolute", NULL);
    expect_resolve_error(w, "oci:/srv/img:", CLEAT_STATUS_INVALID_ARGUMENT, "invalid tag ''", NULL);
    expect_resolve_error(w, "oci:/srv/img:a*b", CLEAT_STATUS_INVALID_ARGUMENT, "invalid tag 'a*b'", NULL);
    expect_resolve_error(w, "oci:/srv/img@sha256:abc", CLEAT_STATUS_INVALID_ARGUMENT, "invalid digest", NULL);
    expect_resolve_error(w, "oci-archive:", CLEAT_STATUS_INVALID_ARGUMENT, "must be absolute", NULL);
}

static void test_reference_without_scheme(void **state) {
    /* Should the core strip the scheme after all, the path says which kind it is. */
    struct world *w = *state;
    char ref[512], name[256];
    snprintf(ref, sizeof(ref), "%s:1.0", w->two);
    snprintf(name, sizeof(name), "oci:%s:1.0", w->two);
    expect_resolves(w, ref, &w->m1, name);
    snprintf(ref, sizeof(ref), "%s:2.0", w->tar);
    snprintf(name, sizeof(name), "oci-archive:%s:2.0", w->tar);
    expect_resolves(w, ref, &w->m2, name);
}

/* --- layouts: fetch ------------------------------------------------------- */

static void test_fetch_whole(void **state) {
    struct world *w = *state;
    char ref[512];
    snprintf(ref, sizeof(ref), "oci:%s:1.0", w->two);
    expect_fetches(w, ref, &w->layer, 0);
    expect_fetches(w, ref, &w->config, 0);
    expect_fetches(w, ref, &w->m1, 0);
}

static void test_fetch_resume(void **state) {
    struct world *w = *state;
    char ref[512];
    snprintf(ref, sizeof(ref), "oci:%s", w->two);
    expect_fetches(w, ref, &w->layer, 1234567);
    expect_fetches(w, ref, &w->layer, w->layer.len); /* all there: nothing to write */
    expect_fetches(w, ref, &w->config, 1);
}

static void test_fetch_errors(void **state) {
    struct world *w = *state;
    char ref[512];
    snprintf(ref, sizeof(ref), "oci:%s:1.0", w->two);
    struct blob missing = {.data = "", .len = 0};
    snprintf(missing.digest, sizeof(missing.digest), "sha256:%064d", 7);
    expect_fetch_error(w, ref, &missing, 0, CLEAT_STATUS_NOT_FOUND, "blob sha256:0000");
    expect_fetch_error(w, ref, &w->config, (int64_t)w->config.len + 1, CLEAT_STATUS_FAILED_PRECONDITION,
                       "its descriptor says");
    /* Digests come from manifests: one that walks out of blobs/ never becomes a path. */
    struct blob evil = {.digest = "sha256:../../../../etc/passwd"};
    expect_fetch_error(w, ref, &evil, 1, CLEAT_STATUS_INVALID_ARGUMENT, "invalid blob digest");
    /* A resume point past the end. */
    struct sink s = {0};
    struct cleat_error *err = NULL;
    struct cleat_blob_writer writer = {.sink = sink_write, .ctx = &s, .offset = w->config.len + 1};
    struct cleat_descriptor desc = {.digest = w->config.digest, .size = (int64_t)w->config.len};
    struct cleat_transport_request req = {.struct_size = sizeof(req), .reference = ref};
    assert_true(w->pi->ops.transport.fetch(w->pi->instance, &req, &desc, &writer, &err) < 0);
    assert_int_equal(error_status(err), CLEAT_STATUS_OUT_OF_RANGE);
    error_free(err);
    err = NULL;
    /* The writer's own error comes back, with the blob named. */
    s.fail = 1;
    assert_true(fetch(w, ref, &w->config, (int64_t)w->config.len, 0, &s, &err) < 0);
    assert_int_equal(error_status(err), CLEAT_STATUS_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(error_message(err), "the content store is full"));
    assert_non_null(strstr(error_message(err), w->config.digest));
    error_free(err);
}

/*
 * Whoever may write a layout could put a FIFO or a device node where a file
 * is expected: it is refused, never opened (the FIFO would hang the pull, the
 * device's driver would run as root).  inotify sees every real open.
 */
static void test_special_files_are_not_opened(void **state) {
    struct world *w = *state;
    char dir[128], ref[512], index[256], layer[256], config[256];
    layout_make(w, dir, sizeof(dir), "specials", marker, NULL);
    snprintf(index, sizeof(index), "%s/index.json", dir);
    snprintf(layer, sizeof(layer), "%s/blobs/sha256/%s", dir, w->layer.digest + 7);
    snprintf(config, sizeof(config), "%s/blobs/sha256/%s", dir, w->config.digest + 7);
    assert_int_equal(mkfifo(index, 0644), 0);
    assert_int_equal(unlink(config), 0);
    assert_int_equal(mkfifo(config, 0644), 0);
    assert_int_equal(unlink(layer), 0);
    int dev = geteuid() == 0 && mknod(layer, S_IFCHR | 0644, makedev(1, 3)) == 0; /* /dev/null's numbers */
    int watches[3] = {watch_opens(index), watch_opens(config), dev ? watch_opens(layer) : -1};

    snprintf(ref, sizeof(ref), "oci:%s:1.0", dir);
    expect_resolve_error(w, ref, CLEAT_STATUS_FAILED_PRECONDITION, "index.json is not a regular file", NULL);
    expect_fetch_error(w, ref, &w->config, (int64_t)w->config.len, CLEAT_STATUS_FAILED_PRECONDITION,
                       "is not a regular file");
    if (dev)
        expect_fetch_error(w, ref, &w->layer, (int64_t)w->layer.len, CLEAT_STATUS_FAILED_PRECONDITION,
                           "is not a regular file");
    snprintf(ref, sizeof(ref), "oci-archive:%s:1.0", index);
    expect_resolve_error(w, ref, CLEAT_STATUS_FAILED_PRECONDITION, "is not a regular file", NULL);
    for (size_t i = 0; i < 3; i++)
        if (watches[i] >= 0)
            assert_int_equal(opens_seen(watches[i]), 0);
}

/* --- archives ------------------------------------------------------------- */

static void test_archive_resolve(void **state) {
    struct world *w = *state;
    const char *tars[] = {w->tar, w->pax, w->tgz};
    for (size_t i = 0; i < 3; i++) {
        char ref[512], name[256];
        snprintf(ref, sizeof(ref), "oci-archive:%s:1.0", tars[i]);
        expect_resolves(w, ref, &w->m1, ref);
        snprintf(ref, sizeof(ref), "oci-archive:%s@%s", tars[i], w->m2.digest);
        expect_resolves(w, ref, &w->m2, ref);
        snprintf(ref, sizeof(ref), "oci-archive:%s:3.0", tars[i]);
        snprintf(name, sizeof(name), "index.json in %s", tars[i]);
        expect_resolve_error(w, ref, CLEAT_STATUS_NOT_FOUND, name, "available tags: 1.0, 2.0", NULL);
        snprintf(ref, sizeof(ref), "oci-archive:%s", tars[i]);
        expect_resolve_error(w, ref, CLEAT_STATUS_INVALID_ARGUMENT, "lists 2 manifests", NULL);
    }
}

static void test_archive_not_an_archive(void **state) {
    struct world *w = *state;
    char ref[512], path[256];
    snprintf(ref, sizeof(ref), "oci-archive:%s/nowhere.tar", w->dir);
    expect_resolve_error(w, ref, CLEAT_STATUS_NOT_FOUND, "nowhere.tar", NULL);
    snprintf(ref, sizeof(ref), "oci-archive:%s", w->two);
    expect_resolve_error(w, ref, CLEAT_STATUS_FAILED_PRECONDITION, "not a regular file", "use oci:", NULL);
    snprintf(path, sizeof(path), "%s/two/index.json", w->dir);
    snprintf(ref, sizeof(ref), "oci-archive:%s", path);
    expect_resolve_error(w, ref, CLEAT_STATUS_FAILED_PRECONDITION, "not a valid tar archive", NULL);
    snprintf(path, sizeof(path), "%s/no-marker.tar", w->dir);
    run_cmd("tar -C '%s/no-marker' -cf '%s' .", w->dir, path);
    snprintf(ref, sizeof(ref), "oci-archive:%s", path);
    expect_resolve_error(w, ref, CLEAT_STATUS_FAILED_PRECONDITION, "not an oci-archive", "no oci-layout file", NULL);
}

static void test_archive_fetch(void **state) {
    struct world *w = *state;
    const char *tars[] = {w->tar, w->pax, w->tgz};
    for (size_t i = 0; i < 3; i++) {
        char ref[512], copy[256];
        snprintf(ref, sizeof(ref), "oci-archive:%s:1.0", tars[i]);
        struct resolved r;
        struct cleat_error *err = NULL;
        assert_int_equal(resolve(w, ref, &r, &err), 0); /* records blob offsets of plain tars */
        resolved_done(&r);
        expect_fetches(w, ref, &w->layer, 0);
        expect_fetches(w, ref, &w->layer, 2 * 1048576 + 17);
        expect_fetches(w, ref, &w->config, 0);
        expect_fetches(w, ref, &w->m2, 5);
        struct blob missing = {.data = "", .len = 0};
        snprintf(missing.digest, sizeof(missing.digest), "sha256:%064d", 7);
        expect_fetch_error(w, ref, &missing, 0, CLEAT_STATUS_NOT_FOUND, "the tar has no blobs/sha256/0000");
        expect_fetch_error(w, ref, &w->m1, 3, CLEAT_STATUS_FAILED_PRECONDITION, "its descriptor says");
        /* A copy never resolved: fetch walks the tar. */
        snprintf(copy, sizeof(copy), "%s.copy", tars[i]);
        run_cmd("cp '%s' '%s'", tars[i], copy);
        snprintf(ref, sizeof(ref), "oci-archive:%s", copy);
        expect_fetches(w, ref, &w->layer, 0);
        expect_fetches(w, ref, &w->config, 3);
        expect_fetch_error(w, ref, &missing, 0, CLEAT_STATUS_NOT_FOUND, "the tar has no blobs/sha256/0000");
        unlink(copy);
    }
}

static void test_archive_replaced_after_resolve(void **state) {
    /* The offsets recorded at resolve belong to that file: a new file at the same path is read afresh. */
    struct world *w = *state;
    char path[256], ref[512], other[256];
    snprintf(path, sizeof(path), "%s/replaced.tar", w->dir);
    snprintf(other, sizeof(other), "%s/shifted.tar", w->dir);
    run_cmd("cp '%s' '%s'", w->tar, path);
    snprintf(ref, sizeof(ref), "oci-archive:%s:1.0", path);
    struct resolved r;
    struct cleat_error *err = NULL;
    assert_int_equal(resolve(w, ref, &r, &err), 0);
    resolved_done(&r);
    /* Same members, shifted by a 10 KiB file first and in another order. */
    run_cmd("head -c 10240 /dev/zero > '%s/padding' && tar -cf '%s' -C '%s' padding -C '%s' index.json oci-layout "
            "blobs/sha256/%s blobs/sha256/%s blobs/sha256/%s blobs/sha256/%s && mv '%s' '%s'",
            w->dir, other, w->dir, w->two, w->m2.digest + 7, w->config.digest + 7, w->layer.digest + 7,
            w->m1.digest + 7, other, path);
    expect_fetches(w, ref, &w->layer, 0);
    expect_fetches(w, ref, &w->config, 0);
}

/* --- concurrency ---------------------------------------------------------- */

struct worker {
    struct world *w;
    int id, failures;
    char message[512];
};

static void *work(void *arg) {
    struct worker *k = arg;
    const char *sources[] = {k->w->two, k->w->tar, k->w->pax, k->w->tgz};
    for (int round = 0; round < 8; round++) {
        int which = (k->id + round) % 4;
        char ref[512];
        snprintf(ref, sizeof(ref), "%s:%s:1.0", which ? "oci-archive" : "oci", sources[which]);
        const struct blob *b = round % 2 ? &k->w->config : &k->w->layer;
        uint64_t resume = round % 3 == 2 ? b->len / 3 : 0;
        struct sink s = {0};
        struct cleat_error *err = NULL;
        struct cleat_blob_writer writer = {.sink = sink_write, .ctx = &s, .offset = resume};
        struct cleat_descriptor desc = {.digest = b->digest, .size = (int64_t)b->len};
        struct cleat_transport_request req = {.struct_size = sizeof(req), .reference = ref};
        if (round == 4 && which) {
            /* Resolving again replaces the archive's offset record while the others read it. */
            struct resolved r;
            if (resolve(k->w, ref, &r, &err) < 0) {
                k->failures++;
                snprintf(k->message, sizeof(k->message), "resolve %.200s: %.200s", ref, error_message(err));
                error_free(err);
                err = NULL;
            }
            resolved_done(&r);
        }
        if (resume)
            sink_write(&s, b->data, resume, &err);
        int r = k->w->pi->ops.transport.fetch(k->w->pi->instance, &req, &desc, &writer, &err);
        if (r < 0 || s.len != b->len || memcmp(s.data, b->data, b->len) != 0) {
            k->failures++;
            snprintf(k->message, sizeof(k->message), "%.200s %.80s: %.200s", ref, b->digest,
                     err ? error_message(err) : "wrong bytes");
        }
        error_free(err);
        free(s.data);
    }
    return NULL;
}

static void test_concurrent_fetches(void **state) {
    struct world *w = *state;
    char ref[512];
    snprintf(ref, sizeof(ref), "oci-archive:%s:1.0", w->pax);
    struct resolved r;
    struct cleat_error *err = NULL;
    assert_int_equal(resolve(w, ref, &r, &err), 0);
    resolved_done(&r);
    struct worker k[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        k[i] = (struct worker){.w = w, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, work, &k[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < 4; i++)
        if (k[i].failures)
            fail_msg("worker %d: %d failures, last: %s", i, k[i].failures, k[i].message);
}

/* --- options and real tools ----------------------------------------------- */

static void test_unknown_option_is_refused(void **state) {
    struct world *w = *state;
    struct config *cfg = make_config(w, "opts", "    options: {cache: 3}\n");
    struct plugins *p = NULL;
    struct cleat_error *err = NULL;
    assert_true(plugins_load(cfg, PLUGINS_INIT, &p, &err) < 0);
    assert_null(p);
    if (!strstr(error_message(err), "cache"))
        fail_msg("message lacks the key: %s", error_message(err));
    error_free(err);
    config_free(cfg);
}

/* Fetch the blob `desc` names and check it against its digest, as the core will. */
static void expect_fetch_verifies(struct world *w, const char *reference, const struct resolved *r) {
    struct blob b = {.len = (size_t)r->size};
    snprintf(b.digest, sizeof(b.digest), "%s", r->digest);
    struct sink s = {0};
    struct cleat_error *err = NULL;
    if (fetch(w, reference, &b, r->size, 0, &s, &err) < 0)
        fail_msg("fetch %s: %s", r->digest, error_message(err));
    assert_int_equal(s.len, (size_t)r->size);
    char digest[80];
    sha256_bytes(w, s.data, s.len, digest);
    assert_string_equal(digest, r->digest);
    free(s.data);
}

static void test_umoci_layout(void **state) {
    struct world *w = *state;
    if (!have("umoci"))
        skip();
    char dir[128], ref[512];
    snprintf(dir, sizeof(dir), "%s/umoci", w->dir);
    run_cmd("umoci init --layout '%s' && umoci new --image '%s:t1'", dir, dir);
    snprintf(ref, sizeof(ref), "oci:%s:t1", dir);
    struct resolved r;
    struct cleat_error *err = NULL;
    if (resolve(w, ref, &r, &err) < 0)
        fail_msg("%s", error_message(err));
    assert_string_equal(r.name, ref);
    assert_string_equal(r.media_type, MANIFEST_TYPE);
    expect_fetch_verifies(w, ref, &r);
    resolved_done(&r);
    if (!have("skopeo"))
        return;
    /* Packed by skopeo as an oci-archive. */
    run_cmd("skopeo --insecure-policy copy -q 'oci:%s:t1' 'oci-archive:%s.tar:t1'", dir, dir);
    snprintf(ref, sizeof(ref), "oci-archive:%s.tar:t1", dir);
    if (resolve(w, ref, &r, &err) < 0)
        fail_msg("%s", error_message(err));
    assert_string_equal(r.name, ref);
    expect_fetch_verifies(w, ref, &r);
    resolved_done(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve_by_tag),
        cmocka_unit_test(test_resolve_by_digest),
        cmocka_unit_test(test_resolve_single_untagged),
        cmocka_unit_test(test_resolve_ambiguous),
        cmocka_unit_test(test_resolve_missing_tag),
        cmocka_unit_test(test_resolve_not_a_layout),
        cmocka_unit_test(test_bad_references),
        cmocka_unit_test(test_reference_without_scheme),
        cmocka_unit_test(test_fetch_whole),
        cmocka_unit_test(test_fetch_resume),
        cmocka_unit_test(test_fetch_errors),
        cmocka_unit_test(test_special_files_are_not_opened),
        cmocka_unit_test(test_archive_resolve),
        cmocka_unit_test(test_archive_not_an_archive),
        cmocka_unit_test(test_archive_fetch),
        cmocka_unit_test(test_archive_replaced_after_resolve),
        cmocka_unit_test(test_concurrent_fetches),
        cmocka_unit_test(test_unknown_option_is_refused),
        cmocka_unit_test(test_umoci_layout),
    };
    return cmocka_run_group_tests(tests, world_setup, world_teardown);
}
