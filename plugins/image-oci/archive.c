/* SPDX-License-Identifier: Apache-2.0 */
/*
 * oci-archive: an OCI layout packed in a tarball (plain, or compressed with
 * gzip, bzip2, xz or zstd), read with libarchive as a stream.
 *
 * resolve() reads oci-layout and index.json from the tar.  When the tar is
 * not compressed, every entry's data lies contiguously at a file offset, so
 * resolve also records where each blob starts (libarchive's count of bytes
 * consumed once a header is read) and fetch() then copies the blob with
 * pread(), without walking the tar again.  The record is kept per archive
 * path and trusted only while the file's device, inode, size and ctime are
 * unchanged; otherwise, and always for compressed tars, fetch() walks the
 * tar to the blob.  Every call opens the file itself, so concurrent fetches
 * share nothing but the record, which is read under the instance's lock and
 * copied out.  When a name occurs twice in a tar the first entry is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "oci.h"
#include "plugin_fs.h"

#define OCI_TAR_BLOCK ((size_t)64 << 10)

/* One pass over a tarball. */
struct tar_walk {
    struct oci *oci;
    const char *path; /* the archive, for messages */
    int fd;
    struct archive *a;
    int seekable; /* not compressed: entry data lies at a file offset */
};

/* Called per regular entry; `offset` is where its data starts in the file, or -1.  >0 stops the walk. */
typedef int (*tar_visit_fn)(struct tar_walk *w, const char *name, int64_t size, int64_t offset, void *ctx,
                            struct cleat_error **reterr);

static void tar_close(struct tar_walk *w) {
    if (w->a)
        archive_read_free(w->a);
    w->a = NULL;
}

static int tar_open(struct tar_walk *w, struct cleat_error **reterr) {
    w->a = archive_read_new();
    if (!w->a)
        return plugin_oom(w->oci->host, reterr);
    /* Named filters only: support_filter_all would also run external programs (lrzip, lzop, grzip). */
    archive_read_support_format_tar(w->a);
    archive_read_support_filter_gzip(w->a);
    archive_read_support_filter_bzip2(w->a);
    archive_read_support_filter_xz(w->a);
    archive_read_support_filter_zstd(w->a);
    if (archive_read_open_fd(w->a, w->fd, OCI_TAR_BLOCK) != ARCHIVE_OK) {
        int r = cleat_error_set(w->oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                                "%s is not a valid tar archive: %s", w->path, archive_error_string(w->a));
        tar_close(w);
        return r;
    }
    w->seekable = archive_filter_count(w->a) == 1 && archive_filter_code(w->a, 0) == ARCHIVE_FILTER_NONE;
    return 0;
}

/* "./blobs/x" and "/blobs/x" are "blobs/x". */
static const char *entry_name(const char *name) {
    while (name[0] == '/' || (name[0] == '.' && name[1] == '/'))
        name += name[0] == '/' ? 1 : 2;
    return name;
}

static int tar_walk(struct tar_walk *w, tar_visit_fn fn, void *ctx, struct cleat_error **reterr) {
    for (;;) {
        struct archive_entry *e = NULL;
        int r = archive_read_next_header(w->a, &e);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) /* ARCHIVE_RETRY too: the entry is not usable */
            return cleat_error_set(w->oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EIO,
                                   "%s is not a valid tar archive: %s", w->path, archive_error_string(w->a));
        const char *name = archive_entry_pathname(e);
        if (!name || archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) ||
            !archive_entry_size_is_set(e))
            continue;
        /* After the header (and any pax or GNU long-name headers) the format has consumed exactly up to the data. */
        int64_t offset = w->seekable && archive_entry_sparse_count(e) == 0 ? archive_filter_bytes(w->a, 0) : -1;
        r = fn(w, entry_name(name), archive_entry_size(e), offset, ctx, reterr);
        if (r != 0)
            return r;
    }
}

/* Read the current entry (a small metadata file) into memory. */
static int tar_read_small(struct tar_walk *w, const char *name, int64_t size, size_t max, char **ret, size_t *ret_len,
                          struct cleat_error **reterr) {
    if (size < 0 || (uint64_t)size > max)
        return cleat_error_set(w->oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EFBIG,
                               "%s in %s is larger than %zu bytes", name, w->path, max);
    _cleanup_free_ char *buf = malloc((size_t)size + 1);
    if (!buf)
        return plugin_oom(w->oci->host, reterr);
    size_t len = 0;
    for (la_ssize_t n; len < (size_t)size; len += (size_t)n) {
        n = archive_read_data(w->a, buf + len, (size_t)size - len);
        if (n < 0)
            return cleat_error_set(w->oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EIO, "reading %s in %s: %s",
                                   name, w->path, archive_error_string(w->a));
        if (n == 0)
            break;
    }
    buf[len] = '\0';
    *ret = buf;
    buf = NULL;
    *ret_len = len;
    return 0;
}

