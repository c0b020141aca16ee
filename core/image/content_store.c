/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The content store on a plain directory tree (see content_store.h).
 *
 * Why a directory of files named by digest rather than records in the LMDB
 * store: layers are large and are streamed to the unpacker and to the disk;
 * a file is what the kernel caches, sendfile()s and reclaims best, and a
 * rename(2) makes a verified blob appear atomically.
 *
 * Writers of the same digest serialise on an exclusive flock(2) of the ingest
 * file.  A waiter that finally gets the lock must check that its fd still is
 * the file named ingest/<name>: the writer before it may have renamed that
 * inode into blobs/ (commit) or unlinked it (abort), both while holding the
 * lock.  If the name now points elsewhere (or nowhere), the waiter starts
 * over, and normally finds the committed blob.
 */
#include "cleanup.h"
#include "content_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "error.h"
#include "fsutil.h"

#define REL_MAX (sizeof("ingest/") + DIGEST_MAX) /* longest relative path we build, NUL included */
#define IO_CHUNK ((size_t)64 * 1024)

struct content_store {
    int dirfd; /* <root>/content */
    char *path;
};

struct content_writer {
    struct content_store *cs;
    char digest[DIGEST_MAX];
    char ingest[REL_MAX]; /* relative to cs->dirfd */
    int fd;               /* the ingest file, flock'd */
    int64_t size;         /* expected, -1 if unknown */
    uint64_t offset;
    struct digester *d;
    int poisoned; /* too many bytes, or a failed write could not be undone: never keep nor commit */
};

/* An error for a failed system call, with its status chosen by errno: "<what>: <strerror>". */
__attribute__((format(printf, 3, 4))) static int io_fail(struct cleat_error **reterr, int errnum, const char *fmt,
                                                         ...) {
    char what[512];
    int32_t status;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    switch (errnum) {
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
        status = CLEAT_STATUS_RESOURCE_EXHAUSTED;
        break;
    case EACCES:
    case EPERM:
        status = CLEAT_STATUS_PERMISSION_DENIED;
        break;
    case EROFS:
        status = CLEAT_STATUS_FAILED_PRECONDITION;
        break;
    default:
        status = CLEAT_STATUS_INTERNAL;
        break;
    }
    return error_set(reterr, status, errnum, "%s: %s", what, strerror(errnum));
}

/* "blobs/<alg>/<hex>" for a valid digest. */
static void blob_rel(const char *digest, char buf[REL_MAX]) {
    snprintf(buf, REL_MAX, "blobs/%.*s/%s", (int)digest_algorithm_len(digest), digest, digest_hex(digest));
}

/* "ingest/<alg>-<hex>" for a valid digest. */
static void ingest_rel(const char *digest, char buf[REL_MAX]) {
    snprintf(buf, REL_MAX, "ingest/%.*s-%s", (int)digest_algorithm_len(digest), digest, digest_hex(digest));
}

static int fsync_dir(const struct content_store *cs, const char *rel, struct cleat_error **reterr) {
    _cleanup_close_ int fd = openat(cs->dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || fsync(fd) < 0)
        return io_fail(reterr, errno, "syncing %s/%s", cs->path, rel);
    return 0;
}

int content_store_open(const char *root_dir, struct content_store **ret, struct cleat_error **reterr) {
    static const char *const dirs[] = {"blobs/sha256", "ingest"};
    struct content_store *cs = calloc(1, sizeof(*cs));
    int r = 0;

    if (!cs || asprintf(&cs->path, "%s/content", root_dir) < 0) {
        free(cs);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    cs->dirfd = -1;
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && r == 0; i++) {
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%s/%s", cs->path, dirs[i]) < 0)
            r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        else
            r = mkdir_p(p, 0700, reterr);
    }
    if (r == 0) {
        cs->dirfd = open(cs->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cs->dirfd < 0)
            r = io_fail(reterr, errno, "opening content store %s", cs->path);
    }
    if (r < 0) {
        content_store_close(cs);
        return r;
    }
    *ret = cs;
    return 0;
}

