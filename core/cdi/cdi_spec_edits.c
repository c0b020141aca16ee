/* SPDX-License-Identifier: Apache-2.0 */
/* A spec's containerEdits (and the small readers cdi_spec.c shares); see cdi_spec.h for the rules. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdi_spec_internal.h"
#include "error.h"

void cdi_needs(struct cdi_pctx *p, long version, const char *by) {
    if (version > p->needed) {
        p->needed = version;
        p->needed_by = by;
    }
}

int cdi_bad(struct cdi_pctx *p, const char *where, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return error_set(p->reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "%s: %s: %s", p->name, where, msg);
}

int cdi_oom(struct cdi_pctx *p) {
    return error_set(p->reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "%s: out of memory", p->name);
}

int cdi_check_fields(struct cdi_pctx *p, const json_t *obj, const char *where, const char *const *allowed) {
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], k) != 0)
            i++;
        if (!allowed[i])
            return cdi_bad(p, where, "unknown field \"%s\"", k);
    }
    return 0;
}

/*
 * A string value as text; NULL when it is none.  In YAML, `name: 0` or
 * `args: [true]` is text to a field that wants text (as the CDI library
 * reads YAML, by the field's type): config_tree_to_json wrote those plain
 * scalars as JSON numbers and booleans, and their text is written back
 * exactly (only int64s in JSON syntax and the words true and false become
 * those).
 */
static char *text_of(const struct cdi_pctx *p, const json_t *v) {
    char buf[32];
    if (json_is_string(v))
        return strlen(json_string_value(v)) == json_string_length(v) ? strdup(json_string_value(v)) : NULL;
    if (!p->yaml || !(json_is_integer(v) || json_is_boolean(v)))
        return NULL;
    if (json_is_integer(v))
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
    else
        snprintf(buf, sizeof(buf), "%s", json_is_true(v) ? "true" : "false");
    return strdup(buf);
}

int cdi_get_str(struct cdi_pctx *p, const json_t *obj, const char *key, const char *where, int required, char **ret) {
    const json_t *v = json_object_get(obj, key);
    *ret = NULL;
    if (!v || json_is_null(v))
        return required ? cdi_bad(p, where, "\"%s\" is missing", key) : 0;
    *ret = text_of(p, v);
    if (!*ret || (required && !**ret)) {
        free(*ret);
        *ret = NULL;
        return cdi_bad(p, where, "\"%s\" must be a non-empty string without NUL characters", key);
    }
    return 0;
}

int cdi_get_strv(struct cdi_pctx *p, const json_t *obj, const char *key, const char *where, char ***ret) {
    const json_t *v = json_object_get(obj, key);
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    *ret = NULL;
    if (v && !json_is_null(v) && !json_is_array(v))
        return cdi_bad(p, where, "\"%s\" must be a list of strings", key);
    char **out = calloc(n + 1, sizeof(*out));
    if (!out)
        return cdi_oom(p);
    for (size_t i = 0; i < n; i++) {
        if (!(out[i] = text_of(p, json_array_get(v, i)))) {
            strv_free(out);
            return cdi_bad(p, where, "\"%s\"[%zu] must be a string without NUL characters", key, i);
        }
    }
    *ret = out;
    return 0;
}

/* "0NNN" or "0oNNN": octal (a YAML 1.1 file mode reaches us as this string). */
static int octal_string(const char *s, int64_t *ret) {
    if (s[0] != '0' || !s[1])
        return -1;
    s += s[1] == 'o' ? 2 : 1;
    if (!*s || strspn(s, "01234567") != strlen(s) || strlen(s) > 11)
        return -1;
    *ret = (int64_t)strtoll(s, NULL, 8);
    return 0;
}

int cdi_get_int(struct cdi_pctx *p, const json_t *obj, const char *key, const char *where, int64_t min, int64_t max,
                int *ret_has, int64_t *ret) {
    const json_t *v = json_object_get(obj, key);
    *ret_has = 0;
    *ret = 0;
    if (!v || json_is_null(v))
        return 0;
    int64_t n;
    if (json_is_integer(v))
        n = json_integer_value(v);
    else if (!json_is_string(v) || octal_string(json_string_value(v), &n) < 0)
        return cdi_bad(p, where, "\"%s\" must be an integer", key);
    if (n < min || n > max)
        return cdi_bad(p, where, "\"%s\" %lld is outside [%lld, %lld]", key, (long long)n, (long long)min,
                       (long long)max);
    *ret_has = 1;
    *ret = n;
    return 0;
}

