/* SPDX-License-Identifier: Apache-2.0 */
/* A numbered-directory snapshotter's table and meta files (plugin_snaps.h says why). */
#include "plugin_snaps.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin_clock.h"
#include "plugin_fs.h"
#include "plugin_strv.h"

/* --- records ----------------------------------------------------------------- */

struct plugin_snap *plugin_snap_new(const struct plugin_snaps *t, uint32_t kind, const char *key, const char *parent,
                                    const char *const *labels) {
    struct plugin_snap *s = calloc(1, sizeof(*s));
    if (!s || !(s->key = strdup(key)) || (parent && !(s->parent = strdup(parent))) ||
        !(s->labels = plugin_strv_dup(labels ? labels : (const char *const[]){NULL}))) {
        plugin_snap_free(s);
        return NULL;
    }
    s->id = t->next_id ? t->next_id : 1;
    s->kind = kind;
    s->created = s->updated = plugin_realtime_ns();
    return s;
}

void plugin_snap_free(struct plugin_snap *s) {
    if (!s)
        return;
    free(s->key);
    free(s->parent);
    plugin_strv_free(s->labels);
    free(s);
}

/* --- the table ------------------------------------------------------------------ */

struct plugin_snap *plugin_snaps_find(const struct plugin_snaps *t, const char *key) {
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i]->key, key) == 0)
            return t->v[i];
    return NULL;
}

const struct plugin_snap *plugin_snaps_child(const struct plugin_snaps *t, const char *key) {
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i]->parent && strcmp(t->v[i]->parent, key) == 0)
            return t->v[i];
    return NULL;
}

static void see_id(struct plugin_snaps *t, uint64_t id) {
    if (id >= t->next_id)
        t->next_id = id + 1;
}

int plugin_snaps_add(struct plugin_snaps *t, struct plugin_snap *s) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct plugin_snap **v = realloc(t->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = s;
    see_id(t, s->id);
    return 0;
}

void plugin_snaps_del(struct plugin_snaps *t, struct plugin_snap *s) {
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i] == s) {
            t->v[i] = t->v[--t->n];
            return;
        }
}

void plugin_snaps_clear(struct plugin_snaps *t) {
    for (size_t i = 0; i < t->n; i++)
        plugin_snap_free(t->v[i]);
    free(t->v);
    t->v = NULL;
    t->n = t->cap = 0;
}

/* --- meta files ------------------------------------------------------------------- */

static int meta_text(const struct plugin_snap *s, char **ret) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -ENOMEM;
    fprintf(f, "key\t%s\nparent\t%s\nkind\t%u\ncreated\t%lld\nupdated\t%lld\nused_bytes\t%lld\nused_inodes\t%lld\n",
            s->key, s->parent ? s->parent : "", s->kind, (long long)s->created, (long long)s->updated,
            (long long)s->used_bytes, (long long)s->used_inodes);
    for (size_t i = 0; s->labels[i] && s->labels[i + 1]; i += 2)
        fprintf(f, "label\t%s\t%s\n", s->labels[i], s->labels[i + 1]);
    if (fclose(f) != 0)
        return -ENOMEM;
    *ret = buf;
    return 0;
}

int plugin_snaps_store(int rootfd, const char *dir, const struct plugin_snap *s) {
    char *text = NULL, path[256], tmp[256];
    int r = meta_text(s, &text);
    if (r < 0)
        return r;
    snprintf(path, sizeof(path), "%s/meta", dir);
    snprintf(tmp, sizeof(tmp), "%s/meta.tmp", dir);
    r = plugin_write_atomic(rootfd, tmp, path, text, strlen(text));
    free(text);
    return r < 0 ? r : plugin_fsync_dir(rootfd, dir);
}

static int64_t *number_field(struct plugin_snap *s, const char *name) {
    static const char *const names[] = {"created", "updated", "used_bytes", "used_inodes"};
    int64_t *fields[] = {&s->created, &s->updated, &s->used_bytes, &s->used_inodes};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return fields[i];
    return NULL;
}

