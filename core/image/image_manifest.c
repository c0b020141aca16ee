/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Manifests, indexes and image configs with jansson (see image_manifest.h).
 *
 * The parsers are strict about what matters for safety (digests, sizes,
 * counts, types of the fields we read, duplicate keys) and ignore fields they
 * do not use, as containerd does: annotations and history are not needed to
 * run an image, and new optional fields keep appearing in the specs.
 *
 * Duplicate keys are refused because the manifest's digest covers its bytes,
 * not one parser's reading of them: two parsers that keep a different one of
 * two "layers" keys would disagree about what was verified.
 */
#include "image_manifest.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "strbuf.h"

static void json_unrefp(json_t **j) {
    json_decref(*j);
    *j = NULL;
}
#define _cleanup_json_ __attribute__((cleanup(json_unrefp)))

static int oom(struct cleat_error **reterr) {
    return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
}

__attribute__((format(printf, 2, 3))) static int invalid(struct cleat_error **reterr, const char *fmt, ...) {
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "%s", msg);
}

/* ---- media types ---------------------------------------------------------------------------------------------- */

static const struct {
    const char *type;
    int compression;
    int foreign;
} layer_types[] = {
    {MEDIA_DOCKER_LAYER, LAYER_COMPRESSION_NONE, 0},      {MEDIA_DOCKER_LAYER_GZIP, LAYER_COMPRESSION_GZIP, 0},
    {MEDIA_DOCKER_LAYER_ZSTD, LAYER_COMPRESSION_ZSTD, 0}, {MEDIA_DOCKER_LAYER_FOREIGN, LAYER_COMPRESSION_GZIP, 1},
    {MEDIA_OCI_LAYER, LAYER_COMPRESSION_NONE, 0},         {MEDIA_OCI_LAYER_GZIP, LAYER_COMPRESSION_GZIP, 0},
    {MEDIA_OCI_LAYER_ZSTD, LAYER_COMPRESSION_ZSTD, 0},    {MEDIA_OCI_LAYER_ND, LAYER_COMPRESSION_NONE, 1},
    {MEDIA_OCI_LAYER_ND_GZIP, LAYER_COMPRESSION_GZIP, 1}, {MEDIA_OCI_LAYER_ND_ZSTD, LAYER_COMPRESSION_ZSTD, 1},
};
#define N_LAYER_TYPES (sizeof(layer_types) / sizeof(layer_types[0]))

static int layer_type_index(const char *media_type) {
    for (size_t i = 0; media_type && i < N_LAYER_TYPES; i++)
        if (strcmp(media_type, layer_types[i].type) == 0)
            return (int)i;
    return -1;
}

int layer_media_known(const char *media_type) {
    return layer_type_index(media_type) >= 0;
}

int layer_media_compression(const char *media_type) {
    int i = layer_type_index(media_type);
    return i < 0 ? -1 : layer_types[i].compression;
}

int layer_media_foreign(const char *media_type) {
    int i = layer_type_index(media_type);
    return i >= 0 && layer_types[i].foreign;
}

int media_is_manifest(const char *media_type) {
    return media_type &&
           (strcmp(media_type, MEDIA_DOCKER_MANIFEST) == 0 || strcmp(media_type, MEDIA_OCI_MANIFEST) == 0);
}

int media_is_index(const char *media_type) {
    return media_type && (strcmp(media_type, MEDIA_DOCKER_LIST) == 0 || strcmp(media_type, MEDIA_OCI_INDEX) == 0);
}

static int media_is_schema1(const char *media_type) {
    return media_type &&
           (strcmp(media_type, MEDIA_DOCKER_SCHEMA1) == 0 || strcmp(media_type, MEDIA_DOCKER_SCHEMA1_SIGNED) == 0);
}

static int media_kind(const char *media_type) {
    return media_is_manifest(media_type) ? MANIFEST_KIND_MANIFEST
           : media_is_index(media_type)  ? MANIFEST_KIND_INDEX
                                         : 0;
}

static int schema1_refused(struct cleat_error **reterr) {
    return invalid(reterr, "schema 1 manifests are not supported (deprecated by docker); push the image again with a "
                           "current client");
}

/* ---- JSON helpers --------------------------------------------------------------------------------------------- */

