/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The YAML configuration tree: parse (libyaml events), merge, emit, and the
 * read accessors that back the config members of struct cleat_host.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, strndup, reallocarray under -std=c11 */
#endif

#include "cleanup.h"
#include "config_tree.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "error.h"
#include "strbuf.h"

#define NOT_FOUND SIZE_MAX

#define _cleanup_tree_ __attribute__((cleanup(config_tree_freep)))
#define _cleanup_event_ __attribute__((cleanup(yaml_event_delete)))

/* ------------------------------------------------------------------------- */
/* messages                                                                  */

__attribute__((format(printf, 1, 0))) static char *vformat(const char *fmt, va_list ap) {
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

/* "FILE:LINE:COLUMN: message", the shape of every message about a place in a file; takes `msg`. */
static char *located(const char *file, size_t line, size_t column, char *msg) {
    char *s = NULL;
    if (msg && asprintf(&s, "%s:%zu:%zu: %s", file, line, column, msg) < 0)
        s = NULL;
    free(msg);
    return s;
}

char *config_tree_format_at(const struct cleat_config *node, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(fmt, ap);
    va_end(ap);
    if (!node) {
        char *s = NULL;
        if (msg && asprintf(&s, "(absent): %s", msg) < 0)
            s = NULL;
        free(msg);
        return s;
    }
    return located(node->file, node->line, node->column, msg);
}

/* error_set() has no va_list variant, so the message is formatted here first. */
static int set_error(struct cleat_error **reterr, char *msg) {
    if (!msg)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, ENOMEM, "out of memory");
    error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "%s", msg);
    free(msg);
    return -EINVAL;
}

int config_tree_error_at(const struct cleat_config *node, struct cleat_error **reterr, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = vformat(fmt, ap);
    va_end(ap);
    if (!msg)
        return set_error(reterr, NULL);
    return set_error(reterr, config_tree_format_at(node, "%s", msg));
}

const char *config_tree_kind_name(uint32_t kind) {
    switch (kind) {
    case CLEAT_CONFIG_NULL:
        return "null";
    case CLEAT_CONFIG_SCALAR:
        return "a scalar value";
    case CLEAT_CONFIG_MAP:
        return "a map";
    case CLEAT_CONFIG_SEQ:
        return "a list";
    default:
        return "absent";
    }
}

void config_diag_add(struct config_diag *d, char *line) {
    if (!line) {
        d->text.failed = 1;
        return;
    }
    if (d->n++ > 0)
        strbuf_puts(&d->text, "\n");
    strbuf_puts(&d->text, line);
    free(line);
}

void config_diag_add_at(struct config_diag *d, const struct cleat_config *node, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(fmt, ap);
    va_end(ap);
    config_diag_add(d, msg ? config_tree_format_at(node, "%s", msg) : NULL);
    free(msg);
}

void config_diag_add_error(struct config_diag *d, struct cleat_error *err) {
    if (!err)
        return;
    config_diag_add(d, error_errno(err) == ENOMEM ? NULL : strdup(error_message(err)));
    error_free(err);
}

int config_diag_finish(struct config_diag *d, struct cleat_error **reterr) {
    int r = 0;
    if (d->text.failed)
        r = error_set(reterr, CLEAT_STATUS_INTERNAL, ENOMEM, "out of memory");
    else if (d->n > 0)
        r = error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "%s", d->text.s);
    strbuf_free(&d->text);
    d->n = 0;
    return r;
}

/* ------------------------------------------------------------------------- */
/* nodes                                                                     */

static struct cleat_config *node_new(uint32_t kind, const char *file, size_t line, size_t column) {
    struct cleat_config *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->file = strdup(file);
    if (!n->file) {
        free(n);
        return NULL;
    }
    n->kind = kind;
    n->line = line > UINT32_MAX ? UINT32_MAX : (uint32_t)line;
    n->column = column > UINT32_MAX ? UINT32_MAX : (uint32_t)column;
    return n;
}

void config_tree_free(struct cleat_config *node) {
    if (!node)
        return;
    for (size_t i = 0; i < node->n_entries; i++) {
        config_tree_free(node->entries[i].key);
        config_tree_free(node->entries[i].value);
    }
    free(node->entries);
    free(node->text);
    free(node->file);
    free(node);
}

