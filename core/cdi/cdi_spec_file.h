/* SPDX-License-Identifier: Apache-2.0 */
/* One spec file as the registry caches it: loaded, checked for trust and parsed (cdi_registry.h). */
#ifndef CLEAT_CORE_CDI_SPEC_FILE_H
#define CLEAT_CORE_CDI_SPEC_FILE_H

#include <stddef.h>
#include <sys/stat.h>

#include "cdi_spec.h"

struct cdi_spec_file {
    char *path; /* dir/name, for messages */
    size_t dir; /* the index of its directory: a higher one wins */
    /* What the cache compares (inode, size, mtime, ctime): the file's, and its entry's own (a symlink retargeted). */
    struct stat st, lst;
    struct cdi_spec *spec; /* NULL when it cannot be used */
    char *error;           /* ... and why */
    /* An unusable file's kind and device names, when they could still be read (else NULL). */
    char *kind;
    char **names;
};

/*
 * Load `name` from the directory open at `dirfd` (`dir` is its path, for
 * messages) into `f` (zeroed by the caller; path and dir are set here).
 * Never fails as a call: a file that cannot be used gets f->error (and, if
 * readable, f->kind and f->names); only -ENOMEM is returned.  `st` and
 * `lst` are the stats the cache will compare later.
 */
int cdi_spec_file_load(int dirfd, const char *dir, size_t dir_index, const char *name, const struct stat *st,
                       const struct stat *lst, struct cdi_spec_file *f);

/* 1 when f defines `kind`=`device` (a usable file) or names it (an unusable one). */
int cdi_spec_file_defines(const struct cdi_spec_file *f, const char *kind, size_t kind_len, const char *device);

/* Frees what f holds; idempotent. */
void cdi_spec_file_clear(struct cdi_spec_file *f);

#endif
