/* SPDX-License-Identifier: Apache-2.0 */
/*
 * At start-up, whether pods can have their own user namespace here: the
 * state dir's parents let the pods' users through to <state>/userns, and
 * the kernel makes a user namespace, pins it, and mounts an overlay whose
 * lower layer is idmapped through it (what CreateContainer does), with a
 * file showing the mapped owner.  The CRI Status says user_namespaces only
 * when this worked; otherwise RunPodSandbox refuses such pods with the
 * reason found here.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"
#include "log.h"
#include "mount_util.h"
#include "pod_ns.h"
#include "runtime_internal.h"

/* An id no pod gets (kubelet gives ranges of 65536 from 65536 up), mapped to the probe's root. */
#define PROBE_HOST_ID 4000000000u

/* Every directory above `path` must let others through (x): the pods' users are no one the host knows. */
static int parents_open(const char *path, struct cleat_error **reterr) {
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s", path);
    for (char *slash = strrchr(p, '/'); slash; slash = strrchr(p, '/')) {
        *slash = '\0';
        const char *dir = p[0] ? p : "/";
        struct stat st;
        if (stat(dir, &st) < 0)
            return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "%s: %s", dir, strerror(errno));
        if (!(st.st_mode & S_IXOTH))
            return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, EACCES,
                             "the directory %s (mode %04o) keeps the pods' users from reaching %s", dir,
                             (unsigned)(st.st_mode & 07777), path);
    }
    return 0;
}

static int mkdirs(const char *base, struct cleat_error **reterr) {
    static const char *const subs[] = {"", "/ns", "/lower", "/upper", "/work", "/mnt"};
    char p[PATH_MAX];
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", base, subs[i]);
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
            return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "cannot create %s: %s", p, strerror(errno));
    }
    snprintf(p, sizeof(p), "%s/lower/f", base);
    return write_file_atomic(p, "", 0, 0600, reterr);
}

/* The overlay CreateContainer would make, on the probe's dirs; 0 when its file shows the mapped owner. */
static int try_overlay(const char *base, struct cleat_error **reterr) {
    char ns[PATH_MAX], lower[PATH_MAX + 16], upper[PATH_MAX + 16], work[PATH_MAX + 16], mnt[PATH_MAX], f[PATH_MAX + 8];
    snprintf(ns, sizeof(ns), "%s/ns", base);
    snprintf(lower, sizeof(lower), "lowerdir=%s/lower", base);
    snprintf(upper, sizeof(upper), "upperdir=%s/upper", base);
    snprintf(work, sizeof(work), "workdir=%s/work", base);
    snprintf(mnt, sizeof(mnt), "%s/mnt", base);
    struct userns_range one = {.inside = 0, .outside = PROBE_HOST_ID, .length = 1};
    struct userns_maps maps = {.uids = &one, .n_uids = 1, .gids = &one, .n_gids = 1};
    int r = pod_ns_create_userns(ns, POD_NS_UTS, NULL, &maps, reterr);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = -1;
    r = pod_ns_open(ns, "user", &fd, reterr);
    if (r >= 0) {
        const char *opts[] = {lower, upper, work, NULL};
        struct cleat_mount m = {.type = "overlay", .source = "overlay", .options = opts};
        struct mount_idmap idmap = {.userns_fd = fd, .root_uid = PROBE_HOST_ID, .root_gid = PROBE_HOST_ID};
        r = mount_apply_idmapped(&m, mnt, &idmap, reterr);
    }
    if (r >= 0) {
        struct stat st;
        snprintf(f, sizeof(f), "%s/f", mnt);
        if (stat(f, &st) < 0 || st.st_uid != PROBE_HOST_ID)
            r = error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                          "an idmapped overlay layer does not show its files' owners mapped");
        unmount_tree(mnt, NULL);
    }
    pod_ns_remove(ns, NULL);
    return r;
}

/* Everything of a probe, also of one a killed cleatd left half-way. */
static void probe_clear(const char *base) {
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/mnt", base);
    unmount_tree(p, NULL);
    snprintf(p, sizeof(p), "%s/ns", base);
    pod_ns_remove(p, NULL);
    rm_tree(base, NULL);
}

void runtime_userns_probe(struct runtime_service *rs) {
    struct cleat_error *err = NULL;
    /* Room under PATH_MAX for the probe's own names below it ("/lower/f", "lowerdir=..."). */
    char base[PATH_MAX - 64];
    int r;
    if (snprintf(base, sizeof(base), "%s/.probe", rs->userns_dir) >= (int)sizeof(base)) {
        r = error_set(&err, CLEAT_STATUS_FAILED_PRECONDITION, ENAMETOOLONG, "the state dir's path %s is too long",
                      rs->userns_dir);
    } else {
        probe_clear(base);
        r = parents_open(rs->userns_dir, &err);
        if (r >= 0)
            r = mkdirs(base, &err);
        if (r >= 0)
            r = try_overlay(base, &err);
        probe_clear(base);
    }
    rs->userns_ok = r >= 0;
    if (r >= 0) {
        log_info("user namespaces: pods may have their own (idmapped overlay layers work)");
    } else {
        rs->userns_reason = strdup(error_message(err));
        log_notice("user namespaces: pods cannot have their own: %s", error_message(err));
    }
    error_free(err);
}