void content_store_close(struct content_store *cs) {
    if (!cs)
        return;
    if (cs->dirfd >= 0)
        close(cs->dirfd);
    free(cs->path);
    free(cs);
}

const char *content_store_path(const struct content_store *cs) {
    return cs->path;
}

int content_exists(struct content_store *cs, const char *digest, int64_t *ret_size) {
    char rel[REL_MAX];
    struct stat st;

    if (digest_validate(digest, NULL) < 0)
        return 0;
    blob_rel(digest, rel);
    if (fstatat(cs->dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
        return 0;
    if (ret_size)
        *ret_size = (int64_t)st.st_size;
    return 1;
}

static void writer_free(struct content_writer *w) {
    closep(&w->fd); /* releases the flock */
    digester_free(w->d);
    free(w);
}

/* Delete the ingest file (we hold its lock) and free the writer. */
static void writer_discard(struct content_writer *w) {
    unlinkat(w->cs->dirfd, w->ingest, 0);
    writer_free(w);
}

/*
 * Open and lock the ingest file into w->fd.  1 when locked and still the file
 * named w->ingest; 0 when a previous holder moved or removed it (try again).
 */
static int ingest_lock(struct content_writer *w, struct cleat_error **reterr) {
    _cleanup_close_ int fd = openat(w->cs->dirfd, w->ingest, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    struct stat mine, named;

    if (fd < 0)
        return io_fail(reterr, errno, "creating %s/%s", w->cs->path, w->ingest);
    while (flock(fd, LOCK_EX) < 0)
        if (errno != EINTR)
            return io_fail(reterr, errno, "locking %s/%s", w->cs->path, w->ingest);
    if (fstat(fd, &mine) < 0)
        return io_fail(reterr, errno, "reading %s/%s", w->cs->path, w->ingest);
    if (fstatat(w->cs->dirfd, w->ingest, &named, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        return io_fail(reterr, errno, "reading %s/%s", w->cs->path, w->ingest);
    }
    if (mine.st_ino != named.st_ino || mine.st_dev != named.st_dev)
        return 0;
    w->fd = fd;
    fd = -1;
    return 1;
}

/* Hash what a previous writer left in the ingest file (dropping it if it is longer than expected). */
static int ingest_resume(struct content_writer *w, struct cleat_error **reterr) {
    _cleanup_free_ char *buf = NULL;
    struct stat st;
    uint64_t off = 0;

    if (fstat(w->fd, &st) < 0)
        return io_fail(reterr, errno, "reading %s/%s", w->cs->path, w->ingest);
    if (st.st_size == 0)
        return 0;
    if (w->size >= 0 && st.st_size > w->size) {
        if (ftruncate(w->fd, 0) < 0)
            return io_fail(reterr, errno, "truncating %s/%s", w->cs->path, w->ingest);
        return 0;
    }
    buf = malloc(IO_CHUNK);
    if (!buf)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    while (off < (uint64_t)st.st_size) {
        ssize_t n = pread(w->fd, buf, IO_CHUNK, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return io_fail(reterr, n < 0 ? errno : EIO, "reading %s/%s", w->cs->path, w->ingest);
        digester_update(w->d, buf, (size_t)n);
        off += (uint64_t)n;
    }
    w->offset = off;
    return 0;
}

/* 1 if the blob exists (checking its size against the expected one), 0 if not. */
static int blob_present(struct content_writer *w, struct cleat_error **reterr) {
    int64_t have;

    if (!content_exists(w->cs, w->digest, &have))
        return 0;
    if (w->size >= 0 && have != w->size)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EBADMSG,
                         "blob %s is %lld bytes in the content store, but its descriptor says %lld", w->digest,
                         (long long)have, (long long)w->size);
    return 1;
}

/* Wait for the ingest lock; 1 if the blob turned out to exist meanwhile (w->fd closed then). */
static int writer_acquire(struct content_writer *w, struct cleat_error **reterr) {
    int r;

    for (;;) {
        r = blob_present(w, reterr);
        if (r != 0)
            return r;
        r = ingest_lock(w, reterr);
        if (r < 0)
            return r;
        if (r == 1)
            break;
    }
    /* Committed between our check and our open: the file we hold is a stray. */
    r = blob_present(w, reterr);
    if (r != 0) {
        unlinkat(w->cs->dirfd, w->ingest, 0);
        closep(&w->fd);
    }
    return r;
}

int content_writer_open(struct content_store *cs, const char *digest, int64_t size, struct content_writer **ret,
                        int *ret_exists, struct cleat_error **reterr) {
    struct content_writer *w;
    int r = digest_check_computable(digest, reterr);

    if (r < 0)
        return r;
    if (size < -1)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "blob %s: invalid size %lld", digest,
                         (long long)size);
    w = calloc(1, sizeof(*w));
    if (!w || !(w->d = digester_new("sha256"))) {
        free(w);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    w->cs = cs;
    w->fd = -1;
    w->size = size;
    snprintf(w->digest, sizeof(w->digest), "%s", digest);
    ingest_rel(digest, w->ingest);
    r = writer_acquire(w, reterr);
    if (r == 0)
        r = ingest_resume(w, reterr);
    if (r != 0) {
        writer_free(w);
        if (r < 0)
            return r;
        *ret = NULL;
        *ret_exists = 1;
        return 0;
    }
    *ret = w;
    *ret_exists = 0;
    return 0;
}

/* Write all of data at w->offset; on failure cut the file back to w->offset. */
static int write_at_offset(struct content_writer *w, const void *data, size_t len, struct cleat_error **reterr) {
    const char *p = data;
    size_t done = 0;

    while (done < len) {
        ssize_t n = pwrite(w->fd, p + done, len - done, (off_t)(w->offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            if (ftruncate(w->fd, (off_t)w->offset) < 0)
                w->poisoned = 1;
            return io_fail(reterr, e, "writing blob %s to %s/%s", w->digest, w->cs->path, w->ingest);
        }
        done += (size_t)n;
    }
    return 0;
}

int content_writer_write(struct content_writer *w, const void *data, size_t len, struct cleat_error **reterr) {
    int r;

    if (w->poisoned)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EBADFD,
                         "blob %s: an earlier write failed, the download must start over", w->digest);
    if (w->size >= 0 && (len > (uint64_t)w->size || w->offset > (uint64_t)w->size - len)) {
        w->poisoned = 1;
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EFBIG,
                         "blob %s: received more than the expected %lld bytes", w->digest, (long long)w->size);
    }
    r = write_at_offset(w, data, len, reterr);
    if (r < 0)
        return r;
    digester_update(w->d, data, len);
    w->offset += len;
    return 0;
}

int content_writer_reset(struct content_writer *w, struct cleat_error **reterr) {
    char scratch[DIGEST_MAX];

    if (ftruncate(w->fd, 0) < 0)
        return io_fail(reterr, errno, "truncating %s/%s", w->cs->path, w->ingest);
    digester_final(w->d, scratch); /* which also starts the hash afresh */
    w->offset = 0;
    w->poisoned = 0;
    return 0;
}

uint64_t content_writer_offset(const struct content_writer *w) {
    return w->offset;
}

static int writer_verify(struct content_writer *w, struct cleat_error **reterr) {
    char actual[DIGEST_MAX];

    if (w->poisoned)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EBADMSG,
                         "blob %s: more data arrived than expected, or a write failed", w->digest);
    if (w->size >= 0 && w->offset != (uint64_t)w->size)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EBADMSG,
                         "blob %s: size mismatch: expected %lld bytes, got %llu", w->digest, (long long)w->size,
                         (unsigned long long)w->offset);
    digester_final(w->d, actual);
    if (strcmp(actual, w->digest) != 0)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EBADMSG,
                         "blob digest mismatch: expected %s, got %s (%llu bytes)", w->digest,
                         actual[0] ? actual : "(hashing failed)", (unsigned long long)w->offset);
    return 0;
}

