/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image-docker transport, loaded through the real plugin loader, against
 * real registries: Debian's docker-registry, started (plain http, TLS, TLS
 * with client certificates, htpasswd basic auth, token auth with a JWT
 * issuing token server) by tests/e2e/registry_fixture.py, which also builds a
 * busybox-static image and pushes it with skopeo.  Two clearly fake servers
 * come from the fixture too: one that stalls, one that ignores Range.
 *
 * The fixture runs as a child with pipes on stdin and stdout; closing its
 * stdin stops every process it started (by pid), and the child itself is
 * waited for (and killed by pid if it does not go).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include <openssl/evp.h>

#include "builders.h"
#include "config.h"
#include "config_tree.h"
#include "plugin_calls.h"
#include "plugin_loader.h"

extern char **environ;

#define FIXTURE CLEAT_TEST_DATA_DIR "/../e2e/registry_fixture.py"
#define PLUGIN_DIR CLEAT_TEST_PLUGIN_DIR "/../../plugins/image-docker"

/* ------------------------------------------------------------------------- */
/* the fixture process                                                       */

static struct {
    pid_t pid;
    FILE *in, *out;
    char *keys[64], *vals[64];
    size_t n;
    char dir[64]; /* root/state dirs for the loader */
} fx;

static const char *fx_get(const char *key) {
    for (size_t i = 0; i < fx.n; i++)
        if (strcmp(fx.keys[i], key) == 0)
            return fx.vals[i];
    fail_msg("the fixture did not report '%s'", key);
    return NULL;
}

static int fx_port(const char *name) {
    char key[64];
    snprintf(key, sizeof(key), "%s_port", name);
    return atoi(fx_get(key));
}

/* Read "key value" lines until `end`; returns 0, or -1 on EOF / "error". */
static int fx_read_until(const char *end) {
    char line[4096];
    while (fgets(line, sizeof(line), fx.out)) {
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line, end) == 0)
            return 0;
        if (strncmp(line, "error", 5) == 0) {
            fprintf(stderr, "fixture: %s\n", line);
            return -1;
        }
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        if (fx.n == sizeof(fx.keys) / sizeof(fx.keys[0]))
            fail_msg("the fixture said too much: '%s'", line);
        *sp = '\0';
        fx.keys[fx.n] = strdup(line);
        fx.vals[fx.n++] = strdup(sp + 1);
    }
    return -1;
}

static void fx_stop(void) {
    if (fx.in)
        fclose(fx.in); /* EOF: the fixture stops its registries and exits */
    if (fx.out)
        fclose(fx.out);
    fx.in = fx.out = NULL;
    for (int i = 0; fx.pid > 0 && i < 300; i++) {
        if (waitpid(fx.pid, NULL, WNOHANG) == fx.pid) {
            fx.pid = 0;
            break;
        }
        usleep(100 * 1000);
    }
    if (fx.pid > 0) {
        kill(fx.pid, SIGTERM);
        waitpid(fx.pid, NULL, 0);
        fx.pid = 0;
    }
    for (size_t i = 0; i < fx.n; i++) {
        free(fx.keys[i]);
        free(fx.vals[i]);
    }
    fx.n = 0;
}