/* Appends; on failure the caller still owns key and value. */
static int entries_push(struct cleat_config *node, struct cleat_config *key, struct cleat_config *value) {
    if (node->n_entries == node->n_alloc) {
        size_t n = node->n_alloc ? node->n_alloc * 2 : 4;
        struct config_entry *e = reallocarray(node->entries, n, sizeof(*e));
        if (!e)
            return -ENOMEM;
        node->entries = e;
        node->n_alloc = n;
    }
    node->entries[node->n_entries++] = (struct config_entry){key, value};
    return 0;
}

static void entries_remove(struct cleat_config *node, size_t i) {
    config_tree_free(node->entries[i].key);
    config_tree_free(node->entries[i].value);
    memmove(&node->entries[i], &node->entries[i + 1], (node->n_entries - i - 1) * sizeof(node->entries[0]));
    node->n_entries--;
}

static size_t map_find(const struct cleat_config *map, const char *key) {
    for (size_t i = 0; i < map->n_entries; i++)
        if (strcmp(map->entries[i].key->text, key) == 0)
            return i;
    return NOT_FOUND;
}

bool config_tree_equal(const struct cleat_config *a, const struct cleat_config *b) {
    if (!a || !b)
        return a == b;
    if (a->kind != b->kind || a->n_entries != b->n_entries)
        return false;
    if (a->kind == CLEAT_CONFIG_SCALAR && strcmp(a->text, b->text) != 0)
        return false;
    for (size_t i = 0; i < a->n_entries; i++) {
        if (a->kind == CLEAT_CONFIG_MAP && strcmp(a->entries[i].key->text, b->entries[i].key->text) != 0)
            return false;
        if (!config_tree_equal(a->entries[i].value, b->entries[i].value))
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------------- */
/* parsing                                                                   */

struct parser {
    yaml_parser_t yaml;
    const char *name;
    const char *text;
    size_t len;
};

static int error_at_mark(const struct parser *p, const yaml_mark_t *mark, struct cleat_error **reterr, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));
static int error_at_mark(const struct parser *p, const yaml_mark_t *mark, struct cleat_error **reterr, const char *fmt,
                         ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(fmt, ap);
    va_end(ap);
    return set_error(reterr, located(p->name, mark->line + 1, mark->column + 1, msg));
}

/* A reader error (bad encoding) only has a byte offset: count lines and characters up to it. */
static yaml_mark_t mark_of_offset(const struct parser *p, size_t offset) {
    yaml_mark_t m = {0};
    for (size_t i = 0; i < offset && i < p->len; i++) {
        if (p->text[i] == '\n') {
            m.line++;
            m.column = 0;
        } else if (((unsigned char)p->text[i] & 0xc0) != 0x80) {
            m.column++;
        }
    }
    return m;
}

static int parser_error(const struct parser *p, struct cleat_error **reterr) {
    const yaml_parser_t *y = &p->yaml;
    const char *problem = y->problem ? y->problem : "invalid YAML";

    if (y->error == YAML_MEMORY_ERROR)
        return set_error(reterr, NULL);
    if (y->error == YAML_READER_ERROR) {
        yaml_mark_t m = mark_of_offset(p, y->problem_offset);
        return error_at_mark(p, &m, reterr, "%s", problem);
    }
    if (y->context)
        return error_at_mark(p, &y->problem_mark, reterr, "%s (%s that started at line %zu, column %zu)", problem,
                             y->context, y->context_mark.line + 1, y->context_mark.column + 1);
    return error_at_mark(p, &y->problem_mark, reterr, "%s", problem);
}

static int next_event(struct parser *p, yaml_event_t *ev, struct cleat_error **reterr) {
    if (!yaml_parser_parse(&p->yaml, ev))
        return parser_error(p, reterr);
    return 0;
}

/* Anchors and tags would give the tree meanings it cannot represent; refuse rather than ignore them. */
static int check_properties(const struct parser *p, const yaml_event_t *ev, const yaml_char_t *anchor,
                            const yaml_char_t *tag, struct cleat_error **reterr) {
    if (anchor)
        return error_at_mark(p, &ev->start_mark, reterr, "anchors (&%s) are not supported", (const char *)anchor);
    if (tag)
        return error_at_mark(p, &ev->start_mark, reterr, "tags (%s) are not supported", (const char *)tag);
    return 0;
}

static bool reads_as_null(const char *text, size_t len) {
    return len == 0 || strcmp(text, "~") == 0 || strcmp(text, "null") == 0 || strcmp(text, "Null") == 0 ||
           strcmp(text, "NULL") == 0;
}

static int parse_scalar(struct parser *p, const yaml_event_t *ev, struct cleat_config **ret,
                        struct cleat_error **reterr) {
    const char *value = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    bool quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;

    int r = check_properties(p, ev, ev->data.scalar.anchor, ev->data.scalar.tag, reterr);
    if (r < 0)
        return r;
    if (memchr(value, '\0', len))
        return error_at_mark(p, &ev->start_mark, reterr, "NUL characters are not allowed");

    uint32_t kind = !quoted && reads_as_null(value, len) ? CLEAT_CONFIG_NULL : CLEAT_CONFIG_SCALAR;
    _cleanup_tree_ struct cleat_config *n = node_new(kind, p->name, ev->start_mark.line + 1, ev->start_mark.column + 1);
    if (!n)
        return set_error(reterr, NULL);
    if (kind == CLEAT_CONFIG_SCALAR) {
        n->quoted = quoted;
        n->text = strndup(value, len);
        if (!n->text)
            return set_error(reterr, NULL);
    }
    *ret = TAKE_PTR(n);
    return 0;
}

static int parse_node(struct parser *p, const yaml_event_t *ev, unsigned depth, struct cleat_config **ret,
                      struct cleat_error **reterr);

static int parse_key(struct parser *p, const yaml_event_t *ev, const struct cleat_config *map,
                     struct cleat_config **ret, struct cleat_error **reterr) {
    if (ev->type != YAML_SCALAR_EVENT && ev->type != YAML_ALIAS_EVENT)
        return error_at_mark(p, &ev->start_mark, reterr, "a key must be a scalar, not %s",
                             ev->type == YAML_MAPPING_START_EVENT ? "a map" : "a list");

    _cleanup_tree_ struct cleat_config *key = NULL;
    int r = parse_node(p, ev, 0, &key, reterr);
    if (r < 0)
        return r;
    if (key->kind != CLEAT_CONFIG_SCALAR)
        return config_tree_error_at(key, reterr, "a key must not be null (quote it to use the text)");

    size_t i = map_find(map, key->text);
    if (i != NOT_FOUND)
        return config_tree_error_at(key, reterr, "duplicate key '%s' (first at line %" PRIu32 ", column %" PRIu32 ")",
                                    key->text, map->entries[i].key->line, map->entries[i].key->column);
    *ret = TAKE_PTR(key);
    return 0;
}

/* Reads one entry of a collection; sets *done at its end event. */
static int parse_entry(struct parser *p, struct cleat_config *node, unsigned depth, bool *done,
                       struct cleat_error **reterr) {
    _cleanup_event_ yaml_event_t ev = {0};
    _cleanup_tree_ struct cleat_config *key = NULL, *value = NULL;

    int r = next_event(p, &ev, reterr);
    if (r < 0)
        return r;
    if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
        *done = true;
        return 0;
    }
    if (node->n_entries >= CONFIG_TREE_MAX_ENTRIES)
        return error_at_mark(p, &ev.start_mark, reterr, "more than %d entries in one %s", CONFIG_TREE_MAX_ENTRIES,
                             node->kind == CLEAT_CONFIG_MAP ? "map" : "list");
    if (node->kind == CLEAT_CONFIG_MAP) {
        r = parse_key(p, &ev, node, &key, reterr);
        if (r < 0)
            return r;
        yaml_event_delete(&ev);
        r = next_event(p, &ev, reterr);
        if (r < 0)
            return r;
    }
    r = parse_node(p, &ev, depth + 1, &value, reterr);
    if (r < 0)
        return r;
    if (entries_push(node, key, value) < 0)
        return set_error(reterr, NULL);
    key = value = NULL;
    return 0;
}