int content_writer_commit(struct content_writer *w, struct cleat_error **reterr) {
    struct content_store *cs;
    char rel[REL_MAX], dir[REL_MAX];
    int r = writer_verify(w, reterr);

    if (r == 0 && (fsync(w->fd) < 0 || fchmod(w->fd, 0444) < 0))
        r = io_fail(reterr, errno, "syncing blob %s in %s/%s", w->digest, w->cs->path, w->ingest);
    blob_rel(w->digest, rel);
    if (r == 0 && renameat(w->cs->dirfd, w->ingest, w->cs->dirfd, rel) < 0)
        r = io_fail(reterr, errno, "committing blob %s to %s/%s", w->digest, w->cs->path, rel);
    if (r < 0) {
        writer_discard(w);
        return r;
    }
    snprintf(dir, sizeof(dir), "blobs/%.*s", (int)digest_algorithm_len(w->digest), w->digest);
    cs = w->cs;
    writer_free(w); /* only after the rename: a waiter then finds the blob */
    return fsync_dir(cs, dir, reterr);
}

void content_writer_abort(struct content_writer *w, int keep_partial) {
    if (!w)
        return;
    if (keep_partial && !w->poisoned)
        writer_free(w);
    else
        writer_discard(w);
}

int content_open_blob(struct content_store *cs, const char *digest, int *ret_fd, struct cleat_error **reterr) {
    char rel[REL_MAX];
    int fd, r = digest_validate(digest, reterr);

    if (r < 0)
        return r;
    blob_rel(digest, rel);
    fd = openat(cs->dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT)
        return error_set(reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "blob %s not found in content store %s", digest,
                         cs->path);
    if (fd < 0)
        return io_fail(reterr, errno, "opening blob %s in %s", digest, cs->path);
    *ret_fd = fd;
    return 0;
}