static int meta_field(struct plugin_snap *s, char *line, size_t *nlabels) {
    char *tab = strchr(line, '\t');
    if (!tab)
        return -EINVAL;
    *tab++ = '\0';
    int64_t *number = number_field(s, line);
    if (number) {
        *number = strtoll(tab, NULL, 10);
        return 0;
    }
    if (strcmp(line, "key") == 0 || strcmp(line, "parent") == 0) {
        char **field = line[0] == 'k' ? &s->key : &s->parent;
        if (*field)
            return -EINVAL; /* said twice */
        return !*tab || (*field = strdup(tab)) ? 0 : -ENOMEM;
    }
    if (strcmp(line, "kind") == 0)
        return (s->kind = (uint32_t)strtoul(tab, NULL, 10)) >= CLEAT_SNAPSHOT_VIEW &&
                       s->kind <= CLEAT_SNAPSHOT_COMMITTED
                   ? 0
                   : -EINVAL;
    if (strcmp(line, "label") != 0)
        return 0; /* a field a later version added */
    char *v = strchr(tab, '\t');
    char **labels = v ? realloc(s->labels, (*nlabels + 3) * sizeof(char *)) : NULL;
    if (!labels)
        return v ? -ENOMEM : -EINVAL;
    s->labels = labels;
    *v++ = '\0';
    char *k = strdup(tab), *val = strdup(v);
    if (!k || !val) {
        free(k);
        free(val);
        s->labels[*nlabels] = NULL;
        return -ENOMEM;
    }
    s->labels[*nlabels] = k;
    s->labels[*nlabels + 1] = val;
    s->labels[*nlabels + 2] = NULL;
    *nlabels += 2;
    return 0;
}

