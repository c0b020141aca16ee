/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cleat.yaml (core/config/config_tree.c, core/config/config.c) from memory: the text
 * parsed as a drop-in is, merged onto the embedded defaults, and the result
 * checked against the schema, as config_load() does with files.
 *
 * Invariants: a tree that parses is written out as YAML that parses back to
 * an equal tree, and as JSON; a config that validates has the values the
 * schema promises (absolute paths, the ranges of config.h).
 */
#include <stdio.h>

#include "config.h"
#include "config_tree.h"
#include "error.h"
#include "fuzz.h"

static void check_emit(const struct cleat_config *tree) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    FUZZ_CHECK(f && config_tree_emit_yaml(tree, f) == 0 && fclose(f) == 0);
    struct cleat_config *again = NULL;
    struct cleat_error *err = NULL;
    if (config_tree_parse_string("again", buf, len, &again, &err) < 0) {
        fprintf(stderr, "emitted YAML does not parse: %s\n---\n%s---\n", error_message(err), buf);
        FUZZ_CHECK(!"the emitted YAML parses");
    }
    FUZZ_CHECK(config_tree_equal(tree, again));
    config_tree_free(again);
    free(buf);
    char *json = config_tree_to_json(tree);
    FUZZ_CHECK(json && json[0] == '{');
    free(json);
}

static void check_config(const struct config *c) {
    FUZZ_CHECK(c->version == 1 && c->socket_path[0] == '/' && c->root_dir[0] == '/' && c->state_dir[0] == '/');
    FUZZ_CHECK(c->grpc_workers >= 1 && c->grpc_workers <= 256);
    FUZZ_CHECK(c->streaming_port <= 65535 && c->streaming_max_sessions >= 1 && c->streaming_max_sessions <= 4096);
    for (size_t i = 0; c->plugin_dirs && c->plugin_dirs[i]; i++)
        FUZZ_CHECK(c->plugin_dirs[i][0] == '/');
    for (size_t i = 0; i < c->n_instances; i++)
        FUZZ_CHECK(c->instances[i].name && c->instances[i].plugin);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct cleat_config *tree = NULL, *defaults = NULL;
    struct cleat_error *err = NULL;
    if (config_tree_parse_string("fuzz.yaml", (const char *)data, size, &tree, &err) < 0) {
        FUZZ_CHECK(err && error_status(err) != CLEAT_STATUS_OK);
        error_free(err);
        return 0;
    }
    check_emit(tree);
    FUZZ_CHECK(config_tree_parse_string(CONFIG_DEFAULTS_NAME, cleat_default_config, cleat_default_config_len, &defaults,
                                        NULL) == 0);
    struct config *c = NULL;
    if (config_tree_merge(defaults, tree, &err) < 0) { /* consumes tree; defaults stay ours */
        FUZZ_CHECK(err);
        error_free(err);
        config_tree_free(defaults);
        return 0;
    }
    if (config_from_tree(defaults, &c, &err) < 0) { /* takes defaults */
        FUZZ_CHECK(err && error_status(err) != CLEAT_STATUS_OK);
        error_free(err);
        return 0;
    }
    check_config(c);
    config_free(c);
    return 0;
}
