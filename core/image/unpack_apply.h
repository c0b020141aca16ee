/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Applying a layer onto the whole filesystem of a snapshot
 * (UNPACK_WHITEOUTS_APPLY), the way containerd applies a layer to a
 * snapshot that is not an overlay upper directory: what the layers below
 * left is visible under the root, a whiteout ".wh.NAME" deletes NAME, and
 * an opaque marker ".wh..wh..opq" empties its directory of everything the
 * layer itself did not write, in whatever order the tar lists them.
 *
 * For the opaque rule the extractor remembers the path of every entry the
 * layer wrote, with its ancestors (layer_paths).  It is a balanced tree of
 * the cleaned paths, not a hash set: a hostile layer cannot make lookups
 * degenerate with colliding names.  Memory: one record per entry and per
 * directory above one, bounded by the layer's entries (themselves bounded by
 * images.max_layer_bytes, 512 bytes of tar header at least each).
 *
 * Part of the extractor (unpack_extract.c); everything here works relative
 * to descriptors it is given, never follows a symlink, and never leaves the
 * directory it is pointed at.
 */
#ifndef CLEAT_CORE_UNPACK_APPLY_H
#define CLEAT_CORE_UNPACK_APPLY_H

#include <stddef.h>

struct layer_paths;

/* An empty set; NULL when out of memory. */
struct layer_paths *layer_paths_new(void);
/* NULL-safe. */
void layer_paths_free(struct layer_paths *lp);
/*
 * Note `path` (clean, relative to the root, "" for the root itself, which is
 * not stored) and each directory above it.  Cheap when called again for the
 * same path or a sibling: the walk up stops at the first ancestor known.
 * -ENOMEM.
 */
int layer_paths_add(struct layer_paths *lp, const char *path);
/* 1 when `path` was noted (directly or as an ancestor), else 0. */
int layer_paths_has(const struct layer_paths *lp, const char *path);

/*
 * rm -rf of pfd/name without following symlinks: a directory's contents
 * first, depth at most PATH_MAX/2.  0 or -errno (ENOENT when name is not
 * there); on failure part of the tree may be gone.
 */
int unpack_remove_tree(int pfd, const char *name);

/*
 * The opaque rule: remove every entry below the directory `dirfd` (an fd
 * of any kind on it; `dir` is its clean path relative to the root, "" for
 * the root) that `lp` does not hold; a directory `lp` holds is kept and
 * emptied the same way.  0, or -errno with the path that failed in
 * where[wsize].
 */
int unpack_empty_dir(const struct layer_paths *lp, int dirfd, const char *dir, char *where, size_t wsize);

#endif
