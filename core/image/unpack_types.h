/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The values unpack.h's calls and its parts (the input stream, the limits)
 * pass around: compression kinds, the diff_id buffer, what one unpack may do
 * and what it did.  Types only: a header every part can include without
 * including another part.
 */
#ifndef CLEAT_CORE_UNPACK_TYPES_H
#define CLEAT_CORE_UNPACK_TYPES_H

#include <stdint.h>

/* How the blob is compressed.  AUTO sniffs the magic: gzip 1f 8b, zstd 28 b5 2f fd, else a plain tar. */
#define UNPACK_COMPRESSION_AUTO 0
#define UNPACK_COMPRESSION_NONE 1
#define UNPACK_COMPRESSION_GZIP 2
#define UNPACK_COMPRESSION_ZSTD 3

/*
 * How a layer's whiteouts land, which depends on what the target is:
 *   OVERLAY: the target is an overlayfs upper directory, alone, with the
 *     layers below it elsewhere (lowerdir=): whiteouts are recorded the way
 *     overlayfs reads them (".wh.NAME" a 0/0 character device NAME,
 *     ".wh..wh..opq" trusted.overlay.opaque=y on its directory) and the
 *     kernel hides the lower files when the snapshot is mounted;
 *   APPLY: the target is the snapshot's whole tree, with the layers below
 *     it already there: whiteouts are applied (NAME is removed, an opaque
 *     directory is emptied of all the layer did not write), nothing of them
 *     is left on disk (unpack_apply.h).
 */
#define UNPACK_WHITEOUTS_OVERLAY 0
#define UNPACK_WHITEOUTS_APPLY 1

/*
 * Where a layer is extracted: the directory `dir`, or when dir is NULL the
 * directory descriptor `dirfd` (borrowed, any kind: O_PATH, or a detached
 * mount's, see mount_detached).  `name` says in messages what it is (NULL:
 * dir).
 */
struct unpack_target {
    const char *dir;
    int dirfd;
    const char *name;
    int32_t whiteouts; /* UNPACK_WHITEOUTS_* */
};

static inline const char *unpack_target_name(const struct unpack_target *t) {
    return t->name ? t->name : t->dir ? t->dir : "(descriptor)";
}

/* "sha256:" + 64 hex + NUL. */
#define UNPACK_DIFF_ID_SIZE 72

struct unpack_result {
    char diff_id[UNPACK_DIFF_ID_SIZE]; /* "sha256:<hex>" of the uncompressed stream, trailing bytes included */
    uint64_t compressed_bytes;         /* read from fd */
    uint64_t uncompressed_bytes;       /* hashed: the tar and anything after its end marker */
    uint64_t entries;                  /* tar entries seen, whiteouts and skipped ones included */
    uint64_t file_bytes;               /* regular-file payload written */
    uint64_t whiteouts;                /* .wh. entries turned into whiteouts or opaque markers */
    int32_t compression;               /* what the content was: UNPACK_COMPRESSION_NONE/GZIP/ZSTD */
};

/*
 * Bytes that several unpacks running at once draw on together: the layers
 * of one image, unpacked in parallel, against images.max_image_bytes.  Each
 * unpack adds what comes out of its stream to `used` as it goes; the one
 * that takes `used` past `max` is refused, whichever layer it is.  `name`
 * says in messages which setting it is.  Set up before the unpacks start.
 */
struct unpack_budget {
    _Atomic uint64_t used;
    uint64_t max; /* 0: no limit */
    const char *name;
};

/*
 * What one unpack may do; zero fields are no limit.  The *_name strings say
 * in messages which setting the limit is (e.g. "images.max_layer_bytes
 * (68719476736 bytes)"); NULL: a generic name.
 */
struct unpack_limits {
    uint64_t max_bytes; /* uncompressed bytes (the tar and what follows it) */
    const char *max_bytes_name;
    /*
     * The ratio guard: once more than ratio_min_bytes came out, at most
     * max_ratio uncompressed bytes per compressed byte consumed so far.
     * Small layers may compress extremely well; a big one that does is a bomb.
     */
    uint32_t max_ratio;
    uint64_t ratio_min_bytes;
    const char *max_ratio_name;
    /* Free bytes the target's filesystem keeps (statvfs f_bavail): checked at the start and every 8 MiB. */
    uint64_t min_free_bytes;
    const char *min_free_name;
    /* Shared with other unpacks (borrowed; NULL: none), charged as the stream goes. */
    struct unpack_budget *shared;
};

#endif
