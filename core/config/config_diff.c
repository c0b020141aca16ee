/* SPDX-License-Identifier: Apache-2.0 */
/* Which settings differ between two configuration trees (config_diff.h). */
#include "config_diff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_tree.h"
#include "strbuf.h"

struct walk {
    config_diff_skip_fn skip;
    config_diff_fn fn;
    void *ctx;
};

/* `prefix` + "." + key, the key quoted when it would make the path ambiguous. */
char *config_diff_path(const char *prefix, const char *key) {
    struct strbuf b = {0};
    int quote = strpbrk(key, ".:\" ") != NULL || *key == '\0';
    if (*prefix) {
        strbuf_puts(&b, prefix);
        strbuf_puts(&b, ".");
    }
    strbuf_puts(&b, quote ? "\"" : "");
    strbuf_puts(&b, key);
    strbuf_puts(&b, quote ? "\"" : "");
    return strbuf_steal(&b);
}

static int walk_node(const struct walk *w, const char *path, const struct cleat_config *a,
                     const struct cleat_config *b);

/* One key of a map on either side. */
static int walk_key(const struct walk *w, const char *prefix, const char *key, const struct cleat_config *a,
                    const struct cleat_config *b) {
    char *path = config_diff_path(prefix, key);
    if (!path)
        return -ENOMEM;
    int r = w->skip && w->skip(w->ctx, path) ? 0 : walk_node(w, path, a, b);
    free(path);
    return r;
}

static int walk_node(const struct walk *w, const char *path, const struct cleat_config *a,
                     const struct cleat_config *b) {
    if (config_kind(a) != CLEAT_CONFIG_MAP || config_kind(b) != CLEAT_CONFIG_MAP)
        return config_tree_equal(a, b) ? 0 : w->fn(w->ctx, path, a, b);
    for (uint64_t i = 0; i < config_count(a); i++) {
        const char *key = config_key0(a, i);
        int r = walk_key(w, path, key, config_at0(a, i), config_get0(b, key));
        if (r != 0)
            return r;
    }
    for (uint64_t i = 0; i < config_count(b); i++) {
        const char *key = config_key0(b, i);
        if (config_kind(config_get0(a, key)) != CLEAT_CONFIG_ABSENT)
            continue; /* compared above */
        int r = walk_key(w, path, key, NULL, config_at0(b, i));
        if (r != 0)
            return r;
    }
    return 0;
}

int config_diff(const struct cleat_config *old_tree, const struct cleat_config *new_tree, config_diff_skip_fn skip,
                config_diff_fn fn, void *ctx) {
    struct walk w = {.skip = skip, .fn = fn, .ctx = ctx};
    return walk_node(&w, "", old_tree, new_tree);
}
