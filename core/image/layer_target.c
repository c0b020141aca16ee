/* SPDX-License-Identifier: Apache-2.0 */
/* The target of a layer's unpack, chosen by the snapshot's mounts (layer_target.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "layer_target.h"
#include "mount_util.h"

/* The overlay's upper directory, or NULL. */
static const char *overlay_upper(const struct cleat_mount *m) {
    for (const char *const *o = m->options; strcmp(m->type, "overlay") == 0 && o && *o; o++)
        if (strncmp(*o, "upperdir=", 9) == 0)
            return *o + 9;
    return NULL;
}

/* A bind: type "bind", or any type with a bind/rbind option (as mount(8) and mount_util read it). */
static int is_bind(const struct cleat_mount *m) {
    if (strcmp(m->type, "bind") == 0)
        return 1;
    for (const char *const *o = m->options; o && *o; o++)
        if (strcmp(*o, "bind") == 0 || strcmp(*o, "rbind") == 0)
            return 1;
    return 0;
}

/* Mount m detached, with nosuid, nodev and noexec added: nothing is run or opened from it while it is written. */
static int mount_for_apply(const struct cleat_mount *m, int *ret_fd, struct cleat_error **reterr) {
    static const char *const hardening[] = {"nosuid", "nodev", "noexec"};
    size_t n = 0;
    while (m->options && m->options[n])
        n++;
    const char **opts = calloc(n + 4, sizeof(char *));
    if (!opts)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        opts[i] = m->options[i];
    for (size_t i = 0; i < 3; i++)
        opts[n + i] = hardening[i];
    struct cleat_mount hm = {.type = m->type, .source = m->source, .options = opts};
    int r = mount_detached(&hm, ret_fd, reterr);
    free(opts);
    return r;
}

int layer_target_open(const struct cleat_mount_list *ml, const char *snapshotter, struct layer_target *ret,
                      struct cleat_error **reterr) {
    *ret = (struct layer_target){.t = {.dirfd = -1}, .mount_fd = -1};
    if (ml->n != 1)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                         "snapshotter '%s' gave %zu mounts for a layer's snapshot; cleat unpacks into exactly one",
                         snapshotter, ml->n);
    const struct cleat_mount *m = &ml->items[0];
    const char *upper = overlay_upper(m);
    if (upper) {
        ret->t = (struct unpack_target){.dir = upper, .dirfd = -1, .whiteouts = UNPACK_WHITEOUTS_OVERLAY};
        ret->how = "overlay upper dir";
        return 0;
    }
    if (is_bind(m) && m->source) {
        ret->t = (struct unpack_target){.dir = m->source, .dirfd = -1, .whiteouts = UNPACK_WHITEOUTS_APPLY};
        ret->how = "directory";
        return 0;
    }
    int r = mount_for_apply(m, &ret->mount_fd, reterr);
    if (r < 0)
        return error_prefix(r, reterr, "mounting the snapshot of snapshotter '%s' to unpack into", snapshotter);
    snprintf(ret->how_buf, sizeof(ret->how_buf), "mounted %.40s", m->type);
    ret->how = ret->how_buf;
    ret->t = (struct unpack_target){
        .dirfd = ret->mount_fd, .name = m->source ? m->source : m->type, .whiteouts = UNPACK_WHITEOUTS_APPLY};
    return 0;
}

void layer_target_close(struct layer_target *t) {
    if (t->mount_fd >= 0)
        close(t->mount_fd); /* the last reference to the detached mount: unmounted here (mount_detached) */
    t->mount_fd = -1;
    t->t.dirfd = -1;
}
