/* SPDX-License-Identifier: Apache-2.0 */
/* A CDI spec file: text to JSON, then the top level and its devices; the edits are cdi_spec_edits.c. */
#include "cdi_spec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdi_name.h"
#include "cdi_spec_internal.h"
#include "config_tree.h"
#include "error.h"

/* The spec versions read: 0.3.0 (the first tagged one) to 1.0.x (the same format as 0.8.0). */
#define VERSION_MIN CDI_VERSION(0, 3, 0)
#define VERSION_MAX CDI_VERSION(1, 0, 999)

int cdi_spec_json(const char *name, const char *text, size_t len, int yaml, json_t **ret, struct cleat_error **reterr) {
    if (len > CDI_SPEC_MAX_BYTES)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EFBIG, "%s: larger than %d bytes", name,
                         CDI_SPEC_MAX_BYTES);
    if (!yaml) {
        json_error_t je;
        json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!root)
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "%s:%d:%d: %s", name, je.line, je.column,
                             je.text);
        *ret = root;
        return 0;
    }
    /* YAML goes through the config's own parser and its JSON form, so that one checker reads both. */
    struct cleat_config *tree = NULL;
    int r = config_tree_parse_string(name, text, len, &tree, reterr);
    if (r < 0)
        return r;
    char *js = config_tree_to_json(tree);
    config_tree_free(tree);
    json_t *root = js ? json_loads(js, 0, NULL) : NULL;
    free(js);
    if (!root)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "%s: out of memory", name);
    *ret = root;
    return 0;
}

/* "X.Y.Z" (decimal, each below 1000) as CDI_VERSION, or -1. */
static long parse_version(const char *s) {
    long v = 0;
    for (int part = 0; part < 3; part++) {
        char *end;
        if (*s < '0' || *s > '9')
            return -1;
        errno = 0;
        unsigned long n = strtoul(s, &end, 10);
        if (errno || n > 999 || *end != (part < 2 ? '.' : '\0'))
            return -1;
        v = v * 1000 + (long)n;
        s = end + (part < 2);
    }
    return v;
}

static const char *const top_fields[] = {"cdiVersion", "kind", "annotations", "devices", "containerEdits", NULL};
static const char *const device_fields[] = {"name", "annotations", "containerEdits", NULL};

/* annotations: a map of strings (CDI 0.6.0); cleat reads none of them. */
static int check_annotations(struct cdi_pctx *p, const json_t *obj, const char *where) {
    const json_t *a = json_object_get(obj, "annotations");
    if (!a || json_is_null(a))
        return 0;
    cdi_needs(p, CDI_VERSION(0, 6, 0), "annotations");
    if (!json_is_object(a))
        return cdi_bad(p, where, "annotations must be a map of strings");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)a, k, v) {
        if (!json_is_string(v))
            return cdi_bad(p, where, "annotation \"%s\" must be a string", k);
    }
    return 0;
}

static int parse_device(struct cdi_pctx *p, const json_t *obj, size_t i, struct cdi_device *d) {
    char where[64], why[256];
    snprintf(where, sizeof(where), "devices[%zu]", i);
    if (!json_is_object(obj))
        return cdi_bad(p, where, "must be a map");
    int r = cdi_check_fields(p, obj, where, device_fields);
    if (r >= 0)
        r = cdi_get_str(p, obj, "name", where, 1, &d->name);
    if (r >= 0 && cdi_device_name_check(d->name, why, sizeof(why)) < 0)
        r = cdi_bad(p, where, "%s", why);
    if (r >= 0 && d->name[0] >= '0' && d->name[0] <= '9')
        cdi_needs(p, CDI_VERSION(0, 5, 0), "a device name starting with a digit");
    if (r >= 0)
        r = check_annotations(p, obj, where);
    const json_t *e = json_object_get(obj, "containerEdits");
    snprintf(where, sizeof(where), "devices[%zu].containerEdits", i);
    /* Required by the schema, though a device may have nothing of its own (only the spec's edits). */
    if (r >= 0 && !e)
        r = cdi_bad(p, where, "is missing");
    if (r >= 0)
        r = cdi_parse_edits(p, e, where, &d->edits);
    return r;
}