/* --- the blob record ------------------------------------------------------ */

static void tar_index_free(struct oci_tar_index *idx) {
    if (!idx)
        return;
    for (size_t i = 0; i < idx->n; i++)
        free(idx->blobs[i].name);
    free(idx->blobs);
    free(idx->path);
    free(idx);
}

static int blob_cmp(const void *x, const void *y) {
    const struct oci_tar_blob *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->offset > b->offset) - (a->offset < b->offset);
}

static int same_file(const struct oci_tar_index *idx, const char *path, const struct stat *st) {
    return strcmp(idx->path, path) == 0 && idx->dev == st->st_dev && idx->ino == st->st_ino &&
           idx->size == st->st_size && idx->ctime.tv_sec == st->st_ctim.tv_sec &&
           idx->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* Sort the blobs, keep each name's first entry (lowest offset), and remember the record; takes `idx`. */
static void cache_put(struct oci *oci, struct oci_tar_index *idx) {
    qsort(idx->blobs, idx->n, sizeof(*idx->blobs), blob_cmp);
    size_t kept = 0;
    for (size_t i = 0; i < idx->n; i++) {
        if (kept && strcmp(idx->blobs[kept - 1].name, idx->blobs[i].name) == 0)
            free(idx->blobs[i].name);
        else
            idx->blobs[kept++] = idx->blobs[i];
    }
    idx->n = kept;
    pthread_mutex_lock(&oci->lock);
    struct oci_tar_index *drop = NULL;
    size_t count = 0;
    idx->next = oci->archives;
    oci->archives = idx;
    for (struct oci_tar_index **pp = &idx->next; *pp;) {
        struct oci_tar_index *cur = *pp;
        if (strcmp(cur->path, idx->path) == 0 || ++count >= OCI_ARCHIVE_CACHE_MAX) {
            *pp = cur->next; /* an older record of this file, or the least recently resolved */
            cur->next = drop;
            drop = cur;
        } else {
            pp = &cur->next;
        }
    }
    pthread_mutex_unlock(&oci->lock);
    while (drop) {
        struct oci_tar_index *next = drop->next;
        tar_index_free(drop);
        drop = next;
    }
}

/* -1: no record for this very file; 0: the file has no such blob; 1: found, *ret filled (name not copied). */
static int cache_get(struct oci *oci, const char *path, const struct stat *st, const char *name,
                     struct oci_tar_blob *ret) {
    int found = -1;
    pthread_mutex_lock(&oci->lock);
    for (struct oci_tar_index *idx = oci->archives; idx; idx = idx->next) {
        if (!same_file(idx, path, st))
            continue;
        found = 0;
        for (size_t lo = 0, hi = idx->n; lo < hi;) { /* names are unique after cache_put() */
            size_t mid = lo + (hi - lo) / 2;
            int c = strcmp(name, idx->blobs[mid].name);
            if (c == 0) {
                *ret = (struct oci_tar_blob){.offset = idx->blobs[mid].offset, .size = idx->blobs[mid].size};
                found = 1;
                break;
            }
            if (c < 0)
                hi = mid;
            else
                lo = mid + 1;
        }
        break;
    }
    pthread_mutex_unlock(&oci->lock);
    return found;
}

void oci_archive_cache_free(struct oci *oci) {
    while (oci->archives) {
        struct oci_tar_index *next = oci->archives->next;
        tar_index_free(oci->archives);
        oci->archives = next;
    }
}

/* --- resolve -------------------------------------------------------------- */

struct scan {
    char *marker, *index; /* oci-layout and index.json */
    size_t marker_len, index_len;
    struct oci_tar_index *idx; /* where the blobs are; NULL for a compressed tar */
    size_t cap;
};

static int scan_add_blob(struct tar_walk *w, struct scan *s, const char *name, int64_t size, int64_t offset,
                         struct cleat_error **reterr) {
    struct oci_tar_index *idx = s->idx;
    if (idx->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        struct oci_tar_blob *blobs = realloc(idx->blobs, cap * sizeof(*blobs));
        if (!blobs)
            return plugin_oom(w->oci->host, reterr);
        idx->blobs = blobs;
        s->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return plugin_oom(w->oci->host, reterr);
    idx->blobs[idx->n++] = (struct oci_tar_blob){.name = copy, .offset = offset, .size = size};
    return 0;
}

static int scan_visit(struct tar_walk *w, const char *name, int64_t size, int64_t offset, void *ctx,
                      struct cleat_error **reterr) {
    struct scan *s = ctx;
    int r = 0;
    if (strcmp(name, "oci-layout") == 0 && !s->marker)
        r = tar_read_small(w, name, size, OCI_LAYOUT_FILE_MAX, &s->marker, &s->marker_len, reterr);
    else if (strcmp(name, "index.json") == 0 && !s->index)
        r = tar_read_small(w, name, size, OCI_INDEX_MAX, &s->index, &s->index_len, reterr);
    else if (s->idx && offset >= 0 && strncmp(name, "blobs/", 6) == 0)
        r = scan_add_blob(w, s, name + 6, size, offset, reterr);
    if (r < 0)
        return r;
    /* Without offsets to record, a compressed tar need not be read further than its metadata. */
    return !s->idx && s->marker && s->index;
}

/* Walk the archive behind `fd`: its metadata, and a blob record when it is not compressed. */
static int scan_archive(struct oci *oci, const struct oci_ref *ref, int fd, const struct stat *st, struct scan *s,
                        struct cleat_error **reterr) {
    struct tar_walk w = {.oci = oci, .path = ref->path, .fd = fd};
    int r = tar_open(&w, reterr);
    if (r < 0)
        return r;
    if (w.seekable) {
        s->idx = calloc(1, sizeof(*s->idx));
        if (!s->idx || !(s->idx->path = strdup(ref->path))) {
            tar_close(&w);
            return plugin_oom(oci->host, reterr);
        }
        *s->idx = (struct oci_tar_index){
            .path = s->idx->path, .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size, .ctime = st->st_ctim};
    }
    r = tar_walk(&w, scan_visit, s, reterr);
    tar_close(&w);
    return r < 0 ? r : 0;
}

static void scan_done(struct scan *s) {
    free(s->marker);
    free(s->index);
    tar_index_free(s->idx);
}

/* Open the archive file itself; `st` gets its identity. */
static int archive_open(struct oci *oci, const struct oci_ref *ref, struct stat *st, struct cleat_error **reterr) {
    int fd = plugin_open_regular(ref->path, st);
    if (fd < 0 && fd != -EINVAL)
        return cleat_error_set(oci->host, reterr, plugin_errno_status(-fd), -fd, "oci-archive %s: %s", ref->path,
                               strerror(-fd));
    if (fd < 0)
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                               "oci-archive %s is not a regular file%s%s", ref->path,
                               S_ISDIR(st->st_mode) ? " (for a layout directory, use oci:" : "",
                               S_ISDIR(st->st_mode) ? ")" : "");
    return fd;
}

int oci_archive_resolve(struct oci *oci, const struct oci_ref *ref, cleat_resolved_fn fn, void *ctx,
                        struct cleat_error **reterr) {
    struct stat st;
    _cleanup_close_ int fd = archive_open(oci, ref, &st, reterr);
    if (fd < 0)
        return fd;
    struct scan s = {0};
    _cleanup_free_ char *marker_where = NULL, *where = NULL;
    int r = scan_archive(oci, ref, fd, &st, &s, reterr);
    if (r < 0)
        goto out;
    if (!s.marker || !s.index) {
        r = cleat_error_set(oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOENT,
                            "%s is not an oci-archive: the tar has no %s file", ref->path,
                            s.marker ? "index.json" : "oci-layout");
        goto out;
    }
    if (asprintf(&marker_where, "oci-layout in %s", ref->path) < 0 ||
        asprintf(&where, "index.json in %s", ref->path) < 0) {
        r = plugin_oom(oci->host, reterr);
        goto out;
    }
    r = oci_check_layout_file(oci, marker_where, s.marker, s.marker_len, reterr);
    if (r < 0)
        goto out;
    if (s.idx) {
        cache_put(oci, s.idx);
        s.idx = NULL;
    }
    r = oci_index_resolve(oci, ref, where, s.index, s.index_len, fn, ctx, reterr);
out:
    scan_done(&s);
    return r;
}

/* --- fetch ---------------------------------------------------------------- */

struct find {
    const char *name; /* "blobs/<alg>/<hex>" */
    const char *what; /* "blob sha256:... in oci-archive PATH", for messages */
    const struct cleat_descriptor *desc;
    struct cleat_blob_writer *writer;
    int found;
};

static int check_size(const struct oci *oci, const struct find *f, int64_t size, struct cleat_error **reterr) {
    if (f->desc->size >= 0 && f->desc->size != size)
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                               "%s has %" PRId64 " bytes, its descriptor says %" PRId64, f->what, size, f->desc->size);
    return 0;
}

