/* SPDX-License-Identifier: Apache-2.0 */
/* core/base/error: making, wrapping, setting and freeing errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"

static void test_new_keeps_status_errno_and_message(void **state) {
    (void)state;
    struct cleat_error *e = error_new(CLEAT_STATUS_NOT_FOUND, ENOENT, "pod %s not found", "p1");
    assert_non_null(e);
    assert_int_equal(error_status(e), CLEAT_STATUS_NOT_FOUND);
    assert_int_equal(error_errno(e), ENOENT);
    assert_string_equal(error_message(e), "pod p1 not found");
    e = error_free(e);
    assert_null(e);
}

static void test_free_returns_null_and_takes_null(void **state) {
    (void)state;
    assert_null(error_free(NULL));
    struct cleat_error *e = error_new(CLEAT_STATUS_INTERNAL, EIO, "x");
    assert_null(error_free(e));
}

static void test_wrap_prefixes_and_keeps_the_status(void **state) {
    (void)state;
    struct cleat_error *e =
        error_wrap(error_new(CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "bad key"), "config %s", "a.yaml");
    assert_int_equal(error_status(e), CLEAT_STATUS_INVALID_ARGUMENT);
    assert_int_equal(error_errno(e), EINVAL);
    assert_string_equal(error_message(e), "config a.yaml: bad key");
    error_free(e);
}

static void test_set_returns_the_negative_errno(void **state) {
    (void)state;
    struct cleat_error *e = NULL;
    assert_int_equal(error_set(&e, CLEAT_STATUS_ALREADY_EXISTS, EEXIST, "id %d in use", 7), -EEXIST);
    assert_string_equal(error_message(e), "id 7 in use");
    error_free(e);
    assert_int_equal(error_set(NULL, CLEAT_STATUS_ALREADY_EXISTS, EEXIST, "nobody asked"), -EEXIST);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_keeps_status_errno_and_message),
        cmocka_unit_test(test_free_returns_null_and_takes_null),
        cmocka_unit_test(test_wrap_prefixes_and_keeps_the_status),
        cmocka_unit_test(test_set_returns_the_negative_errno),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