/* Parse a document that must be a JSON object of at most MANIFEST_MAX_BYTES. */
static int load_object(const char *json, size_t len, const char *what, json_t **ret, struct cleat_error **reterr) {
    json_error_t jerr;
    json_t *root;

    if (len > MANIFEST_MAX_BYTES)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, E2BIG, "%s is %zu bytes, more than the %zu allowed",
                         what, len, MANIFEST_MAX_BYTES);
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return invalid(reterr, "%s is not valid JSON: %s (line %d, column %d)", what, jerr.text, jerr.line,
                       jerr.column);
    if (!json_is_object(root)) {
        json_decref(root);
        return invalid(reterr, "%s is not a JSON object", what);
    }
    *ret = root;
    return 0;
}

/*
 * Borrow obj[key] if it is of `type` (NULL when absent or null); another type
 * is an error, and so is an array of more than MANIFEST_MAX_ENTRIES.
 */
static int get_field(json_t *obj, const char *key, const char *what, json_type type, json_t **ret,
                     struct cleat_error **reterr) {
    static const char *const names[] = {
        [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array", [JSON_STRING] = "a string"};
    json_t *v = json_object_get(obj, key);

    *ret = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (json_typeof(v) != type)
        return invalid(reterr, "%s: \"%s\" is not %s", what, key, names[type]);
    if (type == JSON_ARRAY && json_array_size(v) > MANIFEST_MAX_ENTRIES)
        return invalid(reterr, "%s: \"%s\" has %zu entries, more than %d", what, key, json_array_size(v),
                       MANIFEST_MAX_ENTRIES);
    *ret = v;
    return 0;
}
#define get_obj(obj, key, what, ret, reterr) get_field(obj, key, what, JSON_OBJECT, ret, reterr)
#define get_arr(obj, key, what, ret, reterr) get_field(obj, key, what, JSON_ARRAY, ret, reterr)

/* Borrow obj[key] as a string (NULL when absent or null). */
static int get_str(json_t *obj, const char *key, const char *what, const char **ret, struct cleat_error **reterr) {
    json_t *v;
    int r = get_field(obj, key, what, JSON_STRING, &v, reterr);

    *ret = v ? json_string_value(v) : NULL;
    return r;
}

/* Like get_str, but a malloc'd copy. */
static int dup_str(json_t *obj, const char *key, const char *what, char **ret, struct cleat_error **reterr) {
    const char *s;
    int r = get_str(obj, key, what, &s, reterr);

    if (r < 0 || !s)
        return r;
    *ret = strdup(s);
    return *ret ? 0 : oom(reterr);
}

/* An array of strings into a strv (NULL for a NULL array, an empty strv for []). */
static int strv_from_array(json_t *arr, const char *what, const char *key, char ***ret, struct cleat_error **reterr) {
    size_t n = arr ? json_array_size(arr) : 0;
    char **v;

    *ret = NULL;
    if (!arr)
        return 0;
    v = calloc(n + 1, sizeof(*v));
    if (!v)
        return oom(reterr);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        int r = !json_is_string(s) ? invalid(reterr, "%s: \"%s\"[%zu] is not a string", what, key, i)
                : !(v[i] = strdup(json_string_value(s))) ? oom(reterr)
                                                         : 0;
        if (r < 0) {
            strv_free(v);
            return r;
        }
    }
    *ret = v;
    return 0;
}

/*
 * An object into a strv: its keys (values ignored, as for ExposedPorts and
 * Volumes) or, with pairs = 1, k, v, ... (values must be strings).  NULL for
 * an absent or empty object.
 */
static int strv_from_object(json_t *obj, const char *what, const char *key, int pairs, char ***ret,
                            struct cleat_error **reterr) {
    size_t n = obj ? json_object_size(obj) : 0, i = 0;
    const char *k;
    json_t *val;
    char **v;

    *ret = NULL;
    if (n == 0)
        return 0;
    if (n > MANIFEST_MAX_ENTRIES)
        return invalid(reterr, "%s: \"%s\" has more than %d entries", what, key, MANIFEST_MAX_ENTRIES);
    v = calloc(n * (pairs ? 2 : 1) + 1, sizeof(*v));
    if (!v)
        return oom(reterr);
    json_object_foreach(obj, k, val) {
        if (pairs && !json_is_string(val)) {
            strv_free(v);
            return invalid(reterr, "%s: \"%s\".\"%.100s\" is not a string", what, key, k);
        }
        if (!(v[i++] = strdup(k)) || (pairs && !(v[i++] = strdup(json_string_value(val))))) {
            strv_free(v);
            return oom(reterr);
        }
    }
    *ret = v;
    return 0;
}

/* ---- descriptors ---------------------------------------------------------------------------------------------- */

void platform_clear(struct platform *p) {
    if (!p)
        return;
    free(p->os);
    free(p->architecture);
    free(p->variant);
    free(p->os_version);
    *p = (struct platform){0};
}

void descriptor_clear(struct descriptor *d) {
    if (!d)
        return;
    free(d->media_type);
    strv_free(d->urls);
    strv_free(d->annotations);
    platform_clear(&d->platform);
    *d = (struct descriptor){0};
}

static int platform_parse(json_t *obj, const char *what, struct platform *p, struct cleat_error **reterr) {
    int r = dup_str(obj, "os", what, &p->os, reterr);

    if (r == 0)
        r = dup_str(obj, "architecture", what, &p->architecture, reterr);
    if (r == 0)
        r = dup_str(obj, "variant", what, &p->variant, reterr);
    if (r == 0)
        r = dup_str(obj, "os.version", what, &p->os_version, reterr);
    if (r == 0 && (!p->os || !p->architecture))
        r = invalid(reterr, "%s: platform without \"os\" and \"architecture\"", what);
    return r;
}

static int descriptor_fields(json_t *obj, const char *what, struct descriptor *d, struct cleat_error **reterr) {
    json_t *size = json_object_get(obj, "size"), *urls, *ann, *plat;
    const char *digest = NULL;
    int r = dup_str(obj, "mediaType", what, &d->media_type, reterr);

    if (r == 0 && !d->media_type)
        r = invalid(reterr, "%s: missing \"mediaType\"", what);
    if (r == 0)
        r = get_str(obj, "digest", what, &digest, reterr);
    if (r == 0 && (r = digest_validate(digest, reterr)) < 0)
        r = error_prefix(r, reterr, "%s", what);
    if (r < 0)
        return r;
    snprintf(d->digest, sizeof(d->digest), "%s", digest);
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return invalid(reterr, "%s: \"size\" must be an integer >= 0", what);
    d->size = (int64_t)json_integer_value(size);
    if ((r = get_arr(obj, "urls", what, &urls, reterr)) < 0 ||
        (r = strv_from_array(urls, what, "urls", &d->urls, reterr)) < 0 ||
        (r = get_obj(obj, "annotations", what, &ann, reterr)) < 0 ||
        (r = strv_from_object(ann, what, "annotations", 1, &d->annotations, reterr)) < 0 ||
        (r = get_obj(obj, "platform", what, &plat, reterr)) < 0)
        return r;
    d->has_platform = plat != NULL;
    return plat ? platform_parse(plat, what, &d->platform, reterr) : 0;
}

/* Parse a descriptor object into *d (zeroed first, cleared again on failure). */
static int descriptor_parse(json_t *obj, const char *what, struct descriptor *d, struct cleat_error **reterr) {
    int r;

    *d = (struct descriptor){0};
    if (!json_is_object(obj))
        return invalid(reterr, "%s is not a descriptor object", what);
    r = descriptor_fields(obj, what, d, reterr);
    if (r < 0)
        descriptor_clear(d);
    return r;
}

/* Parse an array of descriptors; check(d, what) may refuse one. */
static int descriptors_parse(json_t *arr, const char *doc, const char *name,
                             int (*check)(const struct descriptor *, const char *, struct cleat_error **),
                             struct descriptor **ret, size_t *ret_n, struct cleat_error **reterr) {
    size_t n = json_array_size(arr), i;
    struct descriptor *v = calloc(n ? n : 1, sizeof(*v));
    char what[96];
    int r = 0;

    if (!v)
        return oom(reterr);
    for (i = 0; i < n && r == 0; i++) {
        snprintf(what, sizeof(what), "%s: %s %zu", doc, name, i);
        r = descriptor_parse(json_array_get(arr, i), what, &v[i], reterr);
        if (r == 0 && check)
            r = check(&v[i], what, reterr);
    }
    if (r < 0) {
        for (size_t j = 0; j < i; j++)
            descriptor_clear(&v[j]);
        free(v);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

/* ---- kind ----------------------------------------------------------------------------------------------------- */

/* schemaVersion: absent or 2; 1 is schema 1. */
static int check_schema_version(json_t *root, const char *what, struct cleat_error **reterr) {
    json_t *v = json_object_get(root, "schemaVersion");

    if (!v)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) == 1)
        return schema1_refused(reterr);
    if (!json_is_integer(v) || json_integer_value(v) != 2)
        return invalid(reterr, "%s: unsupported schemaVersion (expected 2)", what);
    return 0;
}

/* The hint without parameters or blanks into buf; "" when it is generic and says nothing. */
static void hint_normalise(const char *hint, char *buf, size_t size) {
    static const char *const generic[] = {"application/json", "text/plain", "application/octet-stream",
                                          "binary/octet-stream"};
    size_t n;

    buf[0] = '\0';
    if (!hint)
        return;
    hint += strspn(hint, " \t");
    n = strcspn(hint, "; \t");
    snprintf(buf, size, "%.*s", (int)n, hint);
    for (size_t i = 0; i < sizeof(generic) / sizeof(generic[0]); i++)
        if (strcasecmp(buf, generic[i]) == 0)
            buf[0] = '\0';
}

/* Guess from the document's structure, the way containerd does for media-type-less documents. */
static int kind_from_structure(json_t *root, const char *hint, const char **ret, struct cleat_error **reterr) {
    if (json_object_get(root, "fsLayers") || json_object_get(root, "signatures"))
        return schema1_refused(reterr);
    if (hint[0])
        return invalid(reterr, "unsupported manifest media type '%.200s'", hint);
    if (json_object_get(root, "manifests"))
        *ret = MEDIA_OCI_INDEX;
    else if (json_object_get(root, "layers") || json_object_get(root, "config"))
        *ret = MEDIA_OCI_MANIFEST;
    else
        return invalid(reterr, "document is neither an image manifest nor an index (no mediaType, layers or "
                               "manifests)");
    return 0;
}

static int choose_media_type(json_t *root, const char *hint, const char **ret, struct cleat_error **reterr) {
    const char *doc;
    int r = get_str(root, "mediaType", "manifest", &doc, reterr);

    if (r < 0)
        return r;
    if (media_is_schema1(hint) || media_is_schema1(doc))
        return schema1_refused(reterr);
    if (media_kind(hint) && media_kind(doc) && media_kind(hint) != media_kind(doc))
        return invalid(reterr, "media type '%s' announced, but the document says it is '%s'", hint, doc);
    if (media_kind(hint))
        *ret = hint;
    else if (doc && media_kind(doc))
        *ret = doc;
    else if (doc)
        return invalid(reterr, "unsupported manifest media type '%.200s'", doc);
    else
        return kind_from_structure(root, hint, ret, reterr);
    return 0;
}

int manifest_kind(const char *media_type_hint, const char *json, size_t len, int *ret_kind, char **ret_media_type,
                  struct cleat_error **reterr) {
    _cleanup_json_ json_t *root = NULL;
    const char *chosen = NULL;
    char hint[256];
    char *copy;
    int r = load_object(json, len, "manifest", &root, reterr);

    if (r < 0)
        return r;
    r = check_schema_version(root, "manifest", reterr);
    if (r < 0)
        return r;
    hint_normalise(media_type_hint, hint, sizeof(hint));
    r = choose_media_type(root, hint, &chosen, reterr);
    if (r < 0)
        return r;
    copy = strdup(chosen);
    if (!copy)
        return oom(reterr);
    *ret_kind = media_kind(chosen);
    *ret_media_type = copy;
    return 0;
}

/* ---- index and manifest --------------------------------------------------------------------------------------- */

void image_index_free(struct image_index *idx) {
    if (!idx)
        return;
    for (size_t i = 0; i < idx->n; i++)
        descriptor_clear(&idx->manifests[i]);
    free(idx->manifests);
    free(idx->media_type);
    free(idx);
}

void image_manifest_free(struct image_manifest *m) {
    if (!m)
        return;
    descriptor_clear(&m->config);
    for (size_t i = 0; i < m->n_layers; i++)
        descriptor_clear(&m->layers[i]);
    free(m->layers);
    free(m->media_type);
    free(m);
}

/* Load a manifest or index document: the object, its version and its own mediaType, which must be of `kind`. */
static int load_document(const char *json, size_t len, const char *what, int kind, json_t **ret_root,
                         char **ret_media_type, struct cleat_error **reterr) {
    _cleanup_json_ json_t *root = NULL;
    const char *mt = NULL;
    int r = load_object(json, len, what, &root, reterr);

    if (r == 0)
        r = check_schema_version(root, what, reterr);
    if (r == 0)
        r = get_str(root, "mediaType", what, &mt, reterr);
    if (r < 0)
        return r;
    if (media_is_schema1(mt))
        return schema1_refused(reterr);
    if (mt && media_kind(mt) != kind)
        return invalid(reterr, "%s: unexpected mediaType '%.200s'", what, mt);
    *ret_media_type = NULL;
    if (mt && !(*ret_media_type = strdup(mt)))
        return oom(reterr);
    *ret_root = root;
    root = NULL;
    return 0;
}

int image_index_parse(const char *json, size_t len, struct image_index **ret, struct cleat_error **reterr) {
    _cleanup_json_ json_t *root = NULL;
    struct image_index *idx = calloc(1, sizeof(*idx));
    json_t *arr;
    int r;

    if (!idx)
        return oom(reterr);
    r = load_document(json, len, "index", MANIFEST_KIND_INDEX, &root, &idx->media_type, reterr);
    if (r == 0)
        r = get_arr(root, "manifests", "index", &arr, reterr);
    if (r == 0 && !arr)
        r = invalid(reterr, "index: missing \"manifests\"");
    if (r == 0)
        r = descriptors_parse(arr, "index", "manifest", NULL, &idx->manifests, &idx->n, reterr);
    if (r < 0) {
        image_index_free(idx);
        return r;
    }
    *ret = idx;
    return 0;
}

static int check_config(const struct descriptor *d, const char *what, struct cleat_error **reterr) {
    if (strcmp(d->media_type, MEDIA_DOCKER_CONFIG) == 0 || strcmp(d->media_type, MEDIA_OCI_CONFIG) == 0)
        return 0;
    return invalid(reterr, "%s: media type '%.200s' is not a container image config (not a runnable image)", what,
                   d->media_type);
}

static int check_layer(const struct descriptor *d, const char *what, struct cleat_error **reterr) {
    if (layer_media_known(d->media_type))
        return 0;
    if (strstr(d->media_type, "+encrypted"))
        return invalid(reterr, "%s: encrypted layers are not supported ('%.200s')", what, d->media_type);
    return invalid(reterr, "%s: unknown layer media type '%.200s'", what, d->media_type);
}

int image_manifest_parse(const char *json, size_t len, struct image_manifest **ret, struct cleat_error **reterr) {
    _cleanup_json_ json_t *root = NULL;
    struct image_manifest *m = calloc(1, sizeof(*m));
    json_t *layers;
    int r;

    if (!m)
        return oom(reterr);
    r = load_document(json, len, "manifest", MANIFEST_KIND_MANIFEST, &root, &m->media_type, reterr);
    if (r == 0 && !json_object_get(root, "config"))
        r = invalid(reterr, "manifest: missing \"config\"");
    if (r == 0)
        r = descriptor_parse(json_object_get(root, "config"), "manifest: config", &m->config, reterr);
    if (r == 0)
        r = check_config(&m->config, "manifest: config", reterr);
    if (r == 0)
        r = get_arr(root, "layers", "manifest", &layers, reterr);
    if (r == 0 && !layers)
        r = invalid(reterr, "manifest: missing \"layers\"");
    if (r == 0)
        r = descriptors_parse(layers, "manifest", "layer", check_layer, &m->layers, &m->n_layers, reterr);
    if (r < 0) {
        image_manifest_free(m);
        return r;
    }
    *ret = m;
    return 0;
}

/* ---- config --------------------------------------------------------------------------------------------------- */

/* Exactly n digits at *p into *ret; advances *p. */
static int digits(const char **p, int n, int *ret) {
    int v = 0;

    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    *ret = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Fractional seconds and the zone ("Z" or ±hh:mm): nanoseconds and the offset in seconds. */
static int parse_frac_zone(const char *p, int64_t *ns, int64_t *offset) {
    int oh, om;

    *ns = 0;
    *offset = 0;
    if (*p == '.') {
        int nd = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, nd++)
            if (nd < 9)
                *ns = *ns * 10 + (*p - '0');
        if (nd == 0)
            return -1;
        for (; nd < 9; nd++)
            *ns *= 10;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return 0;
    if (*p != '+' && *p != '-')
        return -1;
    const char *q = p + 1;
    if (digits(&q, 2, &oh) < 0 || *q++ != ':' || digits(&q, 2, &om) < 0 || *q || oh > 23 || om > 59)
        return -1;
    *offset = (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    return 0;
}

/* RFC 3339 into nanoseconds since the epoch; *ret 0 when out of int64 range.  -1 if malformed. */
static int parse_time(const char *s, int64_t *ret) {
    const char *p = s;
    int y, mo, d, h, mi, sec;
    int64_t ns, offset, secs;

    if (digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &mo) < 0 || *p++ != '-' || digits(&p, 2, &d) < 0 ||
        (*p != 'T' && *p != 't') || (p++, digits(&p, 2, &h)) < 0 || *p++ != ':' || digits(&p, 2, &mi) < 0 ||
        *p++ != ':' || digits(&p, 2, &sec) < 0 || parse_frac_zone(p, &ns, &offset) < 0)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    /* int64 nanoseconds span 1677-09-21 to 2262-04-11; Go's zero time (year 1) lands outside. */
    *ret = (secs > -9223372035LL && secs < 9223372035LL) ? secs * 1000000000LL + ns : 0;
    return 0;
}

void image_config_free(struct image_config *c) {
    if (!c)
        return;
    free(c->os);
    free(c->architecture);
    free(c->variant);
    free(c->user);
    strv_free(c->env);
    strv_free(c->entrypoint);
    strv_free(c->cmd);
    free(c->working_dir);
    free(c->stop_signal);
    strv_free(c->labels);
    strv_free(c->exposed_ports);
    strv_free(c->volumes);
    strv_free(c->diff_ids);
    free(c->author);
    free(c);
}

/* The "config" object: what a container runs by default. */
static int config_exec(json_t *cfg, struct image_config *c, struct cleat_error **reterr) {
    const char *w = "image config: config";
    json_t *env, *ep, *cmd, *labels, *ports, *vols;
    int r;

    if ((r = dup_str(cfg, "User", w, &c->user, reterr)) < 0 ||
        (r = dup_str(cfg, "WorkingDir", w, &c->working_dir, reterr)) < 0 ||
        (r = dup_str(cfg, "StopSignal", w, &c->stop_signal, reterr)) < 0 ||
        (r = get_arr(cfg, "Env", w, &env, reterr)) < 0 || (r = get_arr(cfg, "Entrypoint", w, &ep, reterr)) < 0 ||
        (r = get_arr(cfg, "Cmd", w, &cmd, reterr)) < 0 || (r = get_obj(cfg, "Labels", w, &labels, reterr)) < 0 ||
        (r = get_obj(cfg, "ExposedPorts", w, &ports, reterr)) < 0 ||
        (r = get_obj(cfg, "Volumes", w, &vols, reterr)) < 0)
        return r;
    if ((r = strv_from_array(env && json_array_size(env) ? env : NULL, w, "Env", &c->env, reterr)) < 0 ||
        (r = strv_from_array(ep, w, "Entrypoint", &c->entrypoint, reterr)) < 0 ||
        (r = strv_from_array(cmd, w, "Cmd", &c->cmd, reterr)) < 0 ||
        (r = strv_from_object(labels, w, "Labels", 1, &c->labels, reterr)) < 0 ||
        (r = strv_from_object(ports, w, "ExposedPorts", 0, &c->exposed_ports, reterr)) < 0 ||
        (r = strv_from_object(vols, w, "Volumes", 0, &c->volumes, reterr)) < 0)
        return r;
    return 0;
}

static int config_rootfs(json_t *rootfs, struct image_config *c, struct cleat_error **reterr) {
    const char *w = "image config: rootfs", *type;
    json_t *ids;
    int r;

    if ((r = get_str(rootfs, "type", w, &type, reterr)) < 0 || (r = get_arr(rootfs, "diff_ids", w, &ids, reterr)) < 0)
        return r;
    if (type && strcmp(type, "layers") != 0)
        return invalid(reterr, "%s: unsupported type '%.100s' (expected \"layers\")", w, type);
    if ((r = strv_from_array(ids, w, "diff_ids", &c->diff_ids, reterr)) < 0)
        return r;
    for (c->n_diff_ids = 0; c->diff_ids && c->diff_ids[c->n_diff_ids]; c->n_diff_ids++) {
        r = digest_validate(c->diff_ids[c->n_diff_ids], reterr);
        if (r < 0)
            return error_prefix(r, reterr, "%s: diff_ids[%zu]", w, c->n_diff_ids);
    }
    return 0;
}

static int config_fields(json_t *root, struct image_config *c, struct cleat_error **reterr) {
    const char *w = "image config", *created;
    json_t *cfg, *rootfs;
    int r;

    if ((r = dup_str(root, "os", w, &c->os, reterr)) < 0 ||
        (r = dup_str(root, "architecture", w, &c->architecture, reterr)) < 0 ||
        (r = dup_str(root, "variant", w, &c->variant, reterr)) < 0 ||
        (r = dup_str(root, "author", w, &c->author, reterr)) < 0 ||
        (r = get_str(root, "created", w, &created, reterr)) < 0 || (r = get_obj(root, "config", w, &cfg, reterr)) < 0 ||
        (r = get_obj(root, "rootfs", w, &rootfs, reterr)) < 0)
        return r;
    if (created && parse_time(created, &c->created_ns) < 0)
        return invalid(reterr, "%s: \"created\" '%.64s' is not an RFC 3339 time", w, created);
    if (cfg && (r = config_exec(cfg, c, reterr)) < 0)
        return r;
    return rootfs ? config_rootfs(rootfs, c, reterr) : 0;
}

int image_config_parse(const char *json, size_t len, struct image_config **ret, struct cleat_error **reterr) {
    _cleanup_json_ json_t *root = NULL;
    struct image_config *c;
    int r = load_object(json, len, "image config", &root, reterr);

    if (r < 0)
        return r;
    c = calloc(1, sizeof(*c));
    if (!c)
        return oom(reterr);
    r = config_fields(root, c, reterr);
    if (r < 0) {
        image_config_free(c);
        return r;
    }
    *ret = c;
    return 0;
}

/* ---- platforms ------------------------------------------------------------------------------------------------ */

/* The arm variant of this CPU from /proc/cpuinfo's "CPU architecture: 7" (v5..v8), else v7. */
static const char *arm_variant(void) {
    static const char *const names[] = {"v5", "v6", "v7", "v8"};
    FILE *f = fopen("/proc/cpuinfo", "re");
    const char *variant = "v7";
    char line[256];

    if (!f)
        return variant;
    while (fgets(line, sizeof(line), f)) {
        const char *colon = strchr(line, ':');
        if (strncasecmp(line, "CPU architecture", 16) != 0 || !colon)
            continue;
        colon += strspn(colon + 1, " \t") + 1;
        if (colon[0] >= '5' && colon[0] <= '8' && !(colon[1] >= '0' && colon[1] <= '9'))
            variant = names[colon[0] - '5'];
        break;
    }
    fclose(f);
    return variant;
}

int platform_host(struct platform *ret) {
    const char *arch = "unknown", *variant = NULL;

#if defined(__x86_64__)
    arch = "amd64";
#elif defined(__i386__)
    arch = "386";
#elif defined(__aarch64__)
    arch = "arm64", variant = "v8";
#elif defined(__arm__)
    arch = "arm", variant = arm_variant();
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
    arch = "ppc64le";
#elif defined(__powerpc64__)
    arch = "ppc64";
#elif defined(__s390x__)
    arch = "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
    arch = "riscv64";
#elif defined(__loongarch64)
    arch = "loong64";
#elif defined(__mips64) && defined(__MIPSEL__)
    arch = "mips64le";
#endif
    (void)arm_variant;
    *ret = (struct platform){0};
    ret->os = strdup("linux");
    ret->architecture = strdup(arch);
    ret->variant = variant ? strdup(variant) : NULL;
    if (!ret->os || !ret->architecture || (variant && !ret->variant)) {
        platform_clear(ret);
        return -ENOMEM;
    }
    return 0;
}

char *platform_format(const struct platform *p) {
    char *s = NULL;
    const char *v = p->variant && *p->variant ? p->variant : NULL;

    if (asprintf(&s, "%s/%s%s%s", p->os ? p->os : "?", p->architecture ? p->architecture : "?", v ? "/" : "",
                 v ? v : "") < 0)
        return NULL;
    return s;
}

/* A platform reduced to containerd's normal form (platforms.Normalize). */
struct norm {
    char os[32], arch[32], variant[32];
};

static void lower_copy(char *dst, size_t size, const char *src) {
    size_t i = 0;

    for (; src && src[i] && i + 1 < size; i++)
        dst[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] - 'A' + 'a' : src[i]);
    dst[i] = '\0';
}

static void normalise(const struct platform *p, struct norm *n) {
    static const struct {
        const char *from, *arch, *variant; /* variant NULL: keep the given one */
    } arches[] = {
        {"x86_64", "amd64", NULL},  {"x86-64", "amd64", NULL}, {"i386", "386", ""},    {"i686", "386", ""},
        {"aarch64", "arm64", NULL}, {"armhf", "arm", "v7"},    {"armel", "arm", "v6"},
    };

    lower_copy(n->os, sizeof(n->os), p->os);
    lower_copy(n->arch, sizeof(n->arch), p->architecture);
    lower_copy(n->variant, sizeof(n->variant), p->variant);
    for (size_t i = 0; i < sizeof(arches) / sizeof(arches[0]); i++)
        if (strcmp(n->arch, arches[i].from) == 0) {
            snprintf(n->arch, sizeof(n->arch), "%s", arches[i].arch);
            if (arches[i].variant)
                snprintf(n->variant, sizeof(n->variant), "%s", arches[i].variant);
        }
    if (n->variant[0] >= '0' && n->variant[0] <= '9') { /* "7" → "v7" */
        memmove(n->variant + 1, n->variant, sizeof(n->variant) - 2);
        n->variant[sizeof(n->variant) - 1] = '\0';
        n->variant[0] = 'v';
    }
    if (strcmp(n->arch, "arm64") == 0 && (strcmp(n->variant, "v8") == 0 || strcmp(n->variant, "v8.0") == 0))
        n->variant[0] = '\0';
    if (strcmp(n->arch, "amd64") == 0 && strcmp(n->variant, "v1") == 0)
        n->variant[0] = '\0';
}

/* N of "vN", or -1. */
static int variant_level(const char *v) {
    int n = 0;

    if (v[0] != 'v' || !v[1])
        return -1;
    for (v++; *v; v++) {
        if (*v < '0' || *v > '9' || n > 1000)
            return -1;
        n = n * 10 + (*v - '0');
    }
    return n;
}

/*
 * How well an entry fits: 0 exact, 1 no variant, 1 + distance for a lower
 * arm/amd64 variant, -1 not at all.  `want` is already normalised.
 */
static int match_rank(const struct norm *want, const struct platform *entry) {
    struct norm e;
    int wl, el;

    normalise(entry, &e);
    if (strcmp(want->os, e.os) != 0 || strcmp(want->arch, e.arch) != 0)
        return -1;
    if (strcmp(want->variant, e.variant) == 0)
        return 0;
    if (!e.variant[0])
        return 1;
    if (strcmp(e.arch, "arm") != 0 && strcmp(e.arch, "amd64") != 0)
        return -1;
    wl = want->variant[0] ? variant_level(want->variant) : 1; /* amd64 with no variant is v1 */
    el = variant_level(e.variant);
    if (wl < 0 || el < 0 || el > wl || (strcmp(e.arch, "arm") == 0 && el < 5))
        return -1;
    return 1 + (wl - el);
}

/* "linux/arm64, linux/arm/v7" of the entries that carry a platform. */
static char *available_list(const struct image_index *idx) {
    struct strbuf b = {0};

    for (size_t i = 0; i < idx->n; i++) {
        if (!idx->manifests[i].has_platform)
            continue;
        char *s = platform_format(&idx->manifests[i].platform);
        strbuf_printf(&b, "%s%s", b.len ? ", " : "", s ? s : "?");
        free(s);
    }
    if (!b.len)
        strbuf_puts(&b, "none");
    return strbuf_steal(&b);
}

static int select_fail(const struct image_index *idx, const struct platform *want, struct cleat_error **reterr) {
    char *w = platform_format(want), *avail = available_list(idx);
    int r = error_set(reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "no manifest for %s in index (available: %.800s)",
                      w ? w : "?", avail ? avail : "?");

    free(w);
    free(avail);
    return r;
}

int image_index_select(const struct image_index *idx, const struct platform *want, const struct descriptor **ret,
                       struct cleat_error **reterr) {
    const struct descriptor *best = NULL;
    int best_rank = -1;
    struct norm w;

    normalise(want, &w);
    if (strcmp(w.arch, "arm") == 0 && !w.variant[0]) /* containerd: arm means arm/v7 */
        snprintf(w.variant, sizeof(w.variant), "v7");
    for (size_t i = 0; i < idx->n; i++) {
        const struct descriptor *d = &idx->manifests[i];
        if (!d->has_platform || !(media_is_manifest(d->media_type) || media_is_index(d->media_type)))
            continue;
        int rank = match_rank(&w, &d->platform);
        if (rank >= 0 && (best_rank < 0 || rank < best_rank))
            best = d, best_rank = rank;
    }
    if (!best)
        return select_fail(idx, want, reterr);
    *ret = best;
    return 0;
}

/* ---- chain IDs ------------------------------------------------------------------------------------------------ */

int image_chain_ids(char *const *diff_ids, size_t n, char ***ret, struct cleat_error **reterr) {
    char **chain = calloc(n + 1, sizeof(*chain));
    char buf[2 * DIGEST_MAX + 1], id[DIGEST_MAX];
    int r = chain ? 0 : oom(reterr);

    for (size_t i = 0; i < n && r == 0; i++) {
        r = digest_check_computable(diff_ids[i], reterr);
        if (r < 0) {
            r = error_prefix(r, reterr, "layer %zu diff_id", i);
            break;
        }
        if (i == 0)
            snprintf(id, sizeof(id), "%s", diff_ids[0]);
        else {
            int len = snprintf(buf, sizeof(buf), "%s %s", chain[i - 1], diff_ids[i]);
            if (digest_of_buffer(buf, (size_t)len, id) < 0)
                r = oom(reterr);
        }
        if (r == 0 && !(chain[i] = strdup(id)))
            r = oom(reterr);
    }
    if (r < 0) {
        strv_free(chain);
        return r;
    }
    *ret = chain;
    return 0;
}
