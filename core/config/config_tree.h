/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config_tree: the YAML configuration tree behind the SDK's opaque
 * `struct cleat_config` -- parse, merge (drop-ins), emit (YAML, JSON) -- and
 * the backing functions of the config accessors in `struct cleat_host`.
 *
 * Scalars are kept as the text that was written; only null versus scalar is
 * decided at parse time: a plain (unquoted) empty value, `~`, `null`, `Null`
 * or `NULL` is a null, everything else is a scalar.  Reading "8" as a number
 * is the job of the typed getters.
 *
 * Refused, with INVALID_ARGUMENT and the message "FILE:LINE:COLUMN: ...":
 * YAML syntax errors, more than one document, anchors and aliases, tags, keys
 * that are not scalars or are null, duplicate keys in one map, NUL characters,
 * nesting deeper than CONFIG_TREE_MAX_DEPTH, collections with more than
 * CONFIG_TREE_MAX_ENTRIES entries, and a top level that is not a map.
 *
 * A finished tree is never modified again, so any number of threads may read
 * it; plugins keep pointers into it until their fini().  A NULL node is valid
 * for every reader below and reads as absent.
 */
#ifndef CLEAT_CORE_CONFIG_TREE_H
#define CLEAT_CORE_CONFIG_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cleat/config.h>
#include <cleat/error.h>

#include "strbuf.h"

/* Deeper nesting is refused, which bounds the recursion of every walker here. */
#define CONFIG_TREE_MAX_DEPTH 64
/* Bounds the quadratic duplicate-key check; no sane config comes close. */
#define CONFIG_TREE_MAX_ENTRIES 10000
/* Config files larger than this are refused before they are parsed. */
#define CONFIG_TREE_MAX_FILE_SIZE (1024 * 1024)

/* One entry of a map (key and value) or of a sequence (value only, key NULL). */
struct config_entry {
    struct cleat_config *key; /* a SCALAR node, so that it has its own location */
    struct cleat_config *value;
};

struct cleat_config {
    uint32_t kind;   /* CLEAT_CONFIG_NULL, _SCALAR, _MAP or _SEQ; never _ABSENT */
    uint32_t line;   /* 1-based, where the node starts */
    uint32_t column; /* 1-based, in characters */
    bool quoted;     /* a scalar written quoted or as a block: text even if it reads like 8 or true */
    char *file;      /* the name given to the parser, usually the file's path */
    char *text;      /* SCALAR: the value, NUL-terminated, never contains NUL */
    struct config_entry *entries;
    size_t n_entries;
    size_t n_alloc;
};

/*
 * Parse the YAML file at `path` (at most CONFIG_TREE_MAX_FILE_SIZE bytes, a
 * regular file).  An empty file, or one with only comments, is an empty map.
 * Errors: NOT_FOUND/-ENOENT when the file does not exist (callers may treat
 * that as "no file"), PERMISSION_DENIED, INVALID_ARGUMENT for the YAML
 * problems listed above.
 */
int config_tree_parse_file(const char *path, struct cleat_config **ret, struct cleat_error **reterr);

/* Parse `len` bytes of YAML; `name` is used as the file name in locations. */
int config_tree_parse_string(const char *name, const char *text, size_t len, struct cleat_config **ret,
                             struct cleat_error **reterr);

/*
 * Merge `overlay` into `base`, drop-in style, as JSON Merge Patch (RFC 7386)
 * does: maps merge key by key, recursively; a scalar or a sequence in the
 * overlay replaces the base value (sequences are not appended); an explicit
 * null deletes the key from the base, and nulls inside a map that is added
 * where the base had none are dropped as well.  Keys new to a map are appended
 * after the existing ones.  Nodes taken from the overlay keep their location,
 * so errors point at the drop-in that set a value.
 *
 * Always consumes `overlay` (moved into `base` or freed), also on failure.
 * Both must be maps (INVALID_ARGUMENT otherwise, base untouched).  On -ENOMEM
 * `base` is a valid tree but only partly merged.
 */
int config_tree_merge(struct cleat_config *base, struct cleat_config *overlay, struct cleat_error **reterr);

