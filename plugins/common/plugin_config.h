/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading a plugin's `options:` map through the host's config accessors
 * (cleat/plugin.h).  Unknown keys: host->config_check_keys(), which also
 * takes no options at all (the key absent, or `options: ~`) as none.
 */
#ifndef CLEAT_PLUGIN_CONFIG_H
#define CLEAT_PLUGIN_CONFIG_H

#include <cleat/plugin.h>

/*
 * The string value of `key` in `options`, `def` (may be NULL) when absent;
 * it must be an absolute path, else INVALID_ARGUMENT naming file:line:column
 * ("'KEY' must be an absolute path, not 'VALUE'").  Borrowed from the tree.
 */
int plugin_config_path(const struct cleat_host *host, const struct cleat_config *options, const char *key,
                       const char *def, const char **ret, struct cleat_error **reterr);

/*
 * The list of strings at `key` in `options` (absent or null: an empty
 * list), copied into *ret (plugin_strv_free); any other shape, or an item
 * that is not a non-empty string, is INVALID_ARGUMENT naming where.
 */
int plugin_config_strings(const struct cleat_host *host, const struct cleat_config *options, const char *key,
                          char ***ret, struct cleat_error **reterr);

#endif
