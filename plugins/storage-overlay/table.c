/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage-overlay: the in-memory table of snapshots.  Callers hold o->lock
 * (or are init/fini, single-threaded).  A plain array searched linearly: a
 * node holds hundreds to a few thousand snapshots, and every lookup is a few
 * string compares next to the fsyncs and mounts around it.
 */
#include <errno.h>
#include <string.h>

#include "overlay.h"
#include "plugin_strv.h"

struct snap *snap_new(uint64_t id, const char *key, uint32_t kind, const char *const *labels) {
    struct snap *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->id = id;
    s->kind = kind;
    s->key = strdup(key);
    s->labels = plugin_strv_dup(labels);
    if (!s->key || !s->labels) {
        snap_free(s);
        return NULL;
    }
    return s;
}

void snap_free(struct snap *s) {
    if (!s)
        return;
    free(s->key);
    free(s->pending_key);
    plugin_strv_free(s->labels);
    free(s);
}

int table_add(struct ovl *o, struct snap *s) {
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        struct snap **grown = realloc(o->snaps, cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        o->snaps = grown;
        o->cap = cap;
    }
    o->snaps[o->n++] = s;
    return 0;
}

void table_del(struct ovl *o, struct snap *s) {
    for (size_t i = 0; i < o->n; i++)
        if (o->snaps[i] == s) {
            o->snaps[i] = o->snaps[--o->n];
            return;
        }
}

int table_key_taken(const struct ovl *o, const char *key) {
    for (size_t i = 0; i < o->n; i++) {
        const struct snap *s = o->snaps[i];
        if (strcmp(s->key, key) == 0 || (s->pending_key && strcmp(s->pending_key, key) == 0))
            return 1;
    }
    return 0;
}

struct snap *table_find(const struct ovl *o, const char *key) {
    for (size_t i = 0; i < o->n; i++)
        if (o->snaps[i]->state != SNAP_CREATING && strcmp(o->snaps[i]->key, key) == 0)
            return o->snaps[i];
    return NULL;
}

struct snap *table_find_id(const struct ovl *o, uint64_t id) {
    for (size_t i = 0; i < o->n; i++)
        if (o->snaps[i]->id == id)
            return o->snaps[i];
    return NULL;
}

const struct snap *table_child_of(const struct ovl *o, const struct snap *s) {
    for (size_t i = 0; i < o->n; i++)
        if (o->snaps[i]->parent == s)
            return o->snaps[i];
    return NULL;
}

int names_push(char ***v, size_t *n, size_t *cap, const char *name) {
    if (*n == *cap) {
        size_t grown_cap = *cap ? *cap * 2 : 8;
        char **grown = realloc(*v, grown_cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        *v = grown;
        *cap = grown_cap;
    }
    if (!((*v)[*n] = strdup(name)))
        return -ENOMEM;
    (*n)++;
    return 0;
}

int table_claim_trash(struct ovl *o, const char *name) {
    for (size_t i = 0; i < o->ndeleting; i++)
        if (strcmp(o->deleting[i], name) == 0)
            return 0;
    int r = names_push(&o->deleting, &o->ndeleting, &o->capdeleting, name);
    return r < 0 ? r : 1;
}

void table_release_trash(struct ovl *o, const char *name) {
    for (size_t i = 0; i < o->ndeleting; i++)
        if (strcmp(o->deleting[i], name) == 0) {
            free(o->deleting[i]);
            o->deleting[i] = o->deleting[--o->ndeleting];
            return;
        }
}

const char *kind_name(uint32_t kind) {
    switch (kind) {
    case CLEAT_SNAPSHOT_VIEW:
        return "view";
    case CLEAT_SNAPSHOT_ACTIVE:
        return "active";
    case CLEAT_SNAPSHOT_COMMITTED:
        return "committed";
    default:
        return NULL;
    }
}
