/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cleat plugin SDK: the read-only configuration tree.
 *
 * A plugin instance receives the `options:` subtree of its entry in
 * cleat.yaml (after drop-ins are merged) as a `const struct cleat_config *`.
 * The tree is owned by the host and stays valid, unchanged, until the
 * instance's fini() returns; a plugin may keep pointers into it.
 *
 * Nodes are read through the host table (struct cleat_host in plugin.h):
 * config_kind(), config_scalar0(), config_count(), config_key0(),
 * config_at0(), config_get0(), config_where() and config_check_keys().  The
 * inline helpers below wrap the common cases.  A NULL node is valid
 * everywhere and reads as "absent" (kind CLEAT_CONFIG_ABSENT).
 */
#ifndef CLEAT_CONFIG_H
#define CLEAT_CONFIG_H

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque: defined by the host. */
struct cleat_config;

/* Node kinds, as returned by cleat_host.config_kind(). */
#define CLEAT_CONFIG_ABSENT 0 /* NULL node, or a key that is not there */
#define CLEAT_CONFIG_NULL 1   /* an explicit YAML null (`key:` or `~`) */
#define CLEAT_CONFIG_SCALAR 2 /* a string, number or boolean, kept as text */
#define CLEAT_CONFIG_MAP 3
#define CLEAT_CONFIG_SEQ 4

#ifdef __cplusplus
}
#endif

#endif /* CLEAT_CONFIG_H */
