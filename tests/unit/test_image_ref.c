/* SPDX-License-Identifier: Apache-2.0 */
/* Image reference parsing and normalisation, table-driven (cases after distribution/reference's tests). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "image_ref.h"

#define HEX "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define DGST "sha256:" HEX

struct valid_case {
    const char *in;
    const char *string; /* image_ref_string */
    const char *domain, *path, *tag, *digest;
};

static const struct valid_case valid[] = {
    {"busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", NULL},
    {"busybox:1.36", "docker.io/library/busybox:1.36", "docker.io", "library/busybox", "1.36", NULL},
    {"library/busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", NULL},
    {"docker.io/busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", NULL},
    {"docker.io/library/busybox:musl", "docker.io/library/busybox:musl", "docker.io", "library/busybox", "musl", NULL},
    {"index.docker.io/busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", NULL},
    {"index.docker.io/user/app:v2", "docker.io/user/app:v2", "docker.io", "user/app", "v2", NULL},
    {"user/x", "docker.io/user/x:latest", "docker.io", "user/x", "latest", NULL},
    {"user/x/y/z:v1", "docker.io/user/x/y/z:v1", "docker.io", "user/x/y/z", "v1", NULL},
    {"localhost/foo", "localhost/foo:latest", "localhost", "foo", "latest", NULL},
    {"localhost:5000/foo/bar:tag", "localhost:5000/foo/bar:tag", "localhost:5000", "foo/bar", "tag", NULL},
    {"localhost:5000", "docker.io/library/localhost:5000", "docker.io", "library/localhost", "5000", NULL},
    {"localhost", "docker.io/library/localhost:latest", "docker.io", "library/localhost", "latest", NULL},
    {"quay.io/coreos/etcd:v3.5.0", "quay.io/coreos/etcd:v3.5.0", "quay.io", "coreos/etcd", "v3.5.0", NULL},
    {"registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9", "registry.k8s.io", "pause", "3.9", NULL},
    {"gcr.io/distroless/static@" DGST, "gcr.io/distroless/static@" DGST, "gcr.io", "distroless/static", NULL, DGST},
    {"busybox@" DGST, "docker.io/library/busybox@" DGST, "docker.io", "library/busybox", NULL, DGST},
    {"busybox:1@" DGST, "docker.io/library/busybox:1@" DGST, "docker.io", "library/busybox", "1", DGST},
    {"[::1]:5000/foo", "[::1]:5000/foo:latest", "[::1]:5000", "foo", "latest", NULL},
    {"[fe80::1]/foo:x", "[fe80::1]/foo:x", "[fe80::1]", "foo", "x", NULL},
    {"192.168.1.1:5000/x", "192.168.1.1:5000/x:latest", "192.168.1.1:5000", "x", "latest", NULL},
    {"localhost:65535/x", "localhost:65535/x:latest", "localhost:65535", "x", "latest", NULL},
    {"my-registry.example.com:443/team/app:1.0-rc.1", "my-registry.example.com:443/team/app:1.0-rc.1",
     "my-registry.example.com:443", "team/app", "1.0-rc.1", NULL},
    {"Example.COM/x", "Example.COM/x:latest", "Example.COM", "x", "latest", NULL},
    {"a.b/c", "a.b/c:latest", "a.b", "c", "latest", NULL},
    {"foo_bar", "docker.io/library/foo_bar:latest", "docker.io", "library/foo_bar", "latest", NULL},
    {"foo__bar", "docker.io/library/foo__bar:latest", "docker.io", "library/foo__bar", "latest", NULL},
    {"foo.bar", "docker.io/library/foo.bar:latest", "docker.io", "library/foo.bar", "latest", NULL},
    {"foo-bar", "docker.io/library/foo-bar:latest", "docker.io", "library/foo-bar", "latest", NULL},
    {"foo---bar", "docker.io/library/foo---bar:latest", "docker.io", "library/foo---bar", "latest", NULL},
    {"a/b.c_d__e-f--g/h", "docker.io/a/b.c_d__e-f--g/h:latest", "docker.io", "a/b.c_d__e-f--g/h", "latest", NULL},
    {"x:_tag", "docker.io/library/x:_tag", "docker.io", "library/x", "_tag", NULL},
    {"x:Tag-1.2_3", "docker.io/library/x:Tag-1.2_3", "docker.io", "library/x", "Tag-1.2_3", NULL},
    {"0/1", "docker.io/0/1:latest", "docker.io", "0/1", "latest", NULL},
    {"123abc", "docker.io/library/123abc:latest", "docker.io", "library/123abc", "latest", NULL},
};

