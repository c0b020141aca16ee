/* SPDX-License-Identifier: Apache-2.0 */
#include "plugin_config.h"

int plugin_config_path(const struct cleat_host *host, const struct cleat_config *options, const char *key,
                       const char *def, const char **ret, struct cleat_error **reterr) {
    int r = host->config_get_string(options, key, def, ret, reterr);
    if (r == 0 && *ret && (*ret)[0] != '/')
        r = cleat_config_error(host, host->config_get0(options, key), reterr, "'%s' must be an absolute path, not '%s'",
                               key, *ret);
    return r;
}
