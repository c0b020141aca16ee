/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of core/config/config_tree.c (parse, merge, emit, accessors) and core/config/config.c (schema, loading). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, open_memstream, asprintf, nftw */
#endif

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <cleat/plugin.h>

#include "config.h"
#include "config_tree.h"
#include "error.h"
#include "testutil.h"

#ifndef CLEAT_TEST_DATA_DIR
#define CLEAT_TEST_DATA_DIR "tests/unit" /* CMake sets the absolute path; this serves a run from the source root */
#endif

/* ------------------------------------------------------------------------- */
/* helpers                                                                   */

static struct cleat_config *parse(const char *text) {
    struct cleat_config *t = NULL;
    struct cleat_error *err = NULL;
    int r = config_tree_parse_string("t.yaml", text, strlen(text), &t, &err);
    if (r < 0)
        fail_msg("unexpected parse error: %s", error_message(err));
    assert_non_null(t);
    assert_null(err);
    return t;
}

/* Parses `text`, which must fail with INVALID_ARGUMENT, and checks the message. */
static void assert_parse_error(const char *text, const char *message) {
    struct cleat_config *t = NULL;
    struct cleat_error *err = NULL;
    assert_int_equal(config_tree_parse_string("t.yaml", text, strlen(text), &t, &err), -EINVAL);
    assert_null(t);
    assert_non_null(err);
    assert_int_equal(error_status(err), CLEAT_STATUS_INVALID_ARGUMENT);
    assert_string_equal(error_message(err), message);
    error_free(err);
}

