/* SPDX-License-Identifier: Apache-2.0 */
/* Whiteouts that delete and opaque directories that empty (unpack_apply.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unpack_apply.h"

struct layer_paths {
    void *root; /* tsearch tree of malloc'd strings */
};

static int cmp_path(const void *a, const void *b) {
    return strcmp(a, b);
}

struct layer_paths *layer_paths_new(void) {
    return calloc(1, sizeof(struct layer_paths));
}

void layer_paths_free(struct layer_paths *lp) {
    if (!lp)
        return;
    tdestroy(lp->root, free);
    free(lp);
}

/* 1 when added, 0 when it was there, -ENOMEM. */
static int add_one(struct layer_paths *lp, const char *path) {
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    void *node = tsearch(copy, &lp->root, cmp_path);
    if (!node) {
        free(copy);
        return -ENOMEM;
    }
    if (*(char **)node != copy) {
        free(copy);
        return 0;
    }
    return 1;
}

int layer_paths_add(struct layer_paths *lp, const char *path) {
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    /* Upwards, until an ancestor is known: then all above it are too. */
    while (buf[0]) {
        int r = add_one(lp, buf);
        if (r <= 0)
            return r;
        char *slash = strrchr(buf, '/');
        if (!slash)
            break;
        *slash = '\0';
    }
    return 0;
}

int layer_paths_has(const struct layer_paths *lp, const char *path) {
    return tfind(path, (void *const *)&lp->root, cmp_path) != NULL;
}

static int remove_tree(int pfd, const char *name, int depth) {
    if (unlinkat(pfd, name, AT_REMOVEDIR) == 0)
        return 0;
    if (errno != ENOTEMPTY && errno != EEXIST)
        return -errno;
    if (depth > PATH_MAX / 2)
        return -ELOOP;
    int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return -e;
    }
    int r = 0;
    struct dirent *de;
    while (r == 0 && (errno = 0, de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (unlinkat(fd, de->d_name, 0) == 0)
            continue;
        r = errno == EISDIR ? remove_tree(fd, de->d_name, depth + 1) : -errno;
    }
    if (r == 0 && errno)
        r = -errno;
    closedir(d);
    if (r == 0 && unlinkat(pfd, name, AT_REMOVEDIR) < 0)
        r = -errno;
    return r;
}

int unpack_remove_tree(int pfd, const char *name) {
    return remove_tree(pfd, name, 0);
}

/* The entry `name` of fd at path[0..len): kept (and emptied, for a directory) when lp holds it, else removed. */
static int empty_entry(const struct layer_paths *lp, int fd, const char *name, char *path, size_t len, char *where,
                       size_t wsize);

/* Empty the directory dirfd, whose path is path[0..len), of what lp does not hold. */
static int empty_dir(const struct layer_paths *lp, int dirfd, char *path, size_t len, char *where, size_t wsize) {
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(where, wsize, "%.*s", (int)len, path);
        return -errno;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        snprintf(where, wsize, "%.*s", (int)len, path);
        return -e;
    }
    int r = 0;
    struct dirent *de;
    while (r == 0 && (errno = 0, de = readdir(d))) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            r = empty_entry(lp, fd, de->d_name, path, len, where, wsize);
    }
    if (r == 0 && errno) {
        r = -errno;
        snprintf(where, wsize, "%.*s", (int)len, path);
    }
    closedir(d);
    return r;
}

static int empty_entry(const struct layer_paths *lp, int fd, const char *name, char *path, size_t len, char *where,
                       size_t wsize) {
    size_t n = strlen(name), sub = len + (len > 0) + n;
    int kept = 0, r = 0;
    /* A path too long to be noted cannot be the layer's. */
    if (sub < PATH_MAX) {
        if (len > 0)
            path[len] = '/';
        memcpy(path + len + (len > 0), name, n + 1);
        kept = layer_paths_has(lp, path);
    }
    struct stat st;
    if (kept && fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        int sfd = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        r = sfd < 0 ? -errno : empty_dir(lp, sfd, path, sub, where, wsize);
        if (sfd >= 0)
            close(sfd);
    } else if (!kept && unlinkat(fd, name, 0) < 0) {
        r = errno == EISDIR ? remove_tree(fd, name, 0) : -errno;
        if (r == -ENOENT)
            r = 0;
    }
    if (r < 0 && !where[0])
        snprintf(where, wsize, "%.*s", (int)(sub < PATH_MAX ? sub : len), path);
    path[len] = '\0';
    return r;
}

int unpack_empty_dir(const struct layer_paths *lp, int dirfd, const char *dir, char *where, size_t wsize) {
    char path[PATH_MAX];
    size_t len = strlen(dir);
    if (len >= sizeof(path))
        return -ENAMETOOLONG;
    memcpy(path, dir, len + 1);
    where[0] = '\0';
    return empty_dir(lp, dirfd, path, len, where, wsize);
}
