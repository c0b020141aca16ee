/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growing list of malloc'd strings: what a walk callback collects (keys
 * of snapshots to remove, IDs of records) to act on once the walk is over.
 * Zero-initialise to start; not thread-safe.
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

#endif
