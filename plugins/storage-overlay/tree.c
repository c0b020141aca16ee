/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage-overlay: walking layer trees, to remove them (rm -rf) and to
 * measure them (du).
 *
 * A layer is whatever an image or a container put there, so the walk trusts
 * nothing in it: every step is openat/fstatat/unlinkat relative to a
 * directory fd with O_NOFOLLOW, symlinks are never followed, and directories
 * on another device (mounts) are never entered.  The walk is iterative and
 * keeps the names still to visit on the heap.  A removal keeps one directory
 * fd open, whatever the depth, and climbs back through ".." (checking the
 * device and inode it expects), so a container that nests a million
 * directories cannot make its layer unremovable by exhausting fds.  A
 * measurement keeps every ancestor open instead, so that it survives a
 * running container renaming directories under it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "overlay.h"

struct frame {
    int fd; /* the directory; -1 while a removal is below it */
    dev_t dev;
    ino_t ino;
    char *name; /* its name in the parent (the whole path for the top) */
    char **subdirs;
    size_t n, next;
};

struct walker {
    /* Every entry, the top included, with its parent's fd and lstat. */
    int (*entry)(void *ctx, int dirfd, const char *name, const struct stat *st);
    /* After a directory's contents, with its parent's fd. */
    int (*leave)(void *ctx, int parentfd, const char *name);
    void *ctx;
    int removing;
    struct frame *frames;
    size_t depth, cap;
    char *where;
    size_t wsize;
};

/* Best effort: chattr -i -a, which would make unlink and rmdir fail with EPERM. */
static void clear_flags(int fd) {
    int flags;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0 || !(flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)))
        return;
    flags &= ~(FS_IMMUTABLE_FL | FS_APPEND_FL);
    (void)ioctl(fd, FS_IOC_SETFLAGS, &flags);
}

/* Give ourselves rwx on a directory we cannot open (mode 000 and we are not root), without following a symlink. */
static int chmod_unopenable(int dirfd, const char *name) {
    int pfd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (pfd < 0)
        return -errno;
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
    int r = chmod(proc, 0700) < 0 ? -errno : 0;
    close(pfd);
    return r;
}

static int open_dir(int dirfd, const char *name, int removing) {
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == EACCES && removing) {
        int r = chmod_unopenable(dirfd, name);
        if (r < 0)
            return r;
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0)
        return -errno;
    struct stat st;
    if (removing && fstat(fd, &st) == 0) {
        clear_flags(fd);
        if ((st.st_mode & 0700) != 0700 && fchmod(fd, (st.st_mode & 07777) | 0700) < 0) {
            int r = -errno;
            close(fd);
            return r;
        }
    }
    return fd;
}

/* Record "<dir>/<dir>/<name>" of the entry that failed. */
static void set_where(struct walker *w, const char *name) {
    size_t len = 0;
    w->where[0] = '\0';
    for (size_t i = 0; i <= w->depth && len < w->wsize; i++) {
        const char *part = i < w->depth ? w->frames[i].name : name;
        if (part)
            len += (size_t)snprintf(w->where + len, w->wsize - len, "%s%s", i ? "/" : "", part);
    }
}

static int push(struct walker *w, int fd, const char *name) {
    struct stat st;
    char *copy = NULL;
    int r = 0;
    if (w->depth == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        struct frame *grown = realloc(w->frames, cap * sizeof(*grown));
        if (!grown)
            r = -ENOMEM;
        else {
            w->frames = grown;
            w->cap = cap;
        }
    }
    if (r == 0 && fstat(fd, &st) < 0)
        r = -errno;
    if (r == 0 && !(copy = strdup(name)))
        r = -ENOMEM;
    if (r < 0) {
        close(fd);
        return r;
    }
    w->frames[w->depth++] = (struct frame){.fd = fd, .dev = st.st_dev, .ino = st.st_ino, .name = copy};
    return 0;
}