static int parse_collection(struct parser *p, const yaml_event_t *ev, unsigned depth, struct cleat_config **ret,
                            struct cleat_error **reterr) {
    bool map = ev->type == YAML_MAPPING_START_EVENT;
    int r = map ? check_properties(p, ev, ev->data.mapping_start.anchor, ev->data.mapping_start.tag, reterr)
                : check_properties(p, ev, ev->data.sequence_start.anchor, ev->data.sequence_start.tag, reterr);
    if (r < 0)
        return r;

    _cleanup_tree_ struct cleat_config *node = node_new(map ? CLEAT_CONFIG_MAP : CLEAT_CONFIG_SEQ, p->name,
                                                        ev->start_mark.line + 1, ev->start_mark.column + 1);
    if (!node)
        return set_error(reterr, NULL);
    for (bool done = false; !done;) {
        r = parse_entry(p, node, depth, &done, reterr);
        if (r < 0)
            return r;
    }
    *ret = TAKE_PTR(node);
    return 0;
}

static int parse_node(struct parser *p, const yaml_event_t *ev, unsigned depth, struct cleat_config **ret,
                      struct cleat_error **reterr) {
    /* Bounds the recursion here and in every walker of the finished tree. */
    if (depth > CONFIG_TREE_MAX_DEPTH)
        return error_at_mark(p, &ev->start_mark, reterr, "nested deeper than %d levels", CONFIG_TREE_MAX_DEPTH);
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return parse_scalar(p, ev, ret, reterr);
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        return parse_collection(p, ev, depth, ret, reterr);
    case YAML_ALIAS_EVENT:
        return error_at_mark(p, &ev->start_mark, reterr, "aliases (*%s) are not supported",
                             (const char *)ev->data.alias.anchor);
    default:
        return error_at_mark(p, &ev->start_mark, reterr, "unexpected YAML event %d", (int)ev->type);
    }
}