static int parse_devices(struct cdi_pctx *p, const json_t *root, struct cdi_spec *s) {
    const json_t *devs = json_object_get(root, "devices");
    if (!json_is_array(devs) || json_array_size(devs) == 0)
        return cdi_bad(p, "devices", "must be a list of at least one device");
    s->devices = calloc(json_array_size(devs), sizeof(*s->devices));
    if (!s->devices)
        return cdi_oom(p);
    for (size_t i = 0; i < json_array_size(devs); i++) {
        int r = parse_device(p, json_array_get(devs, i), i, &s->devices[s->n_devices++]);
        if (r < 0)
            return r;
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->devices[j].name, s->devices[i].name) == 0)
                return cdi_bad(p, "devices", "device \"%s\" is defined twice", s->devices[i].name);
    }
    return 0;
}

static int parse_top(struct cdi_pctx *p, const json_t *root, struct cdi_spec *s) {
    char why[256];
    if (!json_is_object(root))
        return cdi_bad(p, "top level", "must be a map");
    int r = cdi_check_fields(p, root, "top level", top_fields);
    if (r >= 0)
        r = cdi_get_str(p, root, "cdiVersion", "top level", 1, &s->version);
    if (r < 0)
        return r;
    long v = parse_version(s->version);
    if (v < 0)
        return cdi_bad(p, "cdiVersion", "\"%s\" is not a version X.Y.Z", s->version);
    if (v < VERSION_MIN || v > VERSION_MAX)
        return cdi_bad(p, "cdiVersion", "%s is not supported: cleat reads CDI specs 0.3.0 to 1.0", s->version);
    int dotted = 0;
    r = cdi_get_str(p, root, "kind", "top level", 1, &s->kind);
    if (r >= 0 && cdi_kind_check(s->kind, &dotted, why, sizeof(why)) < 0)
        r = cdi_bad(p, "kind", "%s", why);
    if (r >= 0 && dotted)
        cdi_needs(p, CDI_VERSION(0, 6, 0), "a '.' in the class of the kind");
    if (r >= 0)
        r = check_annotations(p, root, "top level");
    if (r >= 0)
        r = parse_devices(p, root, s);
    if (r >= 0)
        r = cdi_parse_edits(p, json_object_get(root, "containerEdits"), "containerEdits", &s->edits);
    if (r >= 0 && p->needed > v)
        r = cdi_bad(p, "cdiVersion", "%s is too old for the fields used: they need %ld.%ld.%ld (%s)", s->version,
                    p->needed / 1000000, p->needed / 1000 % 1000, p->needed % 1000, p->needed_by);
    return r;
}

int cdi_spec_from_json(const char *name, const json_t *root, int yaml, struct cdi_spec **ret,
                       struct cleat_error **reterr) {
    struct cdi_spec *s = calloc(1, sizeof(*s));
    if (!s)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    struct cdi_pctx p = {.name = name, .yaml = yaml, .reterr = reterr};
    int r = parse_top(&p, root, s);
    if (r < 0) {
        cdi_spec_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

int cdi_spec_parse(const char *name, const char *text, size_t len, int yaml, struct cdi_spec **ret,
                   struct cleat_error **reterr) {
    json_t *root = NULL;
    int r = cdi_spec_json(name, text, len, yaml, &root, reterr);
    if (r >= 0)
        r = cdi_spec_from_json(name, root, yaml, ret, reterr);
    json_decref(root);
    return r;
}

void cdi_spec_free(struct cdi_spec *s) {
    if (!s)
        return;
    for (size_t i = 0; i < s->n_devices; i++) {
        free(s->devices[i].name);
        cdi_edits_clear(&s->devices[i].edits);
    }
    free(s->devices);
    cdi_edits_clear(&s->edits);
    free(s->kind);
    free(s->version);
    free(s);
}

const struct cdi_device *cdi_spec_device(const struct cdi_spec *s, const char *name) {
    for (size_t i = 0; s && i < s->n_devices; i++)
        if (strcmp(s->devices[i].name, name) == 0)
            return &s->devices[i];
    return NULL;
}