static int meta_load(int rootfd, uint64_t id, struct plugin_snap **ret) {
    char path[96], *text = NULL;
    snprintf(path, sizeof(path), "/proc/self/fd/%d/snapshots/%llu/meta", rootfd, (unsigned long long)id);
    int r = plugin_read_file(path, 1 << 20, &text, NULL);
    if (r < 0)
        return r;
    struct plugin_snap *s = calloc(1, sizeof(*s));
    if (!s || !(s->labels = calloc(1, sizeof(char *)))) {
        free(s);
        free(text);
        return -ENOMEM;
    }
    s->id = id;
    size_t nlabels = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && r == 0; line = strtok_r(NULL, "\n", &save))
        r = meta_field(s, line, &nlabels);
    free(text);
    if (r == 0 && (!s->key || !s->kind))
        r = -EINVAL;
    if (r < 0) {
        plugin_snap_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

uint64_t plugin_snaps_id(const char *name, uint64_t max) {
    uint64_t id = 0;
    if (name[0] < '1' || name[0] > '9')
        return 0; /* no sign, space or leading zero: one spelling per id */
    for (const char *c = name; *c; c++) {
        if (*c < '0' || *c > '9' || id > (max - (uint64_t)(*c - '0')) / 10)
            return 0;
        id = id * 10 + (uint64_t)(*c - '0');
    }
    return id;
}

int plugin_snaps_load(struct plugin_snaps *t, int rootfd) {
    static const char *const leftovers[] = {"tmp", "trash"};
    char **names = NULL;
    int r = plugin_list_dir(rootfd, "snapshots", &names);
    for (size_t i = 0; r == 0 && names[i]; i++) {
        struct plugin_snap *s = NULL;
        uint64_t id = plugin_snaps_id(names[i], PLUGIN_SNAPS_MAX_ID);
        if (id && (r = meta_load(rootfd, id, &s)) == 0 && (r = plugin_snaps_add(t, s)) < 0)
            plugin_snap_free(s);
    }
    plugin_strv_free(names);
    for (size_t d = 0; d < 2 && r == 0; d++) {
        names = NULL;
        r = plugin_list_dir(rootfd, leftovers[d], &names);
        for (size_t i = 0; r == 0 && names[i]; i++)
            see_id(t, plugin_snaps_id(names[i], PLUGIN_SNAPS_MAX_ID));
        plugin_strv_free(names);
    }
    return r;
}

/* --- checks ----------------------------------------------------------------------- */

static int check_text(const struct cleat_host *host, const char *what, const char *s, struct cleat_error **reterr) {
    if (!s || !*s || strpbrk(s, "\t\n"))
        return cleat_error_set(host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "%s '%s' is empty or holds a tab or a newline", what, s ? s : "(null)");
    return 0;
}

int plugin_snaps_check(const struct cleat_host *host, const char *what, const char *text, const char *const *labels,
                       struct cleat_error **reterr) {
    int r = check_text(host, what, text, reterr);
    for (size_t i = 0; labels && labels[i] && r == 0; i++)
        r = check_text(host, "label", labels[i], reterr);
    return r;
}

int plugin_snaps_not_found(const struct cleat_host *host, const char *key, struct cleat_error **reterr) {
    return cleat_error_set(host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "snapshot '%s' not found", key);
}

int plugin_snaps_check_new(const struct cleat_host *host, const struct plugin_snaps *t, const char *key,
                           const char *parent, const struct plugin_snap **ret_parent, struct cleat_error **reterr) {
    if (plugin_snaps_find(t, key))
        return cleat_error_set(host, reterr, CLEAT_STATUS_ALREADY_EXISTS, EEXIST, "snapshot '%s' exists", key);
    const struct plugin_snap *p = parent ? plugin_snaps_find(t, parent) : NULL;
    if (parent && !p)
        return cleat_error_set(host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "parent snapshot '%s' not found", parent);
    if (p && p->kind != CLEAT_SNAPSHOT_COMMITTED)
        return cleat_error_set(host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                               "parent snapshot '%s' is not committed", parent);
    *ret_parent = p;
    return 0;
}

int plugin_snaps_check_commit(const struct cleat_host *host, const struct plugin_snaps *t, const char *name,
                              const char *key, const char *const *labels, struct plugin_snap **ret,
                              struct cleat_error **reterr) {
    int r = plugin_snaps_check(host, "snapshot name", name, labels, reterr);
    if (r < 0)
        return r;
    struct plugin_snap *s = plugin_snaps_find(t, key);
    if (!s)
        return plugin_snaps_not_found(host, key, reterr);
    if (s->kind != CLEAT_SNAPSHOT_ACTIVE)
        return cleat_error_set(host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL, "snapshot '%s' is not active",
                               key);
    if (plugin_snaps_find(t, name))
        return cleat_error_set(host, reterr, CLEAT_STATUS_ALREADY_EXISTS, EEXIST, "snapshot '%s' exists", name);
    *ret = s;
    return 0;
}

int plugin_snaps_check_remove(const struct cleat_host *host, const struct plugin_snaps *t, const char *key,
                              struct plugin_snap **ret, struct cleat_error **reterr) {
    struct plugin_snap *s = plugin_snaps_find(t, key);
    if (!s)
        return plugin_snaps_not_found(host, key, reterr);
    const struct plugin_snap *child = plugin_snaps_child(t, key);
    if (child)
        return cleat_error_set(host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EBUSY,
                               "snapshot '%s' is the parent of '%s'", key, child->key);
    *ret = s;
    return 0;
}

/* --- commit and reports ------------------------------------------------------------ */

int plugin_snaps_commit(int rootfd, const char *dir, struct plugin_snap *s, const char *name, const char *const *labels,
                        int64_t used_bytes, int64_t used_inodes) {
    struct plugin_snap c = *s;
    char *new_key = strdup(name), **new_labels = labels ? plugin_strv_dup(labels) : NULL;
    if (!new_key || (labels && !new_labels)) {
        free(new_key);
        plugin_strv_free(new_labels);
        return -ENOMEM;
    }
    c.key = new_key;
    c.kind = CLEAT_SNAPSHOT_COMMITTED;
    c.labels = new_labels ? new_labels : s->labels;
    c.updated = plugin_realtime_ns();
    c.used_bytes = used_bytes;
    c.used_inodes = used_inodes;
    int r = plugin_snaps_store(rootfd, dir, &c);
    if (r < 0) {
        free(new_key);
        plugin_strv_free(new_labels);
        return r;
    }
    free(s->key);
    if (new_labels)
        plugin_strv_free(s->labels);
    *s = c;
    return 0;
}

static int unlink_in(int rootfd, const char *dir, const char *name) {
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return unlinkat(rootfd, path, 0) < 0 && errno != ENOENT ? -errno : 0;
}

int plugin_snaps_remove_dir(int rootfd, const char *dir, const char *const *files) {
    int r = 0;
    /* The plugin's files first, the record last. */
    for (size_t i = 0; r == 0 && files && files[i]; i++)
        r = unlink_in(rootfd, dir, files[i]);
    if (r == 0)
        r = unlink_in(rootfd, dir, "meta");
    if (r == 0)
        r = unlink_in(rootfd, dir, "meta.tmp");
    if (r == 0 && unlinkat(rootfd, dir, AT_REMOVEDIR) < 0 && errno != ENOENT)
        r = -errno;
    return r;
}

int plugin_snap_report(const struct plugin_snap *s, cleat_snapshot_fn fn, void *ctx) {
    struct cleat_snapshot_info info = {.struct_size = sizeof(info),
                                       .key = s->key,
                                       .parent = s->parent,
                                       .kind = s->kind,
                                       .created_ns = s->created,
                                       .updated_ns = s->updated,
                                       .labels = (const char *const *)s->labels};
    return fn(ctx, &info);
}

int plugin_snaps_stat(const struct cleat_host *host, const struct plugin_snaps *t, const char *key,
                      cleat_snapshot_fn fn, void *ctx, struct cleat_error **reterr) {
    const struct plugin_snap *s = plugin_snaps_find(t, key);
    if (!s)
        return plugin_snaps_not_found(host, key, reterr);
    plugin_snap_report(s, fn, ctx);
    return 0;
}

void plugin_snaps_walk(const struct plugin_snaps *t, cleat_snapshot_fn fn, void *ctx) {
    for (size_t i = 0; i < t->n && plugin_snap_report(t->v[i], fn, ctx) == 0; i++) {
    }
}

/* --- the root ------------------------------------------------------------------------ */

int plugin_snaps_open_root(const struct cleat_host *host, char *root, size_t size, int *ret_rootfd, int *ret_lockfd,
                           struct cleat_error **reterr) {
    static const char *const subs[] = {"snapshots", "tmp", "trash"};
    char real[PATH_MAX];
    *ret_rootfd = *ret_lockfd = -1;
    int r = realpath(host->root_dir(host), real) ? 0 : -errno;
    if (r == 0 && strlen(real) >= size)
        r = -ENAMETOOLONG;
    if (r < 0)
        return cleat_error_set(host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot resolve %s: %s", host->root_dir(host),
                               strerror(-r));
    memcpy(root, real, strlen(real) + 1);
    if ((*ret_rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return cleat_error_set(host, reterr, CLEAT_STATUS_INTERNAL, errno, "cannot open %s: %s", root, strerror(errno));
    for (size_t i = 0; i < 3; i++)
        if (mkdirat(*ret_rootfd, subs[i], 0700) < 0 && errno != EEXIST)
            return cleat_error_set(host, reterr, CLEAT_STATUS_INTERNAL, errno, "cannot create %s/%s: %s", root, subs[i],
                                   strerror(errno));
    *ret_lockfd = openat(*ret_rootfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (*ret_lockfd < 0 || flock(*ret_lockfd, LOCK_EX | LOCK_NB) < 0)
        return cleat_error_set(host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, errno, "%s is in use: %s", root,
                               strerror(errno));
    return 0;
}