static int read_all(int fd, char *buf, size_t len) {
    size_t done = 0;

    while (done < len) {
        ssize_t n = pread(fd, buf + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        done += (size_t)n;
    }
    return 0;
}

int content_read_small(struct content_store *cs, const char *digest, size_t max_size, char **ret, size_t *ret_len,
                       struct cleat_error **reterr) {
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *buf = NULL;
    char actual[DIGEST_MAX];
    struct stat st;
    int r = content_open_blob(cs, digest, &fd, reterr);

    if (r < 0)
        return r;
    if (fstat(fd, &st) < 0)
        return io_fail(reterr, errno, "reading blob %s", digest);
    if ((uint64_t)st.st_size > max_size)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, EFBIG,
                         "blob %s is %lld bytes, more than the %zu allowed", digest, (long long)st.st_size, max_size);
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    r = read_all(fd, buf, (size_t)st.st_size);
    if (r < 0)
        return io_fail(reterr, -r, "reading blob %s in %s", digest, cs->path);
    buf[st.st_size] = '\0';
    /* Only sha256 blobs can have been committed, so this always applies. */
    if (digest_of_buffer(buf, (size_t)st.st_size, actual) == 0 && strcmp(actual, digest) != 0)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EUCLEAN, "blob %s in %s is corrupt: its content hashes to %s",
                         digest, cs->path, actual);
    *ret_len = (size_t)st.st_size;
    *ret = buf;
    buf = NULL;
    return 0;
}

int content_write_small(struct content_store *cs, const char *digest, const void *data, size_t len,
                        struct cleat_error **reterr) {
    struct content_writer *w = NULL;
    int exists = 0;
    int r = content_writer_open(cs, digest, (int64_t)len, &w, &exists, reterr);

    if (r < 0 || exists)
        return r;
    r = content_writer_reset(w, reterr); /* a leftover partial is simply overwritten */
    if (r == 0)
        r = content_writer_write(w, data, len, reterr);
    if (r < 0) {
        writer_discard(w);
        return r;
    }
    return content_writer_commit(w, reterr);
}

int content_delete(struct content_store *cs, const char *digest, struct cleat_error **reterr) {
    char rel[REL_MAX];
    int r = digest_validate(digest, reterr);

    if (r < 0)
        return r;
    blob_rel(digest, rel);
    if (unlinkat(cs->dirfd, rel, 0) == 0)
        return 0;
    if (errno == ENOENT)
        return error_set(reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "blob %s not found in content store %s", digest,
                         cs->path);
    return io_fail(reterr, errno, "deleting blob %s in %s", digest, cs->path);
}

