/* SPDX-License-Identifier: Apache-2.0 */
#include "plugin_config.h"

#include <stdlib.h>
#include <string.h>

#include "plugin_error.h"
#include "plugin_strv.h"

int plugin_config_path(const struct cleat_host *host, const struct cleat_config *options, const char *key,
                       const char *def, const char **ret, struct cleat_error **reterr) {
    int r = host->config_get_string(options, key, def, ret, reterr);
    if (r == 0 && *ret && (*ret)[0] != '/')
        r = cleat_config_error(host, host->config_get0(options, key), reterr, "'%s' must be an absolute path, not '%s'",
                               key, *ret);
    return r;
}

int plugin_config_strings(const struct cleat_host *host, const struct cleat_config *options, const char *key,
                          char ***ret, struct cleat_error **reterr) {
    const struct cleat_config *list = host->config_get0(options, key);
    uint32_t kind = host->config_kind(list);
    if (kind != CLEAT_CONFIG_ABSENT && kind != CLEAT_CONFIG_NULL && kind != CLEAT_CONFIG_SEQ)
        return cleat_config_error(host, list, reterr, "'%s' must be a list of strings", key);
    uint64_t n = kind == CLEAT_CONFIG_SEQ ? host->config_count(list) : 0;
    char **v = calloc(n + 1, sizeof(char *));
    if (!v)
        return plugin_oom(host, reterr);
    for (uint64_t i = 0; i < n; i++) {
        const struct cleat_config *item = host->config_at0(list, i);
        const char *text = host->config_scalar0(item);
        int r = !text || !*text
                    ? cleat_config_error(host, item, reterr, "an item of '%s' must be a non-empty string", key)
                    : 0;
        if (r < 0 || !(v[i] = strdup(text))) {
            plugin_strv_free(v);
            return r < 0 ? r : plugin_oom(host, reterr);
        }
    }
    *ret = v;
    return 0;
}
