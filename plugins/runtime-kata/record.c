/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-kata: the records under the instance's state dir (see kata.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kata.h"
#include "plugin_fs.h"

#define RECORD_MAX (64 * 1024)

int kata_valid_id(const char *id) {
    if (!id || !id[0] || strlen(id) > 128 || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("_.+-", *p)))
            return 0;
    return 1;
}

int kata_record_write(const char *dir, const char *name, const char *json, int excl) {
    char tmp[PATH_MAX], path[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= (int)sizeof(tmp) ||
        snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    int r;
    if (!excl) {
        r = plugin_write_atomic(AT_FDCWD, tmp, path, json, strlen(json));
    } else {
        /* Whole and exclusive: written beside it, then linked (EEXIST is the duplicate test), then the tmp goes. */
        char tmp2[PATH_MAX + 8];
        snprintf(tmp2, sizeof(tmp2), "%s.x", tmp);
        r = plugin_write_atomic(AT_FDCWD, tmp, tmp2, json, strlen(json));
        if (r == 0 && link(tmp2, path) < 0)
            r = -errno;
        unlink(tmp2);
    }
    return r < 0 ? r : plugin_fsync_dir(AT_FDCWD, dir);
}

json_t *kata_record_read(const char *dir, const char *name) {
    char path[PATH_MAX];
    _cleanup_free_ char *text = NULL;
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
        plugin_read_file(path, RECORD_MAX, &text, NULL) < 0)
        return NULL;
    return json_loads(text, 0, NULL);
}

void kata_record_remove(const char *dir, const char *name) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path))
        unlink(path);
}
