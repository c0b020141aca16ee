/* SPDX-License-Identifier: Apache-2.0 */
#include "fsutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int mkdir_p(const char *path, mode_t mode, struct cleat_error **reterr) {
    char *p = strdup(path);
    if (!p)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        struct stat st;
        if (mkdir(p, mode) < 0 && (errno != EEXIST || stat(p, &st) < 0 || !S_ISDIR(st.st_mode))) {
            int e = errno == EEXIST ? ENOTDIR : errno;
            free(p);
            return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, e, "cannot create directory %s: %s", path,
                             strerror(e));
        }
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    return 0;
}
