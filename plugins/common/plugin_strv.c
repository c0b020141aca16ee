/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "plugin_strv.h"

size_t plugin_strv_len(const char *const *v) {
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

char **plugin_strv_dup(const char *const *v) {
    size_t n = plugin_strv_len(v);
    char **copy = calloc(n + 1, sizeof(char *));
    if (!copy)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(copy[i] = strdup(v[i]))) {
            plugin_strv_free(copy);
            return NULL;
        }
    return copy;
}

char **plugin_strv_checked(char **v, size_t n) {
    for (size_t i = 0; v && i < n; i++)
        if (!v[i]) {
            for (size_t j = 0; j < n; j++)
                free(v[j]);
            free(v);
            return NULL;
        }
    return v;
}

void plugin_strv_free(char **v) {
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}