/* Copy the current entry from libarchive (a compressed tar), dropping the first `skip` bytes. */
static int copy_entry(struct tar_walk *w, const struct find *f, int64_t skip, int64_t size,
                      struct cleat_error **reterr) {
    _cleanup_free_ char *buf = malloc(OCI_BUF_SIZE);
    if (!buf)
        return plugin_oom(w->oci->host, reterr);
    for (int64_t pos = 0; pos < size;) {
        la_ssize_t n = archive_read_data(w->a, buf, OCI_BUF_SIZE);
        if (n < 0)
            return cleat_error_set(w->oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EIO, "reading %s: %s",
                                   f->what, archive_error_string(w->a));
        if (n == 0)
            return cleat_error_set(w->oci->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EIO,
                                   "%s ends after %" PRId64 " of %" PRId64 " bytes: is the tar truncated?", f->what,
                                   pos, size);
        int64_t start = skip > pos ? (skip - pos < n ? skip - pos : n) : 0;
        pos += n;
        if (start == n)
            continue;
        int r = w->oci->host->blob_write(f->writer, buf + start, (uint64_t)(n - start), reterr);
        if (r < 0) {
            if (reterr && *reterr)
                w->oci->host->error_wrap(*reterr, "%s", f->what);
            return r;
        }
    }
    return 0;
}

