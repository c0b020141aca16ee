/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config_diff: which settings differ between two configuration trees, for
 * a reload (SIGHUP) to say what it applied and what needs a restart.
 */
#ifndef CLEAT_CORE_CONFIG_DIFF_H
#define CLEAT_CORE_CONFIG_DIFF_H

#include <cleat/config.h>

/*
 * A changed setting, named by its dotted path from the top of the tree
 * ("grpc.workers", "runtime.handlers.runc.options.binary"); a key holding
 * '.', ':', '"' or a space is written in double quotes
 * (transports.registry.options.registries."127.0.0.1:5000").  `old_value`
 * and `new_value` are the nodes (NULL when the key is absent on that side).
 * Return non-zero to stop the walk.
 */
typedef int (*config_diff_fn)(void *ctx, const char *path, const struct cleat_config *old_value,
                              const struct cleat_config *new_value);
/* The path of `key` under `prefix` ("" for the top), quoted as above; malloc'd, NULL when out of memory. */
char *config_diff_path(const char *prefix, const char *key);

/* Says whether a path (as above) is someone else's, so the walk neither reports nor enters it. */
typedef int (*config_diff_skip_fn)(void *ctx, const char *path);

/*
 * Call `fn` once for each setting that differs between `old_tree` and
 * `new_tree`, old keys first in their order, then keys only `new_tree` has.
 * Maps present on both sides are compared key by key (their key order does
 * not matter); anything else -- a scalar, a list (lists replace, they do
 * not merge), a null, a change of kind, a key added or removed -- is one
 * setting.  `skip` may be NULL.  Returns what `fn` returned to stop, else 0;
 * -ENOMEM if a path could not be made.
 */
int config_diff(const struct cleat_config *old_tree, const struct cleat_config *new_tree, config_diff_skip_fn skip,
                config_diff_fn fn, void *ctx);

#endif
