/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage-overlay: what is on disk versus what the table says.
 *
 * At init the table is rebuilt from snapshots/<id>/meta, and whatever an
 * interrupted operation left is put right: staging dirs in tmp/ (a prepare
 * that never finished) and trash/ (a removal that never finished) are
 * deleted, a meta.tmp is dropped, the work dir of a committed snapshot (a
 * commit cut short) is removed, and the l/ links are made to match.  The
 * cleanup op also deletes directories in snapshots/ that are not snapshots,
 * moving them to trash/ first, like a removal.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "overlay.h"
#include "plugin_fs.h"

/* A snapshot id as a directory name has it: decimal, no leading zero, not 0, fits in 64 bits. */
static int parse_id(const char *s, uint64_t *ret) {
    uint64_t v = 0;
    if (!s[0] || s[0] == '0' || strlen(s) > 19)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *ret = v;
    return 0;
}

static void note_id(struct ovl *o, const char *name) {
    uint64_t id;
    if (parse_id(name, &id) == 0 && id >= o->next_id)
        o->next_id = id + 1;
}

/* rm -rf of a path below the root; logs a failure. */
static int remove_logged(struct ovl *o, const char *path) {
    char where[512];
    int r = tree_remove(o->rootfd, path, where, sizeof(where));
    if (r < 0)
        cleat_log(o->host, CLEAT_LOG_WARNING, "cannot remove %s/%s: %s: %s", o->root, path, where, strerror(-r));
    return r;
}

/* Delete every entry of tmp/ or trash/ (init: nothing else runs). */
static void clear_dir(struct ovl *o, const char *dir) {
    _cleanup_strv_ char **names = NULL;
    if (plugin_list_dir(o->rootfd, dir, &names) < 0)
        return;
    for (size_t i = 0; names[i]; i++) {
        char path[512];
        note_id(o, names[i]);
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        cleat_log(o->host, CLEAT_LOG_NOTICE, "removing %s/%s, left by an interrupted %s", o->root, path,
                  strcmp(dir, "tmp") == 0 ? "prepare" : "removal");
        (void)remove_logged(o, path);
    }
}

static int load_one(struct ovl *o, const char *name) {
    uint64_t id;
    struct cleat_error *err = NULL;
    struct snap *s = NULL;
    char path[64];
    if (parse_id(name, &id) < 0 || meta_load(o, id, &s, &err) < 0) {
        cleat_log(o->host, CLEAT_LOG_WARNING, "%s/snapshots/%s is not a usable snapshot (%s); cleanup removes it",
                  o->root, name, err ? o->host->error_message(err) : "not a snapshot id");
        o->host->error_free(err);
        return 0;
    }
    snprintf(path, sizeof(path), "snapshots/%" PRIu64 "/meta.tmp", id);
    (void)unlinkat(o->rootfd, path, 0);
    if (s->kind == CLEAT_SNAPSHOT_COMMITTED) {
        snprintf(path, sizeof(path), "snapshots/%" PRIu64 "/work", id);
        (void)remove_logged(o, path);
    }
    s->state = SNAP_READY;
    if (table_add(o, s) < 0) {
        snap_free(s);
        return -ENOMEM;
    }
    return 0;
}

static void drop(struct ovl *o, struct snap *s, const char *why) {
    cleat_log(o->host, CLEAT_LOG_WARNING, "snapshot '%s' (%s/snapshots/%" PRIu64 ") is ignored: %s; cleanup removes it",
              s->key, o->root, s->id, why);
    s->dropped = 1;
}

/* Link parents, drop what cannot be used (duplicate keys, missing parents, recursively), count children. */
static void resolve(struct ovl *o) {
    for (size_t i = 0; i < o->n; i++) {
        for (size_t j = 0; j < i && !o->snaps[i]->dropped; j++)
            if (strcmp(o->snaps[i]->key, o->snaps[j]->key) == 0)
                drop(o, o->snaps[i], "another snapshot has the same key");
        o->snaps[i]->parent = o->snaps[i]->parent_id ? table_find_id(o, o->snaps[i]->parent_id) : NULL;
    }
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < o->n; i++) {
            struct snap *s = o->snaps[i], *p = s->parent;
            if (s->dropped || !s->parent_id || (p && !p->dropped && p->kind == CLEAT_SNAPSHOT_COMMITTED))
                continue;
            drop(o, s, "its parent is missing or not committed");
            changed = 1;
        }
    }
    for (size_t i = o->n; i-- > 0;)
        if (o->snaps[i]->dropped) {
            struct snap *s = o->snaps[i];
            table_del(o, s);
            snap_free(s);
        }
    for (size_t i = 0; i < o->n; i++)
        if (o->snaps[i]->parent)
            o->snaps[i]->parent->nchildren++;
}

