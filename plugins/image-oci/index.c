/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A layout's metadata: the oci-layout marker file and index.json, from
 * which the reference's tag (annotation org.opencontainers.image.ref.name)
 * or digest picks one descriptor.  Shared by directories and archives; the
 * caller reads the bytes, this file only judges them.  The chosen
 * descriptor may itself be an image index (multi-arch): the core fetches it
 * and selects the platform.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "oci.h"
#include "plugin_json.h"

#define OCI_REF_NAME "org.opencontainers.image.ref.name"
#define OCI_LIST_MAX 32 /* choices named in one message */

struct idx_desc {
    const char *media_type, *digest, *ref_name; /* borrowed from the JSON tree */
    int64_t size;
    json_t *urls; /* borrowed; NULL or an array of strings */
};

static int bad_json(const struct oci *oci, const char *where, const json_error_t *jerr, struct cleat_error **reterr) {
    return cleat_error_set(oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                           "%s is corrupt: invalid JSON at line %d: %s", where, jerr->line, jerr->text);
}

int oci_check_layout_file(const struct oci *oci, const char *where, const char *data, size_t len,
                          struct cleat_error **reterr) {
    json_error_t jerr;
    _cleanup_json_ json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return bad_json(oci, where, &jerr, reterr);
    const char *version = json_string_value(json_object_get(root, "imageLayoutVersion"));
    if (!version)
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                               "%s is not an OCI layout marker: it has no imageLayoutVersion string", where);
    if (strcmp(version, "1.0.0") != 0)
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                               "%s: imageLayoutVersion '%s' is not supported (only 1.0.0)", where, version);
    return 0;
}

static int desc_parse(const struct oci *oci, const char *where, size_t i, json_t *item, struct idx_desc *d,
                      struct cleat_error **reterr) {
    json_t *size = json_object_get(item, "size"), *urls = json_object_get(item, "urls");
    json_t *annotations = json_object_get(item, "annotations");
    json_t *ref_name = json_object_get(annotations, OCI_REF_NAME);
    const char *problem = NULL;
    *d = (struct idx_desc){.media_type = json_string_value(json_object_get(item, "mediaType")),
                           .digest = json_string_value(json_object_get(item, "digest")),
                           .ref_name = json_string_value(ref_name),
                           .size = json_integer_value(size),
                           .urls = urls};
    if (!json_is_object(item))
        problem = "is not an object";
    else if (!d->media_type)
        problem = "has no mediaType string";
    else if (!d->digest || !oci_digest_valid(d->digest))
        problem = "has no valid digest (sha256:<64 hex> or sha512:<128 hex>)";
    else if (!json_is_integer(size) || d->size < 0)
        problem = "has no size, or a negative one";
    else if (urls && !json_is_array(urls))
        problem = "has urls that are not a list";
    else if (annotations && !json_is_object(annotations))
        problem = "has annotations that are not a map";
    else if (ref_name && !d->ref_name)
        problem = "has a " OCI_REF_NAME " annotation that is not a string";
    for (size_t j = 0; !problem && j < json_array_size(urls); j++)
        if (!json_is_string(json_array_get(urls, j)))
            problem = "has a url that is not a string";
    if (problem)
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                               "%s is corrupt: manifests[%zu] %s", where, i, problem);
    return 0;
}

/* Parse index.json into its descriptors (borrowing from *ret_root, which the caller frees). */
static int index_parse(const struct oci *oci, const char *where, const char *data, size_t len, json_t **ret_root,
                       struct idx_desc **ret, size_t *ret_n, struct cleat_error **reterr) {
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return bad_json(oci, where, &jerr, reterr);
    *ret_root = root;
    json_t *version = json_object_get(root, "schemaVersion"), *manifests = json_object_get(root, "manifests");
    if (!json_is_integer(version) || json_integer_value(version) != 2)
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                               "%s is not an OCI image index: schemaVersion must be 2", where);
    if (!json_is_array(manifests))
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                               "%s is not an OCI image index: it has no manifests list", where);
    size_t n = json_array_size(manifests);
    struct idx_desc *d = calloc(n ? n : 1, sizeof(*d));
    if (!d)
        return plugin_oom(oci->host, reterr);
    for (size_t i = 0; i < n; i++) {
        int r = desc_parse(oci, where, i, json_array_get(manifests, i), &d[i], reterr);
        if (r < 0) {
            free(d);
            return r;
        }
    }
    *ret = d;
    *ret_n = n;
    return 0;
}