/* "NAME=value" with a non-empty NAME, as the CDI specification's own checker has it. */
static int env_ok(char *const *env) {
    for (size_t i = 0; env[i]; i++)
        if (env[i][0] == '=' || !strchr(env[i], '='))
            return 0;
    return 1;
}

static int parse_env(struct cdi_pctx *p, const json_t *obj, const char *where, struct cdi_edits *e) {
    char **env = NULL;
    int r = cdi_get_strv(p, obj, "env", where, &env);
    if (r < 0)
        return r;
    size_t n = 0;
    while (env[n])
        n++;
    if (!env_ok(env)) {
        strv_free(env);
        return cdi_bad(p, where, "env entries must be NAME=value");
    }
    e->env = calloc(n ? n : 1, sizeof(*e->env));
    if (!e->env) {
        strv_free(env);
        return cdi_oom(p);
    }
    for (size_t i = 0; i < n; i++)
        e->env[e->n_env++].kv = env[i];
    free(env);
    return 0;
}

static const char *const node_fields[] = {"path",     "hostPath",    "type", "major", "minor",
                                          "fileMode", "permissions", "uid",  "gid",   NULL};

static int abs_path(struct cdi_pctx *p, const char *where, const char *what, const char *path) {
    return path && path[0] != '/' ? cdi_bad(p, where, "%s \"%s\" is not absolute", what, path) : 0;
}

static int parse_node(struct cdi_pctx *p, const json_t *obj, const char *where, struct cdi_device_node *d) {
    char *type = NULL;
    int64_t v;
    int has,
        r = json_is_object(obj) ? cdi_check_fields(p, obj, where, node_fields) : cdi_bad(p, where, "must be a map");
    if (r >= 0)
        r = cdi_get_str(p, obj, "path", where, 1, &d->path);
    if (r >= 0)
        r = cdi_get_str(p, obj, "hostPath", where, 0, &d->host_path);
    if (r >= 0 && d->host_path)
        cdi_needs(p, CDI_VERSION(0, 5, 0), "a device node's hostPath");
    if (r >= 0)
        r = abs_path(p, where, "path", d->path);
    if (r >= 0)
        r = abs_path(p, where, "hostPath", d->host_path);
    if (r >= 0 && !d->host_path && !(d->host_path = strdup(d->path)))
        r = cdi_oom(p);
    if (r >= 0)
        r = cdi_get_str(p, obj, "type", where, 0, &type);
    if (r >= 0 && type && *type && (strlen(type) != 1 || !strchr("bcup", type[0])))
        r = cdi_bad(p, where, "type \"%s\" is not one of b, c, u and p", type);
    d->type = type ? type[0] : 0;
    free(type);
    if (r >= 0)
        r = cdi_get_int(p, obj, "major", where, 0, UINT32_MAX, &has, &d->major);
    if (r >= 0)
        r = cdi_get_int(p, obj, "minor", where, 0, UINT32_MAX, &has, &d->minor);
    if (r >= 0 && (r = cdi_get_int(p, obj, "fileMode", where, 0, 07777, &d->has_file_mode, &v)) >= 0)
        d->file_mode = (uint32_t)v;
    if (r >= 0 && (r = cdi_get_int(p, obj, "uid", where, 0, UINT32_MAX - 1, &d->has_uid, &v)) >= 0)
        d->uid = (uint32_t)v;
    if (r >= 0 && (r = cdi_get_int(p, obj, "gid", where, 0, UINT32_MAX - 1, &d->has_gid, &v)) >= 0)
        d->gid = (uint32_t)v;
    if (r >= 0)
        r = cdi_get_str(p, obj, "permissions", where, 0, &d->permissions);
    if (r < 0 || !d->permissions)
        return r;
    /* "none": no access at all (a node that only needs to exist); otherwise a subset of rwm. */
    if (strcmp(d->permissions, "none") == 0)
        d->permissions[0] = '\0';
    else if (!*d->permissions || strspn(d->permissions, "rwm") != strlen(d->permissions))
        return cdi_bad(p, where, "permissions \"%s\" are not a combination of r, w and m, nor \"none\"",
                       d->permissions);
    return 0;
}

