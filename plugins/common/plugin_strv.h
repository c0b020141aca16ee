/* SPDX-License-Identifier: Apache-2.0 */
/* String vectors: arrays of malloc'd strings ended by a NULL pointer (argv, envp, lists of names). */
#ifndef CLEAT_PLUGIN_STRV_H
#define CLEAT_PLUGIN_STRV_H

#include <stddef.h>

/* The number of strings before the NULL; 0 for a NULL vector. */
size_t plugin_strv_len(const char *const *v);
/* A deep copy (a NULL vector gives an empty one, not NULL); NULL when out of memory. */
char **plugin_strv_dup(const char *const *v);
/*
 * The last step of building a vector whose first n entries were each made
 * by strdup or asprintf, any of which may have failed (left NULL): returns
 * v when all n are there, else frees those made and v, and returns NULL.
 * v[n] must be NULL (a calloc'd array has it).  NULL v gives NULL.
 */
char **plugin_strv_checked(char **v, size_t n);
/* Frees every string and the vector; NULL-safe. */
void plugin_strv_free(char **v);

#endif
