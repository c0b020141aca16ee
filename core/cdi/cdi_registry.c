/* SPDX-License-Identifier: Apache-2.0 */
/* The CDI spec directories, their files cached by inode and times, and device resolution; see cdi_registry.h. */
#include "cdi_registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdi_name.h"
#include "cdi_spec_file.h"
#include "cleanup.h"
#include "error.h"
#include "strbuf.h"

/* Files read from one directory at most (a node has a handful). */
#define MAX_FILES_PER_DIR 1024

struct cdi_registry {
    pthread_mutex_t mu;
    char **dirs; /* NULL-terminated */
    struct cdi_spec_file *files;
    size_t n_files;
};

static void strv_free(char **v) {
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void files_free(struct cdi_spec_file *files, size_t n) {
    for (size_t i = 0; i < n; i++)
        cdi_spec_file_clear(&files[i]);
    free(files);
}

/* A copy of `dirs` with each directory only at its last place; INVALID_ARGUMENT for a relative one. */
static int dirs_copy(const char *const *dirs, char ***ret, struct cleat_error **reterr) {
    size_t n = 0;
    while (dirs && dirs[n])
        n++;
    char **out = calloc(n + 1, sizeof(*out));
    if (!out)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    for (size_t i = 0, k = 0; i < n; i++) {
        if (dirs[i][0] != '/') {
            strv_free(out);
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                             "CDI spec directory \"%s\" is not an absolute path", dirs[i]);
        }
        size_t j = i + 1;
        while (j < n && strcmp(dirs[j], dirs[i]) != 0)
            j++;
        if (j < n)
            continue; /* listed again later: it counts there */
        if (!(out[k++] = strdup(dirs[i]))) {
            strv_free(out);
            return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        }
    }
    *ret = out;
    return 0;
}

int cdi_registry_new(const char *const *dirs, struct cdi_registry **ret, struct cleat_error **reterr) {
    struct cdi_registry *reg = calloc(1, sizeof(*reg));
    if (!reg)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    int r = dirs_copy(dirs, &reg->dirs, reterr);
    if (r < 0) {
        free(reg);
        return r;
    }
    pthread_mutex_init(&reg->mu, NULL);
    *ret = reg;
    return 0;
}

int cdi_registry_set_dirs(struct cdi_registry *reg, const char *const *dirs, struct cleat_error **reterr) {
    char **copy = NULL;
    int r = dirs_copy(dirs, &copy, reterr);
    if (r < 0)
        return r;
    pthread_mutex_lock(&reg->mu);
    strv_free(reg->dirs);
    reg->dirs = copy;
    files_free(reg->files, reg->n_files);
    reg->files = NULL;
    reg->n_files = 0;
    pthread_mutex_unlock(&reg->mu);
    return 0;
}

void cdi_registry_free(struct cdi_registry *reg) {
    if (!reg)
        return;
    strv_free(reg->dirs);
    files_free(reg->files, reg->n_files);
    pthread_mutex_destroy(&reg->mu);
    free(reg);
}

