/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NULL-terminated arrays of strings (strv), and a growing list of them:
 * what a walk callback collects (keys of snapshots to remove, IDs of
 * records) to act on once the walk is over.  A strlist is zero-initialised
 * to start; not thread-safe.
 */
#ifndef CLEAT_BASE_STRLIST_H
#define CLEAT_BASE_STRLIST_H

#include <stddef.h>

struct strlist {
    char **v; /* n strings, NULL-terminated once anything was added; NULL before */
    size_t n, cap;
};

/* Append a copy of s.  0, or -ENOMEM with the list as it was. */
int strlist_add(struct strlist *l, const char *s);

/* Free the strings and the array, and leave an empty list (may be added to again).  NULL-safe. */
void strlist_free(struct strlist *l);

/* Free a NULL-terminated array of malloc'd strings and the strings.  NULL-safe. */
void strv_free(char **v);

/* Whether two NULL-terminated arrays hold the same strings in the same order; NULL counts as empty. */
int strv_equal(char *const *a, char *const *b);

/* Whether two strings are equal; NULL equals only NULL. */
int str_equal(const char *a, const char *b);

#endif
