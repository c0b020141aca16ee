/* SPDX-License-Identifier: Apache-2.0 */
/* registries.d lookaside configuration and reading signatures from it (see trust_lookaside.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif

#include "trust_lookaside.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "config_tree.h"
#include "error.h"
#include "fsutil.h"

struct lookaside_scope {
    char *scope; /* NULL for default-docker */
    char *url;   /* NULL when the section names none */
    char *file;
};

struct trust_lookaside {
    struct lookaside_scope *v;
    size_t n;
};

void trust_lookaside_free(struct trust_lookaside *l) {
    for (size_t i = 0; l && i < l->n; i++) {
        free(l->v[i].scope);
        free(l->v[i].url);
        free(l->v[i].file);
    }
    if (l)
        free(l->v);
    free(l);
}

static int oom(struct cleat_error **reterr) {
    return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
}

static int section_add(struct trust_lookaside *l, const char *file, const char *scope, const struct cleat_config *node,
                       struct cleat_error **reterr) {
    /* Fields of registries.d's own format (named so that the man page check does not take them for cleat.yaml keys). */
    static const char *const section_fields[] = {"lookaside",        "lookaside-staging",        "sigstore",
                                                 "sigstore-staging", "use-sigstore-attachments", NULL};
    for (size_t i = 0; i < l->n; i++)
        if ((!scope && !l->v[i].scope) || (scope && l->v[i].scope && strcmp(scope, l->v[i].scope) == 0))
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                             "registries.d: %s configures %s again (already in %s)", file,
                             scope ? scope : "default-docker", l->v[i].file);
    int r = config_check_keys(node, section_fields, reterr);
    const char *url = NULL, *old = NULL;
    if (r >= 0)
        r = config_get_string(node, "lookaside", NULL, &url, reterr);
    if (r >= 0)
        r = config_get_string(node, "sigstore", NULL, &old, reterr);
    if (r < 0)
        return error_prefix(r, reterr, "registries.d: %s", file);
    struct lookaside_scope *v = reallocarray(l->v, l->n + 1, sizeof(*v));
    if (!v)
        return oom(reterr);
    l->v = v;
    struct lookaside_scope *s = &v[l->n++];
    *s = (struct lookaside_scope){0};
    const char *use = url ? url : old;
    s->scope = scope ? strdup(scope) : NULL;
    s->url = use ? strdup(use) : NULL;
    s->file = strdup(file);
    if ((scope && !s->scope) || (use && !s->url) || !s->file)
        return oom(reterr);
    return 0;
}

static int file_load(struct trust_lookaside *l, const char *path, struct cleat_error **reterr) {
    static const char *const top_fields[] = {"default-docker", "docker", NULL};
    struct cleat_config *tree = NULL;
    int r = config_tree_parse_file(path, &tree, reterr);
    if (r >= 0)
        r = config_check_keys(tree, top_fields, reterr);
    if (r < 0) {
        config_tree_free(tree);
        return error_prefix(r, reterr, "registries.d");
    }
    const struct cleat_config *def = config_get0(tree, "default-docker");
    if (config_kind(def) == CLEAT_CONFIG_MAP)
        r = section_add(l, path, NULL, def, reterr);
    const struct cleat_config *docker = config_get0(tree, "docker");
    for (uint64_t i = 0; r >= 0 && config_kind(docker) == CLEAT_CONFIG_MAP && i < config_count(docker); i++)
        r = section_add(l, path, config_key0(docker, i), config_at0(docker, i), reterr);
    config_tree_free(tree);
    return r;
}

static int yaml_name(const struct dirent *e) {
    size_t n = strlen(e->d_name);
    return e->d_name[0] != '.' && n > 5 && strcmp(e->d_name + n - 5, ".yaml") == 0;
}

int trust_lookaside_load(const char *dir, struct trust_lookaside **ret, struct cleat_error **reterr) {
    struct trust_lookaside *l = calloc(1, sizeof(*l));
    if (!l)
        return oom(reterr);
    struct dirent **names = NULL;
    int n = scandir(dir, &names, yaml_name, alphasort);
    if (n < 0 && errno != ENOENT) {
        trust_lookaside_free(l);
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, errno, "registries.d: reading %s: %m", dir);
    }
    int r = 0;
    for (int i = 0; i < n; i++) {
        _cleanup_free_ char *path = NULL;
        if (r >= 0 && asprintf(&path, "%s/%s", dir, names[i]->d_name) < 0)
            r = oom(reterr);
        if (r >= 0)
            r = file_load(l, path, reterr);
        free(names[i]);
    }
    free(names);
    if (r < 0) {
        trust_lookaside_free(l);
        return r;
    }
    *ret = l;
    return 0;
}

const char *trust_lookaside_url(const struct trust_lookaside *l, const char *const *candidates) {
    for (size_t c = 0; l && candidates && candidates[c]; c++)
        for (size_t i = 0; i < l->n; i++)
            if (l->v[i].scope && strcmp(l->v[i].scope, candidates[c]) == 0)
                return l->v[i].url;
    for (size_t i = 0; l && i < l->n; i++)
        if (!l->v[i].scope)
            return l->v[i].url;
    return LOOKASIDE_DEFAULT_URL;
}

void lookaside_blobs_free(struct lookaside_blob *b, size_t n) {
    for (size_t i = 0; b && i < n; i++)
        free(b[i].data);
    free(b);
}

int trust_lookaside_read(const char *url, const char *repo_path, const char *digest, size_t max_bytes,
                         struct lookaside_blob **ret, size_t *ret_n, struct cleat_error **reterr) {
    if (strncmp(url, "file://", 7) != 0)
        return error_set(reterr, CLEAT_STATUS_UNIMPLEMENTED, ENOTSUP,
                         "signature lookaside %s: only file:// lookasides are read by cleat", url);
    const char *colon = strchr(digest, ':');
    if (!colon || strchr(repo_path, '.') == repo_path || strstr(repo_path, ".."))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "bad repository '%s' or digest '%s'", repo_path,
                         digest);
    struct lookaside_blob *v = calloc(LOOKASIDE_MAX_SIGNATURES, sizeof(*v));
    if (!v)
        return oom(reterr);
    size_t n = 0;
    int r = 0;
    for (; n < LOOKASIDE_MAX_SIGNATURES; n++) {
        _cleanup_free_ char *path = NULL;
        struct cleat_error *err = NULL;
        if (asprintf(&path, "%s/%s@%.*s=%s/signature-%zu", url + 7, repo_path, (int)(colon - digest), digest, colon + 1,
                     n + 1) < 0) {
            r = oom(reterr);
            break;
        }
        r = read_file(path, max_bytes, &v[n].data, &v[n].len, &err);
        if (r < 0 && error_errno(err) == ENOENT) {
            error_free(err);
            r = 0;
            break;
        }
        if (r < 0) {
            error_set(reterr, CLEAT_STATUS_UNAVAILABLE, error_errno(err), "reading signature %s: %s", path,
                      error_message(err));
            error_free(err);
            break;
        }
    }
    if (r < 0) {
        lookaside_blobs_free(v, n + 1);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}
