/* SPDX-License-Identifier: Apache-2.0 */
/*
 * image-oci: the local transport for OCI image layouts (`oci:PATH[:TAG]`,
 * `oci:PATH@DIGEST`) and oci-archive tarballs (`oci-archive:PATH[:TAG]`).
 * Internal declarations shared by the plugin's files; nothing here crosses
 * the plugin boundary except through the SDK's ops table.
 */
#ifndef CLEAT_IMAGE_OCI_H
#define CLEAT_IMAGE_OCI_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cleat/transport.h>

#include "plugin_cleanup.h"
#include "plugin_error.h"

#define OCI_BUF_SIZE ((size_t)1 << 20)         /* fetch copies in 1 MiB chunks */
#define OCI_INDEX_MAX ((size_t)16 << 20)       /* largest index.json read */
#define OCI_LAYOUT_FILE_MAX ((size_t)64 << 10) /* largest oci-layout read */
#define OCI_ARCHIVE_CACHE_MAX 16               /* archives whose entry offsets are remembered */

/* What a reference names: a layout directory or an archive file. */
#define OCI_KIND_UNKNOWN 0 /* no scheme given: decided by what PATH is */
#define OCI_KIND_LAYOUT 1
#define OCI_KIND_ARCHIVE 2

struct oci_ref {
    int kind;     /* OCI_KIND_* */
    char *path;   /* absolute; "//", "/./" and trailing '/' removed */
    char *tag;    /* NULL when none was given */
    char *digest; /* "@sha256:..." selection, or NULL */
};

/* Where one blob lies inside an uncompressed archive. */
struct oci_tar_blob {
    char *name; /* "sha256/<hex>" */
    int64_t offset, size;
};

/* The blobs of one archive file, valid while the file's identity is unchanged. */
struct oci_tar_index {
    struct oci_tar_index *next;
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec ctime;      /* st_ctim: unlike mtime, no one can set it back */
    struct oci_tar_blob *blobs; /* sorted by name */
    size_t n;
};

struct oci {
    const struct cleat_host *host;
    pthread_mutex_t lock;           /* guards `archives` */
    struct oci_tar_index *archives; /* most recently resolved first */
};

/* --- references (ref.c) ---------------------------------------------------- */

/* Parse "oci:PATH[:TAG]", "oci:PATH@DIGEST", the same with "oci-archive:", or a bare PATH. */
int oci_ref_parse(const struct oci *oci, const char *reference, struct oci_ref *ret, struct cleat_error **reterr);
void oci_ref_done(struct oci_ref *ref);
/* "oci" or "oci-archive". */
const char *oci_scheme(int kind);
/* Non-zero for "sha256:<64 hex>" and "sha512:<128 hex>", the digests whose blob paths are safe. */
int oci_digest_valid(const char *digest);
/* Non-zero for a tag this syntax can carry: [A-Za-z0-9._+-]{1,255}. */
int oci_tag_valid(const char *tag);
/* "blobs/<alg>/<hex>" for a valid digest, or NULL (malloc'd). */
char *oci_blob_name(const char *digest);

/* --- layout metadata (index.c) -------------------------------------------- */

/* Check the text of an oci-layout file; `where` names it in messages. */
int oci_check_layout_file(const struct oci *oci, const char *where, const char *data, size_t len,
                          struct cleat_error **reterr);
/* Pick the manifest `ref` names from the text of index.json, then call fn with it. */
int oci_index_resolve(const struct oci *oci, const struct oci_ref *ref, const char *where, const char *data, size_t len,
                      cleat_resolved_fn fn, void *ctx, struct cleat_error **reterr);

/* --- copying blobs (blob_copy.c) ------------------------------------------ */

/* Copy bytes [offset, end) of `fd` into the writer, in OCI_BUF_SIZE chunks; `what` names the blob in messages. */
int oci_copy_fd(const struct oci *oci, int fd, int64_t offset, int64_t end, struct cleat_blob_writer *writer,
                const char *what, struct cleat_error **reterr);
/* The writer's resume offset, checked against the blob's size. */
int oci_resume_offset(const struct oci *oci, const struct cleat_blob_writer *writer, int64_t size, const char *what,
                      int64_t *ret, struct cleat_error **reterr);

/* --- directories (layout.c) ----------------------------------------------- */

int oci_layout_resolve(struct oci *oci, const struct oci_ref *ref, cleat_resolved_fn fn, void *ctx,
                       struct cleat_error **reterr);
int oci_layout_fetch(struct oci *oci, const struct oci_ref *ref, const struct cleat_descriptor *desc,
                     struct cleat_blob_writer *writer, struct cleat_error **reterr);

/* --- archives (archive.c) ------------------------------------------------- */

int oci_archive_resolve(struct oci *oci, const struct oci_ref *ref, cleat_resolved_fn fn, void *ctx,
                        struct cleat_error **reterr);
int oci_archive_fetch(struct oci *oci, const struct oci_ref *ref, const struct cleat_descriptor *desc,
                      struct cleat_blob_writer *writer, struct cleat_error **reterr);
/* Forget every remembered archive (at fini). */
void oci_archive_cache_free(struct oci *oci);

#endif /* CLEAT_IMAGE_OCI_H */
