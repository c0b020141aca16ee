/* SPDX-License-Identifier: Apache-2.0 */
/* User namespace id mappings (see userns.h). */
#include "userns.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "strbuf.h"

/* One past the last id of a range, in 64 bits so that it cannot wrap. */
static uint64_t end_of(uint32_t first, uint32_t length) {
    return (uint64_t)first + length;
}

static int overlaps(uint32_t a, uint32_t alen, uint32_t b, uint32_t blen) {
    return (uint64_t)a < end_of(b, blen) && (uint64_t)b < end_of(a, alen);
}

static int bad(struct cleat_error **reterr, const char *what, size_t i, const struct userns_range *r, const char *why) {
    return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                     "%s[%zu] (container_id %u, host_id %u, length %u): %s", what, i, r->inside, r->outside, r->length,
                     why);
}

int userns_check_ranges(const char *what, const struct userns_range *r, size_t n, struct cleat_error **reterr) {
    if (n == 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "%s: no mapping given: a pod with its own user namespace needs its ids mapped", what);
    if (n > USERNS_MAX_RANGES)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, E2BIG, "%s: %zu mappings, more than the kernel's %d",
                         what, n, USERNS_MAX_RANGES);
    int root_mapped = 0;
    for (size_t i = 0; i < n; i++) {
        /* The kernel takes ids up to 4294967294: (uint32_t)-1 means "no id" to it. */
        if (r[i].length == 0)
            return bad(reterr, what, i, &r[i], "the length is 0");
        if (end_of(r[i].inside, r[i].length) > UINT32_MAX)
            return bad(reterr, what, i, &r[i], "the container ids run past 4294967294");
        if (end_of(r[i].outside, r[i].length) > UINT32_MAX)
            return bad(reterr, what, i, &r[i], "the host ids run past 4294967294");
        if (r[i].outside == 0)
            return bad(reterr, what, i, &r[i], "it maps the host's id 0 (root) into the pod");
        for (size_t j = 0; j < i; j++) {
            if (overlaps(r[i].inside, r[i].length, r[j].inside, r[j].length))
                return bad(reterr, what, i, &r[i], "its container ids overlap an earlier mapping's");
            if (overlaps(r[i].outside, r[i].length, r[j].outside, r[j].length))
                return bad(reterr, what, i, &r[i], "its host ids overlap an earlier mapping's");
        }
        root_mapped |= r[i].inside == 0;
    }
    if (!root_mapped)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "%s: container id 0 is not mapped: the pod's root would have no id on the host", what);
    return 0;
}

int userns_check_maps(const char *field, const struct userns_maps *m, struct cleat_error **reterr) {
    char what[256];
    snprintf(what, sizeof(what), "%s.uids", field);
    int r = userns_check_ranges(what, m->uids, m->n_uids, reterr);
    if (r < 0)
        return r;
    snprintf(what, sizeof(what), "%s.gids", field);
    return userns_check_ranges(what, m->gids, m->n_gids, reterr);
}

int userns_to_host(const struct userns_range *r, size_t n, uint32_t inside, uint32_t *ret_outside) {
    for (size_t i = 0; i < n; i++)
        if (inside >= r[i].inside && (uint64_t)inside < end_of(r[i].inside, r[i].length)) {
            *ret_outside = r[i].outside + (inside - r[i].inside);
            return 0;
        }
    return -ENOENT;
}

char *userns_map_text(const struct userns_range *r, size_t n) {
    struct strbuf sb = {0};
    for (size_t i = 0; i < n; i++)
        strbuf_printf(&sb, "%u %u %u\n", r[i].inside, r[i].outside, r[i].length);
    if (sb.failed) {
        strbuf_free(&sb);
        return NULL;
    }
    return strbuf_steal(&sb);
}

/* The map file must get the whole map in one write(2). */
static int write_map(pid_t pid, const char *file, const struct userns_range *r, size_t n, struct cleat_error **reterr) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    _cleanup_free_ char *text = userns_map_text(r, n);
    if (!text)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "user namespace: open %s: %s", path, strerror(errno));
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    if (w < 0 || (size_t)w != len)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, w < 0 ? errno : EIO, "user namespace: write %s: %s", path,
                         w < 0 ? strerror(errno) : "short write");
    return 0;
}

int userns_write_maps(pid_t pid, const struct userns_maps *m, struct cleat_error **reterr) {
    int r = write_map(pid, "uid_map", m->uids, m->n_uids, reterr);
    return r < 0 ? r : write_map(pid, "gid_map", m->gids, m->n_gids, reterr);
}
