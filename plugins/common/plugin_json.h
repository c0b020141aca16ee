/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cleanup for jansson values, for the plugins that parse JSON (they link
 * jansson themselves; the helper library does not).
 */
#ifndef CLEAT_PLUGIN_JSON_H
#define CLEAT_PLUGIN_JSON_H

#include <jansson.h>

#include "plugin_cleanup.h"

static inline void plugin_json_decrefp(json_t **j) {
    json_decref(*j);
}

/* `_cleanup_json_ json_t *root = json_loads(...);` drops the reference at the end of the scope. */
#define _cleanup_json_ _cleanup_(plugin_json_decrefp)

#endif
