/* SPDX-License-Identifier: Apache-2.0 */
/* String arrays: their free and comparison, and the growing list walk callbacks collect into. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "strlist.h"

static void test_add_copies_and_terminates(void **state) {
    (void)state;
    struct strlist l = {0};
    char buf[16];
    for (int i = 0; i < 100; i++) {
        snprintf(buf, sizeof(buf), "key-%d", i);
        assert_int_equal(strlist_add(&l, buf), 0);
        assert_null(l.v[l.n]); /* NULL-terminated after every add, across every growth */
    }
    strcpy(buf, "changed");
    assert_int_equal(l.n, 100);
    assert_string_equal(l.v[0], "key-0");
    assert_string_equal(l.v[99], "key-99"); /* a copy: the caller's buffer changed since */
    strlist_free(&l);
    assert_null(l.v);
    assert_int_equal(l.n, 0);
    /* Empty again, and usable again. */
    assert_int_equal(strlist_add(&l, ""), 0);
    assert_string_equal(l.v[0], "");
    strlist_free(&l);
    strlist_free(&l); /* twice: nothing left to free */
    strlist_free(NULL);
}

static void test_strv_equal_and_free(void **state) {
    (void)state;
    char *ab[] = {"a", "b", NULL}, *ab2[] = {"a", "b", NULL}, *a[] = {"a", NULL}, *ba[] = {"b", "a", NULL};
    char *none[] = {NULL};
    assert_true(strv_equal(ab, ab2));
    assert_false(strv_equal(ab, a)); /* a prefix is not equal, either way round */
    assert_false(strv_equal(a, ab));
    assert_false(strv_equal(ab, ba));    /* order counts */
    assert_true(strv_equal(none, NULL)); /* NULL counts as empty */
    assert_true(strv_equal(NULL, NULL));
    assert_false(strv_equal(NULL, a));
    assert_true(str_equal(NULL, NULL));
    assert_false(str_equal(NULL, ""));
    assert_true(str_equal("x", "x"));
    assert_false(str_equal("x", "y"));
    struct strlist l = {0};
    assert_int_equal(strlist_add(&l, "k"), 0);
    strv_free(l.v); /* a strlist's array is a strv */
    strv_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_copies_and_terminates),
        cmocka_unit_test(test_strv_equal_and_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