static int spec_name(const char *name) {
    size_t n = strlen(name);
    if (name[0] == '.')
        return 0;
    return (n > 5 && strcmp(name + n - 5, ".json") == 0) || (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The spec file names in the directory open at dfd, sorted (so that a scan is the same every time). */
static char **list_dir(int dfd, size_t *ret_n) {
    int fd = dup(dfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char **names = calloc(MAX_FILES_PER_DIR + 1, sizeof(*names));
    size_t n = 0;
    struct dirent *e;
    while (names && n < MAX_FILES_PER_DIR && (e = readdir(d)))
        if (spec_name(e->d_name) && !(names[n++] = strdup(e->d_name))) {
            strv_free(names);
            names = NULL;
        }
    closedir(d);
    if (names)
        qsort(names, n, sizeof(*names), cmp_names);
    *ret_n = n;
    return names;
}

static int same_stat(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Move the cached entry for this path and stats out of `old` (its slot emptied) into *ret: 1, or 0 if none. */
static int take_cached(struct cdi_spec_file *old, size_t n_old, const char *path, size_t dir, const struct stat *st,
                       const struct stat *lst, struct cdi_spec_file *ret) {
    for (size_t i = 0; i < n_old; i++) {
        const struct cdi_spec_file *f = &old[i];
        if (!f->path || strcmp(f->path, path) != 0 || f->dir != dir)
            continue;
        if (!same_stat(&f->st, st) || !same_stat(&f->lst, lst))
            return 0;
        *ret = old[i];
        memset(&old[i], 0, sizeof(old[i]));
        return 1;
    }
    return 0;
}

/* One directory's files appended to *files (*n of them), reusing what the cache has. */
static int scan_dir(struct cdi_registry *reg, size_t di, struct cdi_spec_file **files, size_t *n) {
    const char *dir = reg->dirs[di];
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return 0; /* absent (the common case), or unreadable: the unknown device's message lists the dirs */
    size_t count = 0;
    char **names = list_dir(dfd, &count);
    if (!names)
        return -ENOMEM;
    struct cdi_spec_file *grown = realloc(*files, (*n + count + 1) * sizeof(**files));
    if (!grown) {
        strv_free(names);
        return -ENOMEM;
    }
    *files = grown;
    int r = 0;
    for (size_t i = 0; r >= 0 && i < count; i++) {
        struct stat st, lst;
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        /* Only to notice a change: the file is opened without leaving the directory (cdi_spec_file_load). */
        if (fstatat(dfd, names[i], &st, 0) < 0)
            memset(&st, 0, sizeof(st));
        if (fstatat(dfd, names[i], &lst, AT_SYMLINK_NOFOLLOW) < 0)
            memset(&lst, 0, sizeof(lst));
        struct cdi_spec_file *f = &(*files)[(*n)++];
        memset(f, 0, sizeof(*f));
        if (!take_cached(reg->files, reg->n_files, path, di, &st, &lst, f))
            r = cdi_spec_file_load(dfd, dir, di, names[i], &st, &lst, f);
    }
    strv_free(names);
    return r;
}

/* Read the directories again; unchanged files come from the cache. */
static int refresh(struct cdi_registry *reg, struct cleat_error **reterr) {
    struct cdi_spec_file *files = NULL;
    size_t n = 0;
    int r = 0;
    for (size_t i = 0; r >= 0 && reg->dirs[i]; i++)
        r = scan_dir(reg, i, &files, &n);
    if (r < 0) {
        files_free(files, n);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "CDI specs: out of memory");
    }
    files_free(reg->files, reg->n_files);
    reg->files = files;
    reg->n_files = n;
    return 0;
}

static int unknown(const struct cdi_registry *reg, const char *name, struct cleat_error **reterr) {
    struct strbuf b = {0};
    for (size_t i = 0; reg->dirs[i]; i++)
        strbuf_printf(&b, "%s%s", i ? ", " : "", reg->dirs[i]);
    size_t shown = 0;
    for (size_t i = 0; i < reg->n_files; i++)
        if (reg->files[i].error && shown++ < 3)
            strbuf_printf(&b, "%s%s (%s)", shown == 1 ? "; spec files that cannot be used: " : "; ", reg->files[i].path,
                          reg->files[i].error);
    char *s = strbuf_steal(&b);
    int r = error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, ENOENT,
                      "CDI device \"%s\" is unknown: no spec in %s defines it", name, s && *s ? s : "(no directory)");
    free(s);
    return r;
}

/* The file whose definition of `name` counts; errors name the device. */
static int lookup(const struct cdi_registry *reg, const char *name, const struct cdi_spec_file **ret,
                  struct cleat_error **reterr) {
    char why[256];
    size_t klen;
    if (cdi_name_check(name, &klen, why, sizeof(why)) < 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "CDI device \"%s\": %s", name, why);
    const struct cdi_spec_file *best = NULL, *tie = NULL;
    for (size_t i = 0; i < reg->n_files; i++) {
        const struct cdi_spec_file *f = &reg->files[i];
        if (!cdi_spec_file_defines(f, name, klen, name + klen + 1))
            continue;
        if (best && f->dir == best->dir) {
            tie = f;
        } else {
            best = f;
            tie = NULL;
        }
    }
    if (!best)
        return unknown(reg, name, reterr);
    if (tie)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EEXIST,
                         "CDI device \"%s\" is defined by both %s and %s, in one directory: neither is used", name,
                         best->path, tie->path);
    if (!best->spec)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "CDI device \"%s\": its spec file %s cannot be used: %s", name, best->path, best->error);
    *ret = best;
    return 0;
}

static int resolve_locked(struct cdi_registry *reg, const char *const *names, size_t n, struct cdi_edits *e,
                          struct cleat_error **reterr) {
    int r = refresh(reg, reterr);
    const struct cdi_spec **applied = r >= 0 ? calloc(n, sizeof(*applied)) : NULL;
    if (r >= 0 && !applied)
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    size_t n_applied = 0;
    for (size_t i = 0; r >= 0 && i < n; i++) {
        size_t j = 0;
        while (j < i && strcmp(names[j], names[i]) != 0)
            j++;
        if (j < i)
            continue; /* asked for twice */
        const struct cdi_spec_file *f = NULL;
        r = lookup(reg, names[i], &f, reterr);
        if (r < 0)
            break;
        size_t k = 0;
        while (k < n_applied && applied[k] != f->spec)
            k++;
        if (k == n_applied) {
            applied[n_applied++] = f->spec;
            r = cdi_edits_append(e, &f->spec->edits, names[i], reterr);
        }
        if (r >= 0)
            r = cdi_edits_append(e, &cdi_spec_device(f->spec, strchr(names[i], '=') + 1)->edits, names[i], reterr);
    }
    free(applied);
    return r;
}

int cdi_registry_resolve(struct cdi_registry *reg, const char *const *names, size_t n, struct cdi_edits **ret,
                         struct cleat_error **reterr) {
    struct cdi_edits *e = calloc(1, sizeof(*e));
    if (!e)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    int r = 0;
    if (n > 0) {
        pthread_mutex_lock(&reg->mu);
        r = resolve_locked(reg, names, n, e, reterr);
        pthread_mutex_unlock(&reg->mu);
    }
    if (r < 0) {
        cdi_edits_free(e);
        return r;
    }
    *ret = e;
    return 0;
}