/* The document's root, or an empty map for a stream without any document. */
static int parse_root(struct parser *p, struct cleat_config **ret, struct cleat_error **reterr) {
    _cleanup_event_ yaml_event_t ev = {0};
    int r;

    for (;;) {
        r = next_event(p, &ev, reterr);
        if (r < 0)
            return r;
        if (ev.type == YAML_STREAM_END_EVENT) {
            *ret = node_new(CLEAT_CONFIG_MAP, p->name, 1, 1);
            return *ret ? 0 : set_error(reterr, NULL);
        }
        if (ev.type != YAML_STREAM_START_EVENT && ev.type != YAML_DOCUMENT_START_EVENT)
            return parse_node(p, &ev, 1, ret, reterr);
        yaml_event_delete(&ev);
    }
}

/* After the root: the document must end and no other may follow. */
static int parse_tail(struct parser *p, struct cleat_error **reterr) {
    for (;;) {
        _cleanup_event_ yaml_event_t ev = {0};
        int r = next_event(p, &ev, reterr);
        if (r < 0)
            return r;
        if (ev.type == YAML_DOCUMENT_START_EVENT)
            return error_at_mark(p, &ev.start_mark, reterr, "only one YAML document is allowed");
        /* libyaml answers NO_EVENT forever once the stream has ended. */
        if (ev.type == YAML_STREAM_END_EVENT || ev.type == YAML_NO_EVENT)
            return 0;
    }
}

int config_tree_parse_string(const char *name, const char *text, size_t len, struct cleat_config **ret,
                             struct cleat_error **reterr) {
    struct parser p = {.name = name ? name : "(string)", .text = text, .len = len};
    _cleanup_tree_ struct cleat_config *root = NULL;

    if (!yaml_parser_initialize(&p.yaml))
        return set_error(reterr, NULL);
    yaml_parser_set_input_string(&p.yaml, (const unsigned char *)text, len);
    int r = parse_root(&p, &root, reterr);
    if (r >= 0)
        r = parse_tail(&p, reterr);
    yaml_parser_delete(&p.yaml);
    if (r < 0)
        return r;

    if (root->kind == CLEAT_CONFIG_NULL) { /* "---" alone: an empty document */
        root->kind = CLEAT_CONFIG_MAP;
    } else if (root->kind != CLEAT_CONFIG_MAP) {
        return config_tree_error_at(root, reterr, "the top level must be a map, not %s",
                                    config_tree_kind_name(root->kind));
    }
    *ret = TAKE_PTR(root);
    return 0;
}

