/* SPDX-License-Identifier: Apache-2.0 */
#include "strlist.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int strlist_add(struct strlist *l, const char *s) {
    /* Room for the string and the NULL after it. */
    if (l->n + 1 >= l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    char *copy = strdup(s);
    if (!copy)
        return -ENOMEM;
    l->v[l->n++] = copy;
    l->v[l->n] = NULL;
    return 0;
}

void strv_free(char **v) {
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

int strv_equal(char *const *a, char *const *b) {
    size_t i = 0;
    for (; a && b && a[i] && b[i]; i++)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return (!a || !a[i]) && (!b || !b[i]);
}

int str_equal(const char *a, const char *b) {
    return a == b || (a && b && strcmp(a, b) == 0);
}

void strlist_free(struct strlist *l) {
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    *l = (struct strlist){0};
}