/* opendir() for a directory under the store; NULL with errno set. */
static DIR *open_subdir(const struct content_store *cs, const char *rel) {
    int fd = openat(cs->dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d;

    if (fd < 0)
        return NULL;
    d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return d;
}

int content_walk(struct content_store *cs, content_walk_fn fn, void *ctx, struct cleat_error **reterr) {
    _cleanup_dir_ DIR *d = open_subdir(cs, "blobs/sha256");
    char digest[DIGEST_MAX];
    struct dirent *de;
    struct stat st;

    if (!d)
        return errno == ENOENT ? 0 : io_fail(reterr, errno, "listing %s/blobs/sha256", cs->path);
    while ((errno = 0, de = readdir(d))) {
        if (strlen(de->d_name) != DIGEST_SHA256_HEX)
            continue; /* ".", "..", strays */
        memcpy(digest, "sha256:", 7);
        memcpy(digest + 7, de->d_name, DIGEST_SHA256_HEX + 1);
        if (digest_validate(digest, NULL) < 0)
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue; /* deleted meanwhile */
        int r = fn(ctx, digest, (int64_t)st.st_size);
        if (r != 0)
            return r;
    }
    if (errno != 0)
        return io_fail(reterr, errno, "listing %s/blobs/sha256", cs->path);
    return 0;
}

/* Add a directory (itself, and with entries = 1 its immediate entries) to the usage counts. */
static int dir_usage(const struct content_store *cs, const char *rel, int entries, int64_t *bytes, int64_t *inodes,
                     struct cleat_error **reterr) {
    _cleanup_dir_ DIR *d = NULL;
    struct dirent *de;
    struct stat st;

    if (fstatat(cs->dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return io_fail(reterr, errno, "reading %s/%s", cs->path, rel);
    *bytes += (int64_t)st.st_blocks * 512;
    *inodes += 1;
    if (!entries)
        return 0;
    d = open_subdir(cs, rel);
    if (!d)
        return io_fail(reterr, errno, "listing %s/%s", cs->path, rel);
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* removed meanwhile */
        *bytes += (int64_t)st.st_blocks * 512;
        *inodes += 1;
    }
    return 0;
}

int content_usage(struct content_store *cs, int64_t *ret_bytes, int64_t *ret_inodes, struct cleat_error **reterr) {
    static const struct {
        const char *rel;
        int entries;
    } dirs[] = {{".", 0}, {"blobs", 0}, {"blobs/sha256", 1}, {"ingest", 1}};
    int64_t bytes = 0, inodes = 0;

    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        int r = dir_usage(cs, dirs[i].rel, dirs[i].entries, &bytes, &inodes, reterr);
        if (r < 0)
            return r;
    }
    *ret_bytes = bytes;
    *ret_inodes = inodes;
    return 0;
}

/* Remove one ingest file if nobody holds its lock and it is still the file named so. */
static void ingest_remove_idle(int dfd, const char *name) {
    _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat mine, named;

    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
        return;
    if (fstat(fd, &mine) < 0 || fstatat(dfd, name, &named, AT_SYMLINK_NOFOLLOW) < 0 || mine.st_ino != named.st_ino ||
        mine.st_dev != named.st_dev)
        return;
    unlinkat(dfd, name, 0);
}

void content_cleanup_ingest(struct content_store *cs, int64_t older_than_seconds) {
    _cleanup_dir_ DIR *d = open_subdir(cs, "ingest");
    struct dirent *de;
    struct stat st;
    struct timespec now;

    /*
     * Not time(): it reads a coarse clock, and file times on recent kernels
     * are fine-grained, so a file written a moment ago could look newer than "now".
     */
    clock_gettime(CLOCK_REALTIME, &now);
    if (!d)
        return;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        if ((int64_t)(now.tv_sec - st.st_mtime) < older_than_seconds)
            continue;
        ingest_remove_idle(dirfd(d), de->d_name);
    }
}