static int read_file(const char *path, char **ret, size_t *ret_len, struct cleat_error **reterr) {
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;

    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        int32_t status = e == ENOENT                 ? CLEAT_STATUS_NOT_FOUND
                         : e == EACCES || e == EPERM ? CLEAT_STATUS_PERMISSION_DENIED
                                                     : CLEAT_STATUS_INTERNAL;
        return error_set(reterr, status, e, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "%s: not a regular file", path);
    if (st.st_size > CONFIG_TREE_MAX_FILE_SIZE)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EFBIG, "%s: larger than %d bytes", path,
                         CONFIG_TREE_MAX_FILE_SIZE);

    /* Read to EOF rather than trust st_size: the file may change under us. */
    size_t len = 0, cap = (size_t)st.st_size + 1;
    _cleanup_free_ char *buf = malloc(cap);
    if (!buf)
        return set_error(reterr, NULL);
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "%s: %s", path, strerror(errno));
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap) {
            if (cap > CONFIG_TREE_MAX_FILE_SIZE)
                return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EFBIG, "%s: larger than %d bytes", path,
                                 CONFIG_TREE_MAX_FILE_SIZE);
            char *b = realloc(buf, cap * 2);
            if (!b)
                return set_error(reterr, NULL);
            buf = b;
            cap *= 2;
        }
    }
    *ret = TAKE_PTR(buf);
    *ret_len = len;
    return 0;
}

int config_tree_parse_file(const char *path, struct cleat_config **ret, struct cleat_error **reterr) {
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    int r = read_file(path, &text, &len, reterr);
    if (r < 0)
        return r;
    return config_tree_parse_string(path, text, len, ret, reterr);
}

/* ------------------------------------------------------------------------- */
/* merging                                                                   */

/* Overlay nulls mean "delete"; in a map that is added wholesale there is nothing to delete. */
static void drop_nulls(struct cleat_config *map) {
    for (size_t i = map->n_entries; i-- > 0;) {
        struct cleat_config *v = map->entries[i].value;
        if (v->kind == CLEAT_CONFIG_NULL)
            entries_remove(map, i);
        else if (v->kind == CLEAT_CONFIG_MAP)
            drop_nulls(v);
    }
}

/* Moves every entry out of `overlay`; the caller frees the emptied overlay. */
static int merge_maps(struct cleat_config *base, struct cleat_config *overlay) {
    for (size_t i = 0; i < overlay->n_entries; i++) {
        _cleanup_tree_ struct cleat_config *key = TAKE_PTR(overlay->entries[i].key);
        _cleanup_tree_ struct cleat_config *value = TAKE_PTR(overlay->entries[i].value);
        size_t j = map_find(base, key->text);
        struct config_entry *old = j == NOT_FOUND ? NULL : &base->entries[j];

        if (value->kind == CLEAT_CONFIG_NULL) {
            if (old)
                entries_remove(base, j);
            continue;
        }
        if (value->kind == CLEAT_CONFIG_MAP && old && old->value->kind == CLEAT_CONFIG_MAP) {
            int r = merge_maps(old->value, value);
            if (r < 0)
                return r;
            continue;
        }
        if (value->kind == CLEAT_CONFIG_MAP)
            drop_nulls(value);
        if (old) {
            /* The overlay's key too, so that a message about the entry points at the drop-in. */
            config_tree_free(old->key);
            config_tree_free(old->value);
            old->key = TAKE_PTR(key);
            old->value = TAKE_PTR(value);
        } else {
            if (entries_push(base, key, value) < 0)
                return -ENOMEM;
            key = value = NULL;
        }
    }
    return 0;
}

