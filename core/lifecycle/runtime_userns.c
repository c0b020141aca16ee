/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pods with their own user namespace (kubelet's hostUsers: false).
 *
 * The pod's root is an unprivileged user on the host (kubelet picks its
 * ids).  What its containers must reach by path from inside that user
 * namespace lives in <state>/userns/<id>/, one directory per container (its
 * idmapped rootfs, its idmapped volumes) or pod (the pause's rootfs): 0710
 * and of the pod's root group, under a parent others may only traverse
 * (0711), so that the pod's root reaches its own and no host user anything.
 * (runc opens bind-mount sources from the host's user namespace; the root
 * file system it reaches from inside.)
 *
 * Whether the kernel can do it (idmapped overlay layers, Linux 6.13) and
 * the state dir is reachable is found once at start-up (runtime_userns_probe).
 */
#include <dirent.h>
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
#include "ids.h"
#include "log.h"
#include "mount_util.h"
#include "plugin_calls.h"
#include "pod_ns.h"
#include "registry.h"
#include "runtime_internal.h"
#include "spec.h"

char *userns_dir(struct runtime_service *rs, const char *id) {
    char *p = NULL;
    return asprintf(&p, "%s/%s", rs->userns_dir, id) < 0 ? NULL : p;
}

int runtime_userns_supported(struct runtime_service *rs, struct plugin_instance *rt, struct cleat_error **reterr) {
    if (!rt || !(plugin_runtime_features(rt) & CLEAT_RUNTIME_FEATURE_USER_NAMESPACES))
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                         "the runtime handler \"%s\" cannot run pods with their own user namespace",
                         rt ? rt->name : "");
    if (!rs->userns_ok)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                         "user namespaces cannot be used on this node: %s",
                         rs->userns_reason ? rs->userns_reason : "out of memory");
    return 0;
}

int runtime_userns_root(const Runtime__V1__PodSandboxConfig *config, uint32_t *ret_uid, uint32_t *ret_gid) {
    const Runtime__V1__UserNamespace *u = spec_pod_userns(config);
    struct userns_maps m = {0};
    if (!u || spec_userns_maps(u, &m, NULL) < 0)
        return -ENOENT;
    int r = userns_to_host(m.uids, m.n_uids, 0, ret_uid);
    if (r >= 0)
        r = userns_to_host(m.gids, m.n_gids, 0, ret_gid);
    spec_userns_maps_free(&m);
    return r;
}

int userns_dir_create(struct runtime_service *rs, const char *id, uint32_t root_gid, char **ret,
                      struct cleat_error **reterr) {
    _cleanup_free_ char *dir = userns_dir(rs, id);
    if (!dir)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    if (mkdir(dir, 0700) < 0)
        return error_set(reterr, errno == EEXIST ? CLEAT_STATUS_ALREADY_EXISTS : CLEAT_STATUS_INTERNAL, errno,
                         "cannot create %s: %s", dir, strerror(errno));
    /* Group first, then the group's x bit: never open to a group it was not meant for. */
    if (chown(dir, 0, root_gid) < 0 || chmod(dir, 0710) < 0) {
        int e = errno;
        rmdir(dir);
        return error_set(reterr, CLEAT_STATUS_INTERNAL, e, "cannot give %s to group %u: %s", dir, root_gid,
                         strerror(e));
    }
    *ret = TAKE_PTR(dir);
    return 0;
}

/* Unmount every volume under <dir>/volumes. */
static void unmount_volumes(const char *dir) {
    char vols[PATH_MAX];
    snprintf(vols, sizeof(vols), "%s/volumes", dir);
    _cleanup_dir_ DIR *d = opendir(vols);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        char path[PATH_MAX + 256];
        struct cleat_error *err = NULL;
        snprintf(path, sizeof(path), "%s/%s", vols, de->d_name);
        if (unmount_tree(path, &err) < 0)
            log_warning("%s", error_message(err));
        error_free(err);
    }
}

void userns_dir_remove(struct runtime_service *rs, const char *id) {
    _cleanup_free_ char *dir = userns_dir(rs, id);
    if (!dir || access(dir, F_OK) < 0)
        return;
    char rootfs[PATH_MAX];
    struct cleat_error *err = NULL;
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", dir);
    unmount_volumes(dir);
    /* rm_tree never enters a mount: a volume still mounted keeps its files and fails the removal. */
    if (unmount_tree(rootfs, &err) < 0 || rm_tree(dir, &err) < 0)
        log_warning("%s: %s", id, error_message(err));
    error_free(err);
}

/* Entries of <state>/userns that belong to no pod and no container: a crash between two steps of a removal. */
void userns_sweep(struct runtime_service *rs) {
    _cleanup_dir_ DIR *d = opendir(rs->userns_dir);
    for (struct dirent *de; d && (de = readdir(d));) {
        char full[ID_HEX_LEN + 1];
        struct cleat_error *err = NULL;
        if (!id_is_valid(de->d_name))
            continue;
        int known = registry_resolve(rs->deps.registry, STORE_CONTAINER, de->d_name, full, &err) >= 0 ||
                    registry_resolve(rs->deps.registry, STORE_SANDBOX, de->d_name, full, NULL) >= 0;
        error_free(err);
        if (known && strcmp(full, de->d_name) == 0)
            continue;
        log_notice("removing the leftover idmapped mounts of %s", de->d_name);
        userns_dir_remove(rs, de->d_name);
    }
}
