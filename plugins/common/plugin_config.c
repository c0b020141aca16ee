/* SPDX-License-Identifier: Apache-2.0 */
#include "plugin_config.h"

int plugin_config_check_keys(const struct cleat_host *host, const struct cleat_config *options,
                             const char *const *allowed, struct cleat_error **reterr) {
    uint32_t kind = host->config_kind(options);
    if (kind == CLEAT_CONFIG_ABSENT || kind == CLEAT_CONFIG_NULL)
        return 0;
    return host->config_check_keys(options, allowed, reterr);
}

int plugin_config_path(const struct cleat_host *host, const struct cleat_config *options, const char *key,
                       const char *def, const char **ret, struct cleat_error **reterr) {
    int r = host->config_get_string(options, key, def, ret, reterr);
    if (r == 0 && *ret && (*ret)[0] != '/')
        r = cleat_config_error(host, host->config_get0(options, key), reterr,
                               "'%s' must be an absolute path, not '%s'", key, *ret);
    return r;
}