int config_tree_merge(struct cleat_config *base, struct cleat_config *overlay, struct cleat_error **reterr) {
    _cleanup_tree_ struct cleat_config *o = overlay;

    if (!base || base->kind != CLEAT_CONFIG_MAP)
        return config_tree_error_at(base, reterr, "cannot merge into %s, only into a map",
                                    config_tree_kind_name(config_kind(base)));
    if (!o || o->kind != CLEAT_CONFIG_MAP)
        return config_tree_error_at(o, reterr, "cannot merge %s, only a map", config_tree_kind_name(config_kind(o)));
    if (merge_maps(base, o) < 0)
        return set_error(reterr, NULL);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* emitting                                                                  */

static int emit(yaml_emitter_t *e, yaml_event_t *ev, int initialized) {
    if (!initialized)
        return -ENOMEM;
    return yaml_emitter_emit(e, ev) ? 0 : -EIO; /* consumes ev either way */
}

static int emit_node(yaml_emitter_t *e, const struct cleat_config *node) {
    yaml_event_t ev;
    int r;

    switch (config_kind(node)) {
    case CLEAT_CONFIG_SCALAR: {
        /* plain_implicit=0 makes libyaml quote; keep text that would read back as null (or was quoted) a string. */
        size_t len = strlen(node->text);
        int plain = !node->quoted && !reads_as_null(node->text, len);
        return emit(e, &ev,
                    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)node->text, (int)len, plain, 1,
                                                 YAML_ANY_SCALAR_STYLE));
    }
    case CLEAT_CONFIG_MAP:
    case CLEAT_CONFIG_SEQ: {
        bool map = node->kind == CLEAT_CONFIG_MAP;
        r = emit(e, &ev,
                 map ? yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE)
                     : yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE));
        for (size_t i = 0; r >= 0 && i < node->n_entries; i++) {
            if (map)
                r = emit_node(e, node->entries[i].key);
            if (r >= 0)
                r = emit_node(e, node->entries[i].value);
        }
        if (r < 0)
            return r;
        return emit(e, &ev, map ? yaml_mapping_end_event_initialize(&ev) : yaml_sequence_end_event_initialize(&ev));
    }
    default:
        return emit(
            e, &ev,
            yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)"null", 4, 1, 1, YAML_PLAIN_SCALAR_STYLE));
    }
}