static void assert_tree(const struct cleat_config *t, const char *expected_yaml) {
    struct cleat_config *e = parse(expected_yaml);
    if (!config_tree_equal(t, e)) {
        char *got = config_tree_to_json(t), *want = config_tree_to_json(e);
        print_error("got  %s\nwant %s\n", got, want);
        free(got);
        free(want);
        config_tree_free(e);
        fail();
    }
    config_tree_free(e);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int setup_dir(void **state) {
    char tmpl[] = "/tmp/cleat-test-config-XXXXXX";
    if (!mkdtemp(tmpl))
        return -1;
    *state = strdup(tmpl);
    return *state ? 0 : -1;
}

static int teardown_dir(void **state) {
    int r = nftw(*state, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(*state);
    return r;
}

/* Writes `text` to dir/name (creating dir/sub if name has one) and returns the malloc'd path. */
static char *write_file(const char *dir, const char *name, const char *text) {
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdir(path, 0755); /* may exist */
    *slash = '/';
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return path;
}

static char *path_in(const char *dir, const char *name) {
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    return path;
}

/* Loads dir/main.yaml written from `text`, with drop-ins from dir/d.  Returns the error message or NULL. */
static char *load_text(const char *dir, const char *text, struct config **ret) {
    char *main_path = write_file(dir, "main.yaml", text), *dropins = path_in(dir, "d");
    struct cleat_error *err = NULL;
    char *msg = NULL;
    *ret = NULL;
    int r = config_load(main_path, dropins, ret, &err);
    if (r < 0) {
        assert_int_equal(r, -EINVAL);
        assert_int_equal(error_status(err), CLEAT_STATUS_INVALID_ARGUMENT);
        msg = strdup(error_message(err));
        assert_null(*ret);
    } else {
        assert_null(err);
    }
    error_free(err);
    free(main_path);
    free(dropins);
    return msg;
}

/* The expected message with every "%1$s" replaced by the main file's path. */
static char *expand(const char *dir, const char *fmt) {
    char *main_path = path_in(dir, "main.yaml"), *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    for (const char *p = fmt; *p; p++) {
        if (p[0] == '%' && p[1] == '1' && p[2] == '$' && p[3] == 's') {
            fputs(main_path, f);
            p += 3;
        } else {
            fputc(*p, f);
        }
    }
    fclose(f);
    free(main_path);
    return out;
}

static void assert_load_error(const char *dir, const char *text, const char *expected_fmt) {
    struct config *c = NULL;
    char *msg = load_text(dir, text, &c);
    char *want = expand(dir, expected_fmt);
    if (!msg)
        fail_msg("loading succeeded, expected: %s", want);
    assert_string_equal(msg, want);
    free(msg);
    free(want);
}

/* ------------------------------------------------------------------------- */
/* parsing                                                                   */

static void test_parse_scalars_and_nulls(void **state) {
    (void)state;
    struct cleat_config *t = parse("a: ~\nb: 'null'\nc:\nd: \"\"\ne: NULL\nf: 8\ng: |\n  text\n");
    assert_int_equal(config_kind(config_get0(t, "a")), CLEAT_CONFIG_NULL);
    assert_int_equal(config_kind(config_get0(t, "b")), CLEAT_CONFIG_SCALAR);
    assert_string_equal(config_scalar0(config_get0(t, "b")), "null");
    assert_int_equal(config_kind(config_get0(t, "c")), CLEAT_CONFIG_NULL);
    assert_string_equal(config_scalar0(config_get0(t, "d")), "");
    assert_int_equal(config_kind(config_get0(t, "e")), CLEAT_CONFIG_NULL);
    assert_string_equal(config_scalar0(config_get0(t, "f")), "8");
    assert_string_equal(config_scalar0(config_get0(t, "g")), "text\n");
    assert_int_equal(config_kind(config_get0(t, "zz")), CLEAT_CONFIG_ABSENT);
    config_tree_free(t);
}

static void test_parse_empty(void **state) {
    (void)state;
    const char *texts[] = {"", "# only a comment\n", "---\n", "{}\n"};
    for (size_t i = 0; i < 4; i++) {
        struct cleat_config *t = parse(texts[i]);
        assert_int_equal(config_kind(t), CLEAT_CONFIG_MAP);
        assert_int_equal(config_count(t), 0);
        config_tree_free(t);
    }
}

static void test_parse_locations(void **state) {
    (void)state;
    char buf[64];
    struct cleat_config *t = parse("top: 1\nmap:\n  key: value\nlist:\n  - a\n  - b\n");
    const struct cleat_config *map = config_get0(t, "map");
    assert_int_equal(config_where(config_get0(map, "key"), buf, sizeof(buf)), strlen("t.yaml:3:8"));
    assert_string_equal(buf, "t.yaml:3:8");
    config_where(config_tree_key_at(map, 0), buf, sizeof(buf));
    assert_string_equal(buf, "t.yaml:3:3");
    config_where(config_at0(config_get0(t, "list"), 1), buf, sizeof(buf));
    assert_string_equal(buf, "t.yaml:6:5");
    /* Keys keep file order. */
    assert_string_equal(config_key0(t, 0), "top");
    assert_string_equal(config_key0(t, 1), "map");
    assert_string_equal(config_key0(t, 2), "list");
    config_tree_free(t);
}

static void test_parse_syntax_errors(void **state) {
    (void)state;
    assert_parse_error("a: [1, 2\nb: 3\n", "t.yaml:2:2: did not find expected ',' or ']' "
                                           "(while parsing a flow sequence that started at line 1, column 4)");
    assert_parse_error("a: b\n c: d\n", "t.yaml:2:3: mapping values are not allowed in this context");
    assert_parse_error("a:\n  b: 1\n c: 2\n", "t.yaml:3:2: did not find expected key "
                                              "(while parsing a block mapping that started at line 1, column 1)");
    /* A reader error only has a byte offset; the column counts characters. */
    assert_parse_error("a: \"\xc3\xa9\xff\"\n", "t.yaml:1:6: invalid leading UTF-8 octet");
}

static void test_parse_refusals(void **state) {
    (void)state;
    assert_parse_error("a: 1\nb:\n  x: 1\n  x: 2\n", "t.yaml:4:3: duplicate key 'x' (first at line 3, column 3)");
    assert_parse_error("a: &x 1\n", "t.yaml:1:4: anchors (&x) are not supported");
    assert_parse_error("a: *x\n", "t.yaml:1:4: aliases (*x) are not supported");
    assert_parse_error("a: !!str 5\n", "t.yaml:1:4: tags (tag:yaml.org,2002:str) are not supported");
    assert_parse_error("a: !foo {}\n", "t.yaml:1:4: tags (!foo) are not supported");
    assert_parse_error("? [a]\n: 1\n", "t.yaml:1:3: a key must be a scalar, not a list");
    assert_parse_error("{a: 1}: 1\n", "t.yaml:1:1: a key must be a scalar, not a map");
    assert_parse_error("~: 1\n", "t.yaml:1:1: a key must not be null (quote it to use the text)");
    assert_parse_error("- a\n", "t.yaml:1:1: the top level must be a map, not a list");
    assert_parse_error("just text\n", "t.yaml:1:1: the top level must be a map, not a scalar value");
    assert_parse_error("a: 1\n---\nb: 2\n", "t.yaml:2:1: only one YAML document is allowed");
    assert_parse_error("a: \"x\\0y\"\n", "t.yaml:1:4: NUL characters are not allowed");
}

static void test_parse_depth_limit(void **state) {
    (void)state;
    char text[256] = "a: ";
    for (int i = 0; i < 70; i++)
        strcat(text, "[");
    assert_parse_error(text, "t.yaml:1:67: nested deeper than 64 levels");
}

static void test_parse_file(void **state) {
    const char *dir = *state;
    struct cleat_config *t = NULL;
    struct cleat_error *err = NULL;
    char *path = write_file(dir, "f.yaml", "x:\n  y: [1,\n");
    char *want = NULL;

    assert_int_equal(config_tree_parse_file(path, &t, &err), -EINVAL);
    assert_true(asprintf(&want,
                         "%s:3:1: did not find expected node content "
                         "(while parsing a flow node that started at line 3, column 1)",
                         path) > 0);
    assert_string_equal(error_message(err), want);
    error_free(err);
    err = NULL;
    free(want);
    free(path);

    path = path_in(dir, "missing.yaml");
    assert_int_equal(config_tree_parse_file(path, &t, &err), -ENOENT);
    assert_int_equal(error_status(err), CLEAT_STATUS_NOT_FOUND);
    assert_non_null(strstr(error_message(err), path));
    error_free(err);
    err = NULL;
    free(path);

    assert_int_equal(config_tree_parse_file(dir, &t, &err), -EINVAL); /* a directory */
    assert_non_null(strstr(error_message(err), "not a regular file"));
    error_free(err);
    assert_null(t);
}

/* ------------------------------------------------------------------------- */
/* merging                                                                   */

static void test_merge(void **state) {
    (void)state;
    struct cleat_config *base = parse("a: {x: 1, y: 2}\nb: [1, 2]\nc: s\nd: keep\nm: {deep: {k: v}}\nr: {p: q}\n");
    struct cleat_config *overlay = NULL;
    struct cleat_error *err = NULL;
    const char *o = "a: {y: 3, z: 4}\nb: [9]\nc: t\nd: null\nnew: {n: ~, m: 1}\nm: {deep: {k: ~, j: w}}\nr: s\n";
    assert_int_equal(config_tree_parse_string("drop.yaml", o, strlen(o), &overlay, &err), 0);

    assert_int_equal(config_tree_merge(base, overlay, &err), 0);
    /* Maps merged (existing keys keep their place), scalar and list replaced, null deleted (also nested), a map
     * that replaces a scalar kept, nulls dropped from a map added wholesale. */
    assert_tree(base, "a: {x: 1, y: 3, z: 4}\nb: [9]\nc: t\nm: {deep: {j: w}}\nr: s\nnew: {m: 1}\n");

    /* Values from the overlay keep their own location. */
    char buf[64];
    config_where(config_get0(config_get0(base, "a"), "y"), buf, sizeof(buf));
    assert_string_equal(buf, "drop.yaml:1:8");
    config_where(config_get0(config_get0(base, "a"), "x"), buf, sizeof(buf));
    assert_string_equal(buf, "t.yaml:1:8");
    config_where(config_tree_key_at(base, 2), buf, sizeof(buf)); /* the replaced entry's key */
    assert_string_equal(buf, "drop.yaml:3:1");
    config_tree_free(base);
}

static void test_merge_rejects_non_map(void **state) {
    (void)state;
    struct cleat_config *base = parse("a: 1\n"), *overlay = parse("b: 2\n");
    struct cleat_error *err = NULL;
    /* The overlay is consumed even on failure (ASan checks it is not leaked). */
    assert_int_equal(config_tree_merge(NULL, overlay, &err), -EINVAL);
    assert_string_equal(error_message(err), "(absent): cannot merge into absent, only into a map");
    error_free(err);
    err = NULL;
    assert_int_equal(config_tree_merge(base, NULL, &err), -EINVAL);
    error_free(err);
    assert_tree(base, "a: 1\n");
    config_tree_free(base);
}

/* ------------------------------------------------------------------------- */
/* emitting                                                                  */

static void test_emit_yaml_roundtrip(void **state) {
    (void)state;
    struct cleat_config *t = parse("a: 'null'\nb: ''\nc: ~\nd: [1, 'two', {x: y}, [], ~]\ne: {}\nf: []\n"
                                   "g: \"multi\\nline\"\nh: ': colon'\ni: '#hash'\nj: \"tab\\there\"\n"
                                   "k: \xc3\xbcn\xc3\xaf"
                                   "code\n'key with space': 1\n'~': tilde\nl: '- dash'\n"
                                   "m: {n: {o: [p, {q: r}]}}\nq: '5'\nlong: "
                                   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                   "xxxxxxxxxx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxxxxx\n");
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    assert_int_equal(config_tree_emit_yaml(t, f), 0);
    assert_int_equal(fclose(f), 0);

    /* Block style; text that reads as null, and text that was quoted, stays quoted. */
    const char *head = "a: 'null'\nb: ''\nc: null\nd:\n- 1\n- 'two'\n- x: y\n- []\n- null\ne: {}\n";
    assert_true(strncmp(out, head, strlen(head)) == 0);
    assert_non_null(strstr(out, "\nm:\n  n:\n    o:\n    - p\n    - q: r\n"));
    struct cleat_config *back = NULL;
    struct cleat_error *err = NULL;
    assert_int_equal(config_tree_parse_string("out", out, len, &back, &err), 0);
    assert_true(config_tree_equal(t, back));
    /* Quoting survives too: '5' stays a string in JSON. */
    char *j1 = config_tree_to_json(t), *j2 = config_tree_to_json(back);
    assert_string_equal(j1, j2);
    assert_non_null(strstr(j1, "\"q\":\"5\""));
    free(j1);
    free(j2);
    config_tree_free(back);
    config_tree_free(t);
    free(out);
}

static void test_to_json(void **state) {
    (void)state;
    struct cleat_config *t = parse("s: \"q\\\"b\\\\s/\\n\\t\\r\\x01\\x7f\"\nn: 42\nneg: -7\nzero: 0\n"
                                   "big: 99999999999999999999\nlead: 007\nplus: +5\nfloat: 1.5\n"
                                   "t: true\nF: False\nq: '5'\nnul: ~\nl: [1, x, {}, []]\n"
                                   "u: \"\\u2028\xc3\xa9\"\n\"k\\\"ey\": v\n");
    char *json = config_tree_to_json(t);
    assert_string_equal(json, "{\"s\":\"q\\\"b\\\\s/\\n\\t\\r\\u0001\x7f\",\"n\":42,\"neg\":-7,\"zero\":0,"
                              "\"big\":\"99999999999999999999\",\"lead\":\"007\",\"plus\":\"+5\",\"float\":\"1.5\","
                              "\"t\":true,\"F\":\"False\",\"q\":\"5\",\"nul\":null,\"l\":[1,\"x\",{},[]],"
                              "\"u\":\"\xe2\x80\xa8\xc3\xa9\",\"k\\\"ey\":\"v\"}");
    free(json);
    json = config_tree_to_json(NULL);
    assert_string_equal(json, "null");
    free(json);
    config_tree_free(t);
}

/* ------------------------------------------------------------------------- */
/* accessors                                                                 */

static void test_accessors_null_node(void **state) {
    (void)state;
    char buf[16] = "junk";
    const char *s = NULL;
    int64_t i = 0;
    int32_t b = -1;
    struct cleat_error *err = NULL;

    assert_int_equal(config_kind(NULL), CLEAT_CONFIG_ABSENT);
    assert_null(config_scalar0(NULL));
    assert_int_equal(config_count(NULL), 0);
    assert_null(config_key0(NULL, 0));
    assert_null(config_at0(NULL, 0));
    assert_null(config_get0(NULL, "a"));
    assert_int_equal(config_where(NULL, buf, sizeof(buf)), 8);
    assert_string_equal(buf, "(absent)");
    static const char *const allowed[] = {"a", NULL};
    assert_int_equal(config_check_keys(NULL, allowed, &err), 0);
    assert_int_equal(config_get_string(NULL, "a", "def", &s, &err), 0);
    assert_string_equal(s, "def");
    assert_int_equal(config_get_int(NULL, "a", 7, 0, 10, &i, &err), 0);
    assert_int_equal(i, 7);
    assert_int_equal(config_get_bool(NULL, "a", 1, &b, &err), 0);
    assert_int_equal(b, 1);
    assert_null(err);
}

static void test_accessors(void **state) {
    (void)state;
    struct cleat_config *t = parse("m: {a: 1, b: 2}\nl: [x, y]\ns: text\nn: ~\n");
    const struct cleat_config *m = config_get0(t, "m"), *l = config_get0(t, "l"), *s = config_get0(t, "s");

    assert_int_equal(config_count(m), 2);
    assert_string_equal(config_key0(m, 1), "b");
    assert_string_equal(config_scalar0(config_at0(m, 1)), "2");
    assert_null(config_key0(m, 2));
    assert_null(config_at0(m, 2));
    assert_int_equal(config_count(l), 2);
    assert_null(config_key0(l, 0)); /* sequences have no keys */
    assert_string_equal(config_scalar0(config_at0(l, 1)), "y");
    assert_null(config_get0(l, "x"));
    assert_int_equal(config_count(s), 0);
    assert_null(config_scalar0(m));
    assert_null(config_get0(s, "text"));
    assert_null(config_get0(m, NULL));
    assert_int_equal(config_kind(config_get0(t, "n")), CLEAT_CONFIG_NULL);

    /* config_where truncates, always NUL-terminates, and says how much it wrote. */
    char small[5] = "xxxx";
    assert_int_equal(config_where(s, small, sizeof(small)), 4);
    assert_string_equal(small, "t.ya");
    assert_int_equal(config_where(s, small, 0), 0);
    config_tree_free(t);
}

static void test_check_keys(void **state) {
    (void)state;
    struct cleat_config *t = parse("plugin: x\noptoins: {}\nzzz: 1\npth: /p\nab: 1\n");
    static const char *const allowed[] = {"plugin", "options", "path", "os", NULL};
    struct cleat_error *err = NULL;

    assert_int_equal(config_check_keys(t, allowed, &err), -EINVAL);
    assert_int_equal(error_status(err), CLEAT_STATUS_INVALID_ARGUMENT);
    /* Every unknown key, a suggestion only when it is a likely typo ("ab" is not "os"). */
    assert_string_equal(error_message(err), "t.yaml:2:1: unknown key 'optoins' (did you mean 'options'?)\n"
                                            "t.yaml:3:1: unknown key 'zzz'\n"
                                            "t.yaml:4:1: unknown key 'pth' (did you mean 'path'?)\n"
                                            "t.yaml:5:1: unknown key 'ab'");
    error_free(err);
    err = NULL;

    static const char *const all[] = {"plugin", "optoins", "zzz", "pth", "ab", NULL};
    assert_int_equal(config_check_keys(t, all, &err), 0);
    assert_null(err);
    assert_int_equal(config_check_keys(config_get0(t, "zzz"), all, &err), -EINVAL);
    assert_string_equal(error_message(err), "t.yaml:3:6: expected a map, not a scalar value");
    error_free(err);
    config_tree_free(t);
}

/* Takes the result of a getter call and the error it set (and resets it for the next call). */
static void assert_getter_error(int r, struct cleat_error **err, const char *message) {
    assert_int_equal(r, -EINVAL);
    assert_non_null(*err);
    assert_int_equal(error_status(*err), CLEAT_STATUS_INVALID_ARGUMENT);
    assert_string_equal(error_message(*err), message);
    error_free(*err);
    *err = NULL;
}

static void test_get_int(void **state) {
    (void)state;
    struct cleat_config *t = parse("a: 300\nb: x\nc: 16M\nd: -5\ne: 99999999999999999999\nf: [1]\ng: '12'\n"
                                   "h: +7\ni: 0x10\nj: ''\nk: -9223372036854775808\n");
    struct cleat_error *err = NULL;
    int64_t v = 0;

    assert_int_equal(config_get_int(t, "a", 0, 0, 300, &v, &err), 0);
    assert_int_equal(v, 300);
    assert_int_equal(config_get_int(t, "d", 0, -10, 10, &v, &err), 0);
    assert_int_equal(v, -5);
    assert_int_equal(config_get_int(t, "g", 0, 0, 100, &v, &err), 0);
    assert_int_equal(v, 12);
    assert_int_equal(config_get_int(t, "h", 0, 0, 100, &v, &err), 0);
    assert_int_equal(v, 7);
    assert_int_equal(config_get_int(t, "k", 0, INT64_MIN, 0, &v, &err), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(config_get_int(t, "missing", 42, 0, 1, &v, &err), 0);
    assert_int_equal(v, 42);
    assert_null(err);

    v = 1234;
    assert_getter_error(config_get_int(t, "a", 0, 1, 256, &v, &err), &err,
                        "t.yaml:1:4: 'a' must be between 1 and 256, got 300");
    assert_int_equal(v, 1234); /* untouched on failure */
    assert_getter_error(config_get_int(t, "b", 0, 0, 10, &v, &err), &err,
                        "t.yaml:2:4: 'b' must be a decimal integer, not 'x'");
    assert_getter_error(config_get_int(t, "c", 0, 0, INT64_MAX, &v, &err), &err,
                        "t.yaml:3:4: 'c' must be a decimal integer, not '16M'");
    assert_getter_error(config_get_int(t, "d", 0, 0, INT64_MAX, &v, &err), &err,
                        "t.yaml:4:4: 'd' must be at least 0, got -5");
    assert_getter_error(config_get_int(t, "e", 0, INT64_MIN, INT64_MAX, &v, &err), &err,
                        "t.yaml:5:4: 'e' is out of range, got 99999999999999999999");
    assert_getter_error(config_get_int(t, "e", 0, INT64_MIN, 5, &v, &err), &err,
                        "t.yaml:5:4: 'e' must be at most 5, got 99999999999999999999");
    assert_getter_error(config_get_int(t, "f", 0, 0, 1, &v, &err), &err,
                        "t.yaml:6:4: 'f' must be an integer, not a list");
    assert_getter_error(config_get_int(t, "i", 0, 0, 100, &v, &err), &err,
                        "t.yaml:9:4: 'i' must be a decimal integer, not '0x10'");
    assert_getter_error(config_get_int(t, "j", 0, 0, 100, &v, &err), &err,
                        "t.yaml:10:4: 'j' must be a decimal integer, not ''");
    assert_getter_error(config_get_int(config_get0(t, "f"), "x", 0, 0, 1, &v, &err), &err,
                        "t.yaml:6:4: expected a map with 'x', not a list");
    config_tree_free(t);
}

static void test_get_bool_and_string(void **state) {
    (void)state;
    struct cleat_config *t = parse("a: yes\nb: Off\nc: TRUE\nd: maybe\ne: {x: 1}\nf: text\ng: ~\n");
    struct cleat_error *err = NULL;
    int32_t b = -1;
    const char *s = NULL;

    assert_int_equal(config_get_bool(t, "a", 0, &b, &err), 0);
    assert_int_equal(b, 1);
    assert_int_equal(config_get_bool(t, "b", 1, &b, &err), 0);
    assert_int_equal(b, 0);
    assert_int_equal(config_get_bool(t, "c", 0, &b, &err), 0);
    assert_int_equal(b, 1);
    assert_int_equal(config_get_bool(t, "g", 1, &b, &err), 0); /* explicit null: the default */
    assert_int_equal(b, 1);
    assert_getter_error(config_get_bool(t, "d", 0, &b, &err), &err,
                        "t.yaml:4:4: 'd' must be true or false (or yes/no, on/off), not 'maybe'");

    assert_int_equal(config_get_string(t, "f", NULL, &s, &err), 0);
    assert_string_equal(s, "text");
    assert_int_equal(config_get_string(t, "g", "def", &s, &err), 0);
    assert_string_equal(s, "def");
    assert_getter_error(config_get_string(t, "e", NULL, &s, &err), &err, "t.yaml:5:4: 'e' must be a string, not a map");
    config_tree_free(t);
}

/* ------------------------------------------------------------------------- */
/* the schema and loading                                                    */

static void test_defaults_alone(void **state) {
    (void)state;
    struct cleat_config *t = NULL;
    struct cleat_error *err = NULL;
    struct config *c = NULL;

    assert_int_equal(
        config_tree_parse_string(CONFIG_DEFAULTS_NAME, cleat_default_config, cleat_default_config_len, &t, &err), 0);
    assert_int_equal(config_from_tree(t, &c, &err), 0);
    assert_null(err);
    assert_int_equal(c->version, 1);
    assert_int_equal(c->log_level, CLEAT_LOG_INFO);
    assert_string_equal(c->socket_path, "/run/cleat/cleat.sock");
    assert_string_equal(c->root_dir, "/var/lib/cleat");
    assert_string_equal(c->state_dir, "/run/cleat");
    assert_string_equal(c->cgroup_driver, "cgroupfs");
    assert_int_equal(c->grpc_workers, 8);
    assert_int_equal(c->grpc_max_message_bytes, 16 * 1024 * 1024);
    assert_non_null(c->plugin_dirs[0]);
    assert_true(c->plugin_dirs[0][0] == '/'); /* @CLEAT_PLUGIN_DIR@ was substituted */
    assert_null(c->plugin_dirs[1]);
    assert_string_equal(c->default_runtime_handler, "runc");
    assert_int_equal(c->stats_writable_layer_max_age_seconds, 10);
    assert_int_equal(c->stats_collection_period_seconds, 10);
    assert_int_equal(c->events_queue_size, 256);
    assert_string_equal(c->metrics_address, ""); /* no Prometheus endpoint unless asked */
    assert_true(c->pause_binary[0] == '/' && strstr(c->pause_binary, "/cleat-pause"));
    assert_true(c->seccomp_default_profile[0] == '/' && strstr(c->seccomp_default_profile, "/seccomp-default.json"));
    /* The shipped plugins: runc, the overlay snapshotter, the registry and OCI transports, then CNI. */
    assert_int_equal(c->n_instances, 5);
    assert_int_equal(c->instances[0].concern, CLEAT_CONCERN_RUNTIME);
    assert_string_equal(c->instances[0].name, "runc");
    assert_string_equal(c->instances[0].plugin, "runtime-runc");
    assert_int_equal(c->instances[1].concern, CLEAT_CONCERN_SNAPSHOTTER);
    assert_string_equal(c->instances[1].plugin, "storage-overlay");
    assert_string_equal(c->instances[2].plugin, "image-docker");
    assert_string_equal(c->instances[2].schemes[0], "");
    assert_string_equal(c->instances[3].plugin, "image-oci");
    assert_int_equal(c->instances[4].concern, CLEAT_CONCERN_NETWORK);
    assert_string_equal(c->instances[4].plugin, "net-cni");
    assert_ptr_equal(c->tree, t);
    config_free(c);
}

static void test_load_empty_main(void **state) {
    const char *dir = *state;
    struct config *c = NULL;
    assert_null(load_text(dir, "# nothing\n", &c));
    char *main_path = path_in(dir, "main.yaml");
    assert_string_equal(c->sources[0], main_path);
    assert_null(c->sources[1]);
    assert_int_equal(c->log_level, CLEAT_LOG_INFO);
    assert_int_equal(c->grpc_workers, 8);
    /* The effective tree is the defaults. */
    struct cleat_config *d = NULL;
    struct cleat_error *err = NULL;
    assert_int_equal(config_tree_parse_string("d", cleat_default_config, cleat_default_config_len, &d, &err), 0);
    assert_true(config_tree_equal(c->tree, d));
    config_tree_free(d);
    free(main_path);
    config_free(c);
}

static void test_load_missing_explicit_main(void **state) {
    const char *dir = *state;
    char *path = path_in(dir, "nope.yaml");
    struct config *c = NULL;
    struct cleat_error *err = NULL;

    assert_int_equal(config_load(path, dir, &c, &err), -ENOENT);
    assert_null(c);
    assert_int_equal(error_status(err), CLEAT_STATUS_NOT_FOUND);
    assert_non_null(strstr(error_message(err), path));
    error_free(err);
    free(path);
}

static void test_load_missing_default_main(void **state) {
    const char *dir = *state;
    /* NULL means /etc/cleat/cleat.yaml, which is allowed to be absent; that needs a machine without one. */
    if (access(CONFIG_MAIN_PATH, F_OK) == 0)
        skip();
    char *dropins = path_in(dir, "no-such-dir");
    struct config *c = NULL;
    struct cleat_error *err = NULL;

    assert_int_equal(config_load(NULL, dropins, &c, &err), 0);
    assert_null(err);
    assert_null(c->sources[0]);
    assert_string_equal(c->socket_path, "/run/cleat/cleat.sock");
    config_free(c);
    free(dropins);
}

static void test_load_dropin_order(void **state) {
    const char *dir = *state;
    struct config *c = NULL;
    free(write_file(dir, "d/10-x.yaml", "log_level: error\n"));
    free(write_file(dir, "d/05-y.yaml", "log_level: debug\nsocket: /a.sock\ngrpc: {workers: 2}\n"));
    free(write_file(dir, "d/README", "not: [yaml\n"));
    free(write_file(dir, "d/.hidden.yaml", "not: [yaml\n"));
    free(write_file(dir, "d/x.yml", "not: [yaml\n"));

    assert_null(load_text(dir, "log_level: warning\nroot_dir: /srv/cleat\n", &c));
    assert_int_equal(c->log_level, CLEAT_LOG_ERROR);
    assert_string_equal(c->socket_path, "/a.sock");
    assert_string_equal(c->root_dir, "/srv/cleat");
    assert_int_equal(c->grpc_workers, 2);
    char *want[] = {path_in(dir, "main.yaml"), path_in(dir, "d/05-y.yaml"), path_in(dir, "d/10-x.yaml")};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(c->sources[i], want[i]);
        free(want[i]);
    }
    assert_null(c->sources[3]);
    config_free(c);
}

static void test_load_null_resets_to_default(void **state) {
    const char *dir = *state;
    struct config *c = NULL;
    free(write_file(dir, "d/50-reset.yaml", "log_level: null\ngrpc:\n  workers: ~\nsocket:\n"));
    assert_null(load_text(dir, "log_level: debug\nsocket: /x.sock\ngrpc: {workers: 4, max_message_bytes: 8192}\n", &c));
    assert_int_equal(c->log_level, CLEAT_LOG_INFO);
    assert_string_equal(c->socket_path, "/run/cleat/cleat.sock");
    assert_int_equal(c->grpc_workers, 8);
    assert_int_equal(c->grpc_max_message_bytes, 8192);
    config_free(c);
}

static void test_load_dropin_error_location(void **state) {
    const char *dir = *state;
    struct config *c = NULL;
    char *path = write_file(dir, "d/20-bad.yaml", "grpc:\n  workers: 1000\n");
    char *msg = load_text(dir, "grpc: {workers: 4}\n", &c), *want = NULL;
    assert_true(asprintf(&want, "%s:2:12: 'workers' must be between 1 and 256, got 1000", path) > 0);
    assert_string_equal(msg, want);
    free(want);
    free(msg);
    free(path);
}

static void test_unknown_keys(void **state) {
    assert_load_error(*state,
                      "version: 1\nsockt: /x\ngrpc:\n  wrkers: 4\nruntime:\n  handlers:\n    kata:\n"
                      "      plugn: runtime-runc\n",
                      "%1$s:2:1: unknown key 'sockt' (did you mean 'socket'?)\n"
                      "%1$s:4:3: unknown key 'wrkers' (did you mean 'workers'?)\n"
                      "%1$s:8:7: unknown key 'plugn' (did you mean 'plugin'?)\n"
                      "%1$s:7:5: 'plugin' is required");
}

static void test_wrong_values(void **state) {
    assert_load_error(*state,
                      "version: 2\nlog_level: verbose\nroot_dir: relative\ngrpc: 5\nplugin_dirs: /x\n"
                      "cgroup_driver: [a]\nstate_dir: {}\nsocket: ''\n",
                      "%1$s:1:10: unsupported config version 2; this cleatd reads version 1\n"
                      "%1$s:2:12: 'log_level' must be one of error, warning, notice, info, debug, not 'verbose'\n"
                      "%1$s:8:9: 'socket' must be an absolute path, not ''\n"
                      "%1$s:3:11: 'root_dir' must be an absolute path, not 'relative'\n"
                      "%1$s:7:12: 'state_dir' must be a string, not a map\n"
                      "%1$s:6:16: 'cgroup_driver' must be a string, not a list\n"
                      "%1$s:4:7: 'grpc' must be a map, not a scalar value\n"
                      "%1$s:5:14: 'plugin_dirs' must be a list, not a scalar value");
}

static void test_observability(void **state) {
    assert_load_error(*state,
                      "metrics: {address: 'localhost'}\nevents: {queue_size: 0}\n"
                      "stats: {writable_layer_max_age_seconds: -1, collection_period_seconds: 3601, other: 1}\n",
                      "%1$s:3:78: unknown key 'other'\n"
                      "%1$s:3:41: 'writable_layer_max_age_seconds' must be between 0 and 3600, got -1\n"
                      "%1$s:3:72: 'collection_period_seconds' must be between 0 and 3600, got 3601\n"
                      "%1$s:2:22: 'queue_size' must be between 1 and 65536, got 0\n"
                      "%1$s:1:20: metrics address 'localhost' is not HOST:PORT (e.g. 127.0.0.1:9464, [::1]:9464, "
                      ":9464) or \"\"");
    for (const char *const *ok = (const char *const[]){"127.0.0.1:9464", "[::1]:1", ":65535", "", NULL}; *ok; ok++) {
        char yaml[128];
        snprintf(yaml, sizeof(yaml), "metrics: {address: '%s'}\n", *ok);
        struct config *c = config_over_defaults(yaml);
        assert_string_equal(c->metrics_address, *ok);
        config_free(c);
    }
    assert_load_error(*state, "metrics: {address: ':0'}\n",
                      "%1$s:1:20: metrics address ':0' is not HOST:PORT (e.g. 127.0.0.1:9464, [::1]:9464, :9464) "
                      "or \"\"");
}

static void test_streaming_limits(void **state) {
    struct config *c = config_over_defaults("");
    assert_int_equal(c->streaming_max_sessions, 128);
    assert_int_equal(c->streaming_max_pending, 1024);
    assert_int_equal(c->streaming_request_timeout_seconds, 5);
    config_free(c);
    c = config_over_defaults("streaming: {max_pending_connections: 65536, request_timeout_seconds: 60}\n");
    assert_int_equal(c->streaming_max_pending, 65536);
    assert_int_equal(c->streaming_request_timeout_seconds, 60);
    config_free(c);
    assert_load_error(*state, "streaming: {max_pending_connections: 0, request_timeout_seconds: 61}\n",
                      "%1$s:1:38: 'max_pending_connections' must be between 1 and 65536, got 0\n"
                      "%1$s:1:66: 'request_timeout_seconds' must be between 1 and 60, got 61");
}

static void test_unpack_limits(void **state) {
    struct config *c = config_over_defaults("");
    assert_true(c->images_max_layer_bytes == UINT64_C(64) << 30);
    assert_true(c->images_max_image_bytes == UINT64_C(128) << 30);
    assert_int_equal(c->images_max_compression_ratio, 100);
    assert_true(c->images_compression_ratio_min_bytes == UINT64_C(256) << 20);
    assert_true(c->images_min_free_bytes == UINT64_C(1) << 30);
    config_free(c);
    c = config_over_defaults("images: {max_layer_bytes: 0, max_image_bytes: 4611686018427387904, "
                             "max_compression_ratio: 1000000, compression_ratio_min_bytes: 1, min_free_bytes: 0}\n");
    assert_true(c->images_max_layer_bytes == 0);
    assert_true(c->images_max_image_bytes == UINT64_C(1) << 62);
    assert_int_equal(c->images_max_compression_ratio, 1000000);
    assert_true(c->images_compression_ratio_min_bytes == 1);
    assert_true(c->images_min_free_bytes == 0);
    config_free(c);
    /* Deleted with null: back to the embedded defaults, which equal the code's. */
    c = config_over_defaults("images:\n  max_layer_bytes: null\n  max_compression_ratio: ~\n  min_free_bytes:\n");
    assert_true(c->images_max_layer_bytes == UINT64_C(64) << 30);
    assert_int_equal(c->images_max_compression_ratio, 100);
    assert_true(c->images_min_free_bytes == UINT64_C(1) << 30);
    config_free(c);
    assert_load_error(*state,
                      "images:\n  max_layer_bytes: -1\n  max_image_bytes: 4611686018427387905\n"
                      "  max_compression_ratio: 1000001\n  compression_ratio_min_bytes: 1GiB\n"
                      "  min_free_bytes: [1]\n  max_ratio: 3\n",
                      "%1$s:7:3: unknown key 'max_ratio'\n"
                      "%1$s:2:20: 'max_layer_bytes' must be between 0 and 4611686018427387904, got -1\n"
                      "%1$s:3:20: 'max_image_bytes' must be between 0 and 4611686018427387904, got "
                      "4611686018427387905\n"
                      "%1$s:4:26: 'max_compression_ratio' must be between 0 and 1000000, got 1000001\n"
                      "%1$s:5:32: 'compression_ratio_min_bytes' must be a decimal integer, not '1GiB'\n"
                      "%1$s:6:19: 'min_free_bytes' must be an integer, not a list");
}

static void test_parallel_pulls(void **state) {
    struct config *c = config_over_defaults("");
    assert_int_equal(c->images_max_parallel_downloads, 3);
    assert_int_equal(c->images_max_parallel_unpacks, 2);
    config_free(c);
    c = config_over_defaults("images: {max_parallel_downloads: 64, max_parallel_unpacks: 1}\n");
    assert_int_equal(c->images_max_parallel_downloads, 64);
    assert_int_equal(c->images_max_parallel_unpacks, 1);
    config_free(c);
    assert_load_error(*state, "images: {max_parallel_unpacks: 0}\n",
                      "%1$s:1:32: 'max_parallel_unpacks' must be between 1 and 64, got 0");
}

static void test_pinned(void **state) {
    struct config *c = config_over_defaults("");
    assert_non_null(c->images_pinned);
    assert_null(c->images_pinned[0]);
    config_free(c);
    c = config_over_defaults("images:\n  pinned: [busybox, 'sha256:ab', 'oci:/srv/x:1']\n");
    assert_string_equal(c->images_pinned[0], "busybox");
    assert_string_equal(c->images_pinned[1], "sha256:ab");
    assert_string_equal(c->images_pinned[2], "oci:/srv/x:1");
    assert_null(c->images_pinned[3]);
    config_free(c);
    /* Deleted with null: the embedded default (none) again. */
    c = config_over_defaults("images:\n  pinned: ~\n");
    assert_null(c->images_pinned[0]);
    config_free(c);
    assert_load_error(*state, "images:\n  pinned: [ok, '', [x]]\n",
                      "%1$s:2:16: a pinned image must be a non-empty reference, not ''\n"
                      "%1$s:2:20: a pinned image must be a non-empty reference, not a list");
    assert_load_error(*state, "images: {pinned: busybox}\n",
                      "%1$s:1:18: 'pinned' must be a list of image references, not a scalar value");
}

static void test_cdi_spec_dirs(void **state) {
    struct config *c = config_over_defaults("");
    assert_string_equal(c->cdi_spec_dirs[0], "/etc/cdi");
    assert_string_equal(c->cdi_spec_dirs[1], "/var/run/cdi");
    assert_null(c->cdi_spec_dirs[2]);
    config_free(c);
    c = config_over_defaults("cdi:\n  spec_dirs: [/srv/cdi]\n");
    assert_string_equal(c->cdi_spec_dirs[0], "/srv/cdi");
    assert_null(c->cdi_spec_dirs[1]);
    config_free(c);
    c = config_over_defaults("cdi: {spec_dirs: []}\n");
    assert_null(c->cdi_spec_dirs[0]);
    config_free(c);
    /* Deleted with null: the defaults again. */
    c = config_over_defaults("cdi:\n  spec_dirs: ~\n");
    assert_string_equal(c->cdi_spec_dirs[1], "/var/run/cdi");
    config_free(c);
    assert_load_error(*state, "cdi:\n  spec_dirs: [etc/cdi]\n",
                      "%1$s:2:15: a CDI spec directory must be an absolute path, not etc/cdi");
    assert_load_error(*state, "cdi: {spec_dir: [/x]}\n",
                      "%1$s:1:7: unknown key 'spec_dir' (did you mean 'spec_dirs'?)");
}

static void test_pull_progress(void **state) {
    struct config *c = config_over_defaults("");
    assert_int_equal(c->images_pull_progress_timeout_seconds, 300);
    assert_int_equal(c->images_pull_progress_log_interval_seconds, 30);
    config_free(c);
    c = config_over_defaults("images: {pull_progress_timeout_seconds: 0, pull_progress_log_interval_seconds: 5}\n");
    assert_int_equal(c->images_pull_progress_timeout_seconds, 0);
    assert_int_equal(c->images_pull_progress_log_interval_seconds, 5);
    config_free(c);
    c = config_over_defaults("images:\n  pull_progress_timeout_seconds:\n");
    assert_int_equal(c->images_pull_progress_timeout_seconds, 300);
    config_free(c);
    assert_load_error(*state,
                      "images:\n  pull_progress_timeout_seconds: -1\n  pull_progress_log_interval_seconds: 86401\n",
                      "%1$s:2:34: 'pull_progress_timeout_seconds' must be between 0 and 86400, got -1\n"
                      "%1$s:3:39: 'pull_progress_log_interval_seconds' must be between 0 and 86400, got 86401");
}

static void test_instance_errors(void **state) {
    assert_load_error(*state,
                      "runtime:\n  default_handler: Bad\n  handlers:\n    Bad:\n      plugin: runtime_runc!\n"
                      "      path: rel.so\n      options: 3\n    ok: 5\n"
                      "snapshotter: {plugin: storage-overlay, name: x/y}\nnetwork: {name: cni, plugin: \"\"}\n"
                      "transports:\n  t: {plugin: image-oci, schemes: oci}\n  u: {plugin: image-oci, schemes: "
                      "['oci:', [x], http, http]}\nplugin_dirs: [relative, /ok]\n",
                      "%1$s:14:15: a plugin directory must be an absolute path, not 'relative'\n"
                      "%1$s:5:15: invalid plugin name 'runtime_runc!': use a-z, 0-9, '.', '_' and '-', "
                      "starting with a letter or digit, at most 63 characters\n"
                      "%1$s:4:5: invalid runtime handler name 'Bad': use a-z, 0-9, '.', '_' and '-', "
                      "starting with a letter or digit, at most 63 characters\n"
                      "%1$s:6:13: 'path' must be an absolute path, not 'rel.so'\n"
                      "%1$s:7:16: 'options' must be a map, not a scalar value\n"
                      "%1$s:8:9: 'ok' must be a map, not a scalar value\n"
                      "%1$s:9:46: invalid snapshotter name 'x/y': use a-z, 0-9, '.', '_' and '-', "
                      "starting with a letter or digit, at most 63 characters\n"
                      "%1$s:12:35: 'schemes' must be a list, not a scalar value\n"
                      "%1$s:13:36: invalid scheme 'oci:': use a-z, 0-9, '+', '.' and '-', starting with a letter, "
                      "without the ':' (or \"\" for registry references)\n"
                      "%1$s:13:44: a scheme must be a string, not a list\n"
                      "%1$s:13:55: scheme 'http' is listed twice in transport 'u'\n"
                      "%1$s:10:30: invalid plugin name '': use a-z, 0-9, '.', '_' and '-', "
                      "starting with a letter or digit, at most 63 characters");
}

static void test_default_handler(void **state) {
    const char *dir = *state;
    assert_load_error(
        dir,
        "runtime:\n  default_handler: kata\n  handlers:\n    runc: null\n    crun: {plugin: runtime-runc}\n"
        "    youki: {plugin: runtime-runc}\n",
        "%1$s:2:20: default_handler 'kata' is not one of the runtime handlers (crun, youki)");

    /* Left at its default, the message points at the built-in value. */
    struct config *c = NULL;
    char *msg = load_text(dir, "runtime:\n  handlers:\n    runc: null\n    crun: {plugin: runtime-runc}\n", &c);
    assert_non_null(msg);
    assert_true(strncmp(msg, CONFIG_DEFAULTS_NAME ":", strlen(CONFIG_DEFAULTS_NAME) + 1) == 0);
    assert_non_null(strstr(msg, ": default_handler 'runc' is not one of the runtime handlers (crun)"));
    free(msg);

    /* With no handlers at all, any default is accepted (nothing to check it against). */
    assert_null(load_text(dir, "runtime: {default_handler: whatever, handlers: null}\n", &c));
    assert_string_equal(c->default_runtime_handler, "whatever");
    config_free(c);
}

static void test_duplicate_scheme(void **state) {
    assert_load_error(*state,
                      "transports:\n  registry:\n    plugin: image-docker\n    schemes: ['', oci]\n  oci:\n"
                      "    plugin: image-oci\n    schemes: [oci, oci-archive]\n",
                      "%1$s:7:15: scheme 'oci' of transport 'oci' is already served by transport 'registry' "
                      "(%1$s:4:19)");
}

static void test_full_config(void **state) {
    (void)state;
    struct config *c = NULL;
    struct cleat_error *err = NULL;
    const char *path = CLEAT_TEST_DATA_DIR "/config/full.yaml";
    if (config_load(path, CLEAT_TEST_DATA_DIR "/config/no-such-dir", &c, &err) < 0)
        fail_msg("%s", error_message(err));

    assert_int_equal(c->log_level, CLEAT_LOG_DEBUG);
    assert_string_equal(c->cgroup_driver, "systemd");
    assert_int_equal(c->grpc_workers, 16);
    assert_int_equal(c->grpc_max_message_bytes, 4096);
    assert_string_equal(c->plugin_dirs[0], "/opt/cleat/plugins");
    assert_string_equal(c->plugin_dirs[1], "/usr/lib/cleat/plugins");
    assert_null(c->plugin_dirs[2]);
    assert_string_equal(c->default_runtime_handler, "crun");
    assert_int_equal(c->n_instances, 6);

    const struct config_instance *i = c->instances;
    assert_int_equal(i[0].concern, CLEAT_CONCERN_RUNTIME);
    assert_string_equal(i[0].name, "runc");
    assert_string_equal(i[0].plugin, "runtime-runc");
    assert_null(i[0].path);
    assert_null(i[0].schemes);
    assert_string_equal(config_scalar0(config_get0(i[0].options, "binary")), "/usr/bin/runc");
    assert_string_equal(i[1].name, "crun");
    assert_string_equal(i[1].path, "/opt/runtime-runc.so");
    assert_null(i[1].options);

    assert_int_equal(i[2].concern, CLEAT_CONCERN_SNAPSHOTTER);
    assert_string_equal(i[2].name, "storage-overlay"); /* no name: the plugin's */
    assert_int_equal(config_kind(i[2].node), CLEAT_CONFIG_MAP);

    assert_int_equal(i[3].concern, CLEAT_CONCERN_TRANSPORT);
    assert_string_equal(i[3].name, "registry");
    assert_string_equal(i[3].schemes[0], "");
    assert_null(i[3].schemes[1]);
    assert_string_equal(i[4].name, "local");
    assert_string_equal(i[4].schemes[0], "oci");
    assert_string_equal(i[4].schemes[1], "oci-archive");
    assert_null(i[4].schemes[2]);

    assert_int_equal(i[5].concern, CLEAT_CONCERN_NETWORK);
    assert_string_equal(i[5].name, "pods");
    assert_string_equal(i[5].plugin, "net-cni");
    const struct cleat_config *bins = config_get0(i[5].options, "bin_dirs");
    assert_int_equal(config_count(bins), 1);
    char where[256];
    /* The map merges into the default network's, so its own keys tell where it came from. */
    config_where(config_get0(i[5].node, "name"), where, sizeof(where));
    assert_true(strncmp(where, path, strlen(path)) == 0);
    config_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_scalars_and_nulls),
        cmocka_unit_test(test_parse_empty),
        cmocka_unit_test(test_parse_locations),
        cmocka_unit_test(test_parse_syntax_errors),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_parse_depth_limit),
        cmocka_unit_test_setup_teardown(test_parse_file, setup_dir, teardown_dir),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_merge_rejects_non_map),
        cmocka_unit_test(test_emit_yaml_roundtrip),
        cmocka_unit_test(test_to_json),
        cmocka_unit_test(test_accessors_null_node),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_check_keys),
        cmocka_unit_test(test_get_int),
        cmocka_unit_test(test_get_bool_and_string),
        cmocka_unit_test(test_defaults_alone),
        cmocka_unit_test_setup_teardown(test_load_empty_main, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_load_missing_explicit_main, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_load_missing_default_main, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_load_dropin_order, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_load_null_resets_to_default, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_load_dropin_error_location, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_unknown_keys, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_wrong_values, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_observability, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_streaming_limits, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_unpack_limits, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_parallel_pulls, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_pinned, setup_dir, teardown_dir),

        cmocka_unit_test_setup_teardown(test_cdi_spec_dirs, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_pull_progress, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_instance_errors, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_default_handler, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_duplicate_scheme, setup_dir, teardown_dir),
        cmocka_unit_test(test_full_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