static const char *const invalid[] = {
    "",
    "Busybox",
    "user/Upper",
    "FOO/bar", /* not a domain (no '.', ':' or localhost), so repository "FOO/bar": uppercase */
    ":tag",
    "busybox:",
    "busybox:-tag",
    "busybox:.tag",
    "busybox:ta/g",
    "busybox@sha256:abc",
    "busybox@md5:d41d8cd98f00b204e9800998ecf8427e",
    "busybox@",
    "busybox@" DGST "@" DGST,
    "@" DGST,
    "foo//bar",
    "/foo",
    "foo/",
    "foo..bar",
    "foo___bar",
    "foo._bar",
    "-foo",
    "foo-",
    "foo_",
    "_foo",
    ".foo",
    HEX, /* an image ID */
    "foo bar",
    "foo\tbar",
    "host.com:abc/x",
    "localhost:/x",
    "localhost:5000:6000/x",
    "localhost:65536/x",           /* no such port; the registry transport would refuse it with a vaguer message */
    "19lolo502.1.01.0:6000500/0x", /* found by fuzz/fuzz_image_ref.c */
    "localhost:000005000/x",
    "[::1/x",
    "[]:5000/x",
    "[::g]/x",
    "ex-.com/x",
    "-ex.com/x",
    "ex..com/x",
    "a/b:c:d",
    "docker.io/",
    "quay.io/",
    "a/b/c@sha256:" HEX "0",
    "émoji",
};

static void test_valid(void **state) {
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        const struct valid_case *c = &valid[i];
        struct cleat_error *err = NULL;
        struct image_ref *ref = NULL;
        char *s;

        if (image_ref_parse(c->in, &ref, &err) < 0)
            fail_msg("'%s': %s", c->in, error_message(err));
        s = image_ref_string(ref);
        if (strcmp(s, c->string) != 0)
            fail_msg("'%s' → '%s', expected '%s'", c->in, s, c->string);
        free(s);
        assert_string_equal(ref->domain, c->domain);
        assert_string_equal(ref->path, c->path);
        if (c->tag)
            assert_string_equal(ref->tag, c->tag);
        else
            assert_null(ref->tag);
        if (c->digest)
            assert_string_equal(ref->digest, c->digest);
        else
            assert_null(ref->digest);
        image_ref_free(ref);
    }
}

static void test_invalid(void **state) {
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        struct cleat_error *err = NULL;
        struct image_ref *ref = NULL;
        int r = image_ref_parse(invalid[i], &ref, &err);

        if (r >= 0)
            fail_msg("'%s' accepted as '%s/%s'", invalid[i], ref->domain, ref->path);
        assert_int_equal(r, -EINVAL);
        assert_null(ref);
        assert_non_null(err);
        assert_int_equal(error_status(err), CLEAT_STATUS_INVALID_ARGUMENT);
        error_free(err);
    }
    assert_true(image_ref_parse(NULL, NULL, NULL) < 0);
}

static void expect_message(const char *in, const char *needle) {
    struct cleat_error *err = NULL;
    struct image_ref *ref = NULL;

    assert_true(image_ref_parse(in, &ref, &err) < 0);
    if (!strstr(error_message(err), needle))
        fail_msg("'%s': expected '%s' in: %s", in, needle, error_message(err));
    error_free(err);
}

static void test_messages(void **state) {
    expect_message("Busybox", "repository name 'library/Busybox' must be lowercase");
    expect_message("busybox:-x", "tag '-x'");
    expect_message("busybox@sha256:abc", "invalid digest 'sha256:abc'");
    expect_message("busybox@sha256:abc", "image reference 'busybox@sha256:abc'");
    expect_message(HEX, "image ID");
    expect_message("host.com:abc/x", "'host.com:abc' is not a valid registry host[:port]");
    expect_message("localhost:65536/x", "'localhost:65536' is not a valid registry host[:port]");
    expect_message("foo..bar", "invalid image reference 'foo..bar'");
    expect_message("", "empty image reference");
}