int config_tree_emit_yaml(const struct cleat_config *node, FILE *out) {
    yaml_emitter_t e;
    yaml_event_t ev;

    if (!yaml_emitter_initialize(&e))
        return -ENOMEM;
    yaml_emitter_set_output_file(&e, out);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1); /* no folding of long values */
    int r = emit(&e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    if (r >= 0)
        r = emit(&e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
    if (r >= 0)
        r = emit_node(&e, node);
    if (r >= 0)
        r = emit(&e, &ev, yaml_document_end_event_initialize(&ev, 1));
    if (r >= 0)
        r = emit(&e, &ev, yaml_stream_end_event_initialize(&ev));
    if (r >= 0 && !yaml_emitter_flush(&e))
        r = -EIO;
    yaml_emitter_delete(&e);
    return r;
}

/* JSON's integer syntax, and within int64 so that no reader loses precision. */
static bool is_json_int(const char *s) {
    const char *d = s[0] == '-' ? s + 1 : s;
    if (d[0] < '0' || d[0] > '9' || (d[0] == '0' && d[1] != '\0'))
        return false;
    for (const char *c = d; *c; c++)
        if (*c < '0' || *c > '9')
            return false;
    errno = 0;
    (void)strtoll(s, NULL, 10);
    return errno == 0;
}

static void json_node(struct strbuf *b, const struct cleat_config *node) {
    switch (config_kind(node)) {
    case CLEAT_CONFIG_SCALAR:
        if (!node->quoted &&
            (is_json_int(node->text) || strcmp(node->text, "true") == 0 || strcmp(node->text, "false") == 0))
            strbuf_puts(b, node->text);
        else
            strbuf_json_string(b, node->text);
        break;
    case CLEAT_CONFIG_MAP:
    case CLEAT_CONFIG_SEQ: {
        bool map = node->kind == CLEAT_CONFIG_MAP;
        strbuf_puts(b, map ? "{" : "[");
        for (size_t i = 0; i < node->n_entries; i++) {
            if (i > 0)
                strbuf_puts(b, ",");
            if (map) {
                strbuf_json_string(b, node->entries[i].key->text);
                strbuf_puts(b, ":");
            }
            json_node(b, node->entries[i].value);
        }
        strbuf_puts(b, map ? "}" : "]");
        break;
    }
    default:
        strbuf_puts(b, "null");
    }
}

char *config_tree_to_json(const struct cleat_config *node) {
    struct strbuf b = {0};
    json_node(&b, node);
    return strbuf_steal(&b);
}

/* ------------------------------------------------------------------------- */
/* accessors (struct cleat_host)                                             */

uint32_t config_kind(const struct cleat_config *node) {
    return node ? node->kind : CLEAT_CONFIG_ABSENT;
}

const char *config_scalar0(const struct cleat_config *node) {
    return config_kind(node) == CLEAT_CONFIG_SCALAR ? node->text : NULL;
}

uint64_t config_count(const struct cleat_config *node) {
    uint32_t k = config_kind(node);
    return k == CLEAT_CONFIG_MAP || k == CLEAT_CONFIG_SEQ ? node->n_entries : 0;
}

const struct cleat_config *config_tree_key_at(const struct cleat_config *map, uint64_t index) {
    if (config_kind(map) != CLEAT_CONFIG_MAP || index >= map->n_entries)
        return NULL;
    return map->entries[index].key;
}

const char *config_key0(const struct cleat_config *node, uint64_t index) {
    const struct cleat_config *key = config_tree_key_at(node, index);
    return key ? key->text : NULL;
}

const struct cleat_config *config_at0(const struct cleat_config *node, uint64_t index) {
    if (index >= config_count(node))
        return NULL;
    return node->entries[index].value;
}

const struct cleat_config *config_get0(const struct cleat_config *node, const char *key) {
    if (config_kind(node) != CLEAT_CONFIG_MAP || !key)
        return NULL;
    size_t i = map_find(node, key);
    return i == NOT_FOUND ? NULL : node->entries[i].value;
}

int32_t config_where(const struct cleat_config *node, char *buf, uint64_t size) {
    if (!buf || size == 0)
        return 0;
    int n = node ? snprintf(buf, (size_t)size, "%s:%" PRIu32 ":%" PRIu32, node->file, node->line, node->column)
                 : snprintf(buf, (size_t)size, "(absent)");
    if (n < 0) {
        buf[0] = '\0';
        return 0;
    }
    return (uint64_t)n < size ? n : (int32_t)(size - 1);
}

/* Optimal string alignment distance (an adjacent swap counts 1), for short strings only. */
static size_t edit_distance(const char *a, const char *b) {
    enum { MAX = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAX || lb > MAX)
        return SIZE_MAX;
    size_t d[MAX + 1][MAX + 1];
    for (size_t i = 0; i <= la; i++)
        for (size_t j = 0; j <= lb; j++) {
            if (i == 0 || j == 0) {
                d[i][j] = i + j;
                continue;
            }
            size_t cost = a[i - 1] != b[j - 1], best = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

/* The allowed key closest to `key`, if it is close enough to be a typo rather than a different word. */
static const char *suggest(const char *key, const char *const *allowed) {
    const char *best = NULL;
    size_t best_d = 3;
    for (; allowed && *allowed; allowed++) {
        size_t d = edit_distance(key, *allowed);
        if (d < best_d && 2 * d < strlen(*allowed)) {
            best = *allowed;
            best_d = d;
        }
    }
    return best;
}

static bool in_list(const char *s, const char *const *list) {
    for (; list && *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

int config_check_keys(const struct cleat_config *node, const char *const *allowed, struct cleat_error **reterr) {
    struct config_diag d = {0};
    uint32_t kind = config_kind(node);

    if (kind == CLEAT_CONFIG_ABSENT || kind == CLEAT_CONFIG_NULL)
        return 0;
    if (kind != CLEAT_CONFIG_MAP)
        return config_tree_error_at(node, reterr, "expected a map, not %s", config_tree_kind_name(kind));
    for (size_t i = 0; i < node->n_entries; i++) {
        const struct cleat_config *key = node->entries[i].key;
        if (in_list(key->text, allowed))
            continue;
        const char *hint = suggest(key->text, allowed);
        if (hint)
            config_diag_add_at(&d, key, "unknown key '%s' (did you mean '%s'?)", key->text, hint);
        else
            config_diag_add_at(&d, key, "unknown key '%s'", key->text);
    }
    return config_diag_finish(&d, reterr);
}

/* The scalar at `key` in map `node` (NULL when absent or null); `what` names the wanted type in errors. */
static int get_scalar(const struct cleat_config *node, const char *key, const char *what,
                      const struct cleat_config **ret, struct cleat_error **reterr) {
    uint32_t kind = config_kind(node);
    if (kind != CLEAT_CONFIG_ABSENT && kind != CLEAT_CONFIG_NULL && kind != CLEAT_CONFIG_MAP)
        return config_tree_error_at(node, reterr, "expected a map with '%s', not %s", key, config_tree_kind_name(kind));
    const struct cleat_config *value = config_get0(node, key);
    kind = config_kind(value);
    if (kind == CLEAT_CONFIG_MAP || kind == CLEAT_CONFIG_SEQ)
        return config_tree_error_at(value, reterr, "'%s' must be %s, not %s", key, what, config_tree_kind_name(kind));
    *ret = kind == CLEAT_CONFIG_SCALAR ? value : NULL;
    return 0;
}

int config_get_string(const struct cleat_config *node, const char *key, const char *def, const char **ret,
                      struct cleat_error **reterr) {
    const struct cleat_config *v = NULL;
    int r = get_scalar(node, key, "a string", &v, reterr);
    if (r < 0)
        return r;
    *ret = v ? v->text : def;
    return 0;
}

/* 0, -EINVAL when `s` is not a decimal integer, -ERANGE when it does not fit in int64. */
static int parse_decimal(const char *s, int64_t *ret) {
    const char *d = s[0] == '-' || s[0] == '+' ? s + 1 : s;
    if (*d == '\0')
        return -EINVAL;
    for (const char *c = d; *c; c++)
        if (*c < '0' || *c > '9')
            return -EINVAL;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno != 0)
        return -ERANGE;
    *ret = v;
    return 0;
}

static int range_error(const struct cleat_config *v, const char *key, int64_t min, int64_t max,
                       struct cleat_error **reterr) {
    if (min == INT64_MIN && max == INT64_MAX)
        return config_tree_error_at(v, reterr, "'%s' is out of range, got %s", key, v->text);
    if (max == INT64_MAX)
        return config_tree_error_at(v, reterr, "'%s' must be at least %" PRId64 ", got %s", key, min, v->text);
    if (min == INT64_MIN)
        return config_tree_error_at(v, reterr, "'%s' must be at most %" PRId64 ", got %s", key, max, v->text);
    return config_tree_error_at(v, reterr, "'%s' must be between %" PRId64 " and %" PRId64 ", got %s", key, min, max,
                                v->text);
}

int config_get_int(const struct cleat_config *node, const char *key, int64_t def, int64_t min, int64_t max,
                   int64_t *ret, struct cleat_error **reterr) {
    const struct cleat_config *v = NULL;
    int64_t n = 0;
    int r = get_scalar(node, key, "an integer", &v, reterr);
    if (r < 0)
        return r;
    if (!v) {
        *ret = def;
        return 0;
    }
    r = parse_decimal(v->text, &n);
    if (r == -EINVAL)
        return config_tree_error_at(v, reterr, "'%s' must be a decimal integer, not '%s'", key, v->text);
    if (r < 0 || n < min || n > max)
        return range_error(v, key, min, max, reterr);
    *ret = n;
    return 0;
}

int config_get_bool(const struct cleat_config *node, const char *key, int32_t def, int32_t *ret,
                    struct cleat_error **reterr) {
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    const struct cleat_config *v = NULL;
    int r = get_scalar(node, key, "a boolean", &v, reterr);
    if (r < 0)
        return r;
    if (!v) {
        *ret = def;
        return 0;
    }
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(v->text, yes[i]) == 0 || strcasecmp(v->text, no[i]) == 0) {
            *ret = strcasecmp(v->text, yes[i]) == 0;
            return 0;
        }
    }
    return config_tree_error_at(v, reterr, "'%s' must be true or false (or yes/no, on/off), not '%s'", key, v->text);
}
