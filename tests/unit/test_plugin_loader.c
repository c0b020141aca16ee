/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plugin loader against real shared objects (tests/plugins): each way a
 * plugin can be wrong is refused with a message that names the file and the
 * cause; good plugins load, get their options, and their ops are reachable.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "builders.h"
#include "config.h"
#include "config_tree.h"
#include "plugin_calls.h"
#include "plugin_loader.h"

struct fixture {
    char dir[64];
    struct config *cfg;
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/cleat-loader-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    config_free(f->cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* A config whose root/state dirs live in the fixture and whose plugins come from the test build. */
static struct config *make_config(struct fixture *f, const char *body) {
    char *text = NULL;
    assert_true(asprintf(&text,
                         "root_dir: %s/root\nstate_dir: %s/state\nsocket: %s/s.sock\nplugin_dirs: [%s]\n"
                         "snapshotter: null\ntransports: null\n%s", /* only the plugins under test */
                         f->dir, f->dir, f->dir, CLEAT_TEST_PLUGIN_DIR, body) > 0);
    struct config *cfg = config_over_defaults(text);
    free(text);
    config_free(f->cfg);
    f->cfg = cfg;
    return cfg;
}

static char *handler_config(const char *plugin) {
    char *s = NULL;
    assert_true(asprintf(&s, "runtime:\n  default_handler: h\n  handlers:\n    h:\n      plugin: %s\n", plugin) > 0);
    return s;
}

/* Load a single runtime handler made from `plugin`; expect failure containing every `needle`. */
static void expect_refused(struct fixture *f, const char *plugin, int mode, ...) {
    char *body = handler_config(plugin);
    struct config *cfg = make_config(f, body);
    free(body);
    struct plugins *p = NULL;
    struct cleat_error *err = NULL;
    int r = plugins_load(cfg, mode, &p, &err);
    assert_true(r < 0);
    assert_null(p);
    assert_non_null(err);
    const char *msg = error_message(err);
    va_list ap;
    va_start(ap, mode);
    for (const char *needle; (needle = va_arg(ap, const char *));)
        if (!strstr(msg, needle))
            fail_msg("message lacks '%s': %s", needle, msg);
    va_end(ap);
    /* Every message says where in the config the instance was defined. */
    assert_non_null(strstr(msg, "test.yaml:"));
    error_free(err);
}

static void test_bad_magic(void **state) {
    expect_refused(*state, "test-bad-magic", PLUGINS_INIT, "test-bad-magic.so", "bad magic 0xdeadbeef", NULL);
}

static void test_other_major(void **state) {
    char other[16], ours[16];
    snprintf(other, sizeof(other), "ABI %d.%d", CLEAT_ABI_MAJOR + 1, CLEAT_ABI_MINOR);
    snprintf(ours, sizeof(ours), "ABI %d.%d", CLEAT_ABI_MAJOR, CLEAT_ABI_MINOR);
    /* Refused already by --check-config, which loads nothing for real. */
    expect_refused(*state, "test-other-major", PLUGINS_VALIDATE, "test-other-major.so", other, ours, "different major",
                   NULL);
}

static void test_newer_minor(void **state) {
    char newer[16];
    snprintf(newer, sizeof(newer), "ABI %d.%d", CLEAT_ABI_MAJOR, CLEAT_ABI_MINOR + 1);
    expect_refused(*state, "test-newer-minor", PLUGINS_INIT, "test-newer-minor.so", newer, "newer", NULL);
}

static void test_small_descriptor(void **state) {
    expect_refused(*state, "test-small-struct", PLUGINS_INIT, "struct_size", NULL);
}

static void test_no_descriptor_symbol(void **state) {
    expect_refused(*state, "test-no-symbol", PLUGINS_INIT, "test-no-symbol.so", "exports no 'cleat_plugin'", NULL);
}

static void test_undefined_symbol_gets_the_real_reason(void **state) {
    /* libltdl alone would say "file not found"; the loader must say what the dynamic linker says. */
    expect_refused(*state, "test-undefined-symbol", PLUGINS_INIT, "cleat_test_symbol_that_does_not_exist", NULL);
}

static void test_missing_file(void **state) {
    expect_refused(*state, "no-such-plugin", PLUGINS_VALIDATE, "plugin 'no-such-plugin' not found",
                   CLEAT_TEST_PLUGIN_DIR, NULL);
}

static void test_wrong_concern(void **state) {
    expect_refused(*state, "test-good-network", PLUGINS_INIT, "is a network plugin", "configured as a runtime", NULL);
}

static void test_failing_init(void **state) {
    expect_refused(*state, "test-failing-init", PLUGINS_INIT, "runtime 'h'", "the test device is missing", NULL);
}

static void test_unknown_option_is_refused(void **state) {
    struct fixture *f = *state;
    struct config *cfg = make_config(f, "runtime:\n  default_handler: h\n  handlers:\n    h:\n"
                                        "      plugin: test-good-runtime\n      options: {readdy: true}\n");
    struct plugins *p = NULL;
    struct cleat_error *err = NULL;
    assert_true(plugins_load(cfg, PLUGINS_VALIDATE, &p, &err) < 0);
    assert_non_null(strstr(error_message(err), "readdy"));
    assert_non_null(strstr(error_message(err), "test.yaml:12:"));
    error_free(err);
}

static void test_two_instances_of_one_plugin(void **state) {
    struct fixture *f = *state;
    struct config *cfg = make_config(f, "runtime:\n  default_handler: a\n  handlers:\n"
                                        "    a: {plugin: test-good-runtime, options: {ready: true}}\n"
                                        "    b: {plugin: test-good-runtime, options: {ready: false, reason: nap}}\n");
    struct plugins *p = NULL;
    struct cleat_error *err = NULL;
    if (plugins_load(cfg, PLUGINS_INIT, &p, &err) < 0)
        fail_msg("%s", error_message(err));
    struct plugin_instance *a = plugins_find(p, CLEAT_CONCERN_RUNTIME, "a");
    struct plugin_instance *b = plugins_find(p, CLEAT_CONCERN_RUNTIME, "b");
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_equal(a->desc, b->desc);             /* one shared object ... */
    assert_ptr_not_equal(a->instance, b->instance); /* ... two instances with their own options */
    assert_int_equal(a->ops.runtime.status(a->instance, &err), 0);
    assert_true(b->ops.runtime.status(b->instance, &err) < 0);
    assert_string_equal(error_message(err), "nap");
    error_free(err);
    /* Each instance got its own directories. */
    assert_int_equal(access(a->root_dir, F_OK), 0);
    assert_int_equal(access(b->state_dir, F_OK), 0);
    assert_non_null(strstr(b->state_dir, "/state/plugins/runtime/b"));
    assert_null(plugins_find(p, CLEAT_CONCERN_NETWORK, "a"));
    plugins_free(p);
}

static void test_short_ops_table_reads_null(void **state) {
    struct fixture *f = *state;
    char *body = handler_config("test-short-ops");
    struct config *cfg = make_config(f, body);
    free(body);
    struct plugins *p = NULL;
    struct cleat_error *err = NULL;
    if (plugins_load(cfg, PLUGINS_INIT, &p, &err) < 0)
        fail_msg("%s", error_message(err));
    struct plugin_instance *pi = plugins_first(p, CLEAT_CONCERN_RUNTIME);
    assert_non_null(pi->ops.runtime.status);
    assert_non_null(pi->ops.runtime.features);
    assert_null(pi->ops.runtime.sandbox_create); /* past its ops_size: must read NULL, not garbage */
    assert_null(pi->ops.runtime.attach_address);
    plugins_free(p);
}

static void test_abi_1_0_plugin_loads_without_the_1_1_ops(void **state) {
    struct fixture *f = *state;
    char *body = handler_config("test-abi-1-0");
    struct config *cfg = make_config(f, body);
    free(body);
    struct plugins *p = NULL;
    struct cleat_error *err = NULL;
    if (plugins_load(cfg, PLUGINS_INIT, &p, &err) < 0)
        fail_msg("a plugin built for ABI 1.0 must still load: %s", error_message(err));
    struct plugin_instance *pi = plugins_first(p, CLEAT_CONCERN_RUNTIME);
    assert_int_equal(pi->desc->abi_minor, 0);
    assert_non_null(pi->ops.runtime.status);
    assert_non_null(pi->ops.runtime.features);
    /* Appended in 1.1, past its table: NULL, though the plugin's memory there holds functions. */
    assert_null(pi->ops.runtime.stats);
    assert_null(pi->ops.runtime.sandbox_update);
    assert_false(plugin_has_op(pi, "stats"));
    assert_false(plugin_has_op(pi, "sandbox_update"));
    struct cleat_runtime_stats st = {.struct_size = sizeof(st)};
    assert_true(plugin_runtime_stats(pi, "c1", &st, &err) < 0);
    assert_true(plugin_call_unimplemented(err));
    assert_non_null(strstr(error_message(err), "cannot stats"));
    error_free(err);
    err = NULL;
    assert_true(plugin_runtime_sandbox_update(pi, "p1", "{}", &err) < 0);
    assert_true(plugin_call_unimplemented(err));
    assert_non_null(strstr(error_message(err), "cannot sandbox_update"));
    error_free(err);
    plugins_free(p);
}

static void test_duplicate_instance_names(void **state) {
    struct fixture *f = *state;
    struct config *cfg = make_config(f, "runtime:\n  default_handler: a\n  handlers:\n"
                                        "    a: {plugin: test-good-runtime}\n    b: {plugin: test-good-runtime}\n");
    /* YAML itself refuses duplicate keys; the loader must also refuse a config built otherwise. */
    free(cfg->instances[1].name);
    cfg->instances[1].name = strdup("a");
    struct plugins *p = NULL;
    struct cleat_error *err = NULL;
    assert_true(plugins_load(cfg, PLUGINS_INIT, &p, &err) < 0);
    assert_int_equal(error_status(err), CLEAT_STATUS_ALREADY_EXISTS);
    assert_non_null(strstr(error_message(err), "duplicate runtime instance name 'a'"));
    error_free(err);
}

static void test_descriptor_versions(void **state) {
    (void)state;
    struct cleat_plugin d = {CLEAT_PLUGIN_MAGIC,
                             1,
                             0,
                             sizeof(struct cleat_plugin),
                             CLEAT_CONCERN_RUNTIME,
                             "x",
                             "1",
                             "",
                             NULL,
                             (void *)1,
                             (void *)1,
                             (void *)1,
                             0};
    struct cleat_error *err = NULL;
    /* An older minor is accepted by a newer host. */
    assert_int_equal(plugin_check_descriptor(&d, sizeof(d), "x.so", 1, 3, &err), 0);
    assert_null(err);
    /* A newer minor is not. */
    d.abi_minor = 4;
    assert_true(plugin_check_descriptor(&d, sizeof(d), "x.so", 1, 3, &err) < 0);
    assert_non_null(strstr(error_message(err), "ABI 1.4, newer than this cleatd's ABI 1.3"));
    error_free(err);
    err = NULL;
    /* A symbol too small to hold the protected fields is not read past them. */
    d.abi_minor = 0;
    assert_true(plugin_check_descriptor(&d, 8, "x.so", 1, 0, &err) < 0);
    assert_non_null(strstr(error_message(err), "too small"));
    error_free(err);
    err = NULL;
    d.init = NULL;
    assert_true(plugin_check_descriptor(&d, sizeof(d), "x.so", 1, 0, &err) < 0);
    assert_non_null(strstr(error_message(err), "no init function"));
    error_free(err);
}

static void test_builders(void **state) {
    (void)state;
    struct cleat_error *err = NULL;
    struct cleat_mount_list *ml = mount_list_new();
    const char *opts[] = {"ro", "lowerdir=/a:/b", NULL};
    assert_int_equal(mount_list_add(ml, "overlay", "overlay", NULL, opts, &err), 0);
    assert_int_equal(mount_list_add(ml, "bind", "/x", "/y", NULL, &err), 0);
    assert_true(mount_list_add(ml, "", "/x", "/y", NULL, &err) < 0);
    error_free(err);
    err = NULL;
    assert_int_equal(ml->n, 2);
    assert_string_equal(ml->items[0].options[1], "lowerdir=/a:/b");
    assert_null(ml->items[0].options[2]);
    assert_null(ml->items[1].options[0]);
    mount_list_free(ml);

    struct cleat_net_result *nr = net_result_new();
    assert_int_equal(net_result_add_ip(nr, "eth0", "10.1.0.5/24", "10.1.0.1", &err), 0);
    assert_int_equal(net_result_add_ip(nr, "eth0", "fd00::5/64", NULL, &err), 0);
    assert_true(net_result_add_ip(nr, "eth0", "10.1.0.5", NULL, &err) < 0);
    assert_int_equal(error_status(err), CLEAT_STATUS_INVALID_ARGUMENT);
    error_free(err);
    assert_int_equal(nr->n, 2);
    assert_string_equal(nr->ips[1].address, "fd00::5/64");
    net_result_free(nr);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_magic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_major, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_minor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_descriptor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_descriptor_symbol, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undefined_symbol_gets_the_real_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_concern, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_init, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_option_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_instances_of_one_plugin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_ops_table_reads_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abi_1_0_plugin_loads_without_the_1_1_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_instance_names, setup, teardown),
        cmocka_unit_test(test_descriptor_versions),
        cmocka_unit_test(test_builders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
