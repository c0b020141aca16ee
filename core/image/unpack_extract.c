/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hardened tar extractor: every entry of a hostile layer lands under
 * one root fd and nowhere else.
 *
 * How containment works:
 *   - entry names (and hardlink targets) are cleaned lexically: no "..",
 *     no ".", no empty or leading "/" components are left;
 *   - a parent directory is only ever resolved with openat2(rootfd, dir,
 *     RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): symlinks, absolute ones
 *     included, are followed as if rootfd were "/", loops give ELOOP;
 *   - the last component is then created relative to that parent fd with
 *     *at() calls that never follow it (O_NOFOLLOW, O_EXCL, AT_SYMLINK_NOFOLLOW,
 *     linkat without AT_SYMLINK_FOLLOW);
 *   - nothing is ever opened for reading but directories (O_DIRECTORY |
 *     O_NOFOLLOW), to set their metadata.
 * The layer is applied by one thread that is the only writer under rootfd,
 * so there is no race to guard against between resolving and creating.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "error.h"
#include "unpack_apply.h"
#include "unpack_extract.h"
#include "unpack_limits.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define OVERLAY_OPAQUE_XATTR "trusted.overlay.opaque"

struct dir_time {
    char *path; /* how to find it again; NULL: a free slot */
    dev_t dev;
    ino_t ino;
    struct timespec ts[2];
};

/* One entry being applied. */
struct ent {
    struct archive_entry *e;
    const char *raw;     /* the name as in the tar: for messages only */
    char shown[256];     /* raw, escaped for messages; filled on the first error */
    char path[PATH_MAX]; /* cleaned, relative to the root, "" is the root */
    char dir[PATH_MAX];  /* the parent part of path */
    const char *base;    /* the last component, inside path */
    uid_t uid;
    gid_t gid;
    mode_t perm;
    struct timespec ts[2]; /* atime, mtime */
};

struct extractor {
    int rootfd;
    int32_t whiteout_mode;     /* UNPACK_WHITEOUTS_* */
    struct layer_paths *paths; /* APPLY: what this layer wrote (unpack_apply.h); else NULL */
    struct ent cur;            /* the entry being applied: ~8 KiB, reused */
    /* The last parent directory resolved: most entries share their parent with the one before. */
    int cache_fd;
    int cache_valid;
    char cache_path[PATH_MAX];
    /*
     * Directories' times, applied once their contents are in place: a hash
     * set by inode, so that a layer naming one directory a million times
     * (under as many paths, through symlinks) costs one slot, and memory
     * stays bounded by the directories on disk.
     */
    struct dir_time *dirs;
    size_t ndirs, dirs_cap; /* dirs_cap: 0 or a power of two */
    uint64_t file_bytes, whiteouts;
};

/* ---- messages ---- */

/* A name for a message (gRPC wants UTF-8): printable ASCII, the rest as \xNN, cut at ~200 bytes. */
static void escape_name(const char *raw, char *out, size_t size) {
    const unsigned char *p = (const unsigned char *)raw;
    size_t o = 0;
    for (; *p && o < size - 8; p++) {
        if (*p >= 0x20 && *p < 0x7f && *p != '\\' && *p != '\'')
            out[o++] = (char)*p;
        else
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", *p);
    }
    if (*p)
        o += (size_t)snprintf(out + o, size - o, "...");
    out[o] = '\0';
}

static const char *shown(struct ent *n) {
    if (!n->shown[0])
        escape_name(n->raw, n->shown, sizeof(n->shown));
    return n->shown;
}

__attribute__((format(printf, 5, 6))) static int entry_fail(struct cleat_error **reterr, struct ent *n, int32_t status,
                                                            int errnum, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return error_set(reterr, status, errnum, "layer entry '%s': %s", shown(n), msg);
}

/* A failed syscall: "what: strerror", status from the errno. */
static int entry_sys(struct cleat_error **reterr, struct ent *n, const char *what) {
    int e = errno;
    return entry_fail(reterr, n, unpack_errno_status(e), e, "%s: %s", what, strerror(e));
}

/* ---- names ---- */

/*
 * Clean a tar name into out (PATH_MAX): drop empty and "." components and a
 * leading "/", let ".." remove the component before it but never climb
 * above the root ("a/../../x" is "x").  "" means the root itself.
 */