/* ", "-separated names of the choices: tags, or how else to name an untagged manifest. */
static char *list_choices(const struct oci_ref *ref, const struct idx_desc *d, size_t n, int tags_only) {
    char *buf = NULL;
    size_t size = 0, listed = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return NULL;
    for (size_t i = 0; i < n && listed < OCI_LIST_MAX; i++) {
        int tagged = d[i].ref_name && oci_tag_valid(d[i].ref_name);
        if (tags_only && !tagged)
            continue;
        const char *sep = listed++ ? ", " : "";
        if (tags_only)
            fprintf(f, "%s%s", sep, d[i].ref_name);
        else if (tagged)
            fprintf(f, "%s%s:%s:%s", sep, oci_scheme(ref->kind), ref->path, d[i].ref_name);
        else
            fprintf(f, "%s%s:%s@%s", sep, oci_scheme(ref->kind), ref->path, d[i].digest);
    }
    if (listed == OCI_LIST_MAX)
        fprintf(f, ", ...");
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int select_by_tag(const struct oci *oci, const struct oci_ref *ref, const char *where, const struct idx_desc *d,
                         size_t n, size_t *ret, struct cleat_error **reterr) {
    size_t found = n;
    for (size_t i = 0; i < n; i++) {
        if (!d[i].ref_name || strcmp(d[i].ref_name, ref->tag) != 0)
            continue;
        /* The same manifest listed twice is harmless; two different ones under one tag are not. */
        if (found < n && strcmp(d[found].digest, d[i].digest) != 0)
            return cleat_error_set(oci->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                                   "%s: tag '%s' names more than one manifest (%s and %s); select one by digest: "
                                   "%s:%s@<digest>",
                                   where, ref->tag, d[found].digest, d[i].digest, oci_scheme(ref->kind), ref->path);
        if (found == n)
            found = i;
    }
    if (found < n) {
        *ret = found;
        return 0;
    }
    _cleanup_free_ char *tags = list_choices(ref, d, n, 1);
    return cleat_error_set(oci->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "%s: no image tagged '%s'; %s%s", where,
                           ref->tag, tags && *tags ? "available tags: " : "no manifest has a tag (" OCI_REF_NAME ")",
                           tags && *tags ? tags : "");
}

static int select_desc(const struct oci *oci, const struct oci_ref *ref, const char *where, const struct idx_desc *d,
                       size_t n, size_t *ret, struct cleat_error **reterr) {
    if (ref->tag)
        return select_by_tag(oci, ref, where, d, n, ret, reterr);
    if (ref->digest) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(d[i].digest, ref->digest) == 0) {
                *ret = i;
                return 0;
            }
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "%s: no manifest with digest %s",
                               where, ref->digest);
    }
    if (n == 1) {
        *ret = 0;
        return 0;
    }
    if (n == 0)
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "%s lists no manifests", where);
    _cleanup_free_ char *choices = list_choices(ref, d, n, 0);
    return cleat_error_set(oci->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                           "%s lists %zu manifests and the reference names none; use one of: %s", where, n,
                           choices ? choices : "(out of memory)");
}

/* The name that resolves to this manifest again: what the user gave, with the index's tag when it had none. */
static char *canonical_name(const struct oci_ref *ref, const struct idx_desc *chosen) {
    const char *scheme = oci_scheme(ref->kind);
    const char *tag = ref->tag                                                                ? ref->tag
                      : (!ref->digest && chosen->ref_name && oci_tag_valid(chosen->ref_name)) ? chosen->ref_name
                                                                                              : NULL;
    char *name = NULL;
    int r;
    if (tag)
        r = asprintf(&name, "%s:%s:%s", scheme, ref->path, tag);
    else if (ref->digest)
        r = asprintf(&name, "%s:%s@%s", scheme, ref->path, ref->digest);
    else
        r = asprintf(&name, "%s:%s", scheme, ref->path);
    return r < 0 ? NULL : name;
}

static int answer(const struct oci *oci, const struct oci_ref *ref, const struct idx_desc *chosen, cleat_resolved_fn fn,
                  void *ctx, struct cleat_error **reterr) {
    size_t n = json_array_size(chosen->urls);
    _cleanup_free_ const char **urls = n ? calloc(n + 1, sizeof(char *)) : NULL;
    _cleanup_free_ char *name = canonical_name(ref, chosen);
    if (!name || (n && !urls))
        return plugin_oom(oci->host, reterr);
    for (size_t i = 0; i < n; i++)
        urls[i] = json_string_value(json_array_get(chosen->urls, i));
    struct cleat_descriptor desc = {
        .media_type = chosen->media_type, .digest = chosen->digest, .size = chosen->size, .urls = urls};
    cleat_log(oci->host, CLEAT_LOG_DEBUG, "%s is %s %s (%" PRId64 " bytes)", name, desc.media_type, desc.digest,
              desc.size);
    return fn(ctx, name, &desc);
}

int oci_index_resolve(const struct oci *oci, const struct oci_ref *ref, const char *where, const char *data, size_t len,
                      cleat_resolved_fn fn, void *ctx, struct cleat_error **reterr) {
    _cleanup_json_ json_t *root = NULL;
    _cleanup_free_ struct idx_desc *d = NULL;
    size_t n = 0, chosen = 0;
    int r = index_parse(oci, where, data, len, &root, &d, &n, reterr);
    if (r < 0)
        return r;
    r = select_desc(oci, ref, where, d, n, &chosen, reterr);
    if (r < 0)
        return r;
    return answer(oci, ref, &d[chosen], fn, ctx, reterr);
}