static int group_setup(void **state) {
    int to_child[2], from_child[2];
    if (pipe2(to_child, O_CLOEXEC) < 0 || pipe2(from_child, O_CLOEXEC) < 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to_child[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from_child[1], 1);
    char *argv[] = {"/usr/bin/python3", FIXTURE, "serve", NULL};
    int r = posix_spawn(&fx.pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(to_child[0]);
    close(from_child[1]);
    if (r != 0)
        return -1;
    fx.in = fdopen(to_child[1], "w");
    fx.out = fdopen(from_child[0], "r");
    if (!fx.in || !fx.out || fx_read_until("ready") < 0) {
        fx_stop();
        return -1;
    }
    strcpy(fx.dir, "/tmp/cleat-docker-XXXXXX");
    if (!mkdtemp(fx.dir))
        return -1;
    return 0;
}

static int group_teardown(void **state) {
    fx_stop();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* One of the fixture's counters ("tokens_issued", "redirect_auth_at_storage", ...), asked for now. */
static int fx_stat(const char *key) {
    fputs("stats\n", fx.in);
    fflush(fx.in);
    size_t before = fx.n;
    assert_int_equal(fx_read_until("ok"), 0);
    int value = -1;
    for (size_t i = before; i < fx.n; i++) {
        if (strcmp(fx.keys[i], key) == 0)
            value = atoi(fx.vals[i]);
        free(fx.keys[i]);
        free(fx.vals[i]);
    }
    fx.n = before; /* the answer is read; keep only what the fixture said at start-up */
    return value;
}

/* ------------------------------------------------------------------------- */
/* the plugin, through the loader                                            */

struct loaded {
    struct config *cfg;
    struct plugins *plugins;
    struct plugin_instance *pi;
};

/* Load image-docker with `options` (YAML flow map); on failure return the error. */
static int load(struct loaded *l, const char *options, struct cleat_error **reterr) {
    char *text = NULL;
    assert_true(asprintf(&text,
                         "root_dir: %s/root\nstate_dir: %s/state\nsocket: %s/s.sock\nplugin_dirs: [%s]\n"
                         "snapshotter: null\ntransports:\n  oci: null\n  registry:\n    plugin: image-docker\n    "
                         "schemes: [\"\"]\n"
                         "    options: %s\n",
                         fx.dir, fx.dir, fx.dir, PLUGIN_DIR, options) > 0);
    l->cfg = config_over_defaults(text);
    free(text);
    int r = plugins_load(l->cfg, PLUGINS_INIT, &l->plugins, reterr);
    if (r < 0) {
        config_free(l->cfg);
        l->cfg = NULL;
        return r;
    }
    l->pi = plugins_find(l->plugins, CLEAT_CONCERN_TRANSPORT, "registry");
    assert_non_null(l->pi);
    return 0;
}

__attribute__((format(printf, 2, 3))) static void load_ok(struct loaded *l, const char *fmt, ...) {
    char *options = NULL;
    va_list ap;
    va_start(ap, fmt);
    assert_true(vasprintf(&options, fmt, ap) > 0);
    va_end(ap);
    struct cleat_error *err = NULL;
    if (load(l, options, &err) < 0)
        fail_msg("loading image-docker with %s: %s", options, error_message(err));
    free(options);
}

static void unload(struct loaded *l) {
    plugins_free(l->plugins);
    config_free(l->cfg);
    *l = (struct loaded){0};
}

/* ------------------------------------------------------------------------- */
/* calling it                                                                */

struct result {
    char *name, *media_type, *digest;
    int64_t size;
};

static int on_resolved(void *ctx, const char *name, const struct cleat_descriptor *desc) {
    struct result *res = ctx;
    res->name = strdup(name);
    res->media_type = strdup(desc->media_type);
    res->digest = strdup(desc->digest);
    res->size = desc->size;
    return 0;
}

static int refuse_resolved(void *ctx, const char *name, const struct cleat_descriptor *desc) {
    return -EBUSY;
}

static void result_free(struct result *r) {
    free(r->name);
    free(r->media_type);
    free(r->digest);
    *r = (struct result){0};
}

static struct cleat_auth no_auth = {sizeof(struct cleat_auth), NULL, NULL, NULL, NULL, NULL, NULL};

/* resolve(); on failure *reterr holds the error (the caller frees it). */
static int resolve(struct loaded *l, const char *ref, const struct cleat_auth *auth, struct result *res,
                   struct cleat_error **reterr) {
    struct cleat_transport_request req = {sizeof(req), ref, auth ? auth : &no_auth};
    *res = (struct result){0};
    return l->pi->ops.transport.resolve(l->pi->instance, &req, on_resolved, res, reterr);
}

static void resolve_ok(struct loaded *l, const char *ref, const struct cleat_auth *auth, struct result *res) {
    struct cleat_error *err = NULL;
    if (resolve(l, ref, auth, res, &err) < 0)
        fail_msg("resolve %s: %s", ref, error_message(err));
}

/* Expect a failure with `status` whose message contains `needle`; returns the seconds it took. */
static double resolve_fails(struct loaded *l, const char *ref, const struct cleat_auth *auth, int32_t status,
                            const char *needle) {
    struct result res;
    struct cleat_error *err = NULL;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int r = resolve(l, ref, auth, &res, &err);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (r >= 0)
        fail_msg("resolve %s succeeded (%s), expected %s", ref, res.digest, error_status_name(status));
    assert_non_null(err);
    if (error_status(err) != status || !strstr(error_message(err), needle))
        fail_msg("resolve %s: expected %s with '%s', got %s: %s", ref, error_status_name(status), needle,
                 error_status_name(error_status(err)), error_message(err));
    print_message("    (%s: %s)\n", error_status_name(status), error_message(err)); /* what an operator would read */
    error_free(err);
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

/* A sink that keeps every byte (and can refuse after `fail_after`). */
struct sink {
    unsigned char *data;
    size_t len, cap;
    ssize_t fail_after;
    size_t track_size; /* non-zero: count this download as running from its first byte to its last */
};

/* Downloads between their first and last byte, and the most there ever were at once. */
static int downloads_running, downloads_max;

static void track(struct sink *s, uint64_t len) {
    if (s->len == 0)
        __atomic_add_fetch(&downloads_running, 1, __ATOMIC_SEQ_CST);
    int now = __atomic_load_n(&downloads_running, __ATOMIC_SEQ_CST);
    for (int max = __atomic_load_n(&downloads_max, __ATOMIC_SEQ_CST); now > max;)
        if (__atomic_compare_exchange_n(&downloads_max, &max, now, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            break;
    if (s->len + len == s->track_size)
        __atomic_sub_fetch(&downloads_running, 1, __ATOMIC_SEQ_CST);
}

static int sink_write(void *ctx, const void *data, uint64_t len, struct cleat_error **reterr) {
    struct sink *s = ctx;
    if (s->fail_after >= 0 && s->len + len > (size_t)s->fail_after)
        return error_set(reterr, CLEAT_STATUS_ABORTED, EBADMSG, "the test sink refuses more bytes");
    if (s->track_size) {
        track(s, len);
        usleep(1000); /* a slow consumer, so that downloads overlap */
    }
    if (s->len + len > s->cap) {
        s->cap = (s->len + len) * 2;
        s->data = realloc(s->data, s->cap);
        assert_non_null(s->data);
    }
    memcpy(s->data + s->len, data, len);
    s->len += len;
    return 0;
}

static char *sha256_of(const void *data, size_t len) {
    unsigned char md[32];
    unsigned int n = 0;
    assert_true(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL));
    char *out = malloc(7 + 64 + 1);
    strcpy(out, "sha256:");
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 7 + 2 * i, "%02x", md[i]);
    return out;
}

/* fetch() into `s` starting at `offset` (as if that much was already written). */
static int fetch(struct loaded *l, const char *ref, const struct cleat_auth *auth, const char *media_type,
                 const char *digest, int64_t size, struct sink *s, uint64_t offset, struct cleat_error **reterr) {
    struct cleat_transport_request req = {sizeof(req), ref, auth ? auth : &no_auth};
    struct cleat_descriptor desc = {media_type, digest, size, NULL};
    struct cleat_blob_writer w = {.sink = sink_write, .ctx = s, .offset = offset};
    return l->pi->ops.transport.fetch(l->pi->instance, &req, &desc, &w, reterr);
}

/* Fetch a whole blob and check its digest and size. */
static void fetch_ok(struct loaded *l, const char *ref, const struct cleat_auth *auth, const char *media_type,
                     const char *digest, int64_t size) {
    struct sink s = {.fail_after = -1};
    struct cleat_error *err = NULL;
    if (fetch(l, ref, auth, media_type, digest, size, &s, 0, &err) < 0)
        fail_msg("fetch %s from %s: %s", digest, ref, error_message(err));
    char *got = sha256_of(s.data, s.len);
    assert_string_equal(got, digest);
    assert_int_equal(s.len, size);
    free(got);
    free(s.data);
}

static char *ref_at(int port, const char *tail) {
    char *s = NULL;
    assert_true(asprintf(&s, "127.0.0.1:%d/%s%s", port, fx_get("repo"), tail) > 0);
    return s;
}

#define PLAIN_OPTS "{retries: 0, registries: {\"127.0.0.1:%d\": {insecure: true}}}"

/* ------------------------------------------------------------------------- */
/* the tests                                                                 */

static void test_resolve_by_tag(void **state) {
    struct loaded l = {0};
    load_ok(&l, PLAIN_OPTS, fx_port("plain"));
    char *ref = ref_at(fx_port("plain"), ":t");
    struct result res;
    resolve_ok(&l, ref, NULL, &res);
    /* The digest is what skopeo reported for the push, and the sha256 of the manifest we built. */
    assert_string_equal(res.digest, fx_get("skopeo_digest"));
    assert_string_equal(res.digest, fx_get("manifest_digest"));
    assert_string_equal(res.media_type, "application/vnd.oci.image.manifest.v1+json");
    assert_int_equal(res.size, atoll(fx_get("manifest_size")));
    char *want = NULL;
    assert_true(asprintf(&want, "%s@%s", ref, res.digest) > 0);
    assert_string_equal(res.name, want);
    free(want);
    result_free(&res);

    /* The same image pushed as Docker schema 2 (skopeo --format v2s2). */
    char *docker_ref = ref_at(fx_port("plain"), ":docker");
    resolve_ok(&l, docker_ref, NULL, &res);
    assert_string_equal(res.digest, fx_get("docker_manifest_digest"));
    assert_string_equal(res.media_type, "application/vnd.docker.distribution.manifest.v2+json");
    result_free(&res);
    free(docker_ref);
    free(ref);
    unload(&l);
}

static void test_resolve_by_digest(void **state) {
    struct loaded l = {0};
    load_ok(&l, PLAIN_OPTS, fx_port("plain"));
    char tail[128];
    snprintf(tail, sizeof(tail), "@%s", fx_get("manifest_digest"));
    char *ref = ref_at(fx_port("plain"), tail);
    struct result res;
    resolve_ok(&l, ref, NULL, &res);
    assert_string_equal(res.digest, fx_get("manifest_digest"));
    assert_string_equal(res.name, ref);
    result_free(&res);

    /* The caller's refusal comes back as its code, with an error that says so. */
    struct cleat_transport_request req = {sizeof(req), ref, &no_auth};
    struct cleat_error *err = NULL;
    assert_int_equal(l.pi->ops.transport.resolve(l.pi->instance, &req, refuse_resolved, NULL, &err), -EBUSY);
    assert_non_null(strstr(error_message(err), "the caller did not take"));
    error_free(err);
    free(ref);

    /* tag and digest: the digest wins, the name keeps both */
    snprintf(tail, sizeof(tail), ":whatever@%s", fx_get("manifest_digest"));
    ref = ref_at(fx_port("plain"), tail);
    resolve_ok(&l, ref, NULL, &res);
    assert_string_equal(res.digest, fx_get("manifest_digest"));
    assert_string_equal(res.name, ref);
    result_free(&res);
    free(ref);
    unload(&l);
}

static void test_fetch_manifest_config_and_layer(void **state) {
    struct loaded l = {0};
    load_ok(&l, PLAIN_OPTS, fx_port("plain"));
    char *ref = ref_at(fx_port("plain"), ":t");
    fetch_ok(&l, ref, NULL, "application/vnd.oci.image.manifest.v1+json", fx_get("manifest_digest"),
             atoll(fx_get("manifest_size")));
    fetch_ok(&l, ref, NULL, "application/vnd.oci.image.config.v1+json", fx_get("config_digest"),
             atoll(fx_get("config_size")));
    fetch_ok(&l, ref, NULL, "application/vnd.oci.image.layer.v1.tar+gzip", fx_get("layer_digest"),
             atoll(fx_get("layer_size")));
    free(ref);
    unload(&l);
}

static void test_fetch_resumes_from_offset(void **state) {
    struct loaded l = {0};
    load_ok(&l, PLAIN_OPTS, fx_port("plain"));
    char *ref = ref_at(fx_port("plain"), ":t");
    const char *digest = fx_get("layer_digest");
    int64_t size = atoll(fx_get("layer_size"));
    struct sink whole = {.fail_after = -1}, rest = {.fail_after = -1};
    struct cleat_error *err = NULL;
    assert_int_equal(fetch(&l, ref, NULL, "application/vnd.oci.image.layer.v1.tar+gzip", digest, size, &whole, 0, &err),
                     0);
    /* As if a first attempt had written 100000 bytes: only the rest comes, by Range. */
    const uint64_t offset = 100000;
    if (fetch(&l, ref, NULL, "application/vnd.oci.image.layer.v1.tar+gzip", digest, size, &rest, offset, &err) < 0)
        fail_msg("resumed fetch: %s", error_message(err));
    assert_int_equal(rest.len, (size_t)size - offset);
    unsigned char *joined = malloc((size_t)size);
    memcpy(joined, whole.data, offset);
    memcpy(joined + offset, rest.data, rest.len);
    char *got = sha256_of(joined, (size_t)size);
    assert_string_equal(got, digest);
    free(got);
    free(joined);
    free(whole.data);
    free(rest.data);

    /* An already complete blob is not fetched again. */
    struct sink none = {.fail_after = 0};
    assert_int_equal(fetch(&l, ref, NULL, "application/octet-stream", digest, size, &none, (uint64_t)size, &err), 0);
    free(ref);
    unload(&l);
}

static void test_resume_refused_when_range_is_ignored(void **state) {
    /* FAKE server (registry_fixture.QuirkyServer): it answers 200 with the whole blob to a Range request. */
    struct loaded l = {0};
    load_ok(&l, PLAIN_OPTS, fx_port("quirky"));
    char *ref = ref_at(fx_port("quirky"), ":t");
    const char *digest = fx_get("layer_digest");
    int64_t size = atoll(fx_get("layer_size"));
    struct sink s = {.fail_after = -1};
    struct cleat_error *err = NULL;
    assert_true(fetch(&l, ref, NULL, "application/octet-stream", digest, size, &s, 4096, &err) < 0);
    assert_int_equal(error_status(err), CLEAT_STATUS_UNAVAILABLE);
    assert_non_null(strstr(error_message(err), "ignored the request to resume at byte 4096"));
    assert_int_equal(s.len, 0); /* nothing was appended to the partial blob */
    error_free(err);
    /* From zero the same server is fine. */
    fetch_ok(&l, ref, NULL, "application/octet-stream", digest, size);
    free(ref);
    unload(&l);
}

static void test_resolve_without_head_or_digest_header(void **state) {
    /* FAKE server (registry_fixture.QuirkyServer): HEAD answers 405, GET has no Docker-Content-Digest. */
    struct loaded l = {0};
    load_ok(&l, PLAIN_OPTS, fx_port("quirky"));
    char *ref = ref_at(fx_port("quirky"), ":t");
    struct result res;
    resolve_ok(&l, ref, NULL, &res);
    /* The digest is computed from the body the GET fallback fetched. */
    assert_string_equal(res.digest, fx_get("manifest_digest"));
    assert_string_equal(res.media_type, "application/vnd.oci.image.manifest.v1+json");
    assert_int_equal(res.size, atoll(fx_get("manifest_size")));
    result_free(&res);
    free(ref);
    /* Served as application/json: the media type comes from the manifest itself. */
    ref = ref_at(fx_port("quirky"), ":vague");
    resolve_ok(&l, ref, NULL, &res);
    assert_string_equal(res.digest, fx_get("manifest_digest"));
    assert_string_equal(res.media_type, "application/vnd.oci.image.manifest.v1+json");
    result_free(&res);
    free(ref);
    unload(&l);
}

static void test_not_found(void **state) {
    struct loaded l = {0};
    load_ok(&l, PLAIN_OPTS, fx_port("plain"));
    char *ref = ref_at(fx_port("plain"), ":no-such-tag");
    char *want = NULL;
    assert_true(asprintf(&want, "manifest unknown: %s", ref) > 0);
    resolve_fails(&l, ref, NULL, CLEAT_STATUS_NOT_FOUND, want);
    free(want);
    /* a blob that is not there */
    struct sink s = {.fail_after = -1};
    struct cleat_error *err = NULL;
    const char *missing = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    assert_true(fetch(&l, ref, NULL, "application/octet-stream", missing, 10, &s, 0, &err) < 0);
    assert_int_equal(error_status(err), CLEAT_STATUS_NOT_FOUND);
    assert_non_null(strstr(error_message(err), "blob unknown"));
    error_free(err);
    free(ref);
    unload(&l);
}

static void test_basic_auth(void **state) {
    struct loaded l = {0};
    load_ok(&l, PLAIN_OPTS, fx_port("basic"));
    char *ref = ref_at(fx_port("basic"), ":t");
    struct cleat_auth good = {sizeof(good), fx_get("user"), fx_get("password"), NULL, NULL, NULL, NULL};
    struct result res;
    resolve_ok(&l, ref, &good, &res);
    assert_string_equal(res.digest, fx_get("manifest_digest"));
    result_free(&res);
    fetch_ok(&l, ref, &good, "application/octet-stream", fx_get("layer_digest"), atoll(fx_get("layer_size")));

    /* The CRI `auth` field: base64 "user:password". */
    char plain[256], b64[400];
    int n = snprintf(plain, sizeof(plain), "%s:%s", fx_get("user"), fx_get("password"));
    EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)plain, n);
    struct cleat_auth encoded = {sizeof(encoded), NULL, NULL, b64, NULL, NULL, NULL};
    resolve_ok(&l, ref, &encoded, &res);
    result_free(&res);

    struct cleat_auth bad = {sizeof(bad), fx_get("user"), "wrong", NULL, NULL, NULL, NULL};
    resolve_fails(&l, ref, &bad, CLEAT_STATUS_PERMISSION_DENIED, "authentication required"); /* the registry's words */
    resolve_fails(&l, ref, NULL, CLEAT_STATUS_PERMISSION_DENIED, "requires a username and password");
    free(ref);
    unload(&l);
}

static void test_token_auth(void **state) {
    /* The real docker-registry with `auth: token`, verifying JWTs from the fixture's token server. */
    struct loaded l = {0};
    load_ok(&l, PLAIN_OPTS, fx_port("token"));
    char *ref = ref_at(fx_port("token"), ":t");
    struct cleat_auth good = {sizeof(good), fx_get("user"), fx_get("password"), NULL, NULL, NULL, NULL};
    int before = fx_stat("tokens_issued");
    struct result res;
    resolve_ok(&l, ref, &good, &res);
    assert_string_equal(res.digest, fx_get("manifest_digest"));
    result_free(&res);
    fetch_ok(&l, ref, &good, res.media_type ? res.media_type : "application/vnd.oci.image.manifest.v1+json",
             fx_get("manifest_digest"), atoll(fx_get("manifest_size")));
    fetch_ok(&l, ref, &good, "application/octet-stream", fx_get("layer_digest"), atoll(fx_get("layer_size")));
    /* One token served all three requests: it is cached per (registry, scope, credentials). */
    assert_int_equal(fx_stat("tokens_issued"), before + 1);

    /* Anonymous and wrong credentials do not get that cached token. */
    resolve_fails(&l, ref, NULL, CLEAT_STATUS_PERMISSION_DENIED, "incorrect username or password");
    struct cleat_auth bad = {sizeof(bad), fx_get("user"), "wrong", NULL, NULL, NULL, NULL};
    int refused = fx_stat("tokens_refused");
    resolve_fails(&l, ref, &bad, CLEAT_STATUS_PERMISSION_DENIED, "incorrect username or password");
    assert_int_equal(fx_stat("tokens_refused"), refused + 1); /* a refusal is final: no second try with GET */

    /* An identity token: the OAuth2 refresh_token POST. */
    struct cleat_auth oauth = {sizeof(oauth), NULL, NULL, NULL, NULL, fx_get("identity_token"), NULL};
    resolve_ok(&l, ref, &oauth, &res);
    assert_string_equal(res.digest, fx_get("manifest_digest"));
    result_free(&res);
    struct cleat_auth bad_oauth = {sizeof(bad_oauth), NULL, NULL, NULL, NULL, "not-it", NULL};
    resolve_fails(&l, ref, &bad_oauth, CLEAT_STATUS_PERMISSION_DENIED, "invalid refresh token");

    /* A registry token is sent as is, and a bad one is refused by the registry itself. */
    struct cleat_auth bad_rt = {sizeof(bad_rt), NULL, NULL, NULL, NULL, NULL, "bogus"};
    resolve_fails(&l, ref, &bad_rt, CLEAT_STATUS_PERMISSION_DENIED, "refused the pull's registry token");
    free(ref);
    unload(&l);
}

static void test_tls_with_ca_file(void **state) {
    struct loaded l = {0};
    load_ok(&l, "{retries: 0, registries: {\"127.0.0.1:%d\": {ca_file: %s}}}", fx_port("tls"), fx_get("ca_file"));
    char *ref = ref_at(fx_port("tls"), ":t");
    struct result res;
    resolve_ok(&l, ref, NULL, &res);
    assert_string_equal(res.digest, fx_get("manifest_digest"));
    result_free(&res);
    fetch_ok(&l, ref, NULL, "application/octet-stream", fx_get("layer_digest"), atoll(fx_get("layer_size")));
    unload(&l);

    /* Without the CA the certificate is not trusted. */
    load_ok(&l, "{retries: 0}");
    resolve_fails(&l, ref, NULL, CLEAT_STATUS_UNAVAILABLE, "set ca_file");
    unload(&l);
    free(ref);
}

/* The sockets of this process that are not close-on-exec, and how many sockets there are. */
static int sockets_open_on_exec(int *ret_total) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    struct dirent *de;
    int bad = 0;
    *ret_total = 0;
    while ((de = readdir(d))) {
        char path[300], link[64];
        int fd = atoi(de->d_name);
        snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
        ssize_t n = readlink(path, link, sizeof(link) - 1);
        if (de->d_name[0] == '.' || fd == dirfd(d) || n < 7 || strncmp(link, "socket:", 7) != 0)
            continue;
        (*ret_total)++;
        bad += !(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    }
    closedir(d);
    return bad;
}

/* The connection libcurl keeps for the next request is close-on-exec: a child the daemon starts must not get it. */
static void test_connections_are_close_on_exec(void **state) {
    struct loaded l = {0};
    int before, after;
    assert_int_equal(sockets_open_on_exec(&before), 0);
    load_ok(&l, "{retries: 0, registries: {\"127.0.0.1:%d\": {ca_file: %s}}}", fx_port("tls"), fx_get("ca_file"));
    char *ref = ref_at(fx_port("tls"), ":t");
    struct result res;
    resolve_ok(&l, ref, NULL, &res);
    result_free(&res);
    assert_int_equal(sockets_open_on_exec(&after), 0);
    assert_true(after > before); /* the cached connection */
    unload(&l);
    free(ref);
}

static void test_tls_client_certificate(void **state) {
    struct loaded l = {0};
    load_ok(&l, "{retries: 0, registries: {\"127.0.0.1:%d\": {ca_file: %s, cert_file: %s, key_file: %s}}}",
            fx_port("mtls"), fx_get("ca_file"), fx_get("client_cert"), fx_get("client_key"));
    char *ref = ref_at(fx_port("mtls"), ":t");
    struct result res;
    resolve_ok(&l, ref, NULL, &res);
    assert_string_equal(res.digest, fx_get("manifest_digest"));
    result_free(&res);
    unload(&l);
    /* The registry wants a client certificate. */
    load_ok(&l, "{retries: 0, registries: {\"127.0.0.1:%d\": {ca_file: %s}}}", fx_port("mtls"), fx_get("ca_file"));
    resolve_fails(&l, ref, NULL, CLEAT_STATUS_UNAVAILABLE, "127.0.0.1");
    unload(&l);
    free(ref);
}

static void test_plain_http_only_when_insecure(void **state) {
    struct loaded l = {0};
    load_ok(&l, "{retries: 0}");
    char *ref = ref_at(fx_port("plain"), ":t");
    /* https to a plain http registry fails; the message says how to allow plain http. */
    resolve_fails(&l, ref, NULL, CLEAT_STATUS_UNAVAILABLE, "set insecure: true");
    free(ref);
    unload(&l);
}

static void test_registry_down(void **state) {
    struct loaded l = {0};
    load_ok(&l, "{retries: 2, connect_timeout_seconds: 2, registries: {\"127.0.0.1:%d\": {insecure: true}}}",
            fx_port("dead"));
    char *ref = ref_at(fx_port("dead"), ":t");
    /* 3 attempts with 200 + 400 ms of back-off between them. */
    double took = resolve_fails(&l, ref, NULL, CLEAT_STATUS_UNAVAILABLE, "gave up after 3 attempts");
    assert_true(took >= 0.55);
    assert_true(took < 5.0);
    free(ref);
    unload(&l);
}

static void test_stalled_registry(void **state) {
    /* FAKE server (registry_fixture.StallServer): it accepts connections and never answers. */
    struct loaded l = {0};
    load_ok(&l, "{retries: 1, stall_timeout_seconds: 1, registries: {\"127.0.0.1:%d\": {insecure: true}}}",
            fx_port("stall"));
    char *ref = ref_at(fx_port("stall"), ":t");
    double took = resolve_fails(&l, ref, NULL, CLEAT_STATUS_UNAVAILABLE, "gave up after 2 attempts");
    assert_true(took < 8.0);
    free(ref);
    unload(&l);
}

static void test_mirrors(void **state) {
    struct loaded l = {0};
    /* A dead mirror, then a mirror that wants credentials (mirrors are asked anonymously): both fall through. */
    load_ok(&l,
            "{retries: 0, registries: {\"127.0.0.1:%d\": {insecure: true, mirrors: [\"http://127.0.0.1:%d\", "
            "\"http://127.0.0.1:%d/\"]}}}",
            fx_port("plain"), fx_port("dead"), fx_port("basic"));
    char *ref = ref_at(fx_port("plain"), ":t");
    struct result res;
    resolve_ok(&l, ref, NULL, &res);
    assert_string_equal(res.digest, fx_get("manifest_digest"));
    result_free(&res);
    fetch_ok(&l, ref, NULL, "application/octet-stream", fx_get("layer_digest"), atoll(fx_get("layer_size")));
    free(ref);
    unload(&l);

    /* A registry that is down, served by its mirror (over TLS, with the mirror's own ca_file). */
    load_ok(&l,
            "{retries: 0, registries: {\"127.0.0.1:%d\": {mirrors: [\"https://127.0.0.1:%d\"]}, "
            "\"127.0.0.1:%d\": {ca_file: %s}}}",
            fx_port("dead"), fx_port("tls"), fx_port("tls"), fx_get("ca_file"));
    ref = ref_at(fx_port("dead"), ":t");
    resolve_ok(&l, ref, NULL, &res);
    assert_string_equal(res.digest, fx_get("manifest_digest"));
    result_free(&res);
    fetch_ok(&l, ref, NULL, "application/octet-stream", fx_get("config_digest"), atoll(fx_get("config_size")));
    /* A tag no endpoint has: the registry's (here: unreachable) answer is the one reported. */
    char *missing = ref_at(fx_port("dead"), ":no-such-tag");
    resolve_fails(&l, missing, NULL, CLEAT_STATUS_UNAVAILABLE, "Could");
    free(missing);
    free(ref);
    unload(&l);
}

/* Hand the loaded instance new options (as a SIGHUP reload does); the tree is freed before any later call. */
static int reconfigure(struct loaded *l, const char *options, struct cleat_error **reterr) {
    struct cleat_config *tree = NULL;
    struct cleat_error *err = NULL;
    char *text = NULL;
    assert_true(asprintf(&text, "options: %s\n", options) > 0);
    OK(config_tree_parse_string("reload.yaml", text, strlen(text), &tree, &err));
    free(text);
    int r = plugin_transport_reconfigure(l->pi, config_get0(tree, "options"), reterr);
    config_tree_free(tree); /* "valid for the call only": the plugin must have copied what it keeps */
    return r;
}

static void test_reconfigure(void **state) {
    struct loaded l = {0};
    struct cleat_error *err = NULL;
    char *opts = NULL;
    load_ok(&l, "{retries: 0, registries: {\"127.0.0.1:%d\": {insecure: true}}}", fx_port("dead"));
    char *ref = ref_at(fx_port("dead"), ":t");
    resolve_fails(&l, ref, NULL, CLEAT_STATUS_UNAVAILABLE, "Could");

    /* A mirror for the dead registry: calls from now on go through it. */
    assert_true(asprintf(&opts, "{retries: 0, registries: {\"127.0.0.1:%d\": {mirrors: [\"http://127.0.0.1:%d\"]}}}",
                         fx_port("dead"), fx_port("plain")) > 0);
    OK(reconfigure(&l, opts, &err));
    free(opts);
    struct result res;
    resolve_ok(&l, ref, NULL, &res);
    assert_string_equal(res.digest, fx_get("manifest_digest"));
    result_free(&res);
    fetch_ok(&l, ref, NULL, "application/octet-stream", fx_get("layer_digest"), atoll(fx_get("layer_size")));

    /* Options the plugin refuses (a CA file that cannot be read): an error naming it, the mirror stays. */
    assert_true(asprintf(&opts,
                         "{registries: {\"127.0.0.1:%d\": {mirrors: [\"https://127.0.0.1:%d\"]}, "
                         "\"127.0.0.1:%d\": {ca_file: /nonexistent/ca.pem}}}",
                         fx_port("dead"), fx_port("tls"), fx_port("tls")) > 0);
    expect_error(reconfigure(&l, opts, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "/nonexistent/ca.pem");
    free(opts);
    resolve_ok(&l, ref, NULL, &res);
    result_free(&res);

    /* Back to no mirror: refused again. */
    assert_true(asprintf(&opts, "{retries: 0, registries: {\"127.0.0.1:%d\": {insecure: true}}}", fx_port("dead")) > 0);
    OK(reconfigure(&l, opts, &err));
    free(opts);
    resolve_fails(&l, ref, NULL, CLEAT_STATUS_UNAVAILABLE, "Could");
    free(ref);
    unload(&l);
}

static void test_redirect_does_not_leak_credentials(void **state) {
    /* FAKE server (registry_fixture.RedirectServer): 127.0.0.1 redirects the blob to "storage" at localhost. */
    struct loaded l = {0};
    load_ok(&l, PLAIN_OPTS, fx_port("redirect"));
    char *ref = ref_at(fx_port("redirect"), ":t");
    int hits = fx_stat("redirect_storage_hits");
    /* A registry token is sent from the first request on, so the registry sees an Authorization... */
    struct cleat_auth token = {sizeof(token), NULL, NULL, NULL, NULL, NULL, "a-registry-token"};
    fetch_ok(&l, ref, &token, "application/octet-stream", fx_get("layer_digest"), atoll(fx_get("layer_size")));
    assert_int_equal(fx_stat("redirect_storage_hits"), hits + 1);
    assert_true(fx_stat("redirect_auth_at_registry") >= 1);
    /* ...and the storage host, another name, never does. */
    assert_int_equal(fx_stat("redirect_auth_at_storage"), 0);
    free(ref);
    unload(&l);
}

struct worker {
    struct loaded *l;
    const char *ref;
    int ok;
};

static void *fetch_thread(void *arg) {
    struct worker *w = arg;
    int64_t size = atoll(fx_get("layer_size"));
    struct sink s = {.fail_after = -1, .track_size = (size_t)size};
    struct cleat_error *err = NULL;
    const char *digest = fx_get("layer_digest");
    if (fetch(w->l, w->ref, NULL, "application/octet-stream", digest, size, &s, 0, &err) == 0) {
        char *got = sha256_of(s.data, s.len);
        w->ok = strcmp(got, digest) == 0;
        free(got);
    } else {
        fprintf(stderr, "concurrent fetch: %s\n", error_message(err));
        error_free(err);
    }
    free(s.data);
    return NULL;
}

static void test_concurrent_fetches(void **state) {
    struct loaded l = {0};
    load_ok(&l, "{max_concurrent_downloads: 2, registries: {\"127.0.0.1:%d\": {ca_file: %s}}}", fx_port("tls"),
            fx_get("ca_file"));
    char *ref = ref_at(fx_port("tls"), ":t");
    pthread_t t[6];
    struct worker w[6];
    for (int i = 0; i < 6; i++) {
        w[i] = (struct worker){&l, ref, 0};
        assert_int_equal(pthread_create(&t[i], NULL, fetch_thread, &w[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        assert_true(w[i].ok);
    }
    /* max_concurrent_downloads held: never more than 2 downloads at once (and they did overlap). */
    print_message("    (at most %d downloads at once)\n", downloads_max);
    assert_int_equal(downloads_max, 2);
    free(ref);
    unload(&l);
}

static void test_writer_refusal_is_final(void **state) {
    struct loaded l = {0};
    load_ok(&l, "{retries: 3, registries: {\"127.0.0.1:%d\": {insecure: true, mirrors: [\"http://127.0.0.1:%d\"]}}}",
            fx_port("plain"), fx_port("plain"));
    char *ref = ref_at(fx_port("plain"), ":t");
    struct sink s = {.fail_after = 1000};
    struct cleat_error *err = NULL;
    assert_true(fetch(&l, ref, NULL, "application/octet-stream", fx_get("layer_digest"), atoll(fx_get("layer_size")),
                      &s, 0, &err) < 0);
    /* The host's own error comes back: not retried, not tried on the next endpoint. */
    assert_int_equal(error_status(err), CLEAT_STATUS_ABORTED);
    assert_non_null(strstr(error_message(err), "the test sink refuses more bytes"));
    error_free(err);
    free(s.data);
    free(ref);
    unload(&l);
}

static void expect_bad_options(const char *options, const char *needle) {
    struct loaded l = {0};
    struct cleat_error *err = NULL;
    assert_true(load(&l, options, &err) < 0);
    if (!strstr(error_message(err), needle) || !strstr(error_message(err), "test.yaml:"))
        fail_msg("options %s: expected '%s' at a test.yaml location, got: %s", options, needle, error_message(err));
    assert_int_equal(error_status(err), CLEAT_STATUS_INVALID_ARGUMENT);
    error_free(err);
}

static void test_bad_options(void **state) {
    expect_bad_options("{retires: 3}", "unknown key 'retires'");
    expect_bad_options("{retries: 99}", "retries");
    expect_bad_options("{registries: {\"r.example\": {insecure: maybe}}}", "insecure");
    expect_bad_options("{registries: {\"r.example\": {mirror: [\"https://m\"]}}}", "unknown key 'mirror'");
    expect_bad_options("{registries: {\"r.example\": {mirrors: [\"ftp://m\"]}}}", "mirror must be an http");
    expect_bad_options("{registries: {\"r.example\": {ca_file: /no/such/ca.pem}}}", "cannot be read");
    expect_bad_options("{registries: {\"r.example\": {key_file: /etc/hostname}}}", "needs a cert_file");
    expect_bad_options("{registries: {\"https://r.example\": {}}}", "host[:port]");
}

static void test_bad_references(void **state) {
    struct loaded l = {0};
    load_ok(&l, "{retries: 0}");
    resolve_fails(&l, "busybox", NULL, CLEAT_STATUS_INVALID_ARGUMENT, "no registry domain");
    resolve_fails(&l, "r.example/Upper/case:t", NULL, CLEAT_STATUS_INVALID_ARGUMENT, "repository name");
    resolve_fails(&l, "r.example/a/../b:t", NULL, CLEAT_STATUS_INVALID_ARGUMENT, "repository name");
    resolve_fails(&l, "r.example/a/b:t?x", NULL, CLEAT_STATUS_INVALID_ARGUMENT, "tag");
    resolve_fails(&l, "r.example/a@sha256:abc", NULL, CLEAT_STATUS_INVALID_ARGUMENT, "digest");
    struct sink s = {.fail_after = -1};
    struct cleat_error *err = NULL;
    assert_true(fetch(&l, "r.example/a:t", NULL, "application/octet-stream", "sha256:../../etc", 1, &s, 0, &err) < 0);
    assert_int_equal(error_status(err), CLEAT_STATUS_INVALID_ARGUMENT);
    error_free(err);
    unload(&l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve_by_tag),
        cmocka_unit_test(test_resolve_by_digest),
        cmocka_unit_test(test_fetch_manifest_config_and_layer),
        cmocka_unit_test(test_fetch_resumes_from_offset),
        cmocka_unit_test(test_resume_refused_when_range_is_ignored),
        cmocka_unit_test(test_resolve_without_head_or_digest_header),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_basic_auth),
        cmocka_unit_test(test_token_auth),
        cmocka_unit_test(test_tls_with_ca_file),
        cmocka_unit_test(test_connections_are_close_on_exec),
        cmocka_unit_test(test_tls_client_certificate),
        cmocka_unit_test(test_plain_http_only_when_insecure),
        cmocka_unit_test(test_registry_down),
        cmocka_unit_test(test_stalled_registry),
        cmocka_unit_test(test_mirrors),
        cmocka_unit_test(test_reconfigure),
        cmocka_unit_test(test_redirect_does_not_leak_credentials),
        cmocka_unit_test(test_concurrent_fetches),
        cmocka_unit_test(test_writer_refusal_is_final),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_bad_references),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
