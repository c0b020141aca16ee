/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The typed plugin calls: an op the plugin has is called with its instance
 * and arguments; an op it lacks is UNIMPLEMENTED naming the instance and
 * the op, without a call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "plugin_calls.h"

static int calls;
static void *seen_instance;

static int fake_kill(void *instance, const char *container_id, const char *exec_id, int32_t signal, uint32_t flags,
                     struct cleat_error **reterr) {
    calls++;
    seen_instance = instance;
    assert_string_equal(container_id, "c1");
    assert_null(exec_id);
    assert_int_equal(signal, 15);
    assert_int_equal(flags, CLEAT_KILL_ALL);
    return 0;
}

static uint64_t fake_features(void *instance) {
    return CLEAT_RUNTIME_FEATURE_USER_NAMESPACES;
}

static const struct cleat_plugin desc = {.name = "fake"};

static struct plugin_instance runtime(void) {
    struct plugin_instance pi = {.concern = CLEAT_CONCERN_RUNTIME, .name = "rt1", .desc = &desc, .instance = &calls};
    return pi;
}

static void test_present_op_is_called(void **state) {
    struct plugin_instance pi = runtime();
    pi.ops.runtime.kill = fake_kill;
    struct cleat_error *err = NULL;
    calls = 0;
    assert_int_equal(plugin_runtime_kill(&pi, "c1", NULL, 15, CLEAT_KILL_ALL, &err), 0);
    assert_int_equal(calls, 1);
    assert_ptr_equal(seen_instance, &calls);
    assert_null(err);
    assert_true(plugin_has_op(&pi, "kill"));
}

static void test_missing_op_is_unimplemented(void **state) {
    struct plugin_instance pi = runtime();
    struct cleat_error *err = NULL;
    assert_true(plugin_runtime_exec(&pi, NULL, NULL, &err) < 0);
    assert_int_equal(error_status(err), CLEAT_STATUS_UNIMPLEMENTED);
    assert_true(plugin_call_unimplemented(err));
    assert_non_null(strstr(error_message(err), "'rt1'"));
    assert_non_null(strstr(error_message(err), "exec"));
    error_free(err);
    assert_false(plugin_has_op(&pi, "exec"));
    assert_int_equal(plugin_runtime_features(&pi), 0);
    pi.ops.runtime.features = fake_features;
    assert_int_equal(plugin_runtime_features(&pi), CLEAT_RUNTIME_FEATURE_USER_NAMESPACES);
}

static int fake_stats(void *instance, const char *container_id, struct cleat_runtime_stats *ret,
                      struct cleat_error **reterr) {
    calls++;
    seen_instance = instance;
    assert_string_equal(container_id, "c1");
    ret->cpu_usage_ns = 42;
    return 0;
}

static int fake_sandbox_update(void *instance, const char *sandbox_id, const char *resources_json,
                               struct cleat_error **reterr) {
    calls++;
    assert_string_equal(sandbox_id, "p1");
    assert_string_equal(resources_json, "{\"cpu\":{}}");
    return 0;
}

/* The ops ABI 1.1 appended go through the same door: called when there, UNIMPLEMENTED when not. */
static void test_abi_1_1_ops(void **state) {
    struct plugin_instance pi = runtime();
    struct cleat_runtime_stats st = {.struct_size = sizeof(st)};
    struct cleat_error *err = NULL;
    assert_false(plugin_has_op(&pi, "stats"));
    assert_false(plugin_has_op(&pi, "sandbox_update"));
    assert_true(plugin_runtime_stats(&pi, "c1", &st, &err) < 0);
    assert_true(plugin_call_unimplemented(err));
    assert_non_null(strstr(error_message(err), "stats"));
    error_free(err);
    err = NULL;
    assert_true(plugin_runtime_sandbox_update(&pi, "p1", "{}", &err) < 0);
    assert_true(plugin_call_unimplemented(err));
    error_free(err);
    err = NULL;
    pi.ops.runtime.stats = fake_stats;
    pi.ops.runtime.sandbox_update = fake_sandbox_update;
    calls = 0;
    assert_int_equal(plugin_runtime_stats(&pi, "c1", &st, &err), 0);
    assert_int_equal(st.cpu_usage_ns, 42);
    assert_ptr_equal(seen_instance, &calls);
    assert_int_equal(plugin_runtime_sandbox_update(&pi, "p1", "{\"cpu\":{}}", &err), 0);
    assert_int_equal(calls, 2);
    assert_null(err);
    assert_true(plugin_has_op(&pi, "stats"));
    assert_true(plugin_has_op(&pi, "sandbox_update"));
}

/* An op name of another concern, or no op at all, is never "present". */
static void test_has_op_checks_the_concern(void **state) {
    struct plugin_instance pi = runtime();
    pi.ops.runtime.kill = fake_kill;
    assert_false(plugin_has_op(&pi, "usage"));
    assert_false(plugin_has_op(&pi, "no_such_op"));
    pi.concern = CLEAT_CONCERN_NETWORK;
    assert_false(plugin_has_op(&pi, "kill"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_present_op_is_called),
        cmocka_unit_test(test_missing_op_is_unimplemented),
        cmocka_unit_test(test_has_op_checks_the_concern),
        cmocka_unit_test(test_abi_1_1_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