static int clean_path(const char *raw, char *out, struct ent *n, struct cleat_error **reterr) {
    size_t o = 0;
    const char *p = raw;
    while (*p) {
        const char *end = strchrnul(p, '/');
        size_t len = (size_t)(end - p);
        if (len == 0 || (len == 1 && p[0] == '.')) {
            /* nothing */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* the '/' before the removed component */
        } else {
            if (len > NAME_MAX)
                return entry_fail(reterr, n, CLEAT_STATUS_INVALID_ARGUMENT, ENAMETOOLONG,
                                  "a path component is longer than %d bytes", NAME_MAX);
            if (o + (o > 0) + len >= PATH_MAX)
                return entry_fail(reterr, n, CLEAT_STATUS_INVALID_ARGUMENT, ENAMETOOLONG,
                                  "the path is longer than %d bytes", PATH_MAX - 1);
            if (o > 0)
                out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p = *end ? end + 1 : end;
    }
    out[o] = '\0';
    return 0;
}

int extract_clean_path(const char *raw, char *out, struct cleat_error **reterr) {
    struct ent n = {.raw = raw};
    return clean_path(raw, out, &n, reterr);
}

/* dir := everything before the last '/', base := after it. */
static void split_path(const char *path, char *dir, const char **base) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        dir[0] = '\0';
        *base = path;
        return;
    }
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    *base = slash + 1;
}

/* ---- resolving under the root ---- */

static int openat2_in_root(int rootfd, const char *path, int flags) {
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    /* EAGAIN: a concurrent rename raced a ".." lookup; the kernel asks for a retry. */
    for (int i = 0; i < 32; i++) {
        long fd = syscall(SYS_openat2, rootfd, *path ? path : ".", &how, sizeof(how));
        if (fd >= 0 || errno != EAGAIN)
            return (int)fd;
    }
    return -1;
}

static void cache_set(struct extractor *x, const char *dir, int fd) {
    if (x->cache_fd >= 0)
        close(x->cache_fd);
    x->cache_fd = fd;
    x->cache_valid = 1;
    strcpy(x->cache_path, dir);
}

/*
 * Something under the root was removed: the cached path may now resolve
 * elsewhere.  The fd stays open (a caller may hold it) until replaced.
 */
static void cache_invalidate(struct extractor *x) {
    x->cache_valid = 0;
}

/*
 * An O_PATH fd for the deepest prefix of dir that resolves under the root
 * (the root itself when none does), and in *rest where the part that does
 * not starts.  dir is clean and known not to resolve.  Prefixes resolve in
 * order (one that resolves has walked all shorter ones), so a binary search
 * finds the deepest in O(depth log depth) lookups; resolving every prefix
 * from the root would be quadratic, which a layer of entries 2000
 * directories deep turns into hours of kernel time.
 */
static int deepest_existing(struct extractor *x, char *dir, const char **rest) {
    size_t ends[PATH_MAX / 2 + 1], n = 0; /* where each component ends in dir */
    for (size_t i = 0;; i++)
        if (dir[i] == '/' || dir[i] == '\0') {
            ends[n++] = i;
            if (!dir[i])
                break;
        }
    size_t lo = 0, hi = n; /* prefix of lo components resolves (0: the root), of hi does not */
    int fd = -1;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        char saved = dir[ends[mid - 1]];
        dir[ends[mid - 1]] = '\0';
        int probe = openat2_in_root(x->rootfd, dir, O_PATH | O_DIRECTORY);
        dir[ends[mid - 1]] = saved;
        if (probe >= 0) {
            if (fd >= 0)
                close(fd);
            fd = probe;
            lo = mid;
        } else {
            hi = mid;
        }
    }
    *rest = lo ? dir + ends[lo - 1] + 1 : dir;
    return fd >= 0 ? fd : fcntl(x->rootfd, F_DUPFD_CLOEXEC, 0);
}

/*
 * Create the missing directories of dir (clean, relative) 0755: below the
 * deepest one that exists, one component at a time, each relative to the
 * one just made.  The first missing one may be a dangling symlink (refused,
 * ELOOP) or a file (ENOTDIR); the ones below it are new and empty.
 */