static int find_visit(struct tar_walk *w, const char *name, int64_t size, int64_t offset, void *ctx,
                      struct cleat_error **reterr) {
    struct find *f = ctx;
    if (strcmp(name, f->name) != 0)
        return 0;
    f->found = 1;
    int64_t skip = 0;
    int r = check_size(w->oci, f, size, reterr);
    if (r < 0 || (r = oci_resume_offset(w->oci, f->writer, size, f->what, &skip, reterr)) < 0)
        return r;
    if (offset >= 0)
        r = oci_copy_fd(w->oci, w->fd, offset + skip, offset + size, f->writer, f->what, reterr);
    else
        r = copy_entry(w, f, skip, size, reterr);
    return r < 0 ? r : 1;
}

static int not_found(const struct oci *oci, const struct find *f, struct cleat_error **reterr) {
    return cleat_error_set(
        oci->host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "%s not found: the tar has no %s%s", f->what, f->name,
        f->desc->urls && f->desc->urls[0] ? " (a foreign layer, listing urls: this transport does not download those)"
                                          : "");
}

int oci_archive_fetch(struct oci *oci, const struct oci_ref *ref, const struct cleat_descriptor *desc,
                      struct cleat_blob_writer *writer, struct cleat_error **reterr) {
    _cleanup_free_ char *name = oci_blob_name(desc->digest), *what = NULL;
    if (!name || asprintf(&what, "blob %s in oci-archive %s", desc->digest, ref->path) < 0)
        return plugin_oom(oci->host, reterr);
    struct find f = {.name = name, .what = what, .desc = desc, .writer = writer};
    struct stat st;
    _cleanup_close_ int fd = archive_open(oci, ref, &st, reterr);
    if (fd < 0)
        return fd;
    struct oci_tar_blob b;
    int r = cache_get(oci, ref->path, &st, name + 6, &b);
    if (r == 0)
        return not_found(oci, &f, reterr);
    if (r > 0) {
        int64_t skip = 0;
        if ((r = check_size(oci, &f, b.size, reterr)) < 0 ||
            (r = oci_resume_offset(oci, writer, b.size, what, &skip, reterr)) < 0)
            return r;
        return oci_copy_fd(oci, fd, b.offset + skip, b.offset + b.size, writer, what, reterr);
    }
    struct tar_walk w = {.oci = oci, .path = ref->path, .fd = fd};
    if ((r = tar_open(&w, reterr)) < 0)
        return r;
    r = tar_walk(&w, find_visit, &f, reterr);
    tar_close(&w);
    if (r < 0)
        return r;
    return f.found ? 0 : not_found(oci, &f, reterr);
}