/* l/<id> -> ../snapshots/<id>/fs for every snapshot, and nothing else in l/. */
static int fix_links(struct ovl *o, struct cleat_error **reterr) {
    for (size_t i = 0; i < o->n; i++) {
        char link[64], want[64], have[64];
        snprintf(link, sizeof(link), "l/%" PRIu64, o->snaps[i]->id);
        snprintf(want, sizeof(want), "../snapshots/%" PRIu64 "/fs", o->snaps[i]->id);
        ssize_t n = readlinkat(o->rootfd, link, have, sizeof(have) - 1);
        if (n >= 0 && (size_t)n == strlen(want) && memcmp(have, want, (size_t)n) == 0)
            continue;
        (void)unlinkat(o->rootfd, link, 0);
        if (symlinkat(want, o->rootfd, link) < 0)
            return cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, errno, "cannot create %s/%s: %s", o->root,
                                   link, strerror(errno));
    }
    _cleanup_strv_ char **names = NULL;
    int r = plugin_list_dir(o->rootfd, "l", &names);
    if (r < 0)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot read %s/l: %s", o->root,
                               strerror(-r));
    for (size_t i = 0; names[i]; i++) {
        uint64_t id;
        char link[512];
        snprintf(link, sizeof(link), "l/%s", names[i]);
        note_id(o, names[i]);
        if (parse_id(names[i], &id) < 0 || !table_find_id(o, id))
            (void)unlinkat(o->rootfd, link, 0);
    }
    return 0;
}

int scan_rebuild(struct ovl *o, struct cleat_error **reterr) {
    static const char *const dirs[] = {"snapshots", "l", "tmp", "trash"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        if (mkdirat(o->rootfd, dirs[i], 0700) < 0 && errno != EEXIST)
            return cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, errno, "cannot create %s/%s: %s", o->root,
                                   dirs[i], strerror(errno));
    o->next_id = 1;
    clear_dir(o, "tmp");
    clear_dir(o, "trash");
    _cleanup_strv_ char **names = NULL;
    int r = plugin_list_dir(o->rootfd, "snapshots", &names);
    if (r < 0)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot read %s/snapshots: %s", o->root,
                               strerror(-r));
    for (size_t i = 0; names[i]; i++) {
        note_id(o, names[i]);
        if ((r = load_one(o, names[i])) < 0)
            return cleat_error_set(o->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, -r, "out of memory");
    }
    resolve(o);
    cleat_log(o->host, CLEAT_LOG_INFO, "%zu snapshots in %s", o->n, o->root);
    return fix_links(o, reterr);
}

int scan_delete_trash(struct ovl *o, const char *name) {
    char path[512];
    pthread_mutex_lock(&o->lock);
    int claimed = table_claim_trash(o, name);
    pthread_mutex_unlock(&o->lock);
    if (claimed <= 0)
        return claimed; /* someone else is on it */
    snprintf(path, sizeof(path), "trash/%s", name);
    int r = remove_logged(o, path);
    pthread_mutex_lock(&o->lock);
    table_release_trash(o, name);
    pthread_mutex_unlock(&o->lock);
    return r;
}

/* Is `name` (an entry of tmp/ or snapshots/) a snapshot of the table?  Lock held. */
static int is_known(const struct ovl *o, const char *name) {
    uint64_t id;
    return parse_id(name, &id) == 0 && table_find_id(o, id);
}

/* Move what is not a snapshot from `dir` to trash/<prefix><name>.  Lock held. */
static void move_orphans(struct ovl *o, const char *dir, const char *prefix) {
    _cleanup_strv_ char **names = NULL;
    if (plugin_list_dir(o->rootfd, dir, &names) < 0)
        return;
    for (size_t i = 0; names[i]; i++) {
        char from[512], to[512];
        if (is_known(o, names[i]))
            continue;
        snprintf(from, sizeof(from), "%s/%s", dir, names[i]);
        snprintf(to, sizeof(to), "trash/%s%s", prefix, names[i]);
        cleat_log(o->host, CLEAT_LOG_NOTICE, "removing orphaned %s/%s", o->root, from);
        if (renameat(o->rootfd, from, o->rootfd, to) < 0)
            cleat_log(o->host, CLEAT_LOG_WARNING, "cannot move %s/%s to %s/%s: %s", o->root, from, o->root, to,
                      strerror(errno));
    }
}

/* Links in l/ that no snapshot owns.  Lock held. */
static void unlink_stray_links(struct ovl *o) {
    _cleanup_strv_ char **names = NULL;
    if (plugin_list_dir(o->rootfd, "l", &names) < 0)
        return;
    for (size_t i = 0; names[i]; i++) {
        char link[512];
        snprintf(link, sizeof(link), "l/%s", names[i]);
        if (!is_known(o, names[i]))
            (void)unlinkat(o->rootfd, link, 0);
    }
}

int scan_cleanup(struct ovl *o, struct cleat_error **reterr) {
    /* Only renames and unlinks under the lock; the deleting happens after. */
    pthread_mutex_lock(&o->lock);
    unlink_stray_links(o);
    move_orphans(o, "tmp", "t-");
    move_orphans(o, "snapshots", "o-");
    pthread_mutex_unlock(&o->lock);

    _cleanup_strv_ char **names = NULL;
    int r = plugin_list_dir(o->rootfd, "trash", &names);
    if (r < 0)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot read %s/trash: %s", o->root,
                               strerror(-r));
    int failed = 0;
    for (size_t i = 0; names[i]; i++)
        if (scan_delete_trash(o, names[i]) < 0)
            failed++;
    if (failed)
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_INTERNAL, EIO,
                               "%d entries of %s/trash could not be removed (the log says why)", failed, o->root);
    return 0;
}