static int mkdir_in_root(struct extractor *x, const char *dir, struct ent *n, struct cleat_error **reterr) {
    char buf[PATH_MAX];
    const char *comp;
    strcpy(buf, dir);
    int pfd = deepest_existing(x, buf, &comp);
    int e = pfd < 0 ? errno : 0;
    while (pfd >= 0) {
        size_t len = strcspn(comp, "/");
        char name[NAME_MAX + 1];
        memcpy(name, comp, len);
        name[len] = '\0';
        int fd = -1;
        /* 0755 exactly, not less the umask; EEXIST: a dangling symlink or a file, refused by the openat. */
        if ((mkdirat(pfd, name, 0755) == 0 && fchmodat(pfd, name, 0755, 0) == 0) || errno == EEXIST)
            fd = openat(pfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        e = fd < 0 ? errno : 0;
        close(pfd);
        pfd = fd;
        if (pfd < 0 || !comp[len]) {
            buf[comp + len - buf] = '\0'; /* for the message: the directory that failed */
            break;
        }
        comp += len + 1;
    }
    if (pfd >= 0)
        return pfd;
    char esc[256];
    escape_name(buf, esc, sizeof(esc));
    return entry_fail(reterr, n, unpack_errno_status(e), e, "cannot create parent directory '%s': %s", esc,
                      strerror(e));
}

/* A borrowed O_PATH fd for the entry's parent directory, created if missing. */
static int parent_fd(struct extractor *x, struct ent *n, struct cleat_error **reterr) {
    if (!n->dir[0])
        return x->rootfd;
    if (x->cache_valid && strcmp(x->cache_path, n->dir) == 0)
        return x->cache_fd;
    int fd = openat2_in_root(x->rootfd, n->dir, O_PATH | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT)
        fd = mkdir_in_root(x, n->dir, n, reterr);
    else if (fd < 0)
        return entry_fail(reterr, n, unpack_errno_status(errno), errno, "cannot resolve parent directory: %s",
                          strerror(errno));
    if (fd < 0)
        return fd;
    cache_set(x, n->dir, fd);
    return fd;
}

/* ---- removing what is in the way ---- */

/* Remove whatever is at pfd/name (a directory with its contents) so that an entry can take its place. */
static int remove_existing(struct extractor *x, int pfd, const char *name, struct ent *n, struct cleat_error **reterr) {
    cache_invalidate(x);
    if (unlinkat(pfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    int r = errno == EISDIR ? unpack_remove_tree(pfd, name) : -errno;
    if (r < 0) {
        errno = -r;
        return entry_sys(reterr, n, "cannot replace the existing file");
    }
    return 0;
}

/* ---- metadata ---- */

static int is_overlay_xattr(const char *name) {
    return strncmp(name, "trusted.overlay.", strlen("trusted.overlay.")) == 0 ||
           strncmp(name, "user.overlay.", strlen("user.overlay.")) == 0;
}

/*
 * The entry's xattrs, on fd (fd >= 0) or on pfd/base without following it.
 * Overlay's own attributes from the tar are dropped: a layer must not forge
 * whiteouts, redirects or metacopy.  A file system without xattrs is not an error.
 */
static int apply_xattrs(struct ent *n, int fd, int pfd, struct cleat_error **reterr) {
    const char *name;
    const void *value;
    size_t size;
    char proc[PATH_MAX];

    if (archive_entry_xattr_reset(n->e) == 0)
        return 0;
    if (fd < 0)
        /* No fsetxattr on O_PATH fds: go through the parent's fd in /proc; base is one component. */
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", pfd, n->base);
    while (archive_entry_xattr_next(n->e, &name, &value, &size) == ARCHIVE_OK) {
        if (!name || !*name || is_overlay_xattr(name))
            continue;
        int r = fd >= 0 ? fsetxattr(fd, name, value, size, 0) : lsetxattr(proc, name, value, size, 0);
        /* ENOTSUP: the file system has no xattrs; EPERM: user.* on a symlink or device.  As containerd does. */
        if (r < 0 && errno != ENOTSUP && errno != EPERM) {
            char what[300], esc[256];
            escape_name(name, esc, sizeof(esc));
            snprintf(what, sizeof(what), "cannot set xattr %s", esc);
            return entry_sys(reterr, n, what);
        }
    }
    return 0;
}

/* Owner, then mode (chown clears setuid/setgid), then xattrs (chown clears security.capability). */
static int apply_meta_fd(struct ent *n, int fd, struct cleat_error **reterr) {
    if (fchown(fd, n->uid, n->gid) < 0)
        return entry_sys(reterr, n, "cannot chown");
    if (fchmod(fd, n->perm) < 0)
        return entry_sys(reterr, n, "cannot chmod");
    return apply_xattrs(n, fd, -1, reterr);
}

/* The same for things we do not open (symlinks, devices, fifos), plus their times. */
static int apply_meta_at(struct ent *n, int pfd, int is_symlink, struct cleat_error **reterr) {
    if (fchownat(pfd, n->base, n->uid, n->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_sys(reterr, n, "cannot chown");
    /* We created this node a moment ago and are the only writer: not a symlink, fchmodat may follow. */
    if (!is_symlink && fchmodat(pfd, n->base, n->perm, 0) < 0)
        return entry_sys(reterr, n, "cannot chmod");
    int r = apply_xattrs(n, -1, pfd, reterr);
    if (r < 0)
        return r;
    if (utimensat(pfd, n->base, n->ts, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_sys(reterr, n, "cannot set times");
    return 0;
}

/* The slot for a directory: its own, or the free one where it would go. */
static struct dir_time *dir_slot(struct dir_time *slots, size_t cap, dev_t dev, ino_t ino) {
    uint64_t h = ((uint64_t)ino ^ ((uint64_t)dev << 32)) * 0x9e3779b97f4a7c15ULL;
    for (size_t i = (size_t)(h >> 32) & (cap - 1);; i = (i + 1) & (cap - 1))
        if (!slots[i].path || (slots[i].dev == dev && slots[i].ino == ino))
            return &slots[i];
}

static int dirs_grow(struct extractor *x) {
    size_t cap = x->dirs_cap ? x->dirs_cap * 2 : 256;
    struct dir_time *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    for (size_t i = 0; i < x->dirs_cap; i++)
        if (x->dirs[i].path)
            *dir_slot(slots, cap, x->dirs[i].dev, x->dirs[i].ino) = x->dirs[i];
    free(x->dirs);
    x->dirs = slots;
    x->dirs_cap = cap;
    return 0;
}

static int defer_dir_times(struct extractor *x, struct ent *n, const struct stat *st, struct cleat_error **reterr) {
    if ((x->ndirs + 1) * 2 > x->dirs_cap && dirs_grow(x) < 0)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    struct dir_time *d = dir_slot(x->dirs, x->dirs_cap, st->st_dev, st->st_ino);
    /*
     * The latest path wins: it leads to this inode now, while an older one
     * may name a directory removed since, whose inode number was reused.
     */
    if (!d->path || strcmp(d->path, n->path) != 0) {
        char *p = strdup(n->path);
        if (!p)
            return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        if (!d->path)
            x->ndirs++;
        free(d->path);
        d->path = p;
        d->dev = st->st_dev;
        d->ino = st->st_ino;
    }
    memcpy(d->ts, n->ts, sizeof(n->ts)); /* the last entry for a directory wins */
    return 0;
}

/* ---- one entry per type ---- */

static int write_all(int fd, const char *p, size_t len) {
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int copy_data(struct extractor *x, struct archive *a, struct ent *n, int fd, struct cleat_error **reterr) {
    int64_t pos = 0, end = 0;
    for (;;) {
        const void *buf;
        size_t size;
        la_int64_t off;
        int r = archive_read_data_block(a, &buf, &size, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return entry_fail(reterr, n, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "cannot read its data: %s",
                              archive_error_string(a) ? archive_error_string(a) : "unknown error");
        if (off != pos && lseek(fd, off, SEEK_SET) < 0) /* a sparse file's hole */
            return entry_sys(reterr, n, "cannot seek");
        if (write_all(fd, buf, size) < 0)
            return entry_sys(reterr, n, "cannot write");
        pos = off + (int64_t)size;
        if (pos > end)
            end = pos;
        x->file_bytes += size;
    }
    /* A sparse file may end in a hole. */
    if (archive_entry_size_is_set(n->e) && archive_entry_size(n->e) > end &&
        ftruncate(fd, archive_entry_size(n->e)) < 0)
        return entry_sys(reterr, n, "cannot set its size");
    return 0;
}

static int make_file(struct extractor *x, struct archive *a, struct ent *n, int pfd, struct cleat_error **reterr) {
    int fd = openat(pfd, n->base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        int r = remove_existing(x, pfd, n->base, n, reterr);
        if (r < 0)
            return r;
        fd = openat(pfd, n->base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    if (fd < 0)
        return entry_sys(reterr, n, "cannot create file");
    int r = copy_data(x, a, n, fd, reterr);
    if (r == 0)
        r = apply_meta_fd(n, fd, reterr);
    if (r == 0 && futimens(fd, n->ts) < 0)
        r = entry_sys(reterr, n, "cannot set times");
    if (close(fd) < 0 && r == 0)
        r = entry_sys(reterr, n, "cannot write");
    return r;
}

static int make_dir(struct extractor *x, struct ent *n, int pfd, struct cleat_error **reterr) {
    if (mkdirat(pfd, n->base, 0700) < 0) {
        struct stat st;
        if (errno != EEXIST)
            return entry_sys(reterr, n, "cannot create directory");
        if (fstatat(pfd, n->base, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return entry_sys(reterr, n, "cannot stat");
        if (!S_ISDIR(st.st_mode)) { /* a directory over a directory keeps it; over anything else replaces it */
            int r = remove_existing(x, pfd, n->base, n, reterr);
            if (r < 0)
                return r;
            if (mkdirat(pfd, n->base, 0700) < 0)
                return entry_sys(reterr, n, "cannot create directory");
        }
    }
    struct stat st = {0};
    int fd = openat(pfd, n->base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return entry_sys(reterr, n, "cannot open directory");
    int r = apply_meta_fd(n, fd, reterr);
    if (r == 0 && fstat(fd, &st) < 0)
        r = entry_sys(reterr, n, "cannot stat");
    close(fd);
    return r < 0 ? r : defer_dir_times(x, n, &st, reterr);
}

static int make_symlink(struct extractor *x, struct ent *n, int pfd, struct cleat_error **reterr) {
    const char *target = archive_entry_symlink(n->e);
    if (!target || !*target)
        return entry_fail(reterr, n, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "symlink without a target");
    if (strlen(target) >= PATH_MAX)
        return entry_fail(reterr, n, CLEAT_STATUS_INVALID_ARGUMENT, ENAMETOOLONG, "symlink target too long");
    /* The target is stored as it is: it is only ever followed inside a root (ours, or the container's). */
    if (symlinkat(target, pfd, n->base) < 0) {
        if (errno != EEXIST)
            return entry_sys(reterr, n, "cannot create symlink");
        int r = remove_existing(x, pfd, n->base, n, reterr);
        if (r < 0)
            return r;
        if (symlinkat(target, pfd, n->base) < 0)
            return entry_sys(reterr, n, "cannot create symlink");
    }
    return apply_meta_at(n, pfd, 1, reterr);
}

static int make_node(struct extractor *x, struct ent *n, int pfd, mode_t type, struct cleat_error **reterr) {
    dev_t dev = type == S_IFIFO ? 0 : makedev(archive_entry_rdevmajor(n->e), archive_entry_rdevminor(n->e));
    if (mknodat(pfd, n->base, type | 0600, dev) < 0) {
        if (errno != EEXIST)
            return entry_sys(reterr, n, "cannot create node");
        int r = remove_existing(x, pfd, n->base, n, reterr);
        if (r < 0)
            return r;
        if (mknodat(pfd, n->base, type | 0600, dev) < 0)
            return entry_sys(reterr, n, "cannot create node");
    }
    return apply_meta_at(n, pfd, 0, reterr);
}

/* linkat, replacing what is at pfd/base unless it is that file already. */
static int link_replacing(struct extractor *x, struct ent *n, int sfd, const char *sbase, const struct stat *sst,
                          int pfd, struct cleat_error **reterr) {
    struct stat dst;
    /* No AT_SYMLINK_FOLLOW: a symlink is linked, not followed. */
    if (linkat(sfd, sbase, pfd, n->base, 0) == 0)
        return 0;
    if (errno != EEXIST)
        return entry_sys(reterr, n, "cannot create hardlink");
    if (fstatat(pfd, n->base, &dst, AT_SYMLINK_NOFOLLOW) == 0 && dst.st_dev == sst->st_dev && dst.st_ino == sst->st_ino)
        return 0;
    int r = remove_existing(x, pfd, n->base, n, reterr);
    if (r < 0)
        return r;
    if (linkat(sfd, sbase, pfd, n->base, 0) < 0)
        return entry_sys(reterr, n, "cannot create hardlink");
    return 0;
}

/* A hardlink to an earlier entry: the target is resolved under the root too, and never followed. */
static int make_hardlink(struct extractor *x, struct ent *n, const char *link, struct cleat_error **reterr) {
    char src[PATH_MAX] = "", sdir[PATH_MAX];
    const char *sbase;
    struct stat sst;
    int r = clean_path(link, src, n, reterr);
    if (r < 0)
        return r;
    if (!src[0])
        return entry_fail(reterr, n, CLEAT_STATUS_INVALID_ARGUMENT, EPERM, "hardlink to the layer's root directory");
    if (strcmp(src, n->path) == 0)
        return 0; /* a link to itself */
    split_path(src, sdir, &sbase);
    int sfd = openat2_in_root(x->rootfd, sdir, O_PATH | O_DIRECTORY);
    if (sfd < 0 || fstatat(sfd, sbase, &sst, AT_SYMLINK_NOFOLLOW) < 0) {
        int e = errno;
        if (sfd >= 0)
            close(sfd);
        char esc[256];
        escape_name(src, esc, sizeof(esc));
        return entry_fail(reterr, n, CLEAT_STATUS_INVALID_ARGUMENT, e, "hardlink target '%s' is not in the layer%s: %s",
                          esc, x->paths ? " or the ones below it" : "", strerror(e));
    }
    if (S_ISDIR(sst.st_mode))
        r = entry_fail(reterr, n, CLEAT_STATUS_INVALID_ARGUMENT, EPERM, "hardlink to a directory");
    int pfd = r < 0 ? r : parent_fd(x, n, reterr);
    if (pfd >= 0)
        r = link_replacing(x, n, sfd, sbase, &sst, pfd, reterr);
    else
        r = pfd;
    close(sfd);
    return r;
}

/*
 * Noting what the layer wrote, for the opaque rule (APPLY only): the path,
 * with its ancestors.  A whiteout notes its directory, which the layer made
 * or kept, as overlay would show it in the upper layer.
 */
static int note_path(struct extractor *x, struct ent *n, const char *path, struct cleat_error **reterr) {
    int r = x->paths ? layer_paths_add(x->paths, path) : 0;
    if (r < 0)
        return entry_fail(reterr, n, CLEAT_STATUS_RESOURCE_EXHAUSTED, -r, "cannot note its path: %s", strerror(-r));
    return 0;
}

/*
 * OCI whiteouts onto the whole filesystem: ".wh.NAME" removes NAME (a tree
 * for a directory; never through a symlink), ".wh..wh..opq" removes what
 * its directory holds that this layer did not write.
 */
static int apply_whiteout(struct extractor *x, struct ent *n, int pfd, struct cleat_error **reterr) {
    int r = note_path(x, n, n->dir, reterr);
    if (r < 0)
        return r;
    cache_invalidate(x);
    if (strcmp(n->base, WHITEOUT_OPAQUE) == 0) {
        char where[PATH_MAX];
        r = unpack_empty_dir(x->paths, pfd, n->dir, where, sizeof(where));
        if (r < 0) {
            char esc[256];
            escape_name(where, esc, sizeof(esc));
            return entry_fail(reterr, n, unpack_errno_status(-r), -r, "cannot empty the opaque directory at '%s': %s",
                              esc, strerror(-r));
        }
        x->whiteouts++;
        return 0;
    }
    const char *name = n->base + strlen(WHITEOUT_PREFIX);
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return entry_fail(reterr, n, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "whiteout of nothing");
    if ((r = remove_existing(x, pfd, name, n, reterr)) < 0)
        return r;
    x->whiteouts++;
    return 0;
}

/*
 * OCI whiteouts: onto the filesystem (APPLY), or for overlayfs: ".wh.NAME"
 * is a 0/0 character device NAME, ".wh..wh..opq" the opaque xattr on its
 * directory.
 */
static int make_whiteout(struct extractor *x, struct ent *n, struct cleat_error **reterr) {
    if (strncmp(n->base, WHITEOUT_META_PREFIX, strlen(WHITEOUT_META_PREFIX)) == 0 &&
        strcmp(n->base, WHITEOUT_OPAQUE) != 0)
        return 0; /* aufs bookkeeping (.wh..wh.plnk and such): meaningless here */
    int pfd = parent_fd(x, n, reterr);
    if (pfd < 0)
        return pfd;
    if (x->whiteout_mode == UNPACK_WHITEOUTS_APPLY)
        return apply_whiteout(x, n, pfd, reterr);
    if (strcmp(n->base, WHITEOUT_OPAQUE) == 0) {
        int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return entry_sys(reterr, n, "cannot open the opaque directory");
        int r = fsetxattr(fd, OVERLAY_OPAQUE_XATTR, "y", 1, 0);
        close(fd);
        if (r < 0)
            return entry_sys(reterr, n, "cannot set " OVERLAY_OPAQUE_XATTR);
        x->whiteouts++;
        return 0;
    }
    const char *name = n->base + strlen(WHITEOUT_PREFIX);
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return entry_fail(reterr, n, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "whiteout of nothing");
    if (mknodat(pfd, name, S_IFCHR, makedev(0, 0)) < 0) {
        if (errno != EEXIST)
            return entry_sys(reterr, n, "cannot create whiteout");
        int r = remove_existing(x, pfd, name, n, reterr);
        if (r < 0)
            return r;
        if (mknodat(pfd, name, S_IFCHR, makedev(0, 0)) < 0)
            return entry_sys(reterr, n, "cannot create whiteout");
    }
    if (fchownat(pfd, name, n->uid, n->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_sys(reterr, n, "cannot chown whiteout");
    x->whiteouts++;
    return 0;
}

/* ---- entry points ---- */

static int read_header(struct ent *n, struct cleat_error **reterr) {
    struct archive_entry *e = n->e;
    la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
    /* (uid_t)-1 would mean "leave unchanged" to chown. */
    if (uid < 0 || uid >= (la_int64_t)UINT32_MAX || gid < 0 || gid >= (la_int64_t)UINT32_MAX)
        return entry_fail(reterr, n, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "uid/gid %lld/%lld out of range",
                          (long long)uid, (long long)gid);
    n->uid = (uid_t)uid;
    n->gid = (gid_t)gid;
    n->perm = archive_entry_perm(e) & 07777;
    n->ts[1].tv_sec = archive_entry_mtime(e);
    n->ts[1].tv_nsec = archive_entry_mtime_nsec(e);
    if (archive_entry_atime_is_set(e)) {
        n->ts[0].tv_sec = archive_entry_atime(e);
        n->ts[0].tv_nsec = archive_entry_atime_nsec(e);
    } else {
        n->ts[0] = n->ts[1];
    }
    for (int i = 0; i < 2; i++)
        if (n->ts[i].tv_nsec < 0 || n->ts[i].tv_nsec > 999999999)
            n->ts[i].tv_nsec = 0;
    return 0;
}

/* One entry, by its type; n->e is set. */
static int apply_entry(struct extractor *x, struct archive *a, struct ent *n, struct cleat_error **reterr) {
    struct archive_entry *e = n->e;
    int r;

    n->shown[0] = '\0';
    n->path[0] = '\0';
    n->raw = archive_entry_pathname(e);
    if (!n->raw)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "layer entry without a name");
    if ((r = clean_path(n->raw, n->path, n, reterr)) < 0 || (r = read_header(n, reterr)) < 0)
        return r;
    if (!n->path[0])
        return 0; /* the root itself: the snapshot owns it */
    split_path(n->path, n->dir, &n->base);
    if (strncmp(n->base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0)
        return make_whiteout(x, n, reterr);
    const char *link = archive_entry_hardlink(e);
    if (link)
        return make_hardlink(x, n, link, reterr);
    mode_t type = archive_entry_filetype(e);
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK && type != AE_IFCHR && type != AE_IFBLK &&
        type != AE_IFIFO)
        return entry_fail(reterr, n, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "unsupported entry type 0%o", type);
    int pfd = parent_fd(x, n, reterr);
    if (pfd < 0)
        return pfd;
    switch (type) {
    case AE_IFREG:
        return make_file(x, a, n, pfd, reterr);
    case AE_IFDIR:
        return make_dir(x, n, pfd, reterr);
    case AE_IFLNK:
        return make_symlink(x, n, pfd, reterr);
    case AE_IFCHR:
        return make_node(x, n, pfd, S_IFCHR, reterr);
    case AE_IFBLK:
        return make_node(x, n, pfd, S_IFBLK, reterr);
    default:
        return make_node(x, n, pfd, S_IFIFO, reterr);
    }
}

int extract_entry(struct extractor *x, struct archive *a, struct archive_entry *e, struct cleat_error **reterr) {
    struct ent *n = &x->cur;
    n->e = e;
    int r = apply_entry(x, a, n, reterr);
    /* A whiteout noted its directory itself (make_whiteout); skipped entries note nothing. */
    if (r == 0 && n->path[0] && strncmp(n->base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) != 0)
        r = note_path(x, n, n->path, reterr);
    return r;
}

int extract_open(const struct unpack_target *t, struct extractor **ret, struct cleat_error **reterr) {
    if (!t || (!t->dir && t->dirfd < 0) ||
        (t->whiteouts != UNPACK_WHITEOUTS_OVERLAY && t->whiteouts != UNPACK_WHITEOUTS_APPLY))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "unpack: bad target");
    struct extractor *x = calloc(1, sizeof(*x));
    if (!x)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    x->cache_fd = -1;
    x->whiteout_mode = t->whiteouts;
    if (t->whiteouts == UNPACK_WHITEOUTS_APPLY && !(x->paths = layer_paths_new())) {
        free(x);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    /* Our own descriptor of the root either way: the caller's may be a detached mount it closes after. */
    x->rootfd = t->dir ? open(t->dir, O_PATH | O_DIRECTORY | O_CLOEXEC)
                       : openat(t->dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (x->rootfd < 0) {
        int e = errno;
        layer_paths_free(x->paths);
        free(x);
        return error_set(reterr, e == ENOENT || e == ENOTDIR ? CLEAT_STATUS_NOT_FOUND : unpack_errno_status(e), e,
                         "cannot open target directory %s: %s", unpack_target_name(t), strerror(e));
    }
    *ret = x;
    return 0;
}

void extract_free(struct extractor *x) {
    if (!x)
        return;
    for (size_t i = 0; i < x->dirs_cap; i++)
        free(x->dirs[i].path);
    free(x->dirs);
    if (x->cache_fd >= 0)
        close(x->cache_fd);
    close(x->rootfd);
    layer_paths_free(x->paths);
    free(x);
}

/*
 * Directories' times last: creating their contents moved them.  A directory
 * that a later entry replaced or removed is skipped.
 */
int extract_finish(struct extractor *x, struct cleat_error **reterr) {
    for (size_t i = 0; i < x->dirs_cap; i++) {
        struct dir_time *d = &x->dirs[i];
        struct stat st;
        if (!d->path)
            continue;
        int fd = openat2_in_root(x->rootfd, d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        int e = errno;
        if (fd < 0 && (e == ENOENT || e == ENOTDIR || e == ELOOP))
            continue;
        if (fd >= 0) {
            e = 0;
            /* Still the directory we made?  Its path may lead elsewhere by now. */
            if (fstat(fd, &st) == 0 && st.st_dev == d->dev && st.st_ino == d->ino && futimens(fd, d->ts) < 0)
                e = errno;
            close(fd);
        }
        if (e) {
            char esc[256];
            escape_name(d->path, esc, sizeof(esc));
            return error_set(reterr, unpack_errno_status(e), e, "cannot set the times of directory '%s': %s", esc,
                             strerror(e));
        }
    }
    return 0;
}

void extract_stats(const struct extractor *x, uint64_t *file_bytes, uint64_t *whiteouts) {
    *file_bytes = x->file_bytes;
    *whiteouts = x->whiteouts;
}

int extract_root_fd(const struct extractor *x) {
    return x->rootfd;
}