static const char *const mount_fields[] = {"hostPath", "containerPath", "options", "type", NULL};

static int parse_mount(struct cdi_pctx *p, const json_t *obj, const char *where, struct cdi_mount *m) {
    int r = json_is_object(obj) ? cdi_check_fields(p, obj, where, mount_fields) : cdi_bad(p, where, "must be a map");
    if (r >= 0)
        r = cdi_get_str(p, obj, "hostPath", where, 1, &m->host_path);
    if (r >= 0)
        r = cdi_get_str(p, obj, "containerPath", where, 1, &m->container_path);
    if (r >= 0)
        r = abs_path(p, where, "containerPath", m->container_path);
    if (r >= 0)
        r = cdi_get_str(p, obj, "type", where, 0, &m->type);
    if (r >= 0 && m->type)
        cdi_needs(p, CDI_VERSION(0, 4, 0), "a mount's type");
    if (r >= 0)
        r = cdi_get_strv(p, obj, "options", where, &m->options);
    return r;
}

static const char *const hook_fields[] = {"hookName", "path", "args", "env", "timeout", NULL};
static const char *const hook_names[CDI_HOOK_POINTS] = {
    [CDI_HOOK_PRESTART] = "prestart",
    [CDI_HOOK_CREATE_RUNTIME] = "createRuntime",
    [CDI_HOOK_CREATE_CONTAINER] = "createContainer",
    [CDI_HOOK_START_CONTAINER] = "startContainer",
    [CDI_HOOK_POSTSTART] = "poststart",
    [CDI_HOOK_POSTSTOP] = "poststop",
};

const char *cdi_hook_point_name(enum cdi_hook_point p) {
    return p < CDI_HOOK_POINTS ? hook_names[p] : "?";
}

static int parse_hook(struct cdi_pctx *p, const json_t *obj, const char *where, struct cdi_hook *h) {
    char *name = NULL;
    int has,
        r = json_is_object(obj) ? cdi_check_fields(p, obj, where, hook_fields) : cdi_bad(p, where, "must be a map");
    if (r >= 0)
        r = cdi_get_str(p, obj, "hookName", where, 1, &name);
    h->point = CDI_HOOK_POINTS;
    for (int i = 0; r >= 0 && i < CDI_HOOK_POINTS; i++)
        if (strcmp(name, hook_names[i]) == 0)
            h->point = (enum cdi_hook_point)i;
    if (r >= 0 && h->point == CDI_HOOK_POINTS)
        r = cdi_bad(p, where,
                    "hookName \"%s\" is not an OCI hook (prestart, createRuntime, createContainer, "
                    "startContainer, poststart, poststop)",
                    name);
    free(name);
    if (r >= 0)
        r = cdi_get_str(p, obj, "path", where, 1, &h->path);
    if (r >= 0)
        r = abs_path(p, where, "path", h->path);
    if (r >= 0)
        r = cdi_get_strv(p, obj, "args", where, &h->args);
    if (r >= 0)
        r = cdi_get_strv(p, obj, "env", where, &h->env);
    if (r >= 0 && !env_ok(h->env))
        r = cdi_bad(p, where, "env entries must be NAME=value");
    if (r >= 0)
        r = cdi_get_int(p, obj, "timeout", where, 1, INT32_MAX, &has, &h->timeout);
    return r;
}

