/* SPDX-License-Identifier: Apache-2.0 */
/* Reading one CDI spec file with the trust checks of cdi_registry.h. */
#include "cdi_spec_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "fsutil.h"
#include "log.h"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

/*
 * Hooks in a spec run as root on the host: a file someone else could have
 * written is refused, as sudo refuses a sudoers file others may write.
 */
static const char *untrusted(const struct stat *st) {
    if (st->st_uid != 0 && st->st_uid != geteuid())
        return "it is not owned by root";
    if (st->st_mode & 022)
        return "group or others may write it";
    return NULL;
}

/* The file's text (NUL-terminated), or NULL with why in *ret_error (NULL there too: out of memory). */
static char *read_text(int dirfd, const char *name, size_t *ret_len, char **ret_error) {
    struct stat st;
    _cleanup_close_ int fd = fsutil_open_regular_in_root(dirfd, name, &st);
    int r = 0, ok = 0;
    if (fd == -EINVAL)
        r = asprintf(ret_error, "not a regular file but %s", fsutil_type_name(st.st_mode));
    else if (fd < 0)
        r = asprintf(ret_error, "%s", strerror(-fd));
    else if (untrusted(&st))
        r = asprintf(ret_error, "refused: %s", untrusted(&st));
    else if (st.st_size > CDI_SPEC_MAX_BYTES)
        r = asprintf(ret_error, "larger than %d bytes", CDI_SPEC_MAX_BYTES);
    else
        ok = 1;
    if (r < 0)
        *ret_error = NULL;
    if (!ok)
        return NULL;
    return read_fd_sized(fd, (size_t)st.st_size, ret_len);
}

/* A broken file's kind and device names, as far as they read (best effort; nothing on any doubt). */
static void peek_names(const json_t *root, struct cdi_spec_file *f) {
    const char *kind = json_string_value(json_object_get(root, "kind"));
    const json_t *devs = json_object_get(root, "devices");
    if (!kind || !json_is_array(devs))
        return;
    f->kind = strdup(kind);
    f->names = calloc(json_array_size(devs) + 1, sizeof(char *));
    for (size_t i = 0, n = 0; f->kind && f->names && i < json_array_size(devs); i++) {
        const char *s = json_string_value(json_object_get(json_array_get(devs, i), "name"));
        if (s && !(f->names[n++] = strdup(s)))
            break;
    }
}

int cdi_spec_file_load(int dirfd, const char *dir, size_t dir_index, const char *name, const struct stat *st,
                       const struct stat *lst, struct cdi_spec_file *f) {
    f->dir = dir_index;
    f->st = *st;
    f->lst = *lst;
    if (asprintf(&f->path, "%s/%s", dir, name) < 0) {
        f->path = NULL;
        return -ENOMEM;
    }
    size_t len = 0;
    _cleanup_free_ char *text = read_text(dirfd, name, &len, &f->error);
    if (!text && !f->error)
        return -ENOMEM;
    json_t *root = NULL;
    _cleanup_error_ struct cleat_error *err = NULL;
    int yaml = !ends_with(name, ".json");
    if (text && cdi_spec_json(f->path, text, len, yaml, &root, &err) >= 0 &&
        cdi_spec_from_json(f->path, root, yaml, &f->spec, &err) < 0)
        peek_names(root, f);
    json_decref(root);
    if (err && !(f->error = strdup(error_message(err))))
        return -ENOMEM;
    if (f->error && !err)
        log_warning("CDI spec %s cannot be used: %s", f->path, f->error);
    else if (f->error)
        log_warning("CDI spec cannot be used: %s", f->error); /* the parser's message starts with the path */
    return 0;
}

int cdi_spec_file_defines(const struct cdi_spec_file *f, const char *kind, size_t kind_len, const char *device) {
    const char *k = f->spec ? f->spec->kind : f->kind;
    if (!k || strlen(k) != kind_len || strncmp(k, kind, kind_len) != 0)
        return 0;
    if (f->spec)
        return cdi_spec_device(f->spec, device) != NULL;
    for (size_t i = 0; f->names && f->names[i]; i++)
        if (strcmp(f->names[i], device) == 0)
            return 1;
    return 0;
}

void cdi_spec_file_clear(struct cdi_spec_file *f) {
    free(f->path);
    cdi_spec_free(f->spec);
    free(f->error);
    free(f->kind);
    for (size_t i = 0; f->names && f->names[i]; i++)
        free(f->names[i]);
    free(f->names);
    memset(f, 0, sizeof(*f));
}
