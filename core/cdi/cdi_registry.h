/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CDI spec directories and the devices they define, resolved into the
 * edits a container gets.
 *
 * Files: the *.json and *.yaml (or *.yml) files directly in each directory
 * (names starting with '.' are skipped).  A later directory wins over an
 * earlier one for the same device; two files of one directory defining the
 * same device is a conflict, and that device cannot be used (the CDI
 * library's rule).  A file that cannot be used (see below) defines no device,
 * except that when its kind and device names can still be read, asking for
 * one of those names fails with the file's problem instead of quietly
 * taking an older definition; its other devices, and other files, are not
 * affected.  Problems are logged once per version of a file.
 *
 * Trust: a spec file is operator configuration that makes cleatd run its
 * hooks as root on the host, bind host paths and pass host devices into
 * containers.  So it must be a regular file owned by root (or by cleatd's
 * own user) and not writable by group or others; symbolic links are
 * followed only inside the directory (an absolute link resolves below it,
 * never to the host's root), and no mount point is crossed
 * (fsutil_open_regular_in_root).  Every fd is O_CLOEXEC and closed before
 * return.
 *
 * Freshness: every cdi_registry_resolve() re-reads the directories; a file
 * is parsed again only when its inode, size, mtime or ctime changed, so a
 * spec written (or removed) while cleatd runs counts for the next container
 * without a restart or a watch.
 *
 * All functions are thread-safe (one mutex; parsing happens under it).
 */
#ifndef CLEAT_CORE_CDI_REGISTRY_H
#define CLEAT_CORE_CDI_REGISTRY_H

#include <stddef.h>

#include "cdi_spec.h"

struct cdi_registry;
struct cleat_error;

/* Directories searched when the config names none. */
#define CDI_DEFAULT_SPEC_DIRS                                                                                          \
    { "/etc/cdi", "/var/run/cdi", NULL }

/*
 * A registry over `dirs` (NULL-terminated, absolute paths; NULL or empty: no
 * directories, so every device is unknown).  Reads nothing yet: directories
 * may appear later.  INVALID_ARGUMENT for a relative path.
 */
int cdi_registry_new(const char *const *dirs, struct cdi_registry **ret, struct cleat_error **reterr);

/*
 * Replace the directory list (for a configuration reload): the next resolve
 * reads the new directories; one running now finishes with the old list.
 * A directory listed twice counts at its last place.  On failure
 * (INVALID_ARGUMENT for a relative path, RESOURCE_EXHAUSTED) the old list
 * stays.  Calling it again with the same list changes nothing but drops the
 * cache of parsed files.
 */
int cdi_registry_set_dirs(struct cdi_registry *reg, const char *const *dirs, struct cleat_error **reterr);

/*
 * The edits for the CDI devices `names` (fully-qualified, `n` of them; a
 * name given twice counts once): for each device its spec's edits (once per
 * spec) and its own, merged by cdi_edits_append.  *ret is malloc'd: free
 * with cdi_edits_free.  Errors name the device:
 *  - a malformed name, an unknown device (the message lists the directories
 *    and the spec files that could not be used), a device defined twice in
 *    one directory, a device whose spec file cannot be used, a host device
 *    node that is not there, conflicting edits → INVALID_ARGUMENT;
 *  - edits cleat cannot apply (intelRdt, netDevices) → FAILED_PRECONDITION.
 * n == 0 gives empty edits and reads nothing.
 */
int cdi_registry_resolve(struct cdi_registry *reg, const char *const *names, size_t n, struct cdi_edits **ret,
                         struct cleat_error **reterr);

/* NULL-safe. */
void cdi_registry_free(struct cdi_registry *reg);

#endif
