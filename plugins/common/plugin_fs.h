/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Files and directories.  Every descriptor opened here is close-on-exec;
 * every function returns 0 (or a descriptor) on success and a negative errno
 * on failure, and makes no error object: the caller knows what the file is
 * for and says so in its message.
 */
#ifndef CLEAT_PLUGIN_FS_H
#define CLEAT_PLUGIN_FS_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/*
 * mkdir -p: create `path` and any missing parent with `mode` (less the
 * umask).  Existing directories are fine, so a second call is a no-op.
 * -ENOTDIR when `path` or a parent exists but is not a directory (a
 * symlink to one counts as one), -EINVAL for an empty path.
 */
int plugin_mkdir_p(const char *path, mode_t mode);

/*
 * Open `path` for reading only if it is a regular file.  It is reached with
 * O_PATH first (no device driver's open, no wait for a FIFO's writer),
 * checked, then reopened through /proc/self/fd.  Returns the fd, or -errno;
 * -EINVAL when it is not a regular file (then *st says what it is).
 */
int plugin_open_regular(const char *path, struct stat *st);

/*
 * Read a whole small regular file (as plugin_open_regular() opens it) into
 * *ret, malloc'd and NUL-terminated; its length in *ret_len when ret_len is
 * not NULL.  Reads to end of file, so sizes the kernel does not report
 * (/proc) are read too.  -EISDIR for a directory, -EINVAL for another
 * non-regular file, -EFBIG when it has more than `max` bytes, else -errno.
 * *ret is untouched on failure.
 */
int plugin_read_file(const char *path, size_t max, char **ret, size_t *ret_len);

/* Write all `len` bytes to fd, again after short writes and EINTR. */
int plugin_write_all(int fd, const void *data, size_t len);

/* Write the string `text` to `path`: created with mode 0600 or truncated; a symlink there is refused (ELOOP). */
int plugin_write_file(const char *path, const char *text);
/* The same for a file that must not exist yet (`path` relative to dirfd): anything there is EEXIST. */
int plugin_write_new_at(int dirfd, const char *path, const char *text);

/*
 * Replace `path` (relative to dirfd; AT_FDCWD for the working directory)
 * with `len` bytes, whole or not at all: they are written to `tmp` (mode
 * 0600, beside it), synced, then renamed over it.  On failure `tmp` is
 * removed and `path` is as it was.  The directory is not synced: call
 * plugin_fsync_dir() when the rename itself must survive a crash.
 */
int plugin_write_atomic(int dirfd, const char *tmp, const char *path, const void *data, size_t len);

/* fsync a directory given relative to dirfd, so that names created or renamed in it are durable. */
int plugin_fsync_dir(int dirfd, const char *path);

/*
 * The names in directory `path` (relative to dirfd), without "." and "..",
 * in readdir order, as a string vector (free with plugin_strv_free()).
 */
int plugin_list_dir(int dirfd, const char *path, char ***ret);

#endif