/* obj[key], a list of maps, each through `parse` into a calloc'd array of `size`-byte entries. */
static int parse_list(struct cdi_pctx *p, const json_t *obj, const char *key, const char *where, size_t size,
                      void **ret, size_t *ret_n,
                      int (*parse)(struct cdi_pctx *, const json_t *, const char *, void *)) {
    const json_t *list = json_object_get(obj, key);
    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return cdi_bad(p, where, "\"%s\" must be a list", key);
    size_t n = json_array_size(list);
    char *v = calloc(n ? n : 1, size);
    if (!v)
        return cdi_oom(p);
    *ret = v;
    for (size_t i = 0; i < n; i++) {
        char at[128];
        snprintf(at, sizeof(at), "%s.%s[%zu]", where, key, i);
        (*ret_n)++;
        int r = parse(p, json_array_get(list, i), at, v + i * size);
        if (r < 0)
            return r;
    }
    return 0;
}

static int node_cb(struct cdi_pctx *p, const json_t *o, const char *w, void *d) {
    return parse_node(p, o, w, d);
}
static int mount_cb(struct cdi_pctx *p, const json_t *o, const char *w, void *m) {
    return parse_mount(p, o, w, m);
}
static int hook_cb(struct cdi_pctx *p, const json_t *o, const char *w, void *h) {
    return parse_hook(p, o, w, h);
}

static int parse_gids(struct cdi_pctx *p, const json_t *obj, const char *where, struct cdi_edits *e) {
    const json_t *list = json_object_get(obj, "additionalGids");
    if (!list || json_is_null(list))
        return 0;
    cdi_needs(p, CDI_VERSION(0, 7, 0), "additionalGids");
    if (!json_is_array(list))
        return cdi_bad(p, where, "\"additionalGids\" must be a list of group IDs");
    e->gids = calloc(json_array_size(list) + 1, sizeof(*e->gids));
    if (!e->gids)
        return cdi_oom(p);
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *g = json_array_get(list, i);
        if (!json_is_integer(g) || json_integer_value(g) < 0 || json_integer_value(g) > (json_int_t)UINT32_MAX - 1)
            return cdi_bad(p, where, "additionalGids[%zu] is not a group ID", i);
        if (json_integer_value(g) != 0) /* the spec: 0 is ignored */
            e->gids[e->n_gids++] = (uint32_t)json_integer_value(g);
    }
    return 0;
}

static const char *const edit_fields[] = {"env",      "deviceNodes",    "mounts",     "hooks",
                                          "intelRdt", "additionalGids", "netDevices", NULL};
static const char *const rdt_fields[] = {"closID",    "l3CacheSchema",    "memBwSchema", "enableCMT",
                                         "enableMBM", "enableMonitoring", "schemata",    NULL};

int cdi_parse_edits(struct cdi_pctx *p, const json_t *obj, const char *where, struct cdi_edits *e) {
    if (!obj || json_is_null(obj))
        return 0;
    if (!json_is_object(obj))
        return cdi_bad(p, where, "must be a map");
    int r = cdi_check_fields(p, obj, where, edit_fields);
    if (r >= 0)
        r = parse_env(p, obj, where, e);
    if (r >= 0)
        r = parse_list(p, obj, "deviceNodes", where, sizeof(*e->nodes), (void **)&e->nodes, &e->n_nodes, node_cb);
    if (r >= 0)
        r = parse_list(p, obj, "mounts", where, sizeof(*e->mounts), (void **)&e->mounts, &e->n_mounts, mount_cb);
    if (r >= 0)
        r = parse_list(p, obj, "hooks", where, sizeof(*e->hooks), (void **)&e->hooks, &e->n_hooks, hook_cb);
    if (r >= 0)
        r = parse_gids(p, obj, where, e);
    /* Read so that the file is valid, refused when a device that has them is asked for (cdi_edits_append). */
    const json_t *rdt = json_object_get(obj, "intelRdt");
    if (r >= 0 && rdt && !json_is_null(rdt)) {
        cdi_needs(p, CDI_VERSION(0, 7, 0), "intelRdt");
        r = json_is_object(rdt) ? cdi_check_fields(p, rdt, where, rdt_fields)
                                : cdi_bad(p, where, "intelRdt must be a map");
        e->unsupported = "intelRdt";
    }
    const json_t *net = json_object_get(obj, "netDevices");
    if (r >= 0 && net && !json_is_null(net)) {
        cdi_needs(p, CDI_VERSION(1, 1, 0), "netDevices");
        e->unsupported = "netDevices";
    }
    return r;
}