static void test_lengths(void **state) {
    char tag[140], name[300];
    struct cleat_error *err = NULL;
    struct image_ref *ref = NULL;

    memset(tag, 'a', 128);
    snprintf(name, sizeof(name), "x:%.128s", tag);
    assert_int_equal(image_ref_parse(name, &ref, &err), 0);
    image_ref_free(ref);
    snprintf(name, sizeof(name), "x:%.128sa", tag); /* 129 */
    expect_message(name, "tag");

    /* docker.io/ + path: 255 in all is fine, 256 is not. */
    memset(name, 'a', sizeof(name));
    memcpy(name, "docker.io/a/", 12);
    name[255] = '\0';
    assert_int_equal(image_ref_parse(name, &ref, &err), 0);
    image_ref_free(ref);
    name[255] = 'a';
    name[256] = '\0';
    expect_message(name, "more than 255");
    /* "library/" counts: a 246-character official name is 10 + 8 + 246 = 264. */
    memset(name, 'b', 246);
    name[246] = '\0';
    expect_message(name, "more than 255");
}

static void test_forms(void **state) {
    struct cleat_error *err = NULL;
    struct image_ref *ref = NULL;
    char *s;

    assert_int_equal(image_ref_parse("busybox:1.36@" DGST, &ref, &err), 0);
    s = image_ref_name(ref);
    assert_string_equal(s, "docker.io/library/busybox");
    free(s);
    s = image_ref_tagged(ref);
    assert_string_equal(s, "docker.io/library/busybox:1.36");
    free(s);
    s = image_ref_digested(ref, "sha256:" HEX);
    assert_string_equal(s, "docker.io/library/busybox@" DGST);
    free(s);
    image_ref_free(ref);

    assert_int_equal(image_ref_parse("quay.io/a/b@" DGST, &ref, &err), 0);
    assert_null(image_ref_tagged(ref));
    image_ref_free(ref);
    image_ref_free(NULL);
}

struct scheme_case {
    const char *in, *scheme, *rest;
};

static const struct scheme_case schemes[] = {
    {"oci:/x", "oci", "/x"},
    {"oci-archive:/f.tar:t", "oci-archive", "/f.tar:t"},
    {"oci-archive:/f.tar", "oci-archive", "/f.tar"},
    {"docker://busybox", "docker", "//busybox"},
    {"oci:foo/bar", "oci", "foo/bar"},
    {"a+b.c-d:/x", "a+b.c-d", "/x"},
    {"busybox", "", NULL},
    {"busybox:latest", "", NULL},
    {"oci:layout", "", NULL}, /* a valid docker reference wins */
    {"localhost:5000/x", "", NULL},
    {"host:5000/a:b", "", NULL},
    {"localhost:5000/BAD", "", NULL}, /* host:port, not a scheme: the parser will say what is wrong */
    {"docker.io/library/busybox:1", "", NULL},
    {"registry.example.com:5000/x", "", NULL},
    {"Oci:/x", "", NULL},
    {"1oci:/x", "", NULL},
    {":x", "", NULL},
    {"", "", NULL},
};

static void test_split_scheme(void **state) {
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        const struct scheme_case *c = &schemes[i];
        char *scheme = NULL;
        const char *rest = NULL;

        assert_int_equal(image_ref_split_scheme(c->in, &scheme, &rest), 0);
        if (strcmp(scheme, c->scheme) != 0)
            fail_msg("'%s': scheme '%s', expected '%s'", c->in, scheme, c->scheme);
        if (c->rest)
            assert_string_equal(rest, c->rest);
        else
            assert_ptr_equal(rest, c->in);
        free(scheme);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),   cmocka_unit_test(test_invalid), cmocka_unit_test(test_messages),
        cmocka_unit_test(test_lengths), cmocka_unit_test(test_forms),   cmocka_unit_test(test_split_scheme),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
