/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image layer unpacking: one layer blob in, files in a snapshot out (an
 * overlayfs upper directory, or a snapshot's whole tree: the target's
 * whiteout mode, unpack_types.h), in one streaming pass.
 *
 * The blob is read from an fd (a file or a pipe), decompressed (gzip with
 * ISA-L's igzip, zstd with libzstd, or none), hashed with sha256 (the
 * diff_id is the digest of the *uncompressed* tar), and extracted with
 * libarchive's tar reader fed straight from the decompressor.
 *
 * The layer is hostile input.  Every path is resolved under target_dir with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): `..`, absolute names,
 * symlinks (also ones the same layer created a moment ago) and hardlink
 * targets all stay inside target_dir.  Names are cleaned lexically first,
 * the way containerd does it ("a/../../x" is "x", "/abs" is "abs"); an
 * entry that names target_dir itself is skipped.
 *
 * What lands on disk:
 *   - regular files, directories, symlinks, hardlinks (to an earlier entry,
 *     never to a directory), char/block devices, fifos; any other type
 *     libarchive reports (a socket) is refused, while typeflags it does not
 *     know are regular files, as POSIX says;
 *   - numeric uid/gid, mode incl. setuid/setgid/sticky (after the chown),
 *     atime/mtime (directories' after everything else), xattrs incl.
 *     security.capability; trusted.overlay.* and user.overlay.* from the
 *     tar are dropped;
 *   - OCI whiteouts, in the target's mode (unpack_types.h): OVERLAY makes
 *     them overlayfs whiteouts (".wh.NAME" becomes a 0/0 character device
 *     NAME, ".wh..wh..opq" sets trusted.overlay.opaque=y on its directory);
 *     APPLY applies them to what the layers below left (".wh.NAME" removes
 *     NAME, ".wh..wh..opq" empties its directory but for what this layer
 *     wrote, in any order; see unpack_apply.h).  Either way a whiteout's
 *     directory is resolved and made like any parent, and the views agree:
 *     the tree APPLY leaves is what overlayfs shows of the OVERLAY result
 *     on the same lower layers.  Other ".wh..wh." names (aufs metadata) are
 *     skipped;
 *   - tar semantics for names that exist: a directory over a directory keeps
 *     it and updates its metadata; anything else replaces what was there.
 * Missing parent directories are created 0755 root:root (well-formed layers
 * list them); a parent that is a dangling symlink is refused.  Paths longer
 * than PATH_MAX or components longer than NAME_MAX are refused.  Nothing is
 * fsync'ed: making the snapshot durable is the snapshotter's commit.
 *
 * The layer may also be a decompression bomb: struct unpack_limits bounds
 * the uncompressed bytes, their ratio to the compressed bytes, and the free
 * space left on the target's filesystem, checked as the data comes out of
 * the decompressor (trailing bytes after the tar's end included), so a bomb
 * is stopped after at most one 1 MiB block past a limit.
 *
 * Errors: INVALID_ARGUMENT for a bad argument, an unsupported media type, a
 * media type that contradicts the content's magic, corrupt or truncated
 * compressed data, a tar that libarchive cannot read, and refused entries
 * (the message names the entry); FAILED_PRECONDITION for a diff_id mismatch;
 * RESOURCE_EXHAUSTED for a limit passed (the message names it), and for
 * ENOSPC/EDQUOT/ENOMEM; INTERNAL for other I/O errors.
 * On failure target_dir holds a partial layer: the caller removes it.
 * Nothing outside target_dir is ever written.
 *
 * Runs as root (mknod, chown, trusted.* xattrs).  Each call starts one
 * short-lived thread that reads, decompresses and hashes while the calling
 * thread extracts; it is joined before unpack_layer returns.  Thread-safe:
 * calls share nothing.  Memory stays bounded: about 6 MiB of buffers (four
 * 1 MiB blocks in flight, a 1 MiB read buffer, the decoder's state; zstd
 * windows are capped at libzstd's default 128 MiB) plus one record per
 * directory inode for the deferred times, and in APPLY mode one per entry
 * (its path, for the opaque rule).
 */
#ifndef CLEAT_CORE_UNPACK_H
#define CLEAT_CORE_UNPACK_H

#include <stddef.h>
#include <stdint.h>

#include "unpack_limits.h"
#include "unpack_types.h"

struct cleat_error;

/*
 * The compression a layer media type names, into *ret: the OCI
 * application/vnd.oci.image.layer[.nondistributable].v1.tar[+gzip|+zstd]
 * and Docker application/vnd.docker.image.rootfs[.foreign].diff.tar[.gzip]
 * (and BuildKit's ...diff.tar.zstd) types; NULL → UNPACK_COMPRESSION_AUTO.  INVALID_ARGUMENT for anything else
 * (encrypted layers, non-layer types).
 */
int unpack_media_type_compression(const char *media_type, int32_t *ret, struct cleat_error **reterr);

/*
 * Read the layer blob from fd to its end (a file or a pipe, blocking or
 * not; it is not closed and its offset moves; a pipe's writer must close it
 * for the call to finish), extract it into target_dir (an overlay upper
 * directory: whiteouts in OVERLAY mode) and fill *ret.  media_type may be NULL
 * (sniff); otherwise it must be a layer type and agree with the content's
 * magic.  expected_diff_id, when not NULL, must be "sha256:<64 lowercase
 * hex>" (a valid sha512 digest is UNIMPLEMENTED) and equal the computed
 * diff_id, else FAILED_PRECONDITION
 * "diff_id mismatch: config says X, content is Y" (callers prefix the layer
 * digest with error_prefix).  The whole stream is read and hashed even when
 * the tar's end marker comes early.  limits may be NULL (none).  *ret is
 * set on success only.
 */
int unpack_layer(int fd, const char *media_type, const char *expected_diff_id, const char *target_dir,
                 const struct unpack_limits *limits, struct unpack_result *ret, struct cleat_error **reterr);

/*
 * unpack_layer into any target (unpack_types.h): a directory or a
 * descriptor, with overlay or applied whiteouts.  The target's descriptor
 * is only borrowed (the extractor opens its own, closed before return).
 * Same answers; a bad target is INVALID_ARGUMENT.  The free-space limit is
 * checked on the target's filesystem.
 */
int unpack_layer_into(int fd, const char *media_type, const char *expected_diff_id, const struct unpack_target *target,
                      const struct unpack_limits *limits, struct unpack_result *ret, struct cleat_error **reterr);

/*
 * Extract an uncompressed tar held in memory into target_dir, with the same
 * extractor and rules as unpack_layer but no thread, no hashing and no
 * limits: for inputs already bounded by their caller (the fuzz target).
 * Same errors; *ret (may be NULL) gets entries, file_bytes and whiteouts.
 */
int unpack_tar_memory(const void *data, size_t size, const char *target_dir, struct unpack_result *ret,
                      struct cleat_error **reterr);
/* The same into any target. */
int unpack_tar_memory_into(const void *data, size_t size, const struct unpack_target *target, struct unpack_result *ret,
                           struct cleat_error **reterr);

#endif
