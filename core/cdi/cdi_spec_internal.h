/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by cdi_spec.c and cdi_spec_edits.c; not an API. */
#ifndef CLEAT_CORE_CDI_SPEC_INTERNAL_H
#define CLEAT_CORE_CDI_SPEC_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "cdi_spec.h"
#include "strlist.h"

/* A spec version X.Y.Z as one comparable number. */
#define CDI_VERSION(x, y, z) ((long)(x)*1000000 + (long)(y)*1000 + (long)(z))

struct cdi_pctx {
    const char *name; /* the file, for messages */
    int yaml;         /* from YAML: a plain scalar that reads as a number or boolean is text where text is wanted */
    struct cleat_error **reterr;
    long needed;           /* the lowest cdiVersion the fields seen so far need */
    const char *needed_by; /* ... and the field that needs it */
};

/* Note a field (`by`, a static string naming it) that needs spec `version` or newer. */
void cdi_needs(struct cdi_pctx *p, long version, const char *by);

/* INVALID_ARGUMENT "<file>: <where>: <message>"; returns the negative errno. */
int cdi_bad(struct cdi_pctx *p, const char *where, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int cdi_oom(struct cdi_pctx *p);

/* Every key of `obj` must be in `allowed` (NULL-terminated): the spec refuses unknown fields. */
int cdi_check_fields(struct cdi_pctx *p, const json_t *obj, const char *where, const char *const *allowed);
/* obj[key] as a malloc'd string; absent or null: *ret NULL, or an error when `required`. */
int cdi_get_str(struct cdi_pctx *p, const json_t *obj, const char *key, const char *where, int required, char **ret);
/* obj[key], a list of strings, as a malloc'd NULL-terminated array (empty when absent or null). */
int cdi_get_strv(struct cdi_pctx *p, const json_t *obj, const char *key, const char *where, char ***ret);
/*
 * obj[key] as an integer in [min, max]; *ret_has 0 when absent or null.
 * A string "0NNN" or "0oNNN" is read as octal (a file mode written that way
 * in YAML reaches here as a string).
 */
int cdi_get_int(struct cdi_pctx *p, const json_t *obj, const char *key, const char *where, int64_t min, int64_t max,
                int *ret_has, int64_t *ret);

/* A containerEdits object (NULL or null: none) into `e`. */
int cdi_parse_edits(struct cdi_pctx *p, const json_t *obj, const char *where, struct cdi_edits *e);

#endif
