/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of core/config/config_diff.c: the settings a reload compares. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_diff.h"
#include "config_tree.h"
#include "strbuf.h"
#include "testutil.h"

static struct cleat_config *parse(const char *text) {
    struct cleat_config *t = NULL;
    struct cleat_error *err = NULL;
    OK(config_tree_parse_string("t.yaml", text, strlen(text), &t, &err));
    return t;
}

/* Collects "path(old->new)" for each difference, "-" for an absent side. */
static int collect(void *ctx, const char *path, const struct cleat_config *a, const struct cleat_config *b) {
    struct strbuf *out = ctx;
    const char *av = config_kind(a) == CLEAT_CONFIG_ABSENT ? "-" : config_scalar0(a) ? config_scalar0(a) : "*";
    const char *bv = config_kind(b) == CLEAT_CONFIG_ABSENT ? "-" : config_scalar0(b) ? config_scalar0(b) : "*";
    strbuf_printf(out, "%s%s(%s->%s)", out->len ? " " : "", path, av, bv);
    return 0;
}

static int skip_images_pinned(void *ctx, const char *path) {
    (void)ctx;
    return strcmp(path, "images.pinned") == 0 || strcmp(path, "transports.registry.options") == 0;
}

/* The differences of two YAML texts, as collect() writes them ("" for none). */
static char *diff(const char *a, const char *b, config_diff_skip_fn skip) {
    struct cleat_config *ta = parse(a), *tb = parse(b);
    struct strbuf out = {0};
    strbuf_puts(&out, "");
    assert_int_equal(config_diff(ta, tb, skip, collect, &out), 0);
    config_tree_free(ta);
    config_tree_free(tb);
    return strbuf_steal(&out);
}

static void expect_diff(const char *a, const char *b, config_diff_skip_fn skip, const char *want) {
    char *got = diff(a, b, skip);
    assert_string_equal(got, want);
    free(got);
}

static void test_equal_trees_have_no_difference(void **state) {
    (void)state;
    const char *t = "log_level: info\ngrpc: {workers: 8}\nimages:\n  pinned: [a, b]\n";
    expect_diff(t, t, NULL, "");
    /* Key order in a map is not a change. */
    expect_diff("grpc: {workers: 8, max_message_bytes: 5}\n", "grpc: {max_message_bytes: 5, workers: 8}\n", NULL, "");
}

static void test_scalars_and_nested_maps(void **state) {
    (void)state;
    expect_diff("log_level: info\ngrpc: {workers: 8, max_message_bytes: 5}\n",
                "log_level: debug\ngrpc: {workers: 4, max_message_bytes: 5}\n", NULL,
                "log_level(info->debug) grpc.workers(8->4)");
}

static void test_added_removed_and_kind_changes(void **state) {
    (void)state;
    expect_diff("a: 1\nb: {c: 2}\n", "b: {c: 2, d: 3}\ne: 4\n", NULL, "a(1->-) b.d(-->3) e(-->4)");
    /* A map replaced by a scalar, a null replacing a value: each one setting. */
    expect_diff("a: {x: 1}\nb: 2\n", "a: 5\nb:\n", NULL, "a(*->5) b(2->*)");
}

static void test_lists_are_one_setting(void **state) {
    (void)state;
    expect_diff("images: {pinned: [a, b]}\n", "images: {pinned: [a, c]}\n", NULL, "images.pinned(*->*)");
    expect_diff("images: {pinned: [a, b]}\n", "images: {pinned: [a, b]}\n", NULL, "");
}

static void test_keys_with_dots_are_quoted(void **state) {
    (void)state;
    expect_diff("r: {\"127.0.0.1:5000\": {insecure: true}}\n", "r: {\"127.0.0.1:5000\": {insecure: false}}\n", NULL,
                "r.\"127.0.0.1:5000\".insecure(true->false)");
}

static void test_skipped_paths_are_neither_reported_nor_entered(void **state) {
    (void)state;
    const char *a = "images: {pinned: [a], max_parallel_downloads: 3}\n"
                    "transports: {registry: {plugin: image-docker, options: {retries: 1}}}\n";
    const char *b = "images: {pinned: [b], max_parallel_downloads: 4}\n"
                    "transports: {registry: {plugin: image-oci, options: {retries: 2}}}\n";
    expect_diff(a, b, skip_images_pinned,
                "images.max_parallel_downloads(3->4) transports.registry.plugin(image-docker->image-oci)");
}

static int stop_at_first(void *ctx, const char *path, const struct cleat_config *a, const struct cleat_config *b) {
    (void)a;
    (void)b;
    ++*(int *)ctx;
    return strcmp(path, "a") == 0 ? 7 : 0;
}

static void test_callback_stops_the_walk(void **state) {
    (void)state;
    struct cleat_config *ta = parse("a: 1\nb: 2\n"), *tb = parse("a: 2\nb: 3\n");
    int calls = 0;
    assert_int_equal(config_diff(ta, tb, NULL, stop_at_first, &calls), 7);
    assert_int_equal(calls, 1);
    config_tree_free(ta);
    config_tree_free(tb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_trees_have_no_difference),
        cmocka_unit_test(test_scalars_and_nested_maps),
        cmocka_unit_test(test_added_removed_and_kind_changes),
        cmocka_unit_test(test_lists_are_one_setting),
        cmocka_unit_test(test_keys_with_dots_are_quoted),
        cmocka_unit_test(test_skipped_paths_are_neither_reported_nor_entered),
        cmocka_unit_test(test_callback_stops_the_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