static void pop(struct walker *w) {
    struct frame *f = &w->frames[--w->depth];
    if (f->fd >= 0)
        close(f->fd);
    free(f->name);
    for (size_t i = 0; i < f->n; i++)
        free(f->subdirs[i]);
    free(f->subdirs);
}

static int add_subdir(struct frame *f, const char *name) {
    char **grown = realloc(f->subdirs, (f->n + 1) * sizeof(char *));
    if (!grown)
        return -ENOMEM;
    f->subdirs = grown;
    if (!(grown[f->n] = strdup(name)))
        return -ENOMEM;
    f->n++;
    return 0;
}

/* One entry of the directory on top; its subdirectories are queued, not entered. */
static int visit(struct walker *w, struct frame *f, const char *name) {
    struct stat st;
    if (fstatat(f->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno; /* gone already: a running container, or a concurrent removal */
    if (S_ISDIR(st.st_mode) && st.st_dev != f->dev)
        return w->removing ? -EBUSY : 0; /* a mount point: never empty someone's mounted filesystem */
    int r = w->entry(w->ctx, f->fd, name, &st);
    if (r == 0 && S_ISDIR(st.st_mode))
        r = add_subdir(f, name);
    return r;
}

static int scan_top(struct walker *w) {
    struct frame *f = &w->frames[w->depth - 1];
    int dfd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (!d) {
        int r = -errno;
        if (dfd >= 0)
            close(dfd);
        return r;
    }
    int r = 0;
    for (struct dirent *de; r == 0;) {
        errno = 0;
        if (!(de = readdir(d))) {
            r = -errno;
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if ((r = visit(w, f, de->d_name)) < 0)
            set_where(w, de->d_name);
    }
    closedir(d);
    return r;
}

/* The parent of the top frame as an open fd: kept, or found again through "..". */
static int parent_fd(struct walker *w) {
    struct frame *p = &w->frames[w->depth - 2], *f = &w->frames[w->depth - 1];
    if (p->fd >= 0)
        return p->fd;
    int fd = openat(f->fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || st.st_dev != p->dev || st.st_ino != p->ino) {
        close(fd);
        return -ESTALE; /* moved while we were below it: stop rather than delete elsewhere */
    }
    return p->fd = fd;
}

/* Step into the next queued subdirectory of the top frame; 0 when there was none left. */
static int descend(struct walker *w) {
    struct frame *f = &w->frames[w->depth - 1];
    while (f->next < f->n) {
        const char *child = f->subdirs[f->next++];
        int fd = open_dir(f->fd, child, w->removing);
        if (fd == -ENOENT)
            continue;
        if (fd < 0) {
            set_where(w, child);
            return fd;
        }
        int r = push(w, fd, child);
        if (r < 0)
            return r;
        f = &w->frames[w->depth - 2]; /* push may have moved the frames */
        if (w->removing) {
            close(f->fd);
            f->fd = -1;
        }
        return (r = scan_top(w)) < 0 ? r : 1;
    }
    return 0;
}

static int walk(struct walker *w, int dirfd, const char *path) {
    struct stat st;
    if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    int r = w->entry(w->ctx, dirfd, path, &st);
    if (r < 0 || !S_ISDIR(st.st_mode))
        return r;
    int fd = open_dir(dirfd, path, w->removing);
    if (fd < 0 || (r = push(w, fd, path)) < 0 || (r = scan_top(w)) < 0)
        return fd < 0 ? fd : r;
    while (w->depth > 0) {
        if ((r = descend(w)) < 0)
            return r;
        if (r > 0)
            continue;
        int pfd = w->depth == 1 ? dirfd : parent_fd(w);
        if (pfd < 0)
            return pfd;
        const struct frame *f = &w->frames[w->depth - 1];
        if (w->leave && (r = w->leave(w->ctx, pfd, f->name)) < 0) {
            w->depth--; /* name the directory itself, not a child of it */
            set_where(w, f->name);
            w->depth++;
            return r;
        }
        pop(w);
    }
    return 0;
}

static int run(struct walker *w, int dirfd, const char *path, char *where, size_t wsize) {
    char none[1];
    w->where = wsize ? where : none;
    w->wsize = wsize ? wsize : sizeof(none);
    w->where[0] = '\0';
    int r = walk(w, dirfd, path);
    if (r < 0 && !w->where[0])
        snprintf(w->where, w->wsize, "%s", path);
    while (w->depth > 0)
        pop(w);
    free(w->frames);
    return r;
}

/* --- rm -rf ---------------------------------------------------------------- */

/*
 * Open a regular file of a layer for its flags.  Reached with O_PATH and
 * checked before it is really opened (through /proc/self/fd): a container may
 * have swapped it for a device node since the lstat, and opening a device
 * runs its driver's open, as root, on the host.
 */
static int open_regular(int dirfd, const char *name) {
    int pfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (pfd < 0)
        return -errno;
    struct stat st;
    int fd = fstat(pfd, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -EINVAL;
    if (fd == 0) {
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
        fd = open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        fd = fd < 0 ? -errno : fd;
    }
    close(pfd);
    return fd;
}

static int rm_entry(void *ctx, int dirfd, const char *name, const struct stat *st) {
    if (S_ISDIR(st->st_mode) || unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EPERM || !S_ISREG(st->st_mode))
        return -errno;
    /* chattr +i or +a on the file itself (the directory's own flags were cleared on the way in) */
    int fd = open_regular(dirfd, name);
    if (fd >= 0) {
        clear_flags(fd);
        close(fd);
    }
    return unlinkat(dirfd, name, 0) == 0 || errno == ENOENT ? 0 : -errno;
}

static int rm_leave(void *ctx, int parentfd, const char *name) {
    return unlinkat(parentfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -errno;
}

int tree_remove(int dirfd, const char *path, char *where, size_t wsize) {
    struct walker w = {.entry = rm_entry, .leave = rm_leave, .removing = 1};
    struct stat st;
    if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
        return 0;
    return run(&w, dirfd, path, where, wsize);
}

/* --- du -------------------------------------------------------------------- */

struct du {
    struct cleat_usage usage;
    struct inode_key {
        uint64_t dev, ino;
    } * seen; /* open addressing; ino 0 marks a free slot */
    size_t n, cap;
};

/* 1 when (dev, ino) is new, 0 when seen before, <0 on error. */
static int seen_add(struct du *d, uint64_t dev, uint64_t ino) {
    if (2 * (d->n + 1) > d->cap) {
        struct du bigger = {.cap = d->cap ? d->cap * 2 : 256};
        if (!(bigger.seen = calloc(bigger.cap, sizeof(*bigger.seen))))
            return -ENOMEM;
        for (size_t i = 0; i < d->cap; i++)
            if (d->seen[i].ino)
                (void)seen_add(&bigger, d->seen[i].dev, d->seen[i].ino);
        free(d->seen);
        d->seen = bigger.seen;
        d->cap = bigger.cap;
    }
    size_t i = (size_t)((ino * 0x9e3779b97f4a7c15ull) ^ dev) & (d->cap - 1);
    for (; d->seen[i].ino; i = (i + 1) & (d->cap - 1))
        if (d->seen[i].ino == ino && d->seen[i].dev == dev)
            return 0;
    d->seen[i] = (struct inode_key){dev, ino};
    d->n++;
    return 1;
}

static int du_entry(void *ctx, int dirfd, const char *name, const struct stat *st) {
    struct du *d = ctx;
    if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
        int r = seen_add(d, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
        if (r <= 0)
            return r; /* another name of an inode already counted */
    }
    d->usage.inodes++;
    d->usage.bytes += (int64_t)st->st_blocks * 512;
    return 0;
}

int tree_usage(int dirfd, const char *path, struct cleat_usage *ret, char *where, size_t wsize) {
    struct du d = {{0, 0}, NULL, 0, 0};
    struct walker w = {.entry = du_entry, .ctx = &d};
    int r = run(&w, dirfd, path, where, wsize);
    free(d.seen);
    if (r == 0)
        *ret = d.usage;
    return r;
}