/* Free a tree; NULL-safe. */
void config_tree_free(struct cleat_config *node);
static inline void config_tree_freep(struct cleat_config **node) {
    config_tree_free(*node);
}

/* True when two trees have the same kinds, texts and keys in the same order (locations and quoting ignored). */
bool config_tree_equal(const struct cleat_config *a, const struct cleat_config *b);

/*
 * Write `node` to `out` as a block-style YAML document that parses back to an
 * equal tree (text that would read as null is quoted).  0, or -ENOMEM/-EIO.
 */
int config_tree_emit_yaml(const struct cleat_config *node, FILE *out);

/*
 * `node` as compact JSON, malloc'd; NULL on allocation failure.  Maps become
 * objects, sequences arrays, nulls (and a NULL node) `null`.  Unquoted scalars
 * that read as an int64 in JSON syntax, `true` and `false` are written bare;
 * all other scalars are strings.
 */
char *config_tree_to_json(const struct cleat_config *node);

/* "a map", "a list", "a scalar value", "null" or "absent", for messages. */
const char *config_tree_kind_name(uint32_t kind);

/* The key node of a map's `index`th entry (for its location), or NULL. */
const struct cleat_config *config_tree_key_at(const struct cleat_config *map, uint64_t index);

/* malloc'd "FILE:LINE:COLUMN: <message>" for `node`; NULL on allocation failure. */
char *config_tree_format_at(const struct cleat_config *node, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Set *reterr to INVALID_ARGUMENT "FILE:LINE:COLUMN: <message>" for `node`; returns -EINVAL (or -ENOMEM). */
int config_tree_error_at(const struct cleat_config *node, struct cleat_error **reterr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Collects "FILE:LINE:COLUMN: message" lines so that a check can report every
 * problem at once.  Zero-initialize; config_diag_finish() turns the lines into
 * one INVALID_ARGUMENT error (joined with "\n"), or returns 0 when there are
 * none, and resets the list.
 */
struct config_diag {
    struct strbuf text;
    size_t n;
};
/* Takes a malloc'd line (NULL means allocation failed). */
void config_diag_add(struct config_diag *d, char *line);
void config_diag_add_at(struct config_diag *d, const struct cleat_config *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Takes the message of `err` and frees it; NULL-safe. */
void config_diag_add_error(struct config_diag *d, struct cleat_error *err);
int config_diag_finish(struct config_diag *d, struct cleat_error **reterr);

/*
 * The backing functions of the `config_*` members of struct cleat_host; the
 * contracts are in <cleat/plugin.h>.  Where that leaves a choice:
 *  - config_where() writes "(absent)" for a NULL node and returns the length
 *    of what it wrote (after truncation to `size - 1`);
 *  - config_check_keys() accepts an absent or null node as an empty map and
 *    reports every unknown key, one "FILE:LINE:COLUMN: unknown key 'k' (did
 *    you mean 'x'?)" line each, joined with "\n";
 *  - the getters fail when `node` is present but not a map (or null);
 *  - config_get_int() reads decimal integers only ("-12", "4096"; no
 *    suffixes, no hex);
 *  - config_get_bool() reads true/false/yes/no/on/off, case-insensitively.
 */
uint32_t config_kind(const struct cleat_config *node);
const char *config_scalar0(const struct cleat_config *node);
uint64_t config_count(const struct cleat_config *node);
const char *config_key0(const struct cleat_config *node, uint64_t index);
const struct cleat_config *config_at0(const struct cleat_config *node, uint64_t index);
const struct cleat_config *config_get0(const struct cleat_config *node, const char *key);
int32_t config_where(const struct cleat_config *node, char *buf, uint64_t size);
int config_check_keys(const struct cleat_config *node, const char *const *allowed, struct cleat_error **reterr);
int config_get_string(const struct cleat_config *node, const char *key, const char *def, const char **ret,
                      struct cleat_error **reterr);
int config_get_int(const struct cleat_config *node, const char *key, int64_t def, int64_t min, int64_t max,
                   int64_t *ret, struct cleat_error **reterr);
int config_get_bool(const struct cleat_config *node, const char *key, int32_t def, int32_t *ret,
                    struct cleat_error **reterr);

#endif /* CLEAT_CORE_CONFIG_TREE_H */
